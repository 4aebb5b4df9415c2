//! Cross-border rewrap: originator control for objects sealed with `--require`.
//!
//! An object sealed with `--require PAK,USA` splits its key into one share per party,
//! each wrapped only to that party's KAS: no single party can open it. When a US
//! officer opens it, the USA node releases the USA share, and asks the PAK node's KAS
//! over node-to-node mutual TLS (pins from the agreement) for the PAK share on the
//! officer's behalf. The PAK KAS decides under the same agreement, for that person as
//! the USA node vouches for them (a node vouches only for its own people: the person's
//! party must be the calling node's party), logs its decision in the PAK audit log, and
//! wraps the share to the ephemeral key the USA node passes on for the officer.
//!
//! The PAK KAS cannot check that key or that person beyond what the USA node says: the
//! USA node runs its people's directory. An honest USA node never holds both shares; a
//! dishonest one could, and PAK's log records the release against it (docs/node.md,
//! "What originator control guarantees").

use crate::audit::EntryKind;
use crate::caller::{Caller, Peer};
use crate::kas::Requester;
use crate::node::Node;
use crate::partners;
use crate::refusal::Refusal;
use crate::store::PersonRecord;
use accord_keys::KasPublicKey;
use accord_node_api::wire::{self, PartnerRewrapRequest, Reason, VouchedPerson};
use accord_node_api::Kind;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The object's key access objects that belong to another party's KAS, by party.
fn partner_objects(
    node: &Node,
    held: &[crate::agreements::Held],
    objects: &[serde_json::Value],
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut by_party: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for m in objects {
        let Ok(bytes) = serde_json::to_vec(m) else {
            continue;
        };
        let Ok(manifest) = accord_tdf::Manifest::parse(&bytes) else {
            continue;
        };
        let Ok(policy) = manifest.policy_object() else {
            continue;
        };
        let Some(agreement) = accord_tdf::agreement_of(&policy) else {
            continue;
        };
        let Some(h) = held.iter().find(|h| h.agreement.body.id == agreement) else {
            continue;
        };
        let checked = h.checked();
        for p in &h.agreement.body.parties {
            if p.code == node.party() || p.node.is_none() {
                continue;
            }
            // Any KAS key the partner has had: what was sealed before a rotation is
            // still its KAS's to open.
            let kids = checked.key_ids(&p.code, accord_agreement::amendment::KeyKind::Kas);
            let theirs = manifest
                .encryption_information
                .key_access
                .iter()
                .any(|k| kids.contains(&k.kid));
            if theirs {
                by_party.entry(p.code.clone()).or_default().push(m.clone());
            }
        }
    }
    by_party
}

impl Node {
    /// `POST /v1/kas/rewrap/partners`: a person's signed rewrap request (as for
    /// `/v1/kas/rewrap`) for the shares other parties' KASes hold; the node forwards
    /// it to each partner and returns their answers, each wrapped to the person's key.
    pub async fn rewrap_partners(
        self: &Arc<Self>,
        peer: &Peer,
        body: &[u8],
    ) -> Result<Vec<wire::RewrapResponse>, Refusal> {
        let caller: Caller = self.authenticate(peer).await?;
        let r = self.rewrap_partners_as(&caller, body).await;
        self.answered(EntryKind::Rewrap, &caller, r).await
    }

