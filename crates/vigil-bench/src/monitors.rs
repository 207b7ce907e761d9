//! `bench/monitors`: what the compute-node monitors cost and how fast a crash is reported.
//!
//! The `vigil-monitor` binary (built with the `libvirt` feature, as compute nodes run it) runs
//! the process monitor (watching the power lab's libvirtd), the instance monitor (on the power
//! lab's libvirtd), the host monitor's gossip driver (one member) and the sender, against a
//! `vigil serve`. Measured: each one's resident memory (RSS, and PSS: shared pages divided
//! among the processes mapping them) and CPU share over `VIGIL_BENCH_IDLE_SECS` (default 30)
//! idle; the instance monitor again watching `VIGIL_BENCH_DOMAINS` (default 100) more domains
//! (started paused: defined and running for libvirt, no guest CPU); and, over
//! `VIGIL_BENCH_CRASHES` (default 20) kill -9s of a running domain's qemu, the time from the
//! kill to the `STOPPED_FAILED` notification stored by the API. The last line printed is
//! `monitors/idle-rss-mb = X`, the largest idle RSS of any monitor.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_bench::{cpu_seconds, memory_mb, Service};
use vigil_lab::PowerLab;

const HOST: &str = "bench-node";

/// A monitor process; killed when dropped.
struct Monitor {
    name: &'static str,
    child: Child,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One process's cost over a window: memory at its end, CPU share across it.
struct Cost {
    rss: f64,
    pss: f64,
    cpu_percent: f64,
}

fn env_number(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name} is a number")),
        Err(_) => Ok(default),
    }
}

