//! Backups of a running node, and their restore (`accord backup`, `accord restore`).
//!
//! A backup is one tar archive (optionally encrypted to a recovery key, `crypt`) of
//! the node home as a node could have crashed into it, which the node already recovers
//! from. The order of the copy is what makes it so. A decision is durable in the audit
//! log before the node acts on it, so the log may be ahead of the database but never
//! behind: the database is snapshotted first (SQLite `VACUUM INTO`, or `pg_dump` of an
//! exported snapshot: `database`), the log after it (`accord_log::writer::snapshot`:
//! checkpoint, then tiles, then the journal's acknowledged entries). Objects received
//! (`blobs/inbox/`, `blobs/packs/`) are written before their rows and never removed
//! while a row names them, so they are copied after the snapshot. A queued send's file
//! (`blobs/outbox/`) is removed once delivered: each file there is hard-linked aside
//! before the snapshot and again after it, so that every send the snapshot holds queued
//! has its file; one queued and delivered within that moment makes the copy start
//! again. Keys, the witness state, policies, `node.toml` and `party.json` follow, and
//! `MANIFEST.json` last: the node, party, schema, log size, time, and the size and
//! SHA-256 of every member, which restore checks before it writes anything.

use crate::home::Home;
use crate::Error;
use accord_keys::KasPublicKey;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub mod crypt;
mod database;
mod restore;

pub use restore::{check, check_archive, restore, RestoreOptions, Restored};

/// The archive format this accord writes and reads.
pub const FORMAT: &str = "accord-backup/1";
/// The manifest's member name.
pub const MANIFEST: &str = "MANIFEST.json";
/// The manifest's signature by the node's signing key (the archive's last member):
/// what tells restore that this party's node took the backup, since its hashes only
/// show that the members match a manifest anyone could have written.
pub const MANIFEST_SIG: &str = "MANIFEST.sig";

/// What the node signs: a domain separator, then the manifest's bytes as written.
pub(crate) fn manifest_message(text: &[u8]) -> Vec<u8> {
    let mut m = b"accord backup manifest v1\n".to_vec();
    m.extend_from_slice(text);
    m
}

/// `MANIFEST.sig`: the node's two signatures over [`manifest_message`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    /// The signing party.
    pub party: String,
    /// The classical signature (ES384 or Ed25519), base64.
    pub classical: String,
    /// The ML-DSA-87 signature, base64.
    pub ml_dsa_87: String,
}

/// What a backup holds: written last into the archive, checked first by restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The node's party.
    pub party: String,
    /// The node's URL.
    pub node_url: String,
    /// The accord that took it.
    pub accord_version: String,
    /// When (RFC 3339, UTC).
    pub created: String,
    /// `sqlite` (member `database/node.db`) or `postgres` (`database/node.pgdump`).
    pub database: String,
    /// The database's schema version.
    pub schema: i64,
    /// The audit log's origin.
    pub log_origin: String,
    /// The log's size once opened (its checkpoint and the journal after it).
    pub log_size: u64,
    /// The size of the log's checkpoint copied.
    pub log_checkpoint_size: u64,
    /// Every other member.
    pub members: Vec<Member>,
}

/// One member of the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Its path (`/`-separated, relative to the node home; the database under
    /// `database/`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// How to take a backup.
#[derive(Default)]
pub struct BackupOptions<'a> {
    /// Encrypt to this recovery key (hybrid P-384 + ML-KEM-1024).
    pub recovery_key: Option<&'a KasPublicKey>,
    /// Called with the bytes written so far.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// How many times the copy starts again when a queued send was delivered while the
/// database was being snapshotted.
const ATTEMPTS: usize = 5;

/// A name under `blobs/`, as the exchange checks every file name the database gives
/// before it names a file.
pub(crate) fn checked_name(name: &str) -> Result<&str, Error> {
    crate::exchange::checked_file_name(name).map_err(Error::Input)
}

