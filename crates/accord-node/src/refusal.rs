//! The refusal every component of the node answers with: its kind, one line, the
//! reasons, and whether the audit log holds it already. It says nothing of HTTP: the
//! router alone spells a kind as a status (`accord_node_api::http`).

use accord_node_api::wire::{BadRequest, Reason, Rule};
pub use accord_node_api::Kind;

/// A refusal: its kind, one line, and reasons.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What sort of refusal.
    pub kind: Kind,
    /// One line.
    pub error: String,
    /// Reasons.
    pub reasons: Vec<Reason>,
    /// Whether the refusal is in the audit log already (a decision's deny entry): a
    /// route logs every other refusal of a known caller as it answers it.
    pub logged: bool,
}

impl Refusal {
    pub(crate) fn new(kind: Kind, rule: impl Into<Rule>, text: impl Into<String>) -> Refusal {
        let text = text.into();
        Refusal {
            kind,
            error: text.clone(),
            reasons: vec![Reason::new(rule, text)],
            logged: false,
        }
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Refusal {
        Refusal {
            kind: Kind::Internal,
            error: format!("internal error: {e}"),
            reasons: vec![],
            logged: false,
        }
    }
}

impl From<BadRequest> for Refusal {
    /// A bad request with the rule `request`, so that a handler can use `?` on the
    /// API's parsers.
    fn from(e: BadRequest) -> Self {
        Refusal {
            kind: Kind::BadRequest,
            error: e.0.clone(),
            reasons: vec![Reason::new(Rule::Request, e.0)],
            logged: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn a_bad_request_is_a_refusal_with_the_rule_request() {
        let r: super::Refusal = accord_node_api::wire::parse_seal_plan(b"{}")
            .unwrap_err()
            .into();
        assert_eq!(
            (r.kind, r.reasons[0].rule.as_str()),
            (Kind::BadRequest, "request")
        );
        assert_eq!(r.error, r.reasons[0].text);
    }
}
