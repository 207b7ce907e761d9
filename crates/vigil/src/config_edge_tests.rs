//! Property tests of the configuration loader: any file content loads or is refused with an
//! error (never a panic), and a configuration written out as TOML loads back unchanged.

use super::*;
use proptest::prelude::*;

/// Lines of a TOML-ish file over the loader's own sections and keys, with values of every
/// TOML type and some that are not TOML at all.
fn toml_lines() -> impl Strategy<Value = String> {
    let section = proptest::sample::select(vec![
        "[api]",
        "[database]",
        "[metrics]",
        "[engine]",
        "[openstack]",
        "[fencing]",
        "[x]",
        "[[fencing.devices]]",
    ])
    .prop_map(str::to_owned);
    let key = proptest::sample::select(vec![
        "listen",
        "data_dir",
        "url",
        "url_file",
        "auth_strategy",
        "policy_file",
        "duplicate_notification_detection_interval",
        "max_request_body_size",
        "link_prefix",
        "auth_url",
        "username",
        "driver",
        "hosts",
        "name",
        "x",
    ]);
    let value = prop_oneof![
        Just("\"127.0.0.1:0\"".to_owned()),
        Just("\"keystone\"".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1e999".to_owned()),
        Just("true".to_owned()),
        Just("[1, \"a\"]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        "\"[ -~]{0,12}\"",
        "[ -~]{0,12}",
    ];
    let assignment = (key, value).prop_map(|(k, v)| format!("{k} = {v}"));
    let line = prop_oneof![2 => section, 5 => assignment, 1 => ".{0,20}"];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

/// `text` loaded as the configuration file, inside figment's jail: the other tests set
/// `VIGIL_*` variables in it, which must not leak into these loads (or theirs into ours).
// figment's Jail takes a closure returning figment's own error, large by its design.
#[allow(clippy::result_large_err)]
fn load_text(text: &[u8]) -> Result<Config, ConfigError> {
    let mut loaded = None;
    figment::Jail::expect_with(|jail| {
        let file = jail.directory().join("vigil.toml");
        std::fs::write(&file, text).unwrap();
        loaded = Some(Config::load(Some(&file), &Overrides::default()));
        Ok(())
    });
    loaded.expect("the jail ran")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_file_loads_or_is_refused(text in toml_lines(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = load_text(text.as_bytes());
        let _ = load_text(&raw);
    }

    #[test]
    fn written_configs_load_back_unchanged(
        port in any::<u16>(),
        dir_name in "[a-z0-9_/.-]{1,20}",
        keystone in any::<bool>(),
        interval in any::<u32>(),
        body_size in 0usize..(1 << 40),
        prefix in "[ -~]{0,20}",
        url in "(postgres|mysql)://[a-z0-9@:/.]{0,20}",
    ) {
        let mut c = Config::default();
        c.listen.set_port(port);
        c.data_dir = PathBuf::from(dir_name);
        c.api.auth_strategy = if keystone { AuthStrategy::Keystone } else { AuthStrategy::Noauth };
        c.api.duplicate_notification_detection_interval = u64::from(interval);
        c.api.max_request_body_size = body_size;
        c.api.link_prefix = prefix;
        c.database.url = url;
        let text = toml::to_string(&c).unwrap();
        let loaded = load_text(text.as_bytes()).unwrap();
        prop_assert_eq!(loaded, c);
    }
}
