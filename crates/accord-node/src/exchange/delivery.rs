//! The delivery loop: the outbox's due objects to partner nodes, with retries,
//! batches of small objects, resumed large ones, and the receipts checked.

use super::attempt::attempt;
use super::blobs::outbox_path;
use super::store::signature_stmts;
use super::store::OutboxRow;
use crate::audit::{AuditEntry, EntryKind};
use crate::exchange::now_ms;
use crate::exchange::DeliveryOptions;
use crate::exchange::RETRY_FIRST_MS;
use crate::node::Node;
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
                let outcomes = attempt(&node, unit).await;
                // The partner has answered: its next batch may go while this one is
                // recorded.
                drop(batch);
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
        entries.push(
            AuditEntry {
                person: Some(&item.person),
                object: Some(id),
                marking: Some(&item.marking),
                agreement: Some(&item.agreement),
                partner: Some(to),
                ..node.entry(EntryKind::Deliver, receipt.is_some(), reasons)
            }
            .bytes(),
        );
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
