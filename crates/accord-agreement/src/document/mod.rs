//! The agreement document: what the parties agree to (the body, which every signature
//! covers through its canonical JSON) and the history of signed lifecycle records.
//!
//! People read and write TOML; signatures cover RFC 8785 canonical JSON of the body, so
//! comments, key order and formatting of the TOML file never change what was signed.
//!
//! The types and their digests are here; the rules a body must follow on its own are
//! in `check`, and the TOML and JSON forms (reading them field by field, writing them)
//! in `forms`.

use crate::signature::{HybridSignature, SigningKeys};
use crate::{canonical, Error, Time};
use aws_lc_rs::digest;
use keys::{KeyKind, NewKey};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

mod check;
mod forms;
pub(crate) mod keys;

/// Most parties an agreement may have.
pub const MAX_PARTIES: usize = 32;
/// Most lifecycle records a document may hold.
pub const MAX_RECORDS: usize = 1024;

/// What an agreement covers (the CIS-MOA list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Scope {
    /// Joint exercises.
    Exercises,
    /// Operations.
    Operations,
    /// Training.
    Training,
    /// Basing.
    Basing,
    /// Equipment.
    Equipment,
}

impl Scope {
    /// Every scope, in document order.
    pub const ALL: [Scope; 5] = [
        Scope::Exercises,
        Scope::Operations,
        Scope::Training,
        Scope::Basing,
        Scope::Equipment,
    ];

    /// The scope's name as written in documents and labels (`EXERCISES`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Exercises => "EXERCISES",
            Scope::Operations => "OPERATIONS",
            Scope::Training => "TRAINING",
            Scope::Basing => "BASING",
            Scope::Equipment => "EQUIPMENT",
        }
    }

    /// Read a scope name (exact, upper case).
    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a party's node can be reached and how it is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Node {
    /// The node's base URL (`https://...`).
    pub url: String,
    /// SHA-256 of the node's TLS certificate SubjectPublicKeyInfo, lower-case hex.
    pub tls_spki_sha256: String,
    /// The node's online KAS public keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kas_keys: Vec<KasKey>,
    /// The node's audit-log verifier key (C2SP note verifier key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_verifier_key: Option<String>,
}

/// A KAS public key, as `party.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KasKey {
    /// The KAS algorithm (`hybrid-p384-mlkem1024`, ...).
    pub alg: String,
    /// SHA-256 of the SPKI, lower-case hex.
    pub kid: String,
    /// One `PUBLIC KEY` PEM block.
    pub key: String,
}

impl KasKey {
    fn entry(&self) -> accord_keys::KasKeyEntry {
        accord_keys::KasKeyEntry {
            alg: self.alg.clone(),
            kid: self.kid.clone(),
            key: self.key.clone(),
        }
    }

    fn from_entry(e: &accord_keys::KasKeyEntry) -> Self {
        KasKey {
            alg: e.alg.clone(),
            kid: e.kid.clone(),
            key: e.key.clone(),
        }
    }

    pub(crate) fn check(&self, field: &str) -> Result<(), Error> {
        self.entry()
            .key(field)
            .map(|_| ())
            .map_err(|e| Error::field(field, e.to_string()))
    }
}

/// A party to the agreement, as taken from its party descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Party {
    /// ISO 3166 trigraph (`PAK`, `USA`).
    pub code: String,
    /// The party's name.
    pub name: String,
    /// Who signs for the party (`Joint Staff Headquarters`).
    pub authority: String,
    /// The party's national policy name (`PAK`).
    pub policy: String,
    /// The keys that sign this party's records.
    pub signing_keys: SigningKeys,
    /// The party's offline KAS public keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kas_keys: Vec<KasKey>,
    /// The party's node, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
}

/// A translation the agreement provides for: labels under policy `from` may be
/// translated into policy `to` (one direction; list both for both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Translation {
    /// Source policy name.
    pub from: String,
    /// Target policy name.
    pub to: String,
}

/// The agreement a renewal follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Predecessor {
    /// The predecessor's id.
    pub id: String,
    /// The predecessor's version.
    pub version: u64,
    /// SHA-384 of the predecessor's canonical body, lower-case hex.
    pub digest: String,
    /// When the predecessor ends (its expiry, or its termination if earlier).
    pub ends: Time,
}

/// What the parties agree to. Every signature covers the canonical JSON of this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Body {
    /// Identifier, such as `CISMOA-2005`.
    pub id: String,
    /// Title for people.
    pub title: String,
    /// Version, 1 for a new agreement, predecessor + 1 for a renewal.
    pub version: u64,
    /// For a renewal: the agreement it follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predecessor: Option<Predecessor>,
    /// When the agreement takes effect.
    pub effective_from: Time,
    /// When it expires (it is not in force at this instant or after).
    pub expires: Time,
    /// What it covers.
    pub scopes: Vec<Scope>,
    /// Highest classification exchanged (a classification name of the label's policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<String>,
    /// Which policies translate into which.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub translations: Vec<Translation>,
    /// Free-text terms.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub terms: String,
    /// The parties.
    pub parties: Vec<Party>,
}

