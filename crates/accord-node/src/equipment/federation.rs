//! Records crossing between parties' nodes: delivered by the node that made them
//! (`PUT /v1/fed/equipment/records/{id}` over the agreement's pinned mutual TLS, retried
//! until the partner answers, across restarts), and taken by the partner's node only
//! when attested by the party key the agreement pins, about this party, admitted by the
//! agreement (in force now, covering EQUIPMENT, the label releasable here), and, for an
//! answer, answering a record this node sent, digest for digest.

use super::store;
use super::submit::summary;
use crate::audit::{AuditEntry, EntryKind};
use crate::caller::Peer;
use crate::node::Node;
use crate::partners::Partner;
use crate::refusal::Refusal;
use accord_equipment::record::{Kind, Record};
use accord_node_api::wire::{self, Reason, Rule};
use accord_node_api::Kind as RefusalKind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Node {
    /// `PUT /v1/fed/equipment/records/{id}`: a partner node delivers a record.
    pub async fn equipment_receive(
        &self,
        peer: &Peer,
        id: &str,
        bytes: &[u8],
    ) -> Result<wire::Submitted, Refusal> {
        let partner = self.partner_of(peer).await?;
        let _one = self.equipment_lock.lock().await;
        let record = match Record::from_json(bytes) {
            Ok(r) => r,
            Err(e) => {
                let r = super::malformed(e);
                self.log_received(&partner, id, None, false, &r.reasons)
                    .await?;
                return Err(Refusal { logged: true, ..r });
            }
        };
        let digest = record.body.digest().map_err(Refusal::internal)?;
        match self.take(&partner, id, &record).await {
            // Held already, the same: delivered again after a restart.
            Ok(None) => Ok(received(&record, digest, "unchanged")),
            Ok(Some(reasons)) => {
                self.log_received(&partner, id, Some(&record), true, &reasons)
                    .await?;
                let stmts = self.take_statements(&record)?;
                self.store.commit(stmts).await.map_err(Refusal::internal)?;
                Ok(received(&record, digest, "received"))
            }
            Err(r) => {
                self.log_received(&partner, id, Some(&record), false, &r.reasons)
                    .await?;
                Err(Refusal { logged: true, ..r })
            }
        }
    }

    async fn log_received(
        &self,
        partner: &Partner,
        id: &str,
        record: Option<&Record>,
        permit: bool,
        reasons: &[Reason],
    ) -> Result<(), Refusal> {
        let body = record.map(|r| &r.body);
        let marking = body.map(|b| self.equipment_marking(&b.label));
        let detail = body.map(summary);
        let digest = body.and_then(|b| b.digest().ok());
        let entry = AuditEntry {
            object: Some(id),
            marking: marking.as_deref(),
            agreement: body.and_then(|b| b.agreement.as_deref()),
            request: digest.as_deref(),
            partner: Some(&partner.code),
            change: body.map(|b| b.kind.as_str()),
            detail: detail.as_deref(),
            ..self.entry(EntryKind::Equipment, permit, reasons)
        };
        self.log_entries(vec![entry.bytes()]).await.map(|_| ())
    }

    /// Check a delivered record: `None` when held already (the same), else the reasons
    /// it is taken.
    async fn take(
        &self,
        partner: &Partner,
        id: &str,
        r: &Record,
    ) -> Result<Option<Vec<Reason>>, Refusal> {
        let b = &r.body;
        let refuse = |text: String| Refusal::new(RefusalKind::Unacceptable, Rule::Custody, text);
        if b.id != id {
            return Err(Refusal::new(
                RefusalKind::BadRequest,
                Rule::Request,
                format!("delivered as {id}, but the record's id is {}", b.id),
            ));
        }
        if b.party != partner.code {
            return Err(refuse(format!(
                "the {} node delivered a record of {}: a node delivers its own party's records",
                partner.code, b.party
            )));
        }
        if b.partner.as_deref() != Some(self.party()) || !b.kind.crosses() {
            return Err(refuse(format!(
                "{} {} is not addressed to {}",
                b.kind,
                b.id,
                self.party()
            )));
        }
        accord_equipment::rules::check(b).map_err(super::malformed)?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let agreement = b.agreement.as_deref().unwrap_or_default();
        let Some(h) = held.iter().find(|h| h.agreement.body.id == agreement) else {
            return Err(Refusal::new(
                RefusalKind::Unacceptable,
                accord_agreement::Rule::AgreementInForce,
                format!("the {} node holds no agreement {agreement}", self.party()),
            ));
        };
        let Some(party) = h.agreement.body.party(&partner.code) else {
            return Err(refuse(format!(
                "{} is not a party to {agreement}",
                partner.code
            )));
        };
        // Attested by any signing key the party has had under the agreement (records
        // made before its key was rotated stay attested).
        let ever = h.checked().signing_keys_of(&party.code);
        let attested_by = match ever.iter().find(|k| r.verify_attested(k).is_ok()) {
            Some(k) => k.kids().0,
            None => {
                let current = ever.last().unwrap_or(&party.signing_keys);
                return Err(super::malformed(
                    r.verify_attested(current).err().unwrap_or_else(|| {
                        accord_equipment::Error::Signature("the attestation does not verify".into())
                    }),
                ));
            }
        };
        if let Some(s) = self
            .store
            .equipment_record(&b.id)
            .await
            .map_err(Refusal::internal)?
        {
            let digest = b.digest().map_err(Refusal::internal)?;
            if s.digest == digest && s.origin == b.party {
                return Ok(None);
            }
            return Err(Refusal::new(
                RefusalKind::Conflict,
                Rule::Signature,
                format!(
                    "record {} is held with another digest ({}…): a record is never rewritten",
                    b.id,
                    &s.digest[..16]
                ),
            ));
        }
        // A key revoked as compromised attests nothing that arrives after: a record
        // held before the revocation was answered above.
        if let Some((whose, compromised, why)) = self.key_revocation(
            accord_agreement::amendment::KeyKind::Signing,
            &attested_by,
            Some(&party.code),
            &held,
        ) {
            let key = format!(
                "{whose}'s signing key {}…, which attests {} {},",
                attested_by.get(..16).unwrap_or(&attested_by),
                b.kind,
                b.id
            );
            let now = (self.clock)();
            if let Some(r) = accord_agreement::revoked_key(
                &key,
                compromised,
                &why,
                Some((now, "the record arrives now")),
            ) {
                return Err(Refusal {
                    kind: RefusalKind::Unacceptable,
                    error: r.text.clone(),
                    reasons: crate::decision::convert(vec![r]),
                    logged: false,
                });
            }
        }
        let label = self.equipment_label(&b.label)?;
        let (ok, mut reasons) = self.admit_equipment(
            &label,
            Some(agreement),
            &partner.code,
            self.party(),
            &held,
            (self.clock)(),
        );
        if !ok {
            return Err(Refusal {
                kind: RefusalKind::Unacceptable,
                error: format!(
                    "{} {}: {}",
                    b.kind,
                    b.id,
                    reasons
                        .first()
                        .map(|r| r.text.as_str())
                        .unwrap_or("refused")
                ),
                reasons,
                logged: false,
            });
        }
        if let (Some(want), Some(refs)) = (b.kind.answers(), &b.refers) {
            let mine = self
                .store
                .equipment_record(&refs.id)
                .await
                .map_err(Refusal::internal)?
                .filter(|s| s.origin == self.party() && s.kind == want.as_str())
                .ok_or_else(|| {
                    refuse(format!(
                        "{} {} answers {want} {}, which {} never sent",
                        b.kind,
                        b.id,
                        refs.id,
                        self.party()
                    ))
                })?;
            if mine.digest != refs.digest {
                return Err(refuse(format!(
                    "{} {} answers {want} {} with another digest than the one {} signed",
                    b.kind,
                    b.id,
                    refs.id,
                    self.party()
                )));
            }
            if mine.partner.as_deref() != Some(partner.code.as_str()) {
                return Err(refuse(format!(
                    "{want} {} was not sent to {}",
                    refs.id, partner.code
                )));
            }
        }
        reasons.push(Reason::new(
            Rule::Signature,
            format!(
                "signed by {} and attested by {}'s key in agreement {agreement}",
                b.signers.join(", "),
                partner.code
            ),
        ));
        Ok(Some(reasons))
    }

    fn take_statements(&self, r: &Record) -> Result<Vec<crate::store::Stmt>, Refusal> {
        let b = &r.body;
        let now = crate::store::unix_now();
        // What this party must still answer stays open; an answer closes what it answers.
        let state = match b.kind {
            Kind::Transfer
            | Kind::Incident
            | Kind::CheckRequest
            | Kind::CheckAnswer
            | Kind::Return => "open",
            _ => "done",
        };
        let row = super::StoredRecord::of(
            r,
            Some(b.party.clone()),
            state,
            b.digest().map_err(Refusal::internal)?,
            summary(b),
        );
        let mut stmts = vec![store::insert_record(&row, false)];
        if let Some(refs) = &b.refers {
            stmts.push(store::answered(&refs.id, now));
        }
        stmts.extend(store::history(
            b.items.iter().map(|l| &l.key),
            store::history_seq(),
            &b.id,
        ));
        Ok(stmts)
    }
}

