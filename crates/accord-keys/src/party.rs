//! `party.json`: the public descriptor of a party: who it is, who signs for it, its
//! signing keys and KAS keys, and (filled later by its node) how to reach its node.
//!
//! ```json
//! {
//!   "party": "PAK",
//!   "name": "Pakistan",
//!   "authority": "Joint Staff Headquarters",
//!   "policy_id": "1.3.6.1.4.1.99999.586",
//!   "signing_keys": {
//!     "classical": { "alg": "ES384", "kid": "<sha256 hex of SPKI>", "key": "-----BEGIN PUBLIC KEY-----\n..." },
//!     "ml_dsa_87": { "alg": "ML-DSA-87", "kid": "...", "key": "-----BEGIN PUBLIC KEY-----\n..." }
//!   },
//!   "kas_keys": [ { "alg": "hybrid-p384-mlkem1024", "kid": "...", "key": "-----BEGIN PUBLIC KEY-----\n..." } ],
//!   "node": { "url": "https://node.pak.example", "tls_spki_sha256": "<hex>", "kas_keys": [], "log_verifier_key": "<C2SP vkey>" }
//! }
//! ```
//! `authority`, `policy_id` and `node` may be absent. Unknown fields are refused, and
//! every key is checked: its PEM parses, its algorithm is the one named, its `kid` is the
//! SHA-256 of its SPKI.

use crate::kas::{KasAlg, KasPublicKey};
use crate::signing::{SignatureAlg, SigningPublicKeys, VerifyingKey};
use crate::Error;
use serde::{Deserialize, Serialize};

/// Largest `party.json` accepted.
pub const MAX_PARTY_JSON: usize = 256 * 1024;

/// A party's public descriptor (`party.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyDescriptor {
    /// ISO 3166-1 alpha-3 code, upper case (`PAK`, `USA`).
    pub party: String,
    /// Human name of the party.
    pub name: String,
    /// The signing authority (for example "Joint Staff Headquarters").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// The identifier of the party's national security policy (SPIF policy id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The party's signing public keys.
    pub signing_keys: SigningKeyEntries,
    /// The party's offline KAS public keys (from `accord keygen`).
    pub kas_keys: Vec<KasKeyEntry>,
    /// The party's node, once it runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeInfo>,
}

/// The two signing public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyEntries {
    /// ES384 or EdDSA.
    pub classical: SigningKeyEntry,
    /// ML-DSA-87.
    pub ml_dsa_87: SigningKeyEntry,
}

/// One signing public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyEntry {
    /// JWS algorithm name.
    pub alg: SignatureAlg,
    /// SHA-256 of the SPKI, lowercase hex.
    pub kid: String,
    /// One `PUBLIC KEY` PEM block.
    pub key: String,
}

impl SigningKeyEntry {
    /// Describe a verifying key.
    pub fn from_key(key: &VerifyingKey) -> Self {
        SigningKeyEntry {
            alg: key.alg(),
            kid: key.kid(),
            key: key.to_pem(),
        }
    }

    /// Parse and check the key.
    pub fn key(&self, field: &str) -> Result<VerifyingKey, Error> {
        let key = VerifyingKey::from_pem(&self.key)
            .map_err(|e| Error::Party(format!("{field}.key: {e}")))?;
        check_entry(field, self.alg, key.alg(), &self.kid, &key.kid())?;
        Ok(key)
    }
}

/// Check that a key entry's stated algorithm and key id are those of the key it holds.
fn check_entry<A: PartialEq + std::fmt::Display>(
    field: &str,
    stated_alg: A,
    key_alg: A,
    stated_kid: &str,
    key_kid: &str,
) -> Result<(), Error> {
    if key_alg != stated_alg {
        return Err(Error::Party(format!(
            "{field}: alg says {stated_alg} but the key is {key_alg}"
        )));
    }
    if key_kid != stated_kid {
        return Err(Error::Party(format!(
            "{field}.kid does not match the key (expected {key_kid})"
        )));
    }
    Ok(())
}

