//! `accord serve`: the node over HTTPS.
//!
//! One accept loop: TCP, then TLS (rustls, aws-lc-rs, X25519MLKEM768 preferred), then
//! HTTP/1.1 or HTTP/2 (hyper) into an axum router. The client certificate of each
//! connection is attached to every request on it, so handlers know who is asking.
//! SIGTERM or Ctrl-C stops accepting, lets requests in flight finish (up to 10 s),
//! then closes the audit log cleanly.

use crate::caller::Peer;
use crate::home::Home;
use crate::node::{system_clock, Clock, Node};
use crate::refusal::Refusal;
use crate::Error;
use accord_node_api::wire;
use accord_node_api::Kind;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How to run a node.
pub struct ServeOptions {
    /// The clock decisions use.
    pub clock: Clock,
    /// Override node.toml's listen address (tests: `127.0.0.1:0`).
    pub listen: Option<String>,
    /// Audit log tuning.
    pub log: accord_log::LogOptions,
    /// Outbox delivery tuning.
    pub delivery: crate::exchange::DeliveryOptions,
    /// How much request body the node holds in memory at once.
    pub admission: crate::admission::Admission,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            clock: system_clock(),
            listen: None,
            log: accord_log::LogOptions::default(),
            delivery: crate::exchange::DeliveryOptions::default(),
            admission: crate::admission::Admission::default(),
        }
    }
}

/// A running node.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The node.
    pub node: Arc<Node>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
    /// Weak, so that the server alone owns the log and can close it at shutdown.
    log: std::sync::Weak<accord_log::Log>,
}

impl Running {
    /// Publish a checkpoint of the node's audit log now, covering every entry made
    /// durable so far, and return its size. A caller that waits for a witness to cosign
    /// a checkpoint of at least that size knows its own entries are covered (the
    /// published checkpoint may otherwise lag behind them). Blocking: call it outside
    /// the async runtime.
    pub fn publish_log(&self) -> Result<u64, Error> {
        let log = self
            .log
            .upgrade()
            .ok_or_else(|| Error::Input("the node has stopped".into()))?;
        let cp = log
            .publish_now()
            .map_err(|e| Error::Input(format!("publishing a checkpoint: {e}")))?;
        Ok(cp.checkpoint.size)
    }

    /// Stop accepting, finish requests in flight, close the log.
    pub async fn stop(self) -> Result<(), Error> {
        let _ = self.shutdown.send(true);
        self.task
            .await
            .map_err(|e| Error::Input(format!("server task: {e}")))?
    }

    /// Wait until the server stops by itself (a signal).
    pub async fn wait(self) -> Result<(), Error> {
        self.task
            .await
            .map_err(|e| Error::Input(format!("server task: {e}")))?
    }

    /// A handle that stops the server when sent `true`.
    pub fn stopper(&self) -> tokio::sync::watch::Sender<bool> {
        self.shutdown.clone()
    }
}

fn refusal(r: Refusal) -> Response {
    let status = StatusCode::from_u16(accord_node_api::http::status(r.kind))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if r.kind.is_failure() {
        tracing::error!(error = %r.error, "request failed");
    }
    (
        status,
        Json(wire::Problem {
            error: r.error,
            reasons: r.reasons,
        }),
    )
        .into_response()
}

fn answer<T: serde::Serialize>(r: Result<T, Refusal>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => refusal(e),
    }
}

/// Every (method, path) [`router`] serves, paths written as in `docs/node-api.yaml`
/// (the `/log/` routes come from `accord_log::http::log_router`). `tests/openapi.rs`
/// checks this list against the `.route(` calls below, the running server and the
/// OpenAPI file: a new route needs a line here and its operation in the file.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/v1/party"),
    ("POST", "/v1/noop"),
    ("PUT", "/v1/noop"),
    ("GET", "/v1/whoami"),
    ("GET", "/v1/trust"),
    ("POST", "/v1/kas/rewrap"),
    ("POST", "/v1/kas/rewrap/partners"),
    ("POST", "/v1/fed/kas/rewrap"),
    ("POST", "/v1/seal/plan"),
    ("POST", "/v1/seal/sign"),
    ("PUT", "/v1/outbox/{to}/{id}"),
    ("GET", "/v1/outbox"),
    ("GET", "/v1/inbox"),
    ("GET", "/v1/inbox/{id}"),
    ("PUT", "/v1/fed/inbox/{id}"),
    ("GET", "/v1/fed/inbox/{id}/partial"),
    ("POST", "/v1/fed/inbox"),
    ("GET", "/v1/witness"),
    ("POST", "/v1/fed/witness/add-checkpoint"),
    ("GET", "/v1/fed/witness/checkpoint"),
    ("PUT", "/v1/fed/agreements/{id}"),
    ("GET", "/log/checkpoint"),
    ("GET", "/log/tile/{level}/{index}"),
    ("GET", "/log/tile/entries/{index}"),
];

