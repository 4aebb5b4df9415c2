//! The delivery loop: the outbox's due objects to partner nodes, with retries,
//! batches of small objects, resumed large ones, and the receipts checked.

use super::audit::Event;
use super::blobs::outbox_path;
use super::blobs::RESUME_MIN;
use super::store::signature_stmts;
use super::store::OutboxRow;
use crate::exchange::now_ms;
use crate::exchange::DeliveryOptions;
use crate::exchange::RETRY_FIRST_MS;
use crate::node::Node;
use crate::partners;
use crate::store::Stmt;
use accord_node_api::receipt::Receipt;
use accord_node_api::wire::{self, Reason};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub(super) fn backoff(attempts: u64, cap: Duration) -> i64 {
    let ms = RETRY_FIRST_MS.saturating_mul(1i64 << attempts.min(20));
    ms.min(cap.as_millis() as i64)
}

/// Outbox entries read per round of delivery.
pub(super) const ROUND: usize = 1024;

/// What one delivery call carries: a large object alone (streamed), or a batch of
/// small ones for the same partner.
pub(super) enum Unit {
    One(Box<OutboxRow>),
    Batch(Vec<OutboxRow>),
}

/// Group due objects into units: per partner, small objects in batches bounded by
/// [`wire::BATCH_MAX_OBJECTS`] and [`wire::BATCH_MAX_BYTES`]; large ones alone.
pub(super) fn units(due: Vec<OutboxRow>) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut open: std::collections::BTreeMap<String, (Vec<OutboxRow>, u64)> =
        std::collections::BTreeMap::new();
    for item in due {
        if item.size > wire::BATCH_OBJECT_MAX {
            out.push(Unit::One(Box::new(item)));
            continue;
        }
        let (items, bytes) = open.entry(item.to.clone()).or_default();
        if items.len() == wire::BATCH_MAX_OBJECTS || *bytes + item.size > wire::BATCH_MAX_BYTES {
            out.push(Unit::Batch(std::mem::take(items)));
            *bytes = 0;
        }
        *bytes += item.size;
        items.push(item);
    }
    for (_, (items, _)) in open {
        if !items.is_empty() {
            out.push(Unit::Batch(items));
        }
    }
    out
}

/// Deliver the outbox until `stop` turns true (then let the deliveries under way
/// finish).
///
/// Deliveries run as tasks, at most `parallel` at once, each recording its own
/// outcomes; the loop keeps starting new ones as others finish or objects fall due,
/// rather than in rounds, so that the bookkeeping of one batch overlaps the transfer
/// of the next. What is in flight is remembered so that it is not started twice.
pub async fn deliver_loop(
    node: Arc<Node>,
    opts: DeliveryOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let parallel = opts.parallel.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight: std::collections::HashSet<(String, String)> = Default::default();
    // Batches under way per partner: at most BATCHES_PER_PARTNER, so that while they
    // travel what falls due gathers into the next batch, rather than each object sent
    // going out alone as it arrives (one signature, one sync, one commit each).
    let mut batches: std::collections::HashMap<String, usize> = Default::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<(String, String)>>();
    loop {
        while let Ok(keys) = done_rx.try_recv() {
            finished(&mut in_flight, &mut batches, keys);
        }
        while tasks.try_join_next().is_some() {}
        if *stop.borrow() {
            while tasks.join_next().await.is_some() {}
            return;
        }
        let room = parallel.saturating_sub(tasks.len());
        let due = if room == 0 {
            vec![]
        } else {
            match node.store.outbox_due(now_ms(), ROUND, &in_flight).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the outbox");
                    vec![]
                }
            }
        };
        let mut started = false;
        let mut room = room;
        for unit in units(due) {
            if room == 0 {
                break;
            }
            let keys: Vec<(String, String)> = match &unit {
                Unit::One(i) => vec![(i.id.clone(), i.to.clone())],
                Unit::Batch(v) => {
                    let n = batches.entry(v[0].to.clone()).or_default();
                    if *n >= BATCHES_PER_PARTNER {
                        continue;
                    }
                    *n += 1;
                    v.iter().map(|i| (i.id.clone(), i.to.clone())).collect()
                }
            };
            room -= 1;
            in_flight.extend(keys.iter().cloned());
            let (node, done, cap) = (node.clone(), done_tx.clone(), opts.retry_cap);
            let marker = match &unit {
                Unit::Batch(v) => vec![(String::new(), v[0].to.clone())],
                Unit::One(_) => vec![],
            };
            tasks.spawn(async move {
                // Released however the task ends, a panic included: what it held is
                // then delivered again rather than left "under way" until a restart.
                let objects = Release(done.clone(), keys);
                let batch = Release(done, marker);
                let outcomes = match unit {
                    Unit::One(item) => {
                        let o = attempt(&node, &item).await;
                        vec![(*item, o)]
                    }
                    Unit::Batch(items) => {
                        let o = attempt_batch(&node, items).await;
                        // The partner has answered: the next batch may go while this
                        // one is recorded.
                        drop(batch);
                        o
                    }
                };
                record(&node, outcomes, cap).await;
                drop(objects);
            });
            started = true;
        }
        if started {
            continue;
        }
        let wait = if !tasks.is_empty() {
            // A finishing delivery wakes the loop; this only bounds how late an object
            // whose backoff ends meanwhile is noticed.
            Duration::from_millis(50)
        } else {
            match node.store.outbox_next_due().await {
                Ok(Some(t)) => Duration::from_millis((t - now_ms()).clamp(10, 1000) as u64),
                _ => Duration::from_secs(1),
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            _ = node.outbox_ready.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(keys) = done_rx.recv() => finished(&mut in_flight, &mut batches, keys),
        }
    }
}

