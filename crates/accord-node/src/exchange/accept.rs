//! Accepting what a partner delivered, one object or a batch: one path for both.
//!
//! For each object, in order: what is held already from this partner under its id
//! answers (its receipt for the same bytes, a conflict for others); the rest is checked
//! again here (the label verified with the sender's key, the agreement in force, the
//! transfer decision), the kept bytes made durable, every decision logged in one append
//! (refusals first, then permits: the receipts' log indexes count on it), the receipts
//! signed, and the rows committed at once. A delivery that raced this one under the same
//! id and was committed first is what is held: only its receipt may be given.
//!
//! The two transports differ only in where the bytes are: one object streamed to a
//! spool file and kept as a file of its own, or small objects in one request body, kept
//! together in one pack file with one fsync.

use super::audit::conflict;
use super::blobs::blob_dir;
use super::blobs::examine;
use super::blobs::examine_all;
use super::blobs::inbox_file_name;
use super::blobs::keep_pack;
use super::blobs::Spooled;
use super::store::InboxRecord;
use crate::exchange::rfc3339;
use crate::node::Node;
use crate::partners::Partner;
use crate::refusal::Refusal;
use accord_node_api::exchange::InboxItem;
use accord_node_api::receipt::{Receipt, ReceiptBody};
use accord_node_api::Kind;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// What a partner delivered, where its bytes are.
pub(super) enum Delivered {
    /// One object, streamed to a spool file.
    One {
        /// Its id (checked).
        id: String,
        /// Its bytes.
        spooled: Spooled,
    },
    /// Small objects in one request body.
    Batch {
        /// The body.
        body: axum::body::Bytes,
        /// Each object's id (checked) and where it is in the body.
        objects: Vec<(String, Range<usize>)>,
        /// Each object's SHA-256, hex.
        hashes: Vec<String>,
    },
}

impl Delivered {
    /// Each object's id, SHA-256 (hex) and size, in order.
    fn objects(&self) -> Vec<(&str, &str, u64)> {
        match self {
            Delivered::One { id, spooled } => vec![(id, &spooled.sha256, spooled.size)],
            Delivered::Batch {
                objects, hashes, ..
            } => objects
                .iter()
                .zip(hashes)
                .map(|((id, r), h)| (id.as_str(), h.as_str(), r.len() as u64))
                .collect(),
        }
    }
}

/// Where an accepted object's bytes are kept.
enum Place {
    /// A file of its own under `blobs/inbox/`.
    File { name: String, path: PathBuf },
    /// A pack file and the object's offset in it.
    Pack(String, u64),
}

