//! The credential bundle a person receives from `accord user add`: a client certificate
//! and key issued by the node, the node URL and the pinned node certificate. One JSON
//! file, owner-only, so that a person carries one thing.
//!
//! The key may be protected by a passphrase ([`Credential::protect`]): the file then
//! holds `encrypted_private_key`, a PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2: scrypt and
//! AES-256-CBC, as `openssl pkcs8 -topk8 -scrypt` writes it) instead of `private_key`.
//! Reading such a file ([`CredentialFile`]) needs no passphrase; using it does
//! ([`CredentialFile::unlock`]).
//!
//! ```json
//! {
//!   "accord_credential": 2,
//!   "party": "PAK",
//!   "person": "pak-officer",
//!   "node_url": "https://127.0.0.1:8443",
//!   "node_tls_spki_sha256": "3f1c…",
//!   "node_certificate": "-----BEGIN CERTIFICATE-----…",
//!   "node_ca_certificate": "-----BEGIN CERTIFICATE-----…",
//!   "certificate": "-----BEGIN CERTIFICATE-----…",
//!   "private_key": "-----BEGIN PRIVATE KEY-----…"
//! }
//! ```
//!
//! Format 2 adds `node_ca_certificate`: the client trusts the node's key pinned by
//! `node_tls_spki_sha256` and, besides it, a certificate the node's CA issued for the
//! node's name (server authentication, in its validity), so that a credential follows
//! the node when it changes its TLS key (`accord key rotate tls`). Format 1 (no CA)
//! is still read, and trusts the pin alone.

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
    /// Format version: 2 (1, without `node_ca_certificate`, is still read).
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
    /// The node CA's certificate (format 2): a server certificate it issued for the
    /// node's name is trusted too, so that the credential survives a TLS key rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ca_certificate: Option<String>,
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
    /// Read and check a credential file whose key is not protected by a passphrase
    /// (one that is is refused, saying so: see [`CredentialFile::unlock`]).
    pub fn load(path: &Path) -> Result<Credential, Error> {
        CredentialFile::read(path)?.unlock(None)
    }

    /// This credential with its key encrypted under `passphrase` (scrypt N=2^17, r=8,
    /// p=1, as RFC 7914 and OWASP recommend; AES-256-CBC; fresh salt and IV).
    pub fn protect(&self, passphrase: &str) -> Result<CredentialFile, Error> {
        use pkcs8::der::pem::LineEnding;
        use pkcs8::pkcs5::{pbes2, scrypt};
        if passphrase.is_empty() {
            return Err(Error::Credential(
                "an empty passphrase protects nothing".into(),
            ));
        }
        let der = crate::pki::pem_blocks(&self.private_key, "PRIVATE KEY")?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Credential("the credential holds no private key".into()))?;
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| Error::Credential(format!("the credential's private key: {e}")))?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        aws_lc_rs::rand::SecureRandom::fill(&rng, &mut salt)
            .and_then(|_| aws_lc_rs::rand::SecureRandom::fill(&rng, &mut iv))
            .map_err(|_| Error::Crypto("no randomness for the passphrase's salt".into()))?;
        let params = scrypt::Params::new(17, 8, 1, 32)
            .map_err(|e| Error::Crypto(format!("scrypt parameters: {e}")))?;
        let scheme = pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv)
            .map_err(|e| Error::Crypto(format!("PBES2 parameters: {e}")))?;
        let encrypted = info
            .encrypt_with_params(scheme, passphrase.as_bytes())
            .map_err(|e| Error::Crypto(format!("encrypting the private key: {e}")))?;
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|e| Error::Crypto(format!("encoding the encrypted key: {e}")))?;
        Ok(CredentialFile {
            public: self.public(),
            key: StoredKey::Encrypted(pem.to_string()),
        })
    }

    /// This credential as a PKCS#12 file protected by `passphrase`, for a browser to
    /// import (see [`crate::pkcs12`]): the client certificate and its key, named
    /// `Accord <party> <person>`, and the node CA's certificate (DER) when given. The
    /// credential does not hold the CA (`node_certificate` is the node's TLS server
    /// certificate, not its issuer); a node home has it as `ca.crt`. A CA that did not
    /// issue the client certificate is refused.
    pub fn to_pkcs12(
        &self,
        passphrase: &str,
        ca_certificate: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        use pkcs8::der::Decode;
        let cert = self.certificate_der()?;
        let key = crate::pki::pem_blocks(&self.private_key, "PRIVATE KEY")?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Credential("the credential holds no private key".into()))?;
        let mut chain = Vec::new();
        if let Some(ca) = ca_certificate {
            let read = |der: &[u8], what: &str| {
                x509_cert::Certificate::from_der(der)
                    .map_err(|e| Error::Credential(format!("{what}: {e}")))
            };
            let issuer = read(&cert, "the client certificate")?
                .tbs_certificate
                .issuer;
            let subject = read(ca, "the CA certificate")?.tbs_certificate.subject;
            if issuer != subject {
                return Err(Error::Credential(format!(
                    "the CA certificate ({subject}) did not issue the client certificate (issuer {issuer})"
                )));
            }
            chain.push(ca.to_vec());
        }
        let name = format!("Accord {} {}", self.party, self.person);
        crate::pkcs12::write(&cert, &key, &chain, &name, passphrase)
    }

    /// This credential as a file whose key is not protected.
    pub fn unprotected(&self) -> CredentialFile {
        CredentialFile {
            public: self.public(),
            key: StoredKey::Plain(self.private_key.clone()),
        }
    }

    fn public(&self) -> Public {
        Public {
            accord_credential: self.accord_credential,
            party: self.party.clone(),
            person: self.person.clone(),
            node_url: self.node_url.clone(),
            node_tls_spki_sha256: self.node_tls_spki_sha256.clone(),
            node_certificate: self.node_certificate.clone(),
            node_ca_certificate: self.node_ca_certificate.clone(),
            certificate: self.certificate.clone(),
        }
    }

    /// Write the credential, its key not protected, owner-only (0600), refusing to
    /// overwrite.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.unprotected().save(path)
    }

    /// When the client certificate expires, in Unix seconds.
    pub fn not_after(&self) -> Result<i64, Error> {
        crate::pki::not_after(&self.certificate_der()?)
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

/// The parts of a credential file that are not secret.
#[derive(Clone, Serialize, Deserialize)]
struct Public {
    accord_credential: u32,
    party: String,
    person: String,
    node_url: String,
    node_tls_spki_sha256: String,
    node_certificate: String,
    node_ca_certificate: Option<String>,
    certificate: String,
}

/// A credential file as stored: both key forms are optional here, and exactly one must
/// be present.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    accord_credential: u32,
    party: String,
    person: String,
    node_url: String,
    node_tls_spki_sha256: String,
    node_certificate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_ca_certificate: Option<String>,
    certificate: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_secret",
        deserialize_with = "de_opt_secret"
    )]
    private_key: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encrypted_private_key: Option<String>,
}

