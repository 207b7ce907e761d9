//! `vigil alerter` on a real Pacemaker cluster's failed-host queue (`lab/cluster up 1`), with
//! its https driver against an endpoint of the test's own:
//! - an endpoint that refuses is sent the same report (its id too) until it accepts; the host
//!   is then marked delivered and never sent again;
//! - an alerter killed (SIGKILL) while its delivery is in flight leaves its claim; an alerter
//!   on another node leaves that claim alone while it is fresh, and the killed one, restarted
//!   on its node as Pacemaker would, takes it back and delivers the host.
//!
//! And with its vigil driver against the real Masakari 22 of the lab (`lab/lab masakari up`):
//! a queued host whose nova-compute died is reported, and Masakari evacuates its server.
//!
//! Needs VIGIL_LAB=1 (the cluster is the lab's: the test takes the lab's turn) and corosync and
//! pacemaker (.ci/run installs them); otherwise it says loudly that it did not run.

mod support;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::cluster::{agent_dir, cluster, pacemaker_installed, queue_set, queue_value, Alerter};
use support::lab::{restoring, LabTest, WITHIN};
use vigil_lab::ServiceState;

/// How the endpoint answers.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// 503, this many more times, then 202.
    Refuse(u32),
    /// Never: the request hangs until the alerter goes away.
    Hold,
    Accept,
}

#[derive(Clone, Default)]
struct Endpoint {
    received: Arc<Mutex<Vec<Value>>>,
    mode: Arc<Mutex<Option<Mode>>>,
}

impl Endpoint {
    /// Serves on a free loopback port; returns its URL.
    async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/host-failure", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/host-failure", axum::routing::post(answer))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = Some(mode);
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    fn for_host(&self, host: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r["payload"]["hostname"] == host)
            .collect()
    }
}

async fn answer(State(e): State<Endpoint>, Json(report): Json<Value>) -> StatusCode {
    e.received.lock().unwrap().push(report);
    let mode = {
        let mut mode = e.mode.lock().unwrap();
        let now = mode.unwrap_or(Mode::Accept);
        if let Mode::Refuse(n) = now {
            *mode = Some(if n > 1 {
                Mode::Refuse(n - 1)
            } else {
                Mode::Accept
            });
        }
        now
    };
    match mode {
        Mode::Refuse(_) => StatusCode::SERVICE_UNAVAILABLE,
        Mode::Hold => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::ACCEPTED
        }
        Mode::Accept => StatusCode::ACCEPTED,
    }
}

