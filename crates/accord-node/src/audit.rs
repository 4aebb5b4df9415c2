//! The node's audit entries: one JSON object per decision (never keys or plaintext),
//! made durable in the audit log before an answer is given; and every refusal of a known
//! caller written as the route answers it.

use crate::caller::Caller;
pub use crate::entry_kind::EntryKind;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_node_api::wire::Reason;
use serde::Serialize;

/// An audit log entry: one JSON object per decision (never keys or plaintext). Made in
/// one way, [`Node::entry`], with what each decision knows filled in.
#[derive(Debug, Serialize)]
pub struct AuditEntry<'a> {
    /// What the decision is about.
    pub kind: EntryKind,
    /// RFC 3339 time of the decision.
    pub time: String,
    /// The deciding party.
    pub party: &'a str,
    /// The person, when recognised.
    pub person: Option<&'a str>,
    /// The credential's SHA-256 fingerprint.
    pub credential: Option<&'a str>,
    /// `permit` or `deny`.
    pub decision: &'a str,
    /// The object id (policy uuid), when known.
    pub object: Option<&'a str>,
    /// The label's marking, when known.
    pub marking: Option<&'a str>,
    /// The agreement, when the object names one.
    pub agreement: Option<&'a str>,
    /// The request nonce (rewrap) or manifest digest (label).
    pub request: Option<&'a str>,
    /// The partner party of an exchange (send, deliver, receive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<&'a str>,
    /// The person a directory change is about (`directory` entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    /// What a directory change was: `enrol`, `suspend`, `resume`, `role`, `renew`,
    /// `revoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<&'a str>,
    /// The change in words (`member → officer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// Every reason.
    pub reasons: &'a [Reason],
}

impl AuditEntry<'_> {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Node {
    pub(crate) async fn log_entries(
        &self,
        entries: Vec<Vec<u8>>,
    ) -> Result<std::ops::Range<u64>, Refusal> {
        self.appender
            .append_many(entries)
            .await
            .map_err(|e| Refusal::internal(format!("audit log: {e}")))
    }

    /// An entry of `kind`, decided now by this party, naming nothing else: callers
    /// fill in what they know of the request.
    pub(crate) fn entry<'a>(
        &'a self,
        kind: EntryKind,
        permit: bool,
        reasons: &'a [Reason],
    ) -> AuditEntry<'a> {
        self.entry_at(kind, (self.clock)().to_string(), permit, reasons)
    }

    /// [`Node::entry`] at `time` (RFC 3339): a decision made at a time of its own.
    pub(crate) fn entry_at<'a>(
        &'a self,
        kind: EntryKind,
        time: String,
        permit: bool,
        reasons: &'a [Reason],
    ) -> AuditEntry<'a> {
        self.metrics
            .decision(kind, permit, reasons.iter().map(|r| r.rule.as_str()));
        AuditEntry {
            kind,
            time,
            party: self.party(),
            person: None,
            credential: None,
            decision: if permit { "permit" } else { "deny" },
            object: None,
            marking: None,
            agreement: None,
            request: None,
            partner: None,
            subject: None,
            change: None,
            detail: None,
            reasons,
        }
    }

    pub(crate) async fn log_refusal(
        &self,
        kind: EntryKind,
        caller: Option<&Caller>,
        fp: Option<&str>,
        request: Option<&str>,
        r: &Refusal,
    ) {
        if caller.is_none() && !self.strangers.admit() {
            return;
        }
        let entry = AuditEntry {
            person: caller.map(|c| c.record.id.as_str()),
            credential: caller.map(|c| c.fingerprint.as_str()).or(fp),
            request,
            ..self.entry(kind, false, &r.reasons)
        };
        if let Err(e) = self.appender.append(entry.bytes()).await {
            tracing::error!(error = %e, "could not log a refusal");
        }
    }

    /// Answer a known caller: a refusal that is not in the audit log yet (any but a
    /// decision's, which logged its own entry first) goes there now, so that every
    /// refusal of a known caller is accounted for (a malformed body, a classical return
    /// key, a stale request alike). Failures of the node itself (5xx) are not decisions.
    pub(crate) async fn answered<T>(
        &self,
        kind: EntryKind,
        caller: &Caller,
        r: Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        match r {
            Err(mut e) if !e.logged && !e.kind.is_failure() => {
                self.log_refusal(kind, Some(caller), None, None, &e).await;
                e.logged = true;
                Err(e)
            }
            r => r,
        }
    }
}
