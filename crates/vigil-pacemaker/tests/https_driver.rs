//! The alerter's HTTPS driver against a real TLS endpoint (tokio-rustls and hyper, certificates
//! made here by rcgen) that, like a production one, wants a client certificate of its own CA:
//! what it receives, what counts as accepted, and that nothing is delivered without trust in
//! the server or without the client certificate.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_domain::Timestamp;
use vigil_lab::pki::Ca;
use vigil_pacemaker::https::{report, Failure, HttpsConfig, HttpsDriver, HttpsError};

/// The files an operator would give the alerter.
struct Pki {
    dir: tempfile::TempDir,
    server: rustls::ServerConfig,
}

impl Pki {
    /// A server CA (its certificate in `ca.pem`), a client CA the endpoint trusts, and a
    /// client certificate of it (`client.pem`, `client.key`).
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let server_ca = Ca::new("endpoint CA");
        let client_ca = Ca::new("alerter CA");
        let (server_cert, server_key) = server_ca.server("endpoint");
        let (client_cert, client_key) = client_ca.client("alerter");
        std::fs::write(dir.path().join("ca.pem"), server_ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("client.pem"), client_cert.pem()).unwrap();
        std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server_cert.der().clone()], key)
            .unwrap();
        Pki { dir, server }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The configuration of an alerter that has every credential.
    fn config(&self, url: &str) -> HttpsConfig {
        HttpsConfig {
            url: url.to_owned(),
            ca_file: Some(self.path("ca.pem")),
            bearer_token: Some("s3cret".into()),
            client_cert: Some(self.path("client.pem")),
            client_key: Some(self.path("client.key")),
            on_shared_storage: true,
            timeout: Duration::from_secs(10),
            ..HttpsConfig::default()
        }
    }
}

/// What the endpoint received, one request.
#[derive(Debug)]
struct Received {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: serde_json::Value,
}

/// An HTTPS endpoint answering each request with the next of `statuses` (then 202).
struct Endpoint {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Endpoint {
    async fn start(pki: &Pki, statuses: &[u16]) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://{}/hooks/host-failure",
            listener.local_addr().unwrap()
        );
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server.clone()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<_>>(),
        ));
        let task = tokio::spawn({
            let received = received.clone();
            async move {
                loop {
                    let (tcp, _) = listener.accept().await.unwrap();
                    // A handshake refused (no client certificate, an untrusted server) is the
                    // client's failure to see; the endpoint goes on.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        continue;
                    };
                    let received = received.clone();
                    let statuses = statuses.clone();
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let received = received.clone();
                        let statuses = statuses.clone();
                        async move { answer(req, &received, &statuses).await }
                    });
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service),
                    );
                }
            }
        });
        Endpoint {
            url,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }
}

async fn answer(
    req: Request<Incoming>,
    received: &Mutex<Vec<Received>>,
    statuses: &Mutex<VecDeque<u16>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let bytes = body.collect().await?.to_bytes();
    received.lock().unwrap().push(Received {
        path: parts.uri.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    });
    let status = statuses.lock().unwrap().pop_front().unwrap_or(202);
    Ok(Response::builder()
        .status(status)
        .header("location", "/hooks/elsewhere")
        .body(Full::new(Bytes::from(format!("answered {status}\n"))))
        .unwrap())
}

fn failure() -> Failure {
    Failure {
        id: uuid::Uuid::new_v4(),
        at: Timestamp::now(),
    }
}

#[tokio::test]
async fn the_endpoint_receives_the_report_with_token_and_client_certificate() {
    let pki = Pki::new();
    let endpoint = Endpoint::start(&pki, &[]).await;
    let driver = HttpsDriver::new(&pki.config(&endpoint.url)).unwrap();
    let f = failure();
    driver.deliver("compute-1.example.org", f).await.unwrap();

    let received = endpoint.received.lock().unwrap();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    assert_eq!(r.path, "/hooks/host-failure");
    assert_eq!(r.authorization.as_deref(), Some("Bearer s3cret"));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(r.body, report("compute-1.example.org", f, true));
    assert_eq!(r.body["payload"]["on_shared_storage"], true);
}

