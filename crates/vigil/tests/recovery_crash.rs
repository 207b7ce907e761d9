//! Engines that crash or compete: two `vigil engine` processes on one PostgreSQL database with
//! a separate `vigil api`, recovering lab hosts while one of them is killed at every step of
//! the flow, and sharing twenty host failures posted at once.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it), and needs PostgreSQL. The tests
//! fail hosts of the one shared lab, so they take turns (`support::lab`).

mod support;

use std::time::{Duration, Instant};
use support::api::step_names;
use support::lab::{LabTest, HOST_STEPS, WITHIN};

/// Crash safety: two `vigil engine` processes share one PostgreSQL database with a separate
/// `vigil api`. At each step of the flow in turn, whichever engine holds the notification dies
/// at the worst moment — the step's effect done, its completion not yet recorded — by
/// aborting, like kill -9 (`VIGIL_CRASH_FILE`); it is restarted, so two engines always run.
/// The other engine takes the flow over when the lease expires and runs the step again: the
/// notification still ends `finished`, and every server was evacuated exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_killed_at_every_step_is_taken_over() -> anyhow::Result<()> {
    let quick = [
        ("VIGIL_ENGINE__LEASE_SECS", "3"),
        ("VIGIL_ENGINE__POLL_INTERVAL_MS", "200"),
    ];
    let Some((mut t, _db)) = LabTest::start_on_postgres(&quick).await? else {
        return Ok(());
    };
    let victim = t.env.computes[2].clone();
    let crash_file = t.path("crash-at");
    t.set("VIGIL_CRASH_FILE", crash_file.to_string_lossy());
    let (_api_proc, api) = t.vigil("api", &[]);
    let hosts: Vec<(&str, bool)> = t.computes().into_iter().map(|h| (h, false)).collect();
    api.segment("auto", &hosts).await?;
    let specs = (0..4)
        .map(|i| t.server_on(format!("crash-{i}"), &victim))
        .collect();
    let servers = t.boot(specs).await?;
    let mut engines = [t.engine(), t.engine()];

    t.with_failed_host(&victim, &servers, || async {
        std::fs::write(&crash_file, HOST_STEPS[0])?;
        let nid = api.report_host_down(&victim).await?;
        let mut crashed: Vec<&str> = Vec::new();
        for (k, step) in HOST_STEPS.iter().enumerate() {
            // The engine holding the flow removes the file and dies at this step.
            let deadline = Instant::now() + WITHIN;
            let slot = loop {
                anyhow::ensure!(Instant::now() < deadline, "no engine crashed at {step}");
                if let Some(slot) = engines.iter_mut().position(|e| e.exited()) {
                    break slot;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            anyhow::ensure!(!crash_file.exists(), "an engine ended without crashing");
            crashed.push(step);
            // Arm the next step before the survivor's takeover (the lease lasts 3 s).
            if let Some(next) = HOST_STEPS.get(k + 1) {
                std::fs::write(&crash_file, next)?;
            }
            engines[slot] = t.engine();
        }
        let view = api.wait_ended(&nid, WITHIN).await?;
        eprintln!("engines crashed at {crashed:?}");
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS);
        t.assert_recovered(&servers, &victim).await?;
        Ok(())
    })
    .await
}

/// Two engines on one PostgreSQL database, 20 host failures posted at once (hosts Nova knows
/// and sees down: `lab/lab ghosts`): every report ends `finished` and every step of every flow
/// ran exactly once — no notification was processed twice, by one engine or by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_twenty_host_failures() -> anyhow::Result<()> {
    // Every host of the segment fails: the partition gate and the cap would hold them back.
    let ungated = [
        ("VIGIL_ENGINE__HOST__MASS_FAILURE_SHARE", "1.0"),
        ("VIGIL_ENGINE__SEGMENT_RECOVERY_CAP", "0"),
    ];
    let Some((t, db)) = LabTest::start_on_postgres(&ungated).await? else {
        return Ok(());
    };
    let ghosts = t.lab.ghosts(20).await?;
    let (_api_proc, api) = t.vigil("api", &[]);
    let hosts: Vec<(&str, bool)> = ghosts.iter().map(|h| (h.as_str(), false)).collect();
    api.segment("auto", &hosts).await?;
    let _engines = [t.engine(), t.engine()];
    let posted =
        futures::future::try_join_all(ghosts.iter().map(|h| api.report_host_down(h))).await?;
    for nid in &posted {
        let view = api.wait_ended(nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let id: vigil_domain::NotificationId = nid.parse()?;
        let log = db.store.flow_log_load(id).await?;
        let names: Vec<&str> = log.iter().map(|s| s.step.name.as_str()).collect();
        assert_eq!(
            names,
            HOST_STEPS[..4],
            "{nid}: no servers, so it ends after choosing"
        );
        for s in &log {
            // One start and one end (progress 1.0): the step ran once. A step may add progress
            // messages of its own between them.
            let details = &s.step.progress_details;
            let started = details.iter().filter(|d| d.message.ends_with(" started"));
            let ended = details.iter().filter(|d| d.progress == "1.0");
            assert_eq!(
                (started.count(), ended.count()),
                (1, 1),
                "{nid} {}: {s:?}",
                s.step.name
            );
        }
    }
    for h in &ghosts {
        let svc = t.cloud.compute_service(h).await?;
        assert!(svc.forced_down && svc.status == "disabled", "{svc:?}");
    }
    Ok(())
}
