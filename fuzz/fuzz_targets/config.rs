//! The configuration loader on any file content: a configuration or an error, never a panic.
#![no_main]

// The loader lives in the binary crate; it is compiled here as it is there.
#[allow(dead_code)]
#[path = "../../crates/vigil/src/config.rs"]
mod config;

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temporary directory"));

fuzz_target!(|data: &[u8]| {
    let file = DIR.path().join("vigil.toml");
    std::fs::write(&file, data).expect("writing the file");
    let _ = config::Config::load(Some(&file), &config::Overrides::default());
});
