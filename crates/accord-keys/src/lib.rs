//! Accord key files and party descriptors.
//!
//! Every party holds two key pairs, made by `accord keygen` (or [`keygen`]):
//!
//! * a **KAS key pair** ([`KasPrivateKey`], [`KasPublicKey`]): senders wrap the key
//!   shares of sealed objects to the public key; the party's key access service unwraps
//!   them. Default: hybrid P-384 + ML-KEM-1024 (CNSA 2.0 and classical together); also
//!   ML-KEM-1024, EC P-384/P-256 and RSA-2048 for OpenTDF interoperability ([`KasAlg`]).
//! * a **signing key pair** ([`SigningKey`], [`SigningPublicKeys`]): always two keys,
//!   a classical one (ES384 by default, or Ed25519) and an ML-DSA-87 one. Agreements are
//!   signed with both ([`SigningKey::sign_classical`], [`SigningKey::sign_ml_dsa`],
//!   checked with [`SigningPublicKeys::verify_both`]); sealed-object label assertions
//!   use the classical key as a JWS.
//!
//! and publishes a [`PartyDescriptor`] (`party.json`) with its code, name, authority,
//! policy and public keys; its node adds a [`NodeInfo`] later.
//!
//! # Files (PEM, RFC 7468)
//!
//! | file | mode | contents |
//! | --- | --- | --- |
//! | `kas.key` | 0600 | see [`kas`]: PKCS#8 `PRIVATE KEY` and/or `ML-KEM-1024 PRIVATE KEY` blocks |
//! | `kas.pub` | 0644 | one `PUBLIC KEY` (SPKI; for the hybrid, OID 1.3.6.1.5.5.7.6.63 as OpenTDF) |
//! | `signing.key` | 0600 | two `PRIVATE KEY` (PKCS#8) blocks: classical, then ML-DSA-87 |
//! | `signing.pub` | 0644 | two `PUBLIC KEY` (SPKI) blocks in the same order |
//! | `party.json` | 0644 | [`PartyDescriptor`] |
//! | `kas/<kid>.key` | 0600 | every KAS private key the node has had (see [`history`]) |
//! | `history.json` | 0644 | [`KeyHistory`]: each key the node has had, since when |
//!
//! Key ids (`kid`) are the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
//!
//! # Secrets
//! Private key files are created 0600 by the `open` call itself and never overwritten.
//! Private keys live in aws-lc-rs objects (which clear their memory on drop); every
//! byte copy (PEM text, DER) is held in [`zeroize::Zeroizing`]. No private key type
//! prints its key: their `Debug` shows only the algorithm and kid.
//!
//! ```
//! use accord_keys::{ClassicalAlg, KasAlg, KasPrivateKey, SigningKey};
//! let signer = SigningKey::generate(ClassicalAlg::Es384).unwrap();
//! let msg = b"agreement record";
//! let (a, b) = (signer.sign_classical(msg).unwrap(), signer.sign_ml_dsa(msg).unwrap());
//! signer.public_keys().verify_both(msg, &a, &b).unwrap();
//! let kas = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
//! assert_eq!(kas.public_key().alg().key_access_type(), "hybrid-wrapped");
//! ```
#![forbid(unsafe_code)]

pub mod der;
mod files;
pub mod history;
pub mod kas;
pub mod party;
pub mod pem;
pub mod pkcs11;
pub mod signing;

pub use files::{
    keygen, load_kas_private, load_kas_private_in, load_kas_public, load_party, load_signing_key,
    load_signing_key_in, load_signing_public, read_key_file, replace_file, write_private_file,
    write_public_file, KeygenOptions, KeygenOutput, KAS_KEY, KAS_PUB, PARTY_JSON, SIGNING_KEY,
    SIGNING_PUB,
};
pub use history::{keep_kas_key, load_kas_ring, load_kas_ring_in, KeyHistory};
pub use kas::{KasAlg, KasPrivateKey, KasPublicKey};
pub use party::{KasKeyEntry, NodeInfo, PartyDescriptor, SigningKeyEntries, SigningKeyEntry};
pub use pkcs11::{Token, TokenKey, TokenSpec};
pub use signing::{ClassicalAlg, SignatureAlg, SigningKey, SigningPublicKeys, VerifyingKey};

use std::path::PathBuf;

/// Everything that can go wrong with keys and party descriptors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed DER.
    #[error("malformed DER: {0}")]
    Der(String),
    /// Malformed PEM.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// An algorithm name Accord does not know.
    #[error("unknown algorithm: {0}")]
    UnknownAlgorithm(String),
    /// A key of the wrong kind or a rejected key.
    #[error("wrong key type: {0}")]
    WrongKeyType(String),
    /// A cryptographic operation failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    /// A PKCS#11 token refused, or could not be found or logged in to.
    #[error("PKCS#11 token: {0}")]
    Token(String),
    /// A signature did not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// An invalid party descriptor.
    #[error("invalid party descriptor: {0}")]
    Party(String),
    /// A file could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// An error in a named file.
    #[error("{}: {cause}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: Box<Error>,
    },
}

/// The key id of a DER SubjectPublicKeyInfo: lowercase hex SHA-256.
pub fn spki_kid(spki_der: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der).as_ref())
}
