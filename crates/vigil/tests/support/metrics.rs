//! Reading the binary's `/metrics` as Prometheus would: the text-format parser of the
//! `prometheus-parse` crate, and lookups of one sample by name and labels.

use prometheus_parse::{Sample, Scrape, Value};
use std::net::{SocketAddr, TcpListener};

/// A loopback port nothing listens on now (the test's own listener, closed again).
pub fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The scrape's text and its content type.
pub async fn scrape(addr: SocketAddr) -> (String, String) {
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (resp.text().await.unwrap(), content_type)
}

pub fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The one sample of `metric` whose labels include `labels`.
pub fn sample<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> &'a Sample {
    let found: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    found[0]
}

pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match &sample(scrape, metric, labels).value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric} {labels:?} is {other:?}"),
    }
}