impl Node {
    /// Accept what `partner` delivered: for each object, in order, its receipt or the
    /// refusal (logged already). An error is a failure of the whole delivery (nothing
    /// of it kept).
    pub(super) async fn accept(
        self: &Arc<Self>,
        partner: &Partner,
        delivered: Delivered,
    ) -> Result<Vec<Result<Receipt, Refusal>>, Refusal> {
        // Receipts are signed with the node's signing key: none while it is revoked and
        // not replaced (the partner retries; nothing is kept meanwhile).
        let keys = self.own();
        self.own_keys_in_force(&keys, &[accord_agreement::amendment::KeyKind::Signing])?;
        let objects: Vec<(String, String, u64)> = delivered
            .objects()
            .into_iter()
            .map(|(id, h, n)| (id.to_string(), h.to_string(), n))
            .collect();
        let n = objects.len();
        let mut results: Vec<Option<Result<Receipt, Refusal>>> = vec![None; n];
        // Each refusal here goes into `entries` as it is decided: logged with them.
        let logged = |r: Refusal| Some(Err(Refusal { logged: true, ..r }));
        // What is already held from this partner answers (a retried delivery), or is a
        // conflict.
        let ids: Vec<&str> = objects.iter().map(|(id, _, _)| id.as_str()).collect();
        let held_here = self
            .store
            .inbox_get_many(&ids, &partner.code)
            .await
            .map_err(Refusal::internal)?;
        let mut entries = Vec::new();
        let mut fresh = Vec::new();
        for (i, (id, sha256, _)) in objects.iter().enumerate() {
            match held_here.get(id) {
                Some(rec) if rec.sha256 == *sha256 => results[i] = Some(Ok(rec.receipt.clone())),
                Some(rec) => {
                    let r = conflict(id, &partner.code, &rec.sha256);
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        None,
                        None,
                        false,
                        &r.reasons,
                    ));
                    results[i] = logged(r);
                }
                None => fresh.push(i),
            }
        }
        // The receiver's own checks of the rest.
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        // Only the sender's own keys may have signed a label (any it has had: an object
        // sealed before its signing key was rotated is still its label).
        let trusted: Vec<accord_keys::VerifyingKey> = partner
            .signing_keys_ever
            .iter()
            .filter_map(|k| accord_keys::VerifyingKey::from_spki_der(&k.ecdsa_p384).ok())
            .collect();
        let verified = match &delivered {
            Delivered::One { spooled, .. } if !fresh.is_empty() => {
                vec![examine(&spooled.path, trusted).await]
            }
            Delivered::One { .. } => vec![],
            Delivered::Batch { body, objects, .. } => {
                let ranges = fresh.iter().map(|&i| objects[i].1.clone()).collect();
                examine_all(body.clone(), ranges, trusted).await
            }
        };
        let mut kept = Vec::new();
        // Each kept object's manifest digest: the evidence that it existed when received.
        let mut digests: Vec<(String, String)> = Vec::new();
        for (&i, v) in fresh.iter().zip(verified) {
            let id = &objects[i].0;
            let digest = v.as_ref().ok().map(|v| v.manifest_digest.clone());
            match self.admit_verified(&held, partner, id, v, at) {
                Ok(ok) => {
                    if let Some(d) = digest {
                        digests.push((d, id.clone()));
                    }
                    kept.push((i, ok))
                }
                Err((marking, agreement, reasons)) => {
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        marking.as_deref(),
                        agreement.as_deref(),
                        false,
                        &reasons,
                    ));
                    results[i] = logged(Refusal {
                        kind: Kind::Denied,
                        error: format!(
                            "{} refuses object {id} from {}",
                            self.party(),
                            partner.code
                        ),
                        reasons,
                        logged: false,
                    });
                }
            }
        }
        let done = |results: Vec<Option<Result<Receipt, Refusal>>>| {
            results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(Refusal::internal("an object without an answer"))))
                .collect()
        };
        if kept.is_empty() {
            if !entries.is_empty() {
                self.log_entries(entries).await?;
            }
            return Ok(done(results));
        }
        // The bytes go into place before the rows (a crash in between leaves bytes no
        // row names, which a retried delivery of the same bytes takes over), under a
        // name no other bytes or sender can have: a delivery racing this one cannot
        // overwrite them.
        let single = matches!(delivered, Delivered::One { .. });
        let places: Vec<Place> = match delivered {
            Delivered::One { id, spooled } => {
                let name = inbox_file_name(&partner.code, &id, &spooled.sha256);
                let path = blob_dir(self, "inbox").join(&name);
                spooled.keep_as(&path).await?;
                vec![Place::File { name, path }]
            }
            Delivered::Batch { body, objects, .. } => {
                let ranges = kept.iter().map(|(i, _)| objects[*i].1.clone()).collect();
                let (pack, offsets) = keep_pack(self, body, ranges).await?;
                offsets
                    .into_iter()
                    .map(|o| Place::Pack(pack.clone(), o))
                    .collect()
            }
        };
        let denied = entries.len() as u64;
        for (i, (_, marking, agreement)) in &kept {
            entries.push(self.received(
                Some(&objects[*i].0),
                Some(&partner.code),
                Some(marking),
                Some(agreement),
                true,
                &[],
            ));
        }
        let range = self.log_entries(entries).await?;
        let received = crate::store::unix_now();
        let bodies: Vec<ReceiptBody> = kept
            .iter()
            .enumerate()
            .map(|(k, (i, (_, _, agreement)))| {
                let (id, sha256, size) = &objects[*i];
                ReceiptBody {
                    object_id: id.clone(),
                    sha256: sha256.clone(),
                    size: *size,
                    from: partner.code.clone(),
                    to: self.party().to_string(),
                    agreement: agreement.clone(),
                    received: rfc3339(received),
                    log_index: range.start + denied + k as u64,
                }
            })
            .collect();
        // One object streamed alone has a receipt of its own; a batch's are signed once
        // for the batch, with the keys checked above.
        let receipts = if single {
            bodies
                .into_iter()
                .map(|b| Receipt::sign(b, keys.signing()))
                .collect::<Result<Vec<_>, _>>()
        } else {
            Receipt::sign_batch(bodies, keys.signing())
        }
        .map_err(Refusal::internal)?;
        let mut at_places = Vec::with_capacity(kept.len());
        let mut records = Vec::with_capacity(kept.len());
        for (((i, (label, marking, agreement)), receipt), place) in
            kept.into_iter().zip(receipts).zip(places)
        {
            let (id, sha256, size) = &objects[i];
            let (pack, file_name, path) = match place {
                Place::File { name, path } => (None, Some(name), Some(path)),
                Place::Pack(pack, offset) => (Some((pack, offset)), None, None),
            };
            records.push(InboxRecord {
                item: InboxItem {
                    id: id.clone(),
                    marking,
                    from: partner.code.clone(),
                    received: rfc3339(received),
                    size: *size,
                    agreement,
                },
                label,
                sha256: sha256.clone(),
                receipt,
                pack,
                file_name,
            });
            at_places.push((i, path));
        }
        let inserted = self
            .store
            .inbox_insert_many(&records, received)
            .await
            .map_err(Refusal::internal)?;
        let sealed: Vec<crate::store::Sealed> = digests
            .into_iter()
            .map(|(manifest_digest, object_id)| crate::store::Sealed {
                manifest_digest,
                object_id,
                evidence: "receive".into(),
                at: received,
            })
            .collect();
        self.store
            .record_sealed(&sealed)
            .await
            .map_err(Refusal::internal)?;
        let taken = inserted.iter().filter(|k| **k).count();
        if single && taken == 1 {
            let (id, _, size) = &objects[0];
            tracing::info!(object = %id, from = %partner.code, size, "received");
        } else if !single {
            tracing::info!(objects = taken, from = %partner.code, "received a batch");
        }
        let mut lost = Vec::new();
        for (((i, path), r), won) in at_places.into_iter().zip(records).zip(inserted) {
            if won {
                results[i] = Some(Ok(r.receipt));
            } else {
                lost.push((i, path, r));
            }
        }
        if lost.is_empty() {
            return Ok(done(results));
        }
        // Objects of this partner under an id that was kept meanwhile (by a delivery
        // racing this one, or earlier in the batch): only what is held may be
        // receipted, and a file of this delivery goes unless it is the one held.
        let ids: Vec<&str> = lost.iter().map(|(_, _, r)| r.item.id.as_str()).collect();
        let now_held = self
            .store
            .inbox_get_many(&ids, &partner.code)
            .await
            .map_err(Refusal::internal)?;
        let mut entries = Vec::new();
        for (i, path, r) in &lost {
            let id = &r.item.id;
            let Some(h) = now_held.get(id) else {
                return Err(Refusal::internal(format!(
                    "inbox row {id} from {} vanished",
                    partner.code
                )));
            };
            if let Some(path) = path {
                if self.stored_at(h).ok().map(|s| s.path).as_ref() != Some(path) {
                    let _ = tokio::fs::remove_file(path).await;
                }
            }
            if h.sha256 == r.sha256 {
                results[*i] = Some(Ok(h.receipt.clone()));
                continue;
            }
            let c = conflict(id, &partner.code, &h.sha256);
            entries.push(self.received(
                Some(id),
                Some(&partner.code),
                Some(&r.item.marking),
                Some(&r.item.agreement),
                false,
                &c.reasons,
            ));
            results[*i] = logged(c);
        }
        if !entries.is_empty() {
            self.log_entries(entries).await?;
        }
        Ok(done(results))
    }
}
