//! The status page: its files, its data endpoint (what the store holds, as the page reads it),
//! policy and the read-only paths; on every backend the machine has.

use crate::support::{host_down, Api};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use vigil_api::headroom::{HeadroomError, HeadroomSource, SegmentHeadroom};
use vigil_api::policy::Policy;
use vigil_api::{router, ApiState};
use vigil_domain::SegmentId;
use vigil_store::testing::test_stores;

/// A name an operator might give that is also markup: the page must show it as text.
const MARKUP: &str = "<img src=x onerror=alert(1)> & \"quotes\"";

#[tokio::test]
async fn the_page_and_its_data() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let index = api.get("/ui/").await;
        assert_eq!(index.status, 200);
        assert!(index.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(index.text.contains("<script src=\"app.js\" defer>"));
        let csp = index.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(index.headers["x-content-type-options"], "nosniff");
        let script = api.get("/ui/app.js").await;
        assert_eq!(script.status, 200);
        assert!(script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(
            !script.text.contains("innerHTML"),
            "names must go in as text"
        );
        assert_eq!(api.get("/ui/app.css").await.status, 200);
        let bare = api.get("/ui").await;
        assert_eq!(bare.status, 301);
        assert_eq!(bare.headers["location"], "/ui/");

        let sid = api.segment(MARKUP).await["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        for name in ["compute-a", "compute-b", "spare"] {
            api.host(&sid, name).await;
        }
        let spare = api
            .get(&format!("/v1/segments/{sid}/hosts?name=spare"))
            .await
            .json()["hosts"][0]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = api
            .put(
                &format!("/v1/segments/{sid}/hosts/{spare}"),
                serde_json::json!({"host": {"reserved": true}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let report = api.post("/v1/notifications", host_down("compute-a")).await;
        assert_eq!(report.status, 202, "{}", report.text);
        let nid = report.json()["notification"]["notification_uuid"].clone();

        let r = api.get("/ui/state.json").await;
        assert_eq!(r.status, 200, "{:?} {}", t.backend, r.text);
        assert_eq!(r.headers["cache-control"], "no-store");
        let state = r.json();
        let segment = &state["segments"][0];
        assert_eq!(segment["name"], MARKUP);
        assert_eq!(segment["headroom"]["state"], "unknown");
        let states: Vec<(&str, &str)> = segment["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["name"].as_str().unwrap(), h["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            [
                ("compute-a", "down"),
                ("compute-b", "up"),
                ("spare", "reserved")
            ]
        );
        let recovery = &state["recoveries"][0];
        assert_eq!(recovery["host"], "compute-a");
        assert_eq!(recovery["status"], "new");
        assert_eq!(recovery["event"], "STOPPED");
        assert_eq!(recovery["done"], 0);
        assert_eq!(recovery["total"], 0);
        let listed = &state["notifications"][0];
        assert_eq!(listed["uuid"], nid);
        assert_eq!(listed["host"], "compute-a");
        assert_eq!(listed["type"], "COMPUTE_HOST");
    }
}

#[tokio::test]
async fn the_page_is_read_only_and_keeps_the_api_routing() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let r = api.call("POST", "/ui/state.json", Some("{}"), &[]).await;
        assert_eq!(r.status, 405);
        assert_eq!(r.headers["allow"], "GET, HEAD");
        let r = api.get("/ui/nothing-here").await;
        assert_eq!(r.status, 404);
        assert!(r.text.starts_with("404 Not Found"), "{}", r.text);
        // Paths beside the page answer as before.
        assert_eq!(api.get("/uix").await.status, 300);
        assert_eq!(api.get("/v1/ui").await.status, 404);
    }
}

#[tokio::test]
async fn the_data_needs_the_rules_of_every_list_shown() {
    for t in test_stores().await {
        let mut state = ApiState::new(t.store.clone());
        let policy = Policy::from_yaml("\"os_masakari_api:vmoves:index\": \"!\"\n").unwrap();
        state.policy = Arc::new(policy);
        let api = Api {
            app: router(state),
            backend: t.backend,
        };
        let r = api.get("/ui/state.json").await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(
            r.fault("forbidden"),
            "Policy doesn't allow os_masakari_api:vmoves:index to be performed."
        );
        // The shell carries no data and stays public.
        assert_eq!(api.get("/ui/").await.status, 200);
    }
}

/// Headroom as a source gives it: this one answers with fixed figures or fails, as the
/// Placement computation may.
struct Figures(Option<Vec<SegmentHeadroom>>);

#[derive(Debug, thiserror::Error)]
#[error("Placement answered 503")]
struct Unreachable;

impl HeadroomSource for Figures {
    fn headroom(&self) -> BoxFuture<'_, Result<Vec<SegmentHeadroom>, HeadroomError>> {
        let answer = self
            .0
            .clone()
            .ok_or_else(|| HeadroomError::Unavailable(Box::new(Unreachable)));
        Box::pin(async move { answer })
    }
}

async fn headroom_shown(t: &vigil_store::testing::TestStore, source: Figures, sid: &str) -> Value {
    let mut state = ApiState::new(t.store.clone());
    state.headroom = Some(Arc::new(source));
    let api = Api {
        app: router(state),
        backend: t.backend,
    };
    let r = api.get("/ui/state.json").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let segments = r.json()["segments"].as_array().unwrap().clone();
    segments.into_iter().find(|s| s["uuid"] == sid).unwrap()["headroom"].clone()
}

#[tokio::test]
async fn headroom_is_shown_as_its_source_gives_it() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let sid = api.segment("capacity").await["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        let id: SegmentId = sid.parse().unwrap();
        let short = SegmentHeadroom {
            segment: id,
            survives_host_loss: false,
            detail: "VCPU: 4 free, 8 needed".to_owned(),
        };
        let h = headroom_shown(&t, Figures(Some(vec![short])), &sid).await;
        assert_eq!(h["state"], "short");
        assert_eq!(h["detail"], "VCPU: 4 free, 8 needed");
        let h = headroom_shown(&t, Figures(Some(vec![])), &sid).await;
        assert_eq!(h["state"], "unknown");
        let h = headroom_shown(&t, Figures(None), &sid).await;
        assert_eq!(h["state"], "unknown");
        assert_eq!(
            h["detail"],
            "computing capacity headroom: Placement answered 503"
        );
    }
}
