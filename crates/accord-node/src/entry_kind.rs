//! What an audit entry is a decision about: the `kind` every entry carries in the log,
//! and the label the metrics count decisions by. In a module of its own, below both the
//! audit entries and the metrics.

use serde::Serialize;

/// What an audit entry is a decision about (its `kind` in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A rewrap: a key share released or not (a person's, or a partner's on a
    /// person's behalf).
    Rewrap,
    /// A label applied (a seal plan, or the signing of a label).
    Label,
    /// A received object fetched from the inbox.
    Fetch,
    /// An object queued for a partner.
    Send,
    /// An object delivered to a partner (or finally refused by it).
    Deliver,
    /// An object received from a partner.
    Receive,
    /// An agreement offered by a partner node.
    Agreement,
    /// A change to the directory: a person enrolled, suspended, resumed, given a role,
    /// a credential issued or revoked.
    Directory,
    /// A person refused what their role does not allow (`accord_agreement::Role`).
    Role,
    /// An equipment record made, signed, received from a partner or refused; an
    /// account opened; items imported.
    Equipment,
    /// A change to the node's own keys (`accord key rotate`).
    Key,
}

impl EntryKind {
    /// Every kind, in the order of their index.
    pub const ALL: [EntryKind; 11] = [
        EntryKind::Rewrap,
        EntryKind::Label,
        EntryKind::Fetch,
        EntryKind::Send,
        EntryKind::Deliver,
        EntryKind::Receive,
        EntryKind::Agreement,
        EntryKind::Directory,
        EntryKind::Role,
        EntryKind::Equipment,
        EntryKind::Key,
    ];

    /// As the log (and the metrics) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Rewrap => "rewrap",
            EntryKind::Label => "label",
            EntryKind::Fetch => "fetch",
            EntryKind::Send => "send",
            EntryKind::Deliver => "deliver",
            EntryKind::Receive => "receive",
            EntryKind::Agreement => "agreement",
            EntryKind::Directory => "directory",
            EntryKind::Role => "role",
            EntryKind::Equipment => "equipment",
            EntryKind::Key => "key",
        }
    }
}
