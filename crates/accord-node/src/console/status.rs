//! The status page: the node (version, TLS certificate, log, disk and its reserve), each
//! partner (reachable, agreements in force, the person's last delivery), witnessing.
//! The same view as `GET /v1/status` and `accord status`.

use super::{Console, PeerExt};
use accord_agreement::Duty;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use std::sync::Arc;

/// `GET /console/status`.
pub(crate) async fn show(State(c): State<Arc<Console>>, peer: PeerExt) -> Response {
    let caller = match c.caller(&peer, Duty::ReadAgreements).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let s = match c.node.status(&peer).await {
        Ok(s) => s,
        Err(r) => return c.refused(Some(&caller), "Status", &r),
    };
    let low_disk = s.disk_free_mib < s.disk_reserve_mib;
    let body = html! {
        h2 { "Node" }
        dl.facts #node {
            dt { "Party" } dd { (s.party) }
            dt { "Version" } dd { (s.version) }
            dt { "Time" } dd { (s.at) }
            dt { "TLS certificate" } dd { "valid until " (s.tls_not_after.as_deref().unwrap_or("unknown")) }
            dt { "Audit log" } dd { (s.log_entries) " entries" }
            dt { "Disk" } dd {
                @if low_disk { span.bad { (s.disk_free_mib) " MiB free, under the reserve of " (s.disk_reserve_mib) " MiB: the node refuses new objects" } }
                @else { span.ok { (s.disk_free_mib) " MiB free" } " (reserve " (s.disk_reserve_mib) " MiB)" }
            }
        }
        h2 { "Partners" }
        @if s.partners.is_empty() { p { "No partner under an agreement in force." } }
        table #partners {
            thead { tr { th { "Party" } th { "Reachable" } th { "Agreements in force" } th { "Your deliveries" } th { "Last delivery" } th { "Witness" } } }
            tbody {
                @for p in &s.partners {
                    tr {
                        td { (p.party) br; code { (p.url) } }
                        td {
                            @if p.reachable { span.ok { "yes" } } @else { span.bad { "no" } @if let Some(e) = &p.error { br; (e) } }
                        }
                        td { (p.agreements.join(", ")) }
                        td { (p.delivered) " delivered, " (p.queued) " queued, " (p.refused) " refused"
                             @if let Some(e) = &p.last_error { br; span.warn { (e) } } }
                        td { (p.last_delivery.as_deref().unwrap_or("—")) }
                        td { @match p.witness_cosigned { Some(n) => { (n) " entries cosigned since the node started" }, None => "—" } }
                    }
                }
            }
        }
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Status",
        &c.node.banner([]),
        body,
    )
}