fn ser_opt_secret<S: serde::Serializer>(
    v: &Option<Zeroizing<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v),
        None => s.serialize_none(),
    }
}

fn de_opt_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Zeroizing<String>>, D::Error> {
    Ok(Some(Zeroizing::new(String::deserialize(d)?)))
}

/// How the key is stored.
#[derive(Clone)]
enum StoredKey {
    /// PKCS#8 PEM.
    Plain(Zeroizing<String>),
    /// PKCS#8 `ENCRYPTED PRIVATE KEY` PEM.
    Encrypted(String),
}

/// A credential file read but not unlocked: who it is for and whether a passphrase
/// protects its key. [`CredentialFile::unlock`] makes it a [`Credential`].
#[derive(Clone)]
pub struct CredentialFile {
    public: Public,
    key: StoredKey,
}

impl std::fmt::Debug for CredentialFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialFile")
            .field("party", &self.public.party)
            .field("person", &self.public.person)
            .field("protected", &self.is_protected())
            .finish()
    }
}

/// The most memory scrypt may use to unlock a credential (`128 * N * r` bytes): a
/// credential file that asks for more is refused before any work is done.
pub const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// The most work a credential may ask of scrypt (`N * r * p`), and of PBKDF2
/// (iterations).
const MAX_SCRYPT_WORK: u64 = 1 << 22;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

