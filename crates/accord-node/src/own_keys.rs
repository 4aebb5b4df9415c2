//! The node's own keys as its key directory holds them now: its party descriptor
//! (`party.json`, what agreements are drafted from), its key history, every KAS private
//! key it has had (the current one first) and its signing key.
//!
//! `accord key rotate` changes them while the node runs, so the node does not read them
//! once at start: it looks at `party.json` and `keys/history.json` at most every 200 ms
//! (with the agreements, `Node::agreements`) and re-reads everything
//! when either changed. A request takes one snapshot ([`OwnKeys`], behind an `Arc`) and
//! uses it to the end, so it never mixes two generations of keys.
//!
//! The home's key loaders live here too (`Home::signing_key`, `Home::kas_ring`,
//! `Home::new_kas_key`, ...): each asks the PKCS#11 token `[pkcs11]` names
//! ([`crate::custody`]) for the keys whose classical halves live in it, so no place
//! reads a key file of the node without its token.

use crate::custody::Place;
use crate::home::Home;
use crate::Error;
use accord_keys::{
    KasAlg, KasPrivateKey, KeyHistory, PartyDescriptor, SigningKey, Token, VerifyingKey,
};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often the node looks whether its keys changed.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// One generation of the node's own keys.
pub struct OwnKeys {
    /// `party.json`: the party's keys now.
    pub party: PartyDescriptor,
    /// Every key the node has had.
    pub history: KeyHistory,
    /// KAS private keys: the current one first, then every earlier one (kept so that
    /// what was sealed to them opens), then the classical keys held for OpenTDF
    /// clients.
    kas: Vec<KasPrivateKey>,
    /// Their kids, in the same order (a kid is a SHA-256 of the key: computed once,
    /// not at every key access object of every rewrap).
    kas_kids: Vec<String>,
    /// The signing key labels, receipts and records are signed with.
    signing: SigningKey,
    /// The classical public key of every signing key the node has had (`keys/signing/`),
    /// the current one first: labels it signed before a rotation still verify.
    signing_ever: Vec<VerifyingKey>,
    /// Counts the reads since the node started (what caches built on them key on).
    pub generation: u64,
}

impl OwnKeys {
    /// Read them from `home`'s key directory.
    pub fn load(home: &Home) -> Result<OwnKeys, Error> {
        let dir = home.layout.keys();
        let mut kas = home.kas_ring()?;
        for k in crate::tokens::classical_keys(home)? {
            if !kas
                .iter()
                .any(|x| x.public_key().kid() == k.public_key().kid())
            {
                kas.push(k);
            }
        }
        let signing = home.signing_key()?;
        let mut signing_ever = vec![signing.public_keys().classical.clone()];
        for k in accord_keys::history::load_signing_publics(&dir)? {
            if !signing_ever.iter().any(|x| x.kid() == k.classical.kid()) {
                signing_ever.push(k.classical.clone());
            }
        }
        Ok(OwnKeys {
            party: accord_keys::load_party(&home.layout.party())?,
            history: KeyHistory::load(&dir)?,
            kas_kids: kas.iter().map(|k| k.public_key().kid()).collect(),
            kas,
            signing,
            signing_ever,
            generation: 0,
        })
    }

    /// The current KAS key: the one seal plans name.
    pub fn current_kas(&self) -> &KasPrivateKey {
        &self.kas[0]
    }

    /// Every KAS private key held.
    pub fn kas(&self) -> &[KasPrivateKey] {
        &self.kas
    }

    /// The KAS key a key access object names by `kid`; with no `kid` (objects of older
    /// OpenTDF SDKs), the RSA key, as the OpenTDF platform looks it up. Both routes of
    /// the KAS choose the key here.
    pub fn kas_key(&self, kid: &str) -> Option<&KasPrivateKey> {
        if kid.is_empty() {
            return self
                .kas
                .iter()
                .find(|k| k.alg() == accord_keys::KasAlg::Rsa2048);
        }
        let i = self.kas_kids.iter().position(|k| k == kid)?;
        self.kas.get(i)
    }

