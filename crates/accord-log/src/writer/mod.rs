//! The log writer: one process owns a log directory (a lock file), sequences appends
//! into a write-ahead journal with group commit (one `fdatasync` acknowledges every
//! entry of a batch), and publishes tiles and a signed checkpoint at most
//! `checkpoint_interval` after an entry is acknowledged.
//!
//! Crash safety, in order of writes:
//! 1. an entry is acknowledged only after its journal frame is `fdatasync`ed;
//! 2. tiles and entry bundles are written to a temporary name, `fsync`ed, renamed into
//!    place, and their directories `fsync`ed;
//! 3. only then is the checkpoint written to a temporary file, `fsync`ed, renamed over
//!    `checkpoint`, and the log directory `fsync`ed.
//!
//! So a published checkpoint never names a tile that is not durable, and on restart the
//! journal re-publishes every acknowledged entry the last checkpoint does not yet cover.
//!
//! Layout of a log directory (`checkpoint` and `tile/` are what a web server serves):
//! ```text
//! DIR/checkpoint                signed checkpoint (c2sp.org/tlog-checkpoint)
//! DIR/tile/<L>/<N>[.p/<W>]      hash tiles (c2sp.org/tlog-tiles)
//! DIR/tile/entries/<N>[.p/<W>]  entry bundles
//! DIR/.accord/log.key           the log's private key (0600, directory 0700)
//! DIR/.accord/lock              one writer at a time
//! DIR/.accord/wal/<base>.wal    journal segments of acknowledged entries
//! ```
//!
//! The parts, each in a module of its own: `files` (durable file writes), `journal`
//! (the write-ahead journal's segments and frames), `tree` (the published tree and
//! its tiles), `sequencer` and `publisher` (the two writer threads). This module
//! holds the public face: creating a log, opening it, appending to it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::note::{Note, Signature, SigningKey, VerifierKey, TYPE_ED25519};
use crate::tile::MAX_ENTRY_SIZE;
use crate::Error;

mod files;
mod journal;
mod publisher;
mod sequencer;
mod snapshot;
mod tree;

use files::{
    create_private_dir, create_private_file, fsync_dir, private_dir, write_atomic, PRIVATE_DIR,
};
use journal::{list_segments, new_segment, read_segment, WAL_DIR};
use publisher::{publish, publisher, PubRequest};
use sequencer::{sequencer, SeqRequest};
use tree::TreeState;

pub use snapshot::{snapshot, LogSnapshot, SnapshotData, SnapshotFile};

const KEY_FILE: &str = "log.key";
const LOCK_FILE: &str = "lock";

/// Tuning of a log writer.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Longest time between an acknowledged append and the checkpoint that covers it
    /// (plus the time to write that checkpoint).
    pub checkpoint_interval: Duration,
    /// Most entries committed in one journal `fdatasync`.
    pub max_batch: usize,
    /// Start a new journal segment when the current one exceeds this many bytes.
    pub wal_segment_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            checkpoint_interval: Duration::from_millis(100),
            max_batch: 65536,
            wal_segment_bytes: 64 << 20,
        }
    }
}

/// Create a new, empty log in `dir` (created if missing, must not already hold a log)
/// with a fresh Ed25519 key named `origin`; publishes the checkpoint of the empty tree.
/// Returns the signing key (its verifier key is what verifiers need).
pub fn create_log(dir: &Path, origin: &str) -> Result<SigningKey, Error> {
    if origin.contains('\n') || origin.is_empty() {
        return Err(Error::Invalid(
            "the origin must be one non-empty line".into(),
        ));
    }
    let key = SigningKey::generate(origin, TYPE_ED25519)?;
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if dir.join("checkpoint").exists() || private_dir(dir).join(KEY_FILE).exists() {
        return Err(Error::Invalid(format!(
            "{} already holds a log",
            dir.display()
        )));
    }
    let pdir = private_dir(dir);
    create_private_dir(&pdir)?;
    let kpath = pdir.join(KEY_FILE);
    let mut f = create_private_file(&kpath)?;
    let secret = key.to_private_string();
    f.write_all(secret.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&kpath, e))?;
    fsync_dir(&pdir)?;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: 0,
        root: crate::hash::empty_root(),
        extensions: vec![],
    };
    let text = cp.to_text();
    let note = Note {
        signatures: vec![key.sign(&text, 0)],
        text,
    };
    write_atomic(&dir.join("checkpoint"), &note.to_bytes(), true)?;
    fsync_dir(dir)?;
    Ok(key)
}