impl CredentialFile {
    /// Read and check a credential file (at most [`MAX_CREDENTIAL`] bytes).
    pub fn read(path: &Path) -> Result<CredentialFile, Error> {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut text = Zeroizing::new(Vec::new());
        f.take(MAX_CREDENTIAL + 1)
            .read_to_end(&mut text)
            .map_err(|e| Error::io(path, e))?;
        if text.len() as u64 > MAX_CREDENTIAL {
            return Err(Error::Credential(format!(
                "{} is larger than {MAX_CREDENTIAL} bytes",
                path.display()
            )));
        }
        CredentialFile::parse(&text).map_err(|e| match e {
            Error::Credential(m) => Error::Credential(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Parse a credential file's bytes: the JSON, the version, the URL, the
    /// certificate, exactly one key form, and for a protected key its encryption
    /// parameters (bounded: see [`MAX_SCRYPT_MEMORY`]). No passphrase is needed.
    pub fn parse(bytes: &[u8]) -> Result<CredentialFile, Error> {
        let c: Stored = serde_json::from_slice(bytes).map_err(|e| {
            Error::Credential(format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                credential_json_error(&e)
            ))
        })?;
        match (c.accord_credential, &c.node_ca_certificate) {
            (1, None) => {}
            (2, Some(ca)) => {
                if crate::pki::certs_from_pem(ca)?.is_empty() {
                    return Err(Error::Credential(
                        "node_ca_certificate holds no CERTIFICATE block".into(),
                    ));
                }
            }
            (1, Some(_)) => {
                return Err(Error::Credential(
                    "node_ca_certificate in a format 1 credential: format 2 carries it".into(),
                ))
            }
            (2, None) => return Err(Error::Credential(
                "no node_ca_certificate: a format 2 credential carries the node CA's certificate"
                    .into(),
            )),
            (v, _) => {
                return Err(Error::Credential(format!(
                    "unsupported credential version {v} (this accord reads 1 and 2)"
                )))
            }
        }
        if !c.node_url.starts_with("https://") {
            return Err(Error::Credential(
                "node_url must start with https://".into(),
            ));
        }
        crate::pki::certs_from_pem(&c.certificate)?;
        let key = match (c.private_key, c.encrypted_private_key) {
            (Some(k), None) => StoredKey::Plain(k),
            (None, Some(k)) => {
                encrypted_key_info(&k)?;
                StoredKey::Encrypted(k)
            }
            (Some(_), Some(_)) => return Err(Error::Credential(
                "both private_key and encrypted_private_key are present: a credential holds one"
                    .into(),
            )),
            (None, None) => {
                return Err(Error::Credential(
                    "no private_key (or encrypted_private_key): this is not a whole credential"
                        .into(),
                ))
            }
        };
        Ok(CredentialFile {
            public: Public {
                accord_credential: c.accord_credential,
                party: c.party,
                person: c.person,
                node_url: c.node_url,
                node_tls_spki_sha256: c.node_tls_spki_sha256,
                node_certificate: c.node_certificate,
                node_ca_certificate: c.node_ca_certificate,
                certificate: c.certificate,
            },
            key,
        })
    }

    /// Whether a passphrase protects the key.
    pub fn is_protected(&self) -> bool {
        matches!(self.key, StoredKey::Encrypted(_))
    }

    /// The person's id.
    pub fn person(&self) -> &str {
        &self.public.person
    }

    /// The issuing node's party.
    pub fn party(&self) -> &str {
        &self.public.party
    }

    /// The node's URL.
    pub fn node_url(&self) -> &str {
        &self.public.node_url
    }

    /// When the client certificate expires, in Unix seconds.
    pub fn not_after(&self) -> Result<i64, Error> {
        let der = crate::pki::certs_from_pem(&self.public.certificate)?.remove(0);
        crate::pki::not_after(&der)
    }

    /// SHA-256 of the client certificate, lower-case hex (how the node knows it).
    pub fn fingerprint(&self) -> Result<String, Error> {
        let der = crate::pki::certs_from_pem(&self.public.certificate)?.remove(0);
        Ok(hex::encode(crate::pki::sha256(&der)))
    }

    /// The credential, its key decrypted with `passphrase` when it is protected. A
    /// protected key without a passphrase, or with the wrong one, is refused saying so.
    pub fn unlock(self, passphrase: Option<&str>) -> Result<Credential, Error> {
        let private_key = match self.key {
            StoredKey::Plain(k) => k,
            StoredKey::Encrypted(pem) => {
                let Some(passphrase) = passphrase else {
                    return Err(Error::Credential(
                        "its key is protected by a passphrase, and none was given".into(),
                    ));
                };
                let (label, der) = pkcs8::der::Document::from_pem(&pem)
                    .map_err(|e| Error::Credential(format!("encrypted_private_key: {e}")))?;
                debug_assert_eq!(label, "ENCRYPTED PRIVATE KEY");
                let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_bytes())
                    .map_err(|e| Error::Credential(format!("encrypted_private_key: {e}")))?;
                let plain = info.decrypt(passphrase.as_bytes()).map_err(|_| {
                    Error::Credential("wrong passphrase (the key does not decrypt with it)".into())
                })?;
                // A wrong passphrase may still unpad by chance: the result must be a
                // private key.
                pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).map_err(|_| {
                    Error::Credential("wrong passphrase (the key does not decrypt with it)".into())
                })?;
                let pem = plain
                    .to_pem("PRIVATE KEY", pkcs8::der::pem::LineEnding::LF)
                    .map_err(|e| Error::Credential(format!("the decrypted key: {e}")))?;
                Zeroizing::new(pem.to_string())
            }
        };
        let p = self.public;
        Ok(Credential {
            accord_credential: p.accord_credential,
            party: p.party,
            person: p.person,
            node_url: p.node_url,
            node_tls_spki_sha256: p.node_tls_spki_sha256,
            node_certificate: p.node_certificate,
            node_ca_certificate: p.node_ca_certificate,
            certificate: p.certificate,
            private_key,
        })
    }

    /// Write the file, owner-only (0600), refusing to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        accord_keys::write_private_file(path, self.to_json().as_bytes())?;
        Ok(())
    }

