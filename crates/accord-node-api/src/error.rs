//! One error type for the node, its directory and the person's client, so that the
//! command line reads one kind of error whichever it called. (The node turns its
//! database's errors into [`Error::Database`] where it calls the database.)

use std::path::PathBuf;

/// What went wrong, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The node home is missing, incomplete or inconsistent.
    #[error("node home {dir}: {msg}")]
    Home {
        /// The node home directory.
        dir: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Bad input from the caller (flags, files, request bodies).
    #[error("{0}")]
    Input(String),
    /// Something already exists (a person, a node home).
    #[error("{0}")]
    Exists(String),
    /// Something named does not exist (a person, an agreement).
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// A credential or certificate problem.
    #[error("credential: {0}")]
    Credential(String),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A request to a node failed (transport, or a refusal with its reasons).
    #[error("{url}: {msg}")]
    Http {
        /// The URL asked.
        url: String,
        /// What happened.
        msg: String,
    },
    /// A refusal said in one line (an agreement not loaded, a receipt that does not
    /// verify, a plan that leaves out a required party).
    #[error("{0}")]
    Refused(String),
    /// A node answered a request with a refusal other than access denied with reasons:
    /// its kind, its one line and any reasons, so that a caller can tell a malformed
    /// request from a checked and refused object or a partner's KAS that could not be
    /// reached without reading the text. The HTTP status is kept for the message only.
    #[error("the {party} node refused ({status}): {error}")]
    NodeRefused {
        /// The node's party.
        party: String,
        /// What sort of refusal.
        kind: crate::kind::Kind,
        /// The HTTP status it came with (for people to read; decide on `kind`).
        status: u16,
        /// The node's one line.
        error: String,
        /// The reasons it gave, if any.
        reasons: Vec<crate::wire::Reason>,
    },
    /// Access denied: every reason, one per line.
    #[error("access denied:\n{}", .0.iter().map(|r| format!("  - [{}] {}", r.rule, r.text)).collect::<Vec<_>>().join("\n"))]
    Denied(Vec<crate::wire::Reason>),
    /// A cryptographic operation failed.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// From the policies crate.
    #[error(transparent)]
    Spif(#[from] accord_spif::Error),
    /// From the keys crate.
    #[error(transparent)]
    Keys(#[from] accord_keys::Error),
    /// From the sealed-objects crate.
    #[error(transparent)]
    Tdf(#[from] accord_tdf::Error),
    /// From the agreements crate.
    #[error(transparent)]
    Agreement(#[from] accord_agreement::Error),
    /// From the audit log crate.
    #[error(transparent)]
    Log(#[from] accord_log::Error),
}

impl Error {
    /// A file error with its path.
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}
