//! Host-failure recovery end to end against the lab's real Nova: Vigil with the lab's
//! credentials, a segment of the fake computes, servers booted, one host's nova-compute killed,
//! a `COMPUTE_HOST`/`STOPPED` report posted — every server ends ACTIVE elsewhere with exactly
//! one evacuation, for each recovery method, with tiered start, and with engines killed at
//! every step of the flow.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it). The tests fail hosts of the one
//! shared lab, so they take turns (`LAB_HOSTS`) and each revives its host before it ends.

mod support;

use futures::FutureExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};
use support::{Engine, Vigil};
use vigil_lab::{Cloud, Lab, LabEnv, ServerCreate, ServerId};

const WITHIN: Duration = Duration::from_secs(180);
const HOST_STEPS: [&str; 5] = [
    "CheckHostStatusTask",
    "FenceHostTask",
    "DisableComputeServiceTask",
    "PrepareHAEnabledInstancesTask",
    "EvacuateInstancesTask",
];

static LAB_HOSTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `[openstack]` settings of the lab's admin, as environment overrides.
fn openstack_vars(env: &LabEnv) -> Vec<(&'static str, String)> {
    let c = &env.credentials;
    vec![
        ("VIGIL_OPENSTACK__AUTH_URL", c.auth_url.clone()),
        ("VIGIL_OPENSTACK__USERNAME", c.username.clone()),
        ("VIGIL_OPENSTACK__PASSWORD", c.password.clone()),
        ("VIGIL_OPENSTACK__PROJECT_NAME", c.project_name.clone()),
        ("VIGIL_OPENSTACK__REGION_NAME", c.region_name.clone()),
    ]
}

