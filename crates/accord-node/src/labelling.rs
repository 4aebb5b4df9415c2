//! Labelling through the node: the seal plan (may this person apply this label, and
//! which KASes get a share) and the signing of the label and marking assertions for the
//! exact manifest the node is sent.

use crate::agreements::Held;
use crate::audit::{AuditEntry, EntryKind};
use crate::caller::{Caller, Peer};
use crate::decision::convert;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::amendment::KeyKind;
use accord_agreement::Time;
use accord_node_api::wire::{self, Reason};
use accord_node_api::Kind;
use accord_spif::Label;

/// What a `label` audit entry records of a labelling decision.
pub(crate) struct Labelling<'a> {
    pub(crate) caller: &'a Caller,
    pub(crate) at: Time,
    pub(crate) permit: bool,
    /// The object's id (its policy uuid), once there is an object: at signing.
    pub(crate) object: Option<&'a str>,
    pub(crate) marking: Option<&'a str>,
    pub(crate) agreement: Option<&'a str>,
    pub(crate) request: Option<&'a str>,
}

/// How long a seal plan holds after a KAS key it names was rotated.
pub(crate) const PLAN_LIFE_SECS: i64 = 300;

impl Node {
    pub(crate) fn national_label(
        &self,
        label_text: Option<&str>,
        marking: Option<&str>,
    ) -> Result<Label, Refusal> {
        let national = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("national policy missing"))?;
        let label = match (label_text, marking) {
            (Some(t), None) => {
                Label::read(self.policies(), "label", t.as_bytes()).map_err(|e| {
                    Refusal::new(
                        Kind::Unacceptable,
                        accord_node_api::wire::Rule::Label,
                        e.to_string(),
                    )
                })?
            }
            (None, Some(m)) => national.parse_marking(m, "").map_err(|e| {
                Refusal::new(
                    Kind::Unacceptable,
                    accord_node_api::wire::Rule::Label,
                    e.to_string(),
                )
            })?,
            _ => {
                return Err(Refusal::new(
                    Kind::BadRequest,
                    accord_node_api::wire::Rule::Request,
                    "give exactly one of `marking` and `label`",
                ))
            }
        };
        if label.policy.id != national.id {
            return Err(Refusal::new(
                Kind::Unacceptable,
                accord_node_api::wire::Rule::Label,
                format!(
                    "people of {} apply labels under the national policy {}, not {}",
                    self.party(),
                    national.name,
                    label.policy.name
                ),
            ));
        }
        let v = national.validate(&label).map_err(|e| {
            Refusal::new(
                Kind::Unacceptable,
                accord_node_api::wire::Rule::Label,
                e.to_string(),
            )
        })?;
        if !v.valid {
            return Err(Refusal {
                kind: Kind::Unacceptable,
                error: "the label is not valid under its policy".into(),
                reasons: v
                    .reasons
                    .into_iter()
                    .map(|r| Reason::new(accord_node_api::wire::Rule::Label, r.to_string()))
                    .collect(),
                logged: false,
            });
        }
        Ok(label)
    }

    /// The audit entry of a labelling decision (a seal plan refused, or the decision
    /// before the node signs).
    pub(crate) fn label_entry(&self, l: Labelling<'_>, reasons: &[Reason]) -> Vec<u8> {
        AuditEntry {
            person: Some(&l.caller.record.id),
            credential: Some(&l.caller.fingerprint),
            object: l.object,
            marking: l.marking,
            agreement: l.agreement,
            request: l.request,
            ..self.entry_at(EntryKind::Label, l.at.to_string(), l.permit, reasons)
        }
        .bytes()
    }

    /// `POST /v1/seal/plan`: check the person may apply the label (they must be allowed
    /// to read it themselves) and say which KASes get a share.
    pub async fn seal_plan(&self, peer: &Peer, body: &[u8]) -> Result<wire::SealPlan, Refusal> {
        // Who is asking before anything of the body is parsed.
        let caller = self.authenticate(peer).await?;
        let r = self.seal_plan_for(&caller, body).await;
        self.answered(EntryKind::Label, &caller, r).await
    }

    pub(crate) async fn seal_plan_for(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<wire::SealPlan, Refusal> {
        let req = &wire::parse_seal_plan(body).map_err(Refusal::from)?;
        let label = self.national_label(req.label.as_deref(), req.marking.as_deref())?;
        let person = self.person_of(caller)?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let agreement = match (&req.agreement, req.choose_agreement) {
            (None, true) => self.choose_agreement(&person, &label, &held, at)?,
            (named, _) => named.clone(),
        };
        let (permit, reasons) = self.decide(&person, &label, agreement.as_deref(), &held, at);
        if !permit {
            // A refused labelling is a decision too: logged before the answer.
            let national = self
                .policies()
                .get(&self.home.config.national_policy)
                .ok_or_else(|| Refusal::internal("national policy"))?;
            let marking = national.render(&label, "").map(|m| m.text).ok();
            let entry = Labelling {
                caller,
                at,
                permit: false,
                object: None,
                marking: marking.as_deref(),
                agreement: agreement.as_deref(),
                request: None,
            };
            self.log_entries(vec![self.label_entry(entry, &reasons)])
                .await?;
            return Err(Refusal {
                kind: Kind::Denied,
                error: format!("person {} may not apply this label", person.id),
                reasons,
                logged: true,
            });
        }
        let national = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("national policy"))?;
        let marking = national.render(&label, "").map_err(Refusal::internal)?.text;
        let (recipients, excluded) = self.recipients(&label, agreement.as_deref(), &held, at)?;
        Ok(wire::SealPlan {
            label_xml: label.to_stanag_xml(),
            marking,
            agreement,
            recipients,
            excluded,
        })
    }

    /// The one agreement held under which `person` may apply `label` (the decision
    /// permits) and a partner's KAS would get a share (the plan names one): the
    /// agreement a seal plan that names none is made under when its caller lets the node
    /// choose. None when no agreement covers the label for a partner; a refusal listing
    /// them when more than one does, since choosing among them is the person's call.
    fn choose_agreement(
        &self,
        person: &accord_agreement::Person,
        label: &accord_spif::Label,
        held: &[Held],
        at: Time,
    ) -> Result<Option<String>, Refusal> {
        let mut covering = Vec::new();
        for h in held {
            let id = h.agreement.body.id.as_str();
            if !self.decide(person, label, Some(id), held, at).0 {
                continue;
            }
            let (recipients, _) = self.recipients(label, Some(id), held, at)?;
            if recipients.iter().any(|r| r.party != self.party()) {
                covering.push(id.to_string());
            }
        }
        if covering.len() <= 1 {
            return Ok(covering.pop());
        }
        Err(Refusal {
            kind: Kind::Unacceptable,
            error: format!(
                "more than one agreement in force covers this label ({}): name the one to seal under",
                covering.join(", ")
            ),
            reasons: covering
                .iter()
                .map(|id| {
                    Reason::new(
                        accord_agreement::Rule::AgreementInForce,
                        format!("agreement {id} is in force and covers this label"),
                    )
                })
                .collect(),
            logged: false,
        })
    }

    /// Refused when the node's current KAS or signing key is revoked and not yet
    /// replaced (a revocation whose replacement failed leaves it so): whatever it
    /// sealed to the one, or signed with the other, now could never be shown to
    /// predate the compromise.
    fn own_keys_usable(&self, keys: &crate::own_keys::OwnKeys) -> Result<(), Refusal> {
        self.own_keys_in_force(keys, &[KeyKind::Kas, KeyKind::Signing])
    }

    /// Which KASes get a share of an object labelled `label` under `agreement`: this
    /// party's, and each partner's in the agreement whose people may read the label
    /// (releasable to it, translatable into its policy, a node KAS key); and why the
    /// others do not.
    pub(crate) fn recipients(
        &self,
        label: &accord_spif::Label,
        agreement: Option<&str>,
        held: &[Held],
        at: Time,
    ) -> Result<(Vec<wire::PlanRecipient>, Vec<Reason>), Refusal> {
        let keys = self.own();
        self.own_keys_usable(&keys)?;
        let own = keys.current_kas().public_key();
        let mut recipients = vec![wire::PlanRecipient {
            party: self.party().to_string(),
            url: self.home.config.url.clone(),
            kas_key: own.to_pem(),
        }];
        let mut excluded = Vec::new();
        if let Some(id) = agreement {
            let h = held
                .iter()
                .find(|h| h.agreement.body.id == id)
                .ok_or_else(|| Refusal::internal("agreement vanished"))?;
            let checked = h.checked();
            // Each partner's KAS key as it stands now: a rotated key gets no new shares.
            for p in &checked.parties_at(at) {
                if p.code == self.party() {
                    continue;
                }
                // A partner's KAS gets a share exactly when the object may go to that
                // party: the exchange decision, not a rule of its own here.
                let d = accord_agreement::admit(
                    self.policies(),
                    &accord_agreement::Transfer {
                        label,
                        agreement: &checked,
                        from: self.party(),
                        to: &p.code,
                        at,
                    },
                );
                if !d.permit {
                    excluded.extend(convert(d.reasons));
                    continue;
                }
                // A partner's key its partner revoked gets nothing new: whatever is
                // sealed to it now could never be shown to predate the compromise.
                let revoked =
                    |kid: &str| self.key_revocation(KeyKind::Kas, kid, Some(&p.code), held);
                match &p.node {
                    Some(n) if !n.kas_keys.is_empty() => {
                        let usable: Vec<_> = n
                            .kas_keys
                            .iter()
                            .filter(|k| revoked(&k.kid).is_none())
                            .collect();
                        if usable.is_empty() {
                            excluded.push(Reason::new(
                                accord_agreement::Rule::KeyRevoked,
                                format!(
                                    "{}'s KAS key in agreement {id} is revoked as compromised and not yet replaced",
                                    p.code
                                ),
                            ));
                        }
                        for k in usable {
                            recipients.push(wire::PlanRecipient {
                                party: p.code.clone(),
                                url: n.url.clone(),
                                kas_key: k.key.clone(),
                            });
                        }
                    }
                    _ => excluded.push(Reason::new(
                        accord_node_api::wire::Rule::KeyAccess,
                        format!("{} has no node KAS key in agreement {id}", p.code),
                    )),
                }
            }
        }
        Ok((recipients, excluded))
    }

    /// Shares only for the KASes the plan would name (see [`Node::recipients`]): a
    /// client that skipped the plan gets no signed label for an object wrapped for
    /// anyone else. `agreement` is one the decision found held.
    ///
    /// A plan made shortly before a KAS key was rotated (this node's or a partner's)
    /// still holds for [`PLAN_LIFE_SECS`]: the object in hand when the rotation landed
    /// is signed, not lost; its key access opens, since rotated KAS keys are kept.
    pub(crate) fn check_key_access(
        &self,
        label: &accord_spif::Label,
        agreement: Option<&str>,
        held: &[Held],
        manifest: &accord_tdf::Manifest,
        at: Time,
    ) -> Result<(), Refusal> {
        let before = Time::from_unix(at.unix() - PLAN_LIFE_SECS).unwrap_or(at);
        let (mut recipients, _) = self.recipients(label, agreement, held, at)?;
        // The KAS keys a plan named shortly before, only for the parties that may have
        // a share now: a party whose agreement ended since gets none.
        let earlier: Vec<wire::PlanRecipient> = self
            .recipients(label, agreement, held, before)?
            .0
            .into_iter()
            .filter(|r| {
                recipients
                    .iter()
                    .any(|now| now.party == r.party && now.url == r.url)
            })
            .collect();
        recipients.extend(earlier);
        let mut kids: Vec<(String, String)> = recipients
            .iter()
            .filter_map(|r| {
                let key = accord_keys::KasPublicKey::from_pem(&r.kas_key).ok()?;
                Some((key.kid(), r.url.clone()))
            })
            .collect();
        let own = self.own();
        for k in own
            .history
            .keys
            .iter()
            .filter(|k| k.kind == "kas" && k.compromised.is_none())
        {
            let replaced = k.replaced.as_deref().and_then(|t| Time::parse(t).ok());
            if replaced.is_some_and(|t| t >= before && t <= at) {
                kids.push((k.id.clone(), self.home.config.url.clone()));
            }
        }
        match manifest
            .encryption_information
            .key_access
            .iter()
            .find(|k| !kids.iter().any(|(kid, url)| *kid == k.kid && *url == k.url))
        {
            None => Ok(()),
            Some(k) => Err(Refusal::new(
                Kind::Unacceptable,
                accord_node_api::wire::Rule::KeyAccess,
                format!(
                    "key access for kid {} at {} is not a KAS this label goes to under {}",
                    k.kid.chars().take(16).collect::<String>(),
                    k.url.chars().take(200).collect::<String>(),
                    agreement
                        .map(|a| format!("agreement {a}"))
                        .unwrap_or_else(|| "the national policy".into())
                ),
            )),
        }
    }

    /// `POST /v1/seal/sign`: sign the label and marking assertions with the party's key
    /// after checking the person may apply that label; the labelling is logged first.
    pub async fn seal_sign(
        &self,
        peer: &Peer,
        body: axum::body::Bytes,
    ) -> Result<wire::SignResponse, Refusal> {
        // Who is asking before anything of the body is parsed: it may be 12 MiB.
        let caller = self.authenticate(peer).await?;
        let r = self.seal_sign_for(&caller, body).await;
        self.answered(EntryKind::Label, &caller, r).await
    }

    pub(crate) async fn seal_sign_for(
        &self,
        caller: &Caller,
        body: axum::body::Bytes,
    ) -> Result<wire::SignResponse, Refusal> {
        let wire::CheckedSign {
            mut assertions,
            label: label_index,
            manifest,
        } = wire::parse_sign_request(&body).map_err(Refusal::from)?;
        drop(body);
        // What is signed over, and the agreement decided under, come from the manifest
        // (parsed, hashed and canonicalised off the async workers: up to 10 MB).
        let label_a = assertions[label_index].clone();
        let accord_tdf::UnsignedObject {
            agreement,
            aggregate,
            manifest_digest,
            object_id,
            manifest,
            ..
        } = tokio::task::spawn_blocking(move || accord_tdf::check_unsigned(&manifest, &label_a))
            .await
            .map_err(Refusal::internal)?
            .map_err(|e| {
                Refusal::new(
                    Kind::BadRequest,
                    accord_node_api::wire::Rule::Manifest,
                    format!("manifest: {e}"),
                )
            })?;
        let label_a = &assertions[label_index];
        let label = self.national_label(Some(&label_a.statement.value), None)?;
        let national = self
            .policies()
            .get(&self.home.config.national_policy)
            .ok_or_else(|| Refusal::internal("national policy"))?;
        let marking = national.render(&label, "").map_err(Refusal::internal)?.text;
        if let Some(m) = assertions
            .iter()
            .find(|a| a.id == accord_tdf::assertion::MARKING_ID)
        {
            if m.statement.value != marking {
                return Err(Refusal::new(
                    Kind::Unacceptable,
                    accord_node_api::wire::Rule::Label,
                    format!(
                        "the marking assertion says `{}` but the label's marking is `{marking}`",
                        m.statement.value
                    ),
                ));
            }
        }
        let person = self.person_of(caller)?;
        // One snapshot of the node's keys, checked and then signed with.
        let keys = self.own();
        self.own_keys_usable(&keys)?;
        // The same decision as the plan's: under the agreement named, if any.
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let (permit, reasons) = self.decide(&person, &label, agreement.as_deref(), &held, at);
        if permit {
            self.check_key_access(&label, agreement.as_deref(), &held, &manifest, at)?;
        }
        let entry = Labelling {
            caller,
            at,
            permit,
            object: Some(&object_id),
            marking: Some(&marking),
            agreement: agreement.as_deref(),
            request: Some(&manifest_digest),
        };
        let range = self
            .log_entries(vec![self.label_entry(entry, &reasons)])
            .await?;
        if !permit {
            return Err(Refusal {
                kind: Kind::Denied,
                error: format!("person {} may not apply this label", person.id),
                reasons,
                logged: true,
            });
        }
        // The evidence that this object existed now, kept before its label is signed:
        // what a revocation of a key it uses is judged by.
        self.store
            .record_sealed(&[crate::store::Sealed {
                manifest_digest: manifest_digest.clone(),
                object_id: object_id.clone(),
                evidence: "label".into(),
                at: at.unix(),
            }])
            .await
            .map_err(Refusal::internal)?;
        for a in assertions.iter_mut() {
            accord_tdf::assertion::sign(a, &aggregate, &manifest_digest, keys.signing())
                .map_err(Refusal::internal)?;
        }
        Ok(wire::SignResponse {
            assertions: assertions
                .iter()
                .map(|a| serde_json::to_value(a).unwrap_or_default())
                .collect(),
            log_index: range.start,
        })
    }
}
