//! A `vigil serve` for the monitors' tests that deliver to a real API. The monitor crates do
//! not depend on the API (scripts/test checks it), so the binary is run: `VIGIL_BIN`, or the
//! one `cargo test --workspace` builds beside the tests.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `vigil serve` of the test's own (SQLite, no auth), killed when dropped.
pub struct Vigil {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`
    pub base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Vigil {
    /// Started with `env` (configuration overrides, `VIGIL_…`) and answering.
    pub async fn start(env: &[(&str, String)]) -> Vigil {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("vigil.log")).unwrap();
        let child = Command::new(vigil_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("vigil serve starts");
        let vigil = Vigil {
            child,
            base: format!("http://127.0.0.1:{port}/v1"),
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let mut up = false;
        for _ in 0..200 {
            if vigil.get("/segments").await.is_some() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up, "vigil serve never answered on {}", vigil.base);
        vigil
    }

    pub async fn get(&self, path: &str) -> Option<Value> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await;
        resp.ok()?.error_for_status().ok()?.json().await.ok()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self.http.post(format!("{}{path}", self.base)).json(&body);
        let resp = resp.send().await.unwrap();
        assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// A segment with `host` in it: VM reports of an unknown host are refused.
    pub async fn register(&self, host: &str) {
        let segment = json!({"segment": {"name": "instances", "recovery_method": "auto",
            "service_type": "COMPUTE"}});
        let segment = self.post("/segments", segment).await;
        let uuid = segment["segment"]["uuid"].as_str().unwrap().to_owned();
        let host = json!({"host": {"name": host, "type": "COMPUTE",
            "control_attributes": "SSH"}});
        self.post(&format!("/segments/{uuid}/hosts"), host).await;
    }

    /// The stored notifications as (type, host name, payload), oldest report first.
    pub async fn reports(&self) -> Vec<(String, String, Value)> {
        let Some(list) = self.get("/notifications?limit=100").await else {
            return Vec::new();
        };
        let mut all: Vec<&Value> = list["notifications"].as_array().unwrap().iter().collect();
        all.sort_by_key(|n| n["generated_time"].as_str().unwrap_or_default().to_owned());
        let host_of = |n: &Value| {
            let uuid = n["source_host_uuid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (
                uuid,
                n["payload"].clone(),
                n["type"].as_str().unwrap().to_owned(),
            )
        };
        let mut out = Vec::new();
        for n in all {
            let (host_uuid, payload, kind) = host_of(n);
            let segment = n["failover_segment_uuid"].as_str().unwrap_or_default();
            let host = self
                .get(&format!("/segments/{segment}/hosts/{host_uuid}"))
                .await
                .map(|h| h["host"]["name"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            out.push((kind, host, payload));
        }
        out
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `vigil` binary: `VIGIL_BIN`, or the one built beside this test (`target/<profile>/`).
fn vigil_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("VIGIL_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("vigil");
    assert!(
        bin.is_file(),
        "no vigil binary at {} (cargo build -p vigil, or set VIGIL_BIN)",
        bin.display()
    );
    bin
}
