//! Per-client limits of the JSON-RPC server: who the client is (its IP
//! address, carried to every method as the [`ClientIp`] extension) and how
//! many calls per second it may make ([`RateLimiter`], a token bucket per
//! client).
//!
//! The budget is charged per call, so a batch of 100 costs 100 and a
//! WebSocket connection pays for each message. An HTTP request that arrives
//! with an empty budget is answered `429 Too Many Requests` (with
//! `Retry-After`) before its body is read; a call over budget inside a batch
//! or on a WebSocket gets the JSON-RPC error `-32005` (EIP-1474's "limit
//! exceeded"). IPv6 clients are grouped by their /64, the smallest block one
//! subscriber is usually given, so one host cannot multiply its budget by
//! picking fresh addresses.

use super::gate::CallCheck;
use jsonrpsee::server::{HttpBody, HttpResponse};
use jsonrpsee::types::ErrorObjectOwned;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

/// JSON-RPC code of a call refused for exceeding the client's rate limit.
pub const RATE_LIMITED_CODE: i32 = -32005;
/// Clients tracked before full (idle) buckets are forgotten.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The address of the client that sent a request, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The key budgets are kept under: the address itself for IPv4, its /64 for IPv6.
    fn bucket_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per client: `per_second` calls refill each second, up to `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter granting each client `per_second` calls a second and bursts of
    /// up to `burst` (at least `per_second`); `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Arc<Self>> {
        (per_second > 0)
            .then(|| Arc::new(Self { per_second, burst: burst.max(per_second), buckets: Mutex::new(HashMap::new()) }))
    }

    /// The message of a refusal.
    pub fn message(&self) -> String {
        format!("rate limit exceeded: {} requests per second per client", self.per_second)
    }

    /// The JSON-RPC error of a refused call.
    pub fn error(&self) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(RATE_LIMITED_CODE, self.message(), None::<()>)
    }

    /// Take up to `wanted` calls from `client`'s budget at `now`; how many were granted.
    pub fn take(&self, client: ClientIp, wanted: usize, now: Instant) -> usize {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_TRACKED_CLIENTS {
            // A full bucket is the state of a client never seen: forgetting it changes nothing.
            let (rate, burst) = (f64::from(self.per_second), f64::from(self.burst));
            buckets.retain(|_, b| refilled(b, now, rate, burst) < burst);
        }
        let bucket =
            buckets.entry(client.bucket_key()).or_insert(Bucket { tokens: f64::from(self.burst), updated: now });
        bucket.tokens = refilled(bucket, now, f64::from(self.per_second), f64::from(self.burst));
        bucket.updated = now;
        let granted = (bucket.tokens.floor().max(0.0) as usize).min(wanted);
        bucket.tokens -= granted as f64;
        granted
    }

    /// Whether `client` has no call left at `now` (the budget is not charged).
    pub fn exhausted(&self, client: ClientIp, now: Instant) -> bool {
        let buckets = self.buckets.lock();
        buckets
            .get(&client.bucket_key())
            .is_some_and(|b| refilled(b, now, f64::from(self.per_second), f64::from(self.burst)) < 1.0)
    }

    /// The `429 Too Many Requests` answer to an HTTP request from a client with no budget left.
    pub fn too_many_requests(&self) -> HttpResponse {
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": RATE_LIMITED_CODE, "message": self.message() },
        });
        let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
        *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        response
    }
}

/// `bucket`'s tokens after refilling at `rate` per second up to `burst` until `now`.
fn refilled(bucket: &Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(burst)
}

/// Charges every call to its client's budget and refuses calls over it
/// (calls without a known client, as in-process ones, are not charged).
#[derive(Clone)]
pub(super) struct RateLimitCheck(pub(super) Option<Arc<RateLimiter>>);

impl RateLimitCheck {
    fn charge(&self, extensions: &jsonrpsee::Extensions) -> Option<&RateLimiter> {
        let limiter = self.0.as_deref()?;
        let client = *extensions.get::<ClientIp>()?;
        (limiter.take(client, 1, Instant::now()) == 0).then_some(limiter)
    }
}

impl CallCheck for RateLimitCheck {
    fn refuse(&self, _: &str, extensions: &jsonrpsee::Extensions) -> Option<ErrorObjectOwned> {
        self.charge(extensions).map(RateLimiter::error)
    }

    fn notified(&self, extensions: &jsonrpsee::Extensions) {
        // A notification is charged all the same.
        self.charge(extensions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_client_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let limiter = RateLimiter::new(10, 20).expect("limited");
        let (a, b) = (ClientIp("10.0.0.1".parse().unwrap()), ClientIp("10.0.0.2".parse().unwrap()));
        let t0 = Instant::now();
        assert_eq!(limiter.take(a, 15, t0), 15);
        assert_eq!(limiter.take(a, 15, t0), 5, "the burst is 20");
        assert!(limiter.exhausted(a, t0));
        assert_eq!(limiter.take(a, 1, t0), 0);
        assert!(!limiter.exhausted(b, t0), "another client has its own budget");
        assert_eq!(limiter.take(b, 1, t0), 1);
        // Half a second refills five calls.
        let later = t0 + Duration::from_millis(500);
        assert!(!limiter.exhausted(a, later));
        assert_eq!(limiter.take(a, 100, later), 5);
        // Never more than the burst, however long the client was idle.
        assert_eq!(limiter.take(a, 100, later + Duration::from_secs(3600)), 20);
        assert!(RateLimiter::new(0, 100).is_none(), "0 means no limit");
        assert_eq!(limiter.message(), "rate limit exceeded: 10 requests per second per client");
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64_and_mapped_ipv4_is_ipv4() {
        let limiter = RateLimiter::new(1, 1).expect("limited");
        let t0 = Instant::now();
        let first = ClientIp("2001:db8:1:2::1".parse().unwrap());
        let same_64 = ClientIp("2001:db8:1:2:ffff::9".parse().unwrap());
        let other_64 = ClientIp("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(limiter.take(first, 1, t0), 1);
        assert_eq!(limiter.take(same_64, 1, t0), 0, "same /64, same budget");
        assert_eq!(limiter.take(other_64, 1, t0), 1);
        let v4 = ClientIp("192.0.2.7".parse().unwrap());
        let mapped = ClientIp("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(limiter.take(v4, 1, t0), 1);
        assert_eq!(limiter.take(mapped, 1, t0), 0);
    }

    #[test]
    fn idle_clients_are_forgotten_when_many_are_tracked() {
        let limiter = RateLimiter::new(1000, 1000).expect("limited");
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_CLIENTS as u32 {
            limiter.take(ClientIp(IpAddr::V4(i.into())), 1, t0);
        }
        assert_eq!(limiter.buckets.lock().len(), MAX_TRACKED_CLIENTS);
        // A second later every bucket is full again: the next client's arrival clears them.
        limiter.take(ClientIp("203.0.113.1".parse().unwrap()), 1, t0 + Duration::from_secs(1));
        assert_eq!(limiter.buckets.lock().len(), 1);
    }
}
