//! The API over HTTPS: certificates made here (`vigil_lab::pki`, rcgen: a CA, server
//! certificates for 127.0.0.1 and localhost), the real `vigil api`, reqwest and a raw
//! tokio-rustls client, and the real `openstack` CLI. SIGHUP re-reads the certificate: new
//! connections see the new one, a keep-alive connection opened before goes on with the old, a
//! bad file changes nothing.

mod support;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::clients::Clients;
use support::{LogLines, Vigil};
use vigil_lab::pki::Ca;

/// A client of the API's that trusts only `ca`.
trait TrustingClient {
    fn reqwest_client(&self) -> reqwest::Client;
}

impl TrustingClient for Ca {
    fn reqwest_client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.cert.pem().as_bytes()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            .build()
            .unwrap()
    }
}

/// Writes a certificate and key as an operator's tooling would: each file replaced whole.
fn install(dir: &Path, cert_pem: &str, key_pem: &str) {
    for (name, text) in [("api.crt", cert_pem), ("api.key", key_pem)] {
        let new = dir.join(format!("{name}.new"));
        std::fs::write(&new, text).unwrap();
        std::fs::rename(&new, dir.join(name)).unwrap();
    }
}

fn start_https(dir: &Path) -> (Vigil, LogLines) {
    let cert = dir.join("api.crt");
    let key = dir.join("api.key");
    let vars = [
        ("VIGIL_API__TLS_CERT_FILE", cert.to_str().unwrap()),
        ("VIGIL_API__TLS_KEY_FILE", key.to_str().unwrap()),
        // Well beyond the test's length: an idle keep-alive connection is not what is tested.
        ("VIGIL_API__HEADER_READ_TIMEOUT", "300"),
    ];
    Vigil::start_logged("api", &dir.join("data"), &vars)
}

/// An HTTPS Vigil with a certificate of a fresh CA, whose certificate is written to the
/// returned file, as a client's trust store.
fn https_with_ca_file(dir: &Path) -> (Vigil, LogLines, std::path::PathBuf) {
    let ca = Ca::new("vigil test CA");
    let (cert, key) = ca.server("vigil");
    install(dir, &cert.pem(), &key.serialize_pem());
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let (vigil, log) = start_https(dir);
    (vigil, log, ca_file)
}

fn hangup(vigil: &Vigil) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &vigil.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// One HTTP/1.1 connection over TLS, trusting `roots`, kept open between requests.
struct Connection {
    peer_certificate: CertificateDer<'static>,
    sender: hyper::client::conn::http1::SendRequest<String>,
}