/// Tells the delivery loop, when dropped, that these keys (objects, or a batch's
/// marker: an empty id) are no longer under way.
pub(super) struct Release(
    tokio::sync::mpsc::UnboundedSender<Vec<(String, String)>>,
    Vec<(String, String)>,
);

impl Drop for Release {
    fn drop(&mut self) {
        if !self.1.is_empty() {
            let _ = self.0.send(std::mem::take(&mut self.1));
        }
    }
}

/// Batch deliveries under way at once to one partner.
pub(super) const BATCHES_PER_PARTNER: usize = 2;

/// Forget a finished delivery's objects (and its batch marker, an empty id).
pub(super) fn finished(
    in_flight: &mut std::collections::HashSet<(String, String)>,
    batches: &mut std::collections::HashMap<String, usize>,
    keys: Vec<(String, String)>,
) {
    for k in keys {
        if k.0.is_empty() {
            if let Some(n) = batches.get_mut(&k.1) {
                *n = n.saturating_sub(1);
            }
        } else {
            in_flight.remove(&k);
        }
    }
}

pub(super) enum Outcome {
    Delivered(Box<Receipt>),
    Refused(Vec<Reason>),
    Retry(String),
}

/// Record how deliveries went: retries rescheduled; the others logged in one durable
/// append, then marked in one commit, then their queued copies removed.
pub(super) async fn record(node: &Arc<Node>, outcomes: Vec<(OutboxRow, Outcome)>, cap: Duration) {
    let mut retries = Vec::new();
    let mut entries = Vec::new();
    let mut finished = Vec::new();
    for (item, outcome) in &outcomes {
        let (id, to) = (item.id.as_str(), item.to.as_str());
        let (state, reasons, receipt) = match outcome {
            Outcome::Retry(e) => {
                let next = now_ms() + backoff(item.attempts, cap);
                tracing::debug!(object = %id, %to, error = %e, attempts = item.attempts + 1, "delivery will be retried");
                retries.push(
                    Stmt::new(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt = $1, last_error = $2 WHERE object_id = $3 AND recipient = $4",
                    )
                    .int(next)
                    .text(e.as_str())
                    .text(id)
                    .text(to),
                );
                continue;
            }
            Outcome::Delivered(r) => ("delivered", &[][..], Some(&**r)),
            Outcome::Refused(reasons) => ("refused", &reasons[..], None),
        };
        entries.push(node.audit(
            &Event {
                kind: "deliver",
                person: Some(&item.person),
                credential: None,
                object: Some(id),
                marking: Some(&item.marking),
                agreement: Some(&item.agreement),
                partner: Some(to),
            },
            receipt.is_some(),
            reasons,
        ));
        if receipt.is_some() {
            tracing::info!(object = %id, %to, "delivered");
        } else {
            tracing::warn!(object = %id, %to, "delivery refused");
        }
        let stored = receipt.map(super::store::stored);
        let (json, sig) = match stored {
            Some((j, s)) => (Some(j), s.map(|s| s.digest)),
            None => (None, None),
        };
        finished.push(
            Stmt::new(
                "UPDATE outbox SET state = $1, attempts = attempts + 1, reasons = $2, receipt = $3, last_error = NULL, done = $4, \
                 receipt_sig = $5 WHERE object_id = $6 AND recipient = $7",
            )
            .text(state)
            .text(serde_json::to_string(reasons).unwrap_or_default())
            .opt_text(json)
            .int(crate::store::unix_now())
            .opt_text(sig)
            .text(id)
            .text(to),
        );
    }
    if !retries.is_empty() {
        if let Err(e) = node.store.commit(retries).await {
            tracing::error!(error = %e, "recording delivery attempts");
        }
    }
    if entries.is_empty() {
        return;
    }
    if let Err(e) = node.log_entries(entries).await {
        tracing::error!(error = %e.error, "audit log");
        return;
    }
    // A partner that just took a delivery is back: what waits for it in backoff is due
    // now, and goes in batches rather than one by one as each backoff ends.
    let mut back: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Delivered(_)))
        .map(|(i, _)| i.to.as_str())
        .collect();
    back.dedup();
    let now = now_ms();
    for to in &back {
        finished.push(
            Stmt::new(
                "UPDATE outbox SET next_attempt = $1 WHERE recipient = $2 AND state = 'queued' AND next_attempt > $3",
            )
            .int(now)
            .text(*to)
            .int(now),
        );
    }
    let mut stmts = signature_stmts(outcomes.iter().filter_map(|(_, o)| match o {
        Outcome::Delivered(r) => Some(&**r),
        _ => None,
    }));
    stmts.extend(finished);
    match node.store.commit(stmts).await {
        Ok(rows) if rows.iter().rev().take(back.len()).any(|&n| n > 0) => {
            node.outbox_ready.notify_one();
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "recording deliveries");
            return;
        }
    }
    // The delivered (or finally refused) objects' files, in one blocking call.
    let done: Vec<PathBuf> = outcomes
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Retry(_)))
        .filter_map(|(item, _)| outbox_path(node, item).ok())
        .collect();
    if !done.is_empty() {
        let _ = tokio::task::spawn_blocking(move || {
            for p in done {
                let _ = std::fs::remove_file(p);
            }
        })
        .await;
    }
}