    /// Since when this node's key `kid` of `kind` (KAS or signing) is held
    /// compromised, and why, if it was revoked.
    pub fn revocation(
        &self,
        kind: accord_agreement::amendment::KeyKind,
        kid: &str,
    ) -> Option<(accord_agreement::Time, &str)> {
        let e = self
            .history
            .keys
            .iter()
            .find(|k| k.kind == kind.as_str() && k.id == kid)?;
        let c = e.compromised.as_deref()?;
        // A time that does not read is no reason to serve: compromised since always.
        let t = accord_agreement::Time::parse(c)
            .or_else(|_| accord_agreement::Time::from_unix(0))
            .ok()?;
        Some((t, e.revoked_because.as_deref().unwrap_or("no reason given")))
    }

    /// The signing key.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The classical public key of every signing key the node has had, current first.
    pub fn signing_ever(&self) -> &[VerifyingKey] {
        &self.signing_ever
    }
}

/// What the files that announce a change looked like when last read.
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(home: &Home) -> Stamp {
    [
        home.layout.party(),
        home.layout.key(accord_keys::history::HISTORY_JSON),
    ]
    .iter()
    .map(|path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

/// The node's own keys now, re-read when they change.
pub(crate) struct Keyring {
    now: RwLock<Arc<OwnKeys>>,
    seen: Mutex<(Stamp, Instant)>,
    /// The key files changed and do not read: the keys held may lack a revocation, so
    /// the KAS releases nothing until they read again.
    unreadable: std::sync::atomic::AtomicBool,
}

impl Keyring {
    /// Read `home`'s keys.
    pub(crate) fn load(home: &Home) -> Result<Keyring, Error> {
        let seen = stamp(home);
        Ok(Keyring {
            now: RwLock::new(Arc::new(OwnKeys::load(home)?)),
            seen: Mutex::new((seen, Instant::now())),
            unreadable: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Why the KAS may not release anything now, if it may not: the key files changed
    /// and do not read (a revocation may be among what does not read).
    pub(crate) fn unreadable(&self) -> Option<&'static str> {
        self.unreadable
            .load(std::sync::atomic::Ordering::Acquire)
            .then_some("the node's key files changed and do not read (see its log): its KAS releases nothing until they do")
    }

    /// The keys now.
    pub(crate) fn get(&self) -> Arc<OwnKeys> {
        self.now.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-read the keys if their files changed (looked at most every 200 ms). A read
    /// that fails (a rotation half-written) keeps the keys held and is tried again.
    pub(crate) fn refresh(&self, home: &Home) {
        self.refresh_if(home, false)
    }

    /// Re-read the keys if their files changed, whenever they were last looked at: what
    /// the node just read elsewhere (an amended agreement) may name a key only the files
    /// of now list.
    pub(crate) fn refresh_now(&self, home: &Home) {
        self.refresh_if(home, true)
    }

    fn refresh_if(&self, home: &Home, now: bool) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !now && seen.1.elapsed() < CHECK_EVERY {
            return;
        }
        seen.1 = Instant::now();
        let now = stamp(home);
        if now == seen.0 {
            return;
        }
        match OwnKeys::load(home) {
            Ok(mut keys) => {
                keys.generation = self.get().generation + 1;
                tracing::info!(
                    kas = %keys.current_kas().public_key().kid(),
                    "the node's own keys changed; now using them"
                );
                *self.now.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                seen.0 = now;
                self.unreadable
                    .store(false, std::sync::atomic::Ordering::Release);
            }
            Err(e) => {
                // Not again until the files change again (a rotation still writing
                // them finishes with party.json).
                seen.0 = now;
                self.unreadable
                    .store(true, std::sync::atomic::Ordering::Release);
                tracing::warn!("the node's keys changed but do not read: {e}; still using the keys read before")
            }
        }
    }
}

impl Home {
    /// The token `[pkcs11]` names, logged in to; `None` when the keys live in files.
    pub fn token(&self) -> Result<Option<&Arc<Token>>, Error> {
        self.custody
            .token(self.config.pkcs11.as_ref(), &self.layout.dir)
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
                    &crate::custody::key_label(&self.config.party, "signing"),
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
                &crate::custody::key_label(&self.config.party, "kas"),
            )?),
            None => Ok(KasPrivateKey::generate(alg)?),
        }
    }
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

/// Where each of the node's current private keys lives, read from its key files
/// (no login: `node info` and `key list` say it without the PIN). A key file that
/// cannot be read is said as such.
pub fn key_places(home: &Home) -> Vec<Place> {
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
        ("opentdf-rsa", crate::tokens::KAS_RSA_KEY),
        ("opentdf-ec", crate::tokens::KAS_EC_KEY),
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
