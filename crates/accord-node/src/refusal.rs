//! The refusal every component of the node answers with: an HTTP status (for now; the
//! kinds of #16 will replace it), one line, the reasons, and whether the audit log holds
//! it already. Below the components and the API types' parsers alike, so that neither
//! imports the other to say no.

use crate::wire::{BadRequest, Reason, Rule};

/// A refusal: HTTP status, one line, and reasons.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// One line.
    pub error: String,
    /// Reasons.
    pub reasons: Vec<Reason>,
    /// Whether the refusal is in the audit log already (a decision's deny entry): a
    /// route logs every other refusal of a known caller as it answers it.
    pub logged: bool,
}

impl Refusal {
    pub(crate) fn new(status: u16, rule: impl Into<Rule>, text: impl Into<String>) -> Refusal {
        let text = text.into();
        Refusal {
            status,
            error: text.clone(),
            reasons: vec![Reason::new(rule, text)],
            logged: false,
        }
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Refusal {
        Refusal {
            status: 500,
            error: format!("internal error: {e}"),
            reasons: vec![],
            logged: false,
        }
    }
}

impl From<BadRequest> for Refusal {
    /// 400 with the rule `request`, so that a handler can use `?` on the parsers below.
    fn from(e: BadRequest) -> Self {
        Refusal {
            status: 400,
            error: e.0.clone(),
            reasons: vec![Reason::new(Rule::Request, e.0)],
            logged: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_request_is_a_400_refusal_with_the_rule_request() {
        let r: super::Refusal = crate::wire::parse_seal_plan(b"{}").unwrap_err().into();
        assert_eq!((r.status, r.reasons[0].rule.as_str()), (400, "request"));
        assert_eq!(r.error, r.reasons[0].text);
    }
}
