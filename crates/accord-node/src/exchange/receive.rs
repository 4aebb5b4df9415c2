//! A partner delivers: the receiver's node checks each object again with its own
//! policies and the sender's key, keeps it and signs a receipt (one object streamed,
//! or a batch of small ones).

use super::audit::conflict;
use super::audit::Refused;
use super::blobs::blob_dir;
use super::blobs::checked_file_name;
use super::blobs::examine;
use super::blobs::examine_all;
use super::blobs::inbox_file_name;
use super::blobs::keep_pack;
use super::blobs::pack_path;
use super::blobs::partial_path;
use super::blobs::spool;
use super::blobs::Partial;
use super::blobs::Spooled;
use super::blobs::Stored;
use super::store::InboxRecord;
use crate::agreements::Held;
use crate::caller::Peer;
use crate::exchange::check_object_id;
use crate::exchange::rfc3339;
use crate::exchange::MAX_OBJECT;
use crate::node::Node;
use crate::partners::Partner;
use crate::refusal::Refusal;
use accord_agreement::Time;
use accord_node_api::exchange::InboxItem;
use accord_node_api::receipt::Receipt;
use accord_node_api::receipt::ReceiptBody;
use accord_node_api::wire::{self, Reason};
use accord_node_api::Kind;
use accord_spif::Label;
use accord_tdf::VerifiedLabel;
use std::sync::Arc;
impl Node {
    /// `GET /v1/fed/inbox/{id}/partial`: how many bytes of a broken delivery of `id`
    /// from this partner are kept here (0 if none), for the partner to send the rest.
    pub async fn partial_offset(
        self: &Arc<Self>,
        peer: &Peer,
        id: &str,
    ) -> Result<wire::PartialDelivery, Refusal> {
        let partner = self.partner_of(peer).await?;
        check_object_id(id)?;
        let path = partial_path(self, &partner.code, id);
        let offset = tokio::fs::metadata(&path)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(wire::PartialDelivery { offset })
    }

    /// `PUT /v1/fed/inbox/{id}`: a partner node delivers an object. Every refusal of a
    /// partner (whatever its status, short of an internal error) is logged (`receive`,
    /// `deny`); a caller that is not a partner, as [`Node::log_stranger`] says.
    pub async fn receive(
        self: &Arc<Self>,
        peer: &Peer,
        id: &str,
        resume_from: Option<u64>,
        body: axum::body::Body,
    ) -> Result<Receipt, Refusal> {
        let partner = match self.partner_of(peer).await {
            Ok(p) => p,
            Err(r) => {
                self.log_stranger(peer, Some(id), &r).await;
                return Err(r);
            }
        };
        match self.receive_from(&partner, id, resume_from, body).await {
            Ok(receipt) => Ok(receipt),
            Err(Refused {
                refusal,
                marking,
                agreement,
            }) => {
                if !refusal.kind.is_failure() {
                    let entry = self.received(
                        check_object_id(id).is_ok().then_some(id),
                        Some(&partner.code),
                        marking.as_deref(),
                        agreement.as_deref(),
                        false,
                        &refusal.reasons,
                    );
                    self.log_entries(vec![entry]).await?;
                }
                Err(refusal)
            }
        }
    }

