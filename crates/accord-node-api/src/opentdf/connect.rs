//! The Connect unary protocol's pieces a server needs (connectrpc.com/docs/protocol):
//! error codes with their HTTP statuses, the JSON error body, bounded gzip inflation of
//! request bodies and the `Connect-Timeout-Ms` header.

use std::io::Read;

use super::Error;

/// A Connect error code (the ones an Accord node answers with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// `invalid_argument`: the request is malformed, whatever the node's state.
    InvalidArgument,
    /// `unauthenticated`: no valid credentials.
    Unauthenticated,
    /// `permission_denied`: the caller may not do this.
    PermissionDenied,
    /// `not_found`: no such thing (a key for an algorithm the node does not hold).
    NotFound,
    /// `resource_exhausted`: a bound or a rate limit.
    ResourceExhausted,
    /// `internal`: the node broke one of its own invariants.
    Internal,
    /// `unimplemented`: the procedure (or an encoding) is not served.
    Unimplemented,
    /// `unavailable`: try again later.
    Unavailable,
    /// `failed_precondition`: the node is not in the state the request needs.
    FailedPrecondition,
    /// `deadline_exceeded`: the caller's `Connect-Timeout-Ms` ran out.
    DeadlineExceeded,
}

impl Code {
    /// Every code here.
    pub const ALL: [Code; 10] = [
        Code::InvalidArgument,
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::NotFound,
        Code::ResourceExhausted,
        Code::Internal,
        Code::Unimplemented,
        Code::Unavailable,
        Code::FailedPrecondition,
        Code::DeadlineExceeded,
    ];

    /// The code as Connect spells it in error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::Unauthenticated => "unauthenticated",
            Code::PermissionDenied => "permission_denied",
            Code::NotFound => "not_found",
            Code::ResourceExhausted => "resource_exhausted",
            Code::Internal => "internal",
            Code::Unimplemented => "unimplemented",
            Code::Unavailable => "unavailable",
            Code::FailedPrecondition => "failed_precondition",
            Code::DeadlineExceeded => "deadline_exceeded",
        }
    }

    /// The HTTP status of a unary error response with this code (the protocol's
    /// "Error Codes" table).
    pub fn http_status(self) -> u16 {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => 400,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::NotFound => 404,
            Code::ResourceExhausted => 429,
            Code::Internal => 500,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::DeadlineExceeded => 504,
        }
    }

    /// Read a code as spelled in an error body (a client reading a node's answer).
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Connect error: sent with [`Code::http_status`] and `Content-Type:
/// application/json` whatever the request's codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// The code.
    pub code: Code,
    /// One line for people.
    pub message: String,
}

impl ConnectError {
    /// The content type of every Connect error body.
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// An error with its code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ConnectError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status to send it with.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The body: `{"code":"...","message":"..."}`.
    pub fn to_json(&self) -> Vec<u8> {
        let body = serde_json::json!({"code": self.code.as_str(), "message": self.message});
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Read an error body (a client reading a node's answer); `None` when it is not
    /// a Connect error with a known code.
    pub fn from_json(body: &[u8]) -> Option<ConnectError> {
        #[derive(serde::Deserialize)]
        struct Body {
            code: String,
            #[serde(default)]
            message: Option<String>,
        }
        let b: Body = serde_json::from_slice(body).ok()?;
        Some(ConnectError {
            code: Code::parse(&b.code)?,
            message: b.message.unwrap_or_default(),
        })
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ConnectError {}

/// Inflate a `Content-Encoding: gzip` body, refusing it once it passes `max` bytes
/// (the inflated bound; bounding the compressed body is the caller's, before it reads
/// it). Concatenated gzip members are read as one stream, as Go's reader does. An empty
/// body inflates to nothing: Connect servers "must not attempt to decompress
/// zero-length HTTP request content".
pub fn inflate_gzip(bytes: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Error::Gzip(e.to_string()))?;
    if out.len() > max {
        return Err(Error::TooLarge {
            what: "the inflated gzip body",
            limit: max,
        });
    }
    Ok(out)
}

/// The milliseconds of a `Connect-Timeout-Ms` header: 1 to 10 ASCII digits (surrounding
/// spaces allowed), else `None` (the header is then ignored, as an absent timeout).
/// `0` is returned as it is: the deadline has passed.
pub fn timeout_ms(header: &str) -> Option<u64> {
    let digits = header.trim_matches(|c| c == ' ' || c == '\t');
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
