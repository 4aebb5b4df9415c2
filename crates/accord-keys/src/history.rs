//! A node's own keys over time: every KAS private key it has had, and its key history.
//!
//! A KAS key is rotated, never forgotten: objects sealed to the old key are still the
//! party's to open, so each KAS private key the node has held stays in
//! `keys/kas/<kid>.key` (0600) until an officer retires it on purpose. `kas.key` is the
//! current one (what seal plans and new agreements name). `keys/history.json` (public)
//! lists each key the node has had, of each kind, since when (and `keys/signing/<kid>.pub`
//! the public half of each signing key, so that labels signed before a rotation still
//! verify; the private half of a replaced signing key is not kept): what the node checks an
//! agreement's keys for its own party against, since a partner's copy may show an
//! earlier key than today's.

use crate::files::load_signing_public;
use crate::kas::KasPrivateKey;
use crate::signing::SigningPublicKeys;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The directory of every KAS private key held, inside the key directory.
pub const KAS_RING_DIR: &str = "kas";
/// The directory of the public keys of every signing key the node has had.
pub const SIGNING_DIR: &str = "signing";
/// The key history file name, inside the key directory.
pub const HISTORY_JSON: &str = "history.json";
/// Largest key history read (a key a week for 15 years is 200 KiB).
pub const MAX_HISTORY: u64 = 4 << 20;
/// Most KAS private keys loaded from the ring.
pub const MAX_RING: usize = 1024;

/// One key the node has had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Its kind, as amendments name it (`kas`, `signing`, `tls`, `log`, `witness`).
    pub kind: String,
    /// Its id, as amendments name it (a KAS key's `kid`, a signing key's ECDSA kid, a
    /// TLS pin, a verifier key's `name+hash`).
    pub id: String,
    /// When it became the node's (RFC 3339).
    pub since: String,
    /// When it was replaced, if it was (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    /// Until when partners still accept it after it was replaced (RFC 3339): the
    /// grace period its replacement's amendment gave (TLS, log and witness keys). A
    /// replaced log or witness key signs beside its successor until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_until: Option<String>,
    /// Since when it is held compromised, if it was revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compromised: Option<String>,
    /// Why it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_because: Option<String>,
}

/// Every key the node has had, oldest first (`keys/history.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyHistory {
    /// The keys.
    pub keys: Vec<HistoryEntry>,
}

impl KeyHistory {
    /// The history in key directory `dir`; none yet (a node that never rotated a key)
    /// is an empty history.
    pub fn load(dir: &Path) -> Result<KeyHistory, Error> {
        let path = dir.join(HISTORY_JSON);
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeyHistory::default()),
            Err(e) => return Err(Error::Io { path, cause: e }),
        };
        let mut buf = Vec::new();
        f.take(MAX_HISTORY + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::Io {
                path: path.clone(),
                cause: e,
            })?;
        if buf.len() as u64 > MAX_HISTORY {
            return Err(Error::Party(format!(
                "{}: larger than {MAX_HISTORY} bytes",
                path.display()
            )));
        }
        serde_json::from_slice(&buf).map_err(|e| Error::Party(format!("{}: {e}", path.display())))
    }

    /// Write the history into key directory `dir` (0644), replacing the file in one
    /// rename so that a reader never sees half of it.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(self).expect("serialisable");
        text.push('\n');
        crate::files::replace_file(&dir.join(HISTORY_JSON), text.as_bytes(), false)
    }

    /// Whether the node has had key `id` of `kind`.
    pub fn has(&self, kind: &str, id: &str) -> bool {
        self.keys.iter().any(|k| k.kind == kind && k.id == id)
    }

    /// Record that key `id` of `kind` is the node's from `since`, replacing the one of
    /// its kind before it (`replaced`, if that one is listed). A key listed already is
    /// not listed twice.
    pub fn add(&mut self, kind: &str, id: &str, since: &str, replaced: Option<&str>) {
        if let Some(old) = replaced {
            for k in self
                .keys
                .iter_mut()
                .filter(|k| k.kind == kind && k.id == old && k.replaced.is_none())
            {
                k.replaced = Some(since.to_string());
            }
        }
        if !self.has(kind, id) {
            self.keys.push(HistoryEntry {
                kind: kind.to_string(),
                id: id.to_string(),
                since: since.to_string(),
                replaced: None,
                accepted_until: None,
                compromised: None,
                revoked_because: None,
            });
        }
    }
}

