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
    // One open, and every check on what was opened (not on the path again).
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() || meta.len() > 1024 {
        return Err(Error::Token(format!(
            "the PIN file {} is not a file of at most 1 KiB",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Token(format!(
                "the PIN file {} may be read by others (mode {:o}): make it owner-only \
                 (chmod 600)",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut file, &mut text).map_err(io)?;
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

/// Initialise the first free token of `module` with `label`, a security officer PIN
/// and a user PIN, through the process's own loaded module (so that the process sees
/// it at once, which a token made by another program after the module was loaded may
/// not be). For test fixtures and first-time setup; an HSM's own tools do the same.
pub fn init_token(
    module_path: &Path,
    label: &str,
    so_pin: &str,
    user_pin: &str,
) -> Result<(), Error> {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = module(module_path)?;
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| token_error("listing the module's tokens", e))?;
    let mut free = None;
    for s in slots {
        let info = ctx
            .get_token_info(s)
            .map_err(|e| token_error("reading a token's description", e))?;
        if info.label().trim_end() == label && info.token_initialized() {
            return Err(Error::Token(format!(
                "a token is labelled {label:?} already"
            )));
        }
        if !info.token_initialized() && free.is_none() {
            free = Some(s);
        }
    }
    let slot = free.ok_or_else(|| Error::Token("the module has no free token".into()))?;
    let so = AuthPin::new(so_pin.to_string());
    ctx.init_token(slot, &so, label)
        .map_err(|e| token_error(&format!("initialising token {label:?}"), e))?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| token_error("opening a session", e))?;
    session
        .login(UserType::So, Some(&so))
        .map_err(|e| token_error("logging in as the security officer", e))?;
    session
        .init_pin(&AuthPin::new(user_pin.to_string()))
        .map_err(|e| token_error("setting the user PIN", e))?;
    let _ = session.logout();
    Ok(())
}

/// A PKCS#11 token the process is logged in to.
pub struct Token {
    ctx: Pkcs11,
    slot: Slot,
    pub(super) label: String,
    module: PathBuf,
    /// Kept to log in again after the token lost the login (removed and put back,
    /// every session closed): zeroized when the token is dropped.
    pin: Zeroizing<String>,
    /// Holds the login: a PKCS#11 login ends when the process's last session closes.
    pub(super) anchor: Mutex<Session>,
    pool: Mutex<Vec<Session>>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:?} in {})", self.label, self.module.display())
    }
}

/// Whether an error means the session or the login is gone (the token was removed,
/// its sessions closed), so that a new session and a new login may succeed.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::DeviceError,
            _
        )
    )
}

/// Open a session on `slot` and log in with `pin` (a login the process holds already
/// is kept). A PIN the token says is locked, or on its last try, is not tried: a
/// wrong guess would lock the token.
fn login(ctx: &Pkcs11, slot: Slot, label: &str, pin: &str) -> Result<Session, Error> {
    let info = ctx
        .get_token_info(slot)
        .map_err(|e| token_error("reading the token's description", e))?;
    if info.user_pin_locked() {
        return Err(Error::Token(format!(
            "token {label:?}: its user PIN is locked (too many wrong tries): unlock it with \
             the token's own tool"
        )));
    }
    if info.user_pin_final_try() {
        return Err(Error::Token(format!(
            "token {label:?}: one PIN try is left before the token locks: check the PIN \
             with the token's own tool first"
        )));
    }
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| token_error("opening a session", e))?;
    let auth = AuthPin::new(pin.to_string());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(Error::Token(format!(
            "the PIN for token {label:?} is not right"
        ))),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::Token(format!(
            "token {label:?}: its user PIN is locked"
        ))),
        Err(e) => Err(token_error(&format!("logging in to {label:?}"), e)),
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
        let anchor = login(&ctx, slot, spec.token, &spec.pin)?;
        Ok(Arc::new(Token {
            ctx,
            slot,
            label: spec.token.to_string(),
            module: spec.module.to_path_buf(),
            pin: spec.pin,
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

    /// Log the process out of the token and drop its idle sessions, as removing the
    /// token would: the next operation logs in again. (For the tests of that
    /// recovery, and for an operator's tool that wants the login released.)
    pub fn log_out(&self) -> Result<(), Error> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.anchor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .logout()
            .map_err(|e| token_error("logging out of the token", e))
    }

    /// A new anchor session and login, the idle sessions dropped: after the token
    /// lost them.
    fn recover(&self) -> Result<(), Error> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let mut anchor = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        *anchor = login(&self.ctx, self.slot, &self.label, &self.pin)?;
        Ok(())
    }

    /// Log in again if the process's login is gone. A token that lost the login hides
    /// its private objects, so an operation on one says its handle is invalid rather
    /// than that no one is logged in: this is asked before such a handle is looked
    /// for again.
    pub(super) fn ensure_logged_in(&self) -> Result<(), Error> {
        let state = self
            .anchor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_session_info()
            .map(|i| i.session_state());
        match state {
            Ok(
                cryptoki::session::SessionState::RwUser | cryptoki::session::SessionState::RoUser,
            ) => Ok(()),
            _ => self.recover(),
        }
    }

    fn session(&self) -> Result<Session, CkError> {
        let idle = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(s) => Ok(s),
            None => self.ctx.open_rw_session(self.slot),
        }
    }

    /// Run `f` with a session of the pool (opened when none is idle). A session whose
    /// operation failed is closed, not pooled again (closing it also destroys any
    /// object the operation left in it). When the session or the login was lost, the
    /// token is logged in to again and `f` tried once more.
    pub(super) fn try_session<T>(
        &self,
        mut f: impl FnMut(&Session) -> Result<T, CkError>,
    ) -> Result<T, Failed> {
        let mut tried_again = false;
        loop {
            let result = self.session().and_then(|s| {
                let out = f(&s);
                if out.is_ok() {
                    let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
                    if pool.len() < POOL {
                        pool.push(s);
                    }
                }
                out
            });
            match result {
                Ok(v) => return Ok(v),
                Err(e) if session_lost(&e) && !tried_again => {
                    tried_again = true;
                    self.recover().map_err(|r| {
                        Failed::Unavailable(Error::Token(format!(
                            "token {:?} is unavailable ({e}); logging in again: {r}",
                            self.label
                        )))
                    })?;
                }
                Err(e) => return Err(Failed::Op(e)),
            }
        }
    }

    /// [`Token::try_session`], its failure said as what was being done.
    pub(super) fn with_session<T>(
        &self,
        what: &str,
        f: impl FnMut(&Session) -> Result<T, CkError>,
    ) -> Result<T, Error> {
        self.try_session(f).map_err(|e| e.into_error(what))
    }
}

/// Why a token operation did not succeed.
pub(super) enum Failed {
    /// The operation failed (the session was fine, or was made again and it failed).
    Op(CkError),
    /// The token could not be reached or logged in to again.
    Unavailable(Error),
}

impl Failed {
    pub(super) fn into_error(self, what: &str) -> Error {
        match self {
            Failed::Op(e) => token_error(what, e),
            Failed::Unavailable(e) => e,
        }
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
