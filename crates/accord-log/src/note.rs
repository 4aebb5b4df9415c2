//! C2SP signed notes (c2sp.org/signed-note): text signed by one or more keys, Ed25519
//! keys and key ids, verifier keys (`name+hash+base64`), and the timestamped Ed25519
//! cosignatures of c2sp.org/tlog-cosignature (signature type 0x04).

use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::hash::sha256;
use crate::Error;

/// Most signatures accepted on one note (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 64;
/// Largest note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 64 * 1024;

const EM_DASH: &str = "\u{2014} ";

/// Signature type byte of a plain Ed25519 note signature.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of a timestamped Ed25519 checkpoint cosignature (cosignature/v1).
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Key name.
    pub name: String,
    /// Key id (first four bytes of the decoded signature).
    pub key_id: u32,
    /// The decoded signature bytes, key id included.
    pub raw: Vec<u8>,
}

impl Signature {
    /// The signature line, `— name base64\n`.
    pub fn line(&self) -> String {
        format!("{EM_DASH}{} {}\n", self.name, B64.encode(&self.raw))
    }
}

/// A parsed signed note: its text (ending in a newline) and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<Signature>,
}

fn check_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::Key("key name is empty".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || *c == '+' || c.is_control())
    {
        return Err(Error::Key(format!(
            "key name {name:?} contains {c:?} (spaces and '+' are not allowed)"
        )));
    }
    Ok(())
}

impl Note {
    /// Parse a signed note, checking the syntax only (not the signatures).
    pub fn parse(bytes: &[u8]) -> Result<Note, Error> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(Error::Note(format!(
                "{} bytes is larger than the {MAX_NOTE_SIZE}-byte limit",
                bytes.len()
            )));
        }
        let s = std::str::from_utf8(bytes)
            .map_err(|e| Error::Note(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
        if let Some(pos) = s.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(Error::Note(format!(
                "control character 0x{:02x} at byte {pos}",
                bytes[pos]
            )));
        }
        let split = s.rfind("\n\n").ok_or_else(|| {
            Error::Note("no blank line separates the text from the signatures".into())
        })?;
        let text = &s[..split + 1];
        let sigs = &s[split + 2..];
        if sigs.is_empty() {
            return Err(Error::Note("no signature lines".into()));
        }
        if !sigs.ends_with('\n') {
            return Err(Error::Note(
                "the last signature line does not end in a newline".into(),
            ));
        }
        let mut signatures = Vec::new();
        for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(Error::Note(format!(
                    "more than {MAX_SIGNATURES} signatures"
                )));
            }
            signatures.push(
                parse_signature_line(line)
                    .map_err(|e| Error::Note(format!("signature line {}: {e}", i + 1)))?,
            );
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// Serialize: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out.into_bytes()
    }

    /// Verify the note against a set of known keys. Signatures from unknown keys are
    /// ignored; a signature from a known key that fails makes the whole note invalid;
    /// at least one known key must have signed. Returns the verified signatures.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, Error> {
        let mut ok = Vec::new();
        for sig in &self.signatures {
            for key in keys
                .iter()
                .filter(|k| k.name == sig.name && k.key_id == sig.key_id)
            {
                let ts = key.verify(self.text.as_bytes(), &sig.raw[4..])?;
                ok.push(VerifiedSignature {
                    key: key.clone(),
                    timestamp: ts,
                });
            }
        }
        if ok.is_empty() {
            let names: Vec<String> = keys
                .iter()
                .map(|k| format!("{}+{:08x}", k.name, k.key_id))
                .collect();
            return Err(Error::Signature(format!(
                "no signature by a known key ({})",
                names.join(", ")
            )));
        }
        Ok(ok)
    }
}

/// Parse the text after the em dash: `name base64`.
fn parse_signature_line(line: &str) -> Result<Signature, String> {
    let rest = line
        .strip_prefix(EM_DASH)
        .ok_or("does not start with an em dash and a space")?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or("no space between key name and signature")?;
    check_key_name(name).map_err(|e| e.to_string())?;
    let raw = B64
        .decode(b64)
        .map_err(|e| format!("bad base64 signature: {e}"))?;
    if raw.len() < 5 {
        return Err(format!("signature of {} bytes is too short", raw.len()));
    }
    let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    Ok(Signature {
        name: name.to_string(),
        key_id,
        raw,
    })
}