/// One KAS public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KasKeyEntry {
    /// The KAS algorithm name (`hybrid-p384-mlkem1024`, ...).
    pub alg: String,
    /// SHA-256 of the SPKI, lowercase hex.
    pub kid: String,
    /// One `PUBLIC KEY` PEM block.
    pub key: String,
}

impl KasKeyEntry {
    /// Describe a KAS public key.
    pub fn from_key(key: &KasPublicKey) -> Self {
        KasKeyEntry {
            alg: key.alg().as_str().to_string(),
            kid: key.kid(),
            key: key.to_pem(),
        }
    }

    /// Parse and check the key.
    pub fn key(&self, field: &str) -> Result<KasPublicKey, Error> {
        let alg: KasAlg = self
            .alg
            .parse()
            .map_err(|e| Error::Party(format!("{field}.alg: {e}")))?;
        let key = KasPublicKey::from_pem(&self.key)
            .map_err(|e| Error::Party(format!("{field}.key: {e}")))?;
        check_entry(field, alg, key.alg(), &self.kid, &key.kid())?;
        Ok(key)
    }
}

/// How to reach a party's node; written by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// The node's base URL (`https://...`).
    pub url: String,
    /// SHA-256 of the node's TLS certificate SPKI, lowercase hex (the pin).
    pub tls_spki_sha256: String,
    /// The node's online KAS public keys.
    pub kas_keys: Vec<KasKeyEntry>,
    /// The node's audit-log verifier key (C2SP signed-note verifier key text).
    pub log_verifier_key: String,
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Check an ISO 3166-1 alpha-3 style party code: three upper-case ASCII letters.
pub fn check_party_code(code: &str) -> Result<(), Error> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::Party(format!(
            "party code `{code}` is not an ISO 3166 trigraph (three upper-case letters, like PAK)"
        )))
    }
}

impl PartyDescriptor {
    /// Parse and validate `party.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_PARTY_JSON {
            return Err(Error::Party(format!(
                "party.json is larger than {MAX_PARTY_JSON} bytes"
            )));
        }
        let party: PartyDescriptor = serde_json::from_slice(bytes).map_err(|e| {
            // serde ends with " at line L column C": said once, first.
            let msg = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            Error::Party(format!(
                "party.json line {} column {}: {}",
                e.line(),
                e.column(),
                msg.strip_suffix(&suffix).unwrap_or(&msg)
            ))
        })?;
        party.validate()?;
        Ok(party)
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Check the code, every key, and the node pin.
    pub fn validate(&self) -> Result<(), Error> {
        check_party_code(&self.party)?;
        if self.name.trim().is_empty() {
            return Err(Error::Party("name is empty".into()));
        }
        self.signing_public_keys()?;
        self.kas_public_keys()?;
        if let Some(node) = &self.node {
            if !node.url.starts_with("https://") {
                return Err(Error::Party(format!(
                    "node.url `{}` must start with https://",
                    node.url
                )));
            }
            if !is_hex_sha256(&node.tls_spki_sha256) {
                return Err(Error::Party(
                    "node.tls_spki_sha256 must be 64 lowercase hex digits".into(),
                ));
            }
            for (i, k) in node.kas_keys.iter().enumerate() {
                k.key(&format!("node.kas_keys[{i}]"))?;
            }
        }
        Ok(())
    }

    /// The signing public keys, checked.
    pub fn signing_public_keys(&self) -> Result<SigningPublicKeys, Error> {
        let classical = self.signing_keys.classical.key("signing_keys.classical")?;
        let ml_dsa = self.signing_keys.ml_dsa_87.key("signing_keys.ml_dsa_87")?;
        SigningPublicKeys::new(classical, ml_dsa).map_err(|e| Error::Party(e.to_string()))
    }

    /// The offline KAS public keys, checked.
    pub fn kas_public_keys(&self) -> Result<Vec<KasPublicKey>, Error> {
        self.kas_keys
            .iter()
            .enumerate()
            .map(|(i, k)| k.key(&format!("kas_keys[{i}]")))
            .collect()
    }
}
