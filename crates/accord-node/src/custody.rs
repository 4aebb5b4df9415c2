//! Where the node's private keys live: in `keys/`, or in a PKCS#11 token that
//! `node.toml`'s `[pkcs11]` names (hardware custody, `docs/node.md`).
//!
//! With a token, the classical halves of the node's signing and KAS keys are made in
//! it (at `accord init`, and at every `accord key rotate`) and never leave it; the key
//! files hold references ([`accord_keys::pkcs11`]). Every place that loads the node's
//! private keys asks the home here, so no place reads a key file without its token.

use crate::home::Home;
use crate::Error;
use accord_keys::pkcs11::{read_pin_file, PIN_ENV};
use accord_keys::{KasAlg, KasPrivateKey, SigningKey, Token, TokenSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// `[pkcs11]` in `node.toml`.
///
/// ```toml
/// [pkcs11]
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token = "accord-pak"
/// pin_file = "/etc/accord/pak.pin"   # owner-only; or ACCORD_PKCS11_PIN
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (a shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// A file holding the user PIN, readable by its owner only (relative to the
    /// node's home, or absolute). Absent: the PIN is read from `ACCORD_PKCS11_PIN`.
    /// Never the PIN itself: node.toml is copied into backups and shown in support
    /// requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Config {
    /// Log in to the token (the PIN from `pin_file`, else `ACCORD_PKCS11_PIN`).
    pub fn open(&self, home: &Path) -> Result<Arc<Token>, Error> {
        let pin = match &self.pin_file {
            Some(f) => read_pin_file(&home.join(f))?,
            None => match std::env::var(PIN_ENV) {
                Ok(p) if !p.is_empty() => Zeroizing::new(p),
                _ => {
                    return Err(Error::Input(format!(
                        "node.toml's [pkcs11] gives no pin_file and {PIN_ENV} is not set: \
                         the node needs the PIN of token {:?}",
                        self.token
                    )))
                }
            },
        };
        Ok(Token::open(TokenSpec {
            module: &self.module,
            token: &self.token,
            pin,
        })?)
    }
}

/// The token a home's keys live in, logged in to once when first needed.
#[derive(Default)]
pub struct Custody {
    token: OnceLock<Arc<Token>>,
}

impl Custody {
    /// An opened token (a test or `accord init` that has one already).
    pub fn with(token: Arc<Token>) -> Custody {
        let c = Custody::default();
        let _ = c.token.set(token);
        c
    }
}

impl Home {
    /// The token `[pkcs11]` names, logged in to; `None` when the keys live in files.
    pub fn token(&self) -> Result<Option<&Arc<Token>>, Error> {
        let Some(cfg) = &self.config.pkcs11 else {
            return Ok(None);
        };
        if let Some(t) = self.custody.token.get() {
            return Ok(Some(t));
        }
        let t = cfg.open(&self.layout.dir)?;
        Ok(Some(self.custody.token.get_or_init(|| t)))
    }

    /// The node's signing key (`keys/signing.key`), its classical half from the token
    /// when it lives in one.
    pub fn signing_key(&self) -> Result<SigningKey, Error> {
        self.signing_key_at(&self.layout.key(accord_keys::SIGNING_KEY))
    }

    /// A signing key file of this node (a pending one, say).
    pub fn signing_key_at(&self, path: &Path) -> Result<SigningKey, Error> {
        Ok(accord_keys::load_signing_key_in(path, self.token()?)?)
    }

    /// A KAS private key file of this node.
    pub fn kas_key_at(&self, path: &Path) -> Result<KasPrivateKey, Error> {
        Ok(accord_keys::load_kas_private_in(path, self.token()?)?)
    }

    /// Every KAS private key the node holds, the current one first.
    pub fn kas_ring(&self) -> Result<Vec<KasPrivateKey>, Error> {
        Ok(accord_keys::load_kas_ring_in(
            &self.layout.keys(),
            self.token()?,
        )?)
    }

    /// A new signing key: in the token when there is one.
    pub fn new_signing_key(
        &self,
        classical: accord_keys::ClassicalAlg,
    ) -> Result<SigningKey, Error> {
        match self.token()? {
            Some(t) => {
                if classical != accord_keys::ClassicalAlg::Es384 {
                    return Err(Error::Input(
                        "a signing key in a PKCS#11 token is ES384 (P-384): this node's is \
                         Ed25519, which Accord does not make in a token"
                            .into(),
                    ));
                }
                Ok(SigningKey::generate_in(
                    t,
                    &key_label(&self.config.party, "signing"),
                )?)
            }
            None => Ok(SigningKey::generate(classical)?),
        }
    }

    /// A new KAS key of `alg`: its classical half in the token when there is one.
    pub fn new_kas_key(&self, alg: KasAlg) -> Result<KasPrivateKey, Error> {
        match self.token()? {
            Some(t) => Ok(KasPrivateKey::generate_in(
                alg,
                t,
                &key_label(&self.config.party, "kas"),
            )?),
            None => Ok(KasPrivateKey::generate(alg)?),
        }
    }
}

/// The label a new key carries in the token: whose, what, when.
pub(crate) fn key_label(party: &str, what: &str) -> String {
    format!("accord {party} {what} {}", accord_agreement::Time::now())
}

/// A signing key file given on a command line (`accord agreement sign --key`,
/// `accord seal --signing-key`): read as it is, or, when its classical half lives in
/// a token, through the node home it belongs to (`HOME/keys/signing.key`, whose
/// `node.toml` names the token).
pub fn load_signing_key_file(path: &Path) -> Result<SigningKey, Error> {
    match accord_keys::load_signing_key(path) {
        Err(e) if refers_to_token(path) => {
            let home = path
                .parent()
                .filter(|k| k.file_name().is_some_and(|n| n == "keys"))
                .and_then(Path::parent)
                .filter(|h| h.join(crate::home::NODE_TOML).exists())
                .ok_or(e)?;
            Home::open(home)?.signing_key_at(path)
        }
        other => Ok(other?),
    }
}

/// Whether a key file holds a token reference.
fn refers_to_token(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.contains(&format!(
            "-----BEGIN {}-----",
            accord_keys::pkcs11::REFERENCE_LABEL
        ))
    })
}