/// Parse signature lines alone (a witness response body).
pub fn parse_signature_lines(body: &[u8]) -> Result<Vec<Signature>, Error> {
    if body.len() > MAX_NOTE_SIZE {
        return Err(Error::Note("signature lines are too large".into()));
    }
    let s = std::str::from_utf8(body)
        .map_err(|_| Error::Note("signature lines are not UTF-8".into()))?;
    if s.is_empty() || !s.ends_with('\n') {
        return Err(Error::Note("signature lines must end in a newline".into()));
    }
    let mut out = Vec::new();
    for (i, line) in s[..s.len() - 1].split('\n').enumerate() {
        if i == MAX_SIGNATURES {
            return Err(Error::Note(format!(
                "more than {MAX_SIGNATURES} signatures"
            )));
        }
        if line.bytes().any(|b| b < 0x20) {
            return Err(Error::Note(format!(
                "signature line {}: control character",
                i + 1
            )));
        }
        out.push(
            parse_signature_line(line)
                .map_err(|e| Error::Note(format!("signature line {}: {e}", i + 1)))?,
        );
    }
    Ok(out)
}

/// A signature that verified, and the cosignature timestamp when it is one.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The key that verified it.
    pub key: VerifierKey,
    /// The cosignature timestamp (POSIX seconds), for type 0x04.
    pub timestamp: Option<u64>,
}

/// The key id of `name` with signature type `kind` and public key `public`:
/// `SHA-256(name || 0x0A || type || public)[:4]` big-endian.
pub fn key_id(name: &str, kind: u8, public: &[u8]) -> u32 {
    let mut buf = Vec::with_capacity(name.len() + 2 + public.len());
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'\n');
    buf.push(kind);
    buf.extend_from_slice(public);
    let h = sha256(&buf);
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// A verifier key: a name, key id, signature type and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// Signature type: [`TYPE_ED25519`] or [`TYPE_COSIGNATURE_V1`].
    pub kind: u8,
    /// 32-byte Ed25519 public key.
    pub public: [u8; 32],
}

impl VerifierKey {
    /// Parse a vkey string `name+hex(id)+base64(type || public key)`.
    pub fn parse(s: &str) -> Result<VerifierKey, Error> {
        let s = s.trim_end_matches(['\n', '\r']);
        if s.len() > 1024 {
            return Err(Error::Key("verifier key is too long".into()));
        }
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hexid), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Key(format!(
                "verifier key {s:?} is not name+hash+base64"
            )));
        };
        check_key_name(name)?;
        if hexid.len() != 8
            || !hexid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::Key(format!(
                "key id {hexid:?} is not 8 lowercase hex digits"
            )));
        }
        let id = u32::from_str_radix(hexid, 16)
            .map_err(|e| Error::Key(format!("key id {hexid:?}: {e}")))?;
        let raw = B64
            .decode(b64)
            .map_err(|e| Error::Key(format!("bad base64 public key: {e}")))?;
        if raw.is_empty() {
            return Err(Error::Key("empty public key".into()));
        }
        let kind = raw[0];
        if kind != TYPE_ED25519 && kind != TYPE_COSIGNATURE_V1 {
            return Err(Error::Key(format!("unsupported signature type 0x{kind:02x} (want 0x01 Ed25519 or 0x04 cosignature/v1)")));
        }
        let public: [u8; 32] = raw[1..].try_into().map_err(|_| {
            Error::Key(format!(
                "Ed25519 public key is {} bytes, want 32",
                raw.len() - 1
            ))
        })?;
        let want = key_id(name, kind, &public);
        if want != id {
            return Err(Error::Key(format!(
                "key id {id:08x} does not match the key (want {want:08x})"
            )));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            key_id: id,
            kind,
            public,
        })
    }

    /// Verify `sig` (the signature bytes after the key id) over note `text`. Returns the
    /// timestamp for cosignatures.
    pub fn verify(&self, text: &[u8], sig: &[u8]) -> Result<Option<u64>, Error> {
        let pk = UnparsedPublicKey::new(&signature::ED25519, &self.public);
        let bad = || {
            Error::Signature(format!(
                "signature by {}+{:08x} does not verify",
                self.name, self.key_id
            ))
        };
        match self.kind {
            TYPE_ED25519 => {
                pk.verify(text, sig).map_err(|_| bad())?;
                Ok(None)
            }
            _ => {
                if sig.len() != 72 {
                    return Err(Error::Signature(format!(
                        "cosignature by {} is {} bytes, want 8 + 64",
                        self.name,
                        sig.len()
                    )));
                }
                let ts = u64::from_be_bytes(sig[..8].try_into().expect("8 bytes"));
                if ts > i64::MAX as u64 {
                    return Err(Error::Signature(format!(
                        "cosignature by {} has timestamp beyond 2^63-1",
                        self.name
                    )));
                }
                pk.verify(&cosigned_message(ts, text), &sig[8..])
                    .map_err(|_| bad())?;
                Ok(Some(ts))
            }
        }
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(&self.public);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }
}

