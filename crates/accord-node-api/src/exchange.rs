//! The exchange as the API shows it: the outbox and inbox entries a person lists, and
//! the outbox query. The node's rows (with the files it keeps objects in) are its own.

use crate::receipt::Receipt;
use crate::wire::{check_object_id, BadRequest, Reason};

/// One object this node sends to a partner, and how its delivery stands.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutboxItem {
    /// Object id.
    pub id: String,
    /// The receiving party.
    pub to: String,
    /// Who sent it.
    pub person: String,
    /// The agreement.
    pub agreement: String,
    /// The label's marking.
    pub marking: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// When it was queued (RFC 3339).
    pub queued: String,
    /// `queued`, `delivered` or `refused`.
    pub state: String,
    /// Delivery attempts made.
    pub attempts: u64,
    /// The last transport error, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why the partner (or this node) refused it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// The partner's signed receipt, once delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// What `accord inbox` lists for one received object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboxItem {
    /// Object id.
    pub id: String,
    /// The label's marking.
    pub marking: String,
    /// The sending party.
    pub from: String,
    /// When it was received (RFC 3339).
    pub received: String,
    /// Bytes.
    pub size: u64,
    /// The agreement.
    pub agreement: String,
}

/// Which outbox entries to list (`GET /v1/outbox?id=&state=&limit=`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxFilter {
    /// One object.
    pub id: Option<String>,
    /// `queued`, `delivered` or `refused`.
    pub state: Option<String>,
    /// At most this many, the most recent.
    pub limit: Option<u64>,
}

impl OutboxFilter {
    /// The id is a UUID and the state one of the three.
    pub fn check(&self) -> Result<(), BadRequest> {
        if let Some(id) = &self.id {
            check_object_id(id)?;
        }
        match self.state.as_deref() {
            None | Some("queued" | "delivered" | "refused") => Ok(()),
            Some(other) => Err(BadRequest(format!(
                "state must be queued, delivered or refused, not {other:?}"
            ))),
        }
    }
}