/// Polls `check` every 100 ms until it holds, for at most `within`.
async fn wait_for(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let began = Instant::now();
    while !check()? {
        anyhow::ensure!(began.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_https_driver_delivers_each_queued_host_through_refusals_and_a_crash(
) -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip(&vigil_lab::test_name()) || !pacemaker_installed()? {
        return Ok(());
    }
    let _turn = vigil_lab::Lab::turn().await?;
    let dir = tempfile::tempdir()?;
    let _ = cluster(&["down"]);
    cluster(&["up", "1"])?;
    let restore = async {
        cluster(&["down"])?;
        Ok(())
    };
    restoring(deliveries(dir.path()), restore).await
}

async fn deliveries(dir: &Path) -> anyhow::Result<()> {
    let bin = agent_dir(dir, &cluster(&["pid", "1"])?)?;
    let endpoint = Endpoint::default();
    let url = endpoint.start().await?;
    let https = |owner: &str| {
        Alerter::start(
            &bin,
            &["--driver", "https", "--endpoint", &url, "--owner", owner],
        )
    };
    let within = Duration::from_secs(60);

    // Refused twice, then accepted: three sends of one report, then delivered for good.
    endpoint.set(Mode::Refuse(2));
    queue_set(&bin, "compute-a", "yes")?;
    let alerter = https("ctl1")?;
    wait_for("compute-a delivered", within, || {
        Ok(queue_value(&bin, "compute-a")? == "no")
    })
    .await?;
    let sent = endpoint.for_host("compute-a");
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert!(sent.iter().all(|r| *r == sent[0]), "{sent:#?}");
    assert_eq!(sent[0]["event_type"], "host failure");
    assert_eq!(sent[0]["version"], "1.0");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(endpoint.for_host("compute-a").len(), 3, "sent again");
    drop(alerter);

    // Killed mid-delivery: the claim stays, the other node's alerter leaves it alone while it
    // is fresh, and the alerter restarted on its node takes it back and delivers.
    endpoint.set(Mode::Hold);
    queue_set(&bin, "compute-b", "yes")?;
    let alerter = https("ctl1")?;
    wait_for("compute-b sent", within, || {
        Ok(!endpoint.for_host("compute-b").is_empty())
    })
    .await?;
    drop(alerter);
    let claim = queue_value(&bin, "compute-b")?;
    assert!(claim.starts_with("ctl1@"), "{claim}");
    endpoint.set(Mode::Accept);
    let other = https("ctl2")?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        queue_value(&bin, "compute-b")?,
        claim,
        "a fresh claim was taken"
    );
    assert_eq!(endpoint.for_host("compute-b").len(), 1);
    drop(other);
    let _restarted = https("ctl1")?;
    wait_for("compute-b delivered", within, || {
        Ok(queue_value(&bin, "compute-b")? == "no")
    })
    .await?;
    // At least once: the restarted alerter does not know the id the killed one sent.
    let sent = endpoint.for_host("compute-b");
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(
        endpoint.for_host("compute-a").len(),
        3,
        "compute-a sent again"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vigil_driver_hands_a_queued_host_to_the_real_masakari() -> anyhow::Result<()> {
    let Some(t) = LabTest::start().await? else {
        return Ok(());
    };
    if !pacemaker_installed()? {
        return Ok(());
    }
    let host = t.computes().last().unwrap().to_string();
    let _ = cluster(&["down"]);
    cluster(&["up", "1"])?;
    t.lab.masakari(&["up", "--fast"]).await?;
    let restore = async {
        let masakari = t.lab.masakari(&["down"]).await;
        let revived = t.lab.revive_host(&host).await;
        cluster(&["down"])?;
        masakari?;
        revived?;
        // Masakari disabled the host's compute service.
        t.enable_computes(&[&host]).await
    };
    restoring(to_masakari(&t, &host), restore).await
}

async fn to_masakari(t: &LabTest, host: &str) -> anyhow::Result<()> {
    let base = t.env.masakari_url.trim_end_matches('/').to_owned();
    let token = t.cloud.token().await?;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = http
            .request(method.clone(), format!("{base}{path}"))
            .header("X-Auth-Token", &token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            anyhow::ensure!(status.is_success(), "{method} {path}: {status} {text}");
            Ok::<Value, anyhow::Error>(serde_json::from_str(&text).unwrap_or(Value::Null))
        }
    };
    let segment = serde_json::json!({"segment": {"name": "alerter-masakari",
        "recovery_method": "auto", "service_type": "COMPUTE"}});
    let segment = call(reqwest::Method::POST, "/segments".into(), Some(segment)).await?;
    let sid = segment["segment"]["uuid"].as_str().unwrap().to_owned();
    for h in t.computes() {
        let body = serde_json::json!({"host": {"name": h, "type": "COMPUTE",
            "control_attributes": "SSH"}});
        call(
            reqwest::Method::POST,
            format!("/segments/{sid}/hosts"),
            Some(body),
        )
        .await?;
    }
    let ids = t.boot(vec![t.server_on("alerter-masakari", host)]).await?;

    // The host dies and is fenced: its nova-compute is gone, and it is queued.
    t.lab.kill_host(host).await?;
    t.cloud
        .wait_compute_state(host, ServiceState::Down, WITHIN)
        .await?;
    let bin = agent_dir(t.dir.path(), &cluster(&["pid", "1"])?)?;
    queue_set(&bin, host, "yes")?;
    let _alerter = Alerter::start(&bin, &["--url", &base, "--token", &token])?;
    wait_for("delivered to Masakari", Duration::from_secs(60), || {
        Ok(queue_value(&bin, host)? == "no")
    })
    .await?;

    // Masakari's one notification runs its host-failure flow to the end.
    let began = Instant::now();
    let notification = loop {
        let list = call(reqwest::Method::GET, "/notifications".into(), None).await?;
        let all = list["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(all.len(), 1, "{list}");
        let status = all[0]["status"].as_str().unwrap_or_default().to_owned();
        if !matches!(status.as_str(), "new" | "running") {
            break all[0].clone();
        }
        anyhow::ensure!(began.elapsed() < WITHIN, "Masakari still {status}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(notification["status"], "finished", "{notification}");
    assert_eq!(notification["type"], "COMPUTE_HOST", "{notification}");
    let server = t.cloud.server_get(&ids[0]).await?.unwrap();
    assert_eq!(server.status, "ACTIVE", "{server:?}");
    assert_ne!(server.host.as_deref(), Some(host), "{server:?}");
    t.delete_servers(&ids).await
}