impl Connection {
    async fn open(vigil: &Vigil, roots: &[&Ca]) -> Connection {
        let mut store = rustls::RootCertStore::empty();
        for ca in roots {
            store.add(ca.cert.der().clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(vigil.addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let peer_certificate = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        Connection {
            peer_certificate,
            sender,
        }
    }

    /// GET `path` on this connection: the status and the body.
    async fn get(&mut self, path: &str) -> (u16, String) {
        let req = hyper::Request::get(path)
            .header("host", "127.0.0.1")
            .body(String::new())
            .unwrap();
        let resp = self.sender.send_request(req).await.expect("a response");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_certificate_reloads_on_sighup_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (first_ca, second_ca) = (Ca::new("vigil test CA 1"), Ca::new("vigil test CA 2"));
    let (first, first_key) = first_ca.server("vigil-first");
    install(dir.path(), &first.pem(), &first_key.serialize_pem());
    let (vigil, log) = start_https(dir.path());
    let url = format!("https://127.0.0.1:{}", vigil.addr.port());

    let resp = first_ca
        .reqwest_client()
        .get(format!("{url}/v1/segments"))
        .send()
        .await;
    assert_eq!(resp.unwrap().status(), 200);
    // Plain HTTP on the HTTPS port is not served.
    let plain = reqwest::get(format!("http://{}/", vigil.addr)).await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    let mut before = Connection::open(&vigil, &[&first_ca, &second_ca]).await;
    assert_eq!(before.peer_certificate, *first.der());
    let (status, versions) = before.get("/").await;
    assert_eq!(status, 200);
    // Links lead back over HTTPS: a client following them must not fall to plain HTTP.
    assert!(
        versions.contains(r#""href":"https://127.0.0.1/"#),
        "links without https: {versions}"
    );

    // A new certificate from another CA, then SIGHUP.
    let (second, second_key) = second_ca.server("vigil-second");
    install(dir.path(), &second.pem(), &second_key.serialize_pem());
    hangup(&vigil);
    log.wait_for_text(Duration::from_secs(30), "API certificate reloaded");

    let mut after = Connection::open(&vigil, &[&first_ca, &second_ca]).await;
    assert_eq!(after.peer_certificate, *second.der());
    assert_eq!(after.get("/v1/segments").await.0, 200);
    // The connection opened before the reload is still served, under its own certificate.
    let (status, body) = before.get("/v1/segments").await;
    assert_eq!((status, body.as_str()), (200, r#"{"segments":[]}"#));
    // A client trusting only the first CA no longer gets in; one trusting the second does.
    let old_trust = first_ca
        .reqwest_client()
        .get(format!("{url}/"))
        .send()
        .await;
    assert!(old_trust.is_err(), "old CA still accepted: {old_trust:?}");
    let new_trust = second_ca
        .reqwest_client()
        .get(format!("{url}/"))
        .send()
        .await;
    assert_eq!(new_trust.unwrap().status(), 200);

    // A broken file: logged, and the certificate in force stays.
    std::fs::write(dir.path().join("api.crt"), "not a certificate\n").unwrap();
    hangup(&vigil);
    log.wait_for_text(Duration::from_secs(30), "API certificate not reloaded");
    let mut still = Connection::open(&vigil, &[&first_ca, &second_ca]).await;
    assert_eq!(still.peer_certificate, *second.der());
    assert_eq!(still.get("/").await.0, 200);
    assert_eq!(before.get("/").await.0, 200);
}

#[test]
fn a_missing_certificate_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["api", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("VIGIL_API__TLS_CERT_FILE", dir.path().join("none.crt"))
        .env("VIGIL_API__TLS_KEY_FILE", dir.path().join("none.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("none.crt"), "{stderr}");
}

#[test]
fn openstack_cli_over_https_with_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (vigil, _log, ca_file) = https_with_ca_file(dir.path());
    let clients = Clients::for_url(
        &format!("https://127.0.0.1:{}", vigil.addr.port()),
        dir.path(),
    );
    let ca_arg = ca_file.to_str().unwrap();

    let created = clients.osc_json(&[
        "--os-cacert",
        ca_arg,
        "segment",
        "create",
        "seg-tls",
        "auto",
        "COMPUTE",
    ]);
    assert_eq!(created["name"], "seg-tls");
    let list = clients.osc_json(&["--os-cacert", ca_arg, "segment", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Without the CA the client refuses the server: the connection really is verified TLS.
    let out = clients
        .command("openstack")
        .args(["segment", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // keystoneauth reports the refused handshake as a failed version discovery.
    assert!(
        stderr.contains("CERTIFICATE_VERIFY_FAILED") || stderr.contains("version discovery"),
        "{stderr}"
    );
}

/// `[openstack] cafile`: Vigil's own OpenStack session (Keystone, Nova, Placement) trusts the
/// CA file. Pointed at this HTTPS Vigil as its "Keystone", it gets through TLS to an answer;
/// without the CA file it does not get through the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn the_openstack_session_trusts_its_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (vigil, _log, ca_file) = https_with_ca_file(dir.path());
    let credentials = |cafile: Option<&Path>| vigil_openstack::Credentials {
        auth_url: format!("https://127.0.0.1:{}/v3", vigil.addr.port()),
        username: "vigil".into(),
        password: "secret".into(),
        project_name: "service".into(),
        cafile: cafile.map(Path::to_owned),
        ..Default::default()
    };
    let exchange = |e: vigil_openstack::OsError| match e {
        vigil_openstack::OsError::Authenticate { source, .. } => source,
        other => panic!("not an authentication failure: {other}"),
    };

    let trusted = vigil_openstack::Session::new(credentials(Some(&ca_file))).unwrap();
    let answered = exchange(trusted.auth_token().await.unwrap_err());
    assert!(
        matches!(answered, vigil_openstack::Exchange::Status { .. }),
        "{answered:?}"
    );

    let untrusting = vigil_openstack::Session::new(credentials(None)).unwrap();
    let refused = exchange(untrusting.auth_token().await.unwrap_err());
    assert!(
        matches!(refused, vigil_openstack::Exchange::Send(_)),
        "{refused:?}"
    );

    let missing = vigil_openstack::Session::new(credentials(Some(&dir.path().join("none.pem"))));
    assert!(matches!(
        missing,
        Err(vigil_openstack::OsError::CaFile { .. })
    ));
}
