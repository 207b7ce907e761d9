//! `bench/recovery`: how long a host failure takes to recover, for Vigil, for the lower bound
//! Nova allows, and for the real Masakari 22 — side by side in one run, on the lab's real Nova.
//!
//! Each contender gets the same scenario: `VIGIL_BENCH_INSTANCES` servers (default 100) ACTIVE
//! on one fake compute, whose nova-compute is killed; once Nova reports it `down`, the clock
//! starts and the contender recovers. The clock stops when Nova shows every server ACTIVE on
//! another host. The lower bound is the benchmark itself doing what any recovery must: force
//! the service down, then evacuate every server, as many at once as Vigil does, with no record
//! keeping. Between contenders the servers are deleted and the host revived, so each starts
//! from the same cloud.
//!
//! Figures go to stdout and to `bench/results/recovery-<time>.txt`; the last line printed is
//! `vigil/lower-bound = R`.

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vigil_bench::Service;
use vigil_lab::{Cloud, Lab, ServerId, ServiceState};

const POLL: Duration = Duration::from_millis(250);
/// A recovery slower than this is reported as failed, not waited for.
const RECOVERY_LIMIT: Duration = Duration::from_secs(1800);
const NAME: &str = "bench-rec";
/// Servers per multi-create request while setting up.
const BOOT_BATCH: usize = 25;
/// As Vigil's default `evacuation_attempts`.
const EVACUATION_ATTEMPTS: usize = 3;

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = env_or("VIGIL_BENCH_INSTANCES", 100)?;
    // The lower bound's evacuations at once; Vigil's default `evacuation_parallelism`. All 100
    // at once overloads the lab's scheduler on two cores: placement claims race and Nova
    // fails evacuations with NoValidHost.
    let parallelism: usize = env_or("VIGIL_BENCH_PARALLELISM", 16)?;
    let masakari = std::env::var("VIGIL_BENCH_MASAKARI").unwrap_or_else(|_| "both".into());
    let vigil = std::env::var("VIGIL_BIN").unwrap_or_else(|_| "target/release/vigil".into());
    let lab = Lab::up().await.context("bringing the lab up")?;
    let cloud = lab.connect().await?;
    let victim = lab.computes()[0].clone();
    // An interrupted earlier run may have left servers, some already moved away.
    cleanup(lab, &cloud, &victim).await?;
    let mut figures: Vec<(String, Duration)> = Vec::new();

    let mut contenders: Vec<Contender> = vec![Contender::LowerBound, Contender::Vigil];
    match masakari.as_str() {
        "both" => contenders.extend([Contender::MasakariFast, Contender::Masakari]),
        "fast" => contenders.push(Contender::MasakariFast),
        "default" => contenders.push(Contender::Masakari),
        "none" => {}
        other => bail!("VIGIL_BENCH_MASAKARI is both, fast, default or none, not {other:?}"),
    }
    for contender in contenders {
        eprintln!("== {}: {n} servers on {victim}", contender.name());
        let took = run(lab, &cloud, &victim, n, parallelism, contender, &vigil).await;
        if let Err(e) = &took {
            eprintln!("== {}: failed: {e:#}", contender.name());
        }
        cleanup(lab, &cloud, &victim).await?;
        let took = took.with_context(|| format!("{} did not recover", contender.name()))?;
        eprintln!("== {}: {:.2} s", contender.name(), took.as_secs_f64());
        figures.push((contender.name().to_owned(), took));
    }

    let secs = |name: &str| {
        figures
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_secs_f64())
    };
    let lower = secs("lower-bound").context("no lower bound")?;
    let mut report = format!(
        "bench/recovery {} — {n} servers on the failed host, lab Nova (fake driver); \
         lower bound {parallelism} evacuations at a time\n\
         time from the notification accepted (lower bound: from its first call) to every \
         server ACTIVE on another host\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    report += "contender        seconds   / lower bound\n";
    for (name, d) in &figures {
        let s = d.as_secs_f64();
        report += &format!("{name:<16} {s:>7.2}   {:>8.2}\n", s / lower);
    }
    if let (Some(v), Some(m)) = (secs("vigil"), secs("masakari")) {
        report += &format!("masakari/vigil = {:.2}\n", m / v);
    }
    if let (Some(v), Some(m)) = (secs("vigil"), secs("masakari-fast")) {
        report += &format!("masakari-fast/vigil = {:.2}\n", m / v);
    }
    report += "target: vigil <= 1.2 x lower bound\n";
    vigil_bench::publish("recovery", &report)?;
    let vigil_s = secs("vigil").context("no Vigil figure")?;
    println!("vigil/lower-bound = {:.2}", vigil_s / lower);
    Ok(())
}

