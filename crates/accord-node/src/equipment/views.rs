//! What people read and the account-level changes: accounts (opened by officers),
//! items imported from CSV, the ledger and each item's history, records, and the
//! reconciliation of what crossed. Every item and record shown is decided for the
//! reader on its label (the one decision), as any object is.

use super::store::{Items, LedgerItem};
use super::{Account, StoredRecord, INCIDENT_HOURS};
use crate::audit::EntryKind;
use crate::caller::{Caller, Peer};
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::{Duty, Role};
use accord_equipment::{csv, item::check_name, ItemKey, Record};
use accord_node_api::wire::{self, Reason, Rule};
use accord_node_api::Kind as RefusalKind;
use std::collections::HashMap;

/// Largest CSV import read.
pub const MAX_IMPORT: usize = 64 << 20;

/// The decisions made for one reader, one per distinct label and agreement.
struct Decided<'a> {
    node: &'a Node,
    caller: &'a Caller,
    seen: HashMap<(String, Option<String>), bool>,
}

impl<'a> Decided<'a> {
    fn new(node: &'a Node, caller: &'a Caller) -> Self {
        Decided {
            node,
            caller,
            seen: HashMap::new(),
        }
    }

    async fn may_read(&mut self, label: &str, agreement: Option<&str>) -> bool {
        let key = (label.to_string(), agreement.map(String::from));
        if let Some(v) = self.seen.get(&key) {
            return *v;
        }
        let now = (self.node.clock)();
        let v = matches!(
            self.node
                .equipment_decide(self.caller, label, agreement, None, now)
                .await,
            Ok((true, _))
        );
        self.seen.insert(key, v);
        v
    }
}

impl Node {
    /// `GET /v1/equipment/accounts`.
    pub async fn equipment_accounts(&self, peer: &Peer) -> Result<Vec<wire::AccountView>, Refusal> {
        self.authorize(peer, Duty::ReadEquipment).await?;
        let accounts = self
            .store
            .equipment_accounts()
            .await
            .map_err(Refusal::internal)?;
        let items = self
            .store
            .equipment_items(Items::All)
            .await
            .map_err(Refusal::internal)?;
        let mut count: HashMap<&str, u64> = HashMap::new();
        for li in &items {
            *count.entry(li.item.account.as_str()).or_default() += 1;
        }
        Ok(accounts
            .iter()
            .map(|a| wire::AccountView {
                id: a.id.clone(),
                custodian: a.custodian.clone(),
                alternate: a.alternate.clone(),
                marking: self.equipment_marking(&a.label),
                items: count.get(a.id.as_str()).copied().unwrap_or(0),
            })
            .collect())
    }

    /// `POST /v1/equipment/accounts`: an officer opens an account.
    pub async fn equipment_open_account(
        &self,
        peer: &Peer,
        req: &wire::AccountNew,
    ) -> Result<wire::AccountView, Refusal> {
        let caller = self.authorize(peer, Duty::ManageAccounts).await?;
        let r = self.open_account(&caller, req).await;
        self.answered(EntryKind::Equipment, &caller, r).await
    }

    async fn open_account(
        &self,
        caller: &Caller,
        req: &wire::AccountNew,
    ) -> Result<wire::AccountView, Refusal> {
        let bad = |t: String| Refusal::new(RefusalKind::BadRequest, Rule::Request, t);
        check_name("id", &req.id).map_err(|e| bad(e.to_string()))?;
        let _one = self.equipment_lock.lock().await;
        if self
            .store
            .equipment_account(&req.id)
            .await
            .map_err(Refusal::internal)?
            .is_some()
        {
            return Err(Refusal::new(
                RefusalKind::Conflict,
                Rule::Custody,
                format!("account {} exists", req.id),
            ));
        }
        for (what, who) in std::iter::once(("custodian", Some(&req.custodian)))
            .chain(std::iter::once(("alternate", req.alternate.as_ref())))
        {
            let Some(who) = who else { continue };
            let p = self.person_here(who, &format!("the {what}")).await?;
            if p.role() != Role::Custodian {
                return Err(Refusal::new(
                    RefusalKind::Unacceptable,
                    Rule::Role,
                    format!("the {what}, {who}, has the role {}: custodians keep accounts (`accord user role {who} custodian`)", p.role()),
                ));
            }
        }
        if req.alternate.as_deref() == Some(req.custodian.as_str()) {
            return Err(bad(
                "the alternate is another person than the custodian".into()
            ));
        }
        let label = self.account_label(&req.marking)?;
        let a = Account {
            id: req.id.clone(),
            custodian: req.custodian.clone(),
            alternate: req.alternate.clone(),
            label,
            created: crate::store::unix_now(),
        };
        let marking = self.equipment_marking(&a.label);
        let detail = format!(
            "account {} opened: custodian {}{}",
            a.id,
            a.custodian,
            a.alternate
                .as_ref()
                .map(|x| format!(", alternate {x}"))
                .unwrap_or_default()
        );
        let reasons = [Reason::new(
            Rule::Role,
            format!("{} is an officer", caller.record.id),
        )];
        let entry = crate::audit::AuditEntry {
            person: Some(&caller.record.id),
            credential: Some(&caller.fingerprint),
            object: Some(&a.id),
            marking: Some(&marking),
            change: Some("account"),
            detail: Some(&detail),
            ..self.entry(EntryKind::Equipment, true, &reasons)
        };
        self.log_entries(vec![entry.bytes()]).await?;
        self.store
            .commit(vec![super::store::insert_account(&a)])
            .await
            .map_err(Refusal::internal)?;
        Ok(wire::AccountView {
            id: a.id,
            custodian: a.custodian,
            alternate: a.alternate,
            marking,
            items: 0,
        })
    }

