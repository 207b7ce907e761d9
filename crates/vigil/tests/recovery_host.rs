//! Host-failure recovery end to end against the lab's real Nova: Vigil with the lab's
//! credentials, a segment of the fake computes, servers booted, one host's nova-compute killed,
//! a `COMPUTE_HOST`/`STOPPED` report posted — every server ends ACTIVE elsewhere with exactly
//! one evacuation, for each recovery method and with tiered start.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it). The tests fail hosts of the one
//! shared lab, so they take turns (`support::lab`) and each revives its host before it ends.

mod support;

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use support::api::{step_names, Api};
use support::lab::{restoring, LabTest, HOST_STEPS, WITHIN};
use vigil_lab::{Cloud, ServerId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_failure_is_recovered_through_nova() -> anyhow::Result<()> {
    let Some(t) = LabTest::start().await? else {
        return Ok(());
    };
    let (_vigil, api, sid) = t.serve(&[]).await?;
    // The API checks names against Nova: a host Nova does not know is refused.
    let refused = api
        .call(
            Method::POST,
            &format!("/segments/{sid}/hosts"),
            Some(json!({"host": {"name": "no-such-compute", "type": "C", "control_attributes": "x"}})),
        )
        .await;
    assert!(refused.is_err_and(|e| e.to_string().contains("Compute service with name")));

    // Booted where the scheduler likes; the host of the first one fails, with whatever of
    // ours landed there.
    let specs = (0..4).map(|i| t.env.server(format!("ha-{i}"))).collect();
    let booted = t.boot(specs).await?;
    let mut placed = Vec::new();
    for s in &booted {
        let server = t.cloud.server_get(s).await?.expect("booted");
        placed.push((s.clone(), server.host.unwrap_or_default()));
    }
    let victim = placed[0].1.clone();
    let servers: Vec<ServerId> = placed
        .iter()
        .filter(|(_, h)| *h == victim)
        .map(|(s, _)| s.clone())
        .collect();

    t.with_failed_host(&victim, &booted, || async {
        let t0 = Instant::now();
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        eprintln!(
            "notification ended {} after {:.1?}",
            view["notification"]["status"],
            t0.elapsed()
        );
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS);
        let vmoves = api.vmoves(&nid).await?;
        for s in &servers {
            assert!(
                vmoves.iter().any(|v| v["instance_uuid"] == s.0.as_str()),
                "no vmove for {s:?}"
            );
        }
        for v in &vmoves {
            assert_eq!(v["status"], "succeeded", "{v}");
            assert_ne!(v["dest_host"], json!(victim));
        }
        t.assert_recovered(&servers, &victim).await?;
        let svc = t.cloud.compute_service(&victim).await?;
        assert!(svc.forced_down && svc.status == "disabled", "{svc:?}");
        Ok(())
    })
    .await
}

/// `reserved_host`: the servers go to the segment's reserved host, whose compute service was
/// disabled in Nova (as operators keep reserved hosts) and is enabled by the recovery, and
/// which is no longer reserved afterwards. The third compute, not reserved, gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_host_recovery_uses_the_reserved_host() -> anyhow::Result<()> {
    let Some(t) = LabTest::start().await? else {
        return Ok(());
    };
    let (victim, reserved) = (t.computes()[0], t.computes()[2]);
    let (_vigil, api) = t.vigil("serve", &[]);
    let (sid, servers) = reserved_segment(&t, &api, "reserved_host", "rh", 3).await?;
    t.cloud.compute_service_set_enabled(reserved, false).await?;

    let recovered = t.with_failed_host(victim, &servers, || async {
        let nid = api.report_host_down(victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        t.assert_recovered(&servers, victim).await?;
        for s in &servers {
            let got = t.cloud.server_get(s).await?.expect("exists");
            assert_eq!(got.host.as_deref(), Some(reserved), "{s:?}");
        }
        let svc = t.cloud.compute_service(reserved).await?;
        assert_eq!(svc.status, "enabled", "{svc:?}");
        let rh = api.host(&sid, reserved).await?;
        assert_eq!(rh["reserved"], false, "{rh}");
        Ok(())
    });
    // Whatever happened, the reserved compute is a normal compute again for other tests.
    restoring(recovered, t.enable_computes(&[reserved])).await
}