#[derive(Clone, Copy)]
enum Contender {
    LowerBound,
    Vigil,
    /// Masakari with its wait periods lowered (`lab masakari up --fast`).
    MasakariFast,
    /// Masakari with its defaults, among them the 180 s sleep after disabling the service.
    Masakari,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::LowerBound => "lower-bound",
            Contender::Vigil => "vigil",
            Contender::MasakariFast => "masakari-fast",
            Contender::Masakari => "masakari",
        }
    }
}

/// One contender's recovery, from the moment Nova sees the host down.
async fn run(
    lab: &Lab,
    cloud: &Cloud,
    victim: &str,
    n: usize,
    parallelism: usize,
    contender: Contender,
    vigil: &str,
) -> Result<Duration> {
    boot(cloud, victim, n).await?;
    // Each contender's service is up before the failure, as in production.
    let http = reqwest::Client::new();
    let mut service = None;
    let mut masakari = None;
    match contender {
        Contender::Vigil => service = Some(VigilService::start(vigil, lab, parallelism)?),
        Contender::MasakariFast | Contender::Masakari => {
            let fast = matches!(contender, Contender::MasakariFast);
            lab.masakari(if fast { &["up", "--fast"] } else { &["up"] })
                .await?;
            // `up` starts Masakari from an empty database.
            masakari = Some(lab.env().masakari_url.trim_end_matches('/').to_owned());
        }
        Contender::LowerBound => {}
    }
    match (&service, &masakari) {
        (Some(s), _) => segment(&http, &s.service.base, None, lab).await?,
        (_, Some(url)) => segment(&http, url, Some(cloud.token()), lab).await?,
        _ => {}
    }

    lab.kill_host(victim).await?;
    cloud
        .wait_compute_state(victim, ServiceState::Down, Duration::from_secs(120))
        .await?;
    let started = Instant::now();
    let result = async {
        match contender {
            Contender::LowerBound => lower_bound(cloud, victim, parallelism).await?,
            Contender::Vigil => {
                let base = &service.as_ref().expect("started").service.base;
                let id = report(&http, base, None, victim).await?;
                let took = wait_recovered(cloud, victim, n, started).await?;
                if let Err(e) = print_steps(&http, base, &id).await {
                    eprintln!("vigil: reading its steps: {e:#}");
                }
                return Ok(took);
            }
            Contender::MasakariFast | Contender::Masakari => {
                let base = masakari.as_deref().expect("started");
                let id = report(&http, base, Some(cloud.token()), victim).await?;
                let took = wait_recovered(cloud, victim, n, started).await?;
                // Its flow goes on after the last evacuation; the segment is in use until then.
                let end = wait_masakari_done(&http, base, cloud.token(), &id).await?;
                eprintln!(
                    "masakari: notification {end} {:.1} s after it was accepted",
                    started.elapsed().as_secs_f64()
                );
                return Ok(took);
            }
        }
        wait_recovered(cloud, victim, n, started).await
    }
    .await;
    if masakari.is_some() {
        lab.masakari(&["down"]).await?;
    }
    drop(service);
    result
}

