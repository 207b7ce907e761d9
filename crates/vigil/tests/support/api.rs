//! A small client of Vigil's Masakari API for the lab tests: segments, hosts, reports, and
//! waiting for a notification to end.

use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A small client of Vigil's API at microversion 1.3.
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            http: reqwest::Client::new(),
            base,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}/v1{path}", self.base))
            .header("OpenStack-API-Version", "instance-ha 1.3");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{status}: {body}");
        Ok(body)
    }

    /// A segment `lab-<method>` of `hosts` (name, reserved); returns its uuid.
    pub async fn segment(&self, method: &str, hosts: &[(&str, bool)]) -> anyhow::Result<String> {
        self.segment_named(&format!("lab-{method}"), method, hosts)
            .await
    }

    /// A segment named `name` of `hosts` (name, reserved); returns its uuid.
    pub async fn segment_named(
        &self,
        name: &str,
        method: &str,
        hosts: &[(&str, bool)],
    ) -> anyhow::Result<String> {
        let seg = self
            .call(
                Method::POST,
                "/segments",
                Some(json!({"segment": {"name": name,
                    "recovery_method": method, "service_type": "COMPUTE"}})),
            )
            .await?;
        let sid = seg["segment"]["uuid"].as_str().unwrap().to_owned();
        for (name, reserved) in hosts {
            self.call(
                Method::POST,
                &format!("/segments/{sid}/hosts"),
                Some(json!({"host": {"name": name, "type": "COMPUTE",
                    "control_attributes": "SSH", "reserved": reserved}})),
            )
            .await?;
        }
        Ok(sid)
    }

    /// The host named `name` in segment `sid`, as the API shows it.
    pub async fn host(&self, sid: &str, name: &str) -> anyhow::Result<Value> {
        let hosts = self
            .call(Method::GET, &format!("/segments/{sid}/hosts"), None)
            .await?;
        hosts["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| h["name"] == name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no host {name} in segment {sid}: {hosts}"))
    }

    /// Posts a report of any type for `host`; returns the notification uuid.
    pub async fn report(&self, kind: &str, host: &str, payload: Value) -> anyhow::Result<String> {
        let posted = self
            .call(
                Method::POST,
                "/notifications",
                Some(json!({"notification": {"type": kind, "hostname": host,
                    "generated_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "payload": payload}})),
            )
            .await?;
        Ok(posted["notification"]["notification_uuid"]
            .as_str()
            .unwrap()
            .to_owned())
    }

    pub async fn report_host_down(&self, host: &str) -> anyhow::Result<String> {
        let payload = json!({"event": "STOPPED", "host_status": "NORMAL",
            "cluster_status": "OFFLINE"});
        self.report("COMPUTE_HOST", host, payload).await
    }

    /// A host's report that it is back (`COMPUTE_HOST`/`STARTED`), which rejoins it.
    pub async fn report_host_back(&self, host: &str) -> anyhow::Result<String> {
        let payload = json!({"event": "STARTED", "host_status": "NORMAL",
            "cluster_status": "ONLINE"});
        self.report("COMPUTE_HOST", host, payload).await
    }

    /// A PROCESS report that `process` stopped on `host`.
    pub async fn report_process_down(&self, host: &str, process: &str) -> anyhow::Result<String> {
        let payload = json!({"process_name": process, "event": "STOPPED"});
        self.report("PROCESS", host, payload).await
    }

    /// The notification's vmoves.
    pub async fn vmoves(&self, nid: &str) -> anyhow::Result<Vec<Value>> {
        let vmoves = self
            .call(Method::GET, &format!("/notifications/{nid}/vmoves"), None)
            .await?;
        Ok(vmoves["vmoves"].as_array().unwrap().clone())
    }

    /// Waits for the notification to end; returns its final view.
    pub async fn wait_ended(&self, nid: &str, within: Duration) -> anyhow::Result<Value> {
        self.wait_status(nid, within, &["finished", "error", "failed", "ignored"])
            .await
    }

    /// Waits for `finished`, `failed` or `ignored`: an `error` is retried, so not an end here.
    pub async fn wait_ended_finally(&self, nid: &str, within: Duration) -> anyhow::Result<Value> {
        self.wait_status(nid, within, &["finished", "failed", "ignored"])
            .await
    }

    /// Waits until the notification's status is one of `ends`; returns its view then.
    async fn wait_status(
        &self,
        nid: &str,
        within: Duration,
        ends: &[&str],
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let n = self
                .call(Method::GET, &format!("/notifications/{nid}"), None)
                .await?;
            let status = n["notification"]["status"].as_str().unwrap_or("");
            if ends.contains(&status) {
                return Ok(n);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "notification still {status}: {n}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The names of a notification view's workflow steps, in order.
pub fn step_names(view: &Value) -> Vec<String> {
    view["notification"]["recovery_workflow_details"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}
