//! The client against a small HTTP(S) server that records each request and answers from a
//! script: the report's URL, headers and body; refusals kept whole; no answer; Keystone with
//! an application credential and the catalog; TLS with a CA file.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use vigil_client::{AuthMode, Client, ClientConfig, ClientError};
use vigil_domain::{Classify, ErrorClass, NotificationType, Timestamp};
use vigil_openstack::tls::CaFileError;
use vigil_wire::CreateNotification;

/// A request as the server saw it; header names in lower case.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// Status, extra headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);
type Script = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(script: Script, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (script, log, tls) = (script.clone(), log.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // A client that does not trust us ends the handshake: no request.
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve_one(stream, &script, &log).await;
                            }
                        }
                        None => serve_one(tcp, &script, &log).await,
                    }
                });
            }
        });
        Server {
            url: format!("{scheme}://{addr}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request, answers it, closes the connection.
async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    script: &Script,
    log: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap().split(' ');
    let (method, path) = (
        first.next().unwrap().to_owned(),
        first.next().unwrap().to_owned(),
    );
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    let seen = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    };
    let (status, extra, body) = script(&seen);
    log.lock().unwrap().push(seen);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    stream.write_all(out.as_bytes()).await.unwrap();
    let _ = stream.shutdown().await;
}

