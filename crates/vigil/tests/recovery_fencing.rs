//! Host-failure recovery with real fencing: a segment whose policy is `fencing = "required"`,
//! its hosts bound to the lab's Redfish emulator (`lab/lab power up`: one libvirt domain per
//! fake compute). The failed host's domain is powered off before the first evacuation; a device
//! that cannot be reached stops the recovery before anything is changed.
//!
//! Needs VIGIL_LAB=1 and VIGIL_POWER_LAB=1 (scripts/test sets both); otherwise each test says
//! loudly that it did not run.

mod support;

use chrono::{NaiveDateTime, Timelike};
use serde_json::Value;
use support::api::step_names;
use support::lab::{restoring, LabTest, HOST_STEPS, WITHIN};
use vigil_lab::{PowerLab, ServerId};

fn domain_power(host: &str) -> String {
    PowerLab::power_of(host).expect("lab/lab power status")
}

/// Powers a lab domain back on (a test's restore).
async fn power_on(host: &str) -> anyhow::Result<()> {
    Ok(PowerLab::power_on(host)?)
}

/// Two servers booted on `host`, `{prefix}-0` and `{prefix}-1`: what each fencing test
/// evacuates.
async fn boot_two(t: &LabTest, prefix: &str, host: &str) -> anyhow::Result<Vec<ServerId>> {
    t.boot(
        (0..2)
            .map(|i| t.server_on(format!("{prefix}-{i}"), host))
            .collect(),
    )
    .await
}

/// A configuration binding every lab compute to one Redfish device at `url` (the emulator's
/// unless given), and the lab's segment (`serve` names it `lab-auto`) requiring fencing.
fn fencing_config(t: &LabTest, power: &PowerLab, url: Option<&str>) -> String {
    let path = t.path("vigil.toml");
    let config = power.redfish_fencing(url, "compute*")
        + "\n[fencing.segments.lab-auto]\nfencing = \"required\"\n";
    std::fs::write(&path, config).unwrap();
    path.to_string_lossy().into_owned()
}

