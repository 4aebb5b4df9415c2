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
use crate::Error;
use accord_node_api::wire;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

mod equipment;
mod fetch_metadata;
mod metrics;
mod opentdf;
mod routes;

pub use routes::{router, ROUTES};

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
    /// Override node.toml's `metrics_listen` (tests: `127.0.0.1:0`).
    pub metrics_listen: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            clock: system_clock(),
            listen: None,
            log: accord_log::LogOptions::default(),
            delivery: crate::exchange::DeliveryOptions::default(),
            admission: crate::admission::Admission::default(),
            metrics_listen: None,
        }
    }
}

/// A running node.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves `/metrics`, when it does (node.toml's `metrics_listen`).
    pub metrics_addr: Option<SocketAddr>,
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

/// Start the node in `dir` on the current tokio runtime.
pub async fn start(dir: &std::path::Path, opts: ServeOptions) -> Result<Running, Error> {
    let home = Home::open(dir)?;
    let store = home.store().await?;
    let log = crate::log_keys::open_log(&home, opts.log.clone(), (opts.clock)()).map_err(|e| match e {
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
    let metrics_listener = match opts
        .metrics_listen
        .clone()
        .or_else(|| home.config.metrics_listen.clone())
    {
        Some(at) => Some(
            TcpListener::bind(&at)
                .await
                .map_err(|e| Error::Input(format!("cannot listen for metrics on {at}: {e}")))?,
        ),
        None => None,
    };
    let node = Arc::new(Node::new(home, store, appender, opts.clock.clone())?);
    let tls = Arc::new(accord_node_api::tls::switchable_server_config(
        node.server_cert.clone(),
    )?);
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
    // Directory changes made while the node was down go into the log before anything
    // else it decides.
    if let Err(e) = node.log_directory_changes().await {
        tracing::warn!(error = %e.error, "directory changes not written into the audit log at start");
    }
    let app = router(node.clone(), crate::admission::Budget::new(&opts.admission))?;
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
    // A rotated log key signs from the moment it is in place; the old one beside it
    // through the grace.
    let log_keys = tokio::spawn(crate::log_keys::keep_log_signed(
        node.clone(),
        log.clone(),
        rx.clone(),
    ));
    // Equipment records that cross: what was not delivered is delivered at the next
    // start (its row stays undelivered), so it may stop with the others.
    tokio::spawn(crate::equipment::federation::deliver_loop(
        node.clone(),
        rx.clone(),
    ));
    // It stops with the others; a change it had not written yet is written at the next
    // start (its row stays pending).
    tokio::spawn(crate::directory_log::log_loop(node.clone(), rx.clone()));
    let metrics_addr = match metrics_listener {
        Some(l) => {
            let addr = l.local_addr().ok();
            tokio::spawn(metrics::serve(
                l,
                node.clone(),
                log.checkpoints(),
                rx.clone(),
            ));
            addr
        }
        None => None,
    };
    let weak_log = Arc::downgrade(&log);
    let task = tokio::spawn(accept_loop(
        listener,
        tls,
        app,
        rx,
        log,
        node.clone(),
        (delivery, submitter, offers, log_keys),
    ));
    tracing::info!(party = %node.party(), %addr, url = %node.home.config.url, "node serving");
    Ok(Running {
        addr,
        metrics_addr,
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
    (delivery, submitter, offers, log_keys): (
        tokio::task::JoinHandle<()>,
        std::thread::JoinHandle<()>,
        tokio::task::JoinHandle<()>,
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
    // It holds the log too: done before the log closes.
    let _ = tokio::time::timeout(Duration::from_secs(10), log_keys).await;
    // Directory changes made on the command line since the last look go into the log
    // before it closes (those the node cannot write stay pending for the next start).
    if let Err(e) = node.log_directory_changes().await {
        tracing::warn!(error = %e.error, "directory changes not written into the audit log at shutdown");
    }
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
