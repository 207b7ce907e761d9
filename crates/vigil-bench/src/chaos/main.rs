//! `bench/chaos`: Vigil's promises under faults, on the lab's real Nova. Each trial fails a
//! compute host with servers on it, reports the failure, and meanwhile strikes with faults at
//! random moments: kill -9 of `vigil api` and `vigil engine` replicas (two of each, sharing a
//! PostgreSQL of the harness's own), a crash and restart of that PostgreSQL, nova-api or
//! Keystone stopped, Nova slowed down behind a proxy, duplicate reports, and the host reported
//! back before its recovery ended. As soon as its servers run elsewhere the host comes back,
//! fenced, and is reported back while the faults still strike; Vigil takes it back into service
//! once that is safe, and a checker reads the history (Nova's servers and evacuation records, Vigil's
//! notifications, the host's service as sampled through the trial) against the promises: no
//! report lost or left unfinished, no server evacuated twice, every server ACTIVE on a live
//! host, no host taken back before its recovery ended.
//!
//! `VIGIL_CHAOS_TRIALS` trials (default 200), `VIGIL_CHAOS_FAULTS` faults each (2),
//! `VIGIL_CHAOS_SERVERS` servers on the failed host (3), `VIGIL_CHAOS_SEED` to repeat a run.
//! Figures go to stdout and `bench/results/chaos-<time>.txt`; the last line printed is
//! `chaos/violations = V in T trials`, and the exit status is 1 when V > 0.

mod check;
mod cluster;
mod faults;
mod reports;
mod trial;

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_bench::env_or;
use vigil_lab::{Lab, PrivatePostgres, TcpProxy};

use cluster::Cluster;
use faults::{Fault, Schedule};
use reports::Reporter;
use trial::{Outcome, Rig};

#[tokio::main]
async fn main() -> Result<()> {
    let trials: usize = env_or("VIGIL_CHAOS_TRIALS", 200)?;
    let per_trial: usize = env_or("VIGIL_CHAOS_FAULTS", 2)?;
    let servers: usize = env_or("VIGIL_CHAOS_SERVERS", 3)?;
    let seed: u64 = env_or("VIGIL_CHAOS_SEED", fastrand::u64(..))?;
    let vigil = std::env::var("VIGIL_BIN").unwrap_or_else(|_| "target/release/vigil".into());

    let turn = Lab::turn().await?;
    let lab = Lab::up().await.context("bringing the lab up")?;
    let cloud = lab.connect().await?;
    let env = lab.env().clone();
    let db = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await?
        .context("starting the harness's PostgreSQL")?;
    let session = vigil_openstack::Session::new(env.credentials.clone())?;
    let nova = session.endpoint("compute").await?;
    let nova_url = reqwest::Url::parse(&nova).context("Nova's endpoint")?;
    let upstream = nova_url
        .socket_addrs(|| None)?
        .into_iter()
        .next()
        .context("Nova's address")?;
    let proxy = TcpProxy::start(upstream).await?;
    let mut through_proxy = nova_url.clone();
    through_proxy
        .set_port(Some(proxy.addr().port()))
        .map_err(|()| anyhow::anyhow!("setting the proxy's port"))?;

    let dir = tempfile::tempdir()?;
    let vars: Vec<(String, String)> = env
        .openstack_vars()
        .into_iter()
        .chain([
            ("VIGIL_DATABASE__URL", db.url()),
            (
                "VIGIL_OPENSTACK__ENDPOINT_OVERRIDE__COMPUTE",
                through_proxy.to_string(),
            ),
            // A killed engine's claims pass to the other within seconds, and a failed attempt
            // is retried soon: a trial lasts minutes, not hours, at the same safety.
            ("VIGIL_ENGINE__LEASE_SECS", "10".into()),
            ("VIGIL_ENGINE__RETRY_BACKOFF_SECS", "3".into()),
            ("VIGIL_ENGINE__MAX_ATTEMPTS", "20".into()),
            ("VIGIL_ENGINE__HEADROOM_CHECK_SECS", "0".into()),
            // The harness reports the host back: Vigil takes it back once that is safe.
            ("VIGIL_ENGINE__REJOIN__AUTO_UNFENCE", "true".into()),
            ("VIGIL_ENGINE__REJOIN__GRACE_SECS", "2".into()),
            // A fault's duplicates come at most 3 s apart and are refused; the host's report
            // back after an early STARTED waits out no more than this.
            (
                "VIGIL_API__DUPLICATE_NOTIFICATION_DETECTION_INTERVAL",
                "5".into(),
            ),
        ])
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let cluster = {
        let (vigil, dir) = (vigil.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || Cluster::start(vigil.as_ref(), vars, &dir, 2, 2))
            .await??
    };
    let api = Reporter::new(cluster.api_urls());
    let rig = Rig {
        lab,
        cloud,
        env,
        api,
        cluster: Arc::new(Mutex::new(cluster)),
        db: Arc::new(Mutex::new(db)),
        proxy,
        servers,
    };
    rig.segment().await?;
    // The failed host in service, whatever a run that was cut short left of it.
    let victim = rig.env.computes[0].clone();
    rig.lab.revive_host(&victim).await?;

    eprintln!("chaos: {trials} trials, {per_trial} faults each, seed {seed}");
    let mut schedule = Schedule::new(seed);
    let mut outcomes = Vec::new();
    // Interrupted (Ctrl-C, or the caller's SIGTERM): the trial under way ends first, since
    // abandoning it could leave nova-api or Keystone stopped and the failed host down for the
    // lab's next user; then the ended trials are reported and the replicas and the PostgreSQL
    // stopped below. A second signal ends the process at once.
    let interrupted = stop_flag();
    for i in 0..trials {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("chaos: interrupted; reporting the {i} trials that ended");
            break;
        }
        let planned = schedule.trial(per_trial);
        let outcome = match rig.trial(i, &planned).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // What could not be run is read in the logs, which the replicas' directory
                // and the PostgreSQL's would take with them.
                let kept = dir.keep();
                let pg_log = rig.db.lock().expect("not poisoned").log();
                let _ = std::fs::copy(pg_log, kept.join("postgres.log"));
                // The lab's next user finds the host in service.
                if let Err(e) = rig.lab.revive_host(&victim).await {
                    eprintln!("chaos: {victim} could not be revived: {e:#}");
                }
                let faults: Vec<_> = planned.iter().map(|p| p.fault).collect();
                eprintln!(
                    "chaos: trial {i} (faults {faults:?}) could not be run; the replicas' and \
                     the PostgreSQL's logs are kept in {}",
                    kept.display()
                );
                return Err(e);
            }
        };
        eprintln!("{}", outcome.line(i));
        outcomes.push(outcome);
    }
    let replicas_started = rig.cluster.lock().expect("not poisoned").starts;
    // The replicas and the harness's PostgreSQL stop here, before the exit status below,
    // which would skip their destructors.
    drop(rig);
    drop(turn);

    let report = report(seed, per_trial, servers, &outcomes, replicas_started);
    vigil_bench::publish("chaos", &report)?;
    let violations: usize = outcomes.iter().map(|o| o.violations.len()).sum();
    println!(
        "chaos/violations = {violations} in {} trials",
        outcomes.len()
    );
    if violations > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// A flag raised by the first SIGINT or SIGTERM; the second one exits at once.
