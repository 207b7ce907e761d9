//! Versions, microversion negotiation, project-id prefixes, Masakari's 404/405 rules and the
//! extensions list.

use crate::support::Api;
use vigil_store::testing::test_stores;

#[tokio::test]
async fn versions_microversions_and_routing() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let r = api.get("/").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["versions"][0]["id"], "v1.0");
        assert_eq!(r.json()["versions"][0]["version"], "1.3");
        assert_eq!(
            r.json()["versions"][0]["links"][0]["href"],
            "http://vigil.test/v1/"
        );
        assert_eq!(api.get("/v2").await.status, 300);
        let r = api.get("/v1/").await;
        assert_eq!(
            r.json()["version"]["media-types"][0]["base"],
            "application/json"
        );
        assert_eq!(api.get("/healthcheck").await.text, "OK");

        let r = api.get_at("/v1/segments", "1.2").await;
        assert_eq!(r.headers["openstack-api-version"], "instance-ha 1.2");
        assert_eq!(r.headers["vary"], "OpenStack-API-Version");
        let r = api.get_at("/v1/segments", "latest").await;
        assert_eq!(r.headers["openstack-api-version"], "instance-ha 1.3");
        let r = api.get_at("/v1/segments", "2.0").await;
        assert_eq!(r.status, 406);
        assert!(r.headers.get("openstack-api-version").is_none());
        r.fault("masakariFault");
        let r = api.get_at("/v1/segments", "x").await;
        assert_eq!(r.status, 400);

        // Project-id prefix and .json suffix.
        assert_eq!(api.get("/v1/0123abcd/segments").await.status, 200);
        assert_eq!(api.get("/v1/segments.json").await.status, 200);
        let r = api.get("/v1/p1/segments").await;
        assert_eq!(r.status, 404);
        assert!(r.text.starts_with("404 Not Found"), "{}", r.text);
        assert!(r.header("content-type").starts_with("text/plain"));
        let r = api
            .call(
                "GET",
                "/v1/0123/segments",
                None,
                &[("X-Project-Id", "abcd")],
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.fault("badRequest"),
            "Malformed request URL: URL's project_id '0123' doesn't match Context's project_id 'abcd'"
        );
        assert_eq!(
            api.call("PATCH", "/v1/segments/x", None, &[]).await.status,
            404
        );
        let r = api.call("DELETE", "/v1/notifications/x", None, &[]).await;
        assert_eq!(
            r.fault("badMethod"),
            "The request method: 'DELETE' with action: 'delete' is not allowed on this resource"
        );
        let ext = api.get("/v1/extensions").await.json();
        assert_eq!(ext["extensions"].as_array().unwrap().len(), 6);
        assert_eq!(api.get("/v1/extensions/vmoves").await.status, 200);
        assert_eq!(api.get("/v1/extensions/nope").await.status, 404);
    }
}