/// Boots `n` servers on `host` with multi-create requests of at most `BOOT_BATCH`, one batch
/// at a time, and waits until all are ACTIVE. A server Nova fails to build (placement claims
/// race on a loaded lab) is deleted and booted again.
async fn boot(cloud: &Cloud, host: &str, n: usize) -> Result<()> {
    let lab_env = Lab::up().await?.env();
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let (mut active, mut building) = (0, 0);
        for s in servers(cloud).await? {
            match (s["status"].as_str(), s["OS-EXT-STS:task_state"].is_null()) {
                (Some("ERROR"), _) => delete(cloud, &s).await?,
                (Some("ACTIVE"), true) => active += 1,
                _ => building += 1,
            }
        }
        if active >= n {
            return Ok(());
        }
        let missing = n - active - building.min(n - active);
        if building == 0 && missing > 0 {
            let count = missing.min(BOOT_BATCH);
            cloud
                .compute_call(
                    Method::POST,
                    "/servers",
                    Some(json!({"server": {
                        "name": NAME,
                        "imageRef": lab_env.image,
                        "flavorRef": lab_env.flavor,
                        "networks": "none",
                        "host": host,
                        "min_count": count, "max_count": count,
                    }})),
                )
                .await?;
        }
        if Instant::now() > deadline {
            bail!("{active} of {n} servers ACTIVE after 15 minutes");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Deletes a server; one already gone is fine.
async fn delete(cloud: &Cloud, server: &Value) -> Result<()> {
    let id = server["id"].as_str().unwrap_or_default();
    match cloud
        .compute_call(Method::DELETE, &format!("/servers/{id}"), None)
        .await
    {
        Err(vigil_lab::CloudError::Status { status, .. }) if status.as_u16() == 404 => Ok(()),
        other => other.map(drop).map_err(Into::into),
    }
}

/// The benchmark's servers, following Nova's `next` links.
async fn servers(cloud: &Cloud) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut path = format!("/servers/detail?all_tenants=1&name=^{NAME}&limit=1000");
    loop {
        let page = cloud.compute_call(Method::GET, &path, None).await?;
        out.extend(page["servers"].as_array().cloned().unwrap_or_default());
        let next = page["servers_links"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["rel"] == "next"))
            .and_then(|x| x["href"].as_str());
        match next.and_then(|href| href.split_once("/servers/")) {
            Some((_, rest)) => path = format!("/servers/{rest}"),
            None => return Ok(out),
        }
    }
}

