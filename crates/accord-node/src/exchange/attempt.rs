//! One delivery attempt: a unit of the outbox (a large object alone, streamed and
//! resumed where a broken delivery stopped, or a batch of small ones in one request)
//! to its partner, and the partner's answers made into each object's outcome.
//!
//! Both transports share all but the transfer itself: finding the partner in force and
//! the objects its agreements no longer cover ([`target`]), and turning what the partner
//! answered for each object, a receipt or a refusal, into an outcome ([`outcomes`]).

use super::blobs::outbox_path;
use super::blobs::RESUME_MIN;
use super::delivery::{Outcome, Unit};
use super::store::OutboxRow;
use crate::node::Node;
use crate::partners::{self, Partner};
use accord_node_api::receipt::Receipt;
use accord_node_api::wire::{self, Reason, Rule};
use accord_node_api::Kind;
use std::path::PathBuf;
use std::sync::Arc;

/// Deliver `unit` once: every object in it with its outcome.
pub(super) async fn attempt(node: &Arc<Node>, unit: Unit) -> Vec<(OutboxRow, Outcome)> {
    let (items, streamed) = match unit {
        Unit::One(item) => (vec![*item], true),
        Unit::Batch(items) => (items, false),
    };
    let mut out = Vec::with_capacity(items.len());
    let Some((to, sending)) = target(node, items, &mut out).await else {
        return out;
    };
    if streamed {
        for item in sending {
            let o = streamed_one(node, &to, &item).await;
            out.push((item, o));
        }
    } else {
        batch(node, &to, sending, &mut out).await;
    }
    out
}

/// The partner an attempt goes to, and the client that reaches it.
struct Target {
    partner: Partner,
    client: reqwest::Client,
}

/// The partner in force for `items` (all for one party) and the items still under an
/// agreement with it; every other item's outcome goes to `out` (retried when the
/// node cannot tell now, stopped when no agreement in force covers it any more).
async fn target(
    node: &Arc<Node>,
    items: Vec<OutboxRow>,
    out: &mut Vec<(OutboxRow, Outcome)>,
) -> Option<(Target, Vec<OutboxRow>)> {
    let held = match node.agreements().await {
        Ok(h) => h,
        Err(e) => {
            retry_all(out, items, e.to_string());
            return None;
        }
    };
    let at = (node.clock)();
    let to = items.first()?.to.clone();
    let Some(partner) = partners::in_force(&held, node.party(), at)
        .into_iter()
        .find(|p| p.code == to)
    else {
        out.extend(items.into_iter().map(|i| {
            let o = stopped(&i);
            (i, o)
        }));
        return None;
    };
    let client = match node.partner_clients.get(&node.home, &partner) {
        Ok(c) => c,
        Err(e) => {
            retry_all(out, items, e.to_string());
            return None;
        }
    };
    let mut wanted = Vec::with_capacity(items.len());
    for item in items {
        if partner.agreements.contains(&item.agreement) {
            wanted.push(item);
        } else {
            let o = stopped(&item);
            out.push((item, o));
        }
    }
    Some((Target { partner, client }, wanted))
}

fn retry_all(out: &mut Vec<(OutboxRow, Outcome)>, items: Vec<OutboxRow>, e: String) {
    out.extend(items.into_iter().map(|i| (i, Outcome::Retry(e.clone()))));
}

/// The outcome for an object whose agreement is no longer in force with its partner.
fn stopped(item: &OutboxRow) -> Outcome {
    Outcome::Refused(vec![Reason::new(
        accord_agreement::Rule::AgreementInForce,
        format!(
            "agreement {} is no longer in force with {}: the delivery is stopped",
            item.agreement, item.to
        ),
    )])
}

/// What the partner answered for one object.
enum Answer {
    /// It took the object: its receipt (not yet checked).
    Receipt(Receipt),
    /// It refused: the status and the problem it gave.
    Refused {
        status: u16,
        problem: Option<wire::Problem>,
    },
}

/// The signatures of the receipts among `answers`, each batch signature checked once.
/// A receipt that does not verify makes the whole answer suspect: the caller retries
/// every object it carried.
fn verify<'a>(to: &Target, answers: impl IntoIterator<Item = &'a Answer>) -> Result<(), String> {
    let receipts: Vec<&Receipt> = answers
        .into_iter()
        .filter_map(|a| match a {
            Answer::Receipt(r) => Some(r),
            Answer::Refused { .. } => None,
        })
        .collect();
    // The partner's current key only: a receipt is checked when it arrives, so one
    // signed with a key the partner rotated from (or to, before this node loaded the
    // amendment) is only a retry, and an old key kept by someone else signs none.
    Receipt::verify_all(receipts, &to.partner.signing_keys).map_err(|e| e.to_string())
}

