//! One error type for the node, the directory and the client.

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
    /// its HTTP status, its one line and any reasons, so that a caller can tell a
    /// malformed request (400) from a checked and refused object (422) or a partner's
    /// KAS that could not be reached (502) without reading the text.
    #[error("the {party} node refused ({status}): {error}")]
    NodeRefused {
        /// The node's party.
        party: String,
        /// The HTTP status.
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
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Database(format!("migration: {e}"))
    }
}
