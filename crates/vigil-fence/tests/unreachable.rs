//! A power device nobody answers for: a refused connection is `Unreachable`, a missing password
//! file is `CredentialsUnreadable`, both before anything is sent.

use std::time::Duration;
use vigil_fence::drivers::redfish::{Redfish, RedfishOptions};
use vigil_fence::drivers::Named;
use vigil_fence::{FenceError, Fencer, Secret};

fn device(url: String, password: Secret) -> Named<Redfish> {
    let redfish = Redfish::new(RedfishOptions {
        url,
        system_id: Some("1".into()),
        username: "admin".into(),
        password,
        ca_file: None,
        insecure: false,
    });
    Named::new("bmc", redfish.unwrap())
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    // A port just bound and released: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "pw\n").unwrap();
    let bmc = device(
        format!("https://127.0.0.1:{port}"),
        Secret::from_file(dir.path().join("pw")),
    );
    let err = bmc.status("c1", Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(err, FenceError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_password_file_is_reported_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = device(
        "https://127.0.0.1:1".into(),
        Secret::from_file(dir.path().join("absent")),
    );
    let err = bmc.status("c1", Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(err, FenceError::CredentialsUnreadable { .. }),
        "{err:?}"
    );
}
