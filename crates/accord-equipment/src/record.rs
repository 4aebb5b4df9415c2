//! Records: every transaction on equipment, signed by the people it names and attested
//! by their node.
//!
//! ```json
//! {
//!   "body": { "accord_equipment_record": 1, "id": "…", "kind": "transfer", "party": "USA",
//!             "at": "2026-12-02T10:00:00Z", "account": "USA-FMS-1", "agreement": "…",
//!             "partner": "PAK", "items": [ … ], "signers": ["usa-custodian"] },
//!   "signatures": [ { "person": "usa-custodian", "keys": {…}, "signature": {…} } ],
//!   "attestation": { "party": "USA", "signature": {…} }
//! }
//! ```
//!
//! A person signs `accord-equipment-record-v1\n` followed by the body in RFC 8785
//! canonical JSON; the record's digest (SHA-256 of the same bytes, hex) names it in the
//! audit logs of both parties. The node then signs `accord-equipment-attestation-v1\n`
//! followed by the canonical JSON of the digest and each signer's id and keys: the
//! partner knows the party's signing keys from the agreement, and the attestation is
//! how it knows that the keys a signature was made with are those of the person the
//! party says. Neither side can alter a record after it is attested without breaking a
//! signature, and both logs hold its digest.

use crate::item::{check_name, check_party, AccountingClass, Condition, ItemKey, Status};
use crate::{Differences, Error};
use accord_agreement::signature::{self, HybridSignature, Signer, SigningKeys};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The format version in every body.
pub const FORMAT: u32 = 1;
/// What a person's signature covers, before the canonical body.
pub const RECORD_CONTEXT: &[u8] = b"accord-equipment-record-v1\n";
/// What a node's attestation covers, before its canonical JSON.
pub const ATTESTATION_CONTEXT: &[u8] = b"accord-equipment-attestation-v1\n";
/// Most item lines in one record (a transfer of a whole account, an inventory).
pub const MAX_LINES: usize = 200_000;
/// Most signers of one record.
pub const MAX_SIGNERS: usize = 4;
/// Longest note (an incident's description, a discrepancy's explanation).
pub const MAX_NOTE: usize = 4096;
/// Longest label.
pub const MAX_LABEL: usize = 16 * 1024;
/// Largest record read, in bytes.
pub const MAX_RECORD: usize = 96 << 20;

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Items shipped to a partner under an agreement (the shipping custodian signs).
    Transfer,
    /// The receiving custodian's receipt of exactly what arrived of a transfer.
    Receipt,
    /// Items issued by the custodian to a holder (custodian and holder sign).
    HandReceipt,
    /// Items handed back by the holder to the custodian (both sign).
    HandReturn,
    /// The custodian's certification of the serials sighted, with the differences.
    Inventory,
    /// Items destroyed (the custodian and two witnesses sign).
    Destruction,
    /// Items returned to the provider.
    Return,
    /// Items lost or compromised: delivered to the provider at once.
    Incident,
    /// The provider's acknowledgement of an incident.
    IncidentAck,
    /// The provider asks for an end-use check of the items it transferred.
    CheckRequest,
    /// The receiver's signed inventory of exactly those items.
    CheckAnswer,
    /// The provider's reconciliation of the answer against its transfer records.
    CheckResult,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 12] = [
        Kind::Transfer,
        Kind::Receipt,
        Kind::HandReceipt,
        Kind::HandReturn,
        Kind::Inventory,
        Kind::Destruction,
        Kind::Return,
        Kind::Incident,
        Kind::IncidentAck,
        Kind::CheckRequest,
        Kind::CheckAnswer,
        Kind::CheckResult,
    ];

    /// As records and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Transfer => "transfer",
            Kind::Receipt => "receipt",
            Kind::HandReceipt => "hand-receipt",
            Kind::HandReturn => "hand-return",
            Kind::Inventory => "inventory",
            Kind::Destruction => "destruction",
            Kind::Return => "return",
            Kind::Incident => "incident",
            Kind::IncidentAck => "incident-ack",
            Kind::CheckRequest => "check-request",
            Kind::CheckAnswer => "check-answer",
            Kind::CheckResult => "check-result",
        }
    }

    /// Parse [`Kind::as_str`].
    pub fn parse(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "record kind {s:?} is not one of {}",
                    Kind::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }

    /// Whether a record of this kind goes to the partner it names.
    pub fn crosses(self) -> bool {
        matches!(
            self,
            Kind::Transfer
                | Kind::Receipt
                | Kind::Return
                | Kind::Incident
                | Kind::IncidentAck
                | Kind::CheckRequest
                | Kind::CheckAnswer
                | Kind::CheckResult
        )
    }

    /// The kind of record this one answers, when it answers one.
    pub fn answers(self) -> Option<Kind> {
        match self {
            Kind::Receipt => Some(Kind::Transfer),
            Kind::IncidentAck => Some(Kind::Incident),
            Kind::CheckAnswer => Some(Kind::CheckRequest),
            Kind::CheckResult => Some(Kind::CheckAnswer),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item as a record names it, with what the record says of it. In JSON its fields
/// are flat (`{"nomenclature", "serial", "class", ...}`), read through [`LineJson`]
/// rather than serde's `flatten`, which buffers every line and cannot refuse unknown
/// fields: a record of 100,000 lines is read several times faster this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "LineJson", into = "LineJson")]
pub struct Line {
    /// Nomenclature and serial.
    pub key: ItemKey,
    /// Accounting class (transfers carry it, so that the receiver's ledger has it).
    pub class: Option<AccountingClass>,
    /// The case or letter of offer (transfers).
    pub case: Option<String>,
    /// Who holds title (transfers).
    pub title_holder: Option<String>,
    /// Condition as seen (receipts, inventories, check answers).
    pub condition: Option<Condition>,
    /// Status as the ledger holds it (check answers).
    pub status: Option<Status>,
    /// The holder sighted with it (inventories, check answers).
    pub holder: Option<String>,
}

/// A [`Line`] as JSON spells it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineJson {
    nomenclature: String,
    serial: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class: Option<AccountingClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title_holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
}

impl From<LineJson> for Line {
    fn from(j: LineJson) -> Line {
        Line {
            key: ItemKey {
                nomenclature: j.nomenclature,
                serial: j.serial,
            },
            class: j.class,
            case: j.case,
            title_holder: j.title_holder,
            condition: j.condition,
            status: j.status,
            holder: j.holder,
        }
    }
}

impl From<Line> for LineJson {
    fn from(l: Line) -> LineJson {
        LineJson {
            nomenclature: l.key.nomenclature,
            serial: l.key.serial,
            class: l.class,
            case: l.case,
            title_holder: l.title_holder,
            condition: l.condition,
            status: l.status,
            holder: l.holder,
        }
    }
}

impl Line {
    /// A line naming only the item.
    pub fn of(key: ItemKey) -> Line {
        Line {
            key,
            class: None,
            case: None,
            title_holder: None,
            condition: None,
            status: None,
            holder: None,
        }
    }
}

/// The record another answers: its id and digest, so that the answer binds exactly it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The record's id.
    pub id: String,
    /// Its digest (hex SHA-256 of what its signers signed).
    pub digest: String,
}

