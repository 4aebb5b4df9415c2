//! The credential bundle a person receives from `accord user add`: a client certificate
//! and key issued by the node, the node URL and the pinned node certificate. One JSON
//! file, owner-only, so that a person carries one thing and no password exists.
//!
//! ```json
//! {
//!   "accord_credential": 1,
//!   "party": "PAK",
//!   "person": "pak-officer",
//!   "node_url": "https://127.0.0.1:8443",
//!   "node_tls_spki_sha256": "3f1c…",
//!   "node_certificate": "-----BEGIN CERTIFICATE-----…",
//!   "certificate": "-----BEGIN CERTIFICATE-----…",
//!   "private_key": "-----BEGIN PRIVATE KEY-----…"
//! }
//! ```

use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// Largest credential file read.
pub const MAX_CREDENTIAL: u64 = 64 * 1024;

/// A person's credential bundle.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Format version, 1.
    pub accord_credential: u32,
    /// The issuing node's party.
    pub party: String,
    /// The person's id.
    pub person: String,
    /// The node's base URL.
    pub node_url: String,
    /// The pin: SHA-256 of the node's TLS SubjectPublicKeyInfo, lower-case hex.
    pub node_tls_spki_sha256: String,
    /// The node's TLS certificate (for people and tools that want to see it).
    pub node_certificate: String,
    /// The person's client certificate.
    pub certificate: String,
    /// The person's private key (PKCS#8 PEM).
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub private_key: Zeroizing<String>,
}

fn ser_secret<S: serde::Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    Ok(Zeroizing::new(String::deserialize(d)?))
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("party", &self.party)
            .field("person", &self.person)
            .field("node_url", &self.node_url)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl Credential {
    /// Read and check a credential file.
    pub fn load(path: &Path) -> Result<Credential, Error> {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut text = Zeroizing::new(String::new());
        f.take(MAX_CREDENTIAL + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        if text.len() as u64 > MAX_CREDENTIAL {
            return Err(Error::Credential(format!(
                "{} is larger than {MAX_CREDENTIAL} bytes",
                path.display()
            )));
        }
        let c: Credential = serde_json::from_str(&text).map_err(|e| {
            Error::Credential(format!(
                "{} line {} column {}: {}",
                path.display(),
                e.line(),
                e.column(),
                credential_json_error(&e)
            ))
        })?;
        if c.accord_credential != 1 {
            return Err(Error::Credential(format!(
                "{}: unsupported credential version {}",
                path.display(),
                c.accord_credential
            )));
        }
        if !c.node_url.starts_with("https://") {
            return Err(Error::Credential(format!(
                "{}: node_url must start with https://",
                path.display()
            )));
        }
        crate::pki::certs_from_pem(&c.certificate)?;
        Ok(c)
    }

    /// Write the credential, owner-only (0600), refusing to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut text = Zeroizing::new(serde_json::to_string_pretty(self).unwrap_or_default());
        text.push('\n');
        accord_keys::write_private_file(path, text.as_bytes())?;
        Ok(())
    }

    /// The client certificate DER.
    pub fn certificate_der(&self) -> Result<Vec<u8>, Error> {
        Ok(crate::pki::certs_from_pem(&self.certificate)?.remove(0))
    }

    /// SHA-256 of the client certificate, lower-case hex.
    pub fn fingerprint(&self) -> Result<String, Error> {
        Ok(hex::encode(crate::pki::sha256(&self.certificate_der()?)))
    }
}

/// serde's message for a credential that does not parse, without its position (said
/// once, before it) and without any value it quotes: a credential holds a private key,
/// and serde quotes a string that has the wrong type (`invalid type: string "...",
/// expected ...`).
fn credential_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
    match msg.find('"') {
        Some(open) => match msg.rfind('"') {
            Some(close) if close > open => {
                format!("{}(value not shown){}", &msg[..open], &msg[close + 1..])
            }
            _ => msg[..open].to_string(),
        },
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_credential_that_does_not_parse_is_described_without_its_values() {
        let e = serde_json::from_str::<u64>("\"-----BEGIN PRIVATE KEY-----\"").unwrap_err();
        let said = super::credential_json_error(&e);
        assert_eq!(said, "invalid type: string (value not shown), expected u64");
        let e = serde_json::from_str::<u64>("[").unwrap_err();
        assert!(!super::credential_json_error(&e).contains("line"));
    }
}
