//! Admission: how much request body a node holds in memory at once.
//!
//! Most routes read their whole body before the handler looks at who is calling (a
//! bulk rewrap, a batch of objects, a seal plan), and the TLS layer admits clients
//! without a certificate because `/health` and `/log/` are public. Without a bound,
//! anyone who can reach the port could open many connections and streams, each
//! sending a body up to [`accord_node_api::wire::MAX_BODY`], and have the node hold gigabytes at
//! once until it is killed: the KAS down, requests in flight lost.
//!
//! So the caller is recognised first: a caller the node does not know claims nothing
//! and its body is never read. A known caller's buffered body then claims its size (its `Content-Length`, or the route's
//! limit when it has none) from one budget shared by the whole node
//! ([`Admission::budget`], 256 MiB by default), and gives it back when its answer is
//! made. A request that cannot have its claim within [`Admission::wait`] is answered
//! `503` with `Retry-After`, before a byte of its body is read. Streamed routes (an
//! object upload, a partner's delivery) write to disk as they read and are bounded by
//! the disk reserve instead (`disk.rs`).

use crate::caller::Peer;
use crate::node::Node;
use axum::body::Body;
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
    /// Time any body has before [`Admission::min_body_rate`] counts.
    pub body_grace: Duration,
    /// Request bodies arrive at least this fast (bytes per second) after the grace: a
    /// caller that trickles its body out holds its claim no longer (408).
    pub min_body_rate: u64,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            budget: 256 << 20,
            wait: Duration::from_secs(10),
            body_grace: Duration::from_secs(10),
            min_body_rate: 256 * 1024,
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
    body_grace: Duration,
    min_body_rate: u64,
}

impl Budget {
    /// A budget of `a.budget` bytes.
    pub fn new(a: &Admission) -> Budget {
        let units = (a.budget / UNIT).max(1);
        Budget {
            permits: Arc::new(Semaphore::new(units)),
            units,
            wait: a.wait,
            body_grace: a.body_grace,
            min_body_rate: a.min_body_rate.max(1),
        }
    }
}

impl Budget {
    /// Claim `bytes` of the budget for a body read outside [`claim`] (a caller known by
    /// other means than its certificate, such as an OpenTDF client's access token):
    /// the permit, or `None` when it cannot be had within the budget's wait.
    pub async fn hold(&self, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units) as u32;
        tokio::time::timeout(self.wait, self.permits.clone().acquire_many_owned(units))
            .await
            .ok()?
            .ok()
    }
}

/// Whether a connection's client certificate is one the node knows (a person's
/// credential or a partner node's certificate in force), found once when the
/// connection is made. Only admission uses it: every handler still authenticates.
#[derive(Debug, Clone, Copy)]
pub struct Known(pub bool);

/// Whether `peer` is a caller the node knows (see [`Known`]).
/// A partner node counts whether or not an agreement with it is in force now: a
/// termination must still reach this node after it takes effect.
pub async fn recognised(node: &Node, peer: &Peer) -> bool {
    peer.cert.is_some()
        && (node.authenticate(peer).await.is_ok() || node.pinned_by_an_agreement(peer).await)
}

/// The middleware of every route that reads its whole body.
///
/// Who is calling is known before any budget is claimed: a caller the node does not
/// know (no certificate, or one no credential or agreement names) claims nothing and
/// its body is never read; the handler answers it as it answers any stranger (and logs
/// what it logs). A known caller claims the body's size (at most `limit` bytes, the
/// route's body limit) from the shared budget, and the body must then arrive within
/// [`Admission::body_grace`] plus its size at [`Admission::min_body_rate`] (408
/// otherwise); the claim is held while the request is answered.
pub async fn claim(
    State((budget, limit, node)): State<(Budget, usize, Arc<Node>)>,
    req: Request,
    next: Next,
) -> Response {
    // Known when the connection was made, or now (a person enrolled, an agreement
    // loaded, since the connection was made: asked again for a caller not known then).
    let known = match req.extensions().get::<Known>() {
        Some(Known(true)) => true,
        _ => {
            let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
            recognised(&node, &peer).await
        }
    };
    if !known {
        let (mut parts, _unread) = req.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        return next.run(Request::from_parts(parts, Body::empty())).await;
    }
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
    let (parts, body) = req.into_parts();
    let deadline = budget.body_grace + Duration::from_secs(bytes as u64 / budget.min_body_rate);
    let body = match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if over {
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over this route's {limit} bytes"),
                )
            } else {
                problem(
                    StatusCode::BAD_REQUEST,
                    format!("the request body could not be read: {e}"),
                )
            };
        }
        Err(_) => {
            let secs = deadline.as_secs();
            let rate = budget.min_body_rate / 1024;
            let grace = budget.body_grace.as_secs();
            let text = format!(
                "the request body did not arrive within {secs} s ({bytes} bytes at {rate} KiB/s, after {grace} s)"
            );
            return problem(StatusCode::REQUEST_TIMEOUT, text);
        }
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    drop(permit);
    response
}

fn problem(status: StatusCode, text: String) -> Response {
    (
        status,
        axum::Json(accord_node_api::wire::Problem {
            error: text.clone(),
            reasons: vec![accord_node_api::wire::Reason::new(
                accord_node_api::wire::Rule::Request,
                text,
            )],
        }),
    )
        .into_response()
}

/// Connections from one address whose caller the node does not know (no client
/// certificate, or an unknown one): `/health`, `/v1/party` and the log's public
/// resources need no more, and more would let one host hold the node's connections.
pub const MAX_STRANGER_CONNECTIONS_PER_ADDRESS: usize = 64;

/// Counts the connections of unknown callers per address.
#[derive(Default, Clone)]
pub struct StrangerConnections {
    by_address: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One counted connection; uncounted when dropped.
pub struct StrangerSlot {
    of: StrangerConnections,
    address: std::net::IpAddr,
}

impl StrangerConnections {
    /// A slot for one more connection from `address`, unless it holds its share.
    pub fn admit(&self, address: std::net::IpAddr) -> Option<StrangerSlot> {
        let mut m = self.by_address.lock().ok()?;
        let n = m.entry(address).or_insert(0);
        if *n >= MAX_STRANGER_CONNECTIONS_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(StrangerSlot {
            of: self.clone(),
            address,
        })
    }
}

impl Drop for StrangerSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.of.by_address.lock() {
            if let Some(n) = m.get_mut(&self.address) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.address);
                }
            }
        }
    }
}

fn busy() -> Response {
    let text =
        "the node is busy: it holds as much request data as it takes at once; try again shortly";
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(accord_node_api::wire::Problem {
            error: text.into(),
            reasons: vec![accord_node_api::wire::Reason::new(
                accord_node_api::wire::Rule::Request,
                text,
            )],
        }),
    )
        .into_response()
}
