//! A backup encrypted to a recovery key: the archive streamed through AES-256-GCM in
//! segments under a random data key, and the data key wrapped to the recovery key
//! (hybrid P-384 + ML-KEM-1024, exactly as a sealed object's key share is wrapped to a
//! KAS: `accord_tdf::keyaccess`). Nothing here is a new primitive; only the framing is
//! ours:
//!
//! ```text
//! ACCORD-BACKUP-ENC/1\n
//! {"type":"hybrid-wrapped","kid":"...","wrapped_key":"...","segment":1048576}\n
//! segments: u32 big-endian length (high bit: the last one), then ciphertext || tag
//! ```
//!
//! Segment `i` is sealed with the nonce `prefix(7 random bytes) || i (u32 BE) || last`
//! (`last` is 1 on the final segment, 0 before) and the header line as additional data:
//! a segment moved, dropped, replayed from another backup, or a stream cut after any
//! segment but the last, does not decrypt. The data key is zeroized when dropped.

use crate::Error;
use accord_keys::{KasPrivateKey, KasPublicKey};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Read, Write};
use zeroize::Zeroizing;

/// The first line of an encrypted backup.
pub const MAGIC: &[u8] = b"ACCORD-BACKUP-ENC/1\n";
/// Plaintext bytes per segment.
const SEGMENT: usize = 1 << 20;
/// The longest header line read.
const MAX_HEADER: u64 = 64 * 1024;
const TAG: usize = 16;
/// The high bit of a segment's length marks the last segment (the nonce binds it).
const LAST: u32 = 1 << 31;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    #[serde(rename = "type")]
    key_type: String,
    kid: String,
    wrapped_key: String,
    prefix: String,
    segment: u32,
}

fn nonce(prefix: &[u8; 7], i: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&i.to_be_bytes());
    n[11] = last as u8;
    Nonce::assume_unique_for_key(n)
}

fn gcm(key: &[u8]) -> Result<LessSafeKey, Error> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| Error::Input("AES-256-GCM key".into()))
}

/// A writer that encrypts what it is given to `inner`; [`Encryptor::finish`] seals the
/// last segment (without it the backup is refused as truncated).
pub struct Encryptor<W: Write> {
    inner: W,
    key: LessSafeKey,
    prefix: [u8; 7],
    aad: Vec<u8>,
    buf: Zeroizing<Vec<u8>>,
    index: u32,
}