impl KeyHistory {
    /// Record that key `id` of `kind`, replaced, is still accepted until `until`.
    pub fn accept_until(&mut self, kind: &str, id: &str, until: &str) {
        for k in self
            .keys
            .iter_mut()
            .filter(|k| k.kind == kind && k.id == id)
        {
            k.accepted_until = Some(until.to_string());
        }
    }
}

/// The file that keeps KAS private key `kid` in key directory `dir`.
pub fn kas_ring_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(KAS_RING_DIR).join(format!("{kid}.key"))
}

/// Keep `key` in key directory `dir`'s ring (`kas/<kid>.key`, 0600; the directory 0700),
/// unless it is there already. Its path.
pub fn keep_kas_key(dir: &Path, key: &KasPrivateKey) -> Result<PathBuf, Error> {
    private_dir(dir, KAS_RING_DIR)?;
    let path = kas_ring_path(dir, &key.public_key().kid());
    if !path.exists() {
        crate::files::replace_file(&path, key.to_pem()?.as_bytes(), true)?;
    }
    Ok(path)
}

/// Every KAS private key in key directory `dir`: the current one (`kas.key`) first,
/// then the ring's (`kas/*.key`) by file name, each once. A ring file that does not
/// hold the key its name says is an error naming the file: a key filed under another
/// kid would open what was sealed to that kid's key.
pub fn load_kas_ring(dir: &Path) -> Result<Vec<KasPrivateKey>, Error> {
    load_kas_ring_in(dir, None)
}

/// [`load_kas_ring`], for keys whose classical halves may live in `token`.
pub fn load_kas_ring_in(
    dir: &Path,
    token: Option<&std::sync::Arc<crate::pkcs11::Token>>,
) -> Result<Vec<KasPrivateKey>, Error> {
    let mut keys = vec![crate::files::load_kas_private_in(
        &dir.join(crate::KAS_KEY),
        token,
    )?];
    for p in key_files(&dir.join(KAS_RING_DIR), "key")? {
        let key = crate::files::load_kas_private_in(&p, token)?;
        let kid = key.public_key().kid();
        if p.file_stem().and_then(|s| s.to_str()) != Some(kid.as_str()) {
            return Err(misfiled(p, &kid));
        }
        if !keys.iter().any(|k| k.public_key().kid() == kid) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// The kids of every KAS private key held in key directory `dir`, without reading a
/// private key: the current one (`kas.pub`) first, then the ring's file names.
pub fn kas_ring_kids(dir: &Path) -> Result<Vec<String>, Error> {
    let mut kids = vec![crate::files::load_kas_public(&dir.join(crate::KAS_PUB))?.kid()];
    for p in key_files(&dir.join(KAS_RING_DIR), "key")? {
        if let Some(kid) = p.file_stem().and_then(|s| s.to_str()) {
            if !kids.iter().any(|k| k == kid) {
                kids.push(kid.to_string());
            }
        }
    }
    Ok(kids)
}

/// Make `dir/name` (0700) unless it exists.
fn private_dir(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let d = dir.join(name);
    if !d.exists() {
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&d).map_err(|e| Error::Io {
            path: d.clone(),
            cause: e,
        })?;
    }
    Ok(d)
}

/// Keep the public half of signing key `keys` in key directory `dir`
/// (`signing/<kid>.pub`, the classical key's kid), unless it is there already.
pub fn keep_signing_public(dir: &Path, keys: &SigningPublicKeys) -> Result<PathBuf, Error> {
    let d = private_dir(dir, SIGNING_DIR)?;
    let path = d.join(format!("{}.pub", keys.classical.kid()));
    if !path.exists() {
        crate::files::replace_file(&path, keys.to_pem().as_bytes(), false)?;
    }
    Ok(path)
}

/// The public halves of every signing key kept in key directory `dir`, by file name.
/// A file that does not hold the key its name says is an error naming the file.
pub fn load_signing_publics(dir: &Path) -> Result<Vec<SigningPublicKeys>, Error> {
    let d = dir.join(SIGNING_DIR);
    let mut out = Vec::new();
    for p in key_files(&d, "pub")? {
        let keys = load_signing_public(&p)?;
        let kid = keys.classical.kid();
        if p.file_stem().and_then(|s| s.to_str()) != Some(kid.as_str()) {
            return Err(misfiled(p, &kid));
        }
        out.push(keys);
    }
    Ok(out)
}

/// The files of `dir` ending in `.ext`, sorted; none when `dir` does not exist.
fn key_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                cause: e,
            })
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            cause: e,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == ext) {
            paths.push(p);
        }
    }
    if paths.len() > MAX_RING {
        return Err(Error::Party(format!(
            "{}: more than {MAX_RING} keys",
            dir.display()
        )));
    }
    paths.sort();
    Ok(paths)
}