fn as_pairs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A small client of Vigil's API at microversion 1.3.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: String) -> Api {
        Api {
            http: reqwest::Client::new(),
            base,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}/v1{path}", self.base))
            .header("OpenStack-API-Version", "instance-ha 1.3");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{status}: {body}");
        Ok(body)
    }

    /// A segment `lab-<method>` of `hosts` (name, reserved); returns its uuid.
    async fn segment(&self, method: &str, hosts: &[(&str, bool)]) -> anyhow::Result<String> {
        self.segment_named(&format!("lab-{method}"), method, hosts)
            .await
    }

    /// A segment named `name` of `hosts` (name, reserved); returns its uuid.
    async fn segment_named(
        &self,
        name: &str,
        method: &str,
        hosts: &[(&str, bool)],
    ) -> anyhow::Result<String> {
        let seg = self
            .call(
                Method::POST,
                "/segments",
                Some(json!({"segment": {"name": name,
                    "recovery_method": method, "service_type": "COMPUTE"}})),
            )
            .await?;
        let sid = seg["segment"]["uuid"].as_str().unwrap().to_owned();
        for (name, reserved) in hosts {
            self.call(
                Method::POST,
                &format!("/segments/{sid}/hosts"),
                Some(json!({"host": {"name": name, "type": "COMPUTE",
                    "control_attributes": "SSH", "reserved": reserved}})),
            )
            .await?;
        }
        Ok(sid)
    }

    /// The host named `name` in segment `sid`, as the API shows it.
    async fn host(&self, sid: &str, name: &str) -> anyhow::Result<Value> {
        let hosts = self
            .call(Method::GET, &format!("/segments/{sid}/hosts"), None)
            .await?;
        hosts["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| h["name"] == name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no host {name} in segment {sid}: {hosts}"))
    }

    async fn report_host_down(&self, host: &str) -> anyhow::Result<String> {
        let payload = json!({"event": "STOPPED", "host_status": "NORMAL",
            "cluster_status": "OFFLINE"});
        report(self, "COMPUTE_HOST", host, payload).await
    }

    /// Waits for the notification to end; returns its final view.
    async fn wait_ended(&self, nid: &str, within: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let n = self
                .call(Method::GET, &format!("/notifications/{nid}"), None)
                .await?;
            let status = n["notification"]["status"].as_str().unwrap_or("");
            if ["finished", "error", "failed", "ignored"].contains(&status) {
                return Ok(n);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "notification still {status}: {n}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Api {
    /// Waits for `finished`, `failed` or `ignored`: an `error` is retried, so not an end here.
    async fn wait_ended_finally(&self, nid: &str, within: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let n = self
                .call(Method::GET, &format!("/notifications/{nid}"), None)
                .await?;
            let status = n["notification"]["status"].as_str().unwrap_or("");
            if ["finished", "failed", "ignored"].contains(&status) {
                return Ok(n);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "notification still {status}: {n}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `vigil serve` with the lab's credentials and `vars`, and a segment (`auto`) of every compute;
/// returns the process (killed when dropped), a client and the segment's uuid.
async fn serve(
    env: &LabEnv,
    dir: &std::path::Path,
    vars: &[(&'static str, String)],
    args: &[&str],
) -> anyhow::Result<(Vigil, Api, String)> {
    let vigil = Vigil::start_with_env("serve", &dir.join("data"), args, &as_pairs(vars));
    let api = Api::new(vigil.url());
    let hosts: Vec<(&str, bool)> = env.computes.iter().map(|h| (h.as_str(), false)).collect();
    let sid = api.segment("auto", &hosts).await?;
    Ok((vigil, api, sid))
}

fn step_names(view: &Value) -> Vec<String> {
    view["notification"]["recovery_workflow_details"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Boots `specs` and waits for each to be ACTIVE.
async fn boot(cloud: &Cloud, specs: Vec<ServerCreate>) -> anyhow::Result<Vec<ServerId>> {
    let mut ids = Vec::new();
    for spec in &specs {
        ids.push(cloud.server_create(spec).await?);
    }
    for id in &ids {
        cloud.wait_server_active(id, WITHIN).await?;
    }
    Ok(ids)
}

/// Nova's evacuation records of a server.
async fn evacuations(cloud: &Cloud, id: &ServerId) -> anyhow::Result<Vec<Value>> {
    let m = cloud
        .compute_get(&format!(
            "/os-migrations?instance_uuid={}&migration_type=evacuation",
            id.0
        ))
        .await?;
    Ok(m["migrations"].as_array().cloned().unwrap_or_default())
}

/// Every server ACTIVE away from `victim`, each evacuated exactly once.
async fn assert_recovered(cloud: &Cloud, servers: &[ServerId], victim: &str) -> anyhow::Result<()> {
    for s in servers {
        let got = cloud.server_get(s).await?.expect("server exists");
        assert_eq!(got.status, "ACTIVE", "{s:?}");
        assert_ne!(got.host.as_deref(), Some(victim), "{s:?} still on {victim}");
        let m = evacuations(cloud, s).await?;
        assert_eq!(m.len(), 1, "{s:?} evacuated {} times: {m:?}", m.len());
    }
    Ok(())
}

/// Runs `body` with `victim` failed, then puts the lab back as it was whatever happened:
/// `revive-host` restarts the compute and, once it has cleaned up (Nova refuses to un-force it
/// before), clears forced_down and enables it; the servers are deleted.
async fn with_failed_host<F, Fut>(
    lab: &Lab,
    cloud: &Cloud,
    victim: &str,
    servers: &[ServerId],
    body: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    lab.kill_host(victim).await?;
    // Assertions panic; catch that so the lab is restored before the test fails.
    let outcome = std::panic::AssertUnwindSafe(body()).catch_unwind().await;
    let revived = lab.revive_host(victim).await;
    for s in servers {
        cloud.server_delete(s).await?;
    }
    for s in servers {
        cloud.wait_server_gone(s, WITHIN).await?;
    }
    revived?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_failure_is_recovered_through_nova() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("host_failure_is_recovered_through_nova") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let dir = tempfile::tempdir()?;
    let vars = openstack_vars(&env);
    let (_vigil, api, sid) = serve(&env, dir.path(), &vars, &[]).await?;
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
    let specs = (0..4).map(|i| env.server(format!("ha-{i}"))).collect();
    let booted = boot(&cloud, specs).await?;
    let mut placed = Vec::new();
    for s in &booted {
        let server = cloud.server_get(s).await?.expect("booted");
        placed.push((s.clone(), server.host.unwrap_or_default()));
    }
    let victim = placed[0].1.clone();
    let servers: Vec<ServerId> = placed
        .iter()
        .filter(|(_, h)| *h == victim)
        .map(|(s, _)| s.clone())
        .collect();

    with_failed_host(lab, &cloud, &victim, &booted, || async {
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
        let vmoves = api
            .call(Method::GET, &format!("/notifications/{nid}/vmoves"), None)
            .await?;
        let vmoves = vmoves["vmoves"].as_array().unwrap();
        for s in &servers {
            assert!(
                vmoves.iter().any(|v| v["instance_uuid"] == s.0.as_str()),
                "no vmove for {s:?}"
            );
        }
        for v in vmoves {
            assert_eq!(v["status"], "succeeded", "{v}");
            assert_ne!(v["dest_host"], json!(victim));
        }
        assert_recovered(&cloud, &servers, &victim).await?;
        let svc = cloud.compute_service(&victim).await?;
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
    if !vigil_lab::enabled_or_skip("reserved_host_recovery_uses_the_reserved_host") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let [victim, other, reserved] = [&env.computes[0], &env.computes[1], &env.computes[2]];
    let dir = tempfile::tempdir()?;
    let vars = openstack_vars(&env);
    let vigil = Vigil::start_with_env("serve", &dir.path().join("data"), &[], &as_pairs(&vars));
    let api = Api::new(vigil.url());
    let sid = api
        .segment(
            "reserved_host",
            &[(victim, false), (other, false), (reserved, true)],
        )
        .await?;
    let specs = (0..3)
        .map(|i| env.server(format!("rh-{i}")).on_host(victim.as_str()))
        .collect();
    let servers = boot(&cloud, specs).await?;
    cloud.compute_service_set_enabled(reserved, false).await?;

    let result = with_failed_host(lab, &cloud, victim, &servers, || async {
        let nid = api.report_host_down(victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_recovered(&cloud, &servers, victim).await?;
        for s in &servers {
            let got = cloud.server_get(s).await?.expect("exists");
            assert_eq!(got.host.as_deref(), Some(reserved.as_str()), "{s:?}");
        }
        let svc = cloud.compute_service(reserved).await?;
        assert_eq!(svc.status, "enabled", "{svc:?}");
        let rh = api.host(&sid, reserved).await?;
        assert_eq!(rh["reserved"], false, "{rh}");
        Ok(())
    })
    .await;
    // Whatever happened, the reserved compute is a normal compute again for other tests.
    cloud.compute_service_set_enabled(reserved, true).await?;
    result
}

/// `auto_priority` and `rh_priority` fall back to the other strategy, and a fallback that moved
/// every instance ends `finished`. auto_priority: the only other usable host is the reserved
/// one, disabled in Nova as operators keep reserved hosts, so the scheduler finds no host and
/// the reserved host takes the servers. rh_priority: the reserved host is in maintenance, so
/// the scheduler places them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_methods_fall_back_to_the_other_strategy() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("priority_methods_fall_back_to_the_other_strategy") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let [victim, other, reserved] = [&env.computes[0], &env.computes[1], &env.computes[2]];
    let dir = tempfile::tempdir()?;
    let vars = openstack_vars(&env);
    let vigil = Vigil::start_with_env("serve", &dir.path().join("data"), &[], &as_pairs(&vars));
    let api = Api::new(vigil.url());

    // auto_priority.
    let sid = api
        .segment(
            "auto_priority",
            &[(victim, false), (other, false), (reserved, true)],
        )
        .await?;
    let specs = (0..2)
        .map(|i| env.server(format!("ap-{i}")).on_host(victim.as_str()))
        .collect();
    let servers = boot(&cloud, specs).await?;
    cloud.compute_service_set_enabled(other, false).await?;
    cloud.compute_service_set_enabled(reserved, false).await?;
    let result = with_failed_host(lab, &cloud, victim, &servers, || async {
        let nid = api.report_host_down(victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        for s in &servers {
            let got = cloud.server_get(s).await?.expect("exists");
            assert_eq!(got.status, "ACTIVE", "{s:?}");
            assert_eq!(got.host.as_deref(), Some(reserved.as_str()), "{s:?}");
            // The scheduler's refusals first (auto), then one evacuation to the reserved host.
            let all = evacuations(&cloud, s).await?;
            let count = |status: &str| all.iter().filter(|m| m["status"] == status).count();
            assert_eq!(count("done"), 1, "{s:?}: {all:?}");
            assert!(count("error") >= 1, "auto was not tried first: {all:?}");
        }
        assert_eq!(cloud.compute_service(reserved).await?.status, "enabled");
        let vmoves = api
            .call(Method::GET, &format!("/notifications/{nid}/vmoves"), None)
            .await?;
        for v in vmoves["vmoves"].as_array().unwrap() {
            assert_eq!(v["status"], "succeeded", "{v}");
            assert_eq!(v["dest_host"], reserved.as_str(), "{v}");
        }
        Ok(())
    })
    .await;
    cloud.compute_service_set_enabled(other, true).await?;
    cloud.compute_service_set_enabled(reserved, true).await?;
    result?;

    // rh_priority, in a second segment: the first one's hosts are released with it.
    api.call(Method::DELETE, &format!("/segments/{sid}"), None)
        .await?;
    let sid = api
        .segment(
            "rh_priority",
            &[(victim, false), (other, false), (reserved, true)],
        )
        .await?;
    let rh = api.host(&sid, reserved).await?;
    let rh = rh["uuid"].as_str().unwrap_or_default();
    api.call(
        Method::PUT,
        &format!("/segments/{sid}/hosts/{rh}"),
        Some(json!({"host": {"on_maintenance": true}})),
    )
    .await?;
    let specs = (0..2)
        .map(|i| env.server(format!("rp-{i}")).on_host(victim.as_str()))
        .collect();
    let servers = boot(&cloud, specs).await?;
    with_failed_host(lab, &cloud, victim, &servers, || async {
        let nid = api.report_host_down(victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_recovered(&cloud, &servers, victim).await?;
        Ok(())
    })
    .await
}

/// Tiered start: servers are evacuated into SHUTOFF and started by `HA_Priority` tier — the
/// lower tier's start reaches Nova only after the higher tier's servers have started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_start_starts_a_tier_after_the_one_before_is_active() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("tiered_start_starts_a_tier_after_the_one_before_is_active") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let victim = env.computes[1].clone();
    let dir = tempfile::tempdir()?;
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_ENGINE__HOST__START_IN_TIERS", "true".into()));
    let (_vigil, api, _) = serve(&env, dir.path(), &vars, &[]).await?;
    let tiers = [("gold", "10"), ("silver-a", "5"), ("silver-b", "5")];
    let specs = tiers
        .iter()
        .map(|(name, prio)| {
            env.server(*name)
                .on_host(victim.as_str())
                .meta("HA_Enabled", "True")
                .meta("HA_Priority", prio)
        })
        .collect();
    let servers = boot(&cloud, specs).await?;

    with_failed_host(lab, &cloud, &victim, &servers, || async {
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let mut expected: Vec<&str> = HOST_STEPS.to_vec();
        expected.push("StartInstancesInTiersTask");
        assert_eq!(step_names(&view), expected);
        assert_recovered(&cloud, &servers, &victim).await?;
        // When each server's start was asked, and when it finished, from Nova's records.
        let mut asked = Vec::new();
        let mut done = Vec::new();
        for s in &servers {
            let (a, d) = start_action(&cloud, s).await?;
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
async fn start_action(cloud: &Cloud, id: &ServerId) -> anyhow::Result<(String, String)> {
    let actions = cloud
        .compute_get(&format!("/servers/{}/os-instance-actions", id.0))
        .await?;
    let start = actions["instanceActions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["action"] == "start")
        .ok_or_else(|| anyhow::anyhow!("{id:?} was never started: {actions}"))?;
    let request = start["request_id"].as_str().unwrap_or_default();
    let detail = cloud
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

/// Crash safety: two `vigil engine` processes share one PostgreSQL database with a separate
/// `vigil api`. At each step of the flow in turn, whichever engine holds the notification dies
/// at the worst moment — the step's effect done, its completion not yet recorded — by
/// aborting, like kill -9 (`VIGIL_CRASH_FILE`); it is restarted, so two engines always run.
/// The other engine takes the flow over when the lease expires and runs the step again: the
/// notification still ends `finished`, and every server was evacuated exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_killed_at_every_step_is_taken_over() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("an_engine_killed_at_every_step_is_taken_over") {
        return Ok(());
    }
    let Some(db) = vigil_store::testing::server(vigil_store::Backend::Postgres).await else {
        return Ok(());
    };
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let victim = env.computes[2].clone();
    let dir = tempfile::tempdir()?;
    let crash_file = dir.path().join("crash-at");
    let crash_file_str = crash_file.to_string_lossy().into_owned();
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_DATABASE__URL", db.url.clone()));
    vars.push(("VIGIL_ENGINE__LEASE_SECS", "3".into()));
    vars.push(("VIGIL_ENGINE__POLL_INTERVAL_MS", "200".into()));
    vars.push(("VIGIL_CRASH_FILE", crash_file_str));
    let vars = as_pairs(&vars);
    let api_proc = Vigil::start_with_env("api", &dir.path().join("api"), &[], &vars);
    let api = Api::new(api_proc.url());
    let hosts: Vec<(&str, bool)> = env.computes.iter().map(|h| (h.as_str(), false)).collect();
    api.segment("auto", &hosts).await?;
    let specs = (0..4)
        .map(|i| env.server(format!("crash-{i}")).on_host(victim.as_str()))
        .collect();
    let servers = boot(&cloud, specs).await?;
    let engine_dir = dir.path().join("engine");
    let mut engines = [
        Engine::start(&engine_dir, &vars),
        Engine::start(&engine_dir, &vars),
    ];

    with_failed_host(lab, &cloud, &victim, &servers, || async {
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
            engines[slot] = Engine::start(&engine_dir, &vars);
        }
        let view = api.wait_ended(&nid, WITHIN).await?;
        eprintln!("engines crashed at {crashed:?}");
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS);
        assert_recovered(&cloud, &servers, &victim).await?;
        Ok(())
    })
    .await
}

/// Posts a report of any type for `host`; returns the notification uuid.
async fn report(api: &Api, kind: &str, host: &str, payload: Value) -> anyhow::Result<String> {
    let posted = api
        .call(
            Method::POST,
            "/notifications",
            Some(json!({"notification": {"type": kind, "hostname": host,
                "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "payload": payload}})),
        )
        .await?;
    Ok(posted["notification"]["notification_uuid"]
        .as_str()
        .unwrap()
        .to_owned())
}

/// Instance failure: an HA-enabled server put in error behind the engine's back is restarted
/// where it is; with its restart budget (1) spent, the next failure relocates it with a cold
/// migration. A server without the HA key is left alone, and other event pairs are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_failure_restarts_then_relocates() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("instance_failure_restarts_then_relocates") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let home = env.computes[0].clone();
    let dir = tempfile::tempdir()?;
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_ENGINE__INSTANCE__RESTART_BUDGET", "1".into()));
    // Two failures of one server within seconds are two reports, not a duplicate.
    vars.push((
        "VIGIL_API__DUPLICATE_NOTIFICATION_DETECTION_INTERVAL",
        "0".into(),
    ));
    let (_vigil, api, _) = serve(&env, dir.path(), &vars, &[]).await?;
    let servers = boot(
        &cloud,
        vec![
            env.server("vm-ha")
                .on_host(home.as_str())
                .meta("HA_Enabled", "True"),
            env.server("vm-plain").on_host(home.as_str()),
        ],
    )
    .await?;
    let (ha, plain) = (&servers[0], &servers[1]);
    let failed = |id: &ServerId| json!({"instance_uuid": id.0, "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"});
    let outcome = std::panic::AssertUnwindSafe(async {
        // First failure: restarted in place.
        cloud
            .server_reset_state(ha, "error")
            .await?;
        let nid = report(&api, "VM", &home, failed(ha)).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let got = cloud.server_get(ha).await?.expect("exists");
        assert_eq!(got.status, "ACTIVE");
        assert_eq!(got.host.as_deref(), Some(home.as_str()), "restarted in place");

        // Second failure, budget spent: relocated.
        tokio::time::sleep(Duration::from_secs(1)).await;
        cloud
            .server_reset_state(ha, "error")
            .await?;
        let nid = report(&api, "VM", &home, failed(ha)).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let got = cloud.server_get(ha).await?.expect("exists");
        assert_eq!(got.status, "ACTIVE");
        assert_ne!(got.host.as_deref(), Some(home.as_str()), "relocated");
        // As in Masakari, vmoves belong to host failures; Nova's record shows the cold migration.
        let actions = cloud
            .compute_get(&format!("/servers/{}/os-instance-actions", ha.0))
            .await?;
        let migrated = actions["instanceActions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["action"] == "migrate")
            .count();
        assert_eq!(migrated, 1, "{actions}");

        // Not HA-enabled: finished, nothing done to it.
        let nid = report(&api, "VM", &home, failed(plain)).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let actions = cloud
            .compute_get(&format!("/servers/{}/os-instance-actions", plain.0))
            .await?;
        assert_eq!(
            actions["instanceActions"].as_array().map(Vec::len),
            Some(1),
            "only its create: {actions}"
        );
        // An event pair Vigil does not act on.
        let nid = report(
            &api,
            "VM",
            &home,
            json!({"instance_uuid": ha.0, "vir_domain_event": "STARTED_BOOTED", "event": "LIFECYCLE"}),
        )
        .await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "ignored", "{view}");
        anyhow::Ok(())
    })
    .catch_unwind()
    .await;
    for s in &servers {
        cloud.server_delete(s).await?;
    }
    for s in &servers {
        cloud.wait_server_gone(s, WITHIN).await?;
    }
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Process failure: nova-compute stopped → the compute service is disabled with the reason and
/// the host is in maintenance; a non-critical process → finished, host left in service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_failure_disables_only_for_critical_processes() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("process_failure_disables_only_for_critical_processes") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let (critical, other) = (env.computes[1].clone(), env.computes[2].clone());
    let dir = tempfile::tempdir()?;
    let vars = openstack_vars(&env);
    let (_vigil, api, sid) = serve(&env, dir.path(), &vars, &[]).await?;
    let outcome = std::panic::AssertUnwindSafe(async {
        let a = report(
            &api,
            "PROCESS",
            &critical,
            json!({"process_name": "nova-compute", "event": "STOPPED"}),
        )
        .await?;
        let b = report(
            &api,
            "PROCESS",
            &other,
            json!({"process_name": "sshd", "event": "STOPPED"}),
        )
        .await?;
        for nid in [&a, &b] {
            let view = api.wait_ended(nid, WITHIN).await?;
            assert_eq!(view["notification"]["status"], "finished", "{view}");
        }
        let hosts = api
            .call(Method::GET, &format!("/segments/{sid}/hosts"), None)
            .await?;
        let maintenance = |name: &str| {
            hosts["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["name"] == name)
                .map(|h| h["on_maintenance"].clone())
        };
        assert_eq!(maintenance(&critical), Some(json!(true)));
        assert_eq!(maintenance(&other), Some(json!(false)));
        let svc = cloud.compute_service(&critical).await?;
        assert_eq!(svc.status, "disabled", "{svc:?}");
        assert!(
            !svc.forced_down,
            "a process failure does not force the host down"
        );
        let services = cloud
            .compute_get(&format!("/os-services?binary=nova-compute&host={critical}"))
            .await?;
        assert_eq!(
            services["services"][0]["disabled_reason"], "Vigil detected process failed.",
            "{services}"
        );
        assert_eq!(cloud.compute_service(&other).await?.status, "enabled");
        anyhow::Ok(())
    })
    .catch_unwind()
    .await;
    cloud.compute_service_set_enabled(&critical, true).await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Rejoin: a failed host is recovered, its nova-compute comes back (still forced down), and
/// its `STARTED` report — accepted although the host is in maintenance — takes it back into
/// service once Nova's evacuation records are `completed`; a second failure of the rejoined
/// host is recovered like the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_host_rejoins_and_can_fail_again() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("a_recovered_host_rejoins_and_can_fail_again") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let victim = env.computes[0].clone();
    let dir = tempfile::tempdir()?;
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_ENGINE__REJOIN__AUTO_UNFENCE", "true".into()));
    vars.push(("VIGIL_ENGINE__REJOIN__GRACE_SECS", "2".into()));
    // The second failure repeats the first report's payload within the default window.
    vars.push((
        "VIGIL_API__DUPLICATE_NOTIFICATION_DETECTION_INTERVAL",
        "0".into(),
    ));
    let (_vigil, api, sid) = serve(&env, dir.path(), &vars, &[]).await?;
    let first = boot(
        &cloud,
        vec![env.server("rejoin-1").on_host(victim.as_str())],
    )
    .await?;
    let second = std::cell::RefCell::new(Vec::new());
    let result = with_failed_host(lab, &cloud, &victim, &first, || async {
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        lab.restart_host_fenced(&victim).await?;
        let back = report(
            &api,
            "COMPUTE_HOST",
            &victim,
            json!({"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}),
        )
        .await?;
        let view = api.wait_ended(&back, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let svc = cloud
            .wait_compute_state(&victim, vigil_lab::ServiceState::Up, WITHIN)
            .await?;
        assert!(
            !svc.forced_down && svc.status == "enabled",
            "taken back: {svc:?}"
        );
        for m in evacuations(&cloud, &first[0]).await? {
            assert_eq!(m["status"], "completed", "cleaned up before rejoin: {m}");
        }
        let hosts = api
            .call(Method::GET, &format!("/segments/{sid}/hosts"), None)
            .await?;
        let host = hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == victim.as_str())
            .cloned()
            .unwrap();
        assert_eq!(host["on_maintenance"], false, "{host}");

        // The rejoined host fails again, with a server on it: recovered like the first time.
        let again = boot(
            &cloud,
            vec![env.server("rejoin-2").on_host(victim.as_str())],
        )
        .await?;
        second.borrow_mut().extend(again.clone());
        lab.kill_host(&victim).await?;
        let nid = api.report_host_down(&victim).await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_recovered(&cloud, &again, &victim).await?;
        Ok(())
    })
    .await;
    // with_failed_host revived the host and deleted the first server; the second too.
    let again = second.borrow().clone();
    for s in &again {
        cloud.server_delete(s).await?;
        cloud.wait_server_gone(s, WITHIN).await?;
    }
    result
}

/// Two engines on one PostgreSQL database, 20 host failures posted at once (hosts Nova knows
/// and sees down: `lab/lab ghosts`): every report ends `finished` and every step of every flow
/// ran exactly once — no notification was processed twice, by one engine or by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_twenty_host_failures() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("two_engines_share_twenty_host_failures") {
        return Ok(());
    }
    let Some(db) = vigil_store::testing::server(vigil_store::Backend::Postgres).await else {
        return Ok(());
    };
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let ghosts = lab.ghosts(20).await?;
    let env = lab.env().clone();
    let dir = tempfile::tempdir()?;
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_DATABASE__URL", db.url.clone()));
    // Every host of the segment fails: the partition gate and the cap would hold them back.
    vars.push(("VIGIL_ENGINE__HOST__MASS_FAILURE_SHARE", "1.0".into()));
    vars.push(("VIGIL_ENGINE__SEGMENT_RECOVERY_CAP", "0".into()));
    let vars = as_pairs(&vars);
    let api_proc = Vigil::start_with_env("api", &dir.path().join("api"), &[], &vars);
    let api = Api::new(api_proc.url());
    let hosts: Vec<(&str, bool)> = ghosts.iter().map(|h| (h.as_str(), false)).collect();
    api.segment("auto", &hosts).await?;
    let engine_dir = dir.path().join("engine");
    let _engines = [
        Engine::start(&engine_dir, &vars),
        Engine::start(&engine_dir, &vars),
    ];
    let posted =
        futures::future::try_join_all(ghosts.iter().map(|h| api.report_host_down(h))).await?;
    for nid in &posted {
        let view = api.wait_ended(nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let id: vigil_domain::NotificationId = nid.parse()?;
        let log = db.store.flow_log_load(id).await?;
        let names: Vec<&str> = log.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            HOST_STEPS[..4],
            "{nid}: no servers, so it ends after choosing"
        );
        for step in &log {
            // One "started" and one "completed" entry: the step ran once.
            assert_eq!(
                step.progress_details.len(),
                2,
                "{nid} {}: {step:?}",
                step.name
            );
        }
    }
    for h in &ghosts {
        let svc = cloud.compute_service(h).await?;
        assert!(svc.forced_down && svc.status == "disabled", "{svc:?}");
    }
    Ok(())
}

/// Operator-defined flows: a `pre` exec step and a `post` webhook step (to a listener this
/// test runs) run in that order around the process-failure flow, each given the context; a
/// failing exec step fails its flow with the command's message in the workflow details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_steps_run_in_order_and_fail_the_flow() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("operator_steps_run_in_order_and_fail_the_flow") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let host = env.computes[1].clone();
    let dir = tempfile::tempdir()?;

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

    let exec_out = dir.path().join("exec.json");
    let config = dir.path().join("vigil.toml");
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
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_ENGINE__RETRY_BACKOFF_SECS", "1".into()));
    vars.push(("VIGIL_ENGINE__MAX_ATTEMPTS", "2".into()));
    let config_arg = config.to_string_lossy().into_owned();
    let (_vigil, api, _) = serve(&env, dir.path(), &vars, &["--config", &config_arg]).await?;

    let outcome = std::panic::AssertUnwindSafe(async {
        let nid = report(
            &api,
            "PROCESS",
            &host,
            json!({"process_name": "nova-compute", "event": "STOPPED"}),
        )
        .await?;
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
        let nid = report(
            &api,
            "VM",
            &env.computes[0],
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
        anyhow::Ok(())
    })
    .catch_unwind()
    .await;
    cloud.compute_service_set_enabled(&host, true).await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Retries: with Nova's API stopped, a process failure's flow fails, is retried with backoff
/// while the notification shows `error`, and ends `finished` once Nova is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_failing_while_nova_is_away_is_retried() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("a_flow_failing_while_nova_is_away_is_retried") {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let host = env.computes[2].clone();
    let dir = tempfile::tempdir()?;
    let mut vars = openstack_vars(&env);
    vars.push(("VIGIL_ENGINE__RETRY_BACKOFF_SECS", "1".into()));
    vars.push(("VIGIL_ENGINE__MAX_ATTEMPTS", "20".into()));
    let (_vigil, api, _) = serve(&env, dir.path(), &vars, &[]).await?;

    lab.stop_service("nova-api").await?;
    let outcome = std::panic::AssertUnwindSafe(async {
        let nid = report(
            &api,
            "PROCESS",
            &host,
            json!({"process_name": "nova-compute", "event": "STOPPED"}),
        )
        .await?;
        let deadline = Instant::now() + WITHIN;
        loop {
            let n = api
                .call(Method::GET, &format!("/notifications/{nid}"), None)
                .await?;
            if n["notification"]["status"] == "error" {
                break;
            }
            assert_ne!(n["notification"]["status"], "finished", "{n}");
            anyhow::ensure!(Instant::now() < deadline, "never in error: {n}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        lab.start_service("nova-api").await?;
        let view = api.wait_ended_finally(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        assert_eq!(cloud.compute_service(&host).await?.status, "disabled");
        anyhow::Ok(())
    })
    .catch_unwind()
    .await;
    lab.start_service("nova-api").await?;
    cloud.compute_service_set_enabled(&host, true).await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The safety gates stop a recovery before anything is fenced: in a segment of three failed
/// hosts (`lab/lab ghosts`), the first report is recovered, the second — two of three within
/// the window, which looks like a partition — is held back; with no nova-scheduler up, a
/// failure in another segment is held back too. Neither host is put in maintenance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_gates_hold_back_a_partition_and_a_nova_without_schedulers() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip(
        "safety_gates_hold_back_a_partition_and_a_nova_without_schedulers",
    ) {
        return Ok(());
    }
    let _turn = LAB_HOSTS.lock().await;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let ghosts = lab.ghosts(6).await?;
    let env = lab.env().clone();
    let dir = tempfile::tempdir()?;
    let mut vars = openstack_vars(&env);
    // A gate's refusal is final here, not retried.
    vars.push(("VIGIL_ENGINE__MAX_ATTEMPTS", "1".into()));
    let vigil = Vigil::start_with_env("serve", &dir.path().join("data"), &[], &as_pairs(&vars));
    let api = Api::new(vigil.url());
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

    lab.stop_service("nova-scheduler").await?;
    let outcome = std::panic::AssertUnwindSafe(async {
        wait_schedulers(&cloud, "down").await?;
        let three = api.report_host_down(&ghosts[3]).await?;
        let view = api.wait_ended_finally(&three, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "failed", "{view}");
        assert_eq!(step_names(&view), HOST_STEPS[..1], "{view}");
        assert!(view.to_string().contains("no nova-scheduler up"), "{view}");
        let host = api.host(&second, &ghosts[3]).await?;
        assert_eq!(host["on_maintenance"], false, "{host}");
        anyhow::Ok(())
    })
    .catch_unwind()
    .await;
    lab.start_service("nova-scheduler").await?;
    // The next test's recovery needs it seen up.
    wait_schedulers(&cloud, "up").await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
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
