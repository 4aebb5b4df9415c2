//! Checkpoints (c2sp.org/tlog-checkpoint): origin, tree size and root hash, the body of
//! a signed note.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::hash::Hash;
use crate::note::{Note, VerifiedSignature, VerifierKey};
use crate::Error;

/// Most extension lines accepted.
pub const MAX_EXTENSIONS: usize = 16;

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash.
    pub root: Hash,
    /// Opaque extension lines (without newlines).
    pub extensions: Vec<String>,
}

/// Parse an ASCII decimal with no leading zeroes (`0` alone is allowed).
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty()
        || s.len() > 20
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Decode a base64 SHA-256 hash.
pub fn parse_hash(s: &str) -> Option<Hash> {
    if s.len() != 44 {
        return None;
    }
    B64.decode(s).ok()?.try_into().ok()
}

impl Checkpoint {
    /// Parse a checkpoint body (the note text, ending in a newline).
    pub fn parse(text: &str) -> Result<Checkpoint, Error> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| Error::Checkpoint("text does not end in a newline".into()))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(Error::Checkpoint(format!(
                "{} lines, want at least 3 (origin, size, root)",
                lines.len()
            )));
        }
        if lines.len() > 3 + MAX_EXTENSIONS {
            return Err(Error::Checkpoint(format!(
                "more than {MAX_EXTENSIONS} extension lines"
            )));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(Error::Checkpoint("line 1: empty origin".into()));
        }
        let size = parse_decimal(lines[1]).ok_or_else(|| {
            Error::Checkpoint(format!(
                "line 2: tree size {:?} is not a decimal without leading zeroes",
                lines[1]
            ))
        })?;
        let root = parse_hash(lines[2]).ok_or_else(|| {
            Error::Checkpoint(format!(
                "line 3: root hash {:?} is not base64 of 32 bytes",
                lines[2]
            ))
        })?;
        let mut extensions = Vec::new();
        for (i, l) in lines[3..].iter().enumerate() {
            if l.is_empty() {
                return Err(Error::Checkpoint(format!(
                    "line {}: empty extension line",
                    i + 4
                )));
            }
            extensions.push(l.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The note text of this checkpoint.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }
}

/// A checkpoint together with its signed note.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The note carrying it.
    pub note: Note,
}

impl SignedCheckpoint {
    /// Parse a signed checkpoint (syntax only).
    pub fn parse(bytes: &[u8]) -> Result<SignedCheckpoint, Error> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Verify the log signature with `log_key` (its name must be the origin) and
    /// require a valid cosignature from every key in `witnesses`.
    pub fn verify(
        &self,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
    ) -> Result<Vec<VerifiedSignature>, Error> {
        if log_key.name != self.checkpoint.origin {
            return Err(Error::Signature(format!(
                "checkpoint origin {:?} is not the log key name {:?}",
                self.checkpoint.origin, log_key.name
            )));
        }
        self.note.verify(std::slice::from_ref(log_key))?;
        let mut out = Vec::new();
        for w in witnesses {
            let v = self
                .note
                .verify(std::slice::from_ref(w))
                .map_err(|e| match e {
                    Error::Signature(_)
                        if !self
                            .note
                            .signatures
                            .iter()
                            .any(|s| s.name == w.name && s.key_id == w.key_id) =>
                    {
                        Error::Signature(format!(
                            "no cosignature by witness {}+{:08x}",
                            w.name, w.key_id
                        ))
                    }
                    e => e,
                })?;
            out.extend(v);
        }
        Ok(out)
    }
}
