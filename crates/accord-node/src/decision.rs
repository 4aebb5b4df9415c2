//! The node's bridge to the one decision of `accord-agreement`: which agreement an
//! object is decided under (or none), which label signers are trusted, and the marking
//! of a verified label. No rule is written here.

use crate::agreements::Held;
use crate::caller::Peer;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_agreement::amendment::KeyKind;
use accord_agreement::{Person, Time, Wrapping};
use accord_keys::VerifyingKey;
use accord_node_api::wire;
use accord_node_api::wire::Reason;
use accord_spif::Label;

/// When each object was first recorded here (the `sealed` rows), by manifest digest:
/// what a revoked key's objects are judged by. Only the objects that need it are read.
pub(crate) type Evidence = std::collections::HashMap<String, (Time, String)>;

pub(crate) fn convert(reasons: Vec<accord_agreement::Reason>) -> Vec<Reason> {
    reasons
        .into_iter()
        .map(|r| Reason::new(r.rule, r.text))
        .collect()
}

impl Node {
    /// Label signers the node trusts: its own keys (the current one and those it had
    /// before a rotation) and the ES384 keys every party of every agreement it holds
    /// has had (whether the agreement is in force is a rule of the decision, which
    /// then says so).
    pub(crate) fn trusted_signers(&self, held: &[Held]) -> Vec<(String, VerifyingKey)> {
        let own = self.own();
        let mut v: Vec<(String, VerifyingKey)> = own
            .signing_ever()
            .iter()
            .map(|k| (self.party().to_string(), k.clone()))
            .collect();
        for h in held {
            let checked = h.checked();
            for p in &h.agreement.body.parties {
                for keys in checked.signing_keys_of(&p.code) {
                    if let Ok(k) = VerifyingKey::from_spki_der(&keys.ecdsa_p384) {
                        if !v.iter().any(|(_, x)| x.kid() == k.kid()) {
                            v.push((p.code.clone(), k));
                        }
                    }
                }
            }
        }
        v
    }

    /// Why the key that signed `verified`'s label may not vouch for it, if it may not.
    /// This node's own key vouches for any label it signed. A partner's key (trusted
    /// because an agreement held lists it) vouches only for an object that names an
    /// agreement listing that key: a partner does not label objects outside its
    /// agreements with this party, nor under agreements it is not party to.
    pub(crate) fn signer_out_of_place(
        &self,
        verified: &accord_tdf::VerifiedLabel,
        held: &[Held],
    ) -> Option<String> {
        let kid = verified.signer.kid.as_str();
        if self.signer_party(kid, verified, held).is_some() {
            return None;
        }
        match verified.agreement.as_deref() {
            Some(id) => Some(format!(
                "the label is signed by key {}…, which agreement {id} does not list: a partner's key vouches only for objects under its own agreements",
                kid.get(..16).unwrap_or(kid)
            )),
            None => Some(format!(
                "the label is signed by key {}…, not by the {} node's, and the object names no agreement: a partner's key vouches only for objects under an agreement",
                kid.get(..16).unwrap_or(kid),
                self.party()
            )),
        }
    }

    /// Since when `party`'s key `kid` of `kind` is held compromised, whose it is and
    /// why: from this node's own key history for its own keys (a running node reads a
    /// revocation within 200 ms), or from a `revoke` record by that party in any
    /// agreement held (a revocation in one agreement holds in all). Only the party
    /// itself revokes its keys: another party declaring the same key its own and
    /// revoking it changes nothing for it. `None` as the party (reading evidence ahead,
    /// before the signer is known) takes any party's. The one lookup for the evidence
    /// read ahead, the decision, equipment records and seal plans.
    pub(crate) fn key_revocation(
        &self,
        kind: KeyKind,
        kid: &str,
        party: Option<&str>,
        held: &[Held],
    ) -> Option<(String, Time, String)> {
        let own = self.party();
        if party.is_none_or(|p| p == own) {
            if let Some((t, why)) = self.own().revocation(kind, kid) {
                return Some((own.to_string(), t, why.to_string()));
            }
        }
        held.iter().find_map(|h| {
            let checked = h.checked();
            h.agreement
                .body
                .parties
                .iter()
                .filter(|p| party.is_none_or(|want| p.code == want))
                .find_map(|p| {
                    checked
                        .revocation(&p.code, kind, kid)
                        .map(|r| (p.code.clone(), r.compromised, r.reason))
                })
        })
    }

    /// The party whose signing key `kid` signed `verified`'s label: this node's, or the
    /// party the agreement it names lists the key for; none when neither (a key that
    /// is then out of place, [`Node::signer_out_of_place`]).
    fn signer_party(
        &self,
        kid: &str,
        verified: &accord_tdf::VerifiedLabel,
        held: &[Held],
    ) -> Option<String> {
        if self.own().signing_ever().iter().any(|k| k.kid() == kid) {
            return Some(self.party().to_string());
        }
        let id = verified.agreement.as_deref()?;
        held.iter()
            .filter(|h| h.agreement.body.id == id)
            .find_map(|h| {
                let checked = h.checked();
                h.agreement.body.parties.iter().find_map(|p| {
                    checked
                        .signing_keys_of(&p.code)
                        .iter()
                        .any(|k| accord_keys::spki_kid(&k.ecdsa_p384) == kid)
                        .then(|| p.code.clone())
                })
            })
    }