/// `auto_priority` and `rh_priority` fall back to the other strategy, and a fallback that moved
/// every instance ends `finished`. auto_priority: the only other usable host is the reserved
/// one, disabled in Nova as operators keep reserved hosts, so the scheduler finds no host and
/// the reserved host takes the servers. rh_priority: the reserved host is in maintenance, so
/// the scheduler places them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_methods_fall_back_to_the_other_strategy() -> anyhow::Result<()> {
    let Some(t) = LabTest::start().await? else {
        return Ok(());
    };
    let [victim, other, reserved] = [t.computes()[0], t.computes()[1], t.computes()[2]];
    let (_vigil, api) = t.vigil("serve", &[]);

    // auto_priority.
    let (sid, servers) = reserved_segment(&t, &api, "auto_priority", "ap", 2).await?;
    t.cloud.compute_service_set_enabled(other, false).await?;
    t.cloud.compute_service_set_enabled(reserved, false).await?;
    let recovered = t.with_failed_host(victim, &servers, || async {
        let nid = api.report_host_down(victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        for s in &servers {
            let got = t.cloud.server_get(s).await?.expect("exists");
            assert_eq!(got.status, "ACTIVE", "{s:?}");
            assert_eq!(got.host.as_deref(), Some(reserved), "{s:?}");
            // The scheduler's refusals first (auto), then one evacuation to the reserved host.
            let all = t.evacuations(s).await?;
            let count = |status: &str| all.iter().filter(|m| m["status"] == status).count();
            assert_eq!(count("done"), 1, "{s:?}: {all:?}");
            assert!(count("error") >= 1, "auto was not tried first: {all:?}");
        }
        assert_eq!(t.cloud.compute_service(reserved).await?.status, "enabled");
        for v in api.vmoves(&nid).await? {
            assert_eq!(v["status"], "succeeded", "{v}");
            assert_eq!(v["dest_host"], reserved, "{v}");
        }
        Ok(())
    });
    restoring(recovered, t.enable_computes(&[other, reserved])).await?;

    // rh_priority, in a second segment: the first one's hosts are released with it.
    api.call(Method::DELETE, &format!("/segments/{sid}"), None)
        .await?;
    let (sid, servers) = reserved_segment(&t, &api, "rh_priority", "rp", 2).await?;
    let rh = api.host(&sid, reserved).await?;
    let rh = rh["uuid"].as_str().unwrap_or_default();
    api.call(
        Method::PUT,
        &format!("/segments/{sid}/hosts/{rh}"),
        Some(json!({"host": {"on_maintenance": true}})),
    )
    .await?;
    t.with_failed_host(victim, &servers, || async {
        let nid = api.report_host_down(victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        t.assert_recovered(&servers, victim).await?;
        Ok(())
    })
    .await
}

/// A segment `lab-<method>` of the three computes, the third one reserved, and `n` servers
/// named `<prefix>-<i>` booted on the first; returns the segment's uuid and the servers.
async fn reserved_segment(
    t: &LabTest,
    api: &Api,
    method: &str,
    prefix: &str,
    n: usize,
) -> anyhow::Result<(String, Vec<ServerId>)> {
    let [victim, other, reserved] = [t.computes()[0], t.computes()[1], t.computes()[2]];
    let sid = api
        .segment(method, &[(victim, false), (other, false), (reserved, true)])
        .await?;
    let specs = (0..n)
        .map(|i| t.server_on(format!("{prefix}-{i}"), victim))
        .collect();
    Ok((sid, t.boot(specs).await?))
}

/// Tiered start: servers are evacuated into SHUTOFF and started by `HA_Priority` tier — the
/// lower tier's start reaches Nova only after the higher tier's servers have started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_start_starts_a_tier_after_the_one_before_is_active() -> anyhow::Result<()> {
    let tiered = ("VIGIL_ENGINE__HOST__START_IN_TIERS", "true");
    let Some(t) = LabTest::start_with(&[tiered]).await? else {
        return Ok(());
    };
    let victim = t.env.computes[1].clone();
    let (_vigil, api, _) = t.serve(&[]).await?;
    let tiers = [("gold", "10"), ("silver-a", "5"), ("silver-b", "5")];
    let specs = tiers
        .iter()
        .map(|(name, prio)| {
            t.server_on(*name, &victim)
                .meta("HA_Enabled", "True")
                .meta("HA_Priority", prio)
        })
        .collect();
    let servers = t.boot(specs).await?;

    t.with_failed_host(&victim, &servers, || async {
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let mut expected: Vec<&str> = HOST_STEPS.to_vec();
        expected.push("StartInstancesInTiersTask");
        assert_eq!(step_names(&view), expected);
        t.assert_recovered(&servers, &victim).await?;
        // When each server's start was asked, and when it finished, from Nova's records.
        let mut asked = Vec::new();
        let mut done = Vec::new();
        for s in &servers {
            let (a, d) = start_action(&t, s).await?;
            asked.push(a);
            done.push(d);
        }
        assert!(
            asked[1] >= done[0] && asked[2] >= done[0],
            "a silver server was started before gold had started: asked {asked:?}, done {done:?}"
        );
        Ok(())
    })
    .await
}