impl<W: Write> Encryptor<W> {
    /// Write the header (the data key wrapped to `recipient`) and start encrypting.
    pub fn new(mut inner: W, recipient: &KasPublicKey) -> Result<Encryptor<W>, Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        let mut prefix = [0u8; 7];
        aws_lc_rs::rand::fill(&mut key[..])
            .and_then(|_| aws_lc_rs::rand::fill(&mut prefix))
            .map_err(|_| Error::Input("no random numbers".into()))?;
        let wrapped = accord_tdf::keyaccess::wrap(recipient, &key[..])
            .map_err(|e| Error::Input(format!("wrapping the backup key: {e}")))?;
        let header = Header {
            key_type: wrapped.key_type.to_string(),
            kid: recipient.kid(),
            wrapped_key: wrapped.wrapped_key,
            prefix: hex::encode(prefix),
            segment: SEGMENT as u32,
        };
        let mut line = serde_json::to_vec(&header).map_err(|e| Error::Input(e.to_string()))?;
        line.push(b'\n');
        inner
            .write_all(MAGIC)
            .and_then(|_| inner.write_all(&line))
            .map_err(|e| Error::Input(format!("writing the backup: {e}")))?;
        Ok(Encryptor {
            inner,
            key: gcm(&key[..])?,
            prefix,
            aad: line,
            buf: Zeroizing::new(Vec::with_capacity(SEGMENT + TAG)),
            index: 0,
        })
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        let n = nonce(&self.prefix, self.index, last);
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| io::Error::other("backup too large for one stream"))?;
        let tag = self
            .key
            .seal_in_place_separate_tag(n, Aad::from(&self.aad[..]), &mut self.buf[..])
            .map_err(|_| io::Error::other("AES-256-GCM sealing failed"))?;
        let len = (self.buf.len() + TAG) as u32 | if last { LAST } else { 0 };
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&self.buf)?;
        self.inner.write_all(tag.as_ref())?;
        self.buf.clear();
        Ok(())
    }

    /// Seal the last segment and hand back the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() == SEGMENT {
            self.seal(false)?;
        }
        let n = data.len().min(SEGMENT - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader of an encrypted backup's plaintext. A segment that does not decrypt, or a
/// stream that ends before its last segment, is an error naming what is wrong.
pub struct Decryptor<R: BufRead> {
    inner: R,
    key: LessSafeKey,
    prefix: [u8; 7],
    aad: Vec<u8>,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    index: u32,
    done: bool,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl<R: BufRead> Decryptor<R> {
    /// Read the header (after [`MAGIC`], which the caller has read) and unwrap the data
    /// key with `key`.
    pub fn new(mut inner: R, key: &KasPrivateKey) -> Result<Decryptor<R>, Error> {
        let mut line = Vec::new();
        (&mut inner)
            .take(MAX_HEADER)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Input(format!("reading the backup's header: {e}")))?;
        if line.last() != Some(&b'\n') {
            return Err(Error::Input(
                "the encrypted backup's header is cut off or longer than 64 KiB".into(),
            ));
        }
        let h: Header = serde_json::from_slice(&line[..line.len() - 1])
            .map_err(|e| Error::Input(format!("the encrypted backup's header: {e}")))?;
        if h.segment as usize != SEGMENT {
            return Err(Error::Input(format!(
                "the encrypted backup's segments are {} bytes; this accord reads {SEGMENT}",
                h.segment
            )));
        }
        let prefix: [u8; 7] = hex::decode(&h.prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| Error::Input("the encrypted backup's nonce prefix".into()))?;
        if h.kid != key.public_key().kid() {
            return Err(Error::Input(format!(
                "the backup is encrypted to the recovery key {}, not to this one ({})",
                short(&h.kid),
                short(&key.public_key().kid())
            )));
        }
        let kao: accord_tdf::manifest::KeyAccess = serde_json::from_value(serde_json::json!({
            "type": h.key_type, "url": "", "protocol": "kas",
            "wrappedKey": h.wrapped_key, "policyBinding": "", "kid": h.kid,
        }))
        .map_err(|e| Error::Input(format!("the encrypted backup's header: {e}")))?;
        let data_key = accord_tdf::keyaccess::unwrap(key, &kao).map_err(|e| {
            Error::Input(format!(
                "the backup's key does not unwrap with this recovery key: {e}"
            ))
        })?;
        Ok(Decryptor {
            inner,
            key: gcm(&data_key)?,
            prefix,
            aad: line,
            buf: Zeroizing::new(Vec::new()),
            pos: 0,
            index: 0,
            done: false,
        })
    }

    fn next_segment(&mut self) -> io::Result<()> {
        let mut len = [0u8; 4];
        if let Err(e) = self.inner.read_exact(&mut len) {
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                bad(format!(
                    "the encrypted backup is truncated: it ends after segment {} without its last one",
                    self.index
                ))
            } else {
                e
            });
        }
        let len = u32::from_be_bytes(len);
        let last = len & LAST != 0;
        let len = (len & !LAST) as usize;
        if !(TAG..=SEGMENT + TAG).contains(&len) {
            return Err(bad(format!(
                "segment {} of the encrypted backup claims {len} bytes",
                self.index
            )));
        }
        self.buf.resize(len, 0);
        self.inner.read_exact(&mut self.buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                bad(format!(
                    "the encrypted backup is truncated inside segment {}",
                    self.index
                ))
            } else {
                e
            }
        })?;
        let n = nonce(&self.prefix, self.index, last);
        let plain = self
            .key
            .open_in_place(n, Aad::from(&self.aad[..]), &mut self.buf[..])
            .map(|p| p.len())
            .map_err(|_| {
                bad(format!(
                    "segment {} of the encrypted backup does not decrypt: it was changed, moved or cut",
                    self.index
                ))
            })?;
        self.buf.truncate(plain);
        self.pos = 0;
        self.index += 1;
        if last {
            self.done = true;
            let mut rest = [0u8; 1];
            if self.inner.read(&mut rest)? > 0 {
                return Err(bad("bytes follow the encrypted backup's last segment"));
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.next_segment()?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn short(kid: &str) -> &str {
    kid.get(..16).unwrap_or(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_keys::KasAlg;

    fn encrypt(key: &KasPrivateKey, data: &[u8]) -> Vec<u8> {
        let mut e = Encryptor::new(Vec::new(), key.public_key()).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decrypt(key: &KasPrivateKey, data: &[u8]) -> Result<Vec<u8>, String> {
        assert!(data.starts_with(MAGIC));
        let mut d = Decryptor::new(&data[MAGIC.len()..], key).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        d.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn round_trip_and_every_cut_or_change_is_refused() {
        let key = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
        for len in [0usize, 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let enc = encrypt(&key, &data);
            assert_eq!(decrypt(&key, &enc).unwrap(), data, "{len}");
        }
        let data = vec![7u8; 2 * SEGMENT + 5];
        let enc = encrypt(&key, &data);
        // Cut at a segment boundary (after the first segment's tag).
        let header = enc
            .iter()
            .skip(MAGIC.len())
            .position(|&b| b == b'\n')
            .unwrap()
            + 1;
        let cut = MAGIC.len() + header + 4 + SEGMENT + TAG;
        let e = decrypt(&key, &enc[..cut]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = decrypt(&key, &enc[..enc.len() - 3]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let mut changed = enc.clone();
        changed[cut + 100] ^= 1;
        let e = decrypt(&key, &changed).unwrap_err();
        assert!(e.contains("does not decrypt"), "{e}");
        let other = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
        let e = decrypt(&other, &enc).unwrap_err();
        assert!(e.contains("not to this one"), "{e}");
    }
}