/// What the signers sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Format version, [`FORMAT`].
    pub accord_equipment_record: u32,
    /// Unique id: 32 lower-case hex digits.
    pub id: String,
    /// What the record does.
    pub kind: Kind,
    /// The party whose people sign it and whose node attests it.
    pub party: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The account it is about.
    pub account: String,
    /// Its confidentiality label (the JSON form of `accord label`), under the party's
    /// policy: a record is decided like any object, and one that crosses is admitted
    /// by the agreement only if the label's scope is EQUIPMENT and it is releasable to
    /// the partner.
    pub label: String,
    /// The agreement it falls under, for records that cross to a partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<String>,
    /// The partner party it goes to, for records that cross.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// The record it answers (a receipt's transfer, an answer's request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers: Option<Reference>,
    /// The items.
    #[serde(default)]
    pub items: Vec<Line>,
    /// The hand-receipt holder (hand receipts and returns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Who must sign, by person id, in order (the rules of each kind say who).
    pub signers: Vec<String>,
    /// What differed (receipts, inventories, check results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differences: Option<Differences>,
    /// Words: an incident's description, a discrepancy's explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A fresh record id: 16 random bytes, hex.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    hex::encode(b)
}

impl Body {
    /// The bytes each signer signs: [`RECORD_CONTEXT`] then the canonical body.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, Error> {
        let value = serde_json::to_value(self).map_err(|e| Error::Json(e.to_string()))?;
        let canon =
            accord_agreement::canonical::to_vec(&value).map_err(|e| Error::Json(e.to_string()))?;
        let mut out = Vec::with_capacity(RECORD_CONTEXT.len() + canon.len());
        out.extend_from_slice(RECORD_CONTEXT);
        out.extend_from_slice(&canon);
        Ok(out)
    }

    /// The record's digest: hex SHA-256 of [`Body::signed_bytes`].
    pub fn digest(&self) -> Result<String, Error> {
        Ok(sha256_hex(&self.signed_bytes()?))
    }

    /// Check every field's form (not the rules of its kind, which the rules module
    /// checks).
    pub fn check(&self) -> Result<(), Error> {
        if self.accord_equipment_record != FORMAT {
            return Err(Error::field(
                "accord_equipment_record",
                format!("version {} is not {FORMAT}", self.accord_equipment_record),
            ));
        }
        if self.id.len() != 32
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::field("id", "is not 32 lower-case hex digits"));
        }
        check_party("party", &self.party)?;
        accord_agreement::Time::parse(&self.at).map_err(|e| Error::field("at", e.to_string()))?;
        check_name("account", &self.account)?;
        if self.label.is_empty() || self.label.len() > MAX_LABEL {
            return Err(Error::field(
                "label",
                format!("a label of 1 to {MAX_LABEL} bytes is required"),
            ));
        }
        if let Some(a) = &self.agreement {
            check_name("agreement", a)?;
        }
        if let Some(p) = &self.partner {
            check_party("partner", p)?;
        }
        if let Some(r) = &self.refers {
            if r.id.len() != 32 || r.digest.len() != 64 {
                return Err(Error::field(
                    "refers",
                    "id must be 32 and digest 64 hex digits",
                ));
            }
        }
        if self.items.len() > MAX_LINES {
            return Err(Error::field(
                "items",
                format!("{} lines; at most {MAX_LINES}", self.items.len()),
            ));
        }
        for (i, l) in self.items.iter().enumerate() {
            let f = format!("items[{i}]");
            l.key.check(&f)?;
            if let Some(c) = &l.case {
                check_name(&format!("{f}.case"), c)?;
            }
            if let Some(t) = &l.title_holder {
                check_party(&format!("{f}.title_holder"), t)?;
            }
            if let Some(h) = &l.holder {
                check_name(&format!("{f}.holder"), h)?;
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(self.items.len());
        for (i, l) in self.items.iter().enumerate() {
            if !seen.insert(&l.key) {
                return Err(Error::field(
                    format!("items[{i}]"),
                    format!("{} is listed twice", l.key),
                ));
            }
        }
        if let Some(h) = &self.holder {
            check_name("holder", h)?;
        }
        if self.signers.is_empty() || self.signers.len() > MAX_SIGNERS {
            return Err(Error::field(
                "signers",
                format!("{} signers; 1 to {MAX_SIGNERS}", self.signers.len()),
            ));
        }
        for (i, s) in self.signers.iter().enumerate() {
            check_name(&format!("signers[{i}]"), s)?;
            if self.signers[..i].contains(s) {
                return Err(Error::field(
                    format!("signers[{i}]"),
                    format!("{s} is named twice: each signer is a different person"),
                ));
            }
        }
        if let Some(n) = &self.note {
            if n.len() > MAX_NOTE || n.chars().any(|c| c.is_control() && c != '\n') {
                return Err(Error::field(
                    "note",
                    format!("at most {MAX_NOTE} bytes of text, no control characters"),
                ));
            }
        }
        Ok(())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// A person's public signing keys, base64 DER SPKI, as a record carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// ECDSA P-384.
    pub ecdsa_p384: String,
    /// ML-DSA-87.
    pub ml_dsa_87: String,
}

/// A hybrid signature, base64, as a record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sig {
    /// ECDSA P-384 with SHA-384, r || s.
    pub ecdsa_p384: String,
    /// ML-DSA-87.
    pub ml_dsa_87: String,
}