/// One object's outcome from the partner's answer for it, once [`verify`] has checked
/// the receipts' signatures.
fn outcome(node: &Node, url: &str, item: &OutboxRow, answer: Answer) -> Outcome {
    match answer {
        Answer::Receipt(receipt) => match check_receipt(node, item, &receipt, url) {
            Ok(()) => Outcome::Delivered(Box::new(receipt)),
            Err(e) => Outcome::Retry(e),
        },
        Answer::Refused { status, problem } => refusal_outcome(status, url, problem),
    }
}

/// Each object's outcome from the answers for a batch (in the order sent).
fn outcomes(
    node: &Node,
    to: &Target,
    url: &str,
    sent: Vec<(OutboxRow, Answer)>,
    out: &mut Vec<(OutboxRow, Outcome)>,
) {
    if let Err(e) = verify(to, sent.iter().map(|(_, a)| a)) {
        return retry_all(out, sent.into_iter().map(|(i, _)| i).collect(), e);
    }
    out.extend(sent.into_iter().map(|(item, a)| {
        let o = outcome(node, url, &item, a);
        (item, o)
    }));
}

/// Check a partner's receipt against what was sent (its signature is checked by
/// [`verify`]).
fn check_receipt(
    node: &Node,
    item: &OutboxRow,
    receipt: &Receipt,
    url: &str,
) -> Result<(), String> {
    let b = &receipt.body;
    if b.object_id != item.id
        || b.sha256 != item.sha256
        || b.size != item.size
        || b.from != node.party()
        || b.to != item.to
    {
        return Err(format!(
            "{url}: the receipt is for another object or party ({} {} {}→{})",
            b.object_id, b.sha256, b.from, b.to
        ));
    }
    Ok(())
}

/// How a partner's refusal maps to an outcome: a refusal of the object for what it is
/// ends its delivery; anything else (the partner failing, not finding its route, a
/// status nobody understood) is retried, so that nothing is given up on by mistake.
pub(super) fn refusal_outcome(status: u16, url: &str, problem: Option<wire::Problem>) -> Outcome {
    match accord_node_api::http::kind(status) {
        Kind::BadRequest | Kind::Denied | Kind::Conflict | Kind::TooLarge | Kind::Unacceptable => {
            Outcome::Refused(match problem {
                Some(p) if !p.reasons.is_empty() => p.reasons,
                Some(p) => vec![Reason::new(Rule::Partner, p.error)],
                None => vec![Reason::new(
                    Rule::Partner,
                    format!("{url}: status {status}"),
                )],
            })
        }
        _ => Outcome::Retry(format!(
            "{url}: status {status}{}",
            problem
                .map(|p| format!(": {}", p.error))
                .unwrap_or_default()
        )),
    }
}

/// A batch of small objects to one partner in one request.
async fn batch(
    node: &Arc<Node>,
    to: &Target,
    items: Vec<OutboxRow>,
    out: &mut Vec<(OutboxRow, Outcome)>,
) {
    // All the batch's files in one blocking call, rather than one hand-off to the
    // blocking pool (and one wake-up) per object.
    let paths: Vec<Result<PathBuf, String>> = items.iter().map(|i| outbox_path(node, i)).collect();
    let n = items.len();
    let read = tokio::task::spawn_blocking(move || {
        paths
            .into_iter()
            .map(|p| {
                let p = p?;
                std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|e| vec![Err(format!("reading the batch's files: {e}")); n]);
    let mut sending = Vec::new();
    let mut bodies = Vec::new();
    for (item, r) in items.into_iter().zip(read) {
        match r {
            Ok(b) => {
                bodies.push((item.id.clone(), b));
                sending.push(item);
            }
            Err(e) => out.push((
                item,
                Outcome::Refused(vec![Reason::new(
                    Rule::ObjectIntegrity,
                    format!("the queued object is gone: {e}"),
                )]),
            )),
        }
    }
    if sending.is_empty() {
        return;
    }
    let url = format!("{}/v1/fed/inbox", to.partner.url);
    let resp = match to
        .client
        .post(&url)
        .header("content-type", wire::BATCH_MEDIA_TYPE)
        .body(wire::batch_body(&bodies))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let e = format!("{url}: {}", accord_node_api::tls::describe(&e));
            return retry_all(out, sending, e);
        }
    };
    drop(bodies);
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return retry_all(out, sending, format!("{url}: {e}")),
    };
    if matches!(status.as_u16(), 400 | 404 | 405 | 413) {
        // A partner without batch delivery, or one that will not take this batch (its
        // bounds may be smaller than ours): one by one, so that each object gets its
        // own answer rather than the batch's.
        for item in sending {
            let o = streamed_one(node, to, &item).await;
            out.push((item, o));
        }
        return;
    }
    if !status.is_success() {
        let problem: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
        let sent = sending
            .into_iter()
            .map(|i| {
                let problem = problem.clone();
                let status = status.as_u16();
                (i, Answer::Refused { status, problem })
            })
            .collect();
        return outcomes(node, to, &url, sent, out);
    }
    let answer: wire::BatchResponse = match serde_json::from_slice(&bytes) {
        Ok(a) => a,
        Err(e) => {
            let e = format!("{url}: the answer does not parse: {e}");
            return retry_all(out, sending, e);
        }
    };
    if answer.results.len() != sending.len()
        || answer
            .results
            .iter()
            .zip(&sending)
            .any(|(r, i)| r.id != i.id)
    {
        let e = format!("{url}: the answer does not list the objects sent, in order");
        return retry_all(out, sending, e);
    }
    let sent = sending
        .into_iter()
        .zip(answer.results)
        .map(|(item, r)| {
            let a = match r.receipt {
                Some(receipt) => Answer::Receipt(receipt),
                None => Answer::Refused {
                    status: r.status.unwrap_or(500),
                    problem: Some(wire::Problem {
                        error: r.error.unwrap_or_default(),
                        reasons: r.reasons,
                    }),
                },
            };
            (item, a)
        })
        .collect();
    outcomes(node, to, &url, sent, out);
}

