//! Signing a record: each signer submits the record with their signature added
//! (`POST /v1/equipment/records`); the node checks who signed and with which keys,
//! drafts the body again from its own parameters (it must come out the same: the rules
//! are the draft's), decides, and when every signer has signed, attests it, changes the
//! ledger and stores it in one transaction, after its audit entry.

use super::draft::Plan;
use super::store;
use crate::audit::EntryKind;
use crate::caller::{Caller, Peer};
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::{Duty, Time};
use accord_equipment::record::{Body, Kind, Record};
use accord_node_api::wire::{self, Reason, Rule};
use accord_node_api::Kind as RefusalKind;

/// How far a new record's time may be from the node's clock.
const MAX_SKEW_SECS: i64 = 300;

impl Node {
    /// `POST /v1/equipment/drafts`: the body a custodian's record will have.
    pub async fn equipment_draft(&self, peer: &Peer, d: &wire::Draft) -> Result<Body, Refusal> {
        let caller = self.authorize(peer, Duty::KeepEquipment).await?;
        let r = self.draft_body(&caller.record, d, None, None).await;
        self.answered(EntryKind::Equipment, &caller, r.map(|(b, _)| b))
            .await
    }

    /// `POST /v1/equipment/records`: a record with the caller's signature added.
    pub async fn equipment_submit(
        &self,
        peer: &Peer,
        bytes: &[u8],
    ) -> Result<wire::Submitted, Refusal> {
        let caller = self.authorize(peer, Duty::SignEquipment).await?;
        let _one = self.equipment_lock.lock().await;
        let r = self.submit(&caller, bytes).await;
        self.answered(EntryKind::Equipment, &caller, r).await
    }

    async fn submit(&self, caller: &Caller, bytes: &[u8]) -> Result<wire::Submitted, Refusal> {
        let mut record = Record::from_json(bytes).map_err(super::malformed)?;
        let own = self.own();
        self.own_keys_in_force(&own, &[accord_agreement::amendment::KeyKind::Signing])?;
        let body = record.body.clone();
        if body.party != self.party() {
            return Err(Refusal::new(
                RefusalKind::Unacceptable,
                Rule::Custody,
                format!(
                    "a record of {} is signed at {}'s node, not {}'s",
                    body.party,
                    body.party,
                    self.party()
                ),
            ));
        }
        let stored = self
            .store
            .equipment_record(&body.id)
            .await
            .map_err(Refusal::internal)?;
        let before = match &stored {
            None => {
                if let Err(why) = caller.record.role().may(Duty::KeepEquipment) {
                    return Err(Refusal::new(RefusalKind::Denied, Rule::Role, why));
                }
                let at = Time::parse(&body.at).map_err(|e| {
                    Refusal::new(RefusalKind::BadRequest, Rule::Request, format!("at: {e}"))
                })?;
                if (at.unix() - (self.clock)().unix()).abs() > MAX_SKEW_SECS {
                    return Err(Refusal::new(
                        RefusalKind::Unacceptable,
                        Rule::Request,
                        format!("the record is dated {}, more than {MAX_SKEW_SECS} s from the node's clock: draft it again", body.at),
                    ));
                }
                0
            }
            Some(s) if s.state == "pending" => {
                let had = Record::from_json(s.json.as_bytes()).map_err(Refusal::internal)?;
                if had.body != body
                    || record.signatures.get(..had.signatures.len()) != Some(&had.signatures[..])
                {
                    return Err(Refusal::new(
                        RefusalKind::Conflict,
                        Rule::Signature,
                        format!("record {} differs from the one awaiting signatures: sign the record as the node holds it", body.id),
                    ));
                }
                had.signatures.len()
            }
            Some(_) => {
                return Err(Refusal::new(
                    RefusalKind::Conflict,
                    Rule::Custody,
                    format!("record {} is complete already", body.id),
                ))
            }
        };
        if record.signatures.len() != before + 1 {
            return Err(Refusal::new(
                RefusalKind::BadRequest,
                Rule::Signature,
                format!("the record carries {} signatures; the node holds {before}, and each signer adds one", record.signatures.len()),
            ));
        }
        let signer = &record.signatures[before];
        if signer.person != caller.record.id || body.signers[before] != caller.record.id {
            return Err(Refusal::new(
                RefusalKind::Denied,
                Rule::Signature,
                format!(
                    "the record waits for {}'s signature; {} may add only their own",
                    body.signers[before], caller.record.id
                ),
            ));
        }
        let Some(keys) = self.person_signing_keys(&caller.record.id).await? else {
            return Err(Refusal::new(
                RefusalKind::Denied,
                Rule::Signature,
                format!(
                    "{} has no signing key at the {} node (`accord user signing-key {}`)",
                    caller.record.id,
                    self.party(),
                    caller.record.id
                ),
            ));
        };
        if signer.keys.parse("keys").map_err(super::malformed)? != keys {
            return Err(Refusal::new(
                RefusalKind::Denied,
                Rule::Signature,
                format!(
                    "{}'s signature is made with a key the directory does not hold for them",
                    caller.record.id
                ),
            ));
        }
        record.verify_signatures().map_err(super::malformed)?;

        // The body must be what the node drafts from its own parameters, with the first
        // signer as custodian: drafted again now, against the ledger as it is.
        let custodian = self
            .store
            .person(&body.signers[0])
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| super::custody(format!("no person {}", body.signers[0])))?;
        if custodian.role() != accord_agreement::Role::Custodian {
            return Err(Refusal::new(
                RefusalKind::Denied,
                Rule::Role,
                format!("{} signs first, and is not a custodian", custodian.id),
            ));
        }
        let (drafted, plan) = self
            .draft_body(
                &custodian,
                &as_draft(&body),
                Some(body.id.clone()),
                Some(body.at.clone()),
            )
            .await?;
        if drafted != body {
            return Err(super::custody(format!(
                "record {} is not what the ledger gives now ({}): draft it again",
                body.id,
                first_difference(&drafted, &body)
            )));
        }

