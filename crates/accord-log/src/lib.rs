//! Tamper-evident audit log: an RFC 6962 Merkle tree over SHA-256, published as a
//! C2SP tiled transparency log (checkpoint + tiles, servable by any static web
//! server), with signed notes, cosignatures, proof files and a witness.
//!
//! * [`hash`], [`merkle`]: tree hashing, inclusion and consistency proofs.
//! * [`note`], [`checkpoint`]: c2sp.org/signed-note and tlog-checkpoint.
//! * [`tile`], [`source`]: c2sp.org/tlog-tiles paths and encodings; reading a log.
//! * [`writer`]: one durable writer per log, group commit, crash-safe publishing.
//! * [`verify`]: full verification of a published log.
//! * [`proof`]: c2sp.org/tlog-proof@v1 files.
//! * [`witness`], [`http`]: c2sp.org/tlog-witness add-checkpoint, server and client.
#![forbid(unsafe_code)]

pub mod checkpoint;
mod error;
pub mod hash;
pub mod http;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod source;
pub mod tile;
pub mod verify;
pub mod witness;
pub mod writer;

pub use error::Error;
pub use writer::{Appender, Log, LogOptions, OtherKeys};