impl Keys {
    /// From the agreement crate's keys.
    pub fn of(k: &SigningKeys) -> Keys {
        Keys {
            ecdsa_p384: B64.encode(&k.ecdsa_p384),
            ml_dsa_87: B64.encode(&k.ml_dsa_87),
        }
    }

    /// As the agreement crate's keys (checked: both parse, of the right algorithms).
    pub fn parse(&self, field: &str) -> Result<SigningKeys, Error> {
        let d = |s: &str, f: &str| {
            B64.decode(s)
                .map_err(|_| Error::field(format!("{field}.{f}"), "is not base64"))
        };
        let k = SigningKeys {
            ecdsa_p384: d(&self.ecdsa_p384, "ecdsa_p384")?,
            ml_dsa_87: d(&self.ml_dsa_87, "ml_dsa_87")?,
        };
        signature::check_keys(&k, field).map_err(|e| Error::Signature(e.to_string()))?;
        Ok(k)
    }

    /// Key ids (SHA-256 of each SPKI), as `party.json` and `accord user` show them.
    pub fn fingerprint(&self) -> String {
        let der = B64.decode(&self.ecdsa_p384).unwrap_or_default();
        accord_keys::spki_kid(&der)
    }
}

impl Sig {
    fn of(s: &HybridSignature) -> Sig {
        Sig {
            ecdsa_p384: B64.encode(&s.ecdsa_p384),
            ml_dsa_87: B64.encode(&s.ml_dsa_87),
        }
    }