/// Check a partner's receipt against what was sent (its signature is checked by the
/// caller).
pub(super) fn check_receipt(
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
    use accord_node_api::Kind;
    match accord_node_api::http::kind(status) {
        Kind::BadRequest | Kind::Denied | Kind::Conflict | Kind::TooLarge | Kind::Unacceptable => {
            Outcome::Refused(match problem {
                Some(p) if !p.reasons.is_empty() => p.reasons,
                Some(p) => vec![Reason::new(accord_node_api::wire::Rule::Partner, p.error)],
                None => vec![Reason::new(
                    accord_node_api::wire::Rule::Partner,
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

/// Deliver a batch of small objects to one partner in one request.
pub(super) async fn attempt_batch(
    node: &Arc<Node>,
    items: Vec<OutboxRow>,
) -> Vec<(OutboxRow, Outcome)> {
    let all = |items: Vec<OutboxRow>, o: &dyn Fn() -> Outcome| {
        items.into_iter().map(|i| (i, o())).collect::<Vec<_>>()
    };
    let held = match node.agreements().await {
        Ok(h) => h,
        Err(e) => return all(items, &|| Outcome::Retry(e.to_string())),
    };
    let at = (node.clock)();
    let to = items[0].to.clone();
    let partners = partners::in_force(&held, node.party(), at);
    let Some(partner) = partners.iter().find(|p| p.code == to) else {
        return items
            .into_iter()
            .map(|i| {
                let o = stopped(&i);
                (i, o)
            })
            .collect();
    };
    let client = match node.partner_clients.get(&node.home, partner) {
        Ok(c) => c,
        Err(e) => return all(items, &|| Outcome::Retry(e.to_string())),
    };
    let mut out = Vec::new();
    let mut wanted = Vec::new();
    for item in items {
        if !partner.agreements.contains(&item.agreement) {
            let o = stopped(&item);
            out.push((item, o));
        } else {
            wanted.push(item);
        }
    }
    // All the batch's files in one blocking call, rather than one hand-off to the
    // blocking pool (and one wake-up) per object.
    let paths: Vec<Result<PathBuf, String>> = wanted.iter().map(|i| outbox_path(node, i)).collect();
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
    .unwrap_or_else(|e| vec![Err(format!("reading the batch's files: {e}")); wanted.len()]);
    let mut sending = Vec::new();
    let mut bodies = Vec::new();
    for (item, r) in wanted.into_iter().zip(read) {
        match r {
            Ok(b) => {
                bodies.push((item.id.clone(), b));
                sending.push(item);
            }
            Err(e) => out.push((
                item,
                Outcome::Refused(vec![Reason::new(
                    accord_node_api::wire::Rule::ObjectIntegrity,
                    format!("the queued object is gone: {e}"),
                )]),
            )),
        }
    }
    if sending.is_empty() {
        return out;
    }
    let url = format!("{}/v1/fed/inbox", partner.url);
    let resp = match client
        .post(&url)
        .header("content-type", wire::BATCH_MEDIA_TYPE)
        .body(wire::batch_body(&bodies))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let e = format!("{url}: {}", accord_node_api::tls::describe(&e));
            out.extend(all(sending, &|| Outcome::Retry(e.clone())));
            return out;
        }
    };
    drop(bodies);
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let e = format!("{url}: {e}");
            out.extend(all(sending, &|| Outcome::Retry(e.clone())));
            return out;
        }
    };
    if matches!(status.as_u16(), 400 | 404 | 405 | 413) {
        // A partner without batch delivery, or one that will not take this batch (its
        // bounds may be smaller than ours): one by one, so that each object gets its
        // own answer rather than the batch's.
        for item in sending {
            let o = attempt(node, &item).await;
            out.push((item, o));
        }
        return out;
    }
    if !status.is_success() {
        let problem: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
        for item in sending {
            let o = refusal_outcome(status.as_u16(), &url, problem.clone());
            out.push((item, o));
        }
        return out;
    }
    let answer: wire::BatchResponse = match serde_json::from_slice(&bytes) {
        Ok(a) => a,
        Err(e) => {
            let e = format!("{url}: the answer does not parse: {e}");
            out.extend(all(sending, &|| Outcome::Retry(e.clone())));
            return out;
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
        out.extend(all(sending, &|| Outcome::Retry(e.clone())));
        return out;
    }
    let receipts: Vec<&Receipt> = answer
        .results
        .iter()
        .filter_map(|r| r.receipt.as_ref())
        .collect();
    if let Err(e) = Receipt::verify_all(receipts, &partner.signing_keys) {
        let e = e.to_string();
        out.extend(all(sending, &|| Outcome::Retry(e.clone())));
        return out;
    }
    for (item, r) in sending.into_iter().zip(answer.results) {
        let o = match r.receipt {
            Some(receipt) => match check_receipt(node, &item, &receipt, &url) {
                Ok(()) => Outcome::Delivered(Box::new(receipt)),
                Err(e) => Outcome::Retry(e),
            },
            None => refusal_outcome(
                r.status.unwrap_or(500),
                &url,
                Some(wire::Problem {
                    error: r.error.unwrap_or_default(),
                    reasons: r.reasons,
                }),
            ),
        };
        out.push((item, o));
    }
    out
}

/// The outcome for an object whose agreement is no longer in force with its partner.
pub(super) fn stopped(item: &OutboxRow) -> Outcome {
    Outcome::Refused(vec![Reason::new(
        accord_agreement::Rule::AgreementInForce,
        format!(
            "agreement {} is no longer in force with {}: the delivery is stopped",
            item.agreement, item.to
        ),
    )])
}

/// Ask the partner how much of a broken delivery it holds (0 when it holds none, or
/// does not answer that question, or answers what cannot be right for this object).
pub(super) async fn resume_offset(client: &reqwest::Client, url: &str, size: u64) -> u64 {
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

pub(super) async fn attempt(node: &Arc<Node>, item: &OutboxRow) -> Outcome {
    let held = match node.agreements().await {
        Ok(h) => h,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let at = (node.clock)();
    let Some(partner) = partners::in_force(&held, node.party(), at)
        .into_iter()
        .find(|p| p.code == item.to && p.agreements.contains(&item.agreement))
    else {
        return stopped(item);
    };
    let client = match node.partner_clients.get(&node.home, &partner) {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let path = match outbox_path(node, item) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                accord_node_api::wire::Rule::ObjectIntegrity,
                format!("the queued object {} cannot be found: {e}", item.id),
            )])
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                accord_node_api::wire::Rule::ObjectIntegrity,
                format!("the queued object {} is gone: {e}", path.display()),
            )])
        }
    };
    let url = format!("{}/v1/fed/inbox/{}", partner.url, item.id);
    // A large object whose last delivery broke off: send only what the partner lacks.
    let from = if item.size >= RESUME_MIN {
        resume_offset(&client, &url, item.size).await
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
    let mut req = client
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
    if status.is_success() {
        let receipt: Receipt = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(format!("{url}: the receipt does not parse: {e}")),
        };
        if let Err(e) = receipt.verify(&partner.signing_keys) {
            return Outcome::Retry(e.to_string());
        }
        if let Err(e) = check_receipt(node, item, &receipt, &url) {
            return Outcome::Retry(e);
        }
        return Outcome::Delivered(Box::new(receipt));
    }
    let problem: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
    refusal_outcome(status.as_u16(), &url, problem)
}
