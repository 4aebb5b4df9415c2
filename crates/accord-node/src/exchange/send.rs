//! A person sends: the sender's node decides and queues the object in its outbox.

use super::audit::own_send;
use super::blobs::examine;
use super::blobs::outbox_file_name;
use super::blobs::outbox_path;
use super::blobs::spool;
use super::blobs::Spooled;
use super::store::OutboxRow;
use crate::audit::{AuditEntry, EntryKind};
use crate::caller::Peer;
use crate::exchange::check_code;
use crate::exchange::check_object_id;
use crate::exchange::now_ms;
use crate::exchange::rfc3339;
use crate::exchange::MAX_OBJECT;
use crate::node::Node;
use crate::partners;
use crate::refusal::Refusal;
use accord_node_api::exchange::OutboxFilter;
use accord_node_api::exchange::OutboxItem;
use accord_node_api::wire::Reason;
use accord_node_api::Kind;
use accord_spif::Label;
use futures_util::StreamExt;
use std::sync::Arc;
/// How an object to send arrives: uploaded, or written by the node itself.
enum Incoming {
    Body(axum::body::Body),
    Spooled(Spooled),
}

impl Node {
    /// `PUT /v1/outbox/{to}/{id}`: a person sends a sealed object to a partner party.
    pub async fn send(
        self: &Arc<Self>,
        peer: &Peer,
        to: &str,
        id: &str,
        body: axum::body::Body,
    ) -> Result<OutboxItem, Refusal> {
        let caller = self.authenticate(peer).await?;
        let r = self
            .send_as(&caller, to, id, body)
            .await
            .map(|row| row.item);
        self.answered(EntryKind::Send, &caller, r).await
    }

    /// A sealed object the node wrote itself for the person on `peer`'s connection (the
    /// console's seal and send), queued as `PUT /v1/outbox/{to}/{id}` queues an upload:
    /// the same checks, decision and audit entry.
    pub(crate) async fn send_written(
        self: &Arc<Self>,
        peer: &Peer,
        to: &str,
        id: &str,
        written: Spooled,
    ) -> Result<OutboxItem, Refusal> {
        let caller = self.authenticate(peer).await?;
        let r = self
            .send_incoming(&caller, to, id, Incoming::Spooled(written))
            .await
            .map(|row| row.item);
        self.answered(EntryKind::Send, &caller, r).await
    }

    pub(super) async fn send_as(
        self: &Arc<Self>,
        caller: &crate::caller::Caller,
        to: &str,
        id: &str,
        body: axum::body::Body,
    ) -> Result<OutboxRow, Refusal> {
        self.send_incoming(caller, to, id, Incoming::Body(body))
            .await
    }