/// The `start` instance action of a server: when it was asked and when the compute finished it.
async fn start_action(t: &LabTest, id: &ServerId) -> anyhow::Result<(String, String)> {
    let actions = t.instance_actions(id).await?;
    let start = actions
        .iter()
        .find(|a| a["action"] == "start")
        .ok_or_else(|| anyhow::anyhow!("{id:?} was never started: {actions:?}"))?;
    let request = start["request_id"].as_str().unwrap_or_default();
    let detail = t
        .cloud
        .compute_get(&format!("/servers/{}/os-instance-actions/{request}", id.0))
        .await?;
    let finished = detail["instanceAction"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["finish_time"].as_str())
        .max()
        .unwrap_or_default()
        .to_owned();
    Ok((
        start["start_time"].as_str().unwrap_or_default().to_owned(),
        finished,
    ))
}

/// The safety gates stop a recovery before anything is fenced: in a segment of three failed
/// hosts (`lab/lab ghosts`), the first report is recovered, the second — two of three within
/// the window, which looks like a partition — is held back; with no nova-scheduler up, a
/// failure in another segment is held back too. Neither host is put in maintenance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_gates_hold_back_a_partition_and_a_nova_without_schedulers() -> anyhow::Result<()> {
    // A gate's refusal is final here, not retried.
    let Some(t) = LabTest::start_with(&[("VIGIL_ENGINE__MAX_ATTEMPTS", "1")]).await? else {
        return Ok(());
    };
    let ghosts = t.lab.ghosts(6).await?;
    let (_vigil, api) = t.vigil("serve", &[]);
    let hosts: Vec<(&str, bool)> = ghosts.iter().map(|h| (h.as_str(), false)).collect();
    let partitioned = api.segment("auto", &hosts[..3]).await?;
    let second = api
        .segment_named("lab-gates-scheduler", "auto", &hosts[3..])
        .await?;

    let one = api.report_host_down(&ghosts[0]).await?;
    let view = api.wait_ended_finally(&one, WITHIN).await?;
    assert_eq!(view["notification"]["status"], "finished", "{view}");
    let two = api.report_host_down(&ghosts[1]).await?;
    let view = api.wait_ended_finally(&two, WITHIN).await?;
    assert_eq!(view["notification"]["status"], "failed", "{view}");
    assert_eq!(step_names(&view), HOST_STEPS[..1], "{view}");
    assert!(
        view.to_string().contains("looks like a partition"),
        "{view}"
    );
    let host = api.host(&partitioned, &ghosts[1]).await?;
    assert_eq!(host["on_maintenance"], false, "{host}");

    t.lab.stop_service("nova-scheduler").await?;
    let held_back = async {
        wait_schedulers(&t.cloud, "down").await?;
        let three = api.report_host_down(&ghosts[3]).await?;
        let view = api.wait_ended_finally(&three, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "failed", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS[..1], "{view}");
        assert!(view.to_string().contains("no nova-scheduler up"), "{view}");
        let host = api.host(&second, &ghosts[3]).await?;
        assert_eq!(host["on_maintenance"], false, "{host}");
        Ok(())
    };
    restoring(held_back, async {
        t.lab.start_service("nova-scheduler").await?;
        // The next test's recovery needs it seen up.
        wait_schedulers(&t.cloud, "up").await
    })
    .await
}

/// Waits until Nova shows every nova-scheduler in `state` (`up` or `down`): Nova calls a
/// service down service_down_time (6 s in the lab) after its last report.
async fn wait_schedulers(cloud: &Cloud, state: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = cloud
            .compute_get("/os-services?binary=nova-scheduler")
            .await?;
        let services = s["services"].as_array().cloned().unwrap_or_default();
        if !services.is_empty() && services.iter().all(|s| s["state"] == state) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "schedulers not {state}: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
