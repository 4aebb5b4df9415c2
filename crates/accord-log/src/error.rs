//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing, proving or verifying an audit log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A signed note is malformed (syntax, encoding, limits).
    #[error("malformed note: {0}")]
    Note(String),
    /// A checkpoint body is malformed.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
    /// A verifier key, signing key or key file is malformed.
    #[error("malformed key: {0}")]
    Key(String),
    /// A signature from a known key failed to verify, or no known key signed.
    #[error("signature: {0}")]
    Signature(String),
    /// A Merkle proof is malformed or does not verify.
    #[error("proof: {0}")]
    Proof(String),
    /// A tlog-proof file is malformed.
    #[error("malformed proof file: line {line}: {msg}")]
    ProofFile {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        msg: String,
    },
    /// A tile or entry bundle is malformed.
    #[error("malformed tile {path}: {msg}")]
    Tile {
        /// The tile path, e.g. `tile/0/x001/234`.
        path: String,
        /// What was wrong.
        msg: String,
    },
    /// The log's content contradicts itself or its checkpoint.
    #[error("verification failed: {0}")]
    Verify(String),
    /// A witness request body is malformed.
    #[error("malformed witness request: {0}")]
    WitnessRequest(String),
    /// The witness refused a checkpoint (status code and reason).
    #[error("witness refused with HTTP {status}: {msg}")]
    WitnessRefused {
        /// HTTP status code the spec assigns to the refusal.
        status: u16,
        /// Why.
        msg: String,
    },
    /// A resource the log needs is missing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The log is locked by another writer.
    #[error("log {0} is locked by another writer")]
    Locked(PathBuf),
    /// The log writer has stopped (a previous I/O error, or it was closed).
    #[error("log writer stopped: {0}")]
    Stopped(String),
    /// An entry is too large for an entry bundle (uint16 length).
    #[error("entry of {0} bytes is larger than the 65535-byte limit")]
    EntryTooLarge(usize),
    /// Invalid argument or state for the operation.
    #[error("{0}")]
    Invalid(String),
    /// File system error, with the path involved.
    #[error("{path}: {err}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error (in the message; not repeated as a cause).
        err: std::io::Error,
    },
    /// HTTP transport error.
    #[error("HTTP {url}: {msg}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        msg: String,
    },
}

impl Error {
    /// Whether this error means the log (or proof) is not trustworthy, as opposed to a
    /// usage or input problem: the command line exits 1 for these and 2 for the rest.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            Error::Signature(_)
                | Error::Proof(_)
                | Error::Verify(_)
                | Error::Tile { .. }
                | Error::WitnessRefused { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}
