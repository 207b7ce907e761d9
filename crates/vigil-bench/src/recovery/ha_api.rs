//! The calls the benchmark makes to the instance-ha API, which Vigil and Masakari both serve:
//! the segment, the host-failure report, and how the notification ended.

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vigil_lab::Lab;

use super::RECOVERY_LIMIT;

/// The bench's segment's name: one per run.
pub fn segment_name() -> String {
    format!("bench-{}", std::process::id())
}

/// A segment of every lab compute, recovery method `auto`.
pub async fn segment(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    lab: &Lab,
) -> Result<()> {
    let name = segment_name();
    let body = json!({"segment": {"name": name, "recovery_method": "auto",
                                  "service_type": "COMPUTE"}});
    let seg = post(http, &format!("{base}/segments"), token, body).await?;
    let sid = seg["segment"]["uuid"]
        .as_str()
        .context("segment uuid")?
        .to_owned();
    for host in lab.computes() {
        let body = json!({"host": {"name": host, "type": "COMPUTE", "control_attributes": "SSH"}});
        post(http, &format!("{base}/segments/{sid}/hosts"), token, body).await?;
    }
    Ok(())
}

/// Posts the host-failure report a host monitor sends; returns the notification's uuid.
pub async fn report(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    host: &str,
) -> Result<String> {
    let body = json!({"notification": {"type": "COMPUTE_HOST", "hostname": host,
        "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}});
    let posted = post(http, &format!("{base}/notifications"), token, body).await?;
    Ok(posted["notification"]["notification_uuid"]
        .as_str()
        .context("notification uuid")?
        .to_owned())
}

/// Where Vigil's time went: each step of its flow, from its first to its last progress entry.
/// Returns the fence step's seconds.
pub async fn print_steps(http: &reqwest::Client, base: &str, id: &str) -> Result<Option<f64>> {
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
    let mut fence = None;
    for step in steps.into_iter().flatten() {
        let times: Vec<&str> = step["progress_details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["timestamp"].as_str())
            .collect();
        let name = step["name"].as_str().unwrap_or_default();
        eprintln!(
            "  {name:<32} {} .. {}",
            times.first().unwrap_or(&"-"),
            times.last().unwrap_or(&"-")
        );
        // More than "started" and "completed": the step failed and was run again; say how.
        let details = step["progress_details"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        if details.len() > 2 {
            for d in details {
                eprintln!(
                    "    {} {}",
                    d["timestamp"].as_str().unwrap_or_default(),
                    d["message"].as_str().unwrap_or_default()
                );
            }
        }
        if let (true, Some(a), Some(b)) = (name == "FenceHostTask", times.first(), times.last()) {
            fence = Some(seconds_between(a, b)?);
        }
    }
    Ok(fence)
}

/// Seconds from one progress timestamp (`2026-11-30 08:00:00.123456`) to another.
fn seconds_between(from: &str, to: &str) -> Result<f64> {
    let parse = |t: &str| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
            .with_context(|| format!("a progress timestamp: {t:?}"))
    };
    Ok((parse(to)? - parse(from)?).as_seconds_f64())
}

/// Waits until Masakari's notification has left `new`/`running`; returns its status.
pub async fn wait_masakari_done(
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

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    call(http, Method::POST, url, token, Some(body)).await
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