/// The message an Ed25519 cosignature/v1 signs.
pub fn cosigned_message(timestamp: u64, checkpoint_text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_text);
    m
}

/// An Ed25519 signing key: a log key (type 0x01) or a witness cosigner key (type 0x04).
pub struct SigningKey {
    name: String,
    kind: u8,
    seed: Zeroizing<[u8; 32]>,
    pair: Ed25519KeyPair,
    verifier: VerifierKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("verifier", &self.verifier.to_string())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generate a new random key.
    pub fn generate(name: &str, kind: u8) -> Result<SigningKey, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut seed[..])
            .map_err(|_| Error::Key("random generator failed".into()))?;
        Self::from_seed(name, kind, seed)
    }

    fn from_seed(name: &str, kind: u8, seed: Zeroizing<[u8; 32]>) -> Result<SigningKey, Error> {
        check_key_name(name)?;
        if kind != TYPE_ED25519 && kind != TYPE_COSIGNATURE_V1 {
            return Err(Error::Key(format!(
                "unsupported signature type 0x{kind:02x}"
            )));
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed[..])
            .map_err(|_| Error::Key("invalid Ed25519 seed".into()))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| Error::Key("public key size".into()))?;
        let verifier = VerifierKey {
            name: name.to_string(),
            key_id: key_id(name, kind, &public),
            kind,
            public,
        };
        Ok(SigningKey {
            name: name.to_string(),
            kind,
            seed,
            pair,
            verifier,
        })
    }

    /// Parse a private key string `PRIVATE+KEY+name+hash+base64(type || seed)` (the
    /// golang.org/x/mod/sumdb/note format).
    pub fn parse(s: &str) -> Result<SigningKey, Error> {
        let s = s.trim_end_matches(['\n', '\r']);
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| Error::Key("private key does not start with PRIVATE+KEY+".into()))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hexid), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Key(
                "private key is not PRIVATE+KEY+name+hash+base64".into(),
            ));
        };
        let raw = Zeroizing::new(
            B64.decode(b64)
                .map_err(|_| Error::Key("bad base64 in private key".into()))?,
        );
        if raw.len() != 33 {
            return Err(Error::Key(format!(
                "private key material is {} bytes, want 33",
                raw.len()
            )));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&raw[1..]);
        let key = Self::from_seed(name, raw[0], seed)?;
        if format!("{:08x}", key.verifier.key_id) != hexid {
            return Err(Error::Key(format!(
                "private key id {hexid} does not match the key"
            )));
        }
        Ok(key)
    }

    /// The private key string (secret: write it only to an owner-only file).
    pub fn to_private_string(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(vec![self.kind]);
        raw.extend_from_slice(&self.seed[..]);
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.verifier.key_id,
            B64.encode(&raw[..])
        ))
    }

    /// The verifier key of this signing key.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sign note `text` (must end in a newline). For a cosigner key, `timestamp` is the
    /// cosignature time (POSIX seconds); it is ignored for a plain Ed25519 key.
    pub fn sign(&self, text: &str, timestamp: u64) -> Signature {
        let mut raw = self.verifier.key_id.to_be_bytes().to_vec();
        if self.kind == TYPE_ED25519 {
            raw.extend_from_slice(self.pair.sign(text.as_bytes()).as_ref());
        } else {
            raw.extend_from_slice(&timestamp.to_be_bytes());
            raw.extend_from_slice(
                self.pair
                    .sign(&cosigned_message(timestamp, text.as_bytes()))
                    .as_ref(),
            );
        }
        Signature {
            name: self.name.clone(),
            key_id: self.verifier.key_id,
            raw,
        }
    }
}