fn report() -> CreateNotification {
    let payload = json!({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"});
    CreateNotification {
        notification_type: NotificationType::ComputeHost,
        hostname: "compute-1".into(),
        generated_time: Timestamp::from_micros(1_700_000_000_123_456),
        payload: payload.as_object().unwrap().clone(),
    }
}

/// The body Vigil answers a report with.
fn stored(report: &Value) -> String {
    let n = &report["notification"];
    json!({"notification": {
        "id": 1, "notification_uuid": "0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9",
        "generated_time": n["generated_time"], "source_host_uuid": "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e",
        "type": n["type"], "payload": n["payload"], "status": "new",
        "failover_segment_uuid": "9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c", "message": null,
        "created_at": "2023-11-14T22:13:20.000000", "updated_at": null, "deleted_at": null,
        "deleted": false}})
    .to_string()
}

fn noauth(url: &str) -> ClientConfig {
    ClientConfig {
        url: format!("{url}/v1"),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn a_report_goes_to_the_project_url_with_the_microversion_and_token() {
    let server = Server::start(
        Arc::new(|s: &Seen| (202, vec![], stored(&serde_json::from_str(&s.body).unwrap()))),
        None,
    )
    .await;
    let config = ClientConfig {
        project_id: "8e2c55b3c0e84c1b9b3d1c4c1ad2e9f0".into(),
        token: "admin:admin".into(),
        ..noauth(&server.url)
    };
    let client = Client::from_config(&config).unwrap();
    let stored = client.create_notification(&report()).await.unwrap();
    assert_eq!(stored.payload, report().payload);

    let seen = &server.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.path,
        "/v1/8e2c55b3c0e84c1b9b3d1c4c1ad2e9f0/notifications"
    );
    assert_eq!(seen.headers["openstack-api-version"], "instance-ha 1.0");
    assert_eq!(seen.headers["x-auth-token"], "admin:admin");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&seen.body).unwrap(),
        json!({"notification": {"type": "COMPUTE_HOST", "hostname": "compute-1",
            "generated_time": "2023-11-14T22:13:20.123456",
            "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}})
    );

    // Without a project or a token: neither in the request.
    let client = Client::from_config(&noauth(&server.url)).unwrap();
    client.create_notification(&report()).await.unwrap();
    let seen = &server.seen()[1];
    assert_eq!(seen.path, "/v1/notifications");
    assert!(!seen.headers.contains_key("x-auth-token"));
}

#[tokio::test]
async fn refusals_keep_their_status_and_whole_body() {
    let duplicate = r#"{"conflictingRequest": {"code": 409, "message": "Notification received from host compute-1 of type COMPUTE_HOST is duplicate."}}"#;
    let unknown = r#"{"badRequest": {"code": 400, "message": "Host with name compute-1 could not be found."}}"#;
    let answers = Arc::new(Mutex::new(vec![
        (503, "Service Unavailable".to_owned()),
        (400, unknown.to_owned()),
        (409, duplicate.to_owned()),
    ]));
    let server = Server::start(
        Arc::new(move |_: &Seen| {
            let (status, body) = answers.lock().unwrap().pop().unwrap();
            (status, vec![], body)
        }),
        None,
    )
    .await;
    let client = Client::from_config(&noauth(&server.url)).unwrap();

    let e = client.create_notification(&report()).await.unwrap_err();
    assert!(e.is_duplicate());
    assert_eq!(e.answered(), Some((409, duplicate)));
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "POST {}/v1/notifications answered 409: Notification received from host compute-1 of type COMPUTE_HOST is duplicate.",
            server.url
        )
    );

    let e = client.create_notification(&report()).await.unwrap_err();
    assert!(!e.is_duplicate());
    assert_eq!(e.answered(), Some((400, unknown)));
    assert_eq!(e.class(), ErrorClass::Fatal);

    let e = client.create_notification(&report()).await.unwrap_err();
    assert_eq!(e.answered(), Some((503, "Service Unavailable")));
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn no_answer_is_an_error_without_a_status() {
    // A port nothing listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::from_config(&noauth(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = client.create_notification(&report()).await.unwrap_err();
    assert!(matches!(e, ClientError::Send { .. }), "{e}");
    assert_eq!(e.answered(), None);
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(matches!(
        Client::from_config(&ClientConfig::default()),
        Err(ClientError::NoUrl)
    ));
}

#[tokio::test]
async fn keystone_gives_the_token_and_the_catalog_the_address() {
    let server = Server::start(
        Arc::new(|s: &Seen| match (s.method.as_str(), s.path.as_str()) {
            ("POST", "/v3/auth/tokens") => {
                let auth: Value = serde_json::from_str(&s.body).unwrap();
                let method = auth["auth"]["identity"]["methods"][0].clone();
                assert_eq!(method, "application_credential");
                let host = &s.headers["host"];
                let token = json!({"token": {"expires_at": "2099-01-01T00:00:00Z", "catalog": [
                    {"type": "instance-ha", "endpoints": [{"interface": "public",
                        "region_id": "RegionOne", "url": format!("http://{host}/v1/p1")}]}]}});
                (
                    201,
                    vec![("X-Subject-Token", "t0k".into())],
                    token.to_string(),
                )
            }
            ("POST", "/v1/p1/notifications") if s.headers["x-auth-token"] == "t0k" => {
                (202, vec![], stored(&serde_json::from_str(&s.body).unwrap()))
            }
            _ => (401, vec![], "{}".into()),
        }),
        None,
    )
    .await;
    let config = ClientConfig {
        auth: AuthMode::Keystone,
        openstack: vigil_openstack::Credentials {
            auth_url: format!("{}/v3", server.url),
            application_credential_id: "ac1".into(),
            application_credential_secret: "s3cret".into(),
            ..Default::default()
        },
        ..ClientConfig::default()
    };
    let client = Client::from_config(&config).unwrap();
    client.create_notification(&report()).await.unwrap();
    let paths: Vec<_> = server.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/v3/auth/tokens", "/v1/p1/notifications"]);
    assert_eq!(
        server.seen()[1].headers["openstack-api-version"],
        "instance-ha 1.0"
    );
}

#[tokio::test]
async fn tls_is_trusted_with_the_ca_file_and_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let acceptor = tls_acceptor(dir.path());
    let server = Server::start(
        Arc::new(|s: &Seen| (202, vec![], stored(&serde_json::from_str(&s.body).unwrap()))),
        Some(acceptor),
    )
    .await;
    let trusting = ClientConfig {
        ca_file: Some(dir.path().join("ca.pem")),
        ..noauth(&server.url)
    };
    Client::from_config(&trusting)
        .unwrap()
        .create_notification(&report())
        .await
        .unwrap();
    let e = Client::from_config(&noauth(&server.url))
        .unwrap()
        .create_notification(&report())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Send { .. }), "{e}");
    assert_eq!(server.seen().len(), 1);

    std::fs::write(dir.path().join("junk.pem"), "not a certificate").unwrap();
    let junk = ClientConfig {
        ca_file: Some(dir.path().join("junk.pem")),
        ..noauth(&server.url)
    };
    let e = Client::from_config(&junk).err().unwrap();
    assert!(
        matches!(e, ClientError::Ca(CaFileError::Empty { .. })),
        "{e}"
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl tool.
fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n[dn]\nCN = vigil test CA\n\
         [ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509", "-config", "ca.cnf"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
        ]
        .concat(),
        [
            &["req", "-new", "-subj", "/CN=localhost"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ] {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("the openssl tool makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_file(dir.join("server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