fn received(r: &Record, digest: String, state: &str) -> wire::Submitted {
    wire::Submitted {
        id: r.body.id.clone(),
        state: state.into(),
        digest,
        next_signer: None,
        summary: summary(&r.body),
        differences: r.body.differences.clone(),
    }
}

/// How often undelivered records are looked for when nothing wakes the loop.
const ROUND: Duration = Duration::from_secs(2);

/// Deliver every complete record that crosses until its partner takes it (see the
/// module documentation); runs until `stop`.
pub async fn deliver_loop(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut retry: HashMap<String, (u32, Instant)> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        deliver_round(&node, &mut retry).await;
        tokio::select! {
            _ = stop.changed() => return,
            _ = node.equipment_ready.notified() => {}
            _ = tokio::time::sleep(ROUND) => {}
        }
    }
}

async fn deliver_round(node: &Arc<Node>, retry: &mut HashMap<String, (u32, Instant)>) {
    let Ok(pending) = node.store.equipment_undelivered(256).await else {
        return;
    };
    let now = Instant::now();
    for s in pending {
        if retry.get(&s.id).is_some_and(|(_, at)| now < *at) {
            continue;
        }
        match deliver(node, &s).await {
            Ok(()) => {
                retry.remove(&s.id);
                let _ = node
                    .store
                    .commit(vec![store::delivered(&s.id, crate::store::unix_now())])
                    .await;
            }
            Err(why) => {
                let failures = retry.get(&s.id).map_or(0, |(n, _)| *n) + 1;
                let wait = Duration::from_secs(2u64.saturating_pow(failures.min(9)).min(600));
                if failures == 1 {
                    tracing::warn!(record = %s.id, partner = ?s.partner, %why, retry_in = ?wait, "an equipment record could not be delivered; retrying");
                }
                retry.insert(s.id.clone(), (failures, now + wait));
            }
        }
    }
}

async fn deliver(node: &Node, s: &super::StoredRecord) -> Result<(), String> {
    let (Some(code), Some(agreement)) = (&s.partner, &s.agreement) else {
        return Err("the record names no partner or agreement".into());
    };
    let held = node.agreements().await.map_err(|e| e.to_string())?;
    let h = held
        .iter()
        .find(|h| h.agreement.body.id == *agreement)
        .ok_or_else(|| format!("agreement {agreement} is not held"))?;
    if h.agreement.body.party(code).is_none() {
        return Err(format!("{code} is not a party to {agreement}"));
    }
    let partner = Partner::at(&h.checked(), code, (node.clock)())
        .ok_or_else(|| format!("agreement {agreement} names no node for {code}"))?;
    let client = node
        .partner_clients
        .get(&node.home, &partner)
        .map_err(|e| e.to_string())?;
    let resp = client
        .put(format!("{}/v1/fed/equipment/records/{}", partner.url, s.id))
        .header("content-type", "application/json")
        .body(s.json.clone())
        .send()
        .await
        .map_err(|e| accord_node_api::tls::describe(&e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    let why = serde_json::from_slice::<wire::Problem>(&bytes)
        .map(|p| p.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(300).collect());
    Err(format!("HTTP {status}: {why}"))
}