/// Force-down, then the evacuations, `parallelism` at a time: each one issued (again while
/// Nova still calls the service in use, or after Nova failed it) until its server is ACTIVE on
/// another host. The least any recovery through Nova has to do, with no record keeping.
///
/// One poller lists the host's evacuation records for every waiting evacuation, as Vigil's
/// engine does: a GET per server and per poll would load the single nova-api worker with
/// hundreds of calls a minute and slow the bound down. Nova's record, not the server's state,
/// says how an evacuation ended: the server's fields change at several points on the way.
async fn lower_bound(cloud: &Cloud, victim: &str, parallelism: usize) -> Result<()> {
    let service = cloud.compute_service(victim).await?;
    cloud
        .compute_call(
            Method::PUT,
            &format!("/os-services/{}", service.id),
            Some(json!({"forced_down": true, "status": "disabled",
                        "disabled_reason": "bench/recovery lower bound"})),
        )
        .await?;
    let ids: Vec<ServerId> = servers(cloud)
        .await?
        .iter()
        .filter_map(|s| s["id"].as_str().map(|id| ServerId(id.to_owned())))
        .collect();
    let (tx, rx) = watch::channel(None::<Arc<Snapshot>>);
    let poller = async {
        loop {
            let asked = Instant::now();
            match snapshot(cloud, victim, asked).await {
                Ok(snapshot) => {
                    tx.send_replace(Some(Arc::new(snapshot)));
                }
                Err(e) => eprintln!("lower bound: listing evacuations: {e:#}"),
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let evacuations = stream::iter(ids)
        .map(|id| {
            let mut rx = rx.clone();
            async move {
                let deadline = Instant::now() + RECOVERY_LIMIT;
                // Failed evacuations of this server seen so far: the latest list shows every
                // one before the next attempt, since an attempt ends on seeing its failure.
                let mut failed = 0;
                for _attempt in 0..EVACUATION_ATTEMPTS {
                    loop {
                        match cloud.server_evacuate(&id).await {
                            Ok(()) => break,
                            Err(e) if e.to_string().contains("still in use") => {
                                tokio::time::sleep(POLL).await
                            }
                            Err(e) => return Err(anyhow::Error::from(e)),
                        }
                        if Instant::now() > deadline {
                            bail!("{id}: Nova called its host in use for {RECOVERY_LIMIT:?}");
                        }
                    }
                    // Only lists asked for after the evacuation was accepted tell its fate.
                    let issued = Instant::now();
                    loop {
                        rx.changed().await?;
                        let Some(snapshot) = rx.borrow_and_update().clone() else {
                            continue;
                        };
                        if snapshot.asked < issued {
                            continue;
                        }
                        let record = snapshot.evacuations.get(&id.0).copied();
                        if record.is_some_and(|r| r.done) {
                            return Ok(());
                        }
                        let now_failed = record.map_or(0, |r| r.failed);
                        if now_failed > failed {
                            failed = now_failed;
                            break;
                        }
                        if Instant::now() > deadline {
                            bail!("{id}: not recovered after {RECOVERY_LIMIT:?}");
                        }
                    }
                }
                bail!("{id}: {EVACUATION_ATTEMPTS} evacuations failed")
            }
        })
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<Result<()>>>();
    tokio::select! {
        results = evacuations => results.into_iter().collect(),
        _ = poller => unreachable!("the poller loops until dropped"),
    }
}

/// Nova's evacuation records away from the failed host, by server, from a request sent at
/// `asked`. Only this run's: the records of deleted servers are not listed.
struct Snapshot {
    asked: Instant,
    evacuations: HashMap<String, Evacuations>,
}

#[derive(Clone, Copy, Default)]
struct Evacuations {
    /// One of them is `done`: the server runs on its new host.
    done: bool,
    /// How many ended `error` or `failed`.
    failed: usize,
}

async fn snapshot(cloud: &Cloud, victim: &str, asked: Instant) -> Result<Snapshot> {
    let path = format!("/os-migrations?migration_type=evacuation&source_compute={victim}");
    let migrations = cloud.compute_get(&path).await?;
    let mut evacuations: HashMap<String, Evacuations> = HashMap::new();
    for m in migrations["migrations"].as_array().into_iter().flatten() {
        let Some(id) = m["instance_uuid"].as_str() else {
            continue;
        };
        let e = evacuations.entry(id.to_owned()).or_default();
        match m["status"].as_str() {
            Some("done") => e.done = true,
            Some("error" | "failed") => e.failed += 1,
            _ => {}
        }
    }
    Ok(Snapshot { asked, evacuations })
}

/// ACTIVE, no task under way, on a host other than the failed one.
fn moved_away(server: &Value, victim: &str) -> bool {
    server["status"] == "ACTIVE"
        && server["OS-EXT-STS:task_state"].is_null()
        && server["OS-EXT-SRV-ATTR:host"]
            .as_str()
            .is_some_and(|h| h != victim)
}

/// Waits until Nova shows `n` servers ACTIVE away from `victim`; returns the time since
/// `started`.
async fn wait_recovered(
    cloud: &Cloud,
    victim: &str,
    n: usize,
    started: Instant,
) -> Result<Duration> {
    loop {
        let servers = servers(cloud).await?;
        let moved = servers.iter().filter(|s| moved_away(s, victim)).count();
        if moved == n {
            return Ok(started.elapsed());
        }
        if started.elapsed() > RECOVERY_LIMIT {
            bail!("{moved} of {n} servers recovered after {RECOVERY_LIMIT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Deletes the benchmark's servers and brings the failed host back into service.
async fn cleanup(lab: &Lab, cloud: &Cloud, victim: &str) -> Result<()> {
    for s in servers(cloud).await? {
        delete(cloud, &s).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while !servers(cloud).await?.is_empty() {
        if Instant::now() > deadline {
            bail!("servers still there 10 minutes after their deletion");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    lab.revive_host(victim).await?;
    Ok(())
}

/// A segment of every lab compute, recovery method `auto`.
async fn segment(http: &reqwest::Client, base: &str, token: Option<&str>, lab: &Lab) -> Result<()> {
    let name = format!("bench-{}", std::process::id());
    let seg = call(
        http,
        Method::POST,
        &format!("{base}/segments"),
        token,
        Some(json!({"segment": {"name": name, "recovery_method": "auto",
                                "service_type": "COMPUTE"}})),
    )
    .await?;
    let sid = seg["segment"]["uuid"]
        .as_str()
        .context("segment uuid")?
        .to_owned();
    for host in lab.computes() {
        call(
            http,
            Method::POST,
            &format!("{base}/segments/{sid}/hosts"),
            token,
            Some(json!({"host": {"name": host, "type": "COMPUTE",
                                 "control_attributes": "SSH"}})),
        )
        .await?;
    }
    Ok(())
}

/// Posts the host-failure report a host monitor sends; returns the notification's uuid.
async fn report(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    host: &str,
) -> Result<String> {
    let posted = call(
        http,
        Method::POST,
        &format!("{base}/notifications"),
        token,
        Some(
            json!({"notification": {"type": "COMPUTE_HOST", "hostname": host,
            "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "payload": {"event": "STOPPED", "host_status": "NORMAL",
                        "cluster_status": "OFFLINE"}}}),
        ),
    )
    .await?;
    Ok(posted["notification"]["notification_uuid"]
        .as_str()
        .context("notification uuid")?
        .to_owned())
}

/// Where Vigil's time went: each step of its flow, from its first to its last progress entry.
async fn print_steps(http: &reqwest::Client, base: &str, id: &str) -> Result<()> {
    // The workflow details are shown from microversion 1.1.
    let v: Value = http
        .get(format!("{base}/notifications/{id}"))
        .header("OpenStack-API-Version", "instance-ha 1.3")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let accepted = v["notification"]["created_at"].as_str().unwrap_or_default();
    eprintln!("vigil: notification created {accepted}; its steps:");
    let steps = v["notification"]["recovery_workflow_details"].as_array();
    for step in steps.into_iter().flatten() {
        let times: Vec<&str> = step["progress_details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["timestamp"].as_str())
            .collect();
        eprintln!(
            "  {:<32} {} .. {}",
            step["name"].as_str().unwrap_or_default(),
            times.first().unwrap_or(&"-"),
            times.last().unwrap_or(&"-")
        );
    }
    Ok(())
}

/// Waits until Masakari's notification has left `new`/`running`; returns its status.
async fn wait_masakari_done(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Result<String> {
    let deadline = Instant::now() + RECOVERY_LIMIT;
    loop {
        let url = format!("{base}/notifications/{id}");
        let v = call(http, Method::GET, &url, Some(token), None).await?;
        let status = v["notification"]["status"].as_str().unwrap_or_default();
        if !matches!(status, "new" | "running") {
            return Ok(status.to_owned());
        }
        if Instant::now() > deadline {
            bail!("Masakari's notification {id} still {status}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One request; a body that is not JSON (a 204's) reads as null.
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method.clone(), url);
    if let Some(token) = token {
        request = request.header("X-Auth-Token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{method} {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `vigil serve` (SQLite in a temporary directory, the lab's admin as its OpenStack user, the
/// lower bound's parallelism — 16, its default, unless told otherwise — every other option at
/// its default).
struct VigilService {
    service: Service,
    _dir: tempfile::TempDir,
}

impl VigilService {
    fn start(vigil: &str, lab: &Lab, parallelism: usize) -> Result<VigilService> {
        let dir = tempfile::tempdir()?;
        let c = &lab.env().credentials;
        let mut command = Command::new(vigil);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("VIGIL_OPENSTACK__AUTH_URL", &c.auth_url)
            .env("VIGIL_OPENSTACK__USERNAME", &c.username)
            .env("VIGIL_OPENSTACK__PASSWORD", &c.password)
            .env("VIGIL_OPENSTACK__PROJECT_NAME", &c.project_name)
            .env("VIGIL_OPENSTACK__REGION_NAME", &c.region_name)
            .env(
                "VIGIL_ENGINE__HOST__EVACUATION_PARALLELISM",
                parallelism.to_string(),
            )
            .env("RUST_LOG", "warn,vigil=info");
        Ok(VigilService {
            service: Service::spawn(command, true)?,
            _dir: dir,
        })
    }
}

fn env_or(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a number, not {v:?}")),
        Err(_) => Ok(default),
    }
}
