//! Sealing and opening: the streaming pipeline and every check, in order.
//!
//! Each step in a module of its own: `seal` (a stream into a container), `open` (every
//! check, then the plaintext), `verify` (the label checks a KAS makes from the manifest
//! alone, and those a label signer makes before signing), `inspect` (reading a
//! container without keys), and what they share: `plan` (the segment list of a
//! manifest), `pipeline` (the streaming stages and their buffers) and `metadata` (the
//! `encryptedMetadata` of each share). This module holds the segment sizes and the
//! progress callback that both directions take.

mod inspect;
mod metadata;
mod open;
mod pipeline;
mod plan;
mod seal;
mod verify;

pub use inspect::{inspect, Inspection};
pub use open::{open, OpenOptions, OpenSummary, ReleasedShare};
pub use seal::{seal, Recipient, SealOptions, SealSummary};
pub use verify::{check_unsigned, verify_label, UnsignedObject, VerifiedLabel};

/// Default plaintext segment size (OpenTDF's default).
pub const DEFAULT_SEGMENT_SIZE: u64 = 2 * 1024 * 1024;
/// Smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u64 = 16;
/// Largest segment size accepted when sealing or opening (bounds memory).
pub const MAX_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// A progress callback: called with the number of plaintext bytes just processed.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);
