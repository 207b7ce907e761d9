//! The harness as a client of Vigil's API replicas: it reports as a monitor does (retrying,
//! on whichever replica answers, until one acknowledges or refuses) and reads what Vigil
//! recorded, riding out replicas and a database that come and go.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a report or a read is retried before the trial gives up on it.
const PATIENCE: Duration = Duration::from_secs(180);
const PAUSE: Duration = Duration::from_millis(250);

/// A replica's final answer to a report.
#[derive(Debug)]
pub enum Answer {
    /// 202, with the notification's uuid.
    Accepted(String),
    /// A 4xx: a duplicate, a host in maintenance, … (status, body).
    Refused(u16, Value),
}

#[derive(Clone)]
pub struct Reporter {
    http: reqwest::Client,
    urls: Vec<String>,
}

impl Reporter {
    pub fn new(urls: Vec<String>) -> Reporter {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a plain HTTP client");
        Reporter { http, urls }
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// A `COMPUTE_HOST` report of `event` (`STOPPED` or `STARTED`) for `host`.
    pub fn host_report(host: &str, event: &str) -> Value {
        let (host_status, cluster_status) = match event {
            "STOPPED" => ("NORMAL", "OFFLINE"),
            _ => ("NORMAL", "ONLINE"),
        };
        json!({"notification": {"type": "COMPUTE_HOST", "hostname": host,
            "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            "payload": {"event": event, "host_status": host_status,
                "cluster_status": cluster_status}}})
    }

    /// Posts `report` until a replica acknowledges or refuses it; connection failures and
    /// 5xx answers (a replica or the database down) are retried on the next replica.
    pub async fn post(&self, report: &Value) -> Result<Answer> {
        let deadline = Instant::now() + PATIENCE;
        let mut attempt = 0;
        loop {
            let url = &self.urls[attempt % self.urls.len()];
            attempt += 1;
            if let Some(answer) = self.post_once(url, report).await {
                return Ok(answer);
            }
            if Instant::now() > deadline {
                bail!("no API replica took the report within {PATIENCE:?}");
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// One try at one replica: `None` when it could not answer (down, or a 5xx).
    pub async fn post_once(&self, url: &str, report: &Value) -> Option<Answer> {
        let resp = self
            .http
            .post(format!("{url}/notifications"))
            .json(report)
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status {
            202 => body["notification"]["notification_uuid"]
                .as_str()
                .map(|u| Answer::Accepted(u.to_owned())),
            400..=499 => Some(Answer::Refused(status, body)),
            _ => None,
        }
    }

    /// GETs `path` (under /v1) from whichever replica answers 200.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut attempt = 0;
        loop {
            let url = format!("{}{path}", self.urls[attempt % self.urls.len()]);
            attempt += 1;
            if let Some(v) = self.get_once(&url).await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("no API replica answered {path} within {PATIENCE:?}");
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    /// One try: `None` unless the replica answers 200 with JSON.
    pub async fn get_once(&self, url: &str) -> Option<Value> {
        let resp = self
            .http
            .get(url)
            .header("OpenStack-API-Version", "instance-ha 1.3")
            .send()
            .await
            .ok()?;
        if resp.status() != 200 {
            return None;
        }
        resp.json().await.ok()
    }

    /// The notifications generated since `since` (`YYYY-MM-DDTHH:MM:SS`): uuid, event, status.
    pub async fn notifications_since(&self, since: &str) -> Result<Vec<(String, String, String)>> {
        let list = self
            .get(&format!(
                "/notifications?generated-since={since}&limit=1000"
            ))
            .await?;
        Ok(read_notifications(&list))
    }

    /// [`Reporter::notifications_since`], one try at any replica: `None` if none answered.
    pub async fn notifications_since_once(
        &self,
        since: &str,
    ) -> Option<Vec<(String, String, String)>> {
        for url in &self.urls {
            let path = format!("{url}/notifications?generated-since={since}&limit=1000");
            if let Some(list) = self.get_once(&path).await {
                return Some(read_notifications(&list));
            }
        }
        None
    }
}

fn read_notifications(list: &Value) -> Vec<(String, String, String)> {
    list["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&n["notification_uuid"]),
                text(&n["payload"]["event"]),
                text(&n["status"]),
            )
        })
        .collect()
}
