//! Equipment accountability under an agreement: the records both parties keep of the
//! controlled items one transferred to the other.
//!
//! An agreement of the CIS-MOA kind exists so that one party (the provider) may transfer
//! controlled equipment (radios, data links, cryptographic appliques) to another (the
//! receiver), which must then account for every item by serial number: custody, hand
//! receipts, inventories, incidents, and the provider's end-use checks. This crate is
//! the format and the rules, with no storage and no network:
//!
//! - [`item`]: an item (nomenclature + serial number), its accounting class, condition
//!   and status, each parsed once into a type;
//! - [`record`]: every transaction is a [`Record`]: a body in RFC 8785 canonical JSON,
//!   signed (ECDSA P-384 + ML-DSA-87, as agreements are) by each person it names, then
//!   attested by their node's party key, which vouches that the signing keys are that
//!   party's people's;
//! - [`rules`]: who must sign each kind of record, and what its body must hold;
//! - [`inventory`]: the differences between what a custodian sighted and the ledger;
//! - [`reconcile`]: a provider's transfer records against the receiver's answer to an
//!   end-use check;
//! - [`csv`]: items imported from a barcode scanner's CSV export, every bad row named by
//!   its line, nothing half-read.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod csv;
mod error;
pub mod inventory;
pub mod item;
pub mod reconcile;
pub mod record;
pub mod rules;

pub use error::Error;
pub use inventory::{differences, Differences, Sighting};
pub use item::{AccountingClass, Condition, Item, ItemKey, Status};
pub use reconcile::{reconcile, Reconciliation};
pub use record::{Attestation, Body, Kind, Line, Record, Reference, Signature};