    async fn rewrap_partners_as(
        self: &Arc<Self>,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Vec<wire::RewrapResponse>, Refusal> {
        let (req, _) = self.checked_rewrap_request(caller, body).await?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let by_party = partner_objects(self, &held, &req.objects);
        let in_force = partners::in_force(&held, self.party(), at);
        let r = &caller.record;
        let person = VouchedPerson {
            id: r.id.clone(),
            name: r.name.clone(),
            party: r.party.clone(),
            nationality: r.nationality.clone(),
            clearance: r.clearance.clone(),
            scopes: r.scopes.clone(),
            status: r.status.clone(),
        };
        let mut answers = Vec::new();
        for (party, objects) in by_party {
            let Some(partner) = in_force.iter().find(|p| p.code == party) else {
                return Err(Refusal::new(
                    Kind::Denied,
                    accord_agreement::Rule::AgreementInForce,
                    format!("no agreement in force with {party}: its KAS cannot be asked"),
                ));
            };
            let client = self
                .partner_clients
                .get(&self.home, partner)
                .map_err(Refusal::internal)?;
            let url = format!("{}/v1/fed/kas/rewrap", partner.url);
            let fwd = PartnerRewrapRequest {
                person: person.clone(),
                nonce: req.nonce.clone(),
                issued_at: req.issued_at,
                client_public_key: req.client_public_key.clone(),
                objects,
            };
            let bytes = serde_json::to_vec(&fwd).map_err(Refusal::internal)?;
            let resp = client
                .post(&url)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .map_err(|e| {
                    Refusal::new(
                        Kind::PartnerFailed,
                        accord_node_api::wire::Rule::KeyAccess,
                        format!(
                            "{party}'s KAS cannot be reached: {}",
                            accord_node_api::tls::describe(&e)
                        ),
                    )
                })?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(Refusal::internal)?;
            if !status.is_success() {
                let p: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
                return Err(Refusal {
                    kind: match accord_node_api::http::kind(status.as_u16()) {
                        Kind::Denied => Kind::Denied,
                        _ => Kind::PartnerFailed,
                    },
                    error: format!(
                        "{party}'s KAS refused ({status}): {}",
                        p.as_ref().map(|p| p.error.as_str()).unwrap_or("")
                    ),
                    reasons: p.map(|p| p.reasons).unwrap_or_default(),
                    logged: false,
                });
            }
            let answer: wire::RewrapResponse = serde_json::from_slice(&bytes).map_err(|e| {
                Refusal::new(
                    Kind::PartnerFailed,
                    accord_node_api::wire::Rule::KeyAccess,
                    format!("{party}'s KAS answered: {e}"),
                )
            })?;
            answers.push(answer);
        }
        Ok(answers)
    }

    /// `POST /v1/fed/kas/rewrap`: a partner node asks this KAS on behalf of one of its
    /// people; decided under the agreement, logged, released to the person's key.
    pub async fn partner_rewrap(
        self: &Arc<Self>,
        peer: &Peer,
        body: &[u8],
    ) -> Result<wire::RewrapResponse, Refusal> {
        let partner = self.partner_of(peer).await?;
        // Every refusal of a known partner is logged, as a person's are.
        match self.partner_rewrap_from(&partner, body).await {
            Err(mut r) if !r.logged && !r.kind.is_failure() => {
                self.log_partner_refusal(&partner.code, None, None, &r)
                    .await;
                r.logged = true;
                Err(r)
            }
            answer => answer,
        }
    }

    async fn partner_rewrap_from(
        self: &Arc<Self>,
        partner: &partners::Partner,
        body: &[u8],
    ) -> Result<wire::RewrapResponse, Refusal> {
        let req: PartnerRewrapRequest = serde_json::from_slice(body).map_err(|e| {
            Refusal::new(
                Kind::BadRequest,
                accord_node_api::wire::Rule::Request,
                format!("partner rewrap body: {e}"),
            )
        })?;
        // The same checks of the request's shape as on the person's route: one checker.
        let PartnerRewrapRequest {
            person,
            nonce,
            issued_at,
            client_public_key,
            objects,
        } = req;
        let checked = wire::check_rewrap_request(wire::RewrapRequest {
            nonce,
            issued_at,
            client_public_key,
            objects,
        })
        .map_err(Refusal::from)?;
        let req = PartnerRewrapRequest {
            person,
            nonce: checked.nonce,
            issued_at: checked.issued_at,
            client_public_key: checked.client_public_key,
            objects: checked.objects,
        };
        if let Some(r) = crate::kas::stale(req.issued_at) {
            self.log_partner_refusal(&partner.code, Some(&req.person.id), Some(&req.nonce), &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        // A share that protects classified data is wrapped to a hybrid key only, as on
        // the person route (the same check).
        let client_key: KasPublicKey =
            wire::client_key(&req.client_public_key).map_err(Refusal::from)?;
        let p = req.person;
        let person = if p.party != partner.code {
            Err(Reason::new(
                accord_agreement::Rule::PersonParty,
                format!(
                    "the {} node vouched for {} of {}: a node vouches only for its own people",
                    partner.code, p.id, p.party
                ),
            ))
        } else {
            Ok(PersonRecord {
                id: p.id,
                name: p.name,
                party: p.party,
                nationality: p.nationality,
                clearance: p.clearance,
                scopes: p.scopes,
                status: p.status,
                // A partner's person acts at their own node; here they only read.
                role: accord_agreement::Role::Member.as_str().into(),
            })
        };
        let fresh = self
            .store
            .use_nonce(
                &req.nonce,
                &format!(
                    "{}:{}",
                    partner.code,
                    person.as_ref().map(|r| r.id.as_str()).unwrap_or("?")
                ),
                crate::store::unix_now(),
            )
            .await
            .map_err(Refusal::internal)?;
        if !fresh {
            let r = crate::kas::replayed(&req.nonce);
            let id = person.as_ref().map(|r| r.id.as_str()).unwrap_or("?");
            self.log_partner_refusal(&partner.code, Some(id), Some(&req.nonce), &r)
                .await;
            return Err(Refusal { logged: true, ..r });
        }
        let who = Requester {
            person,
            party: partner.code.clone(),
            credential: None,
            partner: Some(partner.code.clone()),
        };
        self.release(who, req.objects, &client_key, &req.nonce)
            .await
    }
}

impl Node {
    /// Log a refusal of a partner's rewrap request made before any object is decided
    /// (a stale or replayed request): `partner` names the asking node, `person` whom it
    /// asked for (as it said), `nonce` the request.
    async fn log_partner_refusal(
        &self,
        partner: &str,
        person: Option<&str>,
        nonce: Option<&str>,
        r: &Refusal,
    ) {
        let person: Option<String> = person.map(|p| p.chars().take(128).collect());
        let entry = crate::audit::AuditEntry {
            person: person.as_deref(),
            request: nonce,
            partner: Some(partner),
            ..self.entry(EntryKind::Rewrap, false, &r.reasons)
        };
        if let Err(e) = self.log_entries(vec![entry.bytes()]).await {
            tracing::error!(error = %e.error, "could not log a refusal");
        }
    }
}
