//! The outbox page: what the person sent, its delivery, the partner's receipt (its
//! signature checked against the key the agreement lists) and refusals with reasons.

use super::page::size;
use super::{Console, PeerExt};
use accord_agreement::Duty;
use accord_node_api::exchange::{OutboxFilter, OutboxItem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use std::sync::Arc;

/// Most rows shown.
const SHOWN: u64 = 200;

/// `GET /console/outbox`.
pub(crate) async fn list(State(c): State<Arc<Console>>, peer: PeerExt) -> Response {
    let caller = match c.caller(&peer, Duty::Exchange).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let filter = OutboxFilter {
        limit: Some(SHOWN),
        ..Default::default()
    };
    let items = match c.node.outbox(&peer, &filter).await {
        Ok(v) => v,
        Err(r) => return c.refused(Some(&caller), "Outbox", &r),
    };
    let held = c.node.agreements().await.ok();
    let receipt_check = |i: &OutboxItem| -> Option<Result<(), String>> {
        let r = i.receipt.as_ref()?;
        let keys: Vec<_> = held
            .iter()
            .flat_map(|h| h.iter())
            .filter(|a| a.agreement.body.id == i.agreement)
            .flat_map(|a| a.checked().signing_keys_of(&i.to))
            .collect();
        Some(match keys.last() {
            None => Err(format!("no agreement held lists {}'s keys", i.to)),
            // The current key, else one the partner had before a rotation.
            Some(k) => r
                .verify(k)
                .or_else(|e| match keys.iter().any(|k| r.verify(k).is_ok()) {
                    true => Ok(()),
                    false => Err(e),
                })
                .map_err(|e| e.to_string()),
        })
    };
    let banner = c
        .node
        .banner_of_markings(items.iter().map(|i| i.marking.as_str()));
    let body = html! {
        p { (items.len()) " object(s) you sent, newest first" @if items.len() as u64 == SHOWN { " (the latest " (SHOWN) ")" } }
        table #outbox {
            thead { tr { th { "Marking" } th { "Object" } th { "To" } th { "Queued" } th { "Size" } th { "State" } th { "Receipt" } } }
            tbody {
                @for i in &items {
                    tr id={"object-" (i.id)} {
                        td { span.portion.(c.node.marking_class(&i.marking)) { (i.marking) } }
                        td { code { (i.id) } }
                        td { (i.to) }
                        td { (i.queued) }
                        td { (size(i.size)) }
                        td {
                            (i.state)
                            @if i.attempts > 1 { " (" (i.attempts) " attempts)" }
                            @if let Some(e) = &i.last_error { br; span.warn { (e) } }
                            @if !i.reasons.is_empty() {
                                ul { @for r in &i.reasons { li { code { (r.rule.as_str()) } " — " (r.text) } } }
                            }
                        }
                        td {
                            @match (receipt_check(i), &i.receipt) {
                                (Some(Ok(())), Some(r)) => { span.ok { "signed by " (i.to) ", verified" } br; "received " (r.body.received) ", their log entry " (r.body.log_index) }
                                (Some(Err(e)), _) => span.bad { "signature does not verify: " (e) },
                                _ => "—",
                            }
                        }
                    }
                }
            }
        }
    };
    c.page(StatusCode::OK, Some(&caller), "Outbox", &banner, body)
}
