//! Agreements between parties: the signed document that makes an exchange lawful, its
//! lifecycle, hybrid signatures and the full access decision.
//!
//! - [`Agreement`]: the document. TOML for people ([`Agreement::from_toml`],
//!   [`Agreement::to_toml`]); RFC 8785 canonical JSON ([`canonical`]) for signing.
//! - Lifecycle ([`verify`], [`status`]): approvals, signatures and terminations are
//!   signed records in the document's history; the status at a time is computed from
//!   them, never stored.
//! - Signatures ([`signature`]): ECDSA P-384 and ML-DSA-87 together, both required.
//! - The decision ([`decision`]): person + label + agreement + requesting party + time →
//!   permit or deny, with every reason that applies; [`transfer`]: may an object pass
//!   from one party's node to another's.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amendment;
pub mod canonical;
pub mod decision;
mod document;
mod error;
mod lifecycle;
mod person;
mod reader;
mod role;
pub mod signature;
pub mod transfer;
mod when;

pub use decision::{
    decide, decide_national, not_held, revoked_key, Decision, NationalRequest, Person,
    PersonStatus, Reason, Request, Rule, Wrapping,
};
pub use document::{
    Agreement, Body, KasKey, Node, Party, Predecessor, Record, RecordKind, Scope, Translation,
    MAX_PARTIES, MAX_RECORDS, RECORD_CONTEXT,
};
pub use error::Error;
pub use lifecycle::{
    dated_ahead, status, verify, verify_renewal, Checked, Finding, Invalid, KeyChange, Status,
    StatusReport,
};
pub use person::{ClearanceSource, PersonFile, MAX_PERSON_JSON};
pub use role::{Duty, Role};
pub use signature::{HybridSignature, Signer, SigningKeys};
pub use transfer::{admit, Transfer};
pub use when::Time;
