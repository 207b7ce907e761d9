//! Operator-defined flows against the lab's real Nova: `pre` and `post` steps from the
//! configuration run around the built-in steps, and a failing one fails its flow.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it); it takes its turn on the shared
//! lab (`support::lab`) and enables the host it disabled before it ends.

mod support;

use serde_json::{json, Value};
use support::api::step_names;
use support::lab::{restoring, LabTest, WITHIN};

/// Operator-defined flows: a `pre` exec step and a `post` webhook step (to a listener this
/// test runs) run in that order around the process-failure flow, each given the context; a
/// failing exec step fails its flow with the command's message in the workflow details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_steps_run_in_order_and_fail_the_flow() -> anyhow::Result<()> {
    let Some(mut t) = LabTest::start().await? else {
        return Ok(());
    };
    let host = t.env.computes[1].clone();

    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u128, Value)>::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((now_nanos(), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let exec_out = t.path("exec.json");
    let config = t.path("vigil.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[engine.flows.process_failure.pre]]
exec = ["sh", "-c", "cat > '{out}'"]

[[engine.flows.process_failure.post]]
webhook = "{hook}"

[[engine.flows.instance_failure.pre]]
exec = ["sh", "-c", "echo boom >&2; exit 3"]
"#,
            out = exec_out.display()
        ),
    )?;
    t.set("VIGIL_ENGINE__RETRY_BACKOFF_SECS", "1");
    t.set("VIGIL_ENGINE__MAX_ATTEMPTS", "2");
    let config_arg = config.to_string_lossy().into_owned();
    let (_vigil, api, _) = t.serve(&["--config", &config_arg]).await?;

    let ran = async {
        let nid = api.report_process_down(&host, "nova-compute").await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let steps = step_names(&view);
        assert_eq!(steps.len(), 4, "{steps:?}");
        assert!(steps[0].starts_with("pre[0] exec"), "{steps:?}");
        assert_eq!(
            steps[1..3],
            ["DisableComputeNodeTask", "ConfirmComputeNodeDisabledTask"]
        );
        assert!(steps[3].starts_with("post[0] webhook"), "{steps:?}");
        let exec_context: Value = serde_json::from_str(&std::fs::read_to_string(&exec_out)?)?;
        assert_eq!(
            exec_context["notification"]["notification_uuid"],
            nid.as_str()
        );
        assert_eq!(exec_context["host"]["name"], host.as_str());
        let exec_done = std::fs::metadata(&exec_out)?
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let hooks = received.lock().unwrap().clone();
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        let (at, body) = &hooks[0];
        assert!(*at >= exec_done, "the webhook ran before the exec step");
        assert_eq!(body["notification"]["notification_uuid"], nid.as_str());
        assert!(
            body["completed_steps"]["ConfirmComputeNodeDisabledTask"].is_object(),
            "{body}"
        );

        // A failing operator step fails the flow, saying why. (The process failure above put
        // `host` in maintenance, so the instance report comes from another host.)
        let nid = api
            .report(
                "VM",
                &t.env.computes[0],
                json!({"instance_uuid": "11111111-2222-3333-4444-555555555555",
                       "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"}),
            )
            .await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "error", "{view}");
        let failed = &view["notification"]["recovery_workflow_details"][0];
        assert_eq!(failed["state"], "FAILURE", "{view}");
        assert!(
            failed["progress_details"].to_string().contains("boom"),
            "{failed}"
        );
        // It keeps failing: retried once (max_attempts = 2), then `failed`.
        let view = api.wait_ended_finally(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "failed", "{view}");
        Ok(())
    };
    restoring(ran, t.enable_computes(&[&host])).await
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
