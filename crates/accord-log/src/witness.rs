//! The witness (c2sp.org/tlog-witness): keeps, per trusted log origin, the last
//! checkpoint it cosigned, and cosigns a new checkpoint (cosignature/v1) only after
//! verifying a consistency proof from it. The check of the old size and the persist of
//! the new checkpoint happen under one lock, so concurrent requests cannot roll the
//! witness back.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::checkpoint::{parse_decimal, parse_hash, SignedCheckpoint};
use crate::hash::{empty_root, sha256, Hash};
use crate::merkle::verify_consistency;
use crate::note::{SigningKey, VerifierKey, TYPE_COSIGNATURE_V1};
use crate::Error;

/// Largest add-checkpoint body accepted.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Most consistency proof lines a client may send.
pub const MAX_PROOF_LINES: usize = 63;
/// Content type of a 409 Conflict body.
pub const CONTENT_TYPE_SIZE: &str = "text/x.tlog.size";

/// A parsed `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// Parse a request body.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Error> {
        let bad = |m: String| Error::WitnessRequest(m);
        if body.len() > MAX_REQUEST {
            return Err(bad(format!(
                "body of {} bytes is larger than {MAX_REQUEST}",
                body.len()
            )));
        }
        let mut rest = body;
        let mut line = |n: usize| -> Result<&[u8], Error> {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| bad(format!("line {n} does not end in a newline")))?;
            let l = &rest[..end];
            rest = &rest[end + 1..];
            Ok(l)
        };
        let first = line(1)?;
        let old = first
            .strip_prefix(b"old ")
            .ok_or_else(|| bad("line 1 is not \"old N\"".into()))?;
        let old_size = std::str::from_utf8(old)
            .ok()
            .and_then(parse_decimal)
            .ok_or_else(
                || bad("line 1: old size is not a decimal without leading zeroes".into()),
            )?;
        let mut proof = Vec::new();
        let mut n = 1;
        loop {
            n += 1;
            let l = line(n)?;
            if l.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let h = std::str::from_utf8(l)
                .ok()
                .and_then(parse_hash)
                .ok_or_else(|| bad(format!("line {n}: not a base64 SHA-256 hash")))?;
            proof.push(h);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// Serialize a request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(B64.encode(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// The witness's answer: an HTTP status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 200, 400, 403, 404, 409 or 422.
    pub status: u16,
    /// Content type of the body.
    pub content_type: &'static str,
    /// Body: cosignature lines on 200, the stored size on 409, a reason otherwise.
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, msg: impl Into<String>) -> Self {
        let mut body = msg.into().into_bytes();
        body.push(b'\n');
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A witness with its cosigner key, trusted logs and state directory.
pub struct Witness {
    dir: PathBuf,
    key: SigningKey,
    /// Earlier cosigner keys that cosign too (a rotation's grace period).
    also: Vec<SigningKey>,
    trusted: Vec<VerifierKey>,
    state: Mutex<()>,
}

const WITNESS_KEY: &str = "witness.key";

impl Witness {
    /// Open (or create, with a new cosigner key named `name`) the witness in `dir`,
    /// trusting the log keys `trusted` (their names are the log origins).
    pub fn open(dir: &Path, name: &str, trusted: Vec<VerifierKey>) -> Result<Witness, Error> {
        fs::create_dir_all(dir.join("state")).map_err(|e| Error::io(dir, e))?;
        let kpath = dir.join(WITNESS_KEY);
        let key = if kpath.exists() {
            let mut s = zeroize::Zeroizing::new(String::new());
            fs::File::open(&kpath)
                .and_then(|f| f.take(4096).read_to_string(&mut s))
                .map_err(|e| Error::io(&kpath, e))?;
            SigningKey::parse(s.trim())?
        } else {
            let key = SigningKey::generate(name, TYPE_COSIGNATURE_V1)?;
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&kpath).map_err(|e| Error::io(&kpath, e))?;
            f.write_all(key.to_private_string().as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(&kpath, e))?;
            key
        };
        if let Some(k) = trusted.iter().find(|k| k.kind != crate::note::TYPE_ED25519) {
            return Err(Error::Key(format!(
                "trusted log key {} is not an Ed25519 log key",
                k.name
            )));
        }
        Ok(Witness {
            dir: dir.to_path_buf(),
            key,
            also: Vec::new(),
            trusted,
            state: Mutex::new(()),
        })
    }

    /// The witness's cosigner verifier key (type 0x04).
    pub fn verifier(&self) -> &VerifierKey {
        self.key.verifier()
    }

    /// Cosign with `keys` too, beside the witness's own key: its earlier keys, while
    /// those who check its cosignatures may still know it by one (a rotation's grace
    /// period). Each must be a cosignature/v1 key of the witness's name.
    pub fn with_cosigners(mut self, keys: Vec<SigningKey>) -> Result<Witness, Error> {
        for k in keys {
            if k.name() != self.key.name() || k.verifier().kind != TYPE_COSIGNATURE_V1 {
                return Err(Error::Key(format!(
                    "cosigner key {} is not a cosignature/v1 key named {}",
                    k.verifier(),
                    self.key.name()
                )));
            }
            if k.verifier() != self.key.verifier() {
                self.also.push(k);
            }
        }
        Ok(self)
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        self.dir
            .join("state")
            .join(hex_lower(&sha256(origin.as_bytes())))
    }

    /// The last checkpoint cosigned for `origin`, with the witness's cosignature.
    pub fn latest(&self, origin_hash_hex: &str) -> Option<Vec<u8>> {
        if origin_hash_hex.len() != 64 || !origin_hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        fs::read(
            self.dir
                .join("state")
                .join(origin_hash_hex.to_ascii_lowercase()),
        )
        .ok()
    }

    /// Handle an `add-checkpoint` request body; `now` is the cosignature time (POSIX
    /// seconds, not zero).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Response {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => return Response::text(400, e.to_string()),
        };
        let signed = match SignedCheckpoint::parse(&req.checkpoint) {
            Ok(c) => c,
            Err(e) => return Response::text(400, e.to_string()),
        };
        let cp = &signed.checkpoint;
        let keys: Vec<VerifierKey> = self
            .trusted
            .iter()
            .filter(|k| k.name == cp.origin)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Response::text(404, format!("unknown log origin {:?}", cp.origin));
        }
        if let Err(e) = signed.note.verify(&keys) {
            return Response::text(403, e.to_string());
        }
        if req.old_size > cp.size {
            return Response::text(
                400,
                format!(
                    "old size {} is larger than the checkpoint size {}",
                    req.old_size, cp.size
                ),
            );
        }
        let _guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.state_path(&cp.origin);
        let stored = match fs::read(&path) {
            Ok(b) => match SignedCheckpoint::parse(&b) {
                Ok(s) => Some(s.checkpoint),
                Err(e) => {
                    return Response::text(
                        500,
                        format!("witness state for {:?} is corrupt: {e}", cp.origin),
                    )
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Response::text(500, format!("reading witness state: {e}")),
        };
        let stored_size = stored.as_ref().map(|c| c.size).unwrap_or(0);
        if req.old_size != stored_size {
            return Response {
                status: 409,
                content_type: CONTENT_TYPE_SIZE,
                body: format!("{stored_size}\n").into_bytes(),
            };
        }
        if cp.size == 0 && cp.root != empty_root() {
            return Response::text(422, "a checkpoint of size 0 must have the empty tree root");
        }
        if req.old_size == 0 {
            if !req.proof.is_empty() {
                return Response::text(422, "old size is 0 but the consistency proof is not empty");
            }
        } else if req.old_size == cp.size {
            let old = stored.as_ref().expect("stored size is not zero");
            if !req.proof.is_empty() {
                return Response::text(
                    422,
                    "sizes are equal but the consistency proof is not empty",
                );
            }
            if old.root != cp.root {
                // c2sp.org/tlog-witness: equal sizes with different roots is a 409
                // Conflict (a fork), answered, as every 409, with the size held.
                return Response {
                    status: 409,
                    content_type: CONTENT_TYPE_SIZE,
                    body: format!("{stored_size}\n").into_bytes(),
                };
            }
        } else {
            let old = stored.as_ref().expect("stored size is not zero");
            let proof: Vec<Vec<u8>> = req.proof.iter().map(|h| h.to_vec()).collect();
            if let Err(e) = verify_consistency(old.size, cp.size, &proof, &old.root, &cp.root) {
                return Response::text(
                    422,
                    format!(
                        "not consistent with the cosigned checkpoint of size {}: {e}",
                        old.size
                    ),
                );
            }
        }
        // c2sp.org/tlog-witness: the answer is one or more cosignature lines; a
        // witness whose key was rotated gives one per key it cosigns with.
        let sigs: Vec<_> = std::iter::once(&self.key)
            .chain(&self.also)
            .map(|k| k.sign(&signed.note.text, now.max(1)))
            .collect();
        let mut note = signed.note.clone();
        note.signatures.retain(|s| {
            keys.iter()
                .any(|k| k.name == s.name && k.key_id == s.key_id)
        });
        note.signatures.extend(sigs.iter().cloned());
        if let Err(e) = persist(&path, &note.to_bytes()) {
            return Response::text(500, format!("persisting witness state: {e}"));
        }
        Response {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: sigs
                .iter()
                .map(|s| s.line())
                .collect::<String>()
                .into_bytes(),
        }
    }
}

fn persist(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// Lowercase hex.
pub fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
