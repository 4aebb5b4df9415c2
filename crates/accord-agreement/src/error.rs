//! The one error type of this crate.

/// Everything that can go wrong reading, writing, signing or checking an agreement.
///
/// Verification failures of a well-formed document are not errors: they are findings
/// returned by [`crate::verify`]. Errors are for input that cannot be read at all, or for
/// an operation that cannot be performed (signing with a key of no party, for example).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not TOML or JSON at all (syntax error), with the parser's location.
    #[error("{format} syntax error: {message}")]
    Syntax {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field is missing, unknown, of the wrong type or has a value that is not allowed.
    #[error("field `{field}`: {problem}")]
    Field {
        /// The path of the field, such as `parties[1].signing-keys.ml-dsa-87`.
        field: String,
        /// What is wrong with it, in words.
        problem: String,
    },
    /// A time could not be read.
    #[error("invalid time {value:?}: {problem}")]
    Time {
        /// The text that was given.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A value cannot be written as canonical JSON (RFC 8785).
    #[error("cannot canonicalize: {0}")]
    Canonical(String),
    /// A signing key is malformed or a signature could not be made.
    #[error("key error: {0}")]
    Key(String),
    /// An operation is not allowed in the agreement's present state.
    #[error("{0}")]
    Lifecycle(String),
    /// A person file is malformed.
    #[error("person: {0}")]
    Person(String),
    /// A policy or label problem reported by the policy library.
    #[error("policy: {0}")]
    Policy(String),
}

impl Error {
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
