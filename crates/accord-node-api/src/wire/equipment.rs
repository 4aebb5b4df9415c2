//! Equipment accountability over HTTP (`/v1/equipment/...`, and `/v1/fed/equipment/...`
//! between nodes): accounts, items, drafts of records, signed records, reconciliation.
//! The records themselves are `accord_equipment::Record`, JSON as that crate writes it.

use accord_equipment::{Differences, Line};
use serde::{Deserialize, Serialize};

/// `POST /v1/equipment/accounts` (an officer): open an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountNew {
    /// Its name (`USA-FMS-1`).
    pub id: String,
    /// The accountable custodian: a person of the node with the role `custodian`.
    pub custodian: String,
    /// Their alternate (also a custodian), when any.
    #[serde(default)]
    pub alternate: Option<String>,
    /// The marking its items and records carry, under the node's national policy
    /// (`CONFIDENTIAL//REL TO USA, PAK//SCOPE EQUIPMENT`).
    pub marking: String,
}

/// An account as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountView {
    /// Name.
    pub id: String,
    /// Custodian.
    pub custodian: String,
    /// Alternate.
    pub alternate: Option<String>,
    /// The marking of its items and records.
    pub marking: String,
    /// Items in it, on hand or not.
    pub items: u64,
}

/// An item as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemView {
    /// Nomenclature or short title.
    pub nomenclature: String,
    /// Serial number.
    pub serial: String,
    /// `cci`, `eeum`, `keymat` or `controlled`.
    pub class: String,
    /// Case or letter of offer.
    pub case: Option<String>,
    /// The party holding title.
    pub title_holder: String,
    /// The party it came from, when transferred to this one.
    pub provider: Option<String>,
    /// The agreement it came or went under.
    pub agreement: Option<String>,
    /// Its account.
    pub account: String,
    /// The hand-receipt holder, when any.
    pub holder: Option<String>,
    /// `serviceable`, `unserviceable` or `condemned`.
    pub condition: String,
    /// `in-service`, `in-repair`, `transferred`, `destroyed`, `lost` or `returned`.
    pub status: String,
    /// The partner it was transferred to.
    pub transferred_to: Option<String>,
    /// Its label's marking.
    pub marking: String,
}

/// `GET /v1/equipment/items/{nomenclature}/{serial}`: an item and its custody history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemHistory {
    /// The item now.
    pub item: ItemView,
    /// The records naming it, oldest first.
    pub history: Vec<RecordView>,
}

/// A record as people see it (the signed record itself: `GET .../records/{id}/signed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordView {
    /// Id.
    pub id: String,
    /// Kind (`transfer`, `receipt`, ...).
    pub kind: String,
    /// The party that made it.
    pub origin: String,
    /// The account (the origin's).
    pub account: String,
    /// The partner it crosses to or came from.
    pub partner: Option<String>,
    /// The agreement.
    pub agreement: Option<String>,
    /// The record it answers.
    pub refers: Option<String>,
    /// When it was made (RFC 3339).
    pub at: String,
    /// SHA-256 of what its signers signed: the audit logs of both parties name it.
    pub digest: String,
    /// `pending` (awaiting signatures), `done`, `open` (received, awaiting this party's
    /// answer) or `answered`.
    pub state: String,
    /// Who signs, in order.
    pub signers: Vec<String>,
    /// Who must sign next, while pending.
    pub next_signer: Option<String>,
    /// How many items it names.
    pub items: u64,
    /// What it found or did, in words.
    pub summary: String,
    /// When the partner took it (a record that crosses).
    pub delivered: Option<String>,
    /// When it was answered.
    pub answered: Option<String>,
    /// When an answer is due (an incident: 24 hours after it was made).
    pub due: Option<String>,
    /// True when the answer is due and not given.
    pub overdue: bool,
}

/// `POST /v1/equipment/drafts`: what a custodian (or holder, or witness) asks the node
/// to draft; the node answers the record's body, which the signers sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// The record's kind.
    pub kind: String,
    /// The account (of this node).
    pub account: String,
    /// The items, when the kind names items (an inventory: those sighted; a receipt:
    /// those that arrived; a check answer: left empty, the node lists exactly the items
    /// the provider transferred).
    #[serde(default)]
    pub items: Vec<Line>,
    /// The partner, for a transfer or a check request.
    #[serde(default)]
    pub partner: Option<String>,
    /// The agreement, for a transfer or a check request.
    #[serde(default)]
    pub agreement: Option<String>,
    /// The record answered (receipt, incident-ack, check-answer, check-result).
    #[serde(default)]
    pub refers: Option<String>,
    /// The holder (hand receipt and return).
    #[serde(default)]
    pub holder: Option<String>,
    /// The two witnesses (destruction).
    #[serde(default)]
    pub witnesses: Vec<String>,
    /// Words: what happened (incident), the discrepancy explained (receipt).
    #[serde(default)]
    pub note: Option<String>,
}

/// The answer to `POST /v1/equipment/records`: the record's state after this signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submitted {
    /// Record id.
    pub id: String,
    /// `pending` or `done`.
    pub state: String,
    /// Its digest.
    pub digest: String,
    /// Who must sign next, while pending.
    pub next_signer: Option<String>,
    /// What it found or did, in words.
    pub summary: String,
    /// The differences it records (receipt, inventory, check result).
    pub differences: Option<Differences>,
}

/// The answer to `POST /v1/equipment/accounts/{id}/import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imported {
    /// The account.
    pub account: String,
    /// Items added.
    pub items: u64,
}

/// `GET /v1/equipment/reconcile/{partner}/{agreement}`: the two parties' ledgers of the
/// items transferred between them under an agreement, as this node knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileView {
    /// The partner.
    pub partner: String,
    /// The agreement.
    pub agreement: String,
    /// This party's role: `provider` (it shipped) and/or `receiver`.
    pub role: String,
    /// Items shipped (by transfer records).
    pub shipped: u64,
    /// Items the receiver receipted.
    pub receipted: u64,
    /// Items shipped and not receipted (a receipt's discrepancy, or no receipt yet).
    pub not_receipted: Vec<accord_equipment::ItemKey>,
    /// The latest end-use check answered (its id), when any.
    pub last_check: Option<String>,
    /// What the receiver last reported holding, against what was receipted.
    pub differences: Option<Differences>,
}
