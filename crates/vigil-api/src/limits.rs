//! Limits on what one request or one client can make the API do: the size of a request's
//! headers and each client's request rate. The server (`vigil`'s accept loop) bounds
//! connections and times; what can be answered with a Masakari fault is refused here.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The limits a request is checked against before it is dispatched.
#[derive(Clone)]
pub struct Limits {
    /// Request line and headers together, in bytes, as sent; larger: 431.
    pub max_header_size: usize,
    /// Requests per source address; `None`: unlimited.
    pub client_rate: Option<Arc<ClientRateLimiter>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_size: 32_768,
            client_rate: None,
        }
    }
}

/// A request rate: `per_second` sustained, up to `burst` at once after a quiet spell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// One token bucket per source address (governor's GCRA: no timer task, one atomic per check).
pub struct ClientRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

/// Every this many checks, addresses whose bucket is full again are forgotten, so the table
/// does not grow with every address ever seen.
const FORGET_EVERY: u64 = 4096;

impl ClientRateLimiter {
    pub fn new(rate: ClientRate) -> Self {
        let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok`, or the whole seconds (at least one) until `client` may ask again.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        // An IPv4 client seen through an IPv6 socket is still the one IPv4 client.
        self.limiter
            .check_key(&client.to_canonical())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }
}

/// The fault that refuses `req`, if a limit does.
pub(crate) fn refusal(limits: &Limits, req: &Request) -> Option<Response> {
    let size = header_size(req);
    if size > limits.max_header_size {
        let message = format!(
            "Request headers of {size} bytes exceed the limit of {} bytes.",
            limits.max_header_size
        );
        return Some(
            ApiError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message).into_response(),
        );
    }
    let rate = limits.client_rate.as_ref()?;
    // Requests served without a socket (in-process tests) have no client to limit.
    let ConnectInfo(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>()?;
    let retry_after = rate.check(peer.ip()).err()?;
    // Nova's and Masakari's words for a rate-limited request (an `overLimit` fault).
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "This request was rate-limited.",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    Some(resp)
}

/// The bytes of the request line and headers as sent on HTTP/1.1 (`name: value\r\n` each).
fn header_size(req: &Request) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let request_line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + headers + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(header_bytes: usize) -> Request {
        let mut req = Request::builder()
            .uri("/v1/segments")
            .header("x-pad", "a".repeat(header_bytes))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
        req
    }

    #[test]
    fn headers_are_counted_as_sent_and_refused_over_the_limit() {
        // "GET /v1/segments HTTP/1.1\r\n" + "x-pad: aaaa\r\n" + "\r\n"
        assert_eq!(header_size(&request(4)), 27 + 13 + 2);
        let limits = Limits {
            max_header_size: 42,
            client_rate: None,
        };
        assert!(refusal(&limits, &request(4)).is_none());
        let refused = refusal(&limits, &request(5)).expect("one byte over");
        assert_eq!(
            refused.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn a_client_over_its_burst_waits_and_others_do_not() {
        let rate = ClientRate {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(2).unwrap(),
        };
        let limiter = ClientRateLimiter::new(rate);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert_eq!(limiter.check(a), Ok(()));
        assert_eq!(limiter.check(a), Ok(()));
        assert_eq!(limiter.check(a), Err(1));
        assert_eq!(limiter.check(b), Ok(()));
        // The same client through an IPv6 socket.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(limiter.check(mapped), Err(1));
    }

    #[test]
    fn a_refused_request_gets_an_over_limit_fault_and_retry_after() {
        let rate = ClientRate {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(1).unwrap(),
        };
        let limits = Limits {
            max_header_size: 32_768,
            client_rate: Some(Arc::new(ClientRateLimiter::new(rate))),
        };
        assert!(refusal(&limits, &request(1)).is_none());
        let refused = refusal(&limits, &request(1)).expect("over the rate");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    }
}
