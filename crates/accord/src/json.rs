//! The command line's JSON conventions (docs/json.md), shared by every command's
//! `--json` output: keys in snake_case, a reason as `{rule, text}`, times in RFC 3339,
//! and an error as `{"error": {message, causes, exit_code, reasons}}` on standard output.
//!
//! The node's HTTP API types (`accord_node_api::wire`) and the documents Accord reads
//! and writes (party.json, labels, clearances, receipts, ZTDF manifests) keep their own
//! documented shapes; a command prints its own types built from them.

use serde::Serialize;

/// Why: the rule a reason is about (kebab-case, as the node and the audit log name it:
/// `clearance`, `agreement-in-force`, `label`, ...) and the reason in words.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reason {
    /// The rule.
    pub rule: String,
    /// The reason in words.
    pub text: String,
}

impl Reason {
    /// A reason about `rule`.
    pub fn new(rule: &str, text: impl Into<String>) -> Reason {
        Reason {
            rule: rule.to_string(),
            text: text.into(),
        }
    }
}

/// Texts that all concern one rule (a label's validity, a SPIF access decision, an
/// agreement's status or verification) as reasons.
pub fn reasons<T: ToString>(rule: &str, texts: impl IntoIterator<Item = T>) -> Vec<Reason> {
    texts
        .into_iter()
        .map(|t| Reason::new(rule, t.to_string()))
        .collect()
}

/// The node's reasons (its API's `{rule, text}`), as the command line prints them.
pub fn from_wire(r: &[accord_node_api::wire::Reason]) -> Vec<Reason> {
    r.iter()
        .map(|r| Reason::new(r.rule.as_str(), r.text.clone()))
        .collect()
}

/// The full decision's reasons.
pub fn from_decision(r: &[accord_agreement::Reason]) -> Vec<Reason> {
    r.iter()
        .map(|r| Reason::new(r.rule.as_str(), r.text.clone()))
        .collect()
}

/// A time as RFC 3339 in UTC (`2026-12-02T03:00:00Z`), from seconds since the epoch.
pub fn unix_time(secs: u64) -> String {
    i64::try_from(secs).map_or_else(|_| secs.to_string(), time)
}

/// [`unix_time`] for a signed count of seconds (certificates' and credentials' expiry).
pub fn time(unix: i64) -> String {
    accord_agreement::Time::from_unix(unix).map_or_else(|_| unix.to_string(), |t| t.to_string())
}

/// Whether the command line asks for JSON: `--json` before any `--` (for a usage error
/// clap reports before the flag is parsed).
pub fn asked_in_args() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}
