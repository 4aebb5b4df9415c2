//! Receipts: the receiving node's signed statement that it holds an object.
//!
//! A receipt names the object, its SHA-256 and size, the two parties, the agreement,
//! the time and the receiver's audit log index of the acceptance, and carries both
//! halves of the receiver's hybrid party signature (ECDSA P-384 and ML-DSA-87), the keys
//! the agreement lists for that party. The sender verifies it before marking a delivery
//! done, and both sides keep it: neither can later claim the transfer did not happen.

use crate::Error;
use accord_agreement::{HybridSignature, Signer, SigningKeys};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Domain separation for the signed bytes.
const CONTEXT: &[u8] = b"accord receipt v1\n";

/// What the receiver states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// The object id (the sealed object's policy uuid).
    pub object_id: String,
    /// SHA-256 of the sealed object's bytes, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The sending party.
    pub from: String,
    /// The receiving party (the signer).
    pub to: String,
    /// The agreement the exchange falls under.
    pub agreement: String,
    /// When the receiver accepted it (RFC 3339).
    pub received: String,
    /// The receiver's audit log index of the acceptance.
    pub log_index: u64,
}

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// What is stated.
    pub body: ReceiptBody,
    /// ECDSA P-384 signature (fixed r || s), base64.
    pub ecdsa_p384: String,
    /// ML-DSA-87 signature, base64.
    pub ml_dsa_87: String,
}

fn message(body: &ReceiptBody) -> Result<Vec<u8>, Error> {
    let mut m = CONTEXT.to_vec();
    m.extend(serde_json::to_vec(body).map_err(|e| Error::Input(e.to_string()))?);
    Ok(m)
}

impl Receipt {
    /// Sign `body` with the receiving party's key.
    pub fn sign(body: ReceiptBody, signer: &dyn Signer) -> Result<Receipt, Error> {
        let sig = signer
            .sign(&message(&body)?)
            .map_err(|e| Error::Crypto(format!("signing a receipt: {e}")))?;
        Ok(Receipt {
            body,
            ecdsa_p384: B64.encode(sig.ecdsa_p384),
            ml_dsa_87: B64.encode(sig.ml_dsa_87),
        })
    }

    /// Check both signatures against the receiving party's keys from the agreement.
    pub fn verify(&self, keys: &SigningKeys) -> Result<(), Error> {
        let bad = |m: String| Error::Refused(format!("receipt for {}: {m}", self.body.object_id));
        let sig = HybridSignature {
            ecdsa_p384: B64
                .decode(&self.ecdsa_p384)
                .map_err(|_| bad("ecdsa_p384 is not base64".into()))?,
            ml_dsa_87: B64
                .decode(&self.ml_dsa_87)
                .map_err(|_| bad("ml_dsa_87 is not base64".into()))?,
        };
        accord_agreement::signature::verify(keys, &message(&self.body)?, &sig).map_err(bad)
    }

    /// As stored and sent: compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> ReceiptBody {
        ReceiptBody {
            object_id: "0b8f1c9e-2c57-4c43-9a77-5b0f5f3a2d10".into(),
            sha256: "00".repeat(32),
            size: 10240,
            from: "PAK".into(),
            to: "USA".into(),
            agreement: "CISMOA-2026".into(),
            received: "2026-11-23T18:00:00Z".into(),
            log_index: 7,
        }
    }

    #[test]
    fn a_receipt_verifies_and_an_altered_one_does_not() {
        let key = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        let keys = Signer::public_keys(&key).unwrap();
        let r = Receipt::sign(body(), &key).unwrap();
        r.verify(&keys).unwrap();
        let back: Receipt = serde_json::from_str(&r.to_json()).unwrap();
        back.verify(&keys).unwrap();
        let mut altered = r.clone();
        altered.body.size = 10241;
        let e = altered.verify(&keys).unwrap_err().to_string();
        assert!(e.contains("does not verify"), "{e}");
        let other = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        assert!(r.verify(&Signer::public_keys(&other).unwrap()).is_err());
    }
}
