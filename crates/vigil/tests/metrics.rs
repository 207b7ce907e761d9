//! `/metrics` of the real binary: reports and API calls made through the API, then the
//! scrape read with a Prometheus text-format parser (and Prometheus' own `promtool` where it
//! is installed) and compared with what happened. No lab: the engine's metrics are tested
//! with its flows (crates/vigil-engine's saga tests) and after a lab recovery
//! (tests/recovery_progress.rs).

mod support;

use prometheus_parse::Value;
use reqwest::Method;
use serde_json::json;
use support::api::Api;
use support::metrics::{free_address, parse, sample, scrape, value};
use support::Vigil;

/// Runs `promtool check metrics` on the text when Prometheus' tools are installed
/// (`VIGIL_REQUIRE_PROMTOOL=1`, as scripts/test sets, makes their absence a failure).
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("VIGIL_REQUIRE_PROMTOOL").as_deref() == Ok("1") => {
            panic!("promtool (Debian's prometheus package) is required: {e}")
        }
        Err(e) => {
            eprintln!("promtool not run ({e}): install Debian's prometheus package");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_scrape_counts_the_reports_and_the_requests_made() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_address();
    let vigil = Vigil::start(
        "serve",
        dir.path(),
        &["--metrics-listen", &metrics.to_string()],
    );
    let api = Api::new(vigil.url());
    let segment = api
        .segment_named("metrics", "auto", &[("m1", false), ("m2", false)])
        .await
        .unwrap();
    // No [openstack]: no engine, so every report stays `new`, waiting in the queue.
    let mut reports = Vec::new();
    for host in ["m1", "m2"] {
        reports.push(api.report_host_down(host).await.unwrap());
    }
    for i in 0..3 {
        let instance = format!("00000000-0000-4000-8000-00000000000{i}");
        let payload = json!({"event": "LIFECYCLE", "instance_uuid": instance,
            "vir_domain_event": "STOPPED_FAILED"});
        reports.push(api.report("VM", "m1", payload).await.unwrap());
    }
    for id in &reports {
        api.call(Method::GET, &format!("/notifications/{id}"), None)
            .await
            .unwrap();
    }
    let missing = "/segments/5f4e0a3c-9d1b-4c5e-8f2a-1b2c3d4e5f60";
    assert!(api.call(Method::GET, missing, None).await.is_err());

    let (text, content_type) = scrape(metrics).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let s = parse(&text);
    let notifications = |t, status| {
        value(
            &s,
            "vigil_notifications",
            &[("type", t), ("status", status)],
        )
    };
    assert_eq!(notifications("COMPUTE_HOST", "new"), 2.0);
    assert_eq!(notifications("VM", "new"), 3.0);
    assert_eq!(notifications("PROCESS", "new"), 0.0);
    assert_eq!(notifications("VM", "finished"), 0.0);
    assert_eq!(value(&s, "vigil_queue_depth", &[]), 5.0);
    assert!(s.docs["vigil_notifications"].contains("by type and status"));

    let requests = |method, route, status| {
        let labels = [("method", method), ("route", route), ("status", status)];
        value(&s, "vigil_api_request_duration_seconds_count", &labels)
    };
    assert_eq!(requests("POST", "/v1/notifications", "2xx"), 5.0);
    assert_eq!(requests("POST", "/v1/segments", "2xx"), 1.0);
    assert_eq!(
        requests("POST", "/v1/segments/:segment_id/hosts", "2xx"),
        2.0
    );
    assert_eq!(
        requests("GET", "/v1/notifications/:notification_id", "2xx"),
        5.0
    );
    assert_eq!(requests("GET", "/v1/segments/:segment_id", "4xx"), 1.0);
    // Every request falls in the +Inf bucket, and the buckets only grow.
    let labels = [("method", "POST"), ("route", "/v1/notifications")];
    let Value::Histogram(buckets) =
        &sample(&s, "vigil_api_request_duration_seconds", &labels).value
    else {
        panic!("not a histogram");
    };
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "{buckets:?}"
    );
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(inf.count, 5.0);
    // Identifiers never become label values.
    assert!(!text.contains(&segment), "{text}");
    assert!(!text.contains(&reports[0]), "{text}");
    promtool_check(&text);
}

#[tokio::test]
async fn metrics_are_served_only_when_an_address_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let unused = free_address();
    let vigil = Vigil::start("api", dir.path(), &[]);
    // Not on the API's address, and not on an address no one asked for.
    let on_api = reqwest::get(format!("{}/metrics", vigil.url()))
        .await
        .unwrap();
    // Masakari's answer to a path outside /v1: the versions, 300.
    assert_eq!(on_api.status(), 300);
    assert!(!on_api.text().await.unwrap().contains("vigil_"));
    assert!(reqwest::get(format!("http://{unused}/metrics"))
        .await
        .is_err());
    drop(vigil);

    // The environment layer of `[metrics] listen` turns it on for `vigil api` too.
    let metrics = free_address();
    let dir = tempfile::tempdir().unwrap();
    let listen = metrics.to_string();
    let _vigil = Vigil::start_with_env(
        "api",
        dir.path(),
        &[],
        &[("VIGIL_METRICS__LISTEN", listen.as_str())],
    );
    let (text, _) = scrape(metrics).await;
    let s = parse(&text);
    assert_eq!(value(&s, "vigil_queue_depth", &[]), 0.0);
    assert_eq!(
        value(
            &s,
            "vigil_notifications",
            &[("type", "VM"), ("status", "new")]
        ),
        0.0
    );
}
