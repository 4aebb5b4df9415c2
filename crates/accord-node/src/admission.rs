//! Admission: how much request body a node holds in memory at once.
//!
//! Most routes read their whole body before the handler looks at who is calling (a
//! bulk rewrap, a batch of objects, a seal plan), and the TLS layer admits clients
//! without a certificate because `/health` and `/log/` are public. Without a bound,
//! anyone who can reach the port could open many connections and streams, each
//! sending a body up to [`crate::wire::MAX_BODY`], and have the node hold gigabytes at
//! once until it is killed: the KAS down, requests in flight lost.
//!
//! So every buffered body first claims its size (its `Content-Length`, or the route's
//! limit when it has none) from one budget shared by the whole node
//! ([`Admission::budget`], 256 MiB by default), and gives it back when its answer is
//! made. A request that cannot have its claim within [`Admission::wait`] is answered
//! `503` with `Retry-After`, before a byte of its body is read. Streamed routes (an
//! object upload, a partner's delivery) write to disk as they read and are bounded by
//! the disk reserve instead ([`crate::disk`]).

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The admission settings of a running node.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Bytes of request bodies held in memory at once, all requests together.
    pub budget: usize,
    /// How long a request waits for its claim before it is answered 503.
    pub wait: Duration,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            budget: 256 << 20,
            wait: Duration::from_secs(10),
        }
    }
}

/// Claims are counted in KiB, so that the budget fits a semaphore's permits.
const UNIT: usize = 1024;

/// The shared budget, as the middleware's state.
#[derive(Clone)]
pub struct Budget {
    permits: Arc<Semaphore>,
    units: usize,
    wait: Duration,
}

impl Budget {
    /// A budget of `a.budget` bytes.
    pub fn new(a: &Admission) -> Budget {
        let units = (a.budget / UNIT).max(1);
        Budget {
            permits: Arc::new(Semaphore::new(units)),
            units,
            wait: a.wait,
        }
    }
}

/// The middleware: claim the body's size from the budget (at most `limit` bytes, the
/// route's body limit), hold it while the request is answered.
pub async fn claim(
    State((budget, limit)): State<(Budget, usize)>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = match declared {
        // Over the route's limit: the body limit answers 413 without reading it.
        Some(n) if n > limit as u64 => return next.run(req).await,
        Some(n) => n as usize,
        None => limit,
    };
    if bytes == 0 {
        return next.run(req).await;
    }
    let units = bytes.div_ceil(UNIT).min(budget.units) as u32;
    let permit = match tokio::time::timeout(
        budget.wait,
        budget.permits.clone().acquire_many_owned(units),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => return busy(),
    };
    let response = next.run(req).await;
    drop(permit);
    response
}

fn busy() -> Response {
    let text =
        "the node is busy: it holds as much request data as it takes at once; try again shortly";
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(crate::wire::Problem {
            error: text.into(),
            reasons: vec![crate::wire::Reason::new("request", text)],
        }),
    )
        .into_response()
}

/// Audit entries for refusals of callers the node does not recognise (a certificate
/// no credential or agreement names). Each is an accountable decision and is logged,
/// but such a caller can make a new certificate for every request, and each entry is
/// a durable write to a log that is kept forever. So they are rate-limited: a burst of
/// [`StrangerLog::BURST`], then [`StrangerLog::PER_SECOND`]; the refusals beyond are
/// still refused, counted, and reported in the node's own log once a minute.
pub struct StrangerLog {
    state: std::sync::Mutex<StrangerState>,
}

struct StrangerState {
    tokens: f64,
    at: std::time::Instant,
    dropped: u64,
    reported: std::time::Instant,
}

impl StrangerLog {
    /// Entries in a burst.
    pub const BURST: f64 = 200.0;
    /// Entries per second after it.
    pub const PER_SECOND: f64 = 20.0;

    /// A full bucket.
    pub fn new() -> StrangerLog {
        let now = std::time::Instant::now();
        StrangerLog {
            state: std::sync::Mutex::new(StrangerState {
                tokens: Self::BURST,
                at: now,
                dropped: 0,
                reported: now,
            }),
        }
    }

    /// Whether this refusal of a stranger goes into the audit log.
    pub fn admit(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        let refill = now.duration_since(s.at).as_secs_f64() * Self::PER_SECOND;
        s.tokens = (s.tokens + refill).min(Self::BURST);
        s.at = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return true;
        }
        s.dropped += 1;
        if now.duration_since(s.reported) >= Duration::from_secs(60) {
            tracing::warn!(
                dropped = s.dropped,
                "refusals of unrecognised callers beyond the audit log's rate (20/s) were not logged"
            );
            s.dropped = 0;
            s.reported = now;
        }
        false
    }
}

impl Default for StrangerLog {
    fn default() -> Self {
        StrangerLog::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strangers_are_logged_in_a_burst_then_at_a_rate() {
        let log = super::StrangerLog::new();
        let admitted = (0..1000).filter(|_| log.admit()).count();
        // The burst, and what the rate refilled while the loop ran (well under 1 s).
        assert!((200..230).contains(&admitted), "{admitted}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(log.admit(), "the rate refills the bucket");
    }
}