    /// `POST /v1/equipment/accounts/{id}/import`: items from CSV into an account the
    /// caller keeps; every bad row named by its line, nothing half-imported.
    pub async fn equipment_import(
        &self,
        peer: &Peer,
        account: &str,
        bytes: &[u8],
    ) -> Result<wire::Imported, Refusal> {
        let caller = self.authorize(peer, Duty::KeepEquipment).await?;
        let r = self.import(&caller, account, bytes).await;
        self.answered(EntryKind::Equipment, &caller, r).await
    }

    async fn import(
        &self,
        caller: &Caller,
        account: &str,
        bytes: &[u8],
    ) -> Result<wire::Imported, Refusal> {
        let bad = |t: String| Refusal::new(RefusalKind::BadRequest, Rule::Request, t);
        if bytes.len() > MAX_IMPORT {
            return Err(Refusal::new(
                RefusalKind::TooLarge,
                Rule::Request,
                format!(
                    "the CSV is {} bytes; an import is at most {MAX_IMPORT}",
                    bytes.len()
                ),
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| bad(format!("the CSV is not UTF-8 (byte {})", e.valid_up_to())))?;
        let rows = csv::read(text).map_err(|e| bad(e.to_string()))?;
        let _one = self.equipment_lock.lock().await;
        let a = self.kept_account(&caller.record.id, account).await?;
        let held = self
            .store
            .equipment_keys()
            .await
            .map_err(Refusal::internal)?;
        let dup: Vec<String> = rows
            .iter()
            .filter(|r| held.contains(&r.key))
            .map(|r| format!("line {}: {} is already in the ledger", r.line, r.key))
            .collect();
        if !dup.is_empty() {
            let n = dup.len();
            return Err(Refusal::new(
                RefusalKind::Unacceptable,
                Rule::Custody,
                format!(
                    "{n} serial{} already accounted for; nothing was imported: {}",
                    if n == 1 { " is" } else { "s are" },
                    dup.into_iter().take(20).collect::<Vec<_>>().join("; ")
                ),
            ));
        }
        let now = crate::store::unix_now();
        let items: Vec<LedgerItem> = rows
            .iter()
            .map(|r| LedgerItem {
                item: accord_equipment::Item {
                    key: r.key.clone(),
                    class: r.class,
                    case: r.case.clone(),
                    title_holder: r.title_holder.clone(),
                    provider: None,
                    agreement: None,
                    account: a.id.clone(),
                    holder: None,
                    condition: r.condition,
                    status: accord_equipment::Status::InService,
                },
                transferred_to: None,
                label: a.label.clone(),
            })
            .collect();
        let stmts = super::store::insert_items(&items, now);
        let detail = format!("{} items imported into {}", rows.len(), a.id);
        let marking = self.equipment_marking(&a.label);
        let reasons = [Reason::new(
            Rule::Custody,
            format!("{} keeps account {}", caller.record.id, a.id),
        )];
        let entry = crate::audit::AuditEntry {
            person: Some(&caller.record.id),
            credential: Some(&caller.fingerprint),
            object: Some(&a.id),
            marking: Some(&marking),
            change: Some("import"),
            detail: Some(&detail),
            ..self.entry(EntryKind::Equipment, true, &reasons)
        };
        self.log_entries(vec![entry.bytes()]).await?;
        self.store.commit(stmts).await.map_err(Refusal::internal)?;
        Ok(wire::Imported {
            account: a.id,
            items: rows.len() as u64,
        })
    }

    /// `GET /v1/equipment/items`: the ledger (of one account when given), as the
    /// caller may read it.
    pub async fn equipment_items(
        &self,
        peer: &Peer,
        account: Option<&str>,
    ) -> Result<Vec<wire::ItemView>, Refusal> {
        let caller = self.authorize(peer, Duty::ReadEquipment).await?;
        let which = match account {
            Some(a) => Items::Account(a),
            None => Items::All,
        };
        let items = self
            .store
            .equipment_items(which)
            .await
            .map_err(Refusal::internal)?;
        let mut d = Decided::new(self, &caller);
        let mut markings: HashMap<String, String> = HashMap::new();
        let mut out = Vec::with_capacity(items.len());
        for li in &items {
            if !d.may_read(&li.label, li.item.agreement.as_deref()).await {
                continue;
            }
            let m = markings
                .entry(li.label.clone())
                .or_insert_with(|| self.equipment_marking(&li.label))
                .clone();
            out.push(view(li, m));
        }
        Ok(out)
    }

    /// `GET /v1/equipment/item?nomenclature=&serial=`: an item and its history.
    pub async fn equipment_item(
        &self,
        peer: &Peer,
        key: &ItemKey,
    ) -> Result<wire::ItemHistory, Refusal> {
        let caller = self.authorize(peer, Duty::ReadEquipment).await?;
        let not_found = || {
            Refusal::new(
                RefusalKind::NotFound,
                Rule::Custody,
                format!("no item {key} in the {} ledger", self.party()),
            )
        };
        let li = self
            .store
            .equipment_item(key)
            .await
            .map_err(Refusal::internal)?;
        let mut d = Decided::new(self, &caller);
        let item = match li {
            Some(li) if d.may_read(&li.label, li.item.agreement.as_deref()).await => {
                view(&li, self.equipment_marking(&li.label))
            }
            _ => return Err(not_found()),
        };
        let mut history = Vec::new();
        for s in self
            .store
            .equipment_history(key)
            .await
            .map_err(Refusal::internal)?
        {
            if let Some(v) = self.record_view(&s, &mut d).await {
                history.push(v);
            }
        }
        Ok(wire::ItemHistory { item, history })
    }

    /// `GET /v1/equipment/records`: newest first, of a kind and state when given.
    pub async fn equipment_records(
        &self,
        peer: &Peer,
        kind: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<wire::RecordView>, Refusal> {
        let caller = self.authorize(peer, Duty::ReadEquipment).await?;
        let bad = |t: String| Refusal::new(RefusalKind::BadRequest, Rule::Request, t);
        if let Some(k) = kind {
            accord_equipment::Kind::parse(k).map_err(bad)?;
        }
        if let Some(s) = state.filter(|s| !["pending", "done", "open", "answered"].contains(s)) {
            return Err(bad(format!(
                "state {s:?} is not one of pending, done, open, answered"
            )));
        }
        let mut d = Decided::new(self, &caller);
        let mut out = Vec::new();
        for s in self
            .store
            .equipment_records(kind, state, 1000)
            .await
            .map_err(Refusal::internal)?
        {
            if let Some(v) = self.record_view(&s, &mut d).await {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// `GET /v1/equipment/records/{id}`: a record, signed, for a person who reads the
    /// ledger or who is named to sign it.
    pub async fn equipment_record(
        &self,
        peer: &Peer,
        id: &str,
    ) -> Result<serde_json::Value, Refusal> {
        let caller = self.authorize(peer, Duty::SignEquipment).await?;
        let not_found = || {
            Refusal::new(
                RefusalKind::NotFound,
                Rule::Custody,
                format!("no equipment record {id}"),
            )
        };
        let s = self
            .store
            .equipment_record(id)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(not_found)?;
        let r = Record::from_json(s.json.as_bytes()).map_err(Refusal::internal)?;
        let named = r.body.signers.contains(&caller.record.id);
        if !named && caller.record.role().may(Duty::ReadEquipment).is_err() {
            return Err(not_found());
        }
        let mut d = Decided::new(self, &caller);
        let Some(v) = self.record_view(&s, &mut d).await else {
            return Err(not_found());
        };
        Ok(serde_json::json!({"view": v, "record": r}))
    }

    async fn record_view(&self, s: &StoredRecord, d: &mut Decided<'_>) -> Option<wire::RecordView> {
        if !d.may_read(&s.label, s.agreement.as_deref()).await {
            return None;
        }
        let now = (self.clock)().unix();
        let due = (s.kind == accord_equipment::Kind::Incident.as_str() && s.partner.is_some())
            .then(|| s.at + INCIDENT_HOURS * 3600);
        Some(wire::RecordView {
            id: s.id.clone(),
            kind: s.kind.clone(),
            origin: s.origin.clone(),
            account: s.account.clone(),
            partner: s.partner.clone(),
            agreement: s.agreement.clone(),
            refers: s.refers.clone(),
            at: crate::store::rfc3339(s.at),
            digest: s.digest.clone(),
            state: s.state.clone(),
            signers: s.signers.clone(),
            next_signer: s.next_signer.clone(),
            items: s.items.max(0) as u64,
            summary: s.summary.clone(),
            delivered: s.delivered.map(crate::store::rfc3339),
            answered: s.answered.map(crate::store::rfc3339),
            due: due.map(crate::store::rfc3339),
            overdue: due.is_some_and(|t| s.answered.is_none() && now > t),
        })
    }

    /// `GET /v1/equipment/reconcile?partner=&agreement=`: the items transferred
    /// between this party and `partner` under `agreement`, as both ledgers hold them.
    pub async fn equipment_reconcile(
        &self,
        peer: &Peer,
        partner: &str,
        agreement: &str,
    ) -> Result<wire::ReconcileView, Refusal> {
        self.authorize(peer, Duty::ReadEquipment).await?;
        let shipped = self
            .store
            .equipment_items(Items::To(partner, agreement))
            .await
            .map_err(Refusal::internal)?;
        let came = self
            .store
            .equipment_items(Items::From(partner, agreement))
            .await
            .map_err(Refusal::internal)?;
        let records = self
            .store
            .equipment_records(None, None, 100_000)
            .await
            .map_err(Refusal::internal)?;
        let mine = |s: &&StoredRecord| {
            s.agreement.as_deref() == Some(agreement) && s.partner.as_deref() == Some(partner)
        };
        let mut receipted = std::collections::HashSet::new();
        let mut last_check: Option<&StoredRecord> = None;
        for s in records.iter().filter(mine) {
            let Ok(r) = Record::from_json(s.json.as_bytes()) else {
                continue;
            };
            match r.body.kind {
                accord_equipment::Kind::Receipt if s.origin == partner => {
                    if let Some(d) = &r.body.differences {
                        let missing: std::collections::HashSet<_> = d.missing.iter().collect();
                        for l in &r.body.items {
                            if !missing.contains(&l.key) {
                                receipted.insert(l.key.clone());
                            }
                        }
                    }
                }
                accord_equipment::Kind::CheckResult
                    if s.origin == self.party() && last_check.is_none_or(|c| c.at < s.at) =>
                {
                    last_check = Some(s);
                }
                _ => {}
            }
        }
        let role = match (shipped.is_empty(), came.is_empty()) {
            (false, true) => "provider",
            (true, false) => "receiver",
            (false, false) => "provider and receiver",
            (true, true) => "none",
        };
        let mut not_receipted: Vec<ItemKey> = shipped
            .iter()
            .map(|li| li.item.key.clone())
            .filter(|k| !receipted.contains(k))
            .collect();
        not_receipted.sort();
        let differences = last_check
            .and_then(|s| Record::from_json(s.json.as_bytes()).ok())
            .and_then(|r| r.body.differences);
        Ok(wire::ReconcileView {
            partner: partner.into(),
            agreement: agreement.into(),
            role: role.into(),
            shipped: shipped.len() as u64,
            receipted: receipted.len() as u64,
            not_receipted,
            last_check: last_check.map(|s| s.id.clone()),
            differences,
        })
    }
}

fn view(li: &LedgerItem, marking: String) -> wire::ItemView {
    let i = &li.item;
    wire::ItemView {
        nomenclature: i.key.nomenclature.clone(),
        serial: i.key.serial.clone(),
        class: i.class.as_str().into(),
        case: i.case.clone(),
        title_holder: i.title_holder.clone(),
        provider: i.provider.clone(),
        agreement: i.agreement.clone(),
        account: i.account.clone(),
        holder: i.holder.clone(),
        condition: i.condition.as_str().into(),
        status: i.status.as_str().into(),
        transferred_to: li.transferred_to.clone(),
        marking,
    }
}
