//! Drafting a record: the node writes the body its signers will sign, from what the
//! custodian asks (`POST /v1/equipment/drafts`), and the ledger changes it will make
//! once every signer has signed. The same function checks a submitted body: drafted
//! again from the body's own parameters, it must come out the same (see `submit`), so
//! the rules of each kind are written once, here.

use super::store::{Items, LedgerItem};
use super::{custody, Account};
use crate::node::Node;
use crate::refusal::Refusal;
use crate::store::PersonRecord;
use accord_equipment::record::{new_id, Body, Kind, Line, Reference, FORMAT};
use accord_equipment::{differences, reconcile, ItemKey, Record, Sighting, Status};
use accord_node_api::wire::{self, Rule};
use accord_node_api::Kind as RefusalKind;
use std::collections::HashMap;

/// What a complete record changes in the ledger.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Items added (a receipt).
    pub(crate) add: Vec<LedgerItem>,
    /// Items changed.
    pub(crate) change: Vec<LedgerItem>,
    /// The received record this one answers (marked answered).
    pub(crate) answers: Option<String>,
}

fn bad(text: impl Into<String>) -> Refusal {
    Refusal::new(RefusalKind::BadRequest, Rule::Request, text)
}

impl Node {
    /// Draft a body of `d` for `custodian`, with `id` and `at`, and its plan.
    pub(crate) async fn draft_body(
        &self,
        custodian: &PersonRecord,
        d: &wire::Draft,
        id: Option<String>,
        at: Option<String>,
    ) -> Result<(Body, Plan), Refusal> {
        let kind = Kind::parse(&d.kind).map_err(bad)?;
        let account = self.kept_account(&custodian.id, &d.account).await?;
        let mut body = Body {
            accord_equipment_record: FORMAT,
            id: id.unwrap_or_else(new_id),
            kind,
            party: self.party().to_string(),
            at: at.unwrap_or_else(|| self.record_time()),
            account: account.id.clone(),
            label: account.label.clone(),
            agreement: None,
            partner: None,
            refers: None,
            items: Vec::new(),
            holder: None,
            signers: vec![custodian.id.clone()],
            differences: None,
            note: d.note.clone(),
        };
        let mut plan = Plan::default();
        let keys =
            |lines: &[Line]| -> Vec<ItemKey> { lines.iter().map(|l| l.key.clone()).collect() };
        match kind {
            Kind::Transfer => {
                let (partner, agreement) = self.crossing(d)?;
                for mut li in self.on_hand(&account, &keys(&d.items), true).await? {
                    body.items.push(Line {
                        class: Some(li.item.class),
                        case: li.item.case.clone(),
                        title_holder: Some(li.item.title_holder.clone()),
                        condition: Some(li.item.condition),
                        ..Line::of(li.item.key.clone())
                    });
                    li.item.status = Status::Transferred;
                    li.item.agreement = Some(agreement.clone());
                    li.transferred_to = Some(partner.clone());
                    plan.change.push(li);
                }
                body.partner = Some(partner);
                body.agreement = Some(agreement);
            }
            Kind::Receipt => {
                let (transfer, r) = self.received_record(d, Kind::Transfer).await?;
                let shipped: Vec<Sighting> = r.body.items.iter().map(sighting).collect();
                let arrived: Vec<Line> = if d.items.is_empty() {
                    r.body
                        .items
                        .iter()
                        .map(|l| Line::of(l.key.clone()))
                        .collect()
                } else {
                    d.items.iter().map(|l| Line::of(l.key.clone())).collect()
                };
                let found: Vec<Sighting> = arrived.iter().map(sighting).collect();
                let diff = differences(&shipped, &found);
                let held = self
                    .store
                    .equipment_keys()
                    .await
                    .map_err(Refusal::internal)?;
                let by_key: HashMap<&ItemKey, &Line> =
                    r.body.items.iter().map(|l| (&l.key, l)).collect();
                for l in &arrived {
                    let Some(shipped) = by_key.get(&l.key) else {
                        continue;
                    };
                    if held.contains(&l.key) {
                        return Err(custody(format!(
                            "{} is already in the {} ledger: a serial is accounted for once",
                            l.key,
                            self.party()
                        )));
                    }
                    plan.add.push(LedgerItem {
                        item: accord_equipment::Item {
                            key: l.key.clone(),
                            class: shipped
                                .class
                                .unwrap_or(accord_equipment::AccountingClass::Controlled),
                            case: shipped.case.clone(),
                            title_holder: shipped
                                .title_holder
                                .clone()
                                .unwrap_or_else(|| r.body.party.clone()),
                            provider: Some(r.body.party.clone()),
                            agreement: r.body.agreement.clone(),
                            account: account.id.clone(),
                            holder: None,
                            condition: shipped
                                .condition
                                .unwrap_or(accord_equipment::Condition::Serviceable),
                            status: Status::InService,
                        },
                        transferred_to: None,
                        label: account.label.clone(),
                    });
                }
                body.items = arrived;
                body.differences = Some(diff);
                self.answer_of(&mut body, &transfer, &r);
                plan.answers = Some(transfer.id.clone());
            }
            Kind::HandReceipt | Kind::HandReturn => {
                let holder = d
                    .holder
                    .clone()
                    .ok_or_else(|| bad("a hand receipt names the holder"))?;
                self.colleague(&holder, &custodian.id).await?;
                let issuing = kind == Kind::HandReceipt;
                for mut li in self.on_hand(&account, &keys(&d.items), issuing).await? {
                    if !issuing && li.item.holder.as_deref() != Some(holder.as_str()) {
                        return Err(custody(format!(
                            "{} is not on {holder}'s hand receipt ({})",
                            li.item.key,
                            li.item
                                .holder
                                .as_deref()
                                .map(|h| format!("held by {h}"))
                                .unwrap_or("held by the custodian".into())
                        )));
                    }
                    body.items.push(Line::of(li.item.key.clone()));
                    li.item.holder = issuing.then(|| holder.clone());
                    plan.change.push(li);
                }
                body.signers.push(holder.clone());
                body.holder = Some(holder);
            }
            Kind::Inventory => {
                // In-service and in-repair items: `Status::on_hand`.
                let expected = self
                    .store
                    .equipment_on_hand(&account.id)
                    .await
                    .map_err(Refusal::internal)?;
                let sighted: Vec<Sighting> = d.items.iter().map(sighting).collect();
                body.differences = Some(differences(&expected, &sighted));
                body.items = d.items.clone();
            }
            Kind::Destruction => {
                if d.witnesses.len() != 2 {
                    return Err(bad(
                        "a destruction is witnessed by two people (--witness twice)",
                    ));
                }
                for w in &d.witnesses {
                    self.colleague(w, &custodian.id).await?;
                }
                for mut li in self.on_hand(&account, &keys(&d.items), true).await? {
                    body.items.push(Line::of(li.item.key.clone()));
                    li.item.status = Status::Destroyed;
                    plan.change.push(li);
                }
                body.signers.extend(d.witnesses.iter().cloned());
            }
            Kind::Return | Kind::Incident => {
                let items = self
                    .on_hand(&account, &keys(&d.items), kind == Kind::Return)
                    .await?;
                let providers: std::collections::BTreeSet<(Option<String>, Option<String>)> = items
                    .iter()
                    .map(|li| (li.item.provider.clone(), li.item.agreement.clone()))
                    .collect();
                if providers.len() > 1 {
                    return Err(bad(format!(
                        "the items came from {} providers or agreements: one {kind} record per provider and agreement",
                        providers.len()
                    )));
                }
                let (provider, agreement) = providers.into_iter().next().unwrap_or((None, None));
                if kind == Kind::Return && provider.is_none() {
                    return Err(custody(
                        "these items came from no provider: there is no one to return them to",
                    ));
                }
                body.partner = provider;
                body.agreement = agreement;
                for mut li in items {
                    body.items.push(Line {
                        condition: Some(li.item.condition),
                        ..Line::of(li.item.key.clone())
                    });
                    li.item.status = if kind == Kind::Return {
                        Status::Returned
                    } else {
                        Status::Lost
                    };
                    plan.change.push(li);
                }
            }
            Kind::IncidentAck => {
                let (incident, r) = self.received_record(d, Kind::Incident).await?;
                self.answer_of(&mut body, &incident, &r);
                plan.answers = Some(incident.id.clone());
            }
            Kind::CheckRequest => {
                let (partner, agreement) = self.crossing(d)?;
                body.partner = Some(partner);
                body.agreement = Some(agreement);
            }
            Kind::CheckAnswer => {
                let (request, r) = self.received_record(d, Kind::CheckRequest).await?;
                let agreement = r.body.agreement.clone().unwrap_or_default();
                // Exactly the items the requester transferred under the agreement:
                // never another item of this party's.
                let items = self
                    .store
                    .equipment_items(Items::From(&r.body.party, &agreement))
                    .await
                    .map_err(Refusal::internal)?;
                body.items = items
                    .iter()
                    .map(|li| Line {
                        condition: Some(li.item.condition),
                        status: Some(li.item.status),
                        ..Line::of(li.item.key.clone())
                    })
                    .collect();
                self.answer_of(&mut body, &request, &r);
                plan.answers = Some(request.id.clone());
            }
            Kind::CheckResult => {
                let (answer, r) = self.received_record(d, Kind::CheckAnswer).await?;
                let agreement = r.body.agreement.clone().unwrap_or_default();
                let shipped = self
                    .store
                    .equipment_items(Items::To(&r.body.party, &agreement))
                    .await
                    .map_err(Refusal::internal)?;
                let transferred: Vec<Line> = shipped
                    .iter()
                    .map(|li| Line::of(li.item.key.clone()))
                    .collect();
                let rec = reconcile(&transferred, &r.body.items);
                if !rec.not_in_service.is_empty() {
                    body.note = Some(format!(
                        "reported not in service: {}",
                        rec.not_in_service
                            .iter()
                            .map(|(k, s)| format!("{k} ({s})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                body.differences = Some(rec.differences);
                self.answer_of(&mut body, &answer, &r);
                plan.answers = Some(answer.id.clone());
            }
        }
        accord_equipment::rules::check(&body).map_err(super::malformed)?;
        body.check().map_err(super::malformed)?;
        Ok((body, plan))
    }

    fn crossing(&self, d: &wire::Draft) -> Result<(String, String), Refusal> {
        let partner = d
            .partner
            .clone()
            .ok_or_else(|| bad(format!("a {} names the partner (--to)", d.kind)))?;
        let agreement = d
            .agreement
            .clone()
            .ok_or_else(|| bad(format!("a {} names the agreement (--agreement)", d.kind)))?;
        if partner == self.party() {
            return Err(bad(format!("{partner} is this node's own party")));
        }
        Ok((partner, agreement))
    }

    /// The record received from a partner that a draft answers: of `kind`, still open.
    async fn received_record(
        &self,
        d: &wire::Draft,
        kind: Kind,
    ) -> Result<(super::StoredRecord, Record), Refusal> {
        let id = d
            .refers
            .as_deref()
            .ok_or_else(|| bad(format!("a {} names the {kind} it answers", d.kind)))?;
        let stored = self
            .store
            .equipment_record(id)
            .await
            .map_err(Refusal::internal)?
            .filter(|s| s.kind == kind.as_str() && s.origin != self.party())
            .ok_or_else(|| {
                Refusal::new(
                    RefusalKind::NotFound,
                    Rule::Custody,
                    format!("no {kind} {id} received from a partner"),
                )
            })?;
        if stored.state == "answered" {
            return Err(Refusal::new(
                RefusalKind::Conflict,
                Rule::Custody,
                format!("{kind} {id} is answered already"),
            ));
        }
        let r = Record::from_json(stored.json.as_bytes()).map_err(Refusal::internal)?;
        Ok((stored, r))
    }

    fn answer_of(&self, body: &mut Body, stored: &super::StoredRecord, r: &Record) {
        body.refers = Some(Reference {
            id: stored.id.clone(),
            digest: stored.digest.clone(),
        });
        body.partner = Some(r.body.party.clone());
        body.agreement = r.body.agreement.clone();
    }

    /// The items `keys` in `account`, on hand; when `free`, held by no one on a hand
    /// receipt. Every item named that is not is a reason, all given at once.
    async fn on_hand(
        &self,
        account: &Account,
        keys: &[ItemKey],
        free: bool,
    ) -> Result<Vec<LedgerItem>, Refusal> {
        if keys.is_empty() {
            return Err(bad("name at least one item"));
        }
        let ledger = self
            .store
            .equipment_items(Items::Account(&account.id))
            .await
            .map_err(Refusal::internal)?;
        let by_key: HashMap<&ItemKey, &LedgerItem> =
            ledger.iter().map(|li| (&li.item.key, li)).collect();
        let mut out = Vec::with_capacity(keys.len());
        let mut why = Vec::new();
        for k in keys {
            match by_key.get(k) {
                None => why.push(format!("{k} is not in account {}", account.id)),
                Some(li) if !li.item.status.on_hand() => {
                    why.push(format!("{k} is {}", li.item.status))
                }
                Some(li) if free && li.item.holder.is_some() => why.push(format!(
                    "{k} is on {}'s hand receipt: return it to the custodian first",
                    li.item.holder.as_deref().unwrap_or("?")
                )),
                Some(li) => out.push((*li).clone()),
            }
        }
        if why.is_empty() {
            Ok(out)
        } else {
            let n = why.len();
            let mut text = why.into_iter().take(20).collect::<Vec<_>>().join("; ");
            if n > 20 {
                text.push_str(&format!("; and {} more", n - 20));
            }
            Err(custody(text))
        }
    }

    /// A person of this node, active, other than the custodian: a holder or witness.
    async fn colleague(&self, id: &str, custodian: &str) -> Result<PersonRecord, Refusal> {
        if id == custodian {
            return Err(custody(format!(
                "{id} is the custodian: a holder or witness is someone else"
            )));
        }
        let p = self.person_here(id, "the holder or witness").await?;
        if p.status != "active" {
            return Err(custody(format!("{id} is suspended")));
        }
        Ok(p)
    }
}

fn sighting(l: &Line) -> Sighting {
    Sighting {
        key: l.key.clone(),
        holder: l.holder.clone(),
        condition: l.condition,
    }
}
