//! The status page: what expires soon (the node's TLS certificate, the person's own
//! credential, an agreement in force), the node (version, TLS certificate, log, disk and
//! its reserve), each partner (reachable, agreements in force, the person's last
//! delivery), witnessing. The same view as `GET /v1/status` and `accord status`.

use super::{Console, PeerExt};
use accord_agreement::{Duty, Time};
use accord_node_api::wire::{NodeStatus, WARN_AGREEMENT_DAYS, WARN_CERTIFICATE_DAYS};
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
    let credential_ends = peer
        .cert
        .as_deref()
        .and_then(|c| accord_node_api::pki::not_after(c).ok());
    let warnings = expiring(&s, credential_ends, &c.node.home.layout.dir);
    let body = html! {
        @if !warnings.is_empty() {
            h2 { "Expiring soon" }
            ul #warnings { @for w in &warnings { li { span.warn { (w) } } } }
        }
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

/// What expires soon, as `accord node info` and `accord status` say it: the node's TLS
/// certificate and the person's own credential (ending at `credential_ends`, Unix
/// seconds) within 30 days, an agreement in force within 180; each with what to do.
fn expiring(s: &NodeStatus, credential_ends: Option<i64>, home: &std::path::Path) -> Vec<String> {
    const DAY: i64 = 86_400;
    let Ok(now) = Time::parse(&s.at).map(|t| t.unix()) else {
        return Vec::new();
    };
    let when = |t: i64| {
        let days = (t - now).div_euclid(DAY);
        let on = Time::from_unix(t)
            .map(|t| t.to_string())
            .unwrap_or_default();
        match days {
            d if d < 0 => format!("expired on {on}"),
            0 => format!("expires today ({on})"),
            1 => format!("expires tomorrow ({on})"),
            d => format!("expires in {d} days ({on})"),
        }
    };
    let mut out = Vec::new();
    if let Some(t) = s
        .tls_not_after
        .as_deref()
        .and_then(|t| Time::parse(t).ok())
        .map(|t| t.unix())
        .filter(|t| t - now < WARN_CERTIFICATE_DAYS * DAY)
    {
        out.push(format!(
            "The node's TLS certificate {}: its operator renews it with `accord key rotate --dir {} tls`.",
            when(t),
            home.display()
        ));
    }
    if let Some(t) = credential_ends.filter(|t| t - now < WARN_CERTIFICATE_DAYS * DAY) {
        out.push(format!(
            "Your credential {}: ask an officer for a new one (`accord user renew`) before then.",
            when(t)
        ));
    }
    for a in s.agreements.iter().filter(|a| a.status == "in-force") {
        if let Some(t) = Time::parse(&a.expires)
            .ok()
            .map(|t| t.unix())
            .filter(|t| t - now < WARN_AGREEMENT_DAYS * DAY)
        {
            out.push(format!(
                "Agreement {} {}: the parties renew it (`accord agreement renew`), which needs both parties' approvals and signatures.",
                a.id,
                when(t)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(at: &str, tls: Option<&str>, expires: &str, state: &str) -> NodeStatus {
        serde_json::from_value(serde_json::json!({
            "party": "USA", "person": "usa-officer", "person_status": "active",
            "at": at, "version": "0", "tls_not_after": tls,
            "disk_free_mib": 1, "disk_reserve_mib": 0, "log_entries": 0,
            "agreements": [{
                "id": "CISMOA-1", "version": 1, "title": "t", "status": state,
                "reasons": [], "parties": ["USA", "PAK"], "scopes": [],
                "ceiling": null, "effective_from": "2026-01-01T00:00:00Z",
                "expires": expires
            }],
            "partners": []
        }))
        .unwrap()
    }

    #[test]
    fn what_expires_soon_is_said_with_what_to_do_and_nothing_else() {
        let home = std::path::Path::new("/srv/accord/usa");
        let now = Time::parse("2027-01-01T00:00:00Z").unwrap().unix();
        // Nothing soon: no warning.
        let s = status(
            "2027-01-01T00:00:00Z",
            Some("2028-01-01T00:00:00Z"),
            "2040-01-01T00:00:00Z",
            "in-force",
        );
        assert!(expiring(&s, Some(now + 31 * 86_400), home).is_empty());
        // The certificate in 10 days, the credential tomorrow, the agreement in 100
        // days: each said, with what to do.
        let s = status(
            "2027-01-01T00:00:00Z",
            Some("2027-01-11T00:00:00Z"),
            "2027-04-11T00:00:00Z",
            "in-force",
        );
        let w = expiring(&s, Some(now + 86_400), home);
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].contains("TLS certificate expires in 10 days")
                && w[0].contains("key rotate --dir /srv/accord/usa tls"),
            "{w:#?}"
        );
        assert!(
            w[1].contains("Your credential expires tomorrow") && w[1].contains("accord user renew"),
            "{w:#?}"
        );
        assert!(
            w[2].contains("Agreement CISMOA-1 expires in 100 days"),
            "{w:#?}"
        );
        // An agreement that is not in force is the agreements page's business.
        let s = status(
            "2027-01-01T00:00:00Z",
            None,
            "2027-02-01T00:00:00Z",
            "terminated",
        );
        assert!(expiring(&s, None, home).is_empty());
        // An expired certificate says so.
        let s = status(
            "2027-01-01T00:00:00Z",
            Some("2026-12-01T00:00:00Z"),
            "2040-01-01T00:00:00Z",
            "in-force",
        );
        assert!(expiring(&s, None, home)[0].contains("expired on 2026-12-01"));
    }
}
