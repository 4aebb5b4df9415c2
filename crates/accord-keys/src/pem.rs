//! PEM (RFC 7468) text encoding of key files: `-----BEGIN LABEL-----`, base64 of the DER
//! in 64-column lines, `-----END LABEL-----`. A key file may hold several blocks in a
//! fixed order; text outside blocks is refused so that a file means one thing.

use crate::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

/// Largest PEM file read (a hybrid or ML-DSA-87 private key is under 16 KiB).
pub const MAX_PEM: usize = 64 * 1024;

/// One decoded PEM block. Its bytes are zeroized on drop (blocks may hold private keys).
pub struct Block {
    /// The label between `BEGIN ` and `-----`.
    pub label: String,
    /// The decoded DER (or raw) contents.
    pub der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Block({}, {} bytes)", self.label, self.der.len())
    }
}

/// Append one PEM block to `out`.
pub fn encode_into(out: &mut String, label: &str, der: &[u8]) {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so each chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
}

/// Decode every PEM block of `text` in order. `what` names the file for errors.
pub fn decode_all(text: &str, what: &str) -> Result<Vec<Block>, Error> {
    if text.len() > MAX_PEM {
        return Err(Error::Pem(format!("{what}: larger than {MAX_PEM} bytes")));
    }
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let label = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
            .ok_or_else(|| {
                Error::Pem(format!(
                    "{what}: line {}: expected `-----BEGIN ...-----`",
                    n + 1
                ))
            })?
            .to_string();
        let end = format!("-----END {label}-----");
        let mut b64 = Zeroizing::new(String::new());
        let mut closed = false;
        for (m, body) in lines.by_ref() {
            let body = body.trim_end_matches('\r');
            if body == end {
                closed = true;
                break;
            }
            if body.starts_with("-----") {
                return Err(Error::Pem(format!(
                    "{what}: line {}: expected base64 or `{end}`",
                    m + 1
                )));
            }
            b64.push_str(body.trim());
        }
        if !closed {
            return Err(Error::Pem(format!(
                "{what}: block `{label}` from line {} has no END line",
                n + 1
            )));
        }
        let der = Zeroizing::new(STANDARD.decode(b64.as_bytes()).map_err(|e| {
            Error::Pem(format!(
                "{what}: block `{label}` from line {}: bad base64: {e}",
                n + 1
            ))
        })?);
        blocks.push(Block { label, der });
    }
    if blocks.is_empty() {
        return Err(Error::Pem(format!("{what}: no PEM block found")));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_two_blocks() {
        let mut s = String::new();
        encode_into(&mut s, "PUBLIC KEY", &[1u8; 100]);
        encode_into(&mut s, "PRIVATE KEY", &[2u8; 3]);
        let blocks = decode_all(&s, "t").unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
        assert_eq!(&blocks[0].der[..], &[1u8; 100][..]);
        assert_eq!(&blocks[1].der[..], &[2u8; 3][..]);
    }

    #[test]
    fn garbage_is_refused_with_line() {
        let err = decode_all("hello\n", "f.pem").unwrap_err().to_string();
        assert!(err.contains("f.pem: line 1"), "{err}");
        let err = decode_all("-----BEGIN X-----\nAAAA\n", "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no END"), "{err}");
        assert!(decode_all("-----BEGIN X-----\n!!!!\n-----END X-----\n", "f").is_err());
    }
}
