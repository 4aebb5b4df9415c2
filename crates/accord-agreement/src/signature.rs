//! Hybrid signatures: every record carries an ECDSA P-384 signature AND an ML-DSA-87
//! signature over the same bytes, and is valid only when both are present and both
//! verify (CNSA 2.0 transition: a break of either algorithm alone forges nothing).
//!
//! Keys are those of `accord-keys` (`signing.key`, `party.json`); the agreement holds
//! each public key as its DER SubjectPublicKeyInfo, the same bytes whose SHA-256 is the
//! key id (`kid`) in `party.json`. Signing goes through the narrow [`Signer`] trait so
//! that a key file, a token or an HSM can sign without this crate knowing how keys are
//! stored.

use crate::Error;
use accord_keys::{SignatureAlg, SigningKey, VerifyingKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

/// A party's public signing keys: both halves of the hybrid, as DER SPKI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SigningKeys {
    /// ECDSA P-384 public key, DER SubjectPublicKeyInfo, base64 in documents.
    #[serde(with = "b64")]
    pub ecdsa_p384: Vec<u8>,
    /// ML-DSA-87 public key, DER SubjectPublicKeyInfo, base64 in documents.
    #[serde(with = "b64")]
    pub ml_dsa_87: Vec<u8>,
}

impl SigningKeys {
    /// From the public keys of `accord-keys`; the classical key must be ES384.
    pub fn from_public(keys: &accord_keys::SigningPublicKeys) -> Result<Self, Error> {
        if keys.classical.alg() != SignatureAlg::Es384 {
            return Err(Error::Key(format!(
                "agreements are signed with ECDSA P-384 (ES384) and ML-DSA-87; this key's classical half is {} (make one with `accord keygen` without --signing ed25519)",
                keys.classical.alg()
            )));
        }
        Ok(SigningKeys {
            ecdsa_p384: keys.classical.spki_der().to_vec(),
            ml_dsa_87: keys.ml_dsa.spki_der().to_vec(),
        })
    }

    /// Key ids (SHA-256 of each SPKI, hex), as `party.json` names them.
    pub fn kids(&self) -> (String, String) {
        (
            accord_keys::spki_kid(&self.ecdsa_p384),
            accord_keys::spki_kid(&self.ml_dsa_87),
        )
    }

    fn parse(&self) -> Result<(VerifyingKey, VerifyingKey), String> {
        let ec = VerifyingKey::from_spki_der(&self.ecdsa_p384)
            .map_err(|e| format!("ecdsa-p384: {e}"))?;
        if ec.alg() != SignatureAlg::Es384 {
            return Err(format!("ecdsa-p384: a {} key, not ECDSA P-384", ec.alg()));
        }
        let ml =
            VerifyingKey::from_spki_der(&self.ml_dsa_87).map_err(|e| format!("ml-dsa-87: {e}"))?;
        if ml.alg() != SignatureAlg::MlDsa87 {
            return Err(format!("ml-dsa-87: a {} key, not ML-DSA-87", ml.alg()));
        }
        Ok((ec, ml))
    }
}

/// A hybrid signature: both halves over the same message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HybridSignature {
    /// ECDSA P-384 with SHA-384, fixed-size r || s (96 bytes), base64 in documents.
    #[serde(with = "b64")]
    pub ecdsa_p384: Vec<u8>,
    /// ML-DSA-87 signature (4627 bytes), base64 in documents.
    #[serde(with = "b64")]
    pub ml_dsa_87: Vec<u8>,
}

/// Something that can make hybrid signatures: a key file, a token, an HSM.
pub trait Signer {
    /// The public keys this signer signs for; a party is recognised by them.
    fn public_keys(&self) -> Result<SigningKeys, Error>;
    /// Sign `message` with both algorithms.
    fn sign(&self, message: &[u8]) -> Result<HybridSignature, Error>;
}

impl Signer for SigningKey {
    fn public_keys(&self) -> Result<SigningKeys, Error> {
        SigningKeys::from_public(SigningKey::public_keys(self))
    }

    fn sign(&self, message: &[u8]) -> Result<HybridSignature, Error> {
        Signer::public_keys(self)?;
        Ok(HybridSignature {
            ecdsa_p384: self
                .sign_classical(message)
                .map_err(|e| Error::Key(e.to_string()))?,
            ml_dsa_87: self
                .sign_ml_dsa(message)
                .map_err(|e| Error::Key(e.to_string()))?,
        })
    }
}

/// Verify both halves; the error says which half failed (or is missing), in words.
pub fn verify(keys: &SigningKeys, message: &[u8], sig: &HybridSignature) -> Result<(), String> {
    let (ec, ml) = keys.parse()?;
    let mut problems = Vec::new();
    if sig.ecdsa_p384.is_empty() {
        problems.push("ECDSA P-384 signature missing".to_string());
    } else if ec.verify(message, &sig.ecdsa_p384).is_err() {
        problems.push("ECDSA P-384 signature does not verify".to_string());
    }
    if sig.ml_dsa_87.is_empty() {
        problems.push("ML-DSA-87 signature missing".to_string());
    } else if ml.verify(message, &sig.ml_dsa_87).is_err() {
        problems.push("ML-DSA-87 signature does not verify".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(" and "))
    }
}

/// Check that public keys parse and are of the right algorithms, so that a bad key is
/// caught when the agreement is drafted, not when the first signature fails.
pub fn check_keys(keys: &SigningKeys, field: &str) -> Result<(), Error> {
    keys.parse()
        .map(|_| ())
        .map_err(|problem| match problem.split_once(": ") {
            Some((sub, rest)) => Error::field(format!("{field}.{sub}"), rest),
            None => Error::field(field, problem),
        })
}

pub(crate) mod b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }
}

pub(crate) fn decode_b64(text: &str, field: &str) -> Result<Vec<u8>, Error> {
    B64.decode(text.trim())
        .map_err(|e| Error::field(field, format!("not base64 ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_keys::ClassicalAlg;

    #[test]
    fn both_halves_must_verify() {
        let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let keys = Signer::public_keys(&signer).unwrap();
        check_keys(&keys, "k").unwrap();
        let sig = Signer::sign(&signer, b"message").unwrap();
        assert_eq!(sig.ecdsa_p384.len(), 96);
        verify(&keys, b"message", &sig).unwrap();
        assert!(verify(&keys, b"messagf", &sig).is_err());

        let mut no_pq = sig.clone();
        no_pq.ml_dsa_87.clear();
        assert_eq!(
            verify(&keys, b"message", &no_pq).unwrap_err(),
            "ML-DSA-87 signature missing"
        );
        let mut bad_ec = sig.clone();
        bad_ec.ecdsa_p384[10] ^= 1;
        assert_eq!(
            verify(&keys, b"message", &bad_ec).unwrap_err(),
            "ECDSA P-384 signature does not verify"
        );
        let other = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        assert!(verify(&Signer::public_keys(&other).unwrap(), b"message", &sig).is_err());
    }

    #[test]
    fn ed25519_keys_cannot_sign_agreements() {
        let signer = SigningKey::generate(ClassicalAlg::Ed25519).unwrap();
        assert!(Signer::sign(&signer, b"m")
            .unwrap_err()
            .to_string()
            .contains("ES384"));
    }

    #[test]
    fn swapped_keys_are_refused() {
        let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
        let mut keys = Signer::public_keys(&signer).unwrap();
        std::mem::swap(&mut keys.ecdsa_p384, &mut keys.ml_dsa_87);
        let e = check_keys(&keys, "parties[0].signing-keys")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("field `parties[0].signing-keys.ecdsa-p384`"),
            "{e}"
        );
    }
}