    /// Refused when one of the node's current keys of `kinds` (KAS, signing) is revoked
    /// and not yet replaced (a revocation whose replacement failed leaves it so):
    /// whatever it sealed to the one, or signed with the other, now could never be
    /// shown to predate the compromise. Labels, equipment attestations and receipts ask.
    pub(crate) fn own_keys_in_force(
        &self,
        keys: &crate::own_keys::OwnKeys,
        kinds: &[KeyKind],
    ) -> Result<(), Refusal> {
        for kind in kinds {
            let kid = match kind {
                KeyKind::Kas => keys.current_kas().public_key().kid(),
                _ => keys.signing().public_keys().classical.kid(),
            };
            if keys.revocation(*kind, &kid).is_some() {
                return Err(Refusal::new(
                    accord_node_api::Kind::Unavailable,
                    accord_agreement::Rule::KeyRevoked,
                    format!(
                        "the {} node's {kind} key is revoked and not yet replaced: its officer runs `accord key rotate {kind}`",
                        self.party()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Why `verified`'s label may not vouch for its object because the key that signed
    /// it was revoked as compromised and nothing here shows the object existed before
    /// then (`sealed`: the evidence by manifest digest, the node's `sealed` rows). The
    /// rule is [`accord_agreement::revoked_key`], the KAS key's rule.
    pub(crate) fn revoked_signer(
        &self,
        verified: &accord_tdf::VerifiedLabel,
        held: &[Held],
        sealed: &Evidence,
    ) -> Option<Reason> {
        let kid = verified.signer.kid.as_str();
        // Most labels' signers were never revoked: asked first, without finding whose
        // the key is (the rewrap path asks for every object).
        self.key_revocation(KeyKind::Signing, kid, None, held)?;
        // A signer no party can be found for is judged by any party's revocation.
        let signer = self.signer_party(kid, verified, held);
        let (party, compromised, why) =
            self.key_revocation(KeyKind::Signing, kid, signer.as_deref(), held)?;
        let evidence = sealed
            .get(&verified.manifest_digest)
            .map(|(t, e)| (*t, e.as_str()));
        let key = format!(
            "the label's signer, {party}'s signing key {}…,",
            kid.get(..16).unwrap_or(kid)
        );
        accord_agreement::revoked_key(&key, compromised, &why, evidence)
            .map(|r| convert(vec![r]).remove(0))
    }

    /// The marking of a verified `label` as this node's policies render it: what the
    /// inbox, the audit log and the rewrap answer show, so that it always says what the
    /// label says. `signed` (the labeller's marking assertion) stands in only for a
    /// label that cannot be rendered here.
    pub(crate) fn marking_of(&self, label: &Label, signed: &str) -> String {
        self.policies()
            .get(&label.policy.id)
            .and_then(|p| p.render(label, "").ok())
            .map(|m| m.text)
            .unwrap_or_else(|| signed.to_string())
    }

    /// The classical wrapping under this node's ceiling: `[opentdf] classical_ceiling`,
    /// CONFIDENTIAL when the node does not serve OpenTDF clients.
    pub(crate) fn classical(&self) -> Wrapping<'_> {
        Wrapping::Classical {
            ceiling: self.home.config.classical_ceiling(),
            policy: &self.home.config.national_policy,
        }
    }

    /// Decide whether `person` may read `label` (under `agreement`, or nationally).
    pub(crate) fn decide(
        &self,
        person: &Person,
        label: &Label,
        agreement: Option<&str>,
        held: &[Held],
        at: Time,
    ) -> (bool, Vec<Reason>) {
        self.decide_for(
            person,
            label,
            agreement,
            self.party(),
            &[],
            held,
            at,
            Wrapping::PostQuantum,
        )
    }

    /// The one decision ([`accord_agreement::decide`] and its national and not-held
    /// forms) for a person asking through `requesting` (this party, or a partner whose
    /// node forwarded the request), about an object with dissemination list `dissem`.
    /// Every route that releases a share or accepts an object comes here; no rule is
    /// written in the node. `wrapping` says how the released key travels back: a
    /// classical wrapping is bounded by the node's ceiling for it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide_for(
        &self,
        person: &Person,
        label: &Label,
        agreement: Option<&str>,
        requesting: &str,
        dissem: &[String],
        held: &[Held],
        at: Time,
        wrapping: Wrapping<'_>,
    ) -> (bool, Vec<Reason>) {
        let d = match agreement {
            Some(id) => match held.iter().find(|h| h.agreement.body.id == id) {
                None => accord_agreement::not_held(id, self.party()),
                Some(h) => accord_agreement::decide(
                    self.policies(),
                    &accord_agreement::Request {
                        person,
                        label,
                        agreement: &h.checked(),
                        requesting_party: requesting,
                        dissem,
                        at,
                        wrapping,
                    },
                ),
            },
            None => accord_agreement::decide_national(
                self.policies(),
                &accord_agreement::NationalRequest {
                    person,
                    label,
                    party: self.party(),
                    national_policy: &self.home.config.national_policy,
                    requesting_party: requesting,
                    dissem,
                    wrapping,
                },
            ),
        };
        (d.permit, convert(d.reasons))
    }

    /// `GET /v1/trust`.
    pub async fn trust(&self, peer: &Peer) -> Result<wire::TrustInfo, Refusal> {
        self.authenticate(peer).await?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        Ok(wire::TrustInfo {
            party: self.party().to_string(),
            signers: self
                .trusted_signers(&held)
                .into_iter()
                .map(|(party, k)| wire::TrustedSigner {
                    party,
                    key: k.to_pem(),
                })
                .collect(),
        })
    }
}