fn stop_flag() -> Arc<std::sync::atomic::AtomicBool> {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let raised = flag.clone();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("chaos: no signal handlers; an interruption ends the run at once");
            return;
        };
        for n in 0.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if n > 0 {
                std::process::exit(130);
            }
            eprintln!("chaos: stopping after the trial under way (signal again to stop now)");
            raised.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    flag
}

/// The run's figures: faults by kind, violations, recovery times under faults.
fn report(
    seed: u64,
    per_trial: usize,
    servers: usize,
    outcomes: &[Outcome],
    replicas_started: usize,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chaos: {} trials on the lab's real Nova, {servers} servers on the failed host, \
         {per_trial} faults per trial, seed {seed}",
        outcomes.len()
    );
    let _ = writeln!(out, "\nfaults injected:");
    let mut by_kind: BTreeMap<Fault, usize> = BTreeMap::new();
    for o in outcomes {
        for f in &o.faults {
            *by_kind.entry(*f).or_default() += 1;
        }
    }
    for (fault, n) in &by_kind {
        let _ = writeln!(out, "  {:<32} {n}", fault.name());
    }
    let _ = writeln!(
        out,
        "  (vigil processes started, replicas restarted after kills included: {replicas_started})"
    );
    let mut times: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.recovered_in.map(|d| d.as_secs_f64()))
        .collect();
    times.sort_by(f64::total_cmp);
    let _ = writeln!(
        out,
        "\nrecovery time under faults (host failure to every server ACTIVE elsewhere), {} trials:",
        times.len()
    );
    if !times.is_empty() {
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        let _ = writeln!(
            out,
            "  p50 {:.1} s   p90 {:.1} s   max {:.1} s",
            q(0.5),
            q(0.9),
            q(1.0)
        );
    }
    if let Some(first) = outcomes.first() {
        let _ = writeln!(
            out,
            "\nwhere a trial's time goes (mean of {} trials):",
            outcomes.len()
        );
        for (k, (name, _)) in first.phases.iter().enumerate() {
            let total: f64 = outcomes
                .iter()
                .filter_map(|o| o.phases.get(k))
                .map(|(_, d)| d.as_secs_f64())
                .sum();
            let _ = writeln!(out, "  {name:<32} {:.1} s", total / outcomes.len() as f64);
        }
    }
    let violations: Vec<String> = outcomes
        .iter()
        .enumerate()
        .flat_map(|(i, o)| {
            o.violations
                .iter()
                .map(move |v| format!("  trial {i}: {v}"))
        })
        .collect();
    let _ = writeln!(out, "\nviolations: {}", violations.len());
    for v in violations {
        let _ = writeln!(out, "{v}");
    }
    out
}

/// How long any one wait of a trial may last before the trial records what it saw.
pub const DEADLINE: Duration = Duration::from_secs(300);