/// Ask the partner how much of a broken delivery it holds (0 when it holds none, or
/// does not answer that question, or answers what cannot be right for this object).
async fn resume_offset(client: &reqwest::Client, url: &str, size: u64) -> u64 {
    let Ok(resp) = client.get(format!("{url}/partial")).send().await else {
        return 0;
    };
    if !resp.status().is_success() {
        return 0;
    }
    let Ok(bytes) = resp.bytes().await else {
        return 0;
    };
    resume_from(&bytes, size)
}

/// The offset to resume from, given the partner's answer: only strictly inside the
/// object (a partial as long as the object or longer is not a partial of it).
pub(super) fn resume_from(answer: &[u8], size: u64) -> u64 {
    match serde_json::from_slice::<wire::PartialDelivery>(answer) {
        Ok(p) if p.offset < size => p.offset,
        _ => 0,
    }
}

/// One object streamed from its file, from where a broken delivery of it stopped.
async fn streamed_one(node: &Arc<Node>, to: &Target, item: &OutboxRow) -> Outcome {
    let path = match outbox_path(node, item) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                Rule::ObjectIntegrity,
                format!("the queued object {} cannot be found: {e}", item.id),
            )])
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                Rule::ObjectIntegrity,
                format!("the queued object {} is gone: {e}", path.display()),
            )])
        }
    };
    let url = format!("{}/v1/fed/inbox/{}", to.partner.url, item.id);
    // A large object whose last delivery broke off: send only what the partner lacks.
    let from = if item.size >= RESUME_MIN {
        resume_offset(&to.client, &url, item.size).await
    } else {
        0
    };
    if from > 0 {
        use tokio::io::AsyncSeekExt as _;
        if let Err(e) = file.seek(std::io::SeekFrom::Start(from)).await {
            return Outcome::Retry(format!("{}: {e}", path.display()));
        }
        tracing::info!(object = %item.id, to = %item.to, from, "resuming a delivery");
    }
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let mut req = to
        .client
        .put(&url)
        .header("content-type", "application/zip")
        .header("content-length", item.size - from);
    if from > 0 {
        req = req.header(wire::RESUME_HEADER, from);
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(format!("{url}: {}", accord_node_api::tls::describe(&e))),
    };
    let status = resp.status();
    if from > 0 && status.as_u16() == 416 {
        // The partner no longer holds what it said: the next attempt asks again (and
        // is told 0) and sends the object whole.
        return Outcome::Retry(format!(
            "{url}: the partner no longer holds the first {from} bytes; sending it whole next"
        ));
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Outcome::Retry(format!("{url}: {e}")),
    };
    let answer = if status.is_success() {
        match serde_json::from_slice(&bytes) {
            Ok(r) => Answer::Receipt(r),
            Err(e) => return Outcome::Retry(format!("{url}: the receipt does not parse: {e}")),
        }
    } else {
        Answer::Refused {
            status: status.as_u16(),
            problem: serde_json::from_slice(&bytes).ok(),
        }
    };
    if let Err(e) = verify(to, [&answer]) {
        return Outcome::Retry(e);
    }
    outcome(node, &url, item, answer)
}