/// When a step of the notification's flow ended (its last progress detail), UTC.
fn step_ended(view: &Value, step: &str) -> NaiveDateTime {
    let steps = view["notification"]["recovery_workflow_details"]
        .as_array()
        .expect("workflow details");
    let s = steps.iter().find(|s| s["name"] == step).expect("the step");
    let last = s["progress_details"].as_array().unwrap().last().unwrap();
    NaiveDateTime::parse_from_str(last["timestamp"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S%.f")
        .expect("a progress timestamp")
}

/// A required fence powers the failed host off before the first evacuation; once the host is
/// repaired and reported back, the rejoin flow powers it on (`power_on_after_recovery`) and
/// takes it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_fence_powers_the_host_off_before_any_evacuation_and_on_at_rejoin(
) -> anyhow::Result<()> {
    let Some(power) = PowerLab::for_test() else {
        return Ok(());
    };
    let rejoin = [
        ("VIGIL_ENGINE__REJOIN__POWER_ON_AFTER_RECOVERY", "true"),
        ("VIGIL_ENGINE__REJOIN__AUTO_UNFENCE", "true"),
        ("VIGIL_ENGINE__REJOIN__GRACE_SECS", "2"),
    ];
    let Some(t) = LabTest::start_with(&rejoin).await? else {
        return Ok(());
    };
    let config = fencing_config(&t, &power, None);
    let (_vigil, api, sid) = t.serve(&["--config", &config]).await?;
    let victim = t.computes()[1].to_owned();
    assert_eq!(domain_power(&victim), "on");
    let servers = boot_two(&t, "fence", &victim).await?;
    let recovered = t.with_failed_host(&victim, &servers, || async {
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS);
        assert_eq!(
            domain_power(&victim),
            "off",
            "the failed host was not powered off"
        );
        // Nova records each evacuation's start: every one after the fence step ended. Nova
        // keeps whole seconds, so the fence's end is compared truncated to its second.
        let fenced = step_ended(&view, "FenceHostTask");
        let fenced = fenced.with_nanosecond(0).unwrap_or(fenced);
        for s in &servers {
            let actions = t.instance_actions(s).await?;
            let evacuate = actions
                .iter()
                .find(|a| a["action"] == "evacuate")
                .unwrap_or_else(|| panic!("no evacuate action for {s:?}: {actions:?}"));
            let at = NaiveDateTime::parse_from_str(
                evacuate["start_time"].as_str().unwrap(),
                "%Y-%m-%dT%H:%M:%S%.f",
            )?;
            assert!(
                at >= fenced,
                "{s:?} evacuated at {at} before the fence ended at {fenced}"
            );
        }
        t.assert_recovered(&servers, &victim).await?;

        // Repaired and reported back: powered on before its cleanup is awaited, then taken back.
        t.lab.restart_host_fenced(&victim).await?;
        let back = api.report_host_back(&victim).await?;
        let view = api.wait_ended(&back, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(
            step_names(&view),
            [
                "CheckHostFailureRecoveredTask",
                "PowerOnHostTask",
                "WaitForComputeCleanupTask",
                "UnfenceHostTask"
            ],
            "{view}"
        );
        assert_eq!(domain_power(&victim), "on", "not powered on at rejoin");
        assert_eq!(api.host(&sid, &victim).await?["on_maintenance"], false);
        Ok(())
    });
    restoring(recovered, power_on(&victim)).await
}

/// kill -9 of the engine holding the flow just after the fence step powered the host off, its
/// completion not yet recorded: the engine that takes over runs the fence step again — the
/// device already reads off, so it confirms at once — and every server is evacuated once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_killed_in_the_fence_step_is_taken_over_and_fences_again() -> anyhow::Result<()> {
    let Some(power) = PowerLab::for_test() else {
        return Ok(());
    };
    let quick = [
        ("VIGIL_ENGINE__LEASE_SECS", "3"),
        ("VIGIL_ENGINE__POLL_INTERVAL_MS", "200"),
    ];
    let Some((mut t, _db)) = LabTest::start_on_postgres(&quick).await? else {
        return Ok(());
    };
    let config = fencing_config(&t, &power, None);
    let crash_file = t.path("crash-at");
    t.set("VIGIL_CONFIG", config);
    t.set("VIGIL_CRASH_FILE", crash_file.to_string_lossy());
    let (_api_proc, api) = t.vigil("api", &[]);
    let hosts: Vec<(&str, bool)> = t.computes().into_iter().map(|h| (h, false)).collect();
    api.segment("auto", &hosts).await?;
    let victim = t.computes()[2].to_owned();
    let servers = boot_two(&t, "fence-crash", &victim).await?;
    let mut engines = [t.engine(), t.engine()];
    let recovered = t.with_failed_host(&victim, &servers, || async {
        std::fs::write(&crash_file, "FenceHostTask")?;
        let nid = api.report_host_down(&victim).await?;
        let deadline = std::time::Instant::now() + WITHIN;
        while !engines.iter_mut().any(|e| e.exited()) {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "no engine crashed in the fence step"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(domain_power(&victim), "off", "crashed before fencing");
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS);
        let fence = view["notification"]["recovery_workflow_details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "FenceHostTask")
            .unwrap()
            .clone();
        let started = fence["progress_details"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["message"] == "FenceHostTask started")
            .count();
        assert_eq!(started, 2, "the fence step ran twice: {fence}");
        for s in &servers {
            assert_eq!(t.evacuations(s).await?.len(), 1, "{s:?} evacuated once");
        }
        t.assert_recovered(&servers, &victim).await
    });
    restoring(recovered, power_on(&victim)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_power_device_stops_the_recovery_before_anything_changes(
) -> anyhow::Result<()> {
    let Some(power) = PowerLab::for_test() else {
        return Ok(());
    };
    let Some(mut t) = LabTest::start().await? else {
        return Ok(());
    };
    // Nothing listens on port 1.
    let config = fencing_config(&t, &power, Some("https://127.0.0.1:1"));
    t.set("VIGIL_ENGINE__MAX_ATTEMPTS", "1");
    let (_vigil, api, sid) = t.serve(&["--config", &config]).await?;
    let victim = t.computes()[1].to_owned();
    let servers = t.boot(vec![t.server_on("unfenced", &victim)]).await?;
    t.with_failed_host(&victim, &servers, || async {
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "failed", "{view}");
        let details = view["notification"]["recovery_workflow_details"].to_string();
        assert!(
            details.contains("FenceHostTask") && details.contains("level 1 bmc"),
            "the reason of each level is not in the details: {view}"
        );
        // Nothing was changed: no evacuation, the host not put in maintenance.
        assert_eq!(
            step_names(&view),
            ["CheckHostStatusTask", "FenceHostTask"],
            "{view}"
        );
        assert!(t.evacuations(&servers[0]).await?.is_empty());
        assert_eq!(api.host(&sid, &victim).await?["on_maintenance"], false);
        assert_eq!(domain_power(&victim), "on");
        Ok(())
    })
    .await
}