/// Where one of the node's private keys lives.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Place {
    /// `signing`, `kas`, `opentdf-rsa`, `opentdf-ec` (the KAS keys for OpenTDF
    /// clients, once enabled), `tls`, `ca`, `log`, `witness`.
    pub key: &'static str,
    /// `pkcs11` or `file`.
    pub custody: &'static str,
    /// The token's label (`pkcs11`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Where the rest of it is: the post-quantum half of a key whose classical half
    /// is in a token, or the whole key.
    pub file: String,
}

/// Where each of the node's current private keys lives, read from its key files
/// (no login: `node info` and `key list` say it without the PIN). A key file that
/// cannot be read is said as such.
pub fn places(home: &Home) -> Vec<Place> {
    let token_of = |file: &str| -> Option<String> {
        let text = std::fs::read_to_string(home.layout.key(file)).ok()?;
        let block = accord_keys::pem::decode_all(&text, file)
            .ok()?
            .into_iter()
            .find(|b| b.label == accord_keys::pkcs11::REFERENCE_LABEL)?;
        accord_keys::pkcs11::reference_token(&block.der).ok()
    };
    let mut out = Vec::new();
    let opentdf = [
        ("opentdf-rsa", crate::opentdf::KAS_RSA_KEY),
        ("opentdf-ec", crate::opentdf::KAS_EC_KEY),
    ]
    .into_iter()
    .filter(|(_, f)| home.layout.key(f).exists());
    for (key, file) in [
        ("signing", accord_keys::SIGNING_KEY),
        ("kas", accord_keys::KAS_KEY),
    ]
    .into_iter()
    .chain(opentdf)
    {
        let token = token_of(file);
        out.push(Place {
            key,
            custody: if token.is_some() { "pkcs11" } else { "file" },
            token,
            file: format!("keys/{file}"),
        });
    }
    // Ed25519 (the log's and the witness's note keys) and the TLS and CA keys stay
    // files: no token Accord supports holds them for these uses yet.
    for (key, file) in [
        ("tls", "keys/tls.key"),
        ("ca", "keys/ca.key"),
        ("log", "log/.accord/"),
        ("witness", "witness/"),
    ] {
        out.push(Place {
            key,
            custody: "file",
            token: None,
            file: file.into(),
        });
    }
    out
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.token {
            Some(t) => write!(
                f,
                "{} key: classical half in PKCS#11 token {t:?}, post-quantum half in {}",
                self.key, self.file
            ),
            None => write!(f, "{} key: {}", self.key, self.file),
        }
    }
}
