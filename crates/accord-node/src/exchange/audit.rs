//! The exchange's decisions as audit entries, and the refusals of callers that are
//! not partner nodes in force.

use super::store::OutboxRow;
use crate::agreements::Held;
use crate::audit::{AuditEntry, EntryKind};
use crate::caller::Peer;
use crate::exchange::check_object_id;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::Time;
use accord_node_api::wire::Reason;
use accord_node_api::Kind;
use accord_spif::Label;
/// Most reasons of a refused delivery written to its audit entry.
pub(super) const ENTRY_REASONS: usize = 8;

/// Longest reason text written to an audit entry (bytes; longer ones are cut): a
/// refused delivery's reasons may quote what the caller sent (an id, a manifest's
/// field), and an entry must not be as large as the caller likes.
pub(super) const ENTRY_TEXT: usize = 512;

/// `reasons` as an audit entry holds them: at most [`ENTRY_REASONS`], each text at most
/// [`ENTRY_TEXT`] bytes (cut at a character boundary, marked with `…`).
pub(super) fn bounded(reasons: &[Reason]) -> Vec<Reason> {
    reasons
        .iter()
        .take(ENTRY_REASONS)
        .map(|r| Reason {
            rule: r.rule,
            text: cut(&r.text, ENTRY_TEXT),
        })
        .collect()
}

pub(super) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A send already queued for an object and partner, answered to `person` who sends it
/// again: their own entry (sending is idempotent), or, when someone else sent it, a
/// refusal that says nothing of that send.
pub(super) fn own_send(o: OutboxRow, person: &str) -> Result<OutboxRow, Refusal> {
    if o.person == person {
        return Ok(o);
    }
    Err(Refusal::new(
        Kind::Conflict,
        accord_node_api::wire::Rule::Request,
        format!(
            "object {} was already sent to {} by someone else: an object goes to a partner once",
            o.id, o.to
        ),
    ))
}

/// The refusal of other bytes under an id this node holds from the same partner.
pub(super) fn conflict(id: &str, from: &str, held_sha256: &str) -> Refusal {
    Refusal::new(
        Kind::Conflict,
        accord_node_api::wire::Rule::Request,
        format!(
            "object {id} from {from} is held here already with other bytes (SHA-256 {}…): an object id names one object",
            held_sha256.get(..16).unwrap_or(held_sha256)
        ),
    )
}

impl Node {
    pub(super) fn transfer_reasons(
        &self,
        held: &[Held],
        agreement: &str,
        label: &Label,
        from: &str,
        to: &str,
        at: Time,
    ) -> (bool, Vec<Reason>) {
        let Some(h) = held.iter().find(|h| h.agreement.body.id == agreement) else {
            return (
                false,
                vec![Reason::new(
                    accord_agreement::Rule::AgreementInForce,
                    format!(
                        "agreement {agreement} is not loaded at the {} node",
                        self.party()
                    ),
                )],
            );
        };
        let checked = h.checked();
        let d = accord_agreement::admit(
            self.policies(),
            &accord_agreement::Transfer {
                label,
                agreement: &checked,
                from,
                to,
                at,
            },
        );
        (d.permit, crate::decision::convert(d.reasons))
    }

    /// The audit entry of a decision about receiving object `id` from `partner`. The
    /// reasons of a refusal are bounded ([`bounded`]): some of their text comes from
    /// the delivery.
    pub(super) fn received(
        &self,
        id: Option<&str>,
        partner: Option<&str>,
        marking: Option<&str>,
        agreement: Option<&str>,
        permit: bool,
        reasons: &[Reason],
    ) -> Vec<u8> {
        let reasons = bounded(reasons);
        AuditEntry {
            object: id,
            marking,
            agreement,
            partner,
            ..self.entry(EntryKind::Receive, permit, &reasons)
        }
        .bytes()
    }

    /// Account for a delivery refused because the caller is not a partner node in
    /// force. A caller that presented no certificate gets no entry: it is no identity,
    /// there is nothing to account for, and anyone may connect without one (so an
    /// entry for each would let anyone fill the log). A certificate that is not a
    /// partner's is logged (within the node's rate for strangers,
    /// [`crate::strangers::StrangerLog`]) with its fingerprint, the object id only when
    /// it is one (never the raw path), and bounded reasons.
    pub(super) async fn log_stranger(&self, peer: &Peer, id: Option<&str>, r: &Refusal) {
        let Some(cert) = peer.cert.as_deref() else {
            return;
        };
        if r.kind.is_failure() {
            // Not a decision about the caller: the node could not make one.
            return;
        }
        // Such a caller can make a new certificate for every request: rate-limited as
        // the node's other refusals of strangers are.
        if !self.strangers.admit() {
            return;
        }
        let fingerprint = hex::encode(accord_node_api::pki::sha256(cert));
        let reasons = bounded(&r.reasons);
        let entry = AuditEntry {
            credential: Some(&fingerprint),
            object: id.filter(|id| check_object_id(id).is_ok()),
            ..self.entry(EntryKind::Receive, false, &reasons)
        };
        let _ = self.log_entries(vec![entry.bytes()]).await;
    }
}
