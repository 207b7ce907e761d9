//! Host-failure recovery end to end against the lab's real Nova: `vigil serve` with the lab's
//! credentials, a segment of the fake computes, servers booted, one host's nova-compute
//! killed, a `COMPUTE_HOST`/`STOPPED` report posted — every server ends ACTIVE elsewhere, with
//! exactly one evacuation each, and the notification `finished` with its vmoves `succeeded`.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it).

mod support;

use futures::FutureExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::Vigil;
use vigil_lab::{Lab, ServerCreate, ServerId};

const WITHIN: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_failure_is_recovered_through_nova() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("host_failure_is_recovered_through_nova") {
        return Ok(());
    }
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let creds = &env.credentials;
    let dir = tempfile::tempdir()?;
    let vars = [
        ("VIGIL_OPENSTACK__AUTH_URL", creds.auth_url.as_str()),
        ("VIGIL_OPENSTACK__USERNAME", creds.username.as_str()),
        ("VIGIL_OPENSTACK__PASSWORD", creds.password.as_str()),
        ("VIGIL_OPENSTACK__PROJECT_NAME", creds.project_name.as_str()),
        ("VIGIL_OPENSTACK__REGION_NAME", creds.region_name.as_str()),
    ];
    let vigil = Vigil::start_with_env("serve", &dir.path().join("data"), &[], &vars);
    let http = reqwest::Client::new();
    let api = |method: Method, path: &str, body: Option<Value>| {
        let req = http
            .request(method, format!("{}/v1{path}", vigil.url()))
            .header("OpenStack-API-Version", "instance-ha 1.3");
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move {
            let resp = req.send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            anyhow::ensure!(status.is_success(), "{status}: {body}");
            anyhow::Ok(body)
        }
    };

    let seg = api(
        Method::POST,
        "/segments",
        Some(json!({"segment": {"name": "lab", "recovery_method": "auto", "service_type": "COMPUTE"}})),
    )
    .await?;
    let sid = seg["segment"]["uuid"].as_str().unwrap().to_owned();
    for host in &env.computes {
        api(
            Method::POST,
            &format!("/segments/{sid}/hosts"),
            Some(json!({"host": {"name": host, "type": "COMPUTE", "control_attributes": "SSH"}})),
        )
        .await?;
    }
    // The API checks names against Nova: a host Nova does not know is refused.
    let refused = api(
        Method::POST,
        &format!("/segments/{sid}/hosts"),
        Some(json!({"host": {"name": "no-such-compute", "type": "C", "control_attributes": "x"}})),
    )
    .await;
    assert!(refused.is_err_and(|e| e.to_string().contains("Compute service with name")));

    // Booted where the scheduler likes; the host of the first one fails, with whatever of
    // ours landed there (and anything else the shared lab has on it).
    let mut booted: Vec<ServerId> = Vec::new();
    for i in 0..4 {
        booted.push(
            cloud
                .server_create(&ServerCreate::new(&env, format!("ha-{i}")))
                .await?,
        );
    }
    let mut placed = Vec::new();
    for s in &booted {
        let server = cloud.wait_server_active(s, WITHIN).await?;
        placed.push((s.clone(), server.host.clone().unwrap_or_default()));
    }
    let victim = placed[0].1.clone();
    let servers: Vec<ServerId> = placed
        .iter()
        .filter(|(_, h)| *h == victim)
        .map(|(s, _)| s.clone())
        .collect();

    lab.kill_host(&victim).await?;
    let t0 = Instant::now();
    let posted = api(
        Method::POST,
        "/notifications",
        Some(json!({"notification": {"type": "COMPUTE_HOST", "hostname": victim,
            "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}})),
    )
    .await?;
    let nid = posted["notification"]["notification_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // Assertions panic; catch that so the lab is put back as it was before the test fails.
    let outcome = std::panic::AssertUnwindSafe(async {
        let deadline = Instant::now() + WITHIN;
        let final_view = loop {
            let n = api(Method::GET, &format!("/notifications/{nid}"), None).await?;
            let status = n["notification"]["status"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if ["finished", "error", "failed", "ignored"].contains(&status.as_str()) {
                break n;
            }
            anyhow::ensure!(Instant::now() < deadline, "notification still {status}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        eprintln!(
            "notification ended {} after {:.1?}: {}",
            final_view["notification"]["status"],
            t0.elapsed(),
            final_view["notification"]["recovery_workflow_details"]
        );
        assert_eq!(
            final_view["notification"]["status"], "finished",
            "{final_view}"
        );
        let steps: Vec<&str> = final_view["notification"]["recovery_workflow_details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "CheckHostStatusTask",
                "FenceHostTask",
                "DisableComputeServiceTask",
                "PrepareHAEnabledInstancesTask",
                "EvacuateInstancesTask"
            ]
        );
        let vmoves = api(Method::GET, &format!("/notifications/{nid}/vmoves"), None).await?;
        let vmoves = vmoves["vmoves"].as_array().unwrap();
        // The shared lab may hold other servers on the host; every server there is moved.
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
        for s in &servers {
            let got = cloud.server_get(s).await?.expect("server exists");
            assert_eq!(got.status, "ACTIVE", "{s:?}");
            assert_ne!(got.host.as_deref(), Some(victim.as_str()));
        }
        let svc = cloud.compute_service(&victim).await?;
        assert!(svc.forced_down && svc.status == "disabled", "{svc:?}");
        // Exactly one evacuation per server.
        let nova = nova_session(&env)?;
        for s in &servers {
            let m = nova
                .request(
                    "compute",
                    Method::GET,
                    &format!(
                        "/os-migrations?instance_uuid={}&migration_type=evacuation",
                        s.0
                    ),
                    Some(("X-OpenStack-Nova-API-Version", "2.59")),
                    None,
                )
                .await?;
            assert_eq!(m["migrations"].as_array().unwrap().len(), 1, "{s:?}: {m}");
        }
        anyhow::Ok(())
    })
    .catch_unwind()
    .await;

    // Leave the lab as it was: `revive-host` restarts the compute and, once it has cleaned up
    // (Nova refuses to un-force it before), clears forced_down and enables it again.
    let revived = lab.revive_host(&victim).await;
    for s in &booted {
        cloud.server_delete(s).await?;
    }
    for s in &booted {
        cloud.wait_server_gone(s, WITHIN).await?;
    }
    drop(vigil);
    revived?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn nova_session(env: &vigil_lab::LabEnv) -> anyhow::Result<vigil_openstack::Session> {
    let c = &env.credentials;
    Ok(vigil_openstack::Session::new(
        vigil_openstack::Credentials {
            auth_url: c.auth_url.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            project_name: c.project_name.clone(),
            user_domain_name: c.user_domain_name.clone(),
            project_domain_name: c.project_domain_name.clone(),
            region_name: c.region_name.clone(),
            ..vigil_openstack::Credentials::default()
        },
    )?)
}