/// Keys a log is opened with beyond its own `log.key` ([`Log::open_with`]).
#[derive(Debug, Default)]
pub struct OtherKeys {
    /// Keys that sign its checkpoints too.
    pub signing: Vec<SigningKey>,
    /// Keys its published checkpoint may have been signed by (keys it had before).
    pub earlier: Vec<VerifierKey>,
}

/// A log's signing keys must be at least one, each an Ed25519 log key named `origin`.
fn check_log_keys(keys: &[SigningKey], origin: &str) -> Result<(), Error> {
    if keys.is_empty() {
        return Err(Error::Invalid("a log needs a key to sign with".into()));
    }
    for (i, k) in keys.iter().enumerate() {
        if k.name() != origin || k.verifier().kind != TYPE_ED25519 {
            return Err(Error::Invalid(format!(
                "log key {} is not an Ed25519 log key named {origin:?}, the log's origin",
                k.verifier()
            )));
        }
        if keys[..i].iter().any(|x| x.verifier() == k.verifier()) {
            return Err(Error::Invalid(format!(
                "log key {} is given twice",
                k.verifier()
            )));
        }
    }
    Ok(())
}

/// The file that holds the private key of the log in `dir` (`.accord/log.key`).
pub fn log_key_path(dir: &Path) -> PathBuf {
    private_dir(dir).join(KEY_FILE)
}

/// Read the log key of the log in `dir`.
pub fn read_log_key(dir: &Path) -> Result<SigningKey, Error> {
    let kpath = private_dir(dir).join(KEY_FILE);
    let mut s = zeroize::Zeroizing::new(String::new());
    File::open(&kpath)
        .and_then(|f| f.take(4096).read_to_string(&mut s))
        .map_err(|e| Error::io(&kpath, e))?;
    SigningKey::parse(s.trim())
}

/// Read and parse the published checkpoint of the log in `dir`.
pub fn read_checkpoint(dir: &Path) -> Result<SignedCheckpoint, Error> {
    let p = dir.join("checkpoint");
    let data = fs::read(&p).map_err(|e| Error::io(&p, e))?;
    SignedCheckpoint::parse(&data)
}

struct Shared {
    stopped: Mutex<Option<String>>,
    checkpointed: AtomicU64,
}

impl Shared {
    fn stop(&self, why: String) {
        let mut s = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            *s = Some(why);
        }
    }
    fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A cheap, cloneable handle to append entries to an open log from any thread or task.
#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<SeqRequest>,
    shared: Arc<Shared>,
}

