//! Exchange of sealed objects between partner nodes: a person sends an object to a
//! partner party (the outbox), the node delivers it with retries, the partner's node
//! checks and keeps it (the inbox) and answers with a signed receipt, kept on both
//! sides. Objects stream to and from disk: they may be larger than memory.
//!
//! Both ends decide. The sender's node refuses to queue what the agreement does not
//! allow or what the person could not read themselves; the receiver checks again with
//! its own policies and the sender's key from the agreement, since it trusts nothing
//! the sender says. Every decision, either way, goes to that node's audit log.
//!
//! Delivery is at least once, acceptance idempotent by sender and object id (a retried
//! delivery of the same bytes gets the same receipt), so the pair is exactly once: a
//! crash of either node, or a partner that is down, loses nothing and duplicates
//! nothing. Objects are held per (sender, object id): an id is chosen by whoever seals
//! the object, so one partner's object never keeps out or replaces another's. A receipt
//! is given only for the bytes whose row was committed, and a kept file is named by its
//! sender and bytes, so that deliveries (or sends) racing each other under one id never
//! overwrite the file a row names.

use crate::refusal::Refusal;
use accord_node_api::wire::{self};
use accord_node_api::Kind;
use std::time::Duration;

/// Largest sealed object a node accepts (64 GiB).
pub const MAX_OBJECT: u64 = 64 << 30;

/// Delivery retry schedule: the first retry after `RETRY_FIRST`, doubling up to the
/// cap in [`DeliveryOptions`].
const RETRY_FIRST_MS: i64 = 250;

/// How the node delivers its outbox.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The longest wait between two attempts.
    pub retry_cap: Duration,
    /// Deliveries in flight at once.
    pub parallel: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            retry_cap: Duration::from_secs(60),
            parallel: 8,
        }
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) use crate::store::rfc3339;

/// An object id is a UUID: checked before it names a file.
pub fn check_object_id(id: &str) -> Result<(), Refusal> {
    wire::check_object_id(id).map_err(Refusal::from)
}

fn check_code(code: &str) -> Result<(), Refusal> {
    accord_keys::party::check_party_code(code).map_err(|e| {
        Refusal::new(
            Kind::BadRequest,
            accord_node_api::wire::Rule::Request,
            e.to_string(),
        )
    })
}

mod accept;
mod attempt;
mod audit;
mod blobs;
pub(crate) use blobs::checked_file_name;
mod delivery;
mod inbox;
mod receive;
mod send;
mod store;
#[cfg(test)]
mod tests;

pub use blobs::Stored;
pub(crate) use blobs::{clear_spool, prune_partials, SpoolWriter};
pub use delivery::deliver_loop;
