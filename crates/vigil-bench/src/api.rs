//! `bench/api`: notification-create throughput and list latency of the API service, on SQLite
//! and PostgreSQL, measured over HTTP against the real `vigil api` process.
//!
//! Figures go to stdout and to `bench/results/api-<time>.txt`; the last line printed summarises.

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_bench::Service;

/// Rows in the notifications table when list latency is measured (the target scenario).
const ROWS: usize = 100_000;
/// Creates timed for the throughput figure (after a warm-up).
const TIMED_CREATES: usize = 20_000;
const CONCURRENCY: usize = 64;
/// Hosts the reports are spread over; duplicate detection looks at one host's recent reports.
const HOSTS: usize = 100;
const LIST_REQUESTS: usize = 500;

/// Starts `vigil api` on a free port with `database_url` (empty: SQLite in `data_dir`).
fn start_vigil(vigil: &str, data_dir: &std::path::Path, database_url: &str) -> Result<Service> {
    vigil_bench::db_sync(vigil, data_dir, database_url)?;
    let mut command = Command::new(vigil);
    command
        .args(["api", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("VIGIL_DATABASE__URL", database_url)
        .env("RUST_LOG", "warn,vigil=info,vigil_api=info");
    Service::spawn(command, false)
}

async fn setup_hosts(client: &reqwest::Client, base: &str) -> Result<Vec<String>> {
    let seg: serde_json::Value = client
        .post(format!("{base}/segments"))
        .json(&json!({"segment": {"name": "bench", "recovery_method": "auto", "service_type": "COMPUTE"}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let seg = seg["segment"]["uuid"]
        .as_str()
        .context("segment uuid")?
        .to_owned();
    let mut names = Vec::new();
    for i in 0..HOSTS {
        let name = format!("bench-host-{i}");
        client
            .post(format!("{base}/segments/{seg}/hosts"))
            .json(&json!({"host": {"name": name, "type": "COMPUTE", "control_attributes": "x"}}))
            .send()
            .await?
            .error_for_status()?;
        names.push(name);
    }
    Ok(names)
}

/// Posts `count` distinct VM failure reports with `CONCURRENCY` requests in flight.
async fn create_many(
    client: &reqwest::Client,
    base: &str,
    hosts: &[String],
    count: usize,
) -> Result<Duration> {
    let start = Instant::now();
    let url = format!("{base}/notifications");
    let results: Vec<Result<()>> = stream::iter(0..count)
        .map(|i| {
            let body = json!({"notification": {
                "type": "VM",
                "hostname": hosts[i % hosts.len()],
                "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                "payload": {"event": "LIFECYCLE", "instance_uuid": uuid::Uuid::new_v4().to_string(),
                            "vir_domain_event": "STOPPED_FAILED"},
            }});
            let req = client.post(&url).json(&body);
            async move {
                let resp = req.send().await?;
                if resp.status() != reqwest::StatusCode::ACCEPTED {
                    bail!("create answered {}: {}", resp.status(), resp.text().await?);
                }
                Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<()>>()?;
    Ok(start.elapsed())
}

/// Latencies of sequential `GET` requests, sorted ascending.
async fn list_latencies(client: &reqwest::Client, url: &str) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(LIST_REQUESTS);
    for _ in 0..LIST_REQUESTS {
        let start = Instant::now();
        let resp = client.get(url).send().await?.error_for_status()?;
        let body: serde_json::Value = resp.json().await?;
        out.push(start.elapsed());
        let n = body["notifications"].as_array().map_or(0, Vec::len);
        if n != 100 {
            bail!("{url} returned {n} notifications, expected 100");
        }
    }
    out.sort();
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Figures {
    backend: &'static str,
    creates_per_s: f64,
    list_p50_ms: f64,
    list_p99_ms: f64,
    filtered_p99_ms: f64,
}

async fn run_backend(vigil: &str, backend: &'static str, url: &str) -> Result<Figures> {
    let dir = std::env::temp_dir().join(format!("vigil-bench-{}-{backend}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let service = start_vigil(vigil, &dir, url)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let hosts = setup_hosts(&client, &service.base).await?;
    create_many(&client, &service.base, &hosts, 2_000).await?;
    let took = create_many(&client, &service.base, &hosts, TIMED_CREATES).await?;
    let creates_per_s = TIMED_CREATES as f64 / took.as_secs_f64();
    eprintln!("{backend}: {creates_per_s:.0} creates/s; filling to {ROWS} rows");
    create_many(&client, &service.base, &hosts, ROWS - 2_000 - TIMED_CREATES).await?;
    let plain = list_latencies(
        &client,
        &format!("{}/notifications?limit=100", service.base),
    )
    .await?;
    let filtered = list_latencies(
        &client,
        &format!(
            "{}/notifications?limit=100&status=new&type=VM&sort_key=generated_time&sort_dir=asc",
            service.base
        ),
    )
    .await?;
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures {
        backend,
        creates_per_s,
        list_p50_ms: percentile(&plain, 0.5),
        list_p99_ms: percentile(&plain, 0.99),
        filtered_p99_ms: percentile(&filtered, 0.99),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let vigil = std::env::var("VIGIL_BIN").unwrap_or_else(|_| "target/release/vigil".into());
    let pg_admin = std::env::var("VIGIL_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pg_db = format!("vigil_bench_{}", std::process::id());
    let mut figures = vec![run_backend(&vigil, "sqlite", "").await?];
    vigil_bench::postgres_database(&pg_admin, &pg_db, true)?;
    let pg_url = format!(
        "{}/{pg_db}",
        pg_admin
            .rsplit_once('/')
            .map_or(pg_admin.as_str(), |(h, _)| h)
    );
    let pg = run_backend(&vigil, "postgres", &pg_url).await;
    vigil_bench::postgres_database(&pg_admin, &pg_db, false)?;
    figures.push(pg?);

    let mut report = format!(
        "bench/api {} — {ROWS} notifications, {CONCURRENCY} concurrent creates, {HOSTS} hosts\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    report += "backend   creates/s   list p50 ms   list p99 ms   filtered list p99 ms\n";
    for f in &figures {
        report += &format!(
            "{:<9} {:>9.0}   {:>11.2}   {:>11.2}   {:>20.2}\n",
            f.backend, f.creates_per_s, f.list_p50_ms, f.list_p99_ms, f.filtered_p99_ms
        );
    }
    report += "targets: >= 5000 creates/s on SQLite; list p99 < 20 ms\n";
    vigil_bench::publish("api", &report)?;
    let s = &figures[0];
    let worst_p99 = figures.iter().map(|f| f.list_p99_ms).fold(0.0, f64::max);
    println!(
        "sqlite creates/s = {:.0}, list p99 ms = {worst_p99:.2}",
        s.creates_per_s
    );
    Ok(())
}
