//! The fuzz targets' bodies for the configuration's parsers: the service configuration, the
//! operator's recovery flows (`[engine.flows]`), and the fencing templates and host globs. Each
//! takes the fuzzer's bytes and returns `Err` only when an invariant is broken; `fuzz/` runs
//! them under libFuzzer, and `cargo test` replays the seed corpora in `fuzz/corpus/<target>/`
//! through the same functions (as `vigil_api::fuzzing` does for the API's parsers).

use crate::config::Config;
use vigil_api::fuzzing::{Bug, Target};
use vigil_engine::EngineConfig;
use vigil_fence::template::{expand, glob};

/// The fuzz targets this crate holds, by their name under `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("flows", flows),
    ("fence_template", fence_template),
];

/// A configuration file: a configuration or an error saying what is wrong, never a
/// panic; an accepted configuration written back as TOML reads as itself.
pub fn config(data: &[u8]) -> Result<(), Bug> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let config = match Config::from_toml(text) {
        Ok(config) => config,
        Err(e) => return refusal(&vigil_domain::ErrorChain(&e).to_string()),
    };
    let written = toml::to_string(&config).map_err(|e| format!("not writable: {e}"))?;
    match Config::from_toml(&written) {
        Ok(again) if again == config => Ok(()),
        Ok(again) => Err(format!(
            "changed on a round trip: {config:?} became {again:?}"
        )),
        Err(e) => Err(format!("written back, refused: {e}: {written}")),
    }
}

/// `[engine]` with its operator flows: the flows assemble or are refused with a message, never
/// a panic; an accepted section written back reads as itself.
pub fn flows(data: &[u8]) -> Result<(), Bug> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(engine) = toml::from_str::<EngineConfig>(text) else {
        return Ok(());
    };
    if let Err(e) = engine.check() {
        return refusal(&e.to_string());
    }
    let written = toml::to_string(&engine).map_err(|e| format!("not writable: {e}"))?;
    match toml::from_str::<EngineConfig>(&written) {
        Ok(again) if again == engine => Ok(()),
        Ok(again) => Err(format!(
            "changed on a round trip: {engine:?} became {again:?}"
        )),
        Err(e) => Err(format!("written back, unreadable: {e}: {written}")),
    }
}

/// A fencing URL template and a host name, NUL-separated: a template accepted expands to the
/// text with each `{host}` replaced; a host-name glob matches itself, `*` matches every name,
/// and a pattern without wildcards matches only itself.
pub fn fence_template(data: &[u8]) -> Result<(), Bug> {
    let text = String::from_utf8_lossy(data);
    let (template, host) = text.split_once('\0').unwrap_or((&*text, "c1"));
    if let Ok(out) = expand(template, host) {
        let want = template.replace("{host}", host);
        if out != want {
            return Err(format!("{template:?} with {host:?} expanded to {out:?}"));
        }
    }
    let (pattern, name) = (template, host);
    let plain = !pattern.contains(['*', '?']);
    if !glob(pattern, pattern)
        || !glob("*", name)
        || (plain && glob(pattern, name) != (pattern == name))
    {
        return Err(format!("glob {pattern:?} against {name:?}"));
    }
    Ok(())
}

/// A refusal must say what is wrong.
fn refusal(message: &str) -> Result<(), Bug> {
    if message.trim().is_empty() {
        return Err("refused without a message".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TARGETS;

    /// Every seed and every input a fuzzer once crashed on, through the fuzz targets' bodies.
    #[test]
    fn seed_corpora_replay_cleanly() {
        vigil_api::fuzzing::replay(TARGETS);
    }
}