/// Body limits below the general [`wire::MAX_BODY`]: a seal plan carries a label, a
/// witness submission a checkpoint and a proof.
const SMALL_BODY: usize = 1 << 20;
/// A signing request carries two assertions and the object's manifest, which may be as
/// large as a container's (10 MB: one line per segment).
const SIGN_BODY: usize = 12 << 20;

/// The node's HTTP API. Every route that reads its whole body first claims it from
/// the node's shared `budget` ([`crate::admission`]).
pub fn router(node: Arc<Node>, budget: crate::admission::Budget) -> Router {
    let claim = |limit: usize| {
        axum::middleware::from_fn_with_state(
            (budget.clone(), limit, node.clone()),
            crate::admission::claim,
        )
    };
    let party_json = node.home.party.to_json();
    let log_src: Arc<dyn accord_log::source::LogSource + Send + Sync> =
        Arc::new(accord_log::source::DirSource::new(node.home.layout.log()));
    let party_code = node.party().to_string();
    Router::new()
        .route(
            "/health",
            get(move || {
                let p = party_code.clone();
                async move { Json(serde_json::json!({"status": "ok", "party": p})) }
            }),
        )
        .route(
            "/v1/party",
            get(move || {
                let j = party_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], j) }
            }),
        )
        .route(
            "/v1/noop",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, _b: Bytes| async move {
                    match n.authenticate(&p).await {
                        Ok(_) => StatusCode::NO_CONTENT.into_response(),
                        Err(e) => refusal(e),
                    }
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/whoami",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.whoami(&p).await)
                },
            ),
        )
        .route(
            "/v1/trust",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.trust(&p).await)
                },
            ),
        )
        .route(
            "/v1/kas/rewrap",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.rewrap(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/kas/rewrap/partners",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.rewrap_partners(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/fed/kas/rewrap",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.partner_rewrap(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY)),
        )
        .route(
            "/v1/seal/plan",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.seal_plan(&p, &b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SMALL_BODY))
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/v1/seal/sign",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    answer(n.seal_sign(&p, b).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SIGN_BODY))
            .layer(DefaultBodyLimit::max(SIGN_BODY)),
        )
        .route(
            "/v1/outbox",
            get(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 q: axum::extract::RawQuery| async move {
                    let filter: accord_node_api::exchange::OutboxFilter =
                        match query(q.0.as_deref().unwrap_or("")) {
                            Ok(f) => f,
                            Err(e) => return refusal(e),
                        };
                    answer(n.outbox(&p, &filter).await)
                },
            ),
        )
        .route(
            "/v1/inbox",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    answer(n.inbox(&p).await)
                },
            ),
        )
        .route(
            "/v1/inbox/{id}",
            get(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 q: axum::extract::RawQuery| async move {
                    let q: accord_node_api::wire::FetchQuery =
                        match query(q.0.as_deref().unwrap_or("")) {
                            Ok(q) => q,
                            Err(e) => return refusal(e),
                        };
                    match n.fetch_from(&p, &id, q.from.as_deref()).await {
                        Ok(stored) => stream_file(&stored).await,
                        Err(e) => refusal(e),
                    }
                },
            ),
        )
        .route(
            "/v1/witness",
            get(|State(n): State<Arc<Node>>| async move {
                match n.witness_key().await {
                    Ok(k) => {
                        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], k).into_response()
                    }
                    Err(e) => refusal(e),
                }
            }),
        )
        .route(
            "/v1/fed/witness/checkpoint",
            get(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>| async move {
                    match n.witnessed_checkpoint(&p).await {
                        Ok(b) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], b)
                            .into_response(),
                        Err(e) => refusal(e),
                    }
                },
            ),
        )
        .route(
            "/v1/fed/witness/add-checkpoint",
            post(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, b: Bytes| async move {
                    match n.add_checkpoint(&p, b).await {
                        Ok(r) => (
                            StatusCode::from_u16(r.status)
                                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                            [(header::CONTENT_TYPE, r.content_type)],
                            r.body,
                        )
                            .into_response(),
                        Err(e) => refusal(e),
                    }
                },
            )
            .layer::<_, std::convert::Infallible>(claim(SMALL_BODY))
            .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/v1/fed/agreements/{id}",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 b: Bytes| async move { answer(n.receive_agreement(&p, &id, &b).await) },
            )
            .layer::<_, std::convert::Infallible>(claim(crate::agreement_sync::MAX_AGREEMENT))
            .layer(DefaultBodyLimit::max(crate::agreement_sync::MAX_AGREEMENT)),
        )
        .layer(DefaultBodyLimit::max(wire::MAX_BODY))
        // Sealed objects stream to disk with their own bound (exchange::MAX_OBJECT).
        // The floor for large uploads (benchmarks): streams and drops the body of one
        // of the node's people (a stranger's is never read).
        .route(
            "/v1/noop",
            put(
                |State(n): State<Arc<Node>>, Extension(p): Extension<Peer>, body: Body| async move {
                    if let Err(e) = n.authenticate(&p).await {
                        return refusal(e);
                    }
                    let mut stream = body.into_data_stream();
                    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                        if chunk.is_err() {
                            return StatusCode::BAD_REQUEST.into_response();
                        }
                    }
                    StatusCode::NO_CONTENT.into_response()
                },
            ),
        )
        .route(
            "/v1/outbox/{to}/{id}",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((to, id)): Path<(String, String)>,
                 body: Body| async move {
                    match n.send(&p, &to, &id, body).await {
                        Ok(v) => (StatusCode::ACCEPTED, Json(v)).into_response(),
                        Err(e) => refusal(e),
                    }
                },
            ),
        )
        .route(
            "/v1/fed/inbox",
            post(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 body: axum::body::Bytes| async move {
                    answer(n.receive_batch(&p, body).await)
                },
            )
            .layer::<_, std::convert::Infallible>(claim(wire::MAX_BODY))
            .layer(DefaultBodyLimit::max(wire::MAX_BODY)),
        )
        .route(
            "/v1/fed/inbox/{id}",
            put(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>,
                 headers: axum::http::HeaderMap,
                 body: Body| async move {
                    let resume = match headers.get(wire::RESUME_HEADER) {
                        None => None,
                        Some(v) => match wire::parse_resume(v.as_bytes()) {
                            Ok(n) => Some(n),
                            Err(e) => {
                                return refusal(Refusal::new(
                                    Kind::BadRequest,
                                    accord_node_api::wire::Rule::Request,
                                    e.0,
                                ))
                            }
                        },
                    };
                    answer(n.receive(&p, &id, resume, body).await)
                },
            ),
        )
        .route(
            "/v1/fed/inbox/{id}/partial",
            get(
                |State(n): State<Arc<Node>>,
                 Extension(p): Extension<Peer>,
                 Path((id,)): Path<(String,)>| async move {
                    answer(n.partial_offset(&p, &id).await)
                },
            ),
        )
        .with_state(node.clone())
        .nest_service(
            "/log",
            accord_log::http::log_router(log_src).layer(axum::middleware::from_fn_with_state(
                node,
                entries_for_known_callers,
            )),
        )
}

