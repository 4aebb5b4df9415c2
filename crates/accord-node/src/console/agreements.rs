//! The agreements page: each agreement held, its status now and why, its timeline
//! (drafted, approvals with their references, signatures, in force, expiry,
//! termination, renewal), parties, scopes, ceiling, translations and key fingerprints,
//! with a warning from 180 days before it expires.

use super::{Console, PeerExt};
use accord_agreement::{Duty, RecordKind};
use accord_node_api::wire::WARN_AGREEMENT_DAYS;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use std::sync::Arc;

/// Where officers post an agreement to load.
pub(crate) const LOAD: &str = "/console/agreements";

/// `POST /console/agreements`: an officer loads an agreement (the token's field, then
/// the document's, at most 1 MiB).
pub(crate) async fn load(
    State(c): State<Arc<Console>>,
    peer: PeerExt,
    headers: axum::http::HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    let caller = match c.caller(&peer, Duty::ManageAgreements).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        c.forms.check_origin(&headers)?;
        let bad = |m: String| {
            crate::refusal::Refusal::new(
                accord_node_api::Kind::BadRequest,
                accord_node_api::wire::Rule::Request,
                m,
            )
        };
        let mut token = None;
        loop {
            let Some(mut field) = form
                .next_field()
                .await
                .map_err(|e| bad(format!("the form: {e}")))?
            else {
                return Err(bad("the form carries no agreement: choose its file".into()));
            };
            let name = field.name().unwrap_or("").to_string();
            let limit = if name == "agreement" {
                crate::agreement_sync::MAX_AGREEMENT
            } else {
                4096
            };
            let mut v = Vec::new();
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| bad(format!("the form's {name}: {e}")))?
            {
                v.extend_from_slice(&chunk);
                if v.len() > limit {
                    return Err(bad(format!(
                        "the form's {name} is larger than {limit} bytes"
                    )));
                }
            }
            if name == super::forms::FIELD {
                token = String::from_utf8(v).ok();
                super::forms::checked(
                    &c,
                    &headers,
                    &caller,
                    LOAD,
                    token.as_deref(),
                    crate::audit::EntryKind::Agreement,
                )
                .await?;
            } else if name == "agreement" {
                if token.is_none() {
                    super::forms::checked(
                        &c,
                        &headers,
                        &caller,
                        LOAD,
                        None,
                        crate::audit::EntryKind::Agreement,
                    )
                    .await?;
                }
                return c.node.load_agreement(&peer, &v).await;
            }
        }
    }
    .await;
    match r {
        Ok(l) => axum::response::Redirect::to(&format!("/console/agreements#agreement-{}", l.id))
            .into_response(),
        Err(r) => c.refused(Some(&caller), "Load an agreement", &r),
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref())
}

/// `GET /console/agreements`.
pub(crate) async fn list(State(c): State<Arc<Console>>, peer: PeerExt) -> Response {
    let caller = match c.caller(&peer, Duty::ReadAgreements).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let held = match c.node.agreements().await {
        Ok(h) => h,
        Err(e) => {
            return c.refused(
                Some(&caller),
                "Agreements",
                &crate::refusal::Refusal::internal(e),
            )
        }
    };
    let at = (c.node.clock)();
    let states = crate::agreements::states(&held, at);
    let now = at.unix();
    let officer = caller.record.role().may(Duty::ManageAgreements).is_ok();
    let body = html! {
        @if officer {
            form #load method="post" action=(LOAD) enctype="multipart/form-data" {
                (c.token_field(&caller, LOAD))
                label { "Load a new or renewed agreement (TOML or JSON, signed by every party) "
                    input type="file" name="agreement" #agreement-file required; }
                " " button type="submit" #load-agreement { "Load" }
            }
        }
        @if held.is_empty() { p { "The node holds no agreement." } }
        @for (h, s) in held.iter().zip(&states) {
            @let b = &h.agreement.body;
            @let days_left = (b.expires.unix() - now) / 86_400;
            section.agreement id={"agreement-" (b.id)} {
                h2 { (b.id) " v" (b.version) " — " (b.title) }
                p {
                    "Status: "
                    @if s.status == "in-force" { span.ok.status { (s.status) } } @else { span.bad.status { (s.status) } }
                    @if s.status == "in-force" && days_left <= WARN_AGREEMENT_DAYS {
                        " " span.warn.expiry-warning { "expires in " (days_left) " day(s): renew it" }
                    }
                }
                @if !s.reasons.is_empty() {
                    ul { @for r in &s.reasons { li { code { (r.rule.as_str()) } " — " (r.text) } } }
                }
                dl.facts {
                    dt { "Parties" } dd { @for p in &b.parties { (p.code) " (" (p.name) ", policy " (p.policy) ") " } }
                    dt { "Scopes" } dd { (b.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                    dt { "Ceiling" } dd { (b.ceiling.as_deref().unwrap_or("none")) }
                    dt { "Term" } dd { (b.effective_from.to_string()) " to " (b.expires.to_string()) }
                    @if let Some(p) = &b.predecessor { dt { "Renews" } dd { (p.id) " v" (p.version) ", which ends " (p.ends.to_string()) } }
                    dt { "Translations" } dd { @for t in &b.translations { (t.from) " → " (t.to) " " } @if b.translations.is_empty() { "none" } }
                }
                h3 { "Timeline" }
                ol.timeline {
                    li { "drafted (version " (b.version) ")" }
                    @for r in &h.agreement.records {
                        li {
                            (r.time.to_string()) " — " (r.party) " "
                            @match &r.kind {
                                RecordKind::Approve { reference } => { "approved (reference " (reference) ")" }
                                RecordKind::Sign => "signed",
                                RecordKind::Terminate { effective } => { "gave notice of termination, effective " (effective.to_string()) }
                                k => { (k.describe_amendment().unwrap_or_default()) }
                            }
                        }
                    }
                    li { (b.effective_from.to_string()) " — takes effect" }
                    li { (b.expires.to_string()) " — expires" }
                }
                h3 { "Keys" }
                table.keys {
                    thead { tr { th { "Party" } th { "Signing key (ES384 kid)" } th { "ML-DSA-87 SHA-256" } th { "Node TLS pin" } th { "KAS keys" } } }
                    tbody {
                        @for p in &b.parties {
                            tr {
                                td { (p.code) }
                                td { code { (accord_keys::spki_kid(&p.signing_keys.ecdsa_p384)) } }
                                td { code { (sha256_hex(&p.signing_keys.ml_dsa_87)) } }
                                td { @if let Some(n) = &p.node { code { (n.tls_spki_sha256) } br; (n.url) } @else { "—" } }
                                td { @for k in p.kas_keys.iter().chain(p.node.iter().flat_map(|n| n.kas_keys.iter())) { code { (k.alg) " " (k.kid) } br; } }
                            }
                        }
                    }
                }
            }
        }
    };
    c.page(
        StatusCode::OK,
        Some(&caller),
        "Agreements",
        &c.node.banner([]),
        body,
    )
}