/// `VIGIL_BIN`, or the release build of `name` in the target directory.
fn release_bin(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(
        || {
            let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
            PathBuf::from(target).join("release").join(name)
        },
        PathBuf::from,
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let idle = Duration::from_secs(env_number("VIGIL_BENCH_IDLE_SECS", 30)?);
    let domains = env_number("VIGIL_BENCH_DOMAINS", 100)? as usize;
    let crashes = env_number("VIGIL_BENCH_CRASHES", 20)? as usize;
    let lab = PowerLab::status().context("reading the power lab's status")?;
    ensure!(lab.ready, "the power lab is not running: lab/lab power up");
    let victim = lab
        .hosts
        .last()
        .context("the power lab has no host")?
        .clone();
    PowerLab::power_on(&victim.name)?;
    let vigil = release_bin("VIGIL_BIN", "vigil");
    // The monitors as compute nodes run them: the `vigil-monitor` binary.
    let monitor_bin = release_bin("VIGIL_MONITOR_BIN", "vigil-monitor");
    let dir = tempfile::tempdir()?;

    let mut serve = Command::new(&vigil);
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("api"))
        // Every crash of the one domain is a new failure, however close to the last.
        .env("VIGIL_API__DUPLICATE_NOTIFICATION_DETECTION_INTERVAL", "0");
    let api = Service::spawn(serve, false)?;
    let http = reqwest::Client::new();
    let segment = post(
        &http,
        &format!("{}/segments", api.base),
        json!({"segment":
        {"name": "bench", "recovery_method": "auto", "service_type": "compute"}}),
    )
    .await?;
    let sid = segment["segment"]["uuid"]
        .as_str()
        .context("segment uuid")?;
    post(
        &http,
        &format!("{}/segments/{sid}/hosts", api.base),
        json!({"host":
        {"name": HOST, "type": "COMPUTE", "control_attributes": "SSH"}}),
    )
    .await?;

    let outbox = dir.path().join("outbox");
    let outbox = outbox.to_str().context("a UTF-8 path")?;
    let process_list = dir.path().join("process_list.yaml");
    std::fs::write(
        &process_list,
        "-\n    process_name: libvirtd\n    start_command: true\n    restart_command: true\n    run_as_root: False\n",
    )?;
    let state = |name: &str| dir.path().join(name).display().to_string();
    let spawn = |name: &'static str, args: Vec<String>| -> Result<Monitor> {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log")))?;
        let child = Command::new(&monitor_bin)
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting vigil-monitor {name}"))?;
        Ok(Monitor { name, child })
    };
    let common = |name: &str| {
        [
            "--outbox",
            outbox,
            "--state-dir",
            &state(name),
            "--hostname",
            HOST,
        ]
        .map(str::to_owned)
    };
    let args = |head: &[&str], name: &str| -> Vec<String> {
        head.iter()
            .map(|s| (*s).to_owned())
            .chain(common(name))
            .collect()
    };
    let list = process_list.display().to_string();
    let monitors = vec![
        spawn("process", args(&["process", "--config", &list], "process"))?,
        spawn(
            "instance",
            args(&["instance", "--libvirt-uri", &lab.libvirt_uri], "instance"),
        )?,
        spawn(
            "host (gossip)",
            args(
                &["host", "--driver", "gossip", "--bind", "127.0.0.1:17946"],
                "host",
            ),
        )?,
        spawn(
            "send",
            vec![
                "send".into(),
                "--outbox".into(),
                outbox.into(),
                "--url".into(),
                api.base.clone(),
            ],
        )?,
    ];
    tokio::time::sleep(Duration::from_secs(5)).await;
    for m in &monitors {
        ensure!(
            std::fs::metadata(format!("/proc/{}", m.child.id())).is_ok(),
            "vigil monitor {} exited; see its log",
            m.name
        );
    }

    eprintln!("== idle, {} s", idle.as_secs());
    let idle_costs = measure(&monitors, idle).await?;

    eprintln!("== {domains} more domains");
    let extra = Domains::define(&lab.libvirt_uri, &victim.name, domains)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let busy_costs = measure(&monitors[1..2], idle).await?;

    eprintln!("== {crashes} crashes");
    let latencies =
        crash_latencies(&http, &api.base, &lab.libvirt_uri, &victim.name, crashes).await?;
    drop(extra);

    let mut report = format!(
        "bench/monitors {} — the monitors of `{}` against a vigil serve and the power lab's \
         libvirtd\n\
         idle, {} s                 RSS MB   PSS MB   CPU %\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        monitor_bin.display(),
        idle.as_secs()
    );
    for (m, c) in monitors.iter().zip(&idle_costs) {
        report += &format!(
            "{:<25} {:>7.1} {:>8.1} {:>7.2}\n",
            m.name, c.rss, c.pss, c.cpu_percent
        );
    }
    let c = &busy_costs[0];
    report += &format!(
        "instance, {domains} more domains {:>7.1} {:>8.1} {:>7.2}\n",
        c.rss, c.pss, c.cpu_percent
    );
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    report += &format!(
        "domain crash (kill -9 of qemu) to notification stored, {} crashes: median {:.3} s, \
         p99 {:.3} s, max {:.3} s\n",
        sorted.len(),
        q(0.5),
        q(0.99),
        sorted.last().copied().unwrap_or_default()
    );
    report += "targets: RSS < 10 MB, CPU < 0.5 % idle, p99 < 1 s\n";
    vigil_bench::publish("monitors", &report)?;
    let worst = idle_costs
        .iter()
        .zip(&monitors)
        .filter(|(_, m)| m.name != "send")
        .map(|(c, _)| c.rss)
        .fold(0.0, f64::max);
    println!("monitors/idle-rss-mb = {worst:.1}");
    Ok(())
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Result<Value> {
    let r = http.post(url).json(&body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    ensure!(status.is_success(), "POST {url}: {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Each monitor's cost over `window`.
async fn measure(monitors: &[Monitor], window: Duration) -> Result<Vec<Cost>> {
    let before: Vec<f64> = monitors
        .iter()
        .map(|m| cpu_seconds(m.child.id()))
        .collect::<Result<_>>()?;
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = start.elapsed().as_secs_f64();
    monitors
        .iter()
        .zip(before)
        .map(|(m, b)| {
            let (rss, pss) = memory_mb(m.child.id())?;
            let cpu = cpu_seconds(m.child.id())? - b;
            Ok(Cost {
                rss,
                pss,
                cpu_percent: 100.0 * cpu / elapsed,
            })
        })
        .collect()
}

/// Extra domains, copies of the lab's tiny one started paused; undefined when dropped.
struct Domains {
    uri: String,
    names: Vec<String>,
}

fn virsh(uri: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("virsh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Domains {
    fn define(uri: &str, model: &str, n: usize) -> Result<Domains> {
        let xml = virsh(uri, &["dumpxml", model])?;
        let mut made = Domains {
            uri: uri.to_owned(),
            names: Vec::new(),
        };
        let dir = tempfile::tempdir()?;
        for i in 1..=n {
            let name = format!("bench-domain-{i}");
            let copy = xml
                .lines()
                .filter(|l| !l.trim_start().starts_with("<uuid>"))
                .collect::<Vec<_>>()
                .join("\n")
                .replace(
                    &format!("<name>{model}</name>"),
                    &format!("<name>{name}</name>"),
                );
            let file = dir.path().join(format!("{name}.xml"));
            std::fs::write(&file, copy)?;
            let _ = virsh(uri, &["destroy", &name]);
            let _ = virsh(uri, &["undefine", &name]);
            virsh(uri, &["define", path(&file)?])?;
            made.names.push(name.clone());
            virsh(uri, &["start", "--paused", &name])?;
        }
        Ok(made)
    }
}

impl Drop for Domains {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = virsh(&self.uri, &["destroy", name]);
            let _ = virsh(&self.uri, &["undefine", name]);
        }
    }
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("a UTF-8 path")
}

/// The pid of the qemu running domain `name` (its `-name guest=NAME,` argument).
fn qemu_pid(name: &str) -> Option<u32> {
    let needle = format!("guest={name},");
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let text = String::from_utf8_lossy(&cmdline);
        (text.contains("qemu-system") && text.contains(&needle)).then_some(pid)
    })
}