    /// The file's bytes, as [`CredentialFile::save`] writes them (to hand over in
    /// another container: the console's enrolment download).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_json().as_bytes().to_vec())
    }

    /// Replace the file at `path` (owner-only), through a temporary file beside it so
    /// that a crash leaves the old file or the new one, never half of one. A symbolic
    /// link is followed to the file it names, which is the one replaced: renaming over
    /// the link would leave the old key (unprotected, say) where the link pointed.
    pub fn replace(&self, path: &Path) -> Result<(), Error> {
        let path = &std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let tmp = path.with_extension("credential.tmp");
        let _ = std::fs::remove_file(&tmp);
        accord_keys::write_private_file(&tmp, self.to_json().as_bytes())?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    fn to_json(&self) -> Zeroizing<String> {
        let p = &self.public;
        let (private_key, encrypted_private_key) = match &self.key {
            StoredKey::Plain(k) => (Some(k.clone()), None),
            StoredKey::Encrypted(k) => (None, Some(k.clone())),
        };
        let stored = Stored {
            accord_credential: p.accord_credential,
            party: p.party.clone(),
            person: p.person.clone(),
            node_url: p.node_url.clone(),
            node_tls_spki_sha256: p.node_tls_spki_sha256.clone(),
            node_certificate: p.node_certificate.clone(),
            node_ca_certificate: p.node_ca_certificate.clone(),
            certificate: p.certificate.clone(),
            private_key,
            encrypted_private_key,
        };
        let mut text = Zeroizing::new(serde_json::to_string_pretty(&stored).unwrap_or_default());
        text.push('\n');
        text
    }
}