        let crossing = body
            .kind
            .crosses()
            .then_some(())
            .and(body.partner.as_deref())
            .map(|p| (self.party(), p));
        let now = (self.clock)();
        let (permit, reasons) = self
            .equipment_decide(
                caller,
                &body.label,
                body.agreement.as_deref(),
                crossing,
                now,
            )
            .await?;
        let digest = body.digest().map_err(Refusal::internal)?;
        let complete = record.complete();
        let summary = summary(&body);
        if !permit {
            self.log_record(caller, &body, &digest, false, &reasons, "refused")
                .await?;
            return Err(Refusal {
                kind: RefusalKind::Denied,
                error: format!(
                    "{} {}: {}",
                    body.kind,
                    body.id,
                    reasons.first().map(|r| r.text.as_str()).unwrap_or("denied")
                ),
                reasons,
                logged: true,
            });
        }
        if complete {
            record.attest(own.signing()).map_err(Refusal::internal)?;
        }
        let state = if complete { "done" } else { "pending" };
        let what = if complete {
            summary.clone()
        } else {
            format!(
                "signed by {}; awaits {}",
                caller.record.id,
                body.signers[before + 1]
            )
        };
        let row = super::StoredRecord::of(
            &record,
            body.partner.clone(),
            state,
            digest.clone(),
            what.clone(),
        );
        let mut stmts = vec![if stored.is_none() {
            store::insert_record(&row, crosses(&body))
        } else {
            store::update_record(&row)
        }];
        if complete {
            stmts.extend(self.plan_statements(&body, plan));
        }
        let what = if complete {
            summary.clone()
        } else {
            format!(
                "signed by {}; awaits {}",
                caller.record.id,
                body.signers[before + 1]
            )
        };
        self.log_record(caller, &body, &digest, true, &reasons, &what)
            .await?;
        self.store.commit(stmts).await.map_err(Refusal::internal)?;
        if complete && crosses(&body) {
            self.equipment_ready.notify_one();
        }
        Ok(wire::Submitted {
            id: body.id.clone(),
            state: state.into(),
            digest,
            next_signer: record.next_signer().map(String::from),
            summary,
            differences: body.differences.clone(),
        })
    }

    /// The ledger statements of a complete record's plan, with its history rows.
    fn plan_statements(&self, body: &Body, plan: Plan) -> Vec<crate::store::Stmt> {
        let now = crate::store::unix_now();
        let mut stmts = Vec::new();
        stmts.extend(store::insert_items(&plan.add, now));
        for li in &plan.change {
            stmts.push(store::update_item(li, now));
        }
        if let Some(id) = &plan.answers {
            stmts.push(store::answered(id, now));
        }
        stmts.extend(store::history(
            body.items.iter().map(|l| &l.key),
            store::history_seq(),
            &body.id,
        ));
        stmts
    }

    /// The audit entry of a record decided at this node.
    pub(crate) async fn log_record(
        &self,
        caller: &Caller,
        body: &Body,
        digest: &str,
        permit: bool,
        reasons: &[Reason],
        detail: &str,
    ) -> Result<(), Refusal> {
        let marking = self.equipment_marking(&body.label);
        let entry = crate::audit::AuditEntry {
            person: Some(&caller.record.id),
            credential: Some(&caller.fingerprint),
            object: Some(&body.id),
            marking: Some(&marking),
            agreement: body.agreement.as_deref(),
            request: Some(digest),
            partner: body.partner.as_deref(),
            change: Some(body.kind.as_str()),
            detail: Some(detail),
            ..self.entry(EntryKind::Equipment, permit, reasons)
        };
        self.log_entries(vec![entry.bytes()]).await.map(|_| ())
    }
}

