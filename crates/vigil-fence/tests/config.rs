//! The `[fencing]` configuration by table: what parses, what `check()` refuses at start and with
//! which one-line reason, and how hosts find their levels and segments their policy.

use vigil_fence::config::{FencingConfig, Policy};

fn parse(text: &str) -> Result<FencingConfig, String> {
    toml::from_str::<FencingConfig>(text).map_err(|e| e.to_string())
}

/// A configuration whose password file and CA file exist, for the refusals to differ from.
fn good(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("pw"), "secret\n").unwrap();
    std::fs::write(dir.join("ca.pem"), "not checked until built\n").unwrap();
    std::fs::write(dir.join("fence_test"), "#!/bin/sh\nexit 1\n").unwrap();
    format!(
        r#"
[devices.bmc]
driver = "redfish"
url = "https://{{host}}-bmc.example.com"
username = "admin"
password_file = "{dir}/pw"
ca_file = "{dir}/ca.pem"

[devices.ipmi]
driver = "ipmi"
address = "{{host}}-ipmi"
username = "admin"
password_env = "VIGIL_FENCE_TEST_PW"

[devices.agent]
driver = "fence-agents"
agent = "{dir}/fence_test"
options = {{ ip = "{{host}}-bmc", ssl_insecure = "1" }}
password_file = "{dir}/pw"

[devices.cluster]
driver = "pacemaker"

[[bindings]]
hosts = "compute-rack2-*"
levels = ["ipmi", "cluster"]

[[bindings]]
hosts = "compute*"
levels = ["bmc", "agent"]

[[bindings]]
segment = "edge"
levels = ["cluster"]

[segments.rack1]
fencing = "required"

[segments.rack2]
"#,
        dir = dir.display()
    )
}

#[test]
fn a_good_configuration_checks_and_binds_hosts_in_order() {
    std::env::set_var("VIGIL_FENCE_TEST_PW", "secret");
    let dir = tempfile::tempdir().unwrap();
    let config = parse(&good(dir.path())).unwrap();
    config.check().unwrap();
    let table: [(&str, &str, Option<&[&str]>); 5] = [
        ("compute-rack2-1", "rack2", Some(&["ipmi", "cluster"])),
        ("compute1", "rack1", Some(&["bmc", "agent"])),
        ("edge1", "edge", Some(&["cluster"])),
        ("compute9", "edge", Some(&["bmc", "agent"])),
        ("ctl1", "rack1", None),
    ];
    for (host, segment, want) in table {
        let got = config.levels_for(host, segment);
        let got: Option<Vec<&str>> = got.map(|l| l.iter().map(String::as_str).collect());
        assert_eq!(got.as_deref(), want, "{host} in {segment}");
    }
    assert_eq!(config.policy("rack1"), Policy::Required);
    assert_eq!(config.policy("rack2"), Policy::TrustMonitor);
    assert_eq!(config.policy("unlisted"), Policy::TrustMonitor);
    let topology = config.topology("edge1", "edge").unwrap();
    let names: Vec<&str> = topology.levels.iter().map(|l| l.device.name()).collect();
    assert_eq!(names, ["cluster"]);
    assert!(config.topology("ctl1", "x").unwrap().levels.is_empty());
}

#[test]
fn bad_configurations_are_refused_with_one_line() {
    std::env::set_var("VIGIL_FENCE_TEST_PW", "secret");
    let dir = tempfile::tempdir().unwrap();
    let base = good(dir.path());
    let d = dir.path().display().to_string();
    let (pw, absent) = (
        format!("{d}/pw\"\nca_file"),
        format!("{d}/absent\"\nca_file"),
    );
    let both = format!("password_env = \"VIGIL_FENCE_TEST_PW\"\npassword_file = \"{d}/pw\"");
    // (what is changed, the text replaced, its replacement, a part of the one-line refusal)
    #[rustfmt::skip]
    let table: [(&str, &str, &str, &str); 13] = [
        ("driver", "driver = \"ipmi\"", "driver = \"telnet\"", "unknown variant `telnet`"),
        ("field", "driver = \"pacemaker\"", "driver = \"pacemaker\"\nurl = \"x\"", "unknown field `url`"),
        ("template", "{host}-bmc.example.com", "{hostname}-bmc.example.com", "only {host} is allowed"),
        ("brace", "address = \"{host}-ipmi\"", "address = \"{host-ipmi\"", "unbalanced brace"),
        ("agent option template", "ip = \"{host}-bmc\"", "ip = \"{node}-bmc\"", "unknown placeholder {node}"),
        ("password file", &pw, &absent, "reading the password file"),
        ("password env", "VIGIL_FENCE_TEST_PW", "VIGIL_FENCE_TEST_UNSET", "VIGIL_FENCE_TEST_UNSET is not set"),
        ("both secrets", "password_env = \"VIGIL_FENCE_TEST_PW\"", &both, "exactly one of password_file and password_env"),
        ("ca file", "ca.pem", "absent.pem", "reading the CA file"),
        ("unknown device", "levels = [\"cluster\"]", "levels = [\"clutser\"]", "unknown device clutser"),
        ("no hosts", "segment = \"edge\"\n", "", "exactly one of hosts and segment"),
        ("no levels", "levels = [\"cluster\"]", "levels = []", "no levels"),
        ("policy", "fencing = \"required\"", "fencing = \"maybe\"", "unknown variant `maybe`"),
    ];
    for (what, from, to, want) in table {
        let text = base.replace(from, to);
        assert_ne!(text, base, "{what}: the table's replacement did not apply");
        let refusal = match parse(&text) {
            Err(e) => e,
            Ok(config) => match config.check() {
                Err(e) => e.to_string(),
                Ok(()) => panic!("{what}: accepted"),
            },
        };
        assert!(refusal.contains(want), "{what}: {refusal}");
        if refusal.starts_with("fencing ") {
            assert!(!refusal.contains('\n'), "{what}: not one line: {refusal}");
        }
    }
}

#[test]
fn an_empty_configuration_binds_nothing_and_trusts_the_monitor() {
    let config = parse("").unwrap();
    config.check().unwrap();
    assert_eq!(config.levels_for("c1", "s"), None);
    assert_eq!(config.policy("s"), Policy::TrustMonitor);
}
