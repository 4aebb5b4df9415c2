//! The metrics listener: `GET /metrics` in Prometheus text format, plain HTTP, on the
//! address node.toml's `metrics_listen` names (an officer's monitoring scrapes it). The
//! node's counters (`metrics.rs`) and the gauges read at the scrape: the outbox by
//! partner and state, the audit log's published size, the disk and its reserve.
//! Nothing else is served there.

use crate::metrics::{family, label_value};
use crate::node::Node;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The exposition format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serve `/metrics` on `listener` until `stop` turns true.
pub(super) async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    log_size: tokio::sync::watch::Receiver<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let (node, log_size) = (node.clone(), *log_size.borrow());
            async move {
                (
                    [(header::CONTENT_TYPE, TEXT_FORMAT)],
                    render(&node, log_size).await,
                )
                    .into_response()
            }
        }),
    );
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

/// Every metric, as one scrape shows it.
async fn render(node: &Node, log_size: u64) -> String {
    let mut out = String::new();
    node.metrics.render(&mut out);
    family(
        &mut out,
        "accord_outbox_objects",
        "gauge",
        "Objects in the outbox, by partner and state (queued ones are still being delivered).",
    );
    match node.store.outbox_counts().await {
        Ok(rows) => {
            for (partner, state, n) in rows {
                let _ = writeln!(
                    out,
                    "accord_outbox_objects{{partner=\"{}\",state=\"{}\"}} {n}",
                    label_value(&partner),
                    label_value(&state)
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the outbox"),
    }
    family(
        &mut out,
        "accord_audit_log_entries",
        "gauge",
        "Entries in the node's audit log, as its latest published checkpoint covers them.",
    );
    let _ = writeln!(out, "accord_audit_log_entries {log_size}");
    let blobs = node.home.layout.blobs();
    let dir = if blobs.exists() {
        blobs
    } else {
        node.home.layout.dir.clone()
    };
    family(
        &mut out,
        "accord_disk_free_bytes",
        "gauge",
        "Free space where the node keeps objects, its database and its log.",
    );
    match crate::disk::free_bytes(&dir) {
        Ok(free) => {
            let _ = writeln!(out, "accord_disk_free_bytes {free}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: free space"),
    }
    family(
        &mut out,
        "accord_disk_reserve_bytes",
        "gauge",
        "Space the node keeps free: deliveries that would eat into it wait.",
    );
    let _ = writeln!(
        out,
        "accord_disk_reserve_bytes {}",
        node.home.config.disk_reserve()
    );
    expiry(&mut out, node).await;
    out
}

use accord_node_api::wire::WARN_CERTIFICATE_DAYS as CREDENTIAL_WARNING_DAYS;

/// What expires: the node's certificates, the agreements in force, and the people's
/// credentials that expire within [`CREDENTIAL_WARNING_DAYS`].
async fn expiry(out: &mut String, node: &Node) {
    family(
        out,
        "accord_certificate_expiry_timestamp_seconds",
        "gauge",
        "When the node's certificates expire (Unix seconds): its TLS certificate and the CA that issues people's credentials.",
    );
    for (name, file) in [("tls", "tls.crt"), ("ca", "ca.crt")] {
        if let Some(t) = node.home.certificate_not_after(file) {
            let _ = writeln!(
                out,
                "accord_certificate_expiry_timestamp_seconds{{certificate=\"{name}\"}} {t}"
            );
        }
    }
    family(
        out,
        "accord_agreement_expiry_timestamp_seconds",
        "gauge",
        "When each agreement in force expires (Unix seconds).",
    );
    match node.agreements().await {
        Ok(held) => {
            let at = (node.clock)();
            for h in held.iter() {
                if matches!(h.checked().status(at), Ok(r) if r.status == accord_agreement::Status::InForce)
                {
                    let b = &h.agreement.body;
                    let _ = writeln!(
                        out,
                        "accord_agreement_expiry_timestamp_seconds{{agreement=\"{}\"}} {}",
                        label_value(&b.id),
                        b.expires.unix()
                    );
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the agreements"),
    }
    family(
        out,
        "accord_credentials_expiring",
        "gauge",
        "Active people whose last credential to expire (not revoked) expires within 30 days.",
    );
    let now = crate::store::unix_now();
    match node
        .store
        .credentials_expiring(now, now + CREDENTIAL_WARNING_DAYS * 86_400)
        .await
    {
        Ok(people) => {
            let _ = writeln!(out, "accord_credentials_expiring {}", people.len());
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the credentials"),
    }
}
