//! Keys held in a PKCS#11 token instead of files (hardware custody).
//!
//! A node whose `node.toml` names a token makes the classical halves of its keys inside
//! it: the P-384 signing key (ES384), and the KAS key's P-384 half (ECDH) or its RSA
//! key (RSA-OAEP). The token makes them sensitive and not extractable, so they never
//! leave it; the node asks the token to sign, derive or decrypt. The ML-DSA-87 and
//! ML-KEM-1024 halves stay in the key files until a token supports them.
//!
//! The key file then holds, in place of the classical `PRIVATE KEY` block, a
//! [`REFERENCE_LABEL`] block: which token, the key's `CKA_ID`, and the public key
//! (`SEQUENCE { UTF8String token, OCTET STRING id, SubjectPublicKeyInfo }`). Loading
//! it finds the private key in the token and proves it is the one the public key
//! names (a signature, an ECDH or a decryption checked in software), so a reference
//! can never quietly use another key.
//!
//! One [`Token`] per token per process: PKCS#11 modules are initialised once per
//! process ([`Token::open`] shares the module), and a login holds for every session
//! of the process, so the token keeps one session open for as long as it lives.
//! Operations take a session from a small pool; object handles stay valid across the
//! process's sessions.
//!
//! The PIN is never a command-line argument or a `node.toml` value: the node reads it
//! from `ACCORD_PKCS11_PIN` or from a file only its owner can read
//! ([`read_pin_file`]), and holds it in a zeroized buffer.

use crate::Error;
use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use zeroize::Zeroizing;

mod key;
mod reference;

pub use key::TokenKey;
pub use reference::{p384_spki, reference_token};

/// The PEM label of a key reference.
pub const REFERENCE_LABEL: &str = "ACCORD PKCS11 KEY";

/// The environment variable the token's PIN is read from.
pub const PIN_ENV: &str = "ACCORD_PKCS11_PIN";

/// Idle sessions kept for reuse.
const POOL: usize = 8;

/// What went wrong in the token, with what was being done.
pub(super) fn token_error(what: &str, e: CkError) -> Error {
    Error::Token(format!("{what}: {e}"))
}

/// Read a PIN file: refused unless only its owner may read it, and at most one line.
pub fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let io = |cause| Error::Io {
        path: path.to_path_buf(),
        cause,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Token(format!(
                "the PIN file {} may be read by others (mode {:o}): make it owner-only \
                 (chmod 600)",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let pin = text.trim_end_matches(['\n', '\r']);
    if pin.is_empty() || pin.len() > 256 || pin.contains(['\n', '\r']) {
        return Err(Error::Token(format!(
            "the PIN file {} must hold the PIN on one line (1 to 256 bytes)",
            path.display()
        )));
    }
    Ok(Zeroizing::new(pin.to_string()))
}

/// Where a token is and how to log in to it.
pub struct TokenSpec<'a> {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: &'a Path,
    /// The token's label.
    pub token: &'a str,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

/// Every module initialised in this process, by path: a module is initialised once
/// and never finalised while the process runs (finalising would end every other
/// user's sessions).
fn module(path: &Path) -> Result<Pkcs11, Error> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        Error::Token(format!(
            "cannot load the PKCS#11 module {}: {e}",
            path.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::OsThreads) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(token_error(&format!("initialising {}", path.display()), e)),
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// A PKCS#11 token the process is logged in to.
pub struct Token {
    ctx: Pkcs11,
    slot: Slot,
    pub(super) label: String,
    module: PathBuf,
    /// Holds the login: a PKCS#11 login ends when the process's last session closes.
    pub(super) anchor: Mutex<Session>,
    pool: Mutex<Vec<Session>>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:?} in {})", self.label, self.module.display())
    }
}

impl Token {
    /// Load the module (once per process), find the token by its label, and log in.
    pub fn open(spec: TokenSpec<'_>) -> Result<Arc<Token>, Error> {
        let ctx = module(spec.module)?;
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| token_error("listing the module's tokens", e))?;
        let mut found = Vec::new();
        let mut seen = Vec::new();
        for s in slots {
            let info = ctx
                .get_token_info(s)
                .map_err(|e| token_error("reading a token's description", e))?;
            let label = info.label().trim_end().to_string();
            if label == spec.token {
                found.push(s);
            }
            seen.push(label);
        }
        let slot = match found.as_slice() {
            [s] => *s,
            [] => {
                return Err(Error::Token(format!(
                    "no token labelled {:?} in {} (its tokens: {})",
                    spec.token,
                    spec.module.display(),
                    if seen.is_empty() {
                        "none".to_string()
                    } else {
                        seen.join(", ")
                    }
                )))
            }
            _ => {
                return Err(Error::Token(format!(
                    "{} tokens are labelled {:?} in {}: give each token its own label",
                    found.len(),
                    spec.token,
                    spec.module.display()
                )))
            }
        };
        let anchor = ctx
            .open_rw_session(slot)
            .map_err(|e| token_error("opening a session", e))?;
        let pin = AuthPin::new(spec.pin.to_string());
        match anchor.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(Error::Token(format!(
                    "the PIN for token {:?} is not right",
                    spec.token
                )))
            }
            Err(e) => return Err(token_error(&format!("logging in to {:?}", spec.token), e)),
        }
        Ok(Arc::new(Token {
            ctx,
            slot,
            label: spec.token.to_string(),
            module: spec.module.to_path_buf(),
            anchor: Mutex::new(anchor),
            pool: Mutex::new(Vec::new()),
        }))
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The module's path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// Run `f` with a session of the pool (opened when none is idle).
    pub(super) fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let idle = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let session = match idle {
            Some(s) => s,
            None => self
                .ctx
                .open_ro_session(self.slot)
                .map_err(|e| token_error("opening a session", e))?,
        };
        let out = f(&session);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(session);
        }
        out
    }
}

/// What a token key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeyKind {
    /// P-384 ECDSA (ES384).
    EcSign,
    /// P-384 ECDH.
    EcDerive,
    /// RSA-2048 OAEP decryption.
    Rsa,
}

impl fmt::Display for TokenKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKeyKind::EcSign => "P-384 signing",
            TokenKeyKind::EcDerive => "P-384 ECDH",
            TokenKeyKind::Rsa => "RSA-2048",
        })
    }
}
