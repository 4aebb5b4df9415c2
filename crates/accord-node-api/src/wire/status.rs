//! `GET /v1/status`: what a person of the node needs to see first when something fails:
//! who the node takes them for, the agreements it holds and their status, each
//! partner's reachability and deliveries, and what expires soon.

use serde::{Deserialize, Serialize};

/// Warn this many days before a person's credential or a node's certificate expires
/// (`accord status`, `accord node info`, the metrics' `accord_credentials_expiring`).
pub const WARN_CERTIFICATE_DAYS: i64 = 30;
/// Warn this many days before an agreement expires: its renewal needs both parties'
/// approvals and signatures.
pub const WARN_AGREEMENT_DAYS: i64 = 180;

/// The node's answer to `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStatus {
    /// The node's party.
    pub party: String,
    /// The person asking, as the node recognised them.
    pub person: String,
    /// Their status at the node: `active` (a suspended person is refused the route).
    pub person_status: String,
    /// When the node answered (RFC 3339).
    pub at: String,
    /// The node's software version.
    pub version: String,
    /// When the node's TLS certificate expires (RFC 3339), if it can be read.
    pub tls_not_after: Option<String>,
    /// Free disk space where the node keeps its data, in MiB, and the reserve it keeps.
    pub disk_free_mib: u64,
    /// The reserve (node.toml `disk_reserve_mib`).
    pub disk_reserve_mib: u64,
    /// Entries in the node's audit log.
    pub log_entries: u64,
    /// The agreements the node holds, each with its status now.
    pub agreements: Vec<AgreementState>,
    /// Every partner under an agreement in force.
    pub partners: Vec<PartnerState>,
}

/// An agreement as a node holds it, with its status at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementState {
    /// The agreement's id.
    pub id: String,
    /// Its version.
    pub version: u64,
    /// Its title.
    pub title: String,
    /// `draft`, `approved`, `countersigned`, `in-force`, `expired`, `terminated`, or
    /// `invalid` (it does not verify; the reasons say why).
    pub status: String,
    /// Why it has that status (rule `agreement-in-force`, or `agreement-valid` for one
    /// that does not verify).
    pub reasons: Vec<crate::rule::Reason>,
    /// The parties' codes.
    pub parties: Vec<String>,
    /// The scopes it covers.
    pub scopes: Vec<String>,
    /// Its classification ceiling, when it sets one.
    pub ceiling: Option<String>,
    /// When it takes effect (RFC 3339).
    pub effective_from: String,
    /// When it expires (RFC 3339).
    pub expires: String,
}

/// A partner node, as seen from this one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerState {
    /// The partner's party code.
    pub party: String,
    /// Its node's URL, from the agreement.
    pub url: String,
    /// The agreements in force with it.
    pub agreements: Vec<String>,
    /// Whether its node answered just now over mutual TLS with the pinned key.
    pub reachable: bool,
    /// Why not, when it did not.
    #[serde(default)]
    pub error: Option<String>,
    /// Objects the person asking sent it that are queued (not delivered yet): only
    /// their own sends, as `GET /v1/outbox` shows them.
    pub queued: u64,
    /// Objects of theirs it refused.
    pub refused: u64,
    /// Objects of theirs it received, with a receipt.
    pub delivered: u64,
    /// When the latest delivery of theirs to it ended (RFC 3339), if any.
    #[serde(default)]
    pub last_delivery: Option<String>,
    /// The last delivery error of their queued objects.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Entries of this node's log its witness cosigned since the node started.
    #[serde(default)]
    pub witness_cosigned: Option<u64>,
}
