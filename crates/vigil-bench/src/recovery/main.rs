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
//!
//! Nova is driven through Vigil's own client (`vigil_openstack::nova`, via the lab's `Cloud`);
//! `lower_bound` is the bound's recovery, `ha_api` the calls to Vigil's and Masakari's API.

mod ha_api;
mod lower_bound;

use anyhow::{bail, Context, Result};
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_bench::{env_or, Service};
use vigil_lab::{Cloud, Lab, PowerLab, Server, ServiceState};

use ha_api::{print_steps, report, segment, wait_masakari_done};

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
    // With the lab's power devices up, Vigil fences the failed host through the Redfish
    // emulator (its segment requires it), as a production site would; without, it trusts the
    // monitor, as Masakari does.
    // VIGIL_BENCH_FENCE=0 leaves fencing out (a Vigil from before fencing, or a comparison).
    let fence = std::env::var("VIGIL_BENCH_FENCE").map_or(true, |v| v != "0");
    let power = PowerLab::status()
        .ok()
        .filter(|p| fence && p.ready && p.host(&victim).is_some());
    // An interrupted earlier run may have left servers, some already moved away.
    cleanup(lab, &cloud, &victim).await?;
    let mut figures: Vec<(String, Duration)> = Vec::new();
    let mut fence_step: Option<f64> = None;

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
        let setting = Setting {
            victim: &victim,
            n,
            parallelism,
            vigil: &vigil,
            power: power.as_ref(),
        };
        let took = run(lab, &cloud, &setting, contender, &mut fence_step).await;
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
    match (fence_step, secs("vigil")) {
        (Some(f), Some(v)) => {
            report += &format!(
                "vigil's fence step (Redfish emulator, segment requires fencing): {f:.2} s; \
                 (vigil - fence step) / lower bound = {:.2}\n",
                (v - f) / lower
            )
        }
        _ => {
            report += "vigil's fence step: none (no power lab, or VIGIL_BENCH_FENCE=0): the \
                       monitor trusted\n"
        }
    }
    if let (Some(v), Some(m)) = (secs("vigil"), secs("masakari")) {
        report += &format!("masakari/vigil = {:.2}\n", m / v);
    }
    if let (Some(v), Some(m)) = (secs("vigil"), secs("masakari-fast")) {
        report += &format!("masakari-fast/vigil = {:.2}\n", m / v);
    }
    report += "target: vigil <= 1.2 x lower bound + the fence step\n";
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

/// What every contender's run shares.
struct Setting<'a> {
    victim: &'a str,
    n: usize,
    parallelism: usize,
    vigil: &'a str,
    power: Option<&'a PowerLab>,
}

