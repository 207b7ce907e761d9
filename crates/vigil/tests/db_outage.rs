//! The real `vigil api` on a database server of the test's own (PostgreSQL, then MariaDB),
//! stopped and crashed under it: while the server is down every request is answered 503 with
//! Masakari's `serviceUnavailable` fault within the configured connect timeout — not a hang,
//! not a 500 —, the API serves again by itself once the server is back, and every report it
//! answered 202 is stored, even when the server crashed while reports were streaming in.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{succeeded, Vigil};
use vigil_lab::{PrivateDbError, PrivateMariadb, PrivatePostgres};

/// What the test needs of a private server: its URL, a crash, and a start on the same data.
trait Server: Send + 'static {
    fn url(&self) -> String;
    fn crash(&mut self) -> Result<(), PrivateDbError>;
    fn start_again(&mut self) -> Result<(), PrivateDbError>;
}

impl Server for PrivatePostgres {
    fn url(&self) -> String {
        PrivatePostgres::url(self)
    }
    fn crash(&mut self) -> Result<(), PrivateDbError> {
        self.stop_immediate()
    }
    fn start_again(&mut self) -> Result<(), PrivateDbError> {
        PrivatePostgres::start_again(self)
    }
}

impl Server for PrivateMariadb {
    fn url(&self) -> String {
        PrivateMariadb::url(self)
    }
    fn crash(&mut self) -> Result<(), PrivateDbError> {
        self.stop_immediate()
    }
    fn start_again(&mut self) -> Result<(), PrivateDbError> {
        PrivateMariadb::start_again(self)
    }
}

/// The server, or `None` (said loudly) when its programs are not installed; a failure when
/// `VIGIL_REQUIRE_DBS=1`, as in `scripts/test`.
fn private<S>(start: fn() -> Result<S, PrivateDbError>) -> Option<S> {
    match start() {
        Ok(s) => Some(s),
        Err(e @ PrivateDbError::Missing { .. })
            if std::env::var("VIGIL_REQUIRE_DBS").as_deref() != Ok("1") =>
        {
            eprintln!("*** SKIPPED: no private database server: {e}");
            None
        }
        Err(e) => panic!("starting a private database server: {e:?}"),
    }
}

/// The seconds a request waits for a connection before the API answers 503.
const CONNECT_TIMEOUT: u64 = 2;

struct Rig {
    _dir: tempfile::TempDir,
    _vigil: Vigil,
    base: String,
    http: reqwest::Client,
}

