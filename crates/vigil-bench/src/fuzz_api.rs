//! `bench/fuzz-api`: hostile input at the HTTP edge. schemathesis (tests/schemathesis/run)
//! generates requests, valid and invalid, from the OpenAPI document a real `vigil serve`
//! publishes, round after round with a new seed each, until the server has answered
//! `FUZZ_API_REQUESTS` requests (default 100,000). The server's own `/metrics` counts the
//! answers by status class, so a request schemathesis sends outside its checks counts too.
//!
//! SQLite by default; with `FUZZ_API_POSTGRES` (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`) a fresh PostgreSQL database of its own,
//! dropped afterwards. `FUZZ_API_ROUND_SECONDS` (default 600) bounds a round,
//! `FUZZ_API_WORKERS` (4) its concurrency, `FUZZ_API_SEED` repeats a run.
//!
//! Figures go to stdout and `bench/results/fuzz-api-<time>.txt`; the last line printed is
//! `fuzz-api/5xx = N in R requests`. The exit status is 1 when there was a 5xx, a panic or a
//! failed schemathesis check.

use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Instant;
use vigil_bench::{env_or, Service};
use vigil_metrics::AnswerCounts;

const SCHEMATHESIS: &str = "tests/schemathesis";

/// The answers the server has counted so far, by status class.
async fn scrape(metrics: &str) -> Result<AnswerCounts> {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(AnswerCounts::scrape(&text))
}

/// Starts `vigil serve` (no auth, no OpenStack) on free loopback ports, its metrics on
/// `metrics`; `database_url` empty for SQLite in `data_dir`.
fn start_vigil(
    vigil: &str,
    data_dir: &std::path::Path,
    database_url: &str,
    metrics: &str,
) -> Result<Service> {
    vigil_bench::db_sync(vigil, data_dir, database_url)?;
    let mut command = Command::new(vigil);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("VIGIL_DATABASE__URL", database_url)
        .env("VIGIL_METRICS__LISTEN", metrics)
        // The binary's own info lines (the address); the API logs each refusal at info, and
        // only its warnings and errors matter here.
        .env("RUST_LOG", "warn,vigil=info");
    Service::spawn(command, true)
}

/// The pinned schemathesis version, from the lock file the virtualenv is made from.
fn schemathesis_version() -> Result<String> {
    let lock = std::fs::read_to_string(format!("{SCHEMATHESIS}/requirements.lock"))
        .context("reading the schemathesis lock file")?;
    lock.lines()
        .find_map(|l| l.strip_prefix("schemathesis=="))
        .map(str::to_owned)
        .context("no schemathesis== line in requirements.lock")
}

struct Run {
    answers: AnswerCounts,
    panics: usize,
    rounds: Vec<(u64, i32)>,
    seconds: f64,
}

async fn fuzz(service: &Service, metrics: &str, target: u64, seed: u64) -> Result<Run> {
    let round_seconds: u64 = env_or("FUZZ_API_ROUND_SECONDS", 600)?;
    let processes: u64 = env_or("FUZZ_API_PROCESSES", 2)?;
    let root = service.base.trim_end_matches("/v1").to_owned();
    let start = Instant::now();
    let mut rounds = Vec::new();
    let mut answers = scrape(metrics).await?;
    while answers.all < target {
        eprintln!(
            "fuzz-api: round of {processes} from seed {}, {} requests so far",
            seed + rounds.len() as u64,
            answers.all
        );
        // Processes of one worker each, rather than one process of several workers: Python
        // 3.11's `ast` is not safe across threads (Hypothesis failed with "AST constructor
        // recursion depth mismatch"), and processes share no interpreter lock. Their reports
        // go to our stderr: figures alone on stdout.
        let mut children = Vec::new();
        for _ in 0..processes {
            let process_seed = seed + rounds.len() as u64 + children.len() as u64;
            let child = Command::new("bash")
                .arg(format!("{SCHEMATHESIS}/run"))
                .arg(&root)
                .args(["--phases", "examples,coverage,fuzzing,stateful"])
                .args(["--no-shrink", "--workers", "1"])
                .args(["--max-time", &round_seconds.to_string()])
                .args(["--seed", &process_seed.to_string()])
                .stdout(Stdio::from(std::io::stderr()))
                .spawn()
                .context("running tests/schemathesis/run")?;
            children.push((process_seed, child));
        }
        for (process_seed, mut child) in children {
            let status = child.wait()?;
            rounds.push((process_seed, status.code().unwrap_or(-1)));
        }
        let before = answers.all;
        answers = scrape(metrics).await?;
        if answers.all == before {
            bail!("a round of schemathesis sent no request");
        }
    }
    Ok(Run {
        answers,
        panics: service.panics(),
        rounds,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let vigil = std::env::var("VIGIL_BIN").unwrap_or_else(|_| "target/release/vigil".into());
    let target: u64 = env_or("FUZZ_API_REQUESTS", 100_000)?;
    let seed: u64 = env_or("FUZZ_API_SEED", fastrand::u64(..1 << 32))?;
    let version = schemathesis_version()?;
    let venv = Command::new("bash")
        .arg(format!("{SCHEMATHESIS}/venv.sh"))
        .stdout(Stdio::null())
        .status()?;
    if !venv.success() {
        bail!("tests/schemathesis/venv.sh could not make the virtualenv");
    }

    let dir = tempfile::tempdir()?;
    // A port nothing listens on now, for the metrics (the API's own is logged).
    let metrics = TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
    let pg_admin = std::env::var("FUZZ_API_POSTGRES").ok();
    let pg_db = format!("vigil_fuzz_api_{}", std::process::id());
    let (backend, url) = match &pg_admin {
        None => ("SQLite", String::new()),
        Some(admin) => {
            vigil_bench::postgres_database(admin, &pg_db, true)?;
            let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
            ("PostgreSQL", format!("{server}/{pg_db}"))
        }
    };
    let run = match start_vigil(&vigil, &dir.path().join("data"), &url, &metrics) {
        Ok(service) => fuzz(&service, &metrics, target, seed).await,
        Err(e) => Err(e),
    };
    if let Some(admin) = &pg_admin {
        vigil_bench::postgres_database(admin, &pg_db, false)?;
    }
    let run = run?;

    let a = run.answers;
    let failed_rounds = run.rounds.iter().filter(|(_, code)| *code != 0).count();
    let mut report = format!(
        "bench/fuzz-api {} — schemathesis {version} against vigil serve ({backend}, no auth)\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    report += &format!(
        "requests {}   2xx/3xx {}   4xx {}   5xx {}   panics {}\n",
        a.all,
        a.all - a.client_errors - a.server_errors,
        a.client_errors,
        a.server_errors,
        run.panics
    );
    report += &format!(
        "{} schemathesis runs in {:.0} s ({:.0} requests/s), seeds {seed}..{}; \
         runs with a failed check or an error: {failed_rounds}\n",
        run.rounds.len(),
        run.seconds,
        a.all as f64 / run.seconds,
        seed + (run.rounds.len() as u64).saturating_sub(1)
    );
    report += "target: 0 5xx and 0 panics in >= 100,000 requests\n";
    vigil_bench::publish("fuzz-api", &report)?;
    println!("fuzz-api/5xx = {} in {} requests", a.server_errors, a.all);
    if a.server_errors > 0 || run.panics > 0 || failed_rounds > 0 {
        std::process::exit(1);
    }
    Ok(())
}