/// The log's checkpoint and hash tiles are public: they show only hashes, and
/// witnesses and auditors need them to check that the log only grows. Everything else
/// under `/log/` is not: entry bundles name people, credentials, markings, objects and
/// agreements, and go only to the node's own people and to partner nodes under an
/// agreement in force.
///
/// The gate decides on the resource the log router will serve, parsed once from the
/// path as sent ([`accord_log::tile::Resource::parse`], which the router uses too and
/// which accepts only the canonical spelling): never on a substring of the path, so no
/// spelling of an entry bundle (percent-encoded, doubled slashes, dot segments) can be
/// public. What does not parse as a public resource needs a known caller.
async fn entries_for_known_callers(
    State(n): State<Arc<Node>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Only reads are guarded: the log router answers any other method 405, whoever asks.
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let public = accord_log::tile::Resource::parse(req.uri().path()).is_ok_and(|r| r.is_public());
    if read && !public {
        let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
        if n.authenticate(&peer).await.is_err() && n.partner_of(&peer).await.is_err() {
            return refusal(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::Credential,
                format!(
                    "the {} node's audit entries are for its own people and its partners: use a credential it issued (--credential); the checkpoint and hash tiles are public",
                    n.party()
                ),
            ));
        }
    }
    next.run(req).await
}

