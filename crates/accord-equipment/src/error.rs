//! The one error type of this crate.

/// What can be wrong with equipment input: always says which field or line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field of a record or item has a value that is not allowed.
    #[error("field `{field}`: {problem}")]
    Field {
        /// Where: `items[3].serial`.
        field: String,
        /// What is wrong, in words.
        problem: String,
    },
    /// The record is not JSON of the expected shape.
    #[error("record: {0}")]
    Json(String),
    /// A signature is missing, made by the wrong person, or does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// A record breaks a rule of its kind (who signs, what it holds).
    #[error("{0}")]
    Rule(String),
    /// A CSV import has bad rows: every one, each with its line number.
    #[error("{}", csv_lines(.0))]
    Csv(Vec<(usize, String)>),
}

fn csv_lines(rows: &[(usize, String)]) -> String {
    let mut out = format!(
        "the CSV has {} bad row{}; nothing was imported:",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    for (line, why) in rows.iter().take(crate::csv::MAX_REPORTED) {
        out.push_str(&format!("\n  line {line}: {why}"));
    }
    if rows.len() > crate::csv::MAX_REPORTED {
        out.push_str(&format!(
            "\n  ... and {} more",
            rows.len() - crate::csv::MAX_REPORTED
        ));
    }
    out
}

impl Error {
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