/// What a lifecycle record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// A party's internal approval, with its reference (a cabinet circulation summary).
    Approve {
        /// The approval's reference.
        reference: String,
    },
    /// A party's signature of the agreement.
    Sign,
    /// A party's notice of termination, taking effect at `effective`.
    Terminate {
        /// When the termination takes effect.
        effective: Time,
    },
    /// A party's change of one of its own keys (an amendment).
    Amend {
        /// Which key.
        key: KeyKind,
        /// When the new key takes effect (at or after the record's time).
        effective: Time,
        /// Until when the old key stays accepted (tls, log and witness keys only).
        grace_until: Option<Time>,
        /// The id of the key replaced (empty when the party had none of this kind).
        replaces: String,
        /// Why, in the party's words.
        reason: String,
        /// The new key.
        new: NewKey,
    },
    /// A party's revocation of one of its own keys, held compromised since
    /// `compromised` (an amendment too).
    Revoke {
        /// Which kind of key.
        key: KeyKind,
        /// The revoked key's id.
        kid: String,
        /// From when it is held compromised.
        compromised: Time,
        /// Why.
        reason: String,
    },
}

impl RecordKind {
    /// `approve`, `sign`, `terminate`, `amend` or `revoke`.
    pub fn name(&self) -> &'static str {
        match self {
            RecordKind::Approve { .. } => "approve",
            RecordKind::Sign => "sign",
            RecordKind::Terminate { .. } => "terminate",
            RecordKind::Amend { .. } => "amend",
            RecordKind::Revoke { .. } => "revoke",
        }
    }

    /// An amendment in words, for people (`changed its kas key 9b1c… to 3f2a…, in
    /// effect from T (scheduled rotation)`); `None` for the other kinds.
    pub fn describe_amendment(&self) -> Option<String> {
        use keys::short;
        match self {
            RecordKind::Amend {
                key,
                effective,
                grace_until,
                replaces,
                reason,
                new,
            } => {
                let to: Vec<String> = new.ids().iter().map(|i| short(i)).collect();
                let from = if replaces.is_empty() {
                    format!("set its {key} key")
                } else {
                    format!("changed its {key} key from {}", short(replaces))
                };
                let grace = grace_until
                    .map(|g| format!(", the old key accepted until {g}"))
                    .unwrap_or_default();
                Some(format!(
                    "{from} to {}, in effect from {effective}{grace} ({reason})",
                    to.join(", ")
                ))
            }
            RecordKind::Revoke {
                key,
                kid,
                compromised,
                reason,
            } => Some(format!(
                "revoked its {key} key {} as compromised since {compromised} ({reason})",
                short(kid)
            )),
            _ => None,
        }
    }
}

/// One signed entry of the document's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What the record says.
    pub kind: RecordKind,
    /// The party that signed it.
    pub party: String,
    /// When it was signed.
    pub time: Time,
    /// SHA-384 (hex) of the previous record, or of the body for the first record: the
    /// records form a chain, so removing or reordering one breaks it.
    pub previous: String,
    /// The party's hybrid signature over [`Record::message`].
    pub signature: HybridSignature,
}

/// Domain separation for record signatures.
pub const RECORD_CONTEXT: &str = "accord-agreement-record-v1";

