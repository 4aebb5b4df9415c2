//! The node's audit-log and witness keys: the key each signs with now, and the earlier
//! keys a rotation keeps signing beside it through the grace period it gave partners.
//!
//! Partners know this node's log and witness by keys the agreement pins. When `accord
//! key rotate log|witness` replaces one, a partner that has not loaded the amendment
//! yet knows only the old key, and one that has accepts both until the grace ends. So
//! from the rotation until the grace ends, every checkpoint is signed (and every
//! cosignature made) by both keys: whichever one a partner or an outside verifier
//! holds, it verifies. After the grace, the new key alone signs, and partners refuse
//! the old one (`Checked::accepted_verifier_keys`).
//!
//! The key in use lives where the log and the witness keep it (`log/.accord/log.key`,
//! `witness/witness.key`); an earlier one is kept in `keys/log/` or `keys/witness/`
//! (`<id>.key`, 0600), and until when it signs is its `accepted_until` in the key
//! history. Once its grace has ended (or it was revoked) it signs nothing again, and
//! its private half gives way to its public one (`<id>.vkey`): all the node needs of it
//! then is its id, and checking a checkpoint it signed.

use crate::home::Home;
use crate::node::Node;
use crate::Error;
use accord_agreement::amendment::{verifier_key_id, KeyKind};
use accord_agreement::Time;
use accord_keys::KeyHistory;
use accord_log::note::{SigningKey, VerifierKey};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the earlier keys of `kind` (log or witness) are kept: `keys/log/`,
/// `keys/witness/`.
fn ring(home: &Home, kind: KeyKind) -> PathBuf {
    home.layout.keys().join(kind.as_str())
}

/// The file the key of `kind` in use is read from.
pub(crate) fn in_use_path(home: &Home, kind: KeyKind) -> PathBuf {
    match kind {
        KeyKind::Witness => home.layout.witness().join("witness.key"),
        _ => accord_log::writer::log_key_path(&home.layout.log()),
    }
}

/// The id amendments and the key history know a note key by (`name+hash`).
pub(crate) fn key_id(key: &VerifierKey) -> String {
    verifier_key_id(&key.to_string())
}

/// Read a note signing key file (one short line).
pub(crate) fn read_key(path: &Path) -> Result<SigningKey, Error> {
    let mut s = zeroize::Zeroizing::new(String::new());
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut s))
        .map_err(|e| Error::io(path, e))?;
    SigningKey::parse(s.trim()).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Write `key` to `path` (0600), replacing what is there by one rename.
pub(crate) fn write_key(path: &Path, key: &SigningKey) -> Result<(), Error> {
    // One allocation, wiped when dropped (a push could leave a copy behind).
    let text = zeroize::Zeroizing::new(format!("{}\n", key.to_private_string().as_str()));
    Ok(accord_keys::replace_file(path, text.as_bytes(), true)?)
}

/// Keep `key`, the key of `kind` in use until a rotation, among the earlier keys.
pub(crate) fn keep(home: &Home, kind: KeyKind, key: &SigningKey) -> Result<(), Error> {
    let dir = ring(home, kind);
    crate::home::mkdir_private(&dir)?;
    let id = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        key.verifier().to_string().as_bytes(),
    ))[..32]
        .to_string();
    write_key(&dir.join(format!("{id}.key")), key)
}

/// The files in `keys/<kind>/` ending in `.ext`.
fn ring_files(home: &Home, kind: KeyKind, ext: &str) -> Result<Vec<PathBuf>, Error> {
    let dir = ring(home, kind);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e.map_err(|e| Error::io(&dir, e))?.path();
        if path.extension().is_some_and(|x| x == ext) {
            out.push(path);
        }
    }
    Ok(out)
}