    /// [`Node::receive`] from a recognised partner.
    pub(super) async fn receive_from(
        self: &Arc<Self>,
        partner: &Partner,
        id: &str,
        resume_from: Option<u64>,
        body: axum::body::Body,
    ) -> Result<Receipt, Refused> {
        check_object_id(id)?;
        let partial = Partial {
            path: partial_path(self, &partner.code, id),
            from: resume_from,
        };
        let sp = spool(self, body, MAX_OBJECT, Some(partial.clone())).await?;
        // Whole now: a partial left by an earlier attempt is of no more use.
        if resume_from.is_none() {
            let _ = tokio::fs::remove_file(&partial.path).await;
        }
        // Held per (id, sender): another partner's object under the same id is another
        // object, and neither keeps the other out.
        if let Some(held_rec) = self
            .store
            .inbox_get(id, &partner.code)
            .await
            .map_err(Refusal::internal)?
        {
            if held_rec.sha256 == sp.sha256 {
                return Ok(held_rec.receipt);
            }
            return Err(conflict(id, &partner.code, &held_rec.sha256).into());
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let (label_xml, marking, agreement) = self
            .admit_delivery(&held, partner, id, &sp, at)
            .await
            .map_err(|(marking, agreement, reasons)| Refused {
                refusal: Refusal {
                    kind: Kind::Denied,
                    error: format!("{} refuses object {id} from {}", self.party(), partner.code),
                    reasons,
                    logged: false,
                },
                marking,
                agreement,
            })?;
        let entry = self.received(
            Some(id),
            Some(&partner.code),
            Some(&marking),
            Some(&agreement),
            true,
            &[],
        );
        let (size, sha256) = (sp.size, sp.sha256.clone());
        // The file goes into place before the row (a crash in between leaves a file no
        // row names, which a retried delivery of the same bytes takes over), under a
        // name no other bytes or sender can have: a delivery racing this one cannot
        // overwrite it.
        let file_name = inbox_file_name(&partner.code, id, &sha256);
        let path = blob_dir(self, "inbox").join(&file_name);
        sp.keep_as(&path).await?;
        let range = self.log_entries(vec![entry]).await?;
        let received = crate::store::unix_now();
        let receipt = Receipt::sign(
            ReceiptBody {
                object_id: id.to_string(),
                sha256: sha256.clone(),
                size,
                from: partner.code.clone(),
                to: self.party().to_string(),
                agreement: agreement.clone(),
                received: rfc3339(received),
                log_index: range.start,
            },
            &self.signing,
        )
        .map_err(Refusal::internal)?;
        let rec = InboxRecord {
            item: InboxItem {
                id: id.to_string(),
                marking: marking.clone(),
                from: partner.code.clone(),
                received: rfc3339(received),
                size,
                agreement: agreement.clone(),
            },
            label: label_xml,
            sha256: sha256.clone(),
            receipt: receipt.clone(),
            pack: None,
            file_name: Some(file_name),
        };
        if self
            .store
            .inbox_insert(&rec, received)
            .await
            .map_err(Refusal::internal)?
        {
            tracing::info!(object = %id, from = %partner.code, size, "received");
            return Ok(receipt);
        }
        // A delivery of this id from this partner was kept while this one was checked:
        // what is held is that one, and only its receipt may be given. This file goes
        // unless it is that one's.
        let kept = self
            .store
            .inbox_get(id, &partner.code)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| {
                Refusal::internal(format!("inbox row {id} from {} vanished", partner.code))
            })?;
        if self.stored_at(&kept).ok().map(|s| s.path).as_ref() != Some(&path) {
            let _ = tokio::fs::remove_file(&path).await;
        }
        if kept.sha256 == sha256 {
            return Ok(kept.receipt);
        }
        Err(Refused {
            refusal: conflict(id, &partner.code, &kept.sha256),
            marking: Some(marking),
            agreement: Some(agreement),
        })
    }

    /// Where a held object's bytes are.
    pub(super) fn stored_at(&self, rec: &InboxRecord) -> Result<Stored, Refusal> {
        let dir = blob_dir(self, "inbox");
        let (path, offset) = match (&rec.pack, &rec.file_name) {
            (Some((pack, offset)), _) => (pack_path(self, pack)?, *offset),
            (None, Some(name)) => (
                dir.join(checked_file_name(name).map_err(Refusal::internal)?),
                0,
            ),
            (None, None) => {
                check_object_id(&rec.item.id)
                    .map_err(|r| Refusal::internal(format!("stored {}", r.error)))?;
                (dir.join(format!("{}.tdf", rec.item.id)), 0)
            }
        };
        Ok(Stored {
            path,
            offset,
            size: rec.item.size,
        })
    }

    /// The receiver's checks; on refusal, what is known of the object and why.
    #[allow(clippy::type_complexity)]
    pub(super) async fn admit_delivery(
        &self,
        held: &[Held],
        partner: &Partner,
        id: &str,
        sp: &Spooled,
        at: Time,
    ) -> Result<(String, String, String), (Option<String>, Option<String>, Vec<Reason>)> {
        // Only the sender's own key may have signed the label.
        let trusted: Vec<accord_keys::VerifyingKey> =
            accord_keys::VerifyingKey::from_spki_der(&partner.signing_keys.ecdsa_p384)
                .into_iter()
                .collect();
        let v = examine(&sp.path, trusted).await;
        self.admit_verified(held, partner, id, v, at)
    }