impl Appender {
    fn send(
        &self,
        entries: Vec<Vec<u8>>,
    ) -> Result<oneshot::Receiver<Result<Range<u64>, Error>>, Error> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY_SIZE) {
            return Err(Error::EntryTooLarge(e.len()));
        }
        if let Some(why) = self.shared.stopped() {
            return Err(Error::Stopped(why));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(SeqRequest::Append { entries, reply })
            .map_err(|_| Error::Stopped("the log is closed".into()))?;
        Ok(rx)
    }

    fn closed() -> Error {
        Error::Stopped("the log writer stopped before acknowledging".into())
    }

    /// Append one entry; resolves to its index once the entry is durable.
    pub async fn append(&self, entry: Vec<u8>) -> Result<u64, Error> {
        let rx = self.send(vec![entry])?;
        rx.await.map_err(|_| Self::closed())?.map(|r| r.start)
    }

    /// Append several entries (consecutive indices); resolves once all are durable.
    pub async fn append_many(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, Error> {
        let rx = self.send(entries)?;
        rx.await.map_err(|_| Self::closed())?
    }

    /// Blocking [`Appender::append`], for threads outside an async runtime.
    pub fn append_blocking(&self, entry: Vec<u8>) -> Result<u64, Error> {
        self.append_many_blocking(vec![entry]).map(|r| r.start)
    }

    /// Blocking [`Appender::append_many`].
    pub fn append_many_blocking(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, Error> {
        let rx = self.send(entries)?;
        rx.blocking_recv().map_err(|_| Self::closed())?
    }
}

/// An open log, owned by this process until [`Log::close`] (or drop).
pub struct Log {
    dir: PathBuf,
    appender: Appender,
    pub_tx: mpsc::Sender<PubRequest>,
    checkpoints: watch::Receiver<u64>,
    threads: Vec<JoinHandle<()>>,
    _lock: File,
    origin: String,
}

impl Log {
    /// Open the log in `dir` for writing: take the writer lock, check the published
    /// checkpoint against the tiles, re-publish any acknowledged entries from the
    /// journal that the checkpoint does not yet cover, and start the writer threads.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<Log, Error> {
        Log::open_with(dir, opts, OtherKeys::default())
    }

    /// [`Log::open`], the log signed with `other.signing` too, and its published
    /// checkpoint accepted when signed by any of those or of `other.earlier` (a log
    /// whose key was rotated: the old key signs beside the new one while partners
    /// still know the log by it). A published checkpoint that lacks a signature by a
    /// key it is signed with now is signed again at once.
    pub fn open_with(dir: &Path, opts: LogOptions, other: OtherKeys) -> Result<Log, Error> {
        let pdir = private_dir(dir);
        if !pdir.join(KEY_FILE).is_file() {
            return Err(Error::Invalid(format!(
                "{} is not an audit log this node writes (no {PRIVATE_DIR}/{KEY_FILE}); create one with `accord audit init`",
                dir.display()
            )));
        }
        let lock_path = pdir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        #[allow(clippy::incompatible_msrv)]
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let key = read_log_key(dir)?;
        let mut signed = read_checkpoint(dir)?;
        let mut keys = vec![key];
        for k in other.signing {
            if !keys.iter().any(|x| x.verifier() == k.verifier()) {
                keys.push(k);
            }
        }
        check_log_keys(&keys, keys[0].name())?;
        // Earlier keys of the log: its name, Ed25519 (anything else is no key of it).
        let trusted: Vec<VerifierKey> = keys
            .iter()
            .map(|k| k.verifier().clone())
            .chain(
                other
                    .earlier
                    .into_iter()
                    .filter(|v| v.name == keys[0].name() && v.kind == TYPE_ED25519),
            )
            .collect();
        signed
            .note
            .verify(&trusted)
            .map_err(|e| Error::Verify(format!("published checkpoint: {e}")))?;
        let cp = signed.checkpoint.clone();
        if cp.origin != keys[0].name() {
            return Err(Error::Verify(format!(
                "checkpoint origin {:?} is not the key name {:?}",
                cp.origin,
                keys[0].name()
            )));
        }
        let mut state = TreeState::load(dir, cp.size)?;
        if state.range.root() != cp.root {
            return Err(Error::Verify(format!(
                "the tiles of {} contradict its checkpoint of size {}",
                dir.display(),
                cp.size
            )));
        }
        // Signed again when its log signatures are not exactly the keys' of now (a
        // rotation, or a grace that ended while the log was closed).
        let by = |s: &Signature| (s.name.clone(), s.key_id);
        let mut now: Vec<_> = keys
            .iter()
            .map(|k| (k.name().to_string(), k.verifier().key_id))
            .collect();
        let mut had: Vec<_> = signed
            .note
            .signatures
            .iter()
            .filter(|s| s.name == cp.origin)
            .map(by)
            .collect();
        now.sort();
        had.sort();
        if now != had {
            signed.note = publisher::resign(dir, &keys, &cp.origin, &signed.note)?;
        }
        // Replay the journal.
        let wal = pdir.join(WAL_DIR);
        fs::create_dir_all(&wal).map_err(|e| Error::io(&wal, e))?;
        let segs = list_segments(&wal)?;
        let mut next = cp.size;
        let mut replay = Vec::new();
        for s in &segs {
            let (entries, valid) = read_segment(&s.path)?;
            if s.base > next {
                return Err(Error::Verify(format!(
                    "journal segment {} starts at {} but the log has only {next} entries",
                    s.path.display(),
                    s.base
                )));
            }
            let end = s.base + entries.len() as u64;
            if end > next {
                replay.extend(entries.into_iter().skip((next - s.base) as usize));
                next = end;
            }
            let _ = valid;
        }
        let mut checkpoint = signed;
        if !replay.is_empty() {
            for e in replay {
                state.add(e)?;
            }
            checkpoint = publish(dir, &keys, &mut state, &cp.origin)?;
        }
        // A fresh segment for new appends; old ones are removed once checkpointed.
        let (seg, seg_path) = new_segment(&wal, next)?;
        for s in segs {
            if s.path != seg_path {
                let _ = fs::remove_file(&s.path);
            }
        }
        fsync_dir(&wal)?;

        let shared = Arc::new(Shared {
            stopped: Mutex::new(None),
            checkpointed: AtomicU64::new(next),
        });
        let (seq_tx, seq_rx) = mpsc::channel();
        let (pub_tx, pub_rx) = mpsc::channel();
        let (watch_tx, watch_rx) = watch::channel(checkpoint.checkpoint.size);
        let mut threads = Vec::new();
        {
            let shared = shared.clone();
            let pub_tx = pub_tx.clone();
            let opts = opts.clone();
            let wal = wal.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("accord-log-sequencer".into())
                    .spawn(move || sequencer(seq_rx, pub_tx, shared, wal, seg, next, opts))
                    .map_err(|e| Error::io(dir, e))?,
            );
        }
        {
            let shared = shared.clone();
            let dir = dir.to_path_buf();
            let origin = cp.origin.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("accord-log-publisher".into())
                    .spawn(move || {
                        publisher(
                            pub_rx, shared, dir, keys, state, origin, checkpoint, watch_tx, opts,
                        )
                    })
                    .map_err(|e| Error::io(&pdir, e))?,
            );
        }
        Ok(Log {
            dir: dir.to_path_buf(),
            appender: Appender { tx: seq_tx, shared },
            pub_tx,
            checkpoints: watch_rx,
            threads,
            _lock: lock,
            origin: cp.origin,
        })
    }

    /// A handle for appending.
    pub fn appender(&self) -> Appender {
        self.appender.clone()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The size of the latest published checkpoint; changes as checkpoints are published.
    pub fn checkpoints(&self) -> watch::Receiver<u64> {
        self.checkpoints.clone()
    }

    /// Publish a checkpoint now (covering everything acknowledged so far) and return it.
    pub fn publish_now(&self) -> Result<SignedCheckpoint, Error> {
        let (tx, rx) = oneshot::channel();
        self.pub_tx
            .send(PubRequest::Publish(tx))
            .map_err(|_| Error::Stopped("publisher stopped".into()))?;
        rx.blocking_recv()
            .map_err(|_| Error::Stopped("publisher stopped".into()))?
    }

    /// Add witness cosignatures to the published checkpoint if it still has `size`.
    pub fn add_cosignatures(
        &self,
        size: u64,
        sigs: Vec<Signature>,
    ) -> Result<SignedCheckpoint, Error> {
        let (tx, rx) = oneshot::channel();
        self.pub_tx
            .send(PubRequest::Cosign {
                size,
                sigs,
                reply: tx,
            })
            .map_err(|_| Error::Stopped("publisher stopped".into()))?;
        rx.blocking_recv()
            .map_err(|_| Error::Stopped("publisher stopped".into()))?
    }

    /// Sign the log with `keys` from now on, in place of the keys it was signed with,
    /// and sign the published checkpoint with them at once (its witnesses'
    /// cosignatures kept). Each must be an Ed25519 log key named as the log's origin.
    /// A rotation gives the new key and, for the grace period partners were given, the
    /// old one; after it, the new one alone.
    pub fn set_signing_keys(&self, keys: Vec<SigningKey>) -> Result<SignedCheckpoint, Error> {
        check_log_keys(&keys, &self.origin)?;
        let (tx, rx) = oneshot::channel();
        self.pub_tx
            .send(PubRequest::Keys { keys, reply: tx })
            .map_err(|_| Error::Stopped("publisher stopped".into()))?;
        rx.blocking_recv()
            .map_err(|_| Error::Stopped("publisher stopped".into()))?
    }

    /// Stop accepting appends, publish a final checkpoint covering every acknowledged
    /// entry, and release the lock.
    pub fn close(mut self) -> Result<SignedCheckpoint, Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<SignedCheckpoint, Error> {
        // The sequencer forwards the shutdown to the publisher after its last batch, so
        // the final checkpoint covers every acknowledged entry.
        let (tx, rx) = mpsc::channel();
        let mut res = Err(Error::Stopped("sequencer stopped".into()));
        if self.appender.tx.send(SeqRequest::Shutdown(tx)).is_ok() {
            if let Ok(r) = rx.recv() {
                res = r;
            }
        }
        if let Err(Error::Stopped(_)) = res {
            // The sequencer is gone: stop the publisher directly.
            let (tx, rx) = mpsc::channel();
            if self.pub_tx.send(PubRequest::Shutdown(tx)).is_ok() {
                if let Ok(r) = rx.recv() {
                    res = r;
                }
            }
            if let Some(why) = self.appender.shared.stopped() {
                res = Err(Error::Stopped(why));
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        res
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            let _ = self.shutdown();
        }
    }
}
