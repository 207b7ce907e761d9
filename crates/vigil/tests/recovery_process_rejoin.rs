//! Process failures and rejoins against the lab's real Nova: a critical process's failure
//! disables the host's compute service, a flow that fails while Nova is away is retried until
//! it finishes, and a recovered host comes back into service and can fail again.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it). The tests change hosts of the one
//! shared lab, so they take turns (`support::lab`) and put the hosts back before they end.

mod support;

use reqwest::Method;
use std::time::{Duration, Instant};
use support::lab::{restoring, LabTest, NO_DUPLICATE_WINDOW, WITHIN};

/// Process failure: nova-compute stopped → the compute service is disabled with the reason and
/// the host is in maintenance; a non-critical process → finished, host left in service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_failure_disables_only_for_critical_processes() -> anyhow::Result<()> {
    let Some(t) = LabTest::start().await? else {
        return Ok(());
    };
    let [critical, other] = [t.computes()[1], t.computes()[2]];
    let (_vigil, api, sid) = t.serve(&[]).await?;
    let disabled = async {
        let a = api.report_process_down(critical, "nova-compute").await?;
        let b = api.report_process_down(other, "sshd").await?;
        for nid in [&a, &b] {
            let view = api.wait_ended(nid, WITHIN).await?;
            assert_eq!(view["notification"]["status"], "finished", "{view}");
        }
        for (name, maintenance) in [(critical, true), (other, false)] {
            let host = api.host(&sid, name).await?;
            assert_eq!(host["on_maintenance"], maintenance, "{host}");
        }
        let svc = t.cloud.compute_service(critical).await?;
        assert_eq!(svc.status, "disabled", "{svc:?}");
        assert!(
            !svc.forced_down,
            "a process failure does not force the host down"
        );
        let services = t
            .cloud
            .compute_get(&format!("/os-services?binary=nova-compute&host={critical}"))
            .await?;
        assert_eq!(
            services["services"][0]["disabled_reason"], "Vigil detected process failed.",
            "{services}"
        );
        assert_eq!(t.cloud.compute_service(other).await?.status, "enabled");
        Ok(())
    };
    restoring(disabled, t.enable_computes(&[critical])).await
}

/// Retries: with Nova's API stopped, a process failure's flow fails, is retried with backoff
/// while the notification shows `error`, and ends `finished` once Nova is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_failing_while_nova_is_away_is_retried() -> anyhow::Result<()> {
    let patient = [
        ("VIGIL_ENGINE__RETRY_BACKOFF_SECS", "1"),
        ("VIGIL_ENGINE__MAX_ATTEMPTS", "20"),
    ];
    let Some(t) = LabTest::start_with(&patient).await? else {
        return Ok(());
    };
    let host = t.env.computes[2].clone();
    let (_vigil, api, _) = t.serve(&[]).await?;

    t.lab.stop_service("nova-api").await?;
    let retried = async {
        let nid = api.report_process_down(&host, "nova-compute").await?;
        let deadline = Instant::now() + WITHIN;
        loop {
            let n = api
                .call(Method::GET, &format!("/notifications/{nid}"), None)
                .await?;
            if n["notification"]["status"] == "error" {
                // Each retry of the Nova call was noted in the running step's details.
                let details = n["notification"]["recovery_workflow_details"].to_string();
                anyhow::ensure!(details.contains("; retry 1 in "), "no retry noted: {n}");
                break;
            }
            assert_ne!(n["notification"]["status"], "finished", "{n}");
            anyhow::ensure!(Instant::now() < deadline, "never in error: {n}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        t.lab.start_service("nova-api").await?;
        let view = api.wait_ended_finally(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(t.cloud.compute_service(&host).await?.status, "disabled");
        Ok(())
    };
    restoring(retried, async {
        t.lab.start_service("nova-api").await?;
        t.enable_computes(&[&host]).await
    })
    .await
}

/// Rejoin: a failed host is recovered, its nova-compute comes back (still forced down), and
/// its `STARTED` report — accepted although the host is in maintenance — takes it back into
/// service once Nova's evacuation records are `completed`; a second failure of the rejoined
/// host is recovered like the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_host_rejoins_and_can_fail_again() -> anyhow::Result<()> {
    // The second failure repeats the first report's payload within the default window.
    let settings = [
        ("VIGIL_ENGINE__REJOIN__AUTO_UNFENCE", "true"),
        ("VIGIL_ENGINE__REJOIN__GRACE_SECS", "2"),
        NO_DUPLICATE_WINDOW,
    ];
    let Some(t) = LabTest::start_with(&settings).await? else {
        return Ok(());
    };
    let victim = t.env.computes[0].clone();
    let (_vigil, api, sid) = t.serve(&[]).await?;
    let first = t.boot(vec![t.server_on("rejoin-1", &victim)]).await?;
    let second = std::cell::RefCell::new(Vec::new());
    let rejoined = t.with_failed_host(&victim, &first, || async {
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        t.lab.restart_host_fenced(&victim).await?;
        let back = api.report_host_back(&victim).await?;
        let view = api.wait_ended(&back, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let svc = t
            .cloud
            .wait_compute_state(&victim, vigil_lab::ServiceState::Up, WITHIN)
            .await?;
        assert!(
            !svc.forced_down && svc.status == "enabled",
            "taken back: {svc:?}"
        );
        for m in t.evacuations(&first[0]).await? {
            assert_eq!(m["status"], "completed", "cleaned up before rejoin: {m}");
        }
        let host = api.host(&sid, &victim).await?;
        assert_eq!(host["on_maintenance"], false, "{host}");

        // The rejoined host fails again, with a server on it: recovered like the first time.
        let again = t.boot(vec![t.server_on("rejoin-2", &victim)]).await?;
        second.borrow_mut().extend(again.clone());
        t.lab.kill_host(&victim).await?;
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        t.assert_recovered(&again, &victim).await?;
        Ok(())
    });
    // with_failed_host revives the host and deletes the first server; the second is deleted
    // here, whatever happened.
    restoring(rejoined, async {
        let again = second.borrow().clone();
        t.delete_servers(&again).await
    })
    .await
}