    /// The receiver's checks of an object whose label was verified (or not).
    #[allow(clippy::type_complexity)]
    pub(super) fn admit_verified(
        &self,
        held: &[Held],
        partner: &Partner,
        id: &str,
        v: Result<VerifiedLabel, Reason>,
        at: Time,
    ) -> Result<(String, String, String), (Option<String>, Option<String>, Vec<Reason>)> {
        let v = v.map_err(|r| (None, None, vec![r]))?;
        let marking = Some(v.marking.clone());
        if v.object_id != id {
            return Err((
                marking,
                v.agreement.clone(),
                vec![Reason::new(
                    accord_node_api::wire::Rule::ObjectIntegrity,
                    format!("delivered as {id} but the object's id is {}", v.object_id),
                )],
            ));
        }
        let Some(agreement) = v.agreement.clone() else {
            return Err((
                marking,
                None,
                vec![Reason::new(
                    accord_agreement::Rule::AgreementInForce,
                    "the object names no agreement",
                )],
            ));
        };
        if !partner.agreements.contains(&agreement) {
            return Err((
                marking,
                Some(agreement.clone()),
                vec![Reason::new(
                    accord_agreement::Rule::AgreementInForce,
                    format!(
                        "agreement {agreement} is not in force between {} and {}",
                        partner.code,
                        self.party()
                    ),
                )],
            ));
        }
        let label = Label::read(
            self.policies(),
            "the object's label",
            v.label_xml.as_bytes(),
        )
        .map_err(|e| {
            (
                marking.clone(),
                Some(agreement.clone()),
                vec![Reason::new(
                    accord_agreement::Rule::Translation,
                    format!("the label cannot be read here: {e}"),
                )],
            )
        })?;
        // What the inbox and the log show is the verified label's own marking.
        let marking = self.marking_of(&label, &v.marking);
        let (ok, reasons) =
            self.transfer_reasons(held, &agreement, &label, &partner.code, self.party(), at);
        if !ok {
            return Err((Some(marking), Some(agreement), reasons));
        }
        Ok((v.label_xml, marking, agreement))
    }

    /// `POST /v1/fed/inbox`: a partner node delivers a batch of small objects. Each is
    /// checked as [`Node::receive`] checks one; the kept ones are synced together, their
    /// decisions logged in one durable append, their receipts signed once for the batch
    /// and recorded in one commit. One result per object, in the batch's order. A
    /// refusal of the whole batch is logged as one entry naming no object; a caller
    /// that is not a partner, as [`Node::log_stranger`] says.
    pub async fn receive_batch(
        self: &Arc<Self>,
        peer: &Peer,
        body: axum::body::Bytes,
    ) -> Result<wire::BatchResponse, Refusal> {
        let partner = match self.partner_of(peer).await {
            Ok(p) => p,
            Err(r) => {
                self.log_stranger(peer, None, &r).await;
                return Err(r);
            }
        };
        match self.receive_batch_from(&partner, body).await {
            Ok(answer) => Ok(answer),
            Err(r) => {
                if !r.kind.is_failure() {
                    let entry =
                        self.received(None, Some(&partner.code), None, None, false, &r.reasons);
                    self.log_entries(vec![entry]).await?;
                }
                Err(r)
            }
        }
    }