/// Every earlier key of `kind` whose private half is kept, with its file. One that
/// does not read is said in the node's log and left out, not a reason for the log or
/// the witness to stop.
fn kept_files(home: &Home, kind: KeyKind) -> Result<Vec<(PathBuf, SigningKey)>, Error> {
    let mut out = Vec::new();
    for path in ring_files(home, kind, "key")? {
        match read_key(&path) {
            Ok(k) => out.push((path, k)),
            Err(e) => tracing::warn!(error = %e, "a kept {kind} key does not read: left out"),
        }
    }
    Ok(out)
}

/// Every earlier key of `kind` whose private half is kept.
fn kept(home: &Home, kind: KeyKind) -> Result<Vec<SigningKey>, Error> {
    Ok(kept_files(home, kind)?
        .into_iter()
        .map(|(_, k)| k)
        .collect())
}

/// The public half of every earlier key of `kind`: those kept whole, and those whose
/// grace has ended (`<id>.vkey`).
fn kept_public(home: &Home, kind: KeyKind) -> Result<Vec<VerifierKey>, Error> {
    let mut out: Vec<VerifierKey> = kept(home, kind)?
        .iter()
        .map(|k| k.verifier().clone())
        .collect();
    for path in ring_files(home, kind, "vkey")? {
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| VerifierKey::parse(t.trim()).map_err(|e| e.to_string()));
        match read {
            Ok(v) if !out.contains(&v) => out.push(v),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "a kept {kind} verifier key does not read: left out")
            }
        }
    }
    Ok(out)
}

/// Give up the private half of every kept log or witness key that signs nothing again
/// at `now` (its grace has ended, or it was revoked): its public half is written
/// beside it (`<id>.vkey`), then the private file goes. How many were given up.
pub(crate) fn retire_spent(home: &Home, now: Time) -> Result<usize, Error> {
    let history = KeyHistory::load(&home.layout.keys())?;
    let mut n = 0;
    for kind in [KeyKind::Log, KeyKind::Witness] {
        for (path, key) in kept_files(home, kind)? {
            let id = key_id(key.verifier());
            let Some(e) = history
                .keys
                .iter()
                .find(|e| e.kind == kind.as_str() && e.id == id)
            else {
                continue; // a rotation still writing its history: not yet
            };
            let ended = e.replaced.is_some()
                && e.accepted_until
                    .as_deref()
                    .and_then(|u| Time::parse(u).ok())
                    .is_none_or(|u| now >= u);
            if !(ended || e.compromised.is_some()) {
                continue;
            }
            let vkey = path.with_extension("vkey");
            accord_keys::replace_file(&vkey, format!("{}\n", key.verifier()).as_bytes(), false)?;
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            tracing::info!(%kind, key = %id, "an earlier key's grace has ended: its private half is gone, its public half kept");
            n += 1;
        }
    }
    Ok(n)
}

/// The earlier keys of `kind` whose grace runs at `now`: they sign beside the key in
/// use. A key the history does not give a grace, or that was revoked, signs nothing.
fn in_grace(
    home: &Home,
    history: &KeyHistory,
    kind: KeyKind,
    now: Time,
) -> Result<Vec<SigningKey>, Error> {
    Ok(kept(home, kind)?
        .into_iter()
        .filter(|k| {
            let id = key_id(k.verifier());
            history.keys.iter().any(|e| {
                e.kind == kind.as_str()
                    && e.id == id
                    && e.compromised.is_none()
                    && e.accepted_until
                        .as_deref()
                        .and_then(|u| Time::parse(u).ok())
                        .is_some_and(|u| now < u)
            })
        })
        .collect())
}

/// The keys the node's log signs its checkpoints with at `now`: its key in use, then
/// the earlier ones in their grace. The one set the node trusts its own checkpoints
/// by, too ([`own_log_verifiers`]).
pub(crate) fn log_signers(home: &Home, now: Time) -> Result<Vec<SigningKey>, Error> {
    let history = KeyHistory::load(&home.layout.keys())?;
    let mut keys = vec![read_key(&in_use_path(home, KeyKind::Log))?];
    for k in in_grace(home, &history, KeyKind::Log, now)? {
        if !keys.iter().any(|x| x.verifier() == k.verifier()) {
            keys.push(k);
        }
    }
    Ok(keys)
}

