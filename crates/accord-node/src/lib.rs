//! A party's node: the directory of its people, the agreements its party signed, its
//! key access service (KAS) and its audit log, served over mutually authenticated TLS.
//!
//! The KAS releases a key share only to the node's own people, only when the full
//! decision of `accord-agreement` permits (or, for an object that names no agreement,
//! the national policy alone), and only after the decision is durable in the party's
//! audit log. Every decision, permit or deny, is logged with its reasons.
//!
//! * [`home`]: the node home made by `accord init` (keys, policies, config, log);
//!   [`disk`]: the room it keeps free for its audit log and database.
//! * [`store`]: the database (SQLite or PostgreSQL, one code path through sqlx).
//! * [`directory`]: people and their credentials; [`credential`]: the bundle format.
//! * [`agreements`]: loading, verifying and replacing agreements.
//! * [`node`]: authentication, decisions, rewrap, labelling.
//! * [`server`]: HTTPS (rustls + hyper + axum), graceful stop; [`tls`]: pinning;
//!   [`admission`]: how much request body it holds in memory at once.
//! * [`client`]: seal and open through a node; [`wire`]: the HTTP API's bodies.
//! * [`partners`]: partner nodes from agreements in force; [`exchange`]: send, deliver,
//!   receive (outbox, inbox); [`receipt`]: the receiver's signed receipts.
//! * [`crossborder`]: originator control, a partner's KAS asked for its share.
//! * [`witnessing`]: each node witnesses its partners' audit logs and has its own
//!   checkpoints cosigned by theirs.
//! * [`sandbox`]: two parties' nodes under one agreement (`accord quickstart`, tests).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
mod agreement_sync;
pub mod agreements;
mod audit;
mod cache;
mod caller;
mod crossborder;
mod decision;
pub mod directory;
mod disk;
mod exchange;
pub mod home;
mod kas;
mod labelling;
mod node;
pub mod partners;
mod refusal;
pub mod sandbox;
pub mod server;
mod store;
mod strangers;
mod witnessing;

pub use accord_node_api::Error;
pub use caller::Peer;
pub use disk::DEFAULT_RESERVE_MIB;
pub use exchange::DeliveryOptions;
pub use node::{Node, Refusal};
pub use store::PersonRecord;