fn misfiled(path: PathBuf, kid: &str) -> Error {
    Error::InFile {
        path,
        cause: Box::new(Error::WrongKeyType(format!(
            "this file holds key {kid}, not the key its name says"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::write_private_file;
    use crate::KasAlg;

    #[test]
    fn ring_keeps_every_key_and_refuses_a_misfiled_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let first = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
        write_private_file(&d.join(crate::KAS_KEY), first.to_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(load_kas_ring(d).unwrap().len(), 1);
        keep_kas_key(d, &first).unwrap();
        let second = KasPrivateKey::generate(KasAlg::HybridP384MlKem1024).unwrap();
        keep_kas_key(d, &second).unwrap();
        let ring = load_kas_ring(d).unwrap();
        let kids: Vec<String> = ring.iter().map(|k| k.public_key().kid()).collect();
        assert_eq!(
            kids,
            vec![first.public_key().kid(), second.public_key().kid()]
        );
        // A key filed under another key's kid.
        let third = KasPrivateKey::generate(KasAlg::EcP384).unwrap();
        let wrong = kas_ring_path(d, &"0".repeat(64));
        write_private_file(&wrong, third.to_pem().unwrap().as_bytes()).unwrap();
        let e = load_kas_ring(d).unwrap_err().to_string();
        assert!(
            e.contains(&"0".repeat(64)) && e.contains("not the key its name says"),
            "{e}"
        );
        // Signing public keys, likewise.
        let s1 = crate::SigningKey::generate(crate::ClassicalAlg::Es384).unwrap();
        keep_signing_public(d, s1.public_keys()).unwrap();
        keep_signing_public(d, s1.public_keys()).unwrap();
        let kept = load_signing_publics(d).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].classical.kid(), s1.public_keys().classical.kid());
        let s2 = crate::SigningKey::generate(crate::ClassicalAlg::Es384).unwrap();
        std::fs::write(
            d.join(SIGNING_DIR).join(format!("{}.pub", "1".repeat(64))),
            s2.public_keys().to_pem(),
        )
        .unwrap();
        let e = load_signing_publics(d).unwrap_err().to_string();
        assert!(e.contains("not the key its name says"), "{e}");
    }

    #[test]
    fn history_round_trip_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = KeyHistory::load(dir.path()).unwrap();
        assert!(h.keys.is_empty());
        h.add("kas", "k1", "2026-01-01T00:00:00Z", None);
        h.add("kas", "k2", "2027-01-01T00:00:00Z", Some("k1"));
        h.add("kas", "k2", "2027-01-01T00:00:00Z", Some("k1"));
        h.save(dir.path()).unwrap();
        let back = KeyHistory::load(dir.path()).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.keys.len(), 2);
        assert_eq!(
            back.keys[0].replaced.as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert!(back.has("kas", "k2") && !back.has("tls", "k2"));
        std::fs::write(dir.path().join(HISTORY_JSON), b"{\"keys\": 3}").unwrap();
        let e = KeyHistory::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(HISTORY_JSON), "{e}");
    }
}
