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

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::hash::{leaf_hash, root_of, sha256, Hash};
use crate::merkle::CompactRange;
use crate::note::{Note, Signature, SigningKey, TYPE_ED25519};
use crate::tile::{
    encode_bundle, entries_path, parse_bundle, parse_tile, tile_path, MAX_ENTRY_SIZE, TILE_WIDTH,
};
use crate::Error;

const PRIVATE_DIR: &str = ".accord";
const KEY_FILE: &str = "log.key";
const LOCK_FILE: &str = "lock";
const WAL_DIR: &str = "wal";
const FRAME_MAGIC: &[u8; 4] = b"AWF1";

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

fn private_dir(dir: &Path) -> PathBuf {
    dir.join(PRIVATE_DIR)
}

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Write `data` to `path` atomically and durably: temporary file, fsync, rename, fsync
/// of the directory (skipped when `sync_dir` is false and the caller does it).
fn write_atomic(path: &Path, data: &[u8], sync_dir: bool) -> Result<(), Error> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = parent.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(data).map_err(|e| Error::io(&tmp, e))?;
        f.sync_data().map_err(|e| Error::io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if sync_dir {
        fsync_dir(parent)?;
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

fn create_private_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
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

/// In-memory state of the published tree: the right edge of every tile level.
struct TreeState {
    size: u64,
    range: CompactRange,
    /// Hashes of the current (partial) tile at each level.
    levels: Vec<Vec<Hash>>,
    /// Entries of the current (partial) bundle.
    bundle: Vec<Vec<u8>>,
    /// Full tiles and bundles not yet written: (path, bytes).
    pending: Vec<(String, Vec<u8>)>,
    /// Widths of the partial tiles already on disk, per level (to skip rewrites).
    written_partial: Vec<u64>,
    /// `.p` directories to remove once the full tile is published.
    obsolete: Vec<String>,
}

impl TreeState {
    fn empty() -> Self {
        TreeState {
            size: 0,
            range: CompactRange::new(),
            levels: vec![],
            bundle: vec![],
            pending: vec![],
            written_partial: vec![],
            obsolete: vec![],
        }
    }

    /// Rebuild from the tiles of a published tree of `size`.
    fn load(dir: &Path, size: u64) -> Result<Self, Error> {
        let mut st = TreeState::empty();
        st.size = size;
        let mut level = 0u32;
        while level < 8 && (size >> (8 * level)) > 0 {
            let at = size >> (8 * level);
            let (n, w) = (at / TILE_WIDTH, at % TILE_WIDTH);
            let hashes = if w > 0 {
                let path = tile_path(level, n, w);
                let data = fs::read(dir.join(&path)).map_err(|e| Error::io(dir.join(&path), e))?;
                parse_tile(&path, &data, w)?
            } else {
                vec![]
            };
            st.levels.push(hashes);
            st.written_partial.push(w);
            level += 1;
        }
        let w0 = size % TILE_WIDTH;
        if w0 > 0 {
            let path = entries_path(size / TILE_WIDTH, w0);
            let data = fs::read(dir.join(&path)).map_err(|e| Error::io(dir.join(&path), e))?;
            st.bundle = parse_bundle(&path, &data, w0)?
                .into_iter()
                .map(|e| e.to_vec())
                .collect();
        }
        for (lvl, hashes) in st.levels.iter().enumerate().rev() {
            for h in hashes {
                st.range.push_subtree(8 * lvl as u32, *h);
            }
        }
        Ok(st)
    }

    fn add(&mut self, entry: Vec<u8>) -> Result<(), Error> {
        let leaf = leaf_hash(&entry);
        self.range.push(leaf);
        self.bundle.push(entry);
        let index = self.size;
        self.size += 1;
        if self.bundle.len() as u64 == TILE_WIDTH {
            let n = index / TILE_WIDTH;
            self.pending
                .push((entries_path(n, TILE_WIDTH), encode_bundle(&self.bundle)?));
            self.obsolete
                .push(format!("{}.p", entries_path(n, TILE_WIDTH)));
            self.bundle.clear();
        }
        self.add_hash(0, leaf);
        Ok(())
    }

    fn add_hash(&mut self, level: usize, h: Hash) {
        if self.levels.len() <= level {
            self.levels.push(vec![]);
            self.written_partial.push(0);
        }
        self.levels[level].push(h);
        if self.levels[level].len() as u64 == TILE_WIDTH {
            let n = ((self.size >> (8 * level)) / TILE_WIDTH) - 1;
            let tile = std::mem::take(&mut self.levels[level]);
            let path = tile_path(level as u32, n, TILE_WIDTH);
            self.obsolete.push(format!("{path}.p"));
            self.pending.push((path, tile.concat()));
            self.written_partial[level] = 0;
            self.add_hash(level + 1, root_of(&tile));
        }
    }

    /// Write every pending full tile and the current partial tiles, durably.
    fn write_tiles(&mut self, dir: &Path) -> Result<(), Error> {
        let mut files = std::mem::take(&mut self.pending);
        for (lvl, hashes) in self.levels.iter().enumerate() {
            let w = hashes.len() as u64;
            if w > 0 && self.written_partial[lvl] != w {
                let n = (self.size >> (8 * lvl)) / TILE_WIDTH;
                files.push((tile_path(lvl as u32, n, w), hashes.concat()));
            }
        }
        if !self.bundle.is_empty() {
            let n = self.size / TILE_WIDTH;
            files.push((
                entries_path(n, self.bundle.len() as u64),
                encode_bundle(&self.bundle)?,
            ));
        }
        // Write every file under a temporary name first, then fsync them all (the
        // first fsync commits the file system journal for all of them, so the rest are
        // cheap), then rename them into place and fsync their directories.
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut written = Vec::with_capacity(files.len());
        for (path, data) in &files {
            let full = dir.join(path);
            let parent = full
                .parent()
                .expect("tile paths have a parent")
                .to_path_buf();
            if !parent.is_dir() {
                fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
                // New directories must be durable in their parents too.
                let mut p = parent.parent();
                while let Some(pp) = p {
                    if pp == dir {
                        break;
                    }
                    dirs.push(pp.to_path_buf());
                    p = pp.parent();
                }
            }
            let name = full.file_name().and_then(|n| n.to_str()).unwrap_or("tile");
            let tmp = parent.join(format!(".{name}.tmp"));
            let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(data).map_err(|e| Error::io(&tmp, e))?;
            written.push((f, tmp, full));
            dirs.push(parent);
        }
        // Concurrent fsyncs share journal commits: far faster than one after another.
        parallel(&written, |(f, tmp, _)| {
            f.sync_data().map_err(|e| Error::io(tmp, e))
        })?;
        for (_, tmp, full) in &written {
            fs::rename(tmp, full).map_err(|e| Error::io(full, e))?;
        }
        dirs.sort();
        dirs.dedup();
        parallel(&dirs, |d| fsync_dir(d))?;
        for (lvl, hashes) in self.levels.iter().enumerate() {
            self.written_partial[lvl] = hashes.len() as u64;
        }
        Ok(())
    }

    fn remove_obsolete(&mut self, dir: &Path) {
        for p in self.obsolete.drain(..) {
            // Best effort: partial tiles may be removed once the full tile exists.
            let _ = fs::remove_dir_all(dir.join(p));
        }
    }
}

/// Run `f` over `items` on up to 16 threads; the first error wins.
fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<(), Error> + Sync) -> Result<(), Error> {
    if items.len() <= 1 {
        return items.iter().try_for_each(&f);
    }
    let chunk = items.len().div_ceil(16);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().try_for_each(&f)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Stopped("an fsync thread panicked".into())))
            })
            .collect::<Result<Vec<()>, Error>>()
            .map(|_| ())
    })
}

