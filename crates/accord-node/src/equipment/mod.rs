//! Equipment accountability at the node: the party's accounts and ledger, the records
//! its people sign, and the records that cross to and from partner nodes.
//!
//! The format and the rules that need no ledger are `accord_equipment`'s; this
//! component holds the ledger and asks the questions that need it:
//!
//! - who may act: [`Node::authorize`] with the duties of `accord_agreement::Role`
//!   (officers open accounts, custodians keep them, anyone signs a record naming them);
//! - whose signature it is: each signer's keys must be those the directory holds for
//!   them (`accord user signing-key`), and the first signer the account's custodian or
//!   alternate ([`submit`]);
//! - whether the items are where the record says ([`apply`]);
//! - whether a record may be read, made or cross: the one decision
//!   (`Node::decide` for the person, `accord_agreement::admit` for the crossing), on
//!   the record's label, so a record is decided like any object;
//! - what a partner node sends ([`federation`]): attested by the party key the
//!   agreement pins, about this party, under an agreement in force that covers
//!   EQUIPMENT.
//!
//! Every record made, taken or refused is an `equipment` entry of the audit log naming
//! its id and digest, written before the answer; both parties' logs name each record
//! that crosses, and each witnesses the other's.

mod draft;
pub mod federation;
pub(crate) mod store;
mod submit;
mod views;

use crate::caller::Caller;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::Time;
use accord_keys::SigningPublicKeys;
use accord_node_api::wire::{Reason, Rule};
use accord_node_api::Kind;
use accord_spif::{Label, LabelFormat};

pub use store::{Account, LedgerItem, StoredRecord};
pub use views::MAX_IMPORT;

/// Hours a provider has to acknowledge an incident before it shows as overdue.
pub const INCIDENT_HOURS: i64 = 24;

impl Node {
    /// Read a label as the ledger stores it (JSON form).
    pub(crate) fn equipment_label(&self, json: &str) -> Result<Label, Refusal> {
        Label::read(self.policies(), "label", json.as_bytes()).map_err(|e| {
            Refusal::new(
                Kind::Unacceptable,
                Rule::Label,
                format!("the record's label: {e}"),
            )
        })
    }

    /// The marking of a stored label.
    pub(crate) fn equipment_marking(&self, json: &str) -> String {
        match self.equipment_label(json) {
            Ok(l) => self.marking_of(&l, "(label not readable here)"),
            Err(_) => "(label not readable here)".into(),
        }
    }