/// Check an `ENCRYPTED PRIVATE KEY` PEM's structure and that its key derivation asks
/// for bounded work: PBES2 with scrypt (at most [`MAX_SCRYPT_MEMORY`]) or PBKDF2, and
/// AES-CBC. Nothing is derived here.
fn encrypted_key_info(pem: &str) -> Result<(), Error> {
    use pkcs8::pkcs5::{pbes2::Kdf, EncryptionScheme};
    let bad = |what: String| Error::Credential(format!("encrypted_private_key: {what}"));
    let (label, der) = pkcs8::der::Document::from_pem(pem).map_err(|e| bad(e.to_string()))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(bad(format!(
            "a PEM `{label}` block, not `ENCRYPTED PRIVATE KEY`"
        )));
    }
    let info =
        pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err(bad("PBES1 is not accepted (PBES2 only)".into()));
    };
    match &params.kdf {
        Kdf::Scrypt(s) => {
            let n = s.cost_parameter;
            let (r, p) = (u64::from(s.block_size), u64::from(s.parallelization));
            let memory = 128u64.saturating_mul(n).saturating_mul(r);
            let work = n.saturating_mul(r).saturating_mul(p);
            if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 {
                return Err(bad(format!(
                    "scrypt N={n}, r={r}, p={p} are not valid parameters"
                )));
            }
            if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
                return Err(bad(format!(
                    "scrypt N={n}, r={r}, p={p} asks for more than Accord allows ({} MiB, N*r*p {MAX_SCRYPT_WORK})",
                    MAX_SCRYPT_MEMORY >> 20
                )));
            }
        }
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            return Err(bad(format!(
                "PBKDF2 with {} iterations asks for more than Accord allows ({MAX_PBKDF2_ITERATIONS})",
                p.iteration_count
            )));
        }
        Kdf::Pbkdf2(_) => {}
        _ => return Err(bad("an unknown key derivation function".into())),
    }
    Ok(())
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
    use super::*;

    fn sample() -> Credential {
        let n = crate::pki::make_node_certificates("PAK", &["127.0.0.1".into()]).unwrap();
        let p = crate::pki::issue_person("PAK", &n.ca_key.0, "pak-officer", 365).unwrap();
        Credential {
            accord_credential: 1,
            party: "PAK".into(),
            person: "pak-officer".into(),
            node_url: "https://127.0.0.1:8443".into(),
            node_tls_spki_sha256: n.tls_spki_sha256,
            node_certificate: n.tls_cert,
            node_ca_certificate: None,
            certificate: p.cert,
            private_key: p.key.0,
        }
    }

    #[test]
    fn a_protected_credential_opens_with_its_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let c = sample();
        let path = dir.path().join("p.credential");
        c.protect("correct horse").unwrap().save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(!text.contains("\"private_key\""));
        let f = CredentialFile::read(&path).unwrap();
        assert!(f.is_protected());
        assert_eq!((f.party(), f.person()), ("PAK", "pak-officer"));
        let e = Credential::load(&path).unwrap_err().to_string();
        assert!(e.contains("protected by a passphrase"), "{e}");
        let e = f
            .clone()
            .unlock(Some("wrong horse"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
        let opened = f.unlock(Some("correct horse")).unwrap();
        assert_eq!(*opened.private_key, *c.private_key);
        // Unprotected again, it loads as before.
        let plain = dir.path().join("q.credential");
        opened.save(&plain).unwrap();
        assert_eq!(
            *Credential::load(&plain).unwrap().private_key,
            *c.private_key
        );
        assert!(c.protect("").is_err());
        assert_eq!(c.not_after().unwrap(), f_not_after(&plain));
    }

    /// Format 2 carries the node CA's certificate, format 1 does not: each is read,
    /// and a file that mixes them (or claims another version) is refused by name.
    #[test]
    fn formats_1_and_2_are_read_and_mixtures_refused() {
        let n = crate::pki::make_node_certificates("PAK", &["127.0.0.1".into()]).unwrap();
        let v1 = sample();
        let v2 = Credential {
            accord_credential: 2,
            node_ca_certificate: Some(n.ca_cert.clone()),
            ..sample()
        };
        for c in [&v1, &v2] {
            let text = c.unprotected().to_json();
            let back = CredentialFile::parse(text.as_bytes())
                .unwrap()
                .unlock(None)
                .unwrap();
            assert_eq!(back.node_ca_certificate, c.node_ca_certificate);
        }
        let json = |c: &Credential| -> serde_json::Value {
            serde_json::from_str(&c.unprotected().to_json()).unwrap()
        };
        let refused = |v: serde_json::Value| {
            CredentialFile::parse(v.to_string().as_bytes())
                .unwrap_err()
                .to_string()
        };
        let mut v = json(&v1);
        v["node_ca_certificate"] = n.ca_cert.clone().into();
        assert!(refused(v).contains("in a format 1 credential"));
        let mut v = json(&v2);
        v.as_object_mut().unwrap().remove("node_ca_certificate");
        assert!(refused(v).contains("no node_ca_certificate"));
        let mut v = json(&v2);
        v["node_ca_certificate"] = "not a certificate".into();
        assert!(refused(v).contains("CERTIFICATE"));
        let mut v = json(&v2);
        v["accord_credential"] = 3.into();
        assert!(refused(v).contains("unsupported credential version 3"));
    }

    fn f_not_after(p: &std::path::Path) -> i64 {
        CredentialFile::read(p).unwrap().not_after().unwrap()
    }

    /// An encrypted key whose scrypt parameters are `n`, `r`, `p` (the data is junk:
    /// nothing is derived).
    fn encrypted_pem(n: u64, r: u16, p: u16) -> String {
        use pkcs8::der::Encode;
        use pkcs8::pkcs5::pbes2;
        let salt = [1u8; 16];
        let iv = [2u8; 16];
        let params = pbes2::Parameters {
            kdf: pbes2::ScryptParams {
                salt: &salt,
                cost_parameter: n,
                block_size: r,
                parallelization: p,
                key_length: Some(32),
            }
            .into(),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
        };
        let info = pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: &[0u8; 48],
        };
        let der = info.to_der().unwrap();
        pkcs8::der::pem::encode_string(
            "ENCRYPTED PRIVATE KEY",
            pkcs8::der::pem::LineEnding::LF,
            &der,
        )
        .unwrap()
    }

    fn with_key(c: &Credential, key: serde_json::Value) -> Vec<u8> {
        let mut v = serde_json::to_value(c).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("private_key");
        for (k, x) in key.as_object().unwrap() {
            o.insert(k.clone(), x.clone());
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn a_credential_asking_for_unbounded_work_is_refused_before_any() {
        let c = sample();
        let ok = with_key(
            &c,
            serde_json::json!({"encrypted_private_key": encrypted_pem(1 << 17, 8, 1)}),
        );
        assert!(CredentialFile::parse(&ok).unwrap().is_protected());
        for (n, r, p) in [
            (1u64 << 30, 8u16, 1u16),
            (1 << 20, 16, 1),
            (1 << 17, 8, 1024),
            (3, 8, 1),
            (1 << 17, 0, 1),
        ] {
            let bad = with_key(
                &c,
                serde_json::json!({"encrypted_private_key": encrypted_pem(n, r, p)}),
            );
            let e = CredentialFile::parse(&bad).unwrap_err().to_string();
            assert!(e.contains("scrypt"), "{n} {r} {p}: {e}");
        }
        let both = with_key(
            &c,
            serde_json::json!({"private_key": *c.private_key, "encrypted_private_key": encrypted_pem(1 << 17, 8, 1)}),
        );
        assert!(CredentialFile::parse(&both)
            .unwrap_err()
            .to_string()
            .contains("both"));
        let none = with_key(&c, serde_json::json!({}));
        assert!(CredentialFile::parse(&none)
            .unwrap_err()
            .to_string()
            .contains("no private_key"));
        let wrong_label = with_key(
            &c,
            serde_json::json!({"encrypted_private_key": *c.private_key}),
        );
        let e = CredentialFile::parse(&wrong_label).unwrap_err().to_string();
        assert!(
            e.contains("not `ENCRYPTED PRIVATE KEY`") && !e.contains("BEGIN"),
            "{e}"
        );
    }

    #[test]
    fn a_credential_that_does_not_parse_is_described_without_its_values() {
        let e = serde_json::from_str::<u64>("\"-----BEGIN PRIVATE KEY-----\"").unwrap_err();
        let said = super::credential_json_error(&e);
        assert_eq!(said, "invalid type: string (value not shown), expected u64");
        let e = serde_json::from_str::<u64>("[").unwrap_err();
        assert!(!super::credential_json_error(&e).contains("line"));
    }
}