/// The earlier witness keys that cosign beside the witness's key at `now`.
pub(crate) fn witness_cosigners(home: &Home, now: Time) -> Result<Vec<SigningKey>, Error> {
    let history = KeyHistory::load(&home.layout.keys())?;
    in_grace(home, &history, KeyKind::Witness, now)
}

/// The log keys a checkpoint of this node's own log is taken as its own by at `now`
/// (the start-up check against partners' witnesses): the keys it signs with now
/// ([`log_signers`]), no more. A key past its grace, or revoked, is left out: whoever
/// kept or stole it could otherwise sign a larger checkpoint and stop the node from
/// starting. A witness holding a checkpoint only such a key signed is set aside.
pub(crate) fn own_log_verifiers(home: &Home, now: Time) -> Result<Vec<VerifierKey>, Error> {
    Ok(log_signers(home, now)?
        .iter()
        .map(|k| k.verifier().clone())
        .collect())
}

/// The ids of the node's log or witness keys: the one in use first, then those kept.
pub(crate) fn own_ids(home: &Home, kind: KeyKind) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    let in_use = in_use_path(home, kind);
    if in_use.exists() {
        ids.push(key_id(read_key(&in_use)?.verifier()));
    }
    for k in kept_public(home, kind)? {
        let id = key_id(&k);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The log opened for writing, signed with [`log_signers`] at `now`, and its
/// published checkpoint accepted if any key the node has had signed it.
pub(crate) fn open_log(
    home: &Home,
    opts: accord_log::LogOptions,
    now: Time,
) -> Result<accord_log::Log, accord_log::Error> {
    let (signing, earlier) = match (log_signers(home, now), kept_public(home, KeyKind::Log)) {
        (Ok(mut s), Ok(earlier)) => {
            // The log reads its own key.
            s.remove(0);
            // A checkpoint on this disk signed by an earlier key (a rotation made while
            // the node was down) is taken, and signed again with the keys of now. A
            // revoked key counts here too: its revocation may have followed the
            // rotation before the node started again, and whoever can write this
            // directory can replace the log's own key as well.
            (s, earlier)
        }
        // The log says what is wrong with its own key; an earlier key that does not
        // read leaves the log signed by its key in use.
        (Err(_), _) | (_, Err(_)) => (Vec::new(), Vec::new()),
    };
    accord_log::Log::open_with(
        &home.layout.log(),
        opts,
        accord_log::OtherKeys { signing, earlier },
    )
}

/// Keep the running log signed with [`log_signers`]: a rotation's new key from the
/// moment it is in place, the old one beside it until its grace ends. Looked at every
/// second until `stop`.
pub(crate) async fn keep_log_signed(
    node: Arc<Node>,
    log: Arc<accord_log::Log>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let ids = |keys: &[SigningKey]| -> Vec<String> {
        keys.iter().map(|k| k.verifier().to_string()).collect()
    };
    let mut signing: Option<Vec<String>> = log_signers(&node.home, (node.clock)())
        .ok()
        .map(|k| ids(&k));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Err(e) = retire_spent(&node.home, (node.clock)()) {
            tracing::warn!(error = %e, "an earlier log or witness key's private half could not be given up");
        }
        let keys = match log_signers(&node.home, (node.clock)()) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "the log's keys do not read now (a rotation writing them?)");
                continue;
            }
        };
        let now = ids(&keys);
        if signing.as_ref() == Some(&now) {
            continue;
        }
        let log = log.clone();
        match tokio::task::spawn_blocking(move || log.set_signing_keys(keys)).await {
            Ok(Ok(_)) => {
                tracing::info!(keys = ?now, "the audit log now signs its checkpoints with these keys");
                signing = Some(now);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the audit log's keys changed but cannot sign")
            }
            Err(e) => tracing::warn!(error = %e, "the audit log's keys changed but cannot sign"),
        }
    }
}
