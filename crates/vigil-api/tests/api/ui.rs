//! The status page: its files, its data endpoint (what the store holds, as the page reads it),
//! policy and the read-only paths; on every backend the machine has.

use crate::support::{host_down, uuid, Api};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use vigil_api::headroom::{HeadroomError, HeadroomSource, SegmentHeadroom};
use vigil_api::policy::Policy;
use vigil_api::{router, ApiState};
use vigil_domain::plan::{Chosen, Planned, CHOSEN_STEP};
use vigil_domain::{InstanceMove, SegmentId, VMoveStatus, VMoveType, WorkflowStep};
use vigil_store::testing::test_stores;
use vigil_store::FlowStep;

/// A name an operator might give that is also markup: the page must show it as text.
const MARKUP: &str = "<img src=x onerror=alert(1)> & \"quotes\"";

#[tokio::test]
async fn the_page_and_its_data() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let index = api.get("/ui/").await;
        assert_eq!(index.status, 200);
        assert!(index.header("content-type").starts_with("text/html"));
        assert!(index.text.contains("<script src=\"app.js\" defer>"));
        let csp = index.header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(index.headers["x-content-type-options"], "nosniff");
        let script = api.get("/ui/app.js").await;
        assert_eq!(script.status, 200);
        assert!(script.header("content-type").starts_with("text/javascript"));
        assert!(
            !script.text.contains("innerHTML"),
            "names must go in as text"
        );
        assert_eq!(api.get("/ui/app.css").await.status, 200);
        let bare = api.get("/ui").await;
        assert_eq!(bare.status, 301);
        assert_eq!(bare.headers["location"], "/ui/");

        let sid = uuid(&api.segment(MARKUP).await);
        for name in ["compute-a", "compute-b", "spare"] {
            api.host(&sid, name).await;
        }
        let listed = api
            .get(&format!("/v1/segments/{sid}/hosts?name=spare"))
            .await;
        let spare = uuid(&listed.json()["hosts"][0]);
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

fn logged(name: &str, state: &str, output: Option<String>) -> FlowStep {
    FlowStep {
        step: WorkflowStep {
            name: name.into(),
            state: state.into(),
            progress: 0.0,
            progress_details: vec![],
        },
        output,
        message: None,
        ending: None,
    }
}

fn moving(id: &str, status: VMoveStatus, dest: Option<&str>) -> InstanceMove {
    InstanceMove {
        instance_uuid: id.into(),
        instance_name: format!("vm-{id}"),
        source_host: Some("compute-a".into()),
        dest_host: dest.map(str::to_owned),
        start_time: None,
        end_time: None,
        vmove_type: VMoveType::Evacuation,
        status,
        message: None,
    }
}

/// Each server's phase and start tier, from what an engine writes: pending moves wait on the
/// fence until FenceHostTask succeeds, an ongoing move with a destination is being rebuilt,
/// and tiers come from the choice PrepareHAEnabledInstancesTask recorded.
#[tokio::test]
async fn server_phases_and_tiers_follow_the_engines_records() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let sid = uuid(&api.segment("tiers").await);
        api.host(&sid, "compute-a").await;
        let report = api.post("/v1/notifications", host_down("compute-a")).await;
        assert_eq!(report.status, 202, "{}", report.text);
        let s = &t.store;
        let claim = s
            .notification_claim("engine-a", std::time::Duration::from_secs(60))
            .await
            .unwrap()
            .expect("the report to claim");
        let lease = &claim.lease;
        let ids = ["s1", "s2", "s3"];
        let pending: Vec<InstanceMove> = ids
            .iter()
            .map(|id| moving(id, VMoveStatus::Pending, None))
            .collect();
        s.vmoves_announce(lease, &pending).await.unwrap();
        s.flow_step_save(lease, &logged("FenceHostTask", "RUNNING", None))
            .await
            .unwrap();
        let phases = |state: Value| -> Vec<(String, String, Value)> {
            state["recoveries"][0]["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let f = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                    (f("uuid"), f("phase"), v["tier"].clone())
                })
                .collect()
        };
        let fencing = phases(api.get("/ui/state.json").await.json());
        assert!(
            fencing
                .iter()
                .all(|(_, p, tier)| p == "fencing" && tier.is_null()),
            "{:?}: {fencing:?}",
            t.backend
        );

        s.flow_step_save(
            lease,
            &logged("FenceHostTask", "SUCCESS", Some("{}".into())),
        )
        .await
        .unwrap();
        let planned = |id: &str, priority: i64| Planned {
            id: id.into(),
            name: format!("vm-{id}"),
            ha_enabled: true,
            priority,
            original_vm_state: "active".into(),
        };
        let chosen = Chosen {
            servers: vec![planned("s1", 5), planned("s2", 5), planned("s3", 0)],
            start_in_tiers: true,
        };
        let output = serde_json::to_string(&chosen).unwrap();
        s.flow_step_save(lease, &logged(CHOSEN_STEP, "SUCCESS", Some(output)))
            .await
            .unwrap();
        s.vmoves_put(
            lease,
            &[
                moving("s1", VMoveStatus::Succeeded, Some("compute-b")),
                moving("s2", VMoveStatus::Ongoing, Some("compute-b")),
            ],
        )
        .await
        .unwrap();
        let mut seen = phases(api.get("/ui/state.json").await.json());
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        let want = [
            ("s1", "ACTIVE", Value::from(1)),
            ("s2", "rebuilding", Value::from(1)),
            ("s3", "waiting", Value::from(2)),
        ]
        .map(|(id, p, tier)| (id.to_owned(), p.to_owned(), tier));
        assert_eq!(seen, want, "{:?}", t.backend);
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
        let sid = uuid(&api.segment("capacity").await);
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
