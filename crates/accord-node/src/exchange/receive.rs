//! A partner delivers: the receiver's node checks each object again with its own
//! policies and the sender's key, keeps it and signs a receipt (one object streamed,
//! or a batch of small ones).

use super::accept::Delivered;
use super::blobs::blob_dir;
use super::blobs::checked_file_name;
use super::blobs::pack_path;
use super::blobs::partial_path;
use super::blobs::spool;
use super::blobs::Partial;
use super::blobs::Stored;
use super::store::InboxRecord;
use crate::agreements::Held;
use crate::caller::Peer;
use crate::exchange::check_object_id;
use crate::exchange::MAX_OBJECT;
use crate::node::Node;
use crate::partners::Partner;
use crate::refusal::Refusal;
use accord_agreement::Time;
use accord_node_api::receipt::Receipt;
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
    /// `deny`); a caller that is not a partner, as `Node::log_stranger` says.
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
            Err(refusal) => {
                if !refusal.logged && !refusal.kind.is_failure() {
                    let entry = self.received(
                        check_object_id(id).is_ok().then_some(id),
                        Some(&partner.code),
                        None,
                        None,
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
    ) -> Result<Receipt, Refusal> {
        check_object_id(id)?;
        let partial = Partial {
            path: partial_path(self, &partner.code, id),
            from: resume_from,
        };
        let spooled = spool(self, body, MAX_OBJECT, Some(partial.clone())).await?;
        // Whole now: a partial left by an earlier attempt is of no more use.
        if resume_from.is_none() {
            let _ = tokio::fs::remove_file(&partial.path).await;
        }
        let id = id.to_string();
        self.accept(partner, Delivered::One { id, spooled })
            .await?
            .pop()
            .unwrap_or_else(|| Err(Refusal::internal("a delivery without an answer")))
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
    /// that is not a partner, as `Node::log_stranger` says.
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
        // Hash everything off the async threads.
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
        let ids: Vec<String> = batch.objects.iter().map(|(id, _)| id.clone()).collect();
        let delivered = Delivered::Batch {
            body,
            objects: batch.objects,
            hashes,
        };
        let results = self.accept(partner, delivered).await?;
        Ok(wire::BatchResponse {
            results: ids
                .into_iter()
                .zip(results)
                .map(|(id, r)| match r {
                    Ok(receipt) => wire::BatchResult {
                        id,
                        receipt: Some(receipt),
                        status: None,
                        error: None,
                        reasons: vec![],
                    },
                    Err(r) => wire::BatchResult {
                        id,
                        receipt: None,
                        status: Some(accord_node_api::http::status(r.kind)),
                        error: Some(r.error),
                        reasons: r.reasons,
                    },
                })
                .collect(),
        })
    }
}