    /// [`Node::receive_batch`] from a recognised partner.
    pub(super) async fn receive_batch_from(
        self: &Arc<Self>,
        partner: &Partner,
        body: axum::body::Bytes,
    ) -> Result<wire::BatchResponse, Refusal> {
        let batch = wire::parse_batch(&body).map_err(|e| {
            Refusal::new(Kind::BadRequest, accord_node_api::wire::Rule::Request, e.0)
        })?;
        crate::disk::check_room(
            &self.home.layout.blobs(),
            self.home.config.disk_reserve(),
            body.len() as u64,
        )?;
        let n = batch.objects.len();
        let mut results: Vec<Option<wire::BatchResult>> = vec![None; n];
        let refused = |id: &str, kind: Kind, error: String, reasons: Vec<Reason>| {
            Some(wire::BatchResult {
                id: id.to_string(),
                receipt: None,
                status: Some(accord_node_api::http::status(kind)),
                error: Some(error),
                reasons,
            })
        };
        let receipted = |id: &str, receipt: Receipt| {
            Some(wire::BatchResult {
                id: id.to_string(),
                receipt: Some(receipt),
                status: None,
                error: None,
                reasons: vec![],
            })
        };
        // Hash everything off the async threads; then what is already held from this
        // partner answers with its receipt (a retried delivery), or a conflict.
        let hashes = {
            let (body, ranges) = (body.clone(), batch.objects.clone());
            tokio::task::spawn_blocking(move || {
                ranges
                    .iter()
                    .map(|(_, r)| {
                        hex::encode(
                            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body[r.clone()])
                                .as_ref(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(Refusal::internal)?
        };
        let ids: Vec<&str> = batch.objects.iter().map(|(id, _)| id.as_str()).collect();
        let held_here = self
            .store
            .inbox_get_many(&ids, &partner.code)
            .await
            .map_err(Refusal::internal)?;
        // Refusals first, then permits, in the log: the receipts' log indexes count on it.
        let mut entries = Vec::new();
        let mut fresh = Vec::new();
        for (i, (id, _)) in batch.objects.iter().enumerate() {
            match held_here.get(id) {
                Some(rec) if rec.sha256 == hashes[i] => {
                    results[i] = receipted(id, rec.receipt.clone());
                }
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
                    results[i] = refused(id, r.kind, r.error, r.reasons);
                }
                None => fresh.push(i),
            }
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let trusted: Vec<accord_keys::VerifyingKey> =
            accord_keys::VerifyingKey::from_spki_der(&partner.signing_keys.ecdsa_p384)
                .into_iter()
                .collect();
        let verified = examine_all(
            body.clone(),
            fresh.iter().map(|&i| batch.objects[i].1.clone()).collect(),
            trusted,
        )
        .await;
        let mut kept = Vec::new();
        for (&i, v) in fresh.iter().zip(verified) {
            let id = &batch.objects[i].0;
            match self.admit_verified(&held, partner, id, v, at) {
                Ok(ok) => kept.push((i, ok)),
                Err((marking, agreement, reasons)) => {
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        marking.as_deref(),
                        agreement.as_deref(),
                        false,
                        &reasons,
                    ));
                    let e = format!("{} refuses object {id} from {}", self.party(), partner.code);
                    results[i] = refused(id, Kind::Denied, e, reasons);
                }
            }
        }
        let done = |results: Vec<Option<wire::BatchResult>>| wire::BatchResponse {
            results: results.into_iter().flatten().collect(),
        };
        if kept.is_empty() {
            if !entries.is_empty() {
                self.log_entries(entries).await?;
            }
            return Ok(done(results));
        }
        let (pack, offsets) = keep_pack(
            self,
            body.clone(),
            kept.iter()
                .map(|(i, _)| batch.objects[*i].1.clone())
                .collect(),
        )
        .await?;
        let denied = entries.len() as u64;
        for (i, (_, marking, agreement)) in &kept {
            entries.push(self.received(
                Some(&batch.objects[*i].0),
                Some(&partner.code),
                Some(marking),
                Some(agreement),
                true,
                &[],
            ));
        }
        let range = self.log_entries(entries).await?;
        let received = crate::store::unix_now();
        let bodies = kept
            .iter()
            .enumerate()
            .map(|(k, (i, (_, _, agreement)))| {
                let (id, r) = &batch.objects[*i];
                ReceiptBody {
                    object_id: id.clone(),
                    sha256: hashes[*i].clone(),
                    size: r.len() as u64,
                    from: partner.code.clone(),
                    to: self.party().to_string(),
                    agreement: agreement.clone(),
                    received: rfc3339(received),
                    log_index: range.start + denied + k as u64,
                }
            })
            .collect();
        let receipts = Receipt::sign_batch(bodies, &self.signing).map_err(Refusal::internal)?;
        let (places, records): (Vec<usize>, Vec<InboxRecord>) = kept
            .into_iter()
            .zip(receipts)
            .zip(offsets)
            .map(|(((i, (label, marking, agreement)), receipt), offset)| {
                (
                    i,
                    InboxRecord {
                        item: InboxItem {
                            id: batch.objects[i].0.clone(),
                            marking,
                            from: partner.code.clone(),
                            received: rfc3339(received),
                            size: batch.objects[i].1.len() as u64,
                            agreement,
                        },
                        label,
                        sha256: hashes[i].clone(),
                        receipt,
                        pack: Some((pack.clone(), offset)),
                        file_name: None,
                    },
                )
            })
            .unzip();
        let inserted = self
            .store
            .inbox_insert_many(&records, received)
            .await
            .map_err(Refusal::internal)?;
        tracing::info!(objects = inserted.iter().filter(|k| **k).count(), from = %partner.code, "received a batch");
        let mut lost = Vec::new();
        for ((i, r), won) in places.into_iter().zip(records).zip(inserted) {
            if won {
                results[i] = receipted(&r.item.id, r.receipt);
            } else {
                lost.push((i, r));
            }
        }
        if lost.is_empty() {
            return Ok(done(results));
        }
        // Objects of this partner under an id that was kept meanwhile (by a delivery
        // racing this batch, or earlier in it): only what is held may be receipted.
        let ids: Vec<&str> = lost.iter().map(|(_, r)| r.item.id.as_str()).collect();
        let now_held = self
            .store
            .inbox_get_many(&ids, &partner.code)
            .await
            .map_err(Refusal::internal)?;
        let mut entries = Vec::new();
        for (i, r) in &lost {
            let id = &r.item.id;
            match now_held.get(id) {
                Some(h) if h.sha256 == r.sha256 => results[*i] = receipted(id, h.receipt.clone()),
                Some(h) => {
                    let c = conflict(id, &partner.code, &h.sha256);
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        Some(&r.item.marking),
                        Some(&r.item.agreement),
                        false,
                        &c.reasons,
                    ));
                    results[*i] = refused(id, c.kind, c.error, c.reasons);
                }
                None => return Err(Refusal::internal(format!("inbox row {id} vanished"))),
            }
        }
        if !entries.is_empty() {
            self.log_entries(entries).await?;
        }
        Ok(done(results))
    }
}
