//! Receipts: the receiving node's signed statement that it holds an object.
//!
//! A receipt names the object, its SHA-256 and size, the two parties, the agreement,
//! the time and the receiver's audit log index of the acceptance, and carries both
//! halves of the receiver's hybrid party signature (ECDSA P-384 and ML-DSA-87), the keys
//! the agreement lists for that party. The sender verifies it before marking a delivery
//! done, and both sides keep it: neither can later claim the transfer did not happen.
//!
//! A node receiving a batch of objects signs once for the batch: each object's body is
//! a leaf of an RFC 6962 Merkle tree (the hashing of the audit log), the signature is
//! over the tree's size and root, and each object's receipt carries its inclusion
//! proof. So every receipt still stands alone (its body, proof and signature verify
//! without the others), while the two signatures, the costliest part of a small
//! delivery, are made and checked once per batch.

use crate::Error;
use accord_agreement::{HybridSignature, Signer, SigningKeys};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Domain separation for the signed bytes.
const CONTEXT: &[u8] = b"accord receipt v1\n";
/// Domain separation for the signed bytes of a batch.
const BATCH_CONTEXT: &str = "accord receipt batch v1\n";
/// Largest batch a receipt may claim (a proof is then at most 32 hashes).
const MAX_BATCH: u64 = 1 << 32;

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
    /// When the receipt was signed for a batch: where this body sits in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchProof>,
    /// ECDSA P-384 signature (fixed r || s), base64.
    pub ecdsa_p384: String,
    /// ML-DSA-87 signature, base64.
    pub ml_dsa_87: String,
}

/// Where a receipt's body sits in the batch that was signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchProof {
    /// Objects in the batch (leaves of the tree).
    pub size: u64,
    /// This body's leaf.
    pub index: u64,
    /// The RFC 6962 inclusion proof of the leaf, lower-case hex hashes.
    pub proof: Vec<String>,
}

/// The tree of a batch's receipt bodies, each perfect subtree hashed once (the proofs
/// of all the leaves ask for the same nodes again and again).
#[derive(Default)]
struct Tree {
    leaves: Vec<accord_log::hash::Hash>,
    nodes: std::collections::HashMap<(u32, u64), accord_log::hash::Hash>,
}

impl accord_log::merkle::NodeSource for Tree {
    fn node(
        &mut self,
        height: u32,
        index: u64,
    ) -> Result<accord_log::hash::Hash, accord_log::Error> {
        if height == 0 {
            return self.leaves.get(index as usize).copied().ok_or_else(|| {
                accord_log::Error::Proof(format!("leaf {index} is beyond the batch"))
            });
        }
        if let Some(h) = self.nodes.get(&(height, index)) {
            return Ok(*h);
        }
        let left = self.node(height - 1, 2 * index)?;
        let right = self.node(height - 1, 2 * index + 1)?;
        let h = accord_log::hash::node_hash(&left, &right);
        self.nodes.insert((height, index), h);
        Ok(h)
    }
}

fn body_json(body: &ReceiptBody) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| Error::Input(e.to_string()))
}

fn message(body: &ReceiptBody) -> Result<Vec<u8>, Error> {
    let mut m = CONTEXT.to_vec();
    m.extend(body_json(body)?);
    Ok(m)
}

/// The signed bytes of a batch: its size and Merkle root.
fn batch_message(size: u64, root: &[u8]) -> Vec<u8> {
    format!("{BATCH_CONTEXT}{size}\n{}\n", hex::encode(root)).into_bytes()
}

impl Receipt {
    /// Sign `body` with the receiving party's key.
    pub fn sign(body: ReceiptBody, signer: &dyn Signer) -> Result<Receipt, Error> {
        let sig = signer
            .sign(&message(&body)?)
            .map_err(|e| Error::Crypto(format!("signing a receipt: {e}")))?;
        Ok(Receipt {
            body,
            batch: None,
            ecdsa_p384: B64.encode(sig.ecdsa_p384),
            ml_dsa_87: B64.encode(sig.ml_dsa_87),
        })
    }

