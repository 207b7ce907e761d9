//! What the API answers when Keystone cannot be reached: 503 with Masakari's fault body, never
//! 401 (the token may well be valid). Keystone here is a loopback port nobody listens on; the
//! lab test `keystone_down_is_503` (crates/vigil) cuts the real one behind a proxy and shows
//! that cached tokens keep working.

use crate::support::Api;
use std::sync::Arc;
use vigil_api::{auth::Authenticator, router, ApiState};

/// A port that refuses connections: bound for an instant, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn keystone_unreachable_is_503_not_401() {
    let t = vigil_store::testing::sqlite().await;
    let creds = vigil_openstack::Credentials {
        auth_url: format!("http://127.0.0.1:{}/v3", closed_port()),
        username: "vigil".into(),
        password: "secret".into(),
        project_name: "service".into(),
        ..Default::default()
    };
    let session = vigil_openstack::Session::new(creds).unwrap();
    let mut state = ApiState::new(t.store.clone());
    state.auth = Authenticator::keystone(Arc::new(session));
    let api = Api {
        app: router(state),
        backend: t.backend,
    };
    for path in ["/v1/segments", "/v1/notifications", "/ui/state.json"] {
        let r = api
            .call("GET", path, None, &[("X-Auth-Token", "gAAAAA-some-token")])
            .await;
        assert_eq!(r.status, 503, "{path}: {}", r.text);
        let message = r.fault("serviceUnavailable");
        assert!(message.contains("Keystone"), "{path}: {message}");
    }
    // Without a token there is nothing to ask Keystone: still 401.
    let r = api.get("/v1/segments").await;
    assert_eq!(r.status, 401, "{}", r.text);
    r.fault("unauthorized");
}