/// A request to the sequencer thread.
enum SeqRequest {
    Append {
        entries: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<Range<u64>, Error>>,
    },
    Shutdown(ShutdownReply),
}

/// Where the final checkpoint of a shutdown is sent. A std channel, not a tokio one:
/// `Log` is closed on drop, and a drop may run inside an async runtime, where tokio's
/// `blocking_recv` panics (as it did when `accord serve` failed to bind its port).
type ShutdownReply = mpsc::Sender<Result<SignedCheckpoint, Error>>;

/// A request to the publisher thread.
enum PubRequest {
    Batch {
        start: u64,
        entries: Vec<Vec<u8>>,
    },
    Publish(oneshot::Sender<Result<SignedCheckpoint, Error>>),
    Cosign {
        size: u64,
        sigs: Vec<Signature>,
        reply: oneshot::Sender<Result<SignedCheckpoint, Error>>,
    },
    Shutdown(ShutdownReply),
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

struct WalSegment {
    base: u64,
    path: PathBuf,
}

fn list_segments(wal: &Path) -> Result<Vec<WalSegment>, Error> {
    let mut segs = Vec::new();
    for e in fs::read_dir(wal).map_err(|e| Error::io(wal, e))? {
        let e = e.map_err(|e| Error::io(wal, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(b) = name
            .strip_suffix(".wal")
            .and_then(|b| b.parse::<u64>().ok())
        {
            segs.push(WalSegment {
                base: b,
                path: e.path(),
            });
        }
    }
    segs.sort_by_key(|s| s.base);
    Ok(segs)
}

/// Read the valid frames of a journal segment; returns the entries and the byte length
/// of the valid prefix (a torn final frame is not acknowledged and is dropped).
fn read_segment(path: &Path) -> Result<(Vec<Vec<u8>>, u64), Error> {
    let data = fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while data.len() - pos >= 12 {
        if &data[pos..pos + 4] != FRAME_MAGIC {
            break;
        }
        let count = u32::from_be_bytes(data[pos + 4..pos + 8].try_into().expect("4")) as usize;
        let len = u32::from_be_bytes(data[pos + 8..pos + 12].try_into().expect("4")) as usize;
        let end = pos + 12 + len + 8;
        if end > data.len() {
            break;
        }
        if sha256(&data[pos..pos + 12 + len])[..8] != data[pos + 12 + len..end] {
            break;
        }
        let Ok(es) = parse_bundle(
            &path.display().to_string(),
            &data[pos + 12..pos + 12 + len],
            count as u64,
        ) else {
            break;
        };
        entries.extend(es.into_iter().map(|e| e.to_vec()));
        pos = end;
    }
    Ok((entries, pos as u64))
}

fn new_segment(wal: &Path, base: u64) -> Result<(File, PathBuf), Error> {
    let path = wal.join(format!("{base:020}.wal"));
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    f.sync_all().map_err(|e| Error::io(&path, e))?;
    fsync_dir(wal)?;
    Ok((f, path))
}

impl Log {
    /// Open the log in `dir` for writing: take the writer lock, check the published
    /// checkpoint against the tiles, re-publish any acknowledged entries from the
    /// journal that the checkpoint does not yet cover, and start the writer threads.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<Log, Error> {
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
        let signed = read_checkpoint(dir)?;
        signed
            .note
            .verify(std::slice::from_ref(key.verifier()))
            .map_err(|e| Error::Verify(format!("published checkpoint: {e}")))?;
        let cp = signed.checkpoint.clone();
        if cp.origin != key.name() {
            return Err(Error::Verify(format!(
                "checkpoint origin {:?} is not the key name {:?}",
                cp.origin,
                key.name()
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
            checkpoint = publish(dir, &key, &mut state, &cp.origin)?;
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
                            pub_rx, shared, dir, key, state, origin, checkpoint, watch_tx, opts,
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

fn sequencer(
    rx: mpsc::Receiver<SeqRequest>,
    pub_tx: mpsc::Sender<PubRequest>,
    shared: Arc<Shared>,
    wal: PathBuf,
    mut seg: File,
    mut next: u64,
    opts: LogOptions,
) {
    let mut seg_bytes = 0u64;
    let mut buf = Vec::new();
    let mut shutdown = None;
    while shutdown.is_none() {
        let Ok(first) = rx.recv() else { return };
        let mut reqs = Vec::new();
        let mut count = 0usize;
        match first {
            SeqRequest::Shutdown(r) => shutdown = Some(r),
            SeqRequest::Append { entries, reply } => {
                count += entries.len();
                reqs.push((entries, reply));
            }
        }
        while shutdown.is_none() && count < opts.max_batch {
            match rx.try_recv() {
                Ok(SeqRequest::Append { entries, reply }) => {
                    count += entries.len();
                    reqs.push((entries, reply));
                }
                Ok(SeqRequest::Shutdown(r)) => shutdown = Some(r),
                Err(_) => break,
            }
        }
        if reqs.is_empty() {
            break;
        }
        // One frame, one fdatasync for the whole batch.
        buf.clear();
        buf.extend_from_slice(FRAME_MAGIC);
        buf.extend_from_slice(&(count as u32).to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        for (entries, _) in &reqs {
            for e in entries {
                buf.extend_from_slice(&(e.len() as u16).to_be_bytes());
                buf.extend_from_slice(e);
            }
        }
        let len = (buf.len() - 12) as u32;
        buf[8..12].copy_from_slice(&len.to_be_bytes());
        let check = sha256(&buf);
        buf.extend_from_slice(&check[..8]);
        let res = seg.write_all(&buf).and_then(|_| seg.sync_data());
        if let Err(e) = res {
            let why = format!("journal write failed: {e}");
            shared.stop(why.clone());
            for (_, reply) in reqs {
                let _ = reply.send(Err(Error::Stopped(why.clone())));
            }
            return;
        }
        seg_bytes += buf.len() as u64;
        let start = next;
        let mut all = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(reqs.len());
        for (entries, reply) in reqs {
            let r = next..next + entries.len() as u64;
            next = r.end;
            all.extend(entries);
            replies.push((r, reply));
        }
        // Hand the batch to the publisher before acknowledging, so that a caller who
        // asks for a checkpoint after its acknowledgement gets one that covers it.
        if pub_tx
            .send(PubRequest::Batch {
                start,
                entries: all,
            })
            .is_err()
        {
            shared.stop("publisher stopped".into());
            return;
        }
        for (r, reply) in replies {
            let _ = reply.send(Ok(r));
        }
        if seg_bytes >= opts.wal_segment_bytes {
            match new_segment(&wal, next) {
                Ok((f, _)) => {
                    seg = f;
                    seg_bytes = 0;
                    // Remove segments fully covered by a published checkpoint.
                    let done = shared.checkpointed.load(Ordering::Acquire);
                    if let Ok(segs) = list_segments(&wal) {
                        for w in segs.windows(2) {
                            if w[1].base <= done {
                                let _ = fs::remove_file(&w[0].path);
                            }
                        }
                    }
                }
                Err(e) => {
                    shared.stop(format!("journal rotation failed: {e}"));
                    return;
                }
            }
        }
    }
    if let Some(reply) = shutdown {
        let _ = pub_tx.send(PubRequest::Shutdown(reply));
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn publish(
    dir: &Path,
    key: &SigningKey,
    state: &mut TreeState,
    origin: &str,
) -> Result<SignedCheckpoint, Error> {
    state.write_tiles(dir)?;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: state.size,
        root: state.range.root(),
        extensions: vec![],
    };
    let text = cp.to_text();
    let note = Note {
        signatures: vec![key.sign(&text, now_secs())],
        text,
    };
    write_atomic(&dir.join("checkpoint"), &note.to_bytes(), true)?;
    state.remove_obsolete(dir);
    Ok(SignedCheckpoint {
        checkpoint: cp,
        note,
    })
}

#[allow(clippy::too_many_arguments)]
fn publisher(
    rx: mpsc::Receiver<PubRequest>,
    shared: Arc<Shared>,
    dir: PathBuf,
    key: SigningKey,
    mut state: TreeState,
    origin: String,
    mut current: SignedCheckpoint,
    watch_tx: watch::Sender<u64>,
    opts: LogOptions,
) {
    let mut deadline: Option<Instant> = None;
    let mut failed: Option<String> = None;
    let do_publish = |state: &mut TreeState,
                      current: &mut SignedCheckpoint,
                      failed: &mut Option<String>|
     -> Result<SignedCheckpoint, Error> {
        if let Some(f) = failed {
            return Err(Error::Stopped(f.clone()));
        }
        if state.size == current.checkpoint.size {
            return Ok(current.clone());
        }
        match publish(&dir, &key, state, &origin) {
            Ok(c) => {
                *current = c.clone();
                shared
                    .checkpointed
                    .store(c.checkpoint.size, Ordering::Release);
                let _ = watch_tx.send(c.checkpoint.size);
                Ok(c)
            }
            Err(e) => {
                let why = format!("publishing failed: {e}");
                shared.stop(why.clone());
                *failed = Some(why);
                Err(e)
            }
        }
    };
    loop {
        let msg = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    let _ = do_publish(&mut state, &mut current, &mut failed);
                    deadline = None;
                    continue;
                }
                match rx.recv_timeout(d - now) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => return,
            },
        };
        match msg {
            PubRequest::Batch { start, entries } => {
                debug_assert_eq!(start, state.size);
                for e in entries {
                    if let Err(e) = state.add(e) {
                        failed = Some(e.to_string());
                    }
                }
                if deadline.is_none() {
                    deadline = Some(Instant::now() + opts.checkpoint_interval);
                }
            }
            PubRequest::Publish(reply) => {
                deadline = None;
                let _ = reply.send(do_publish(&mut state, &mut current, &mut failed));
            }
            PubRequest::Cosign { size, sigs, reply } => {
                let res = if current.checkpoint.size != size {
                    Err(Error::Invalid(format!(
                        "the checkpoint moved from size {size} to {}",
                        current.checkpoint.size
                    )))
                } else {
                    let mut note = current.note.clone();
                    for s in sigs {
                        if !note.signatures.contains(&s) {
                            note.signatures.push(s);
                        }
                    }
                    write_atomic(&dir.join("checkpoint"), &note.to_bytes(), true).map(|_| {
                        current.note = note;
                        current.clone()
                    })
                };
                let _ = reply.send(res);
            }
            PubRequest::Shutdown(reply) => {
                // Every batch the sequencer acknowledged arrived before this message.
                let _ = reply.send(do_publish(&mut state, &mut current, &mut failed));
                return;
            }
        }
    }
}
