//! The wire side of the OpenTDF platform surface an Accord node serves
//! (`docs/design/opentdf-kas.md`): the Connect unary protocol's pieces and the
//! `kas.proto` messages, pure (no I/O, no async) so that the node's edge, its tests'
//! client and the fuzzer share one parser.
//!
//! * [`kas`]: the messages (`PublicKey`, `Rewrap` and the request inside its signed
//!   token, `GetWellKnownConfiguration`) in both Connect codecs.
//! * [`connect`]: error codes and their HTTP statuses, the error body, bounded gzip,
//!   `Connect-Timeout-Ms`.
//! * [`oidc`]: tokens another party signed: an external OpenID issuer's discovery
//!   document, key set and access tokens, and a client assertion's certificate.
//! * [`srt`]: the signed request token (a compact JWS), its time checks and signature,
//!   JWKs and their thumbprints, and the client's return-leg public key.
//!
//! Both codecs are accepted because OpenTDF's clients differ: the Go SDK and
//! otdf-python 0.11 (connect-go and connect-python) send binary protobuf
//! (`application/proto`), otdf-python gzipped; web-sdk (connect-web) sends JSON
//! ("protojson"). The binary reader is written here rather than generated: the
//! messages are few and flat, and a hand-written reader can say exactly which message,
//! field and byte was wrong.
//!
//! Every parser here refuses hostile input with an [`Error`] naming what and where;
//! none panics. Callers bound the body first ([`MAX_BODY`], compressed and inflated).

pub mod connect;
pub mod kas;
pub mod oidc;
pub mod srt;

#[cfg(test)]
mod tests;

pub use connect::{inflate_gzip, timeout_ms, Code, ConnectError};
pub use kas::{
    decode_public_key_request, decode_public_key_response, decode_rewrap_request,
    decode_wellknown_request, decode_wellknown_response, encode_public_key_request,
    encode_public_key_response, encode_rewrap_request, encode_rewrap_response, encode_wellknown,
    Codec, KeyAccess, KeyAccessObjectRef, KeyAccessRewrapResult, Outcome, PolicyBinding, PolicyRef,
    PolicyRequest, PolicyRewrapResult, PublicKeyRequest, PublicKeyResponse, RewrapRequest,
    RewrapResponse, UnsignedRewrapRequest, MAX_DEPTH,
};
pub use srt::{client_key, ClientKey, Curve, Jwk, Jws, SignedRequestToken, Times};

/// Largest request body read, both as sent (compressed) and once inflated: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;
/// Most key access objects in one rewrap request, over all its policies (as
/// [`crate::wire::MAX_OBJECTS`] for Accord's own route).
pub const MAX_KAOS: usize = 1024;

/// What was wrong with an OpenTDF request, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Malformed binary protobuf: the message, the field and the byte offset.
    #[error("{0}")]
    Protobuf(String),
    /// Malformed protojson.
    #[error("{message} (JSON): {cause}")]
    Json {
        /// The message being read.
        message: &'static str,
        /// The parser's complaint, with its line and column.
        cause: String,
    },
    /// Something larger than its bound.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
    /// A gzip body that does not inflate.
    #[error("gzip body: {0}")]
    Gzip(String),
    /// A well-formed message that asks for something malformed (no key access
    /// objects, too many).
    #[error("{0}")]
    Request(String),
    /// A signed request token that does not parse, or uses a refused algorithm.
    #[error("signed request token: {0}")]
    Token(String),
    /// A signed request token outside its time bounds.
    #[error("signed request token: {0}")]
    TokenTime(String),
    /// A signed request token whose signature does not verify.
    #[error("signed request token: signature: {0}")]
    Signature(String),
    /// A compact JWS (other than the signed request token, such as a DPoP proof) that
    /// does not parse, or uses a refused algorithm.
    #[error("JWS: {0}")]
    Jws(String),
    /// A compact JWS whose signature does not verify.
    #[error("JWS signature: {0}")]
    JwsSignature(String),
    /// An external issuer's discovery document or key set that is malformed or not
    /// accepted.
    #[error("issuer: {0}")]
    Issuer(String),
    /// A JSON Web Key that is malformed or not accepted.
    #[error("JWK: {0}")]
    Jwk(String),
    /// The request's `clientPublicKey` (the return leg's key) is malformed or not
    /// accepted.
    #[error("clientPublicKey: {0}")]
    ClientKey(String),
}

impl Error {
    /// The Connect code a node answers this error with: `resource_exhausted` for a
    /// bound, `unauthenticated` for a token out of time or not verifying,
    /// `invalid_argument` for everything malformed.
    pub fn code(&self) -> Code {
        match self {
            Error::TooLarge { .. } => Code::ResourceExhausted,
            Error::TokenTime(_) | Error::Signature(_) | Error::JwsSignature(_) => {
                Code::Unauthenticated
            }
            _ => Code::InvalidArgument,
        }
    }

    /// This error as a Connect error body.
    pub fn to_connect(&self) -> ConnectError {
        ConnectError::new(self.code(), self.to_string())
    }
}