impl Record {
    /// The record's fields other than its signature, as JSON.
    fn unsigned_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), self.kind.name().into());
        m.insert("party".into(), self.party.clone().into());
        m.insert("time".into(), self.time.to_string().into());
        m.insert("previous".into(), self.previous.clone().into());
        match &self.kind {
            RecordKind::Approve { reference } => {
                m.insert("reference".into(), reference.clone().into());
            }
            RecordKind::Terminate { effective } => {
                m.insert("effective".into(), effective.to_string().into());
            }
            RecordKind::Sign => {}
            RecordKind::Amend {
                key,
                effective,
                grace_until,
                replaces,
                reason,
                new,
            } => {
                m.insert("key".into(), key.as_str().into());
                m.insert("effective".into(), effective.to_string().into());
                if let Some(g) = grace_until {
                    m.insert("grace-until".into(), g.to_string().into());
                }
                // Absent when the party had no key of this kind (the reader takes no
                // empty strings): the record then reads back as written.
                if !replaces.is_empty() {
                    m.insert("replaces".into(), replaces.clone().into());
                }
                m.insert("reason".into(), reason.clone().into());
                match new {
                    NewKey::Signing { keys, .. } => {
                        m.insert(
                            "signing-keys".into(),
                            serde_json::to_value(keys).unwrap_or(Value::Null),
                        );
                    }
                    NewKey::Kas(keys) => {
                        m.insert(
                            "kas-keys".into(),
                            serde_json::to_value(keys).unwrap_or(Value::Null),
                        );
                    }
                    NewKey::Tls { spki_sha256, url } => {
                        m.insert("tls-spki-sha256".into(), spki_sha256.clone().into());
                        if let Some(u) = url {
                            m.insert("url".into(), u.clone().into());
                        }
                    }
                    NewKey::Verifier(v) => {
                        let field = if *key == KeyKind::Witness {
                            "witness-key"
                        } else {
                            "log-verifier-key"
                        };
                        m.insert(field.into(), v.clone().into());
                    }
                }
            }
            RecordKind::Revoke {
                key,
                kid,
                compromised,
                reason,
            } => {
                m.insert("key".into(), key.as_str().into());
                m.insert("kid".into(), kid.clone().into());
                m.insert("compromised".into(), compromised.to_string().into());
                m.insert("reason".into(), reason.clone().into());
            }
        }
        Value::Object(m)
    }

    /// The record as JSON, signature included (and a new signing key's
    /// `new-signature`, which is outside the message both signatures cover but inside
    /// the record's digest).
    pub fn to_value(&self) -> Value {
        let mut v = self.unsigned_value();
        if let Value::Object(m) = &mut v {
            m.insert(
                "signature".into(),
                serde_json::to_value(&self.signature).unwrap_or(Value::Null),
            );
            if let RecordKind::Amend {
                new: NewKey::Signing { new_signature, .. },
                ..
            } = &self.kind
            {
                m.insert(
                    "new-signature".into(),
                    serde_json::to_value(new_signature).unwrap_or(Value::Null),
                );
            }
        }
        v
    }

    /// The bytes the party signs: canonical JSON of the record's fields, the context
    /// string and the digest of the agreement body. Every party's signature record thus
    /// covers the same canonical body bytes (through their SHA-384).
    pub fn message(&self, body_digest: &str) -> Result<Vec<u8>, Error> {
        let mut v = self.unsigned_value();
        if let Value::Object(m) = &mut v {
            m.insert("context".into(), RECORD_CONTEXT.into());
            m.insert("agreement".into(), body_digest.into());
        }
        canonical::to_vec(&v)
    }

    /// SHA-384 (hex) of the whole record, signature included: the next record's
    /// `previous`.
    pub fn digest(&self) -> Result<String, Error> {
        Ok(sha384_hex(&canonical::to_vec(&self.to_value())?))
    }
}

/// An agreement document: the body and its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// What was agreed.
    pub body: Body,
    /// The signed lifecycle records, oldest first.
    pub records: Vec<Record>,
}

pub(crate) fn sha384_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA384, bytes).as_ref())
}

impl Body {
    /// The canonical JSON (RFC 8785) of the body: the bytes every record binds to.
    pub fn canonical(&self) -> Result<Vec<u8>, Error> {
        let v = serde_json::to_value(self).map_err(|e| Error::Canonical(e.to_string()))?;
        canonical::to_vec(&v)
    }

    /// SHA-384 of the canonical body, lower-case hex.
    pub fn digest(&self) -> Result<String, Error> {
        Ok(sha384_hex(&self.canonical()?))
    }

    /// The party with this code.
    pub fn party(&self, code: &str) -> Option<&Party> {
        self.parties.iter().find(|p| p.code == code)
    }

    /// The party codes, in document order, for messages (`PAK, USA`).
    pub fn party_codes(&self) -> String {
        self.parties
            .iter()
            .map(|p| p.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The scopes, for messages (`EXERCISES, TRAINING`).
    pub fn scope_names(&self) -> String {
        self.scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Party {
    /// The agreement's view of a party descriptor (`party.json` of `accord keygen`).
    /// The descriptor must name its signing authority; its `policy_id` is the national
    /// policy (the party code when absent, as Accord's national policies are named).
    pub fn from_descriptor(d: &accord_keys::PartyDescriptor) -> Result<Party, Error> {
        let authority = d.authority.clone().ok_or_else(|| {
            Error::field(
                "authority",
                format!(
                    "party.json of {} names no signing authority (such as \"Joint Staff Headquarters\")",
                    d.party
                ),
            )
        })?;
        let keys = d
            .signing_public_keys()
            .map_err(|e| Error::field("signing_keys", e.to_string()))?;
        Ok(Party {
            code: d.party.clone(),
            name: d.name.clone(),
            authority,
            policy: d.policy_id.clone().unwrap_or_else(|| d.party.clone()),
            signing_keys: SigningKeys::from_public(&keys)?,
            kas_keys: d.kas_keys.iter().map(KasKey::from_entry).collect(),
            node: d.node.as_ref().map(|n| Node {
                url: n.url.clone(),
                tls_spki_sha256: n.tls_spki_sha256.clone(),
                kas_keys: n.kas_keys.iter().map(KasKey::from_entry).collect(),
                log_verifier_key: Some(n.log_verifier_key.clone()),
            }),
        })
    }
}