    async fn send_incoming(
        self: &Arc<Self>,
        caller: &crate::caller::Caller,
        to: &str,
        id: &str,
        incoming: Incoming,
    ) -> Result<OutboxRow, Refusal> {
        check_code(to)?;
        check_object_id(id)?;
        if to == self.party() {
            return Err(Refusal::new(
                Kind::BadRequest,
                accord_node_api::wire::Rule::Request,
                format!("{to} is this node's own party: send to a partner"),
            ));
        }
        if let Some(o) = self
            .store
            .outbox_get(id, to)
            .await
            .map_err(Refusal::internal)?
        {
            // Already sent: read and drop the body so the client sees the answer (a
            // written file goes when dropped).
            if let Incoming::Body(body) = incoming {
                let mut stream = body.into_data_stream();
                while let Some(Ok(_)) = stream.next().await {}
            }
            return own_send(o, &caller.record.id);
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let partner = partners::in_force(&held, self.party(), at)
            .into_iter()
            .find(|p| p.code == to)
            .ok_or_else(|| {
                Refusal::new(
                    Kind::Denied,
                    accord_agreement::Rule::AgreementInForce,
                    format!(
                        "{} holds no agreement in force with {to} that names {to}'s node",
                        self.party()
                    ),
                )
            })?;
        let sp = match incoming {
            Incoming::Body(body) => spool(self, body, MAX_OBJECT, None).await?,
            Incoming::Spooled(sp) => sp,
        };
        let trusted = self
            .trusted_signers(&held)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        let v = examine(&sp.path, trusted).await.map_err(|r| Refusal {
            kind: Kind::Unacceptable,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })?;
        if v.object_id != id {
            return Err(Refusal::new(
                Kind::BadRequest,
                accord_node_api::wire::Rule::Request,
                format!("the object's id is {}, not {id}", v.object_id),
            ));
        }
        let Some(agreement) = v.agreement.clone() else {
            return Err(Refusal::new(
                Kind::Unacceptable,
                accord_agreement::Rule::AgreementInForce,
                "the object names no agreement: seal it with --agreement to exchange it",
            ));
        };
        let label = Label::read(
            self.policies(),
            "the object's label",
            v.label_xml.as_bytes(),
        )
        .map_err(|e| {
            Refusal::new(
                Kind::Unacceptable,
                accord_agreement::Rule::Translation,
                e.to_string(),
            )
        })?;
        let marking = self.marking_of(&label, &v.marking);
        let person = self.person_of(caller)?;
        let (ok_send, mut reasons) =
            self.transfer_reasons(&held, &agreement, &label, self.party(), to, at);
        let (ok_read, read_reasons) = self.decide(&person, &label, Some(&agreement), &held, at);
        if !ok_read {
            reasons.extend(read_reasons);
        }
        if !partner.agreements.contains(&agreement) {
            reasons.push(Reason::new(
                accord_agreement::Rule::AgreementInForce,
                format!("agreement {agreement} is not in force with {to}"),
            ));
        }
        let permit = ok_send && ok_read && partner.agreements.contains(&agreement);
        let entry = AuditEntry {
            person: Some(&caller.record.id),
            object: Some(id),
            marking: Some(&marking),
            agreement: Some(&agreement),
            partner: Some(to),
            ..self.entry(EntryKind::Send, permit, &reasons)
        }
        .bytes();
        self.log_entries(vec![entry]).await?;
        if !permit {
            return Err(Refusal {
                kind: Kind::Denied,
                error: format!("{} may not send this object to {to}", caller.record.id),
                reasons,
                logged: true,
            });
        }
        let item = OutboxRow {
            item: OutboxItem {
                id: id.to_string(),
                to: to.to_string(),
                person: caller.record.id.clone(),
                agreement,
                marking,
                size: sp.size,
                sha256: sp.sha256.clone(),
                queued: rfc3339(crate::store::unix_now()),
                state: "queued".into(),
                attempts: 0,
                last_error: None,
                reasons: vec![],
                receipt: None,
            },
            file_name: Some(outbox_file_name(id, to, &sp.sha256)),
        };
        // The file goes into place first (a crash before the row is written leaves a
        // file no row names, never a row without its file), under a name no other
        // bytes can have: a send of the same id racing this one cannot overwrite it.
        let path = outbox_path(self, &item).map_err(Refusal::internal)?;
        sp.keep_as(&path).await?;
        if self
            .store
            .outbox_insert(&item, now_ms())
            .await
            .map_err(Refusal::internal)?
        {
            self.outbox_ready.notify_one();
            return Ok(item);
        }
        // Another send of this id to `to` was queued while this one was checked: that
        // one is what is sent. This file goes unless it is that one's, still queued.
        let kept = self
            .store
            .outbox_get(id, to)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| Refusal::internal(format!("outbox row {id} {to} vanished")))?;
        if kept.state != "queued" || outbox_path(self, &kept).ok().as_ref() != Some(&path) {
            let _ = tokio::fs::remove_file(&path).await;
        }
        own_send(kept, &caller.record.id)
    }

    /// `GET /v1/outbox`: what the person sent, and how each delivery stands.
    pub async fn outbox(
        &self,
        peer: &Peer,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxItem>, Refusal> {
        let caller = self.authenticate(peer).await?;
        filter.check()?;
        self.store
            .outbox(Some(&caller.record.id), filter)
            .await
            .map_err(Refusal::internal)
    }
}