/// One contender's recovery, from the moment Nova sees the host down. Vigil's fence step's
/// duration goes to `fence_step`.
async fn run(
    lab: &Lab,
    cloud: &Cloud,
    setting: &Setting<'_>,
    contender: Contender,
    fence_step: &mut Option<f64>,
) -> Result<Duration> {
    let Setting {
        victim,
        n,
        parallelism,
        vigil,
        power,
    } = *setting;
    boot(cloud, victim, n).await?;
    // Each contender's service is up before the failure, as in production.
    let http = reqwest::Client::new();
    let mut service = None;
    let mut masakari = None;
    match contender {
        Contender::Vigil => {
            service = Some(VigilService::start(vigil, lab, parallelism, power, victim)?)
        }
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
        (_, Some(url)) => segment(&http, url, Some(&cloud.token().await?), lab).await?,
        _ => {}
    }

    lab.kill_host(victim).await?;
    cloud
        .wait_compute_state(victim, ServiceState::Down, Duration::from_secs(120))
        .await?;
    let started = Instant::now();
    let result = async {
        match contender {
            Contender::LowerBound => lower_bound::run(cloud, victim, parallelism).await?,
            Contender::Vigil => {
                let base = &service.as_ref().expect("started").service.base;
                let id = report(&http, base, None, victim).await?;
                let took = wait_recovered(cloud, victim, n, started).await?;
                let service = &service.as_ref().expect("started").service;
                match service.cpu_seconds() {
                    Ok(cpu) => eprintln!("vigil: {cpu:.2} s of CPU since it started"),
                    Err(e) => eprintln!("vigil: reading its CPU time: {e:#}"),
                }
                match print_steps(&http, base, &id).await {
                    Ok(fence) if power.is_some() => *fence_step = fence,
                    Ok(_) => {}
                    Err(e) => eprintln!("vigil: reading its steps: {e:#}"),
                }
                return Ok(took);
            }
            Contender::MasakariFast | Contender::Masakari => {
                let base = masakari.as_deref().expect("started");
                let token = cloud.token().await?;
                let id = report(&http, base, Some(&token), victim).await?;
                let took = wait_recovered(cloud, victim, n, started).await?;
                // Its flow goes on after the last evacuation; the segment is in use until then.
                let end = wait_masakari_done(&http, base, &token, &id).await?;
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
            match (s.status.as_str(), s.task_state.is_none()) {
                ("ERROR", _) => cloud.nova().server_delete(&s.id).await?,
                ("ACTIVE", true) => active += 1,
                _ => building += 1,
            }
        }
        if active >= n {
            return Ok(());
        }
        let missing = n - active - building.min(n - active);
        if building == 0 && missing > 0 {
            let count = missing.min(BOOT_BATCH) as u32;
            let spec = lab_env.server(NAME).on_host(host).count(count);
            cloud.nova().server_create(&spec).await?;
        }
        if Instant::now() > deadline {
            bail!("{active} of {n} servers ACTIVE after 15 minutes");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The benchmark's servers.
async fn servers(cloud: &Cloud) -> Result<Vec<Server>> {
    Ok(cloud.nova().servers_named(&format!("^{NAME}")).await?)
}

/// ACTIVE, no task under way, on a host other than the failed one.
fn moved_away(server: &Server, victim: &str) -> bool {
    server.status == "ACTIVE"
        && server.task_state.is_none()
        && server.host.as_deref().is_some_and(|h| h != victim)
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
        cloud.nova().server_delete(&s.id).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while !servers(cloud).await?.is_empty() {
        if Instant::now() > deadline {
            bail!("servers still there 10 minutes after their deletion");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    lab.revive_host(victim).await?;
    // Vigil's fence powered the host's domain off.
    if PowerLab::status().is_ok_and(|p| p.ready && p.host(victim).is_some_and(|h| h.power != "on"))
    {
        PowerLab::power_on(victim)?;
    }
    Ok(())
}

/// `vigil serve` (SQLite in a temporary directory, the lab's admin as its OpenStack user, the
/// lower bound's parallelism — 16, its default, unless told otherwise — and, with the power
/// lab, the failed host bound to the Redfish emulator in a segment that requires fencing;
/// every other option at its default).
struct VigilService {
    service: Service,
    _dir: tempfile::TempDir,
}

impl VigilService {
    fn start(
        vigil: &str,
        lab: &Lab,
        parallelism: usize,
        power: Option<&PowerLab>,
        victim: &str,
    ) -> Result<VigilService> {
        let dir = tempfile::tempdir()?;
        let c = &lab.env().credentials;
        let mut command = Command::new(vigil);
        if let Some(power) = power {
            let config = dir.path().join("vigil.toml");
            std::fs::write(&config, fencing_config(power, victim))?;
            command.env("VIGIL_CONFIG", &config);
        }
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

/// `[fencing]`: `victim` bound to the Redfish emulator, the bench's segment requiring fencing.
fn fencing_config(power: &PowerLab, victim: &str) -> String {
    format!(
        "{}\n[fencing.segments.{}]\nfencing = \"required\"\n",
        power.redfish_fencing(None, victim),
        ha_api::segment_name()
    )
}