/// Whether a record goes to its partner (an incident only when it names one).
pub(crate) fn crosses(body: &Body) -> bool {
    body.kind.crosses() && body.partner.is_some()
}

/// The parameters a body was drafted from.
fn as_draft(body: &Body) -> wire::Draft {
    wire::Draft {
        kind: body.kind.as_str().into(),
        account: body.account.clone(),
        items: body.items.clone(),
        partner: body.partner.clone(),
        agreement: body.agreement.clone(),
        refers: body.refers.as_ref().map(|r| r.id.clone()),
        holder: body.holder.clone(),
        witnesses: if body.kind == Kind::Destruction {
            body.signers[1..].to_vec()
        } else {
            Vec::new()
        },
        note: body.note.clone(),
    }
}

fn first_difference(a: &Body, b: &Body) -> String {
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return "unreadable".into();
    };
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return "unreadable".into();
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("`{k}` differs"))
        .unwrap_or_else(|| "no field differs".into())
}

/// What a record did, in words.
pub(crate) fn summary(body: &Body) -> String {
    let n = body.items.len();
    let items = format!("{n} item{}", if n == 1 { "" } else { "s" });
    let diff = body.differences.as_ref().map(|d| d.summary());
    match body.kind {
        Kind::Transfer => format!(
            "{items} shipped to {}",
            body.partner.as_deref().unwrap_or("?")
        ),
        Kind::Receipt => format!("{items} received: {}", diff.unwrap_or_default()),
        Kind::HandReceipt => format!(
            "{items} issued to {}",
            body.holder.as_deref().unwrap_or("?")
        ),
        Kind::HandReturn => format!(
            "{items} returned by {}",
            body.holder.as_deref().unwrap_or("?")
        ),
        Kind::Inventory => format!("{items} sighted: {}", diff.unwrap_or_default()),
        Kind::Destruction => format!(
            "{items} destroyed, witnessed by {}",
            body.signers[1..].join(" and ")
        ),
        Kind::Return => format!(
            "{items} returned to {}",
            body.partner.as_deref().unwrap_or("?")
        ),
        Kind::Incident => format!(
            "{items} lost or compromised: {}",
            body.note.as_deref().unwrap_or("")
        ),
        Kind::IncidentAck => "incident acknowledged".into(),
        Kind::CheckRequest => format!(
            "end-use check asked of {}",
            body.partner.as_deref().unwrap_or("?")
        ),
        Kind::CheckAnswer => format!(
            "{items} reported to {}",
            body.partner.as_deref().unwrap_or("?")
        ),
        Kind::CheckResult => format!("end-use check reconciled: {}", diff.unwrap_or_default()),
    }
}