/// Parse a query string into `T` (its serde rules refuse unknown or repeated keys),
/// answering a 400 Problem that names what is wrong.
fn query<T: serde::de::DeserializeOwned>(q: &str) -> Result<T, Refusal> {
    serde_urlencoded::from_str(q).map_err(|e| {
        let text = format!("query: {e}");
        Refusal {
            kind: Kind::BadRequest,
            error: text.clone(),
            reasons: vec![wire::Reason::new(
                accord_node_api::wire::Rule::Request,
                text,
            )],
            logged: false,
        }
    })
}

/// Stream a stored object (a file, or its part of a pack) as the answer.
async fn stream_file(stored: &crate::exchange::Stored) -> Response {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let opened = async {
        let mut f = tokio::fs::File::open(&stored.path).await?;
        f.seek(std::io::SeekFrom::Start(stored.offset)).await?;
        Ok::<_, std::io::Error>(f.take(stored.size))
    };
    match opened.await {
        Ok(f) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (header::CONTENT_LENGTH, stored.size.to_string()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024)),
        )
            .into_response(),
        Err(e) => refusal(Refusal {
            kind: Kind::Internal,
            error: format!("internal error: reading the object: {e}"),
            reasons: vec![],
            logged: false,
        }),
    }
}

/// Start the node in `dir` on the current tokio runtime.
pub async fn start(dir: &std::path::Path, opts: ServeOptions) -> Result<Running, Error> {
    let home = Home::open(dir)?;
    let store = home.store().await?;
    let log = accord_log::Log::open(&home.layout.log(), opts.log.clone()).map_err(|e| match e {
        accord_log::Error::Locked(_) => Error::Input(format!(
            "the node in {} is already running: another `accord serve` holds its audit log; stop that one first",
            dir.display()
        )),
        e => e.into(),
    })?;
    // The log's writer lock is held: no other server of this home is spooling.
    crate::exchange::clear_spool(&home.layout.blobs());
    if let Some(why) = crate::disk::shortfall(&home.layout.dir, home.config.disk_reserve(), 0) {
        tracing::warn!(
            %why,
            "the disk is down to the node's reserve: deliveries get 507 until there is room"
        );
    }
    let appender = log.appender();
    let cert = std::fs::read_to_string(home.layout.key("tls.crt"))
        .map_err(|e| Error::io(home.layout.key("tls.crt"), e))?;
    let key = home.read_key("tls.key")?;
    let tls = Arc::new(accord_node_api::tls::server_config(&cert, &key)?);
    let listen = opts
        .listen
        .clone()
        .unwrap_or_else(|| home.config.listen.clone());
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| Error::Input(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Input(format!("listen address: {e}")))?;
    let node = Arc::new(Node::new(home, store, appender, opts.clock.clone())?);
    node.ensure_witness()?;
    // Not behind nor a fork of what the partners' witnesses cosigned.
    {
        let (n, rt) = (node.clone(), tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || {
            crate::witnessing::check_log_against_witnesses(&n, &rt)
        })
        .await
        .map_err(|e| Error::Input(format!("checking the log against the witnesses: {e}")))??;
    }
    let app = router(node.clone(), crate::admission::Budget::new(&opts.admission));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let delivery = tokio::spawn(crate::exchange::deliver_loop(
        node.clone(),
        opts.delivery.clone(),
        rx.clone(),
    ));
    let log = Arc::new(log);
    let submitter = crate::witnessing::spawn_submitter(
        node.clone(),
        log.clone(),
        rx.clone(),
        tokio::runtime::Handle::current(),
    );
    let offers = tokio::spawn(crate::agreement_sync::offer_loop(node.clone(), rx.clone()));
    let weak_log = Arc::downgrade(&log);
    let task = tokio::spawn(accept_loop(
        listener,
        tls,
        app,
        rx,
        log,
        node.clone(),
        (delivery, submitter, offers),
    ));
    tracing::info!(party = %node.party(), %addr, url = %node.home.config.url, "node serving");
    Ok(Running {
        addr,
        node,
        shutdown: tx,
        task,
        log: weak_log,
    })
}