/// A directory of hard links (copies where links cannot be made) under `blobs/`,
/// removed when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Staging {
    /// Remove what a backup that was stopped left (older than a day: one may be
    /// running now).
    fn clear_stale(blobs: &Path) {
        let day = std::time::Duration::from_secs(24 * 3600);
        for e in std::fs::read_dir(blobs).into_iter().flatten().flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > day);
            if old && e.file_name().to_string_lossy().starts_with(".backup-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    fn new(blobs: &Path) -> Result<Staging, Error> {
        let mut r = [0u8; 8];
        aws_lc_rs::rand::fill(&mut r).map_err(|_| Error::Input("no random numbers".into()))?;
        let p = blobs.join(format!(".backup-{}", hex::encode(r)));
        std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        Ok(Staging(p))
    }

    /// Link every file of `dir` not staged yet.
    fn take(&self, dir: &Path) -> Result<(), Error> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str().filter(|n| checked_name(n).is_ok()) else {
                continue;
            };
            let to = self.0.join(n);
            if to.exists() {
                continue;
            }
            if std::fs::hard_link(e.path(), &to).is_err() {
                match std::fs::copy(e.path(), &to) {
                    Ok(_) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        let _ = std::fs::remove_file(&to);
                    }
                    Err(err) => return Err(Error::io(e.path(), err)),
                }
            }
        }
        Ok(())
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    ctx: aws_lc_rs::digest::Context,
    n: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// A writer that tells `progress` how much has gone through it.
struct Counting<'a, W> {
    inner: W,
    n: u64,
    progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        if let Some(p) = self.progress {
            p(self.n);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where the archive goes: as it is, or encrypted.
enum Out<W: Write> {
    Plain(W),
    Sealed(crypt::Encryptor<W>),
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Plain(w) => w.write(buf),
            Out::Sealed(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Sealed(w) => w.flush(),
        }
    }
}

/// The archive being written, with the members written so far.
struct Writer<W: Write> {
    tar: tar::Builder<W>,
    members: Vec<Member>,
}

impl<W: Write> Writer<W> {
    fn add(&mut self, path: &str, mode: u32, size: u64, data: impl Read) -> Result<(), Error> {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(mode & 0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mtime(0);
        let mut r = Hashing {
            inner: data.take(size),
            ctx: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            n: 0,
        };
        self.tar
            .append_data(&mut h, path, &mut r)
            .map_err(|e| Error::Input(format!("writing {path} into the backup: {e}")))?;
        if r.n != size {
            return Err(Error::Input(format!(
                "{path} changed size while it was copied ({size} bytes, then {})",
                r.n
            )));
        }
        self.members.push(Member {
            path: path.to_string(),
            size,
            sha256: hex::encode(r.ctx.finish().as_ref()),
        });
        Ok(())
    }

    fn add_bytes(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), Error> {
        self.add(path, mode, data.len() as u64, data)
    }

    /// A file as it is now; `Ok(false)` when it is gone (removed since it was listed).
    fn add_file(&mut self, path: &str, file: &Path) -> Result<bool, Error> {
        let f = match std::fs::File::open(file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(file, e)),
        };
        let meta = f.metadata().map_err(|e| Error::io(file, e))?;
        self.add(path, mode_of(&meta), meta.len(), f)?;
        Ok(true)
    }

