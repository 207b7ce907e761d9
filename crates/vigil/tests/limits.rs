//! What a client cannot make the real `vigil api` do: send oversized headers, hold a
//! connection by sending its request slowly or not at all, exceed its request rate, or open
//! more connections than configured. Refusals that can be answered carry Masakari's fault.

mod support;

use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::Vigil;

fn start(vars: &[(&str, &str)]) -> (tempfile::TempDir, Vigil) {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start_with_env("api", &dir.path().join("data"), &[], vars);
    (dir, vigil)
}

/// One response read off a raw connection: status and body (by Content-Length).
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("reading a response head");
        assert_eq!(
            n,
            1,
            "connection closed mid-head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: vigil\r\n\r\n";

/// Waits (up to `within`) for the server to close `stream`; how long that took.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed within {within:?} ({e}); read {rest:?}"),
    }
    started.elapsed()
}

#[tokio::test]
async fn oversized_headers_get_431_with_a_fault() {
    let (_dir, vigil) = start(&[("VIGIL_API__MAX_HEADER_SIZE", "4096")]);
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{}/v1/segments", vigil.url()))
        .header("x-pad", "a".repeat(3000))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let refused = http
        .get(format!("{}/v1/segments", vigil.url()))
        .header("x-pad", "a".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 431);
    let fault: Value = refused.json().await.unwrap();
    assert_eq!(fault["masakariFault"]["code"], 431, "{fault}");
    assert!(
        fault["masakariFault"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 4096 bytes"),
        "{fault}"
    );

    // Far beyond the limit hyper stops reading: a bare 431, or the connection closed.
    let mut stream = TcpStream::connect(vigil.addr).unwrap();
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: vigil\r\nx-pad: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
}

#[test]
fn a_slow_client_is_disconnected_after_the_header_timeout() {
    let (_dir, vigil) = start(&[("VIGIL_API__HEADER_READ_TIMEOUT", "1")]);

    // Slow loris: a partial request line, then nothing.
    let mut slow = TcpStream::connect(vigil.addr).unwrap();
    slow.write_all(b"GET /v1/segm").unwrap();
    let waited = closed_within(&mut slow, Duration::from_secs(30));
    assert!(
        waited >= Duration::from_millis(500),
        "closed after {waited:?}"
    );

    // An idle keep-alive connection goes the same way after its response.
    let mut idle = TcpStream::connect(vigil.addr).unwrap();
    idle.write_all(GET_ROOT).unwrap();
    assert_eq!(read_response(&mut idle).0, 200);
    closed_within(&mut idle, Duration::from_secs(30));

    // The listener itself is unharmed.
    let mut fresh = TcpStream::connect(vigil.addr).unwrap();
    fresh.write_all(GET_ROOT).unwrap();
    assert_eq!(read_response(&mut fresh).0, 200);
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after_then_is_served_again() {
    let (_dir, vigil) = start(&[
        ("VIGIL_API__CLIENT_RATE_LIMIT", "1"),
        ("VIGIL_API__CLIENT_RATE_BURST", "3"),
    ]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/segments", vigil.url());
    for _ in 0..3 {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    let fault: Value = refused.json().await.unwrap();
    assert_eq!(
        fault,
        serde_json::json!({"overLimit": {"code": 429, "message": "This request was rate-limited."}})
    );
    // Waiting as told is enough.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let (_dir, vigil) = start(&[("VIGIL_API__MAX_CONNECTIONS", "1")]);
    let mut first = TcpStream::connect(vigil.addr).unwrap();
    first.write_all(GET_ROOT).unwrap();
    assert_eq!(read_response(&mut first).0, 200);

    // The kernel completes the second connection (the backlog), but Vigil does not serve it
    // while the first is open.
    let mut second = TcpStream::connect(vigil.addr).unwrap();
    second.write_all(GET_ROOT).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waiting = second.read(&mut byte);
    assert!(
        matches!(&waiting, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "served beyond the limit: {waiting:?}"
    );

    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(read_response(&mut second).0, 200);
}
