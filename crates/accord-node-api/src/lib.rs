//! A party node's HTTP API, below both the node and the person's client so that
//! neither can reach into the other: what crosses the wire, how it is parsed, and what
//! both ends must agree on.
//!
//! * [`wire`]: the request and response bodies, their size limits and their parsers;
//!   [`rule`]: the rule a reason names.
//! * [`kind`]: what sort of refusal a node gave; [`http`]: the one table that spells
//!   a kind as an HTTP status and reads it back.
//! * [`exchange`]: the outbox and inbox entries a person lists.
//! * [`credential`]: the bundle a person holds; [`pki`]: certificates and pins;
//!   [`tls`]: pinned mutual TLS for both ends; [`pkcs12`]: the credential as a PKCS#12
//!   file for browsers.
//! * [`receipt`]: the receiver's signed receipts; [`share`]: the cipher of a
//!   released share.
//! * [`client`]: a person's client (seal and open through their node, send, list).
//! * [`opentdf`]: what OpenTDF clients send and receive (Connect, `kas.proto`, the
//!   signed request token).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod credential;
mod error;
pub mod exchange;
pub mod http;
pub mod kind;
/// OpenTDF's wire side: Connect unary, `kas.proto` messages, signed request tokens.
pub mod opentdf;
pub mod pkcs12;
pub mod pki;
pub mod receipt;
pub mod rule;
pub mod share;
pub mod tls;
pub mod wire;

pub use error::Error;
pub use kind::Kind;