/// Seconds from each kill -9 of `name`'s qemu to the API storing its STOPPED_FAILED report.
async fn crash_latencies(
    http: &reqwest::Client,
    base: &str,
    uri: &str,
    name: &str,
    rounds: usize,
) -> Result<Vec<f64>> {
    let mut latencies = Vec::new();
    let mut seen = failures(http, base).await?;
    for round in 1..=rounds {
        // Running, and the monitor past its start event.
        if virsh(uri, &["domstate", name])?.trim() != "running" {
            virsh(uri, &["start", name])?;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut pid = qemu_pid(name);
        for _ in 0..100 {
            if pid.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            pid = qemu_pid(name);
        }
        let state = virsh(uri, &["domstate", name])?;
        let pid = pid.with_context(|| format!("round {round}: no qemu for {name} ({state})"))?;
        let killed = Instant::now();
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()?;
        ensure!(status.success(), "kill -9 {pid}");
        loop {
            let now = failures(http, base).await?;
            if now > seen {
                seen = now;
                break;
            }
            ensure!(
                killed.elapsed() < Duration::from_secs(30),
                "round {round}: no report"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(killed.elapsed().as_secs_f64());
    }
    virsh(uri, &["start", name])?;
    Ok(latencies)
}

/// How many STOPPED_FAILED notifications the API has stored.
async fn failures(http: &reqwest::Client, base: &str) -> Result<usize> {
    let body: Value = http
        .get(format!("{base}/notifications?type=VM&limit=1000"))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["notifications"]
        .as_array()
        .context("a notification list")?
        .iter()
        .filter(|n| n["payload"]["vir_domain_event"] == "STOPPED_FAILED")
        .count())
}
