//! Sealed objects: ZTDF / OpenTDF TDF3 containers (schemaVersion 4.3.0) with the
//! label bound to them, post-quantum key wrapping, key splits and streaming.
//!
//! * [`seal`] encrypts a stream into a container: 2 MiB AES-256-GCM segments (random
//!   nonce each, `nonce ‖ ciphertext ‖ tag`), encrypted in parallel on every core with
//!   flat memory; the data key is the XOR of one random share per split, each share
//!   wrapped for one or more KAS keys ([`keyaccess`]); the label travels as a signed
//!   `handling` assertion ([`assertion`]) and as the policy's `dataAttributes`
//!   ([`label`] documents the mapping).
//! * [`open`] checks everything before releasing plaintext: key shares (exit code 3
//!   when a share's key is missing), policy bindings, root signature, assertion
//!   signatures against trusted signers, label/policy agreement, then each segment's
//!   tag against the signed list as it decrypts. A byte range decrypts only the
//!   segments it needs.
//! * [`inspect`] reads the label, signer, key access and segments without any key.
//!
//! For a party node whose KAS releases shares online: [`verify_label`] does every label
//! check from the manifest alone (the KAS has no payload key), [`unwrap_share`] unwraps
//! one key access object and checks its policy binding, [`ReleasedShare`] hands shares
//! released that way to [`open`], and [`AssertionSigner`] lets the node sign the label
//! assertion for a client that seals. [`SealOptions::agreement`] names the agreement
//! the object is exchanged under ([`agreement_of`] reads it back).
//!
//! The container format is in [`zip`], the manifest in [`manifest`].
#![forbid(unsafe_code)]

pub mod assertion;
mod crypto;
pub mod jcs;
pub mod keyaccess;
pub mod label;
pub mod manifest;
mod tdf;
pub mod zip;

pub use assertion::AssertionSigner;
pub use keyaccess::unwrap_share;
pub use label::{agreement_of, label_attributes, AttributeLabel, BoundLabel, LabelSummary};
pub use manifest::Manifest;
pub use tdf::{
    check_unsigned, inspect, open, seal, verify_label, Inspection, OpenOptions, OpenSummary,
    Progress, Recipient, ReleasedShare, SealOptions, SealSummary, UnsignedObject, VerifiedLabel,
    DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What went wrong, grouped by [`Error::kind`] into the CLI's exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed container (ZIP).
    #[error("malformed container: {0}")]
    Container(String),
    /// Malformed or out-of-bounds manifest.
    #[error("malformed manifest: {0}")]
    Manifest(String),
    /// An algorithm or type this implementation does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A bad label.
    #[error("bad label: {0}")]
    Label(String),
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// An integrity failure: segment, root signature, policy binding, assertion, label/policy.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// An assertion signed by a key that is not trusted.
    #[error("untrusted signer: {0}")]
    Untrusted(String),
    /// No key could be released for a share.
    #[error("no key released: {0}")]
    NoKey(String),
    /// A key problem.
    #[error(transparent)]
    Keys(#[from] accord_keys::Error),
    /// A cryptographic primitive failed.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// I/O.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        cause: std::io::Error,
    },
}

/// The three kinds of failure the CLI distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or usage (exit 2).
    Input,
    /// Integrity or signature failure (exit 1).
    Integrity,
    /// No key could be released (exit 3).
    NoKey,
}

impl Error {
    pub(crate) fn io(what: &str, cause: std::io::Error) -> Self {
        Error::Io {
            what: what.to_string(),
            cause,
        }
    }

    /// The kind, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Integrity(_) | Error::Untrusted(_) => ErrorKind::Integrity,
            Error::NoKey(_) => ErrorKind::NoKey,
            _ => ErrorKind::Input,
        }
    }
}

pub(crate) fn b64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub(crate) fn b64_decode(s: &str, field: &str) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(s.trim())
        .map_err(|e| Error::Manifest(format!("{field} is not valid base64: {e}")))
}
