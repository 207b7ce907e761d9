//! `vigil watch`'s bad input against a real `vigil api`: an unknown notification, none in
//! flight to follow, no API address; each a clear message and exit code 2. Following a real
//! recovery to its end is tests/ui_status.rs's (the lab).

mod support;

use std::process::Command;
use support::Vigil;

fn watch(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("watch")
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("VIGIL_API_URL")
        .output()
        .expect("run vigil watch");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn bad_input_is_exit_code_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start("api", &dir.path().join("data"), &[]);
    let v1 = format!("{}/v1", vigil.url());

    let unknown = "5f4e0a3c-9d1b-4c5e-8f2a-1b2c3d4e5f60";
    let (code, err) = watch(&[unknown, "--url", &v1]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("vigil watch: no notification {unknown}")),
        "{err}"
    );
    let (code, err) = watch(&["not-a-uuid", "--url", &v1]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no notification not-a-uuid"), "{err}");

    let (code, err) = watch(&["--url", &v1]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no notification is new or running; name one to follow it"),
        "{err}"
    );

    let (code, err) = watch(&[unknown]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("setting up the API client"), "{err}");
}
