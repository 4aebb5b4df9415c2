//! Where the node's private keys live: in `keys/`, or in a PKCS#11 token that
//! `node.toml`'s `[pkcs11]` names (hardware custody, `docs/node.md`).
//!
//! With a token, the classical halves of the node's signing and KAS keys are made in
//! it (at `accord init`, and at every `accord key rotate`) and never leave it; the key
//! files hold references ([`accord_keys::pkcs11`]). Every place that loads the node's
//! private keys asks its home (`Home::signing_key`, `Home::kas_ring`, ... in
//! `own_keys.rs`), which asks the token here, so no place reads a key file without it.

use crate::Error;
use accord_keys::pkcs11::{read_pin_file, PIN_ENV};
use accord_keys::{Token, TokenSpec};
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
    /// The token `cfg` names, logged in to on first use (PIN files relative to
    /// `home_dir`); `None` without `[pkcs11]`.
    pub fn token(
        &self,
        cfg: Option<&Pkcs11Config>,
        home_dir: &Path,
    ) -> Result<Option<&Arc<Token>>, Error> {
        let Some(cfg) = cfg else {
            return Ok(None);
        };
        if let Some(t) = self.token.get() {
            return Ok(Some(t));
        }
        let t = cfg.open(home_dir)?;
        Ok(Some(self.token.get_or_init(|| t)))
    }
}

/// The label a new key carries in the token: whose, what, when.
pub(crate) fn key_label(party: &str, what: &str) -> String {
    format!("accord {party} {what} {}", accord_agreement::Time::now())
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