    /// Every regular file under `dir` (recursively, names not starting with a dot nor
    /// ending in `.tmp`), as `prefix/...`.
    fn add_tree(&mut self, prefix: &str, dir: &Path) -> Result<(), Error> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        let mut names: Vec<(String, PathBuf, bool)> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                let dir = e.file_type().ok()?.is_dir();
                (!n.starts_with('.') && !n.ends_with(".tmp")).then(|| (n, e.path(), dir))
            })
            .collect();
        names.sort();
        for (n, p, is_dir) in names {
            let path = format!("{prefix}/{n}");
            if is_dir {
                self.add_tree(&path, &p)?;
            } else {
                self.add_file(&path, &p)?;
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o600
}

/// Take a backup of the node home `dir` (running or not) and write it to `out`.
pub async fn take(
    dir: &Path,
    out: impl Write,
    opts: &BackupOptions<'_>,
) -> Result<Manifest, Error> {
    let home = Home::open(dir)?;
    let layout = &home.layout;
    let url = layout.database_url(&home.config);
    let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let outbox = layout.blobs().join("outbox");
    Staging::clear_stale(&layout.blobs());
    // The database, with every queued send's file beside it.
    let mut attempt = 0;
    let (snap, staging) = loop {
        attempt += 1;
        let staging = Staging::new(&layout.blobs())?;
        staging.take(&outbox)?;
        let snap = database::snapshot(&url, tmp.path()).await?;
        staging.take(&outbox)?;
        let missing = snap
            .queued
            .iter()
            .find(|n| !staging.0.join(n).is_file())
            .cloned();
        match missing {
            None => break (snap, staging),
            Some(n) if attempt >= ATTEMPTS => {
                return Err(Error::Input(format!(
                    "the queued send {n} was delivered while the database was being copied, {ATTEMPTS} times: try again"
                )))
            }
            Some(_) => {
                let _ = std::fs::remove_file(&snap.file);
            }
        }
    };
    // The log after the database: it may be ahead, never behind.
    let log = accord_log::writer::snapshot(&layout.log())?;

    let mut counting = Counting {
        inner: out,
        n: 0,
        progress: opts.progress,
    };
    let sink = match opts.recovery_key {
        Some(k) => Out::Sealed(crypt::Encryptor::new(&mut counting, k)?),
        None => Out::Plain(&mut counting),
    };
    let mut w = Writer {
        tar: tar::Builder::new(sink),
        members: Vec::new(),
    };
    let db_member = if snap.kind == "sqlite" {
        "database/node.db"
    } else {
        "database/node.pgdump"
    };
    w.add_file(db_member, &snap.file)?;
    let _ = std::fs::remove_file(&snap.file);
    for f in &log.files {
        let path = format!("log/{}", f.path);
        match &f.data {
            accord_log::writer::SnapshotData::Bytes(b) => w.add_bytes(&path, 0o600, b)?,
            accord_log::writer::SnapshotData::File(p) => {
                if !w.add_file(&path, p)? {
                    return Err(Error::Input(format!(
                        "{}: removed while the backup was taken",
                        p.display()
                    )));
                }
            }
        }
    }
    w.add_tree("blobs/inbox", &layout.blobs().join("inbox"))?;
    w.add_tree("blobs/packs", &layout.blobs().join("packs"))?;
    for n in &snap.queued {
        w.add_file(&format!("blobs/outbox/{n}"), &staging.0.join(n))?;
    }
    drop(staging);
    w.add_tree("keys", &layout.keys())?;
    w.add_tree("witness", &layout.witness())?;
    w.add_tree("policies", &layout.policies())?;
    w.add_file("party.json", &layout.party())?;
    w.add_file(crate::home::NODE_TOML, &layout.config())?;
    let manifest = Manifest {
        format: FORMAT.into(),
        party: home.config.party.clone(),
        node_url: home.config.url.clone(),
        accord_version: env!("CARGO_PKG_VERSION").into(),
        created: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        database: snap.kind.into(),
        schema: snap.schema,
        log_origin: log.checkpoint.checkpoint.origin.clone(),
        log_size: log.size(),
        log_checkpoint_size: log.checkpoint.checkpoint.size,
        members: std::mem::take(&mut w.members),
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Input(e.to_string()))?;
    w.add_bytes(MANIFEST, 0o600, &text)?;
    let signing = home.signing_key()?;
    let message = manifest_message(&text);
    let b64 = |v: Vec<u8>| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v);
    let sig = ManifestSignature {
        party: home.config.party.clone(),
        classical: b64(signing.sign_classical(&message)?),
        ml_dsa_87: b64(signing.sign_ml_dsa(&message)?),
    };
    let sig = serde_json::to_vec_pretty(&sig).map_err(|e| Error::Input(e.to_string()))?;
    w.add_bytes(MANIFEST_SIG, 0o600, &sig)?;
    let sink = w
        .tar
        .into_inner()
        .map_err(|e| Error::Input(format!("writing the backup: {e}")))?;
    match sink {
        Out::Sealed(e) => {
            e.finish()
                .map_err(|e| Error::Input(format!("writing the backup: {e}")))?;
        }
        Out::Plain(w) => {
            w.flush()
                .map_err(|e| Error::Input(format!("writing the backup: {e}")))?;
        }
    }
    Ok(manifest)
}
