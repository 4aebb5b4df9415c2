//! Proof files (c2sp.org/tlog-proof@v1): an index, an inclusion proof and the signed
//! checkpoint, verifiable offline.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::checkpoint::{parse_decimal, parse_hash, SignedCheckpoint};
use crate::hash::{leaf_hash, Hash};
use crate::merkle::verify_inclusion;
use crate::note::{VerifiedSignature, VerifierKey};
use crate::Error;

/// First line of every proof file.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest proof file accepted.
pub const MAX_PROOF_FILE: usize = 256 * 1024;

/// A parsed proof file.
#[derive(Debug, Clone)]
pub struct TlogProof {
    /// Opaque extra data (Accord stores the entry itself here).
    pub extra: Option<Vec<u8>>,
    /// Entry index.
    pub index: u64,
    /// Inclusion proof hashes, leaf sibling first.
    pub proof: Vec<Hash>,
    /// The checkpoint, verbatim.
    pub checkpoint: SignedCheckpoint,
}

impl TlogProof {
    /// Serialize.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            s.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint.note.to_bytes());
        out
    }

    /// Parse a proof file.
    pub fn parse(data: &[u8]) -> Result<TlogProof, Error> {
        if data.len() > MAX_PROOF_FILE {
            return Err(Error::ProofFile {
                line: 1,
                msg: format!(
                    "{} bytes is larger than the {MAX_PROOF_FILE}-byte limit",
                    data.len()
                ),
            });
        }
        let mut pos = 0usize;
        let mut line_no = 0usize;
        let mut next_line = |pos: &mut usize| -> Result<(usize, &[u8]), Error> {
            line_no += 1;
            let rest = &data[*pos..];
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(Error::ProofFile {
                    line: line_no,
                    msg: "missing newline".into(),
                })?;
            *pos += end + 1;
            Ok((line_no, &rest[..end]))
        };
        let err = |line: usize, msg: String| Error::ProofFile { line, msg };
        let (l, first) = next_line(&mut pos)?;
        if first != HEADER.as_bytes() {
            return Err(err(l, format!("first line is not {HEADER}")));
        }
        let (mut l, mut line) = next_line(&mut pos)?;
        let mut extra = None;
        if let Some(b) = line.strip_prefix(b"extra ") {
            extra = Some(
                B64.decode(b)
                    .map_err(|e| err(l, format!("bad base64 extra data: {e}")))?,
            );
            (l, line) = next_line(&mut pos)?;
        }
        let idx = line
            .strip_prefix(b"index ")
            .ok_or_else(|| err(l, "expected \"index N\"".into()))?;
        let index = std::str::from_utf8(idx)
            .ok()
            .and_then(parse_decimal)
            .ok_or_else(|| err(l, "index is not a decimal without leading zeroes".into()))?;
        let mut proof = Vec::new();
        loop {
            let (l, line) = next_line(&mut pos)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == 64 {
                return Err(err(l, "more than 64 proof hashes".into()));
            }
            let h = std::str::from_utf8(line)
                .ok()
                .and_then(parse_hash)
                .ok_or_else(|| err(l, "proof line is not base64 of a 32-byte hash".into()))?;
            proof.push(h);
        }
        let checkpoint = SignedCheckpoint::parse(&data[pos..])
            .map_err(|e| err(line_no + 1, format!("checkpoint: {e}")))?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    /// Verify against the log key and the required witnesses, for the given entry (its
    /// bytes); when `entry` is `None` the extra data is taken as the entry. Returns the
    /// verified signatures.
    pub fn verify(
        &self,
        log_key: &VerifierKey,
        witnesses: &[VerifierKey],
        entry: Option<&[u8]>,
    ) -> Result<Vec<VerifiedSignature>, Error> {
        let sigs = self.checkpoint.verify(log_key, witnesses)?;
        let entry = match entry {
            Some(e) => e,
            None => self.extra.as_deref().ok_or_else(|| {
                Error::Invalid("the proof has no extra data and no entry was given".into())
            })?,
        };
        let cp = &self.checkpoint.checkpoint;
        let proof: Vec<Vec<u8>> = self.proof.iter().map(|h| h.to_vec()).collect();
        verify_inclusion(self.index, cp.size, &leaf_hash(entry), &proof, &cp.root).map_err(
            |e| {
                let why = e.to_string();
                let why = why.trim_start_matches("proof: ").to_string();
                Error::Proof(format!(
                    "entry {} is not in the tree of size {}: {why}",
                    self.index, cp.size
                ))
            },
        )?;
        Ok(sigs)
    }
}
