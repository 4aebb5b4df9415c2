//! Who is asking: a person recognised by the exact client certificate the node issued
//! them (mutual TLS), and their directory record read as a person the decision knows.

use crate::entry_kind::EntryKind;
use crate::node::Node;
use crate::partners::{recognise, Partner};
use crate::refusal::Refusal;
use crate::store::PersonRecord;
use accord_agreement::{Duty, Person, PersonStatus, Scope};
use accord_node_api::pki;
use accord_node_api::wire::{self, Reason};
use accord_node_api::Kind;
use accord_spif::Clearance;
use std::sync::Arc;

/// Who presented which certificate on a connection (set by the server per connection).
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The client certificate DER, when one was presented.
    pub cert: Option<Arc<Vec<u8>>>,
}

/// A person recognised by their credential.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The directory record.
    pub record: PersonRecord,
    /// The credential's fingerprint.
    pub fingerprint: String,
    /// The credential's public key (uncompressed P-384 point).
    pub ec_point: Vec<u8>,
}

impl Node {
    /// Recognise the caller by the certificate on the connection.
    pub async fn authenticate(&self, peer: &Peer) -> Result<Caller, Refusal> {
        let party = self.party();
        let Some(cert) = &peer.cert else {
            return Err(Refusal::new(
                Kind::Unauthenticated,
                accord_node_api::wire::Rule::Credential,
                format!("no client certificate: use a credential issued by the {party} node (--credential)"),
            ));
        };
        let fingerprint = hex::encode(pki::sha256(cert));
        let record = self.credential_standing(&fingerprint).await?;
        let ec_point = pki::ec_point_of_cert(cert)
            .map_err(|e| {
                Refusal::new(
                    Kind::BadRequest,
                    accord_node_api::wire::Rule::Credential,
                    e.to_string(),
                )
            })?
            .to_vec();
        Ok(Caller {
            record,
            fingerprint,
            ec_point,
        })
    }

    /// The person the credential with SHA-256 `fingerprint` was issued to, while it
    /// stands: issued by this node, not revoked, not expired. The one rule for a
    /// credential, whether presented on a connection or named by an access token
    /// obtained with it.
    pub(crate) async fn credential_standing(
        &self,
        fingerprint: &str,
    ) -> Result<PersonRecord, Refusal> {
        let party = self.party();
        let found = self
            .store
            .person_by_credential(fingerprint)
            .await
            .map_err(Refusal::internal)?;
        let Some((record, not_after, revoked)) = found else {
            return Err(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::Credential,
                format!(
                    "this credential was not issued by the {party} node (certificate {})",
                    fingerprint.get(..16).unwrap_or(fingerprint)
                ),
            ));
        };
        if revoked.is_some() {
            return Err(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::Credential,
                "this credential has been revoked",
            ));
        }
        if not_after < crate::store::unix_now() {
            return Err(Refusal::new(
                Kind::Denied,
                accord_node_api::wire::Rule::Credential,
                "this credential has expired",
            ));
        }
        Ok(record)
    }

    pub(crate) fn person(&self, r: &PersonRecord) -> Result<Person, Reason> {
        let clearance = Clearance::read(self.policies(), "clearance", r.clearance.as_bytes())
            .map_err(|e| {
                Reason::new(
                    accord_agreement::Rule::PersonParty,
                    format!("person {}'s clearance: {e}", r.id),
                )
            })?;
        Ok(Person {
            id: r.id.clone(),
            name: r.name.clone(),
            party: r.party.clone(),
            nationality: r.nationality.clone(),
            clearance,
            scopes: r.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            status: if r.status == "active" {
                PersonStatus::Active
            } else {
                PersonStatus::Suspended
            },
        })
    }

    /// The caller as a person the decision knows, or a 403 saying why their record
    /// cannot be read as one.
    pub(crate) fn person_of(&self, caller: &Caller) -> Result<Person, Refusal> {
        self.person(&caller.record).map_err(|r| Refusal {
            kind: Kind::Denied,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })
    }

    /// Recognise the caller and check that they may perform `duty` now: active, and
    /// their role allows it ([`accord_agreement::Role::may`], the one table of roles).
    /// Every route of an officer's duty, API and console alike, comes here first; a
    /// refusal of a known caller is in the audit log (kind `role`).
    pub async fn authorize(&self, peer: &Peer, duty: Duty) -> Result<Caller, Refusal> {
        let caller = self.authenticate(peer).await?;
        let mut reasons = Vec::new();
        if caller.record.status != "active" {
            reasons.push(Reason::new(
                accord_agreement::Rule::PersonActive,
                format!("{} is suspended", caller.record.id),
            ));
        }
        if let Err(why) = caller.record.role().may(duty) {
            reasons.push(Reason::new(accord_node_api::wire::Rule::Role, why));
        }
        if reasons.is_empty() {
            return Ok(caller);
        }
        let r = Refusal {
            kind: Kind::Denied,
            error: format!("{} may not do this: {}", caller.record.id, reasons[0].text),
            reasons,
            logged: false,
        };
        self.log_refusal(EntryKind::Role, Some(&caller), None, None, &r)
            .await;
        Err(Refusal { logged: true, ..r })
    }

    /// `GET /v1/whoami`.
    pub async fn whoami(&self, peer: &Peer) -> Result<wire::WhoAmI, Refusal> {
        let c = self.authenticate(peer).await?;
        Ok(wire::WhoAmI {
            party: self.party().to_string(),
            person: c.record.id.clone(),
            status: c.record.status.clone(),
            role: c.record.role().as_str().into(),
        })
    }
}

/// A partner node is recognised by the TLS key an agreement pins for it.
impl Node {
    /// Whether `peer` presents a TLS key an agreement held accepts now for a party's
    /// node (in force or not).
    pub async fn pinned_by_an_agreement(&self, peer: &Peer) -> bool {
        let Some(cert) = peer.cert.as_deref() else {
            return false;
        };
        let Ok(pin) = pki::spki_pin(cert) else {
            return false;
        };
        let Ok(held) = self.agreements().await else {
            return false;
        };
        let at = (self.clock)();
        held.iter().any(|h| {
            h.party_pinned(&pin, at)
                .is_some_and(|p| p.code != self.party())
        })
    }

    /// The partner node on the other end of `peer`'s connection, recognised by the key
    /// of its client certificate among the agreements held now.
    pub async fn partner_of(&self, peer: &Peer) -> Result<Partner, Refusal> {
        let held = self.agreements().await.map_err(Refusal::internal)?;
        recognise(
            &held,
            self.party(),
            (self.clock)(),
            peer.cert.as_deref().map(|c| c.as_slice()),
        )
    }
}