    /// A marking typed by an officer, as a label under the node's national policy
    /// (JSON form).
    pub(crate) fn account_label(&self, marking: &str) -> Result<String, Refusal> {
        let policy = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("the national policy is not loaded"))?;
        let label = policy.parse_marking(marking, "").map_err(|e| {
            Refusal::new(
                Kind::BadRequest,
                Rule::Label,
                format!("marking {marking:?}: {e}"),
            )
        })?;
        Ok(label.write(LabelFormat::Json))
    }

    /// The one decision for `caller` on a record's label, and, when it crosses to
    /// `partner` under `agreement`, the agreement's admission of it (in force at
    /// `at`, covering EQUIPMENT, releasable to the partner): both from
    /// `accord-agreement`, nothing decided here.
    pub(crate) async fn equipment_decide(
        &self,
        caller: &Caller,
        label_json: &str,
        agreement: Option<&str>,
        crossing: Option<(&str, &str)>,
        at: Time,
    ) -> Result<(bool, Vec<Reason>), Refusal> {
        let label = self.equipment_label(label_json)?;
        let person = self.person_of(caller)?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let (mut permit, mut reasons) = self.decide(&person, &label, agreement, &held, at);
        if let Some((from, to)) = crossing {
            let (ok, why) = self.admit_equipment(&label, agreement, from, to, &held, at);
            if !ok {
                if permit {
                    reasons.clear();
                }
                permit = false;
                reasons.extend(why);
            }
        }
        Ok((permit, reasons))
    }

    /// `accord_agreement::admit` for a record crossing `from` → `to` under `agreement`.
    pub(crate) fn admit_equipment(
        &self,
        label: &Label,
        agreement: Option<&str>,
        from: &str,
        to: &str,
        held: &[crate::agreements::Held],
        at: Time,
    ) -> (bool, Vec<Reason>) {
        let d = match agreement.and_then(|id| held.iter().find(|h| h.agreement.body.id == id)) {
            None => accord_agreement::not_held(agreement.unwrap_or("(none)"), self.party()),
            Some(h) => accord_agreement::admit(
                self.policies(),
                &accord_agreement::Transfer {
                    label,
                    agreement: &h.checked(),
                    from,
                    to,
                    at,
                },
            ),
        };
        (d.permit, crate::decision::convert(d.reasons))
    }

    /// The signing keys the directory holds for `person`, when issued.
    pub(crate) async fn person_signing_keys(
        &self,
        person: &str,
    ) -> Result<Option<accord_agreement::SigningKeys>, Refusal> {
        let Some(pem) = self
            .store
            .signing_keys(person)
            .await
            .map_err(Refusal::internal)?
        else {
            return Ok(None);
        };
        let keys = SigningPublicKeys::from_pem(&pem).map_err(Refusal::internal)?;
        accord_agreement::SigningKeys::from_public(&keys)
            .map(Some)
            .map_err(Refusal::internal)
    }

    /// An account of this node, or a 404 naming it.
    pub(crate) async fn account(&self, id: &str) -> Result<Account, Refusal> {
        self.store
            .equipment_account(id)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| {
                Refusal::new(
                    Kind::NotFound,
                    Rule::Custody,
                    format!("the {} node has no equipment account {id:?}", self.party()),
                )
            })
    }

    /// The account `person` keeps (custodian or alternate), or a refusal saying whose
    /// it is.
    pub(crate) async fn kept_account(&self, person: &str, id: &str) -> Result<Account, Refusal> {
        let a = self.account(id).await?;
        if a.kept_by(person) {
            Ok(a)
        } else {
            Err(Refusal::new(
                Kind::Denied,
                Rule::Custody,
                format!(
                    "{person} is not the custodian or alternate of account {} (custodian {}{})",
                    a.id,
                    a.custodian,
                    a.alternate
                        .as_ref()
                        .map(|x| format!(", alternate {x}"))
                        .unwrap_or_default()
                ),
            ))
        }
    }

    /// A person of this node named in a record or an account (`what`: "the holder"),
    /// or a 404 saying who is not here.
    pub(crate) async fn person_here(
        &self,
        id: &str,
        what: &str,
    ) -> Result<crate::store::PersonRecord, Refusal> {
        self.store
            .person(id)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| {
                Refusal::new(
                    Kind::NotFound,
                    Rule::Custody,
                    format!("{what}, {id}, is not a person of the {} node", self.party()),
                )
            })
    }

    /// The time now, as a record writes it (RFC 3339, seconds, UTC).
    pub(crate) fn record_time(&self) -> String {
        let t = (self.clock)();
        crate::store::rfc3339(t.unix())
    }
}

/// A refusal of a record's custody rules.
pub(crate) fn custody(text: impl Into<String>) -> Refusal {
    Refusal::new(Kind::Unacceptable, Rule::Custody, text)
}

/// A refusal of a record's form or kind rules.
pub(crate) fn malformed(e: accord_equipment::Error) -> Refusal {
    match e {
        accord_equipment::Error::Signature(t) => {
            Refusal::new(Kind::Unacceptable, Rule::Signature, t)
        }
        accord_equipment::Error::Rule(t) => Refusal::new(Kind::Unacceptable, Rule::Custody, t),
        other => Refusal::new(Kind::BadRequest, Rule::Request, other.to_string()),
    }
}