/// HTTP/2 streams per connection at once.
const MAX_STREAMS: u32 = 64;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    log: Arc<accord_log::Log>,
    node: Arc<Node>,
    (delivery, submitter, offers): (
        tokio::task::JoinHandle<()>,
        std::thread::JoinHandle<()>,
        tokio::task::JoinHandle<()>,
    ),
) -> Result<(), Error> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let strangers = crate::admission::StrangerConnections::default();
    let mut prune = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = prune.tick() => {
                let before = time::OffsetDateTime::now_utc().unix_timestamp() - 2 * wire::MAX_SKEW_SECS;
                if let Err(e) = node.store.prune_nonces(before).await {
                    tracing::warn!(error = %e, "pruning rewrap nonces");
                }
                crate::exchange::prune_partials(&node).await;
            }
            // A free slot first, then a connection (both cancel-safe: a tick of the
            // pruning in between drops the wait and starts it again).
            next = async {
                let slot = connections.clone().acquire_owned().await;
                (slot, listener.accept().await)
            } => {
                let (Ok(slot), accepted) = next else { break };
                let (tcp, remote) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let app = app.clone();
                let watcher = graceful.watcher();
                let node = node.clone();
                let strangers = strangers.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%remote, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let peer = Peer {
                        cert: tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| Arc::new(c.as_ref().to_vec())),
                    };
                    // Who the caller is, once per connection, for admission; a caller
                    // the node does not know holds few connections per address.
                    let known = crate::admission::recognised(&node, &peer).await;
                    let _stranger = if known {
                        None
                    } else {
                        match strangers.admit(remote.ip()) {
                            Some(slot) => Some(slot),
                            None => {
                                tracing::debug!(%remote, "too many connections of unknown callers from this address");
                                return;
                            }
                        }
                    };
                    let known = crate::admission::Known(known);
                    let svc = tower::ServiceExt::map_request(app, move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(peer.clone());
                        req.extensions_mut().insert(known);
                        req
                    });
                    let svc = hyper_util::service::TowerToHyperService::new(svc);
                    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    // Large objects stream node to node: let HTTP/2 windows grow with the
                    // bandwidth-delay product instead of the 64 KiB default. Streams per
                    // connection are bounded, and HTTP/1 headers must arrive in 30 s.
                    builder
                        .http2()
                        .adaptive_window(true)
                        .max_concurrent_streams(MAX_STREAMS);
                    builder
                        .http1()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30));
                    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), svc);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%remote, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    tracing::info!("stopping: finishing requests in flight");
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), delivery).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), offers).await;
    let _ = tokio::task::spawn_blocking(move || submitter.join()).await;
    let log = Arc::try_unwrap(log)
        .map_err(|_| Error::Input("the audit log is still in use at shutdown".into()))?;
    node.store.close().await;
    let cp = tokio::task::spawn_blocking(move || log.close())
        .await
        .map_err(|e| Error::Input(format!("closing the log: {e}")))??;
    tracing::info!(size = cp.checkpoint.size, "audit log closed");
    Ok(())
}

/// Run until SIGTERM or Ctrl-C.
pub async fn serve(dir: &std::path::Path, opts: ServeOptions) -> Result<(), Error> {
    let running = start(dir, opts).await?;
    let stopper = running.stopper();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received");
        let _ = stopper.send(true);
    });
    running.wait().await
}

/// Wait for SIGTERM or Ctrl-C (SIGINT), for a clean stop.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
