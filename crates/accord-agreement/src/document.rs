//! The agreement document: what the parties agree to (the body, which every signature
//! covers through its canonical JSON) and the history of signed lifecycle records.
//!
//! People read and write TOML; signatures cover RFC 8785 canonical JSON of the body, so
//! comments, key order and formatting of the TOML file never change what was signed.

use crate::reader::{self, as_string, Obj, MAX_LONG, MAX_SHORT};
use crate::signature::{self, decode_b64, HybridSignature, SigningKeys};
use crate::{canonical, Error, Time};
use aws_lc_rs::digest;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

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

    fn check(&self, field: &str) -> Result<(), Error> {
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
}

impl RecordKind {
    /// `approve`, `sign` or `terminate`.
    pub fn name(&self) -> &'static str {
        match self {
            RecordKind::Approve { .. } => "approve",
            RecordKind::Sign => "sign",
            RecordKind::Terminate { .. } => "terminate",
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
        }
        Value::Object(m)
    }

    /// The record as JSON, signature included.
    pub fn to_value(&self) -> Value {
        let mut v = self.unsigned_value();
        if let Value::Object(m) = &mut v {
            m.insert(
                "signature".into(),
                serde_json::to_value(&self.signature).unwrap_or(Value::Null),
            );
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

    /// Check the rules a body must follow on its own (field by field).
    pub fn check(&self) -> Result<(), Error> {
        check_id(&self.id, "id")?;
        if self.version == 0 {
            return Err(Error::field("version", "must be 1 or more"));
        }
        if self.parties.len() < 2 {
            return Err(Error::field(
                "parties",
                format!(
                    "an agreement needs at least 2 parties, found {}",
                    self.parties.len()
                ),
            ));
        }
        if self.parties.len() > MAX_PARTIES {
            return Err(Error::field(
                "parties",
                format!("at most {MAX_PARTIES} parties"),
            ));
        }
        for (i, p) in self.parties.iter().enumerate() {
            let path = format!("parties[{i}]");
            check_code(&p.code, &format!("{path}.code"))?;
            signature::check_keys(&p.signing_keys, &format!("{path}.signing-keys"))?;
            for (k, key) in p.kas_keys.iter().enumerate() {
                key.check(&format!("{path}.kas-keys[{k}]"))?;
            }
            if let Some(node) = &p.node {
                check_node(node, &format!("{path}.node"))?;
            }
            for (j, q) in self.parties[..i].iter().enumerate() {
                if q.code == p.code {
                    return Err(Error::field(
                        format!("{path}.code"),
                        format!("party {} is listed twice (also parties[{j}])", p.code),
                    ));
                }
                if q.signing_keys.ecdsa_p384 == p.signing_keys.ecdsa_p384
                    || q.signing_keys.ml_dsa_87 == p.signing_keys.ml_dsa_87
                {
                    return Err(Error::field(
                        format!("{path}.signing-keys"),
                        format!("the same key as parties[{j}] ({})", q.code),
                    ));
                }
            }
        }
        if self.scopes.is_empty() {
            return Err(Error::field("scopes", "at least one scope is required"));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            if self.scopes[..i].contains(s) {
                return Err(Error::field(
                    format!("scopes[{i}]"),
                    format!("{s} is listed twice"),
                ));
            }
        }
        if self.effective_from >= self.expires {
            return Err(Error::field(
                "expires",
                format!(
                    "{} is not after effective-from {}",
                    self.expires, self.effective_from
                ),
            ));
        }
        for (i, t) in self.translations.iter().enumerate() {
            if t.from == t.to {
                return Err(Error::field(
                    format!("translations[{i}]"),
                    "translates a policy into itself",
                ));
            }
        }
        if let Some(p) = &self.predecessor {
            check_id(&p.id, "predecessor.id")?;
            check_digest(&p.digest, "predecessor.digest")?;
            if p.version == 0 || p.version >= self.version {
                return Err(Error::field(
                    "predecessor.version",
                    format!(
                        "{} must be at least 1 and below this version {}",
                        p.version, self.version
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_id(id: &str, field: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::field(field, "must not be empty"));
    }
    if id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::field(
            field,
            format!("{id:?}: use at most 128 letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(())
}

fn check_code(code: &str, field: &str) -> Result<(), Error> {
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::field(
            field,
            format!("{code:?} is not an ISO 3166 trigraph (three capital letters)"),
        ));
    }
    Ok(())
}

fn check_digest(d: &str, field: &str) -> Result<(), Error> {
    if d.len() != 96 || !d.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(Error::field(
            field,
            "expected 96 lower-case hex digits (SHA-384)",
        ));
    }
    Ok(())
}

fn check_node(node: &Node, field: &str) -> Result<(), Error> {
    if !node.url.starts_with("https://") {
        return Err(Error::field(
            format!("{field}.url"),
            "must start with https://",
        ));
    }
    if node.tls_spki_sha256.len() != 64
        || !node
            .tls_spki_sha256
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    {
        return Err(Error::field(
            format!("{field}.tls-spki-sha256"),
            "expected 64 lower-case hex digits (SHA-256)",
        ));
    }
    for (k, key) in node.kas_keys.iter().enumerate() {
        key.check(&format!("{field}.kas-keys[{k}]"))?;
    }
    Ok(())
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

// ---------------------------------------------------------------- reading

impl Agreement {
    /// A draft: the body and no records.
    pub fn draft(body: Body) -> Result<Self, Error> {
        body.check()?;
        Ok(Agreement {
            body,
            records: Vec::new(),
        })
    }

    /// Read the TOML form.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        Self::from_value(&reader::toml_to_value(text)?)
    }

    /// Read the JSON form (the canonical form or any JSON with the same fields).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        Self::from_value(&reader::json_to_value(text)?)
    }

    /// Read either form: JSON when the first non-blank character is `{`, else TOML.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    /// Read a value tree (from TOML or JSON).
    pub fn from_value(v: &Value) -> Result<Self, Error> {
        let mut o = Obj::new(v, "")?;
        let id = o.string("id", MAX_SHORT)?;
        let title = o.string("title", MAX_SHORT)?;
        let version = o.uint("version")?;
        let predecessor = match o.get("predecessor") {
            None => None,
            Some(p) => Some(read_predecessor(p)?),
        };
        let effective_from = read_time(o.req("effective-from")?, "effective-from")?;
        let expires = read_time(o.req("expires")?, "expires")?;
        let mut scopes = Vec::new();
        for (i, s) in o.array("scopes", Scope::ALL.len() * 2)?.iter().enumerate() {
            let path = format!("scopes[{i}]");
            let name = as_string(s, &path, MAX_SHORT)?;
            scopes.push(Scope::parse(&name).ok_or_else(|| {
                Error::field(
                    &path,
                    format!(
                        "unknown scope {name:?} (expected EXERCISES, OPERATIONS, TRAINING, BASING or EQUIPMENT)"
                    ),
                )
            })?);
        }
        let ceiling = o.opt_string("ceiling", MAX_SHORT)?;
        let mut translations = Vec::new();
        for (i, t) in o.array("translations", 256)?.iter().enumerate() {
            let mut t = Obj::new(t, &format!("translations[{i}]"))?;
            translations.push(Translation {
                from: t.string("from", MAX_SHORT)?,
                to: t.string("to", MAX_SHORT)?,
            });
            t.finish()?;
        }
        let terms = o.opt_string("terms", MAX_LONG)?.unwrap_or_default();
        let mut parties = Vec::new();
        for (i, p) in o.array("parties", MAX_PARTIES)?.iter().enumerate() {
            parties.push(read_party(p, &format!("parties[{i}]"))?);
        }
        let mut records = Vec::new();
        for (i, r) in o.array("records", MAX_RECORDS)?.iter().enumerate() {
            records.push(read_record(r, &format!("records[{i}]"))?);
        }
        o.finish()?;
        let body = Body {
            id,
            title,
            version,
            predecessor,
            effective_from,
            expires,
            scopes,
            ceiling,
            translations,
            terms,
            parties,
        };
        body.check()?;
        Ok(Agreement { body, records })
    }

    /// The whole document as JSON (body fields and `records`).
    pub fn to_value(&self) -> Result<Value, Error> {
        let mut v =
            serde_json::to_value(&self.body).map_err(|e| Error::Canonical(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.insert(
                "records".into(),
                Value::Array(self.records.iter().map(Record::to_value).collect()),
            );
        }
        Ok(v)
    }

    /// The whole document as canonical JSON.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, Error> {
        canonical::to_vec(&self.to_value()?)
    }

    /// The TOML form people read and edit.
    pub fn to_toml(&self) -> Result<String, Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            body: &'a Body,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            records: &'a [Value],
        }
        let records: Vec<Value> = self.records.iter().map(Record::to_value).collect();
        toml::to_string(&Out {
            body: &self.body,
            records: &records,
        })
        .map_err(|e| Error::Canonical(format!("cannot write TOML: {e}")))
    }
}

/// Read a time field (RFC 3339 with a zone).
pub(crate) fn read_time(v: &Value, path: &str) -> Result<Time, Error> {
    let s = as_string(v, path, 64)?;
    Time::parse(&s).map_err(|e| Error::field(path, e.to_string()))
}

fn read_predecessor(v: &Value) -> Result<Predecessor, Error> {
    let mut o = Obj::new(v, "predecessor")?;
    let p = Predecessor {
        id: o.string("id", MAX_SHORT)?,
        version: o.uint("version")?,
        digest: o.string("digest", MAX_SHORT)?,
        ends: read_time(o.req("ends")?, "predecessor.ends")?,
    };
    o.finish()?;
    Ok(p)
}

/// Read a party table (also the shape of the agreement's view of a party descriptor).
pub fn read_party(v: &Value, path: &str) -> Result<Party, Error> {
    let mut o = Obj::new(v, path)?;
    let code = o.string("code", MAX_SHORT)?;
    let name = o.string("name", MAX_SHORT)?;
    let authority = o.string("authority", MAX_SHORT)?;
    let policy = o.string("policy", MAX_SHORT)?;
    let keys_path = o.path("signing-keys");
    let signing_keys = read_keys(o.req("signing-keys")?, &keys_path)?;
    let kas_path = o.path("kas-keys");
    let mut kas_keys = Vec::new();
    for (i, k) in o.array("kas-keys", 64)?.iter().enumerate() {
        kas_keys.push(read_kas_key(k, &format!("{kas_path}[{i}]"))?);
    }
    let node = match o.get("node") {
        None => None,
        Some(n) => Some(read_node(n, &o.path("node"))?),
    };
    o.finish()?;
    Ok(Party {
        code,
        name,
        authority,
        policy,
        signing_keys,
        kas_keys,
        node,
    })
}

fn read_keys(v: &Value, path: &str) -> Result<SigningKeys, Error> {
    let mut o = Obj::new(v, path)?;
    let ec_path = o.path("ecdsa-p384");
    let ml_path = o.path("ml-dsa-87");
    let keys = SigningKeys {
        ecdsa_p384: decode_b64(&o.string("ecdsa-p384", 8192)?, &ec_path)?,
        ml_dsa_87: decode_b64(&o.string("ml-dsa-87", 8192)?, &ml_path)?,
    };
    o.finish()?;
    Ok(keys)
}

fn read_node(v: &Value, path: &str) -> Result<Node, Error> {
    let mut o = Obj::new(v, path)?;
    let url = o.string("url", MAX_SHORT)?;
    let tls_spki_sha256 = o.string("tls-spki-sha256", MAX_SHORT)?;
    let mut kas_keys = Vec::new();
    let kas_path = o.path("kas-keys");
    for (i, k) in o.array("kas-keys", 64)?.iter().enumerate() {
        kas_keys.push(read_kas_key(k, &format!("{kas_path}[{i}]"))?);
    }
    let log_verifier_key = o.opt_string("log-verifier-key", 16384)?;
    o.finish()?;
    Ok(Node {
        url,
        tls_spki_sha256,
        kas_keys,
        log_verifier_key,
    })
}

fn read_kas_key(v: &Value, path: &str) -> Result<KasKey, Error> {
    let mut o = Obj::new(v, path)?;
    let k = KasKey {
        alg: o.string("alg", MAX_SHORT)?,
        kid: o.string("kid", MAX_SHORT)?,
        key: o.string("key", 16384)?,
    };
    o.finish()?;
    Ok(k)
}

fn read_record(v: &Value, path: &str) -> Result<Record, Error> {
    let mut o = Obj::new(v, path)?;
    let kind_name = o.string("kind", MAX_SHORT)?;
    let party = o.string("party", MAX_SHORT)?;
    let time = read_time(o.req("time")?, &o.path("time"))?;
    let previous = o.string("previous", MAX_SHORT)?;
    check_digest(&previous, &o.path("previous"))?;
    let reference = o.opt_string("reference", MAX_SHORT)?;
    let effective = match o.get("effective") {
        None => None,
        Some(e) => Some(read_time(e, &o.path("effective"))?),
    };
    let kind = match (kind_name.as_str(), reference, effective) {
        ("approve", Some(reference), None) => RecordKind::Approve { reference },
        ("approve", None, _) => return Err(Error::field(o.path("reference"), "missing (an approval names its reference)")),
        ("sign", None, None) => RecordKind::Sign,
        ("terminate", None, Some(effective)) => RecordKind::Terminate { effective },
        ("terminate", _, None) => return Err(Error::field(o.path("effective"), "missing (a termination names when it takes effect)")),
        ("approve" | "sign" | "terminate", _, _) => {
            return Err(Error::field(
                o.path("kind"),
                format!("a {kind_name} record has only the fields of its kind (reference for approve, effective for terminate)"),
            ))
        }
        (other, _, _) => {
            return Err(Error::field(
                o.path("kind"),
                format!("unknown record kind {other:?} (expected approve, sign or terminate)"),
            ))
        }
    };
    let sig_path = o.path("signature");
    let signature = {
        let mut s = Obj::new(o.req("signature")?, &sig_path)?;
        let ec_path = s.path("ecdsa-p384");
        let ml_path = s.path("ml-dsa-87");
        let sig = HybridSignature {
            ecdsa_p384: match s.opt_string("ecdsa-p384", 8192)? {
                Some(t) => decode_b64(&t, &ec_path)?,
                None => Vec::new(),
            },
            ml_dsa_87: match s.opt_string("ml-dsa-87", 16384)? {
                Some(t) => decode_b64(&t, &ml_path)?,
                None => Vec::new(),
            },
        };
        s.finish()?;
        sig
    };
    o.finish()?;
    Ok(Record {
        kind,
        party,
        time,
        previous,
        signature,
    })
}