    /// Sign `bodies` with one signature (a plain receipt for a batch of one), each
    /// receipt carrying its inclusion proof; in the order given.
    pub fn sign_batch(
        bodies: Vec<ReceiptBody>,
        signer: &dyn Signer,
    ) -> Result<Vec<Receipt>, Error> {
        if bodies.len() <= 1 {
            return bodies
                .into_iter()
                .map(|b| Receipt::sign(b, signer))
                .collect();
        }
        let mut tree = Tree::default();
        for b in &bodies {
            tree.leaves
                .push(accord_log::hash::leaf_hash(&body_json(b)?));
        }
        let size = tree.leaves.len() as u64;
        let root = accord_log::merkle::subtree_hash(&mut tree, 0, size)
            .map_err(|e| Error::Crypto(format!("a batch receipt's root: {e}")))?;
        let sig = signer
            .sign(&batch_message(size, &root))
            .map_err(|e| Error::Crypto(format!("signing a batch of receipts: {e}")))?;
        let (ecdsa_p384, ml_dsa_87) = (B64.encode(sig.ecdsa_p384), B64.encode(sig.ml_dsa_87));
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let proof = accord_log::merkle::inclusion_proof(&mut tree, i as u64, size)
                    .map_err(|e| Error::Crypto(format!("a batch receipt's proof: {e}")))?;
                Ok(Receipt {
                    body,
                    batch: Some(BatchProof {
                        size,
                        index: i as u64,
                        proof: proof.iter().map(hex::encode).collect(),
                    }),
                    ecdsa_p384: ecdsa_p384.clone(),
                    ml_dsa_87: ml_dsa_87.clone(),
                })
            })
            .collect()
    }

    /// The bytes the signatures are over: for a batch receipt, those of the batch's
    /// root as the proof implies it (so receipts of one batch have the same message,
    /// and one check of the signatures serves them all).
    pub fn signed_message(&self) -> Result<Vec<u8>, Error> {
        let Some(b) = &self.batch else {
            return message(&self.body);
        };
        let bad = |m: String| Error::Refused(format!("receipt for {}: {m}", self.body.object_id));
        if b.size < 2 || b.size > MAX_BATCH || b.index >= b.size {
            return Err(bad(format!(
                "batch index {} of size {} is not a batch position",
                b.index, b.size
            )));
        }
        let proof = b
            .proof
            .iter()
            .map(|h| match hex::decode(h) {
                Ok(v) if v.len() == 32 => Ok(v),
                _ => Err(bad(format!(
                    "batch proof hash {h:?} is not 32 bytes of hex"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = accord_log::hash::leaf_hash(&body_json(&self.body)?);
        let root = accord_log::merkle::root_from_inclusion_proof(b.index, b.size, &leaf, &proof)
            .map_err(|e| bad(format!("batch proof: {e}")))?;
        Ok(batch_message(b.size, &root))
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
        accord_agreement::signature::verify(keys, &self.signed_message()?, &sig).map_err(bad)
    }

    /// Verify receipts that may share batch signatures: each distinct signed message
    /// and signature pair is checked once.
    pub fn verify_all<'a>(
        receipts: impl IntoIterator<Item = &'a Receipt>,
        keys: &SigningKeys,
    ) -> Result<(), Error> {
        let mut checked: Vec<(Vec<u8>, &str, &str)> = Vec::new();
        for r in receipts {
            let m = r.signed_message()?;
            let seen = checked
                .iter()
                .any(|(cm, e, d)| *cm == m && *e == r.ecdsa_p384 && *d == r.ml_dsa_87);
            if !seen {
                r.verify(keys)?;
                checked.push((m, &r.ecdsa_p384, &r.ml_dsa_87));
            }
        }
        Ok(())
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

    #[test]
    fn batch_receipts_each_verify_alone_and_detect_any_change() {
        let key = accord_keys::SigningKey::generate(accord_keys::ClassicalAlg::Es384).unwrap();
        let keys = Signer::public_keys(&key).unwrap();
        for n in [1usize, 2, 3, 5, 8, 13] {
            let bodies: Vec<ReceiptBody> = (0..n)
                .map(|i| ReceiptBody {
                    log_index: i as u64,
                    size: 100 + i as u64,
                    ..body()
                })
                .collect();
            let rs = Receipt::sign_batch(bodies.clone(), &key).unwrap();
            assert_eq!(rs.len(), n);
            assert_eq!(rs[0].batch.is_some(), n > 1);
            Receipt::verify_all(&rs, &keys).unwrap();
            for (r, b) in rs.iter().zip(&bodies) {
                assert_eq!(&r.body, b);
                let back: Receipt = serde_json::from_str(&r.to_json()).unwrap();
                back.verify(&keys).unwrap();
                let mut altered = r.clone();
                altered.body.sha256 = "11".repeat(32);
                assert!(altered.verify(&keys).is_err());
                assert!(Receipt::verify_all([r, &altered], &keys).is_err());
                if let Some(b) = &r.batch {
                    let mut moved = r.clone();
                    moved.batch.as_mut().unwrap().index = (b.index + 1) % b.size;
                    assert!(moved.verify(&keys).is_err(), "n={n}");
                    let mut shorter = r.clone();
                    shorter.batch.as_mut().unwrap().proof.pop();
                    assert!(shorter.verify(&keys).is_err());
                    let mut bad_hex = r.clone();
                    bad_hex.batch.as_mut().unwrap().proof[0] = "zz".into();
                    let e = bad_hex.verify(&keys).unwrap_err().to_string();
                    assert!(e.contains("not 32 bytes of hex"), "{e}");
                    let mut huge = r.clone();
                    huge.batch.as_mut().unwrap().size = u64::MAX;
                    assert!(huge.verify(&keys).is_err());
                }
            }
        }
    }
}