impl Rig {
    fn start(db: &dyn Server) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let url = db.url();
        let timeout = CONNECT_TIMEOUT.to_string();
        let vars = [
            ("VIGIL_DATABASE__URL", url.as_str()),
            ("VIGIL_DATABASE__CONNECT_TIMEOUT", timeout.as_str()),
        ];
        succeeded(
            std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
                .args(["db", "sync"])
                .envs(vars),
            "vigil db sync",
        );
        let vigil = Vigil::start_with_env("api", &dir.path().join("data"), &[], &vars);
        Rig {
            base: vigil.url(),
            _dir: dir,
            _vigil: vigil,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// A request's status and JSON body (`null` when there is none).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}/v1{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .expect("an answer, not a hang or a dropped connection");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Reports a VM of its own failed on `node-1`; distinct reports are never duplicates.
    async fn report(&self) -> (StatusCode, Value) {
        let body = report_body();
        self.call(reqwest::Method::POST, "/notifications", Some(&body))
            .await
    }

    async fn wait_serving(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (status, _) = self.get("/segments").await;
            if status == StatusCode::OK {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still {status} {within:?} after the server came back"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn report_body() -> Value {
    json!({"notification": {"type": "VM", "hostname": "node-1",
        "generated_time": "2026-12-01T10:00:00.000000",
        "payload": {"event": "LIFECYCLE", "instance_uuid": uuid::Uuid::new_v4().to_string(),
            "vir_domain_event": "STOPPED_FAILED"}}})
}

/// The answer is 503 with the fault body, and came within the connect timeout and a margin.
fn assert_unavailable(what: &str, asked: Instant, status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["serviceUnavailable"]["code"], 503, "{what}: {body}");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(CONNECT_TIMEOUT + 5),
        "{what}: 503 only after {took:?}"
    );
}

async fn outage_and_recovery(mut db: Box<dyn Server>) {
    let rig = Rig::start(db.as_ref());
    let (status, seg) = rig
        .call(
            reqwest::Method::POST,
            "/segments",
            Some(
                &json!({"segment": {"name": "outage", "recovery_method": "auto",
                "service_type": "COMPUTE"}}),
            ),
        )
        .await;
    assert!(status.is_success(), "{status} {seg}");
    let sid = seg["segment"]["uuid"].as_str().unwrap().to_owned();
    let (status, host) = rig
        .call(
            reqwest::Method::POST,
            &format!("/segments/{sid}/hosts"),
            Some(&json!({"host": {"name": "node-1", "type": "COMPUTE",
                "control_attributes": "SSH"}})),
        )
        .await;
    assert!(status.is_success(), "{status} {host}");
    let (status, before) = rig.report().await;
    assert_eq!(status, StatusCode::ACCEPTED, "{before}");

    // Down: reads and writes alike get 503, promptly; nothing is acknowledged.
    db.crash().unwrap();
    for path in [
        "/segments",
        "/notifications",
        &format!("/segments/{sid}/hosts"),
    ] {
        let asked = Instant::now();
        let (status, body) = rig.get(path).await;
        assert_unavailable(path, asked, status, &body);
    }
    let asked = Instant::now();
    let (status, body) = rig.report().await;
    assert_unavailable("a report", asked, status, &body);

    // Back: served again without a restart of Vigil, and the refused report was not stored.
    db.start_again().unwrap();
    rig.wait_serving(Duration::from_secs(60)).await;
    let (status, after) = rig.report().await;
    assert_eq!(status, StatusCode::ACCEPTED, "{after}");
    let (_, list) = rig.get("/notifications").await;
    let stored: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notification_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), 2, "{list}");
    for n in [&before, &after] {
        assert!(stored.contains(&n["notification"]["notification_uuid"].as_str().unwrap()));
    }

    // A crash while reports stream in: every one answered 202 is stored.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(0usize));
    let rig = Arc::new(rig);
    let stream = {
        let (rig, acked, refused) = (rig.clone(), acked.clone(), refused.clone());
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(8);
            while Instant::now() < until {
                let (status, body) = rig.report().await;
                match status {
                    StatusCode::ACCEPTED => acked.lock().unwrap().push(
                        body["notification"]["notification_uuid"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    ),
                    StatusCode::SERVICE_UNAVAILABLE => *refused.lock().unwrap() += 1,
                    other => panic!("a report during a crash: {other} {body}"),
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = tokio::task::spawn_blocking(move || {
        db.crash().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        db.start_again().unwrap();
        db
    })
    .await
    .unwrap();
    stream.await.unwrap();
    rig.wait_serving(Duration::from_secs(60)).await;
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no report was accepted");
    assert!(*refused.lock().unwrap() > 0, "the crash refused no report");
    for id in &acked {
        let (status, body) = rig.get(&format!("/notifications/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged report {id} is lost: {body}"
        );
    }
    eprintln!(
        "{} reports acknowledged and stored, {} refused with 503 during the crash",
        acked.len(),
        refused.lock().unwrap()
    );
    drop(db);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_outage_is_503_and_loses_no_report() {
    let Some(db) = tokio::task::spawn_blocking(|| private(PrivatePostgres::start))
        .await
        .unwrap()
    else {
        return;
    };
    outage_and_recovery(Box::new(db)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_outage_is_503_and_loses_no_report() {
    let Some(db) = tokio::task::spawn_blocking(|| private(PrivateMariadb::start))
        .await
        .unwrap()
    else {
        return;
    };
    outage_and_recovery(Box::new(db)).await;
}
