//! Instance-failure recovery against the lab's real Nova: a failed HA-enabled server is
//! restarted in place, then relocated once its restart budget is spent.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it); it takes its turn on the shared
//! lab (`support::lab`) and deletes its servers before it ends.

mod support;

use serde_json::json;
use std::time::Duration;
use support::lab::{restoring, LabTest, NO_DUPLICATE_WINDOW, WITHIN};
use vigil_lab::ServerId;

/// Instance failure: an HA-enabled server put in error behind the engine's back is restarted
/// where it is; with its restart budget (1) spent, the next failure relocates it with a cold
/// migration. A server without the HA key is left alone, and other event pairs are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_failure_restarts_then_relocates() -> anyhow::Result<()> {
    // Two failures of one server within seconds are two reports, not a duplicate.
    let settings = [
        ("VIGIL_ENGINE__INSTANCE__RESTART_BUDGET", "1"),
        NO_DUPLICATE_WINDOW,
    ];
    let Some(t) = LabTest::start_with(&settings).await? else {
        return Ok(());
    };
    let home = t.env.computes[0].clone();
    let (_vigil, api, _) = t.serve(&[]).await?;
    let servers = t
        .boot(vec![
            t.server_on("vm-ha", &home).meta("HA_Enabled", "True"),
            t.server_on("vm-plain", &home),
        ])
        .await?;
    let (ha, plain) = (&servers[0], &servers[1]);
    let failed = |id: &ServerId| json!({"instance_uuid": id.0, "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"});
    // The server fails behind the engine's back and is reported; the report ends `finished`
    // with the server ACTIVE again. Returns where it runs.
    let fail_and_recover = || async {
        t.cloud.server_reset_state(ha, "error").await?;
        let nid = api.report("VM", &home, failed(ha)).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let got = t.cloud.server_get(ha).await?.expect("exists");
        assert_eq!(got.status, "ACTIVE");
        anyhow::Ok(got.host)
    };
    let recovered = async {
        // First failure: restarted in place.
        let host = fail_and_recover().await?;
        assert_eq!(host.as_deref(), Some(home.as_str()), "restarted in place");

        // Second failure, budget spent: relocated.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let host = fail_and_recover().await?;
        assert_ne!(host.as_deref(), Some(home.as_str()), "relocated");
        // As in Masakari, vmoves belong to host failures; Nova's record shows the cold migration.
        let actions = t.instance_actions(ha).await?;
        let migrated = actions.iter().filter(|a| a["action"] == "migrate").count();
        assert_eq!(migrated, 1, "{actions:?}");

        // Not HA-enabled: finished, nothing done to it.
        let nid = api.report("VM", &home, failed(plain)).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let actions = t.instance_actions(plain).await?;
        assert_eq!(actions.len(), 1, "only its create: {actions:?}");
        // An event pair Vigil does not act on.
        let nid = api
            .report(
                "VM",
                &home,
                json!({"instance_uuid": ha.0, "vir_domain_event": "STARTED_BOOTED", "event": "LIFECYCLE"}),
            )
            .await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "ignored", "{view}");
        Ok(())
    };
    restoring(recovered, t.delete_servers(&servers)).await
}