#[tokio::test]
async fn a_refusal_is_an_error_to_retry_and_409_counts_as_delivered() {
    let pki = Pki::new();
    let endpoint = Endpoint::start(&pki, &[503, 400, 307, 409]).await;
    let driver = HttpsDriver::new(&pki.config(&endpoint.url)).unwrap();
    let f = failure();
    for want in [503, 400, 307] {
        match driver.deliver("compute-1", f).await {
            Err(HttpsError::Refused { status, body, .. }) => {
                assert_eq!(status, want);
                assert_eq!(body, format!("answered {want}"));
            }
            other => panic!("answered {want}: {other:?}"),
        }
    }
    // The endpoint has it already: delivered.
    driver.deliver("compute-1", f).await.unwrap();
    driver.deliver("compute-1", f).await.unwrap();
    // Every attempt was the same report (its id too), and the 307 was not followed.
    let received = endpoint.received();
    assert_eq!(received.len(), 5);
    assert!(received.iter().all(|b| *b == received[0]), "{received:?}");
}

#[tokio::test]
async fn nothing_is_delivered_without_the_client_certificate_or_trust_in_the_server() {
    let pki = Pki::new();
    let endpoint = Endpoint::start(&pki, &[]).await;
    let full = pki.config(&endpoint.url);
    let without_cert = HttpsConfig {
        client_cert: None,
        client_key: None,
        ..full.clone()
    };
    let without_ca = HttpsConfig {
        ca_file: None,
        ..full.clone()
    };
    for (what, config) in [
        ("no client certificate", without_cert),
        ("no CA", without_ca),
    ] {
        let driver = HttpsDriver::new(&config).unwrap();
        let err = driver.deliver("compute-1", failure()).await.unwrap_err();
        assert!(matches!(err, HttpsError::Send { .. }), "{what}: {err:?}");
    }
    assert!(endpoint.received().is_empty());

    // `insecure` trusts any server, but the client certificate is still needed.
    let insecure = HttpsConfig {
        ca_file: None,
        insecure: true,
        ..full
    };
    let driver = HttpsDriver::new(&insecure).unwrap();
    driver.deliver("compute-1", failure()).await.unwrap();
    assert_eq!(endpoint.received().len(), 1);
}

#[tokio::test]
async fn bad_client_credentials_are_refused_before_anything_is_sent() {
    let pki = Pki::new();
    let full = pki.config("https://127.0.0.1:9/");
    let junk = pki.path("junk.pem");
    std::fs::write(&junk, "not PEM at all").unwrap();
    // What is wrong, the configuration, and the error it must give.
    type Case = (&'static str, HttpsConfig, fn(&HttpsError) -> bool);
    let cases: [Case; 3] = [
        (
            "a key without a certificate",
            HttpsConfig {
                client_cert: None,
                ..full.clone()
            },
            |e| matches!(e, HttpsError::KeyWithoutCert),
        ),
        (
            "a missing key file",
            HttpsConfig {
                client_key: Some(pki.path("absent.key")),
                ..full.clone()
            },
            |e| matches!(e, HttpsError::ReadIdentity { path, .. } if path.ends_with("absent.key")),
        ),
        (
            "a key that is not PEM",
            HttpsConfig {
                client_key: Some(junk),
                ..full.clone()
            },
            |e| matches!(e, HttpsError::Identity { .. }),
        ),
    ];
    for (what, config, expected) in cases {
        match HttpsDriver::new(&config) {
            Err(e) => assert!(expected(&e), "{what}: {e:?}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
    // The certificate and key in one file, as many tools write them, do as well.
    let both = pki.path("both.pem");
    let mut pem = std::fs::read(pki.path("client.pem")).unwrap();
    pem.extend(std::fs::read(pki.path("client.key")).unwrap());
    std::fs::write(&both, pem).unwrap();
    let one_file = HttpsConfig {
        client_cert: Some(both),
        client_key: None,
        ..full
    };
    assert!(HttpsDriver::new(&one_file).is_ok());
}
