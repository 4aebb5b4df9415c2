//! The one error type of this crate.
//!
//! Every variant names where the problem is: the source (a file name or `standard input`),
//! and for XML and JSON the line and column, so that a person can open the file and fix it.

use std::fmt;

/// A position in a source text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`.
    pub fn of_offset(text: &[u8], offset: usize) -> Position {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Everything that can go wrong reading policies, labels, clearances and markings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not well-formed XML.
    #[error("{source_name}: malformed XML at {at}: {reason}")]
    Xml {
        /// File name or `standard input`.
        source_name: String,
        /// Where the parser stopped.
        at: Position,
        /// What the parser found wrong.
        reason: String,
    },
    /// The input is not well-formed JSON or does not have the documented shape.
    #[error("{source_name}: malformed JSON at {at}: {reason}")]
    Json {
        /// File name or `standard input`.
        source_name: String,
        /// Where the parser stopped.
        at: Position,
        /// What the parser found wrong.
        reason: String,
    },
    /// Well-formed input whose content is wrong (a SPIF, label or clearance that breaks
    /// the format's rules: missing attribute, duplicate, unknown reference, ...).
    #[error("{source_name}: {at}: {reason}")]
    Invalid {
        /// File name or `standard input`.
        source_name: String,
        /// The element at fault.
        at: Position,
        /// What is wrong, in words.
        reason: String,
    },
    /// The input is larger than the limit for its kind.
    #[error("{source_name}: {size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// File name or `standard input`.
        source_name: String,
        /// Size found.
        size: usize,
        /// Limit for this kind of input.
        limit: usize,
    },
    /// The input nests elements deeper than the limit.
    #[error("{source_name}: {at}: elements nested deeper than {limit} levels")]
    TooDeep {
        /// File name or `standard input`.
        source_name: String,
        /// The element that went too deep.
        at: Position,
        /// Depth limit.
        limit: usize,
    },
    /// The input is empty.
    #[error("{source_name}: no data to parse (the input is empty)")]
    Empty {
        /// File name or `standard input`.
        source_name: String,
    },
    /// The input is in none of the formats this crate reads.
    #[error("{source_name}: unrecognised format: {reason}")]
    UnknownFormat {
        /// File name or `standard input`.
        source_name: String,
        /// Why it was not recognised.
        reason: String,
    },
    /// No loaded policy has this name or identifier.
    #[error("unknown policy {0:?} (no loaded policy has this name or OID)")]
    UnknownPolicy(String),
    /// A label or clearance refers to a classification the policy does not define.
    #[error("policy {policy}: unknown classification {value}")]
    UnknownClassification {
        /// Policy name.
        policy: String,
        /// The name or LACV looked for.
        value: String,
    },
    /// A label or clearance refers to a category the policy does not define.
    #[error("policy {policy}: unknown category {value}")]
    UnknownCategory {
        /// Policy name.
        policy: String,
        /// A description of what was looked for (tag set, type, name or LACV).
        value: String,
    },
    /// The same value appears twice where it may appear once.
    #[error("{0}")]
    Duplicate(String),
    /// A label or clearance belongs to another policy than the one asked for.
    #[error("policy mismatch: {0}")]
    PolicyMismatch(String),
    /// A marking string could not be read as a label under the policy.
    #[error("cannot read marking {marking:?} under policy {policy}: {reason}")]
    Marking {
        /// The text given.
        marking: String,
        /// Policy name.
        policy: String,
        /// What could not be matched, and where.
        reason: String,
    },
    /// A label cannot be translated into the requested policy.
    #[error("cannot translate from policy {from} to {to}: {reason}")]
    Translation {
        /// Source policy name.
        from: String,
        /// Target policy name or id.
        to: String,
        /// What has no equivalent.
        reason: String,
    },
    /// A file or directory of policies could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The path that failed.
        path: String,
        /// The operating system's reason.
        error: std::io::Error,
    },
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