    fn parse(&self, field: &str) -> Result<HybridSignature, Error> {
        let d = |s: &str, f: &str| {
            B64.decode(s)
                .map_err(|_| Error::field(format!("{field}.{f}"), "is not base64"))
        };
        Ok(HybridSignature {
            ecdsa_p384: d(&self.ecdsa_p384, "ecdsa_p384")?,
            ml_dsa_87: d(&self.ml_dsa_87, "ml_dsa_87")?,
        })
    }
}

/// One person's signature of a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The person (one of the body's `signers`).
    pub person: String,
    /// Their public keys.
    pub keys: Keys,
    /// The signature of [`Body::signed_bytes`].
    pub signature: Sig,
}

/// The node's attestation: its party's signature over the digest and the signers' keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The attesting party (the body's `party`).
    pub party: String,
    /// The party's signature of [`Record::attested_bytes`].
    pub signature: Sig,
}

/// A record: body, its people's signatures, and their node's attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// What is signed.
    pub body: Body,
    /// Each signer's signature, in the order of `body.signers` (fewer while the record
    /// awaits signatures).
    #[serde(default)]
    pub signatures: Vec<Signature>,
    /// The node's attestation, once every signer has signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

impl Record {
    /// Read a record from JSON: bounded, every field's form checked.
    pub fn from_json(bytes: &[u8]) -> Result<Record, Error> {
        if bytes.len() > MAX_RECORD {
            return Err(Error::Json(format!(
                "{} bytes; a record is at most {MAX_RECORD}",
                bytes.len()
            )));
        }
        let r: Record = serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
        r.body.check()?;
        if r.signatures.len() > r.body.signers.len() {
            return Err(Error::field(
                "signatures",
                "more signatures than the body names signers",
            ));
        }
        Ok(r)
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An unsigned record of `body`.
    pub fn new(body: Body) -> Record {
        Record {
            body,
            signatures: Vec::new(),
            attestation: None,
        }
    }

    /// The next person who must sign, when any.
    pub fn next_signer(&self) -> Option<&str> {
        self.body
            .signers
            .get(self.signatures.len())
            .map(String::as_str)
    }

    /// Add `person`'s signature made with `key`: they must be the next signer.
    pub fn sign(&mut self, person: &str, key: &dyn Signer) -> Result<(), Error> {
        match self.next_signer() {
            Some(p) if p == person => {}
            Some(p) => {
                return Err(Error::Signature(format!(
                    "{person} may not sign now: the record waits for {p}'s signature"
                )))
            }
            None => {
                return Err(Error::Signature(
                    "every signer named has signed already".into(),
                ))
            }
        }
        let keys = key
            .public_keys()
            .map_err(|e| Error::Signature(e.to_string()))?;
        let sig = key
            .sign(&self.body.signed_bytes()?)
            .map_err(|e| Error::Signature(e.to_string()))?;
        self.signatures.push(Signature {
            person: person.to_string(),
            keys: Keys::of(&keys),
            signature: Sig::of(&sig),
        });
        Ok(())
    }

    /// Verify every signature present: the i-th is by the i-th signer named, with the
    /// keys it carries (whose they are is [`Record::verify_attestation`]'s question or,
    /// at the signer's own node, the directory's).
    pub fn verify_signatures(&self) -> Result<(), Error> {
        let msg = self.body.signed_bytes()?;
        for (i, s) in self.signatures.iter().enumerate() {
            let named = &self.body.signers[i];
            if &s.person != named {
                return Err(Error::Signature(format!(
                    "signature {} is {}'s, but the record names {named} to sign there",
                    i + 1,
                    s.person
                )));
            }
            let keys = s.keys.parse(&format!("signatures[{i}].keys"))?;
            let sig = s.signature.parse(&format!("signatures[{i}].signature"))?;
            signature::verify(&keys, &msg, &sig)
                .map_err(|why| Error::Signature(format!("{}'s signature: {why}", s.person)))?;
        }
        Ok(())
    }

    /// Whether every signer named has signed.
    pub fn complete(&self) -> bool {
        self.signatures.len() == self.body.signers.len()
    }

    /// The bytes the node's attestation signs.
    pub fn attested_bytes(&self) -> Result<Vec<u8>, Error> {
        let signers: Vec<serde_json::Value> = self
            .signatures
            .iter()
            .map(|s| serde_json::json!({"person": s.person, "keys": s.keys}))
            .collect();
        let value = serde_json::json!({
            "party": self.body.party,
            "digest": self.body.digest()?,
            "signers": signers,
        });
        let canon =
            accord_agreement::canonical::to_vec(&value).map_err(|e| Error::Json(e.to_string()))?;
        let mut out = ATTESTATION_CONTEXT.to_vec();
        out.extend_from_slice(&canon);
        Ok(out)
    }

    /// Attest a complete record with the party's key.
    pub fn attest(&mut self, party_key: &dyn Signer) -> Result<(), Error> {
        if !self.complete() {
            return Err(Error::Signature(format!(
                "the record waits for {}'s signature",
                self.next_signer().unwrap_or("?")
            )));
        }
        let sig = party_key
            .sign(&self.attested_bytes()?)
            .map_err(|e| Error::Signature(e.to_string()))?;
        self.attestation = Some(Attestation {
            party: self.body.party.clone(),
            signature: Sig::of(&sig),
        });
        Ok(())
    }

    /// Verify a record from another party: complete, every signature, and the
    /// attestation by `party_keys` (the body's party's signing keys, as the agreement
    /// pins them).
    pub fn verify_attested(&self, party_keys: &SigningKeys) -> Result<(), Error> {
        if !self.complete() {
            return Err(Error::Signature(format!(
                "{} of {} signers have signed",
                self.signatures.len(),
                self.body.signers.len()
            )));
        }
        self.verify_signatures()?;
        let Some(a) = &self.attestation else {
            return Err(Error::Signature(format!(
                "no attestation by {}'s node",
                self.body.party
            )));
        };
        if a.party != self.body.party {
            return Err(Error::Signature(format!(
                "attested by {}, but the record is {}'s",
                a.party, self.body.party
            )));
        }
        let sig = a.signature.parse("attestation.signature")?;
        signature::verify(party_keys, &self.attested_bytes()?, &sig).map_err(|why| {
            Error::Signature(format!(
                "{}'s attestation, against the signing keys the agreement pins for it: {why}",
                a.party
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_keys::{ClassicalAlg, SigningKey};

    pub(crate) fn body(kind: Kind, signers: &[&str]) -> Body {
        Body {
            accord_equipment_record: FORMAT,
            id: new_id(),
            kind,
            party: "USA".into(),
            at: "2026-12-02T10:00:00Z".into(),
            account: "USA-FMS-1".into(),
            label: "{}".into(),
            agreement: Some("cismoa".into()),
            partner: Some("PAK".into()),
            refers: None,
            items: vec![Line::of(ItemKey::new("KIV-77", "0001").unwrap())],
            holder: None,
            signers: signers.iter().map(|s| s.to_string()).collect(),
            differences: None,
            note: None,
        }
    }

    #[test]
    fn signed_attested_and_any_change_detected() {
        let alice = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let party = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let mut r = Record::new(body(Kind::Transfer, &["alice"]));
        assert!(r.attest(&party).is_err(), "not complete");
        assert!(r.sign("mallory", &alice).is_err());
        r.sign("alice", &alice).unwrap();
        r.attest(&party).unwrap();
        let pk = Signer::public_keys(&party).unwrap();
        r.verify_attested(&pk).unwrap();
        let back = Record::from_json(r.to_json().as_bytes()).unwrap();
        back.verify_attested(&pk).unwrap();

        let mut altered = back.clone();
        altered.body.items[0].key.serial = "0002".into();
        assert!(altered
            .verify_attested(&pk)
            .unwrap_err()
            .to_string()
            .contains("alice's signature"));

        // Re-signed by someone else's key under alice's name: the attestation breaks.
        let mallory = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let mut forged = Record::new(back.body.clone());
        forged.sign("alice", &mallory).unwrap();
        forged.attestation = back.attestation.clone();
        assert!(forged
            .verify_attested(&pk)
            .unwrap_err()
            .to_string()
            .contains("attestation"));

        let other = Signer::public_keys(&mallory).unwrap();
        assert!(back.verify_attested(&other).is_err());
    }

    #[test]
    fn bodies_are_checked() {
        let mut b = body(Kind::Transfer, &["alice", "alice"]);
        assert!(b.check().unwrap_err().to_string().contains("named twice"));
        b.signers = vec!["alice".into()];
        b.items.push(b.items[0].clone());
        assert!(b.check().unwrap_err().to_string().contains("listed twice"));
        let mut j: serde_json::Value =
            serde_json::to_value(Record::new(body(Kind::Inventory, &["a"]))).unwrap();
        j["body"]["extra"] = 1.into();
        assert!(Record::from_json(j.to_string().as_bytes()).is_err());
    }
}
