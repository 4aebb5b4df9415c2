//! Exchange of sealed objects between partner nodes: a person sends an object to a
//! partner party (the outbox), the node delivers it with retries, the partner's node
//! checks and keeps it (the inbox) and answers with a signed receipt, kept on both
//! sides. Objects stream to and from disk: they may be larger than memory.
//!
//! Both ends decide. The sender's node refuses to queue what the agreement does not
//! allow or what the person could not read themselves; the receiver checks again with
//! its own policies and the sender's key from the agreement, since it trusts nothing
//! the sender says. Every decision, either way, goes to that node's audit log.
//!
//! Delivery is at least once, acceptance idempotent by sender and object id (a retried
//! delivery of the same bytes gets the same receipt), so the pair is exactly once: a
//! crash of either node, or a partner that is down, loses nothing and duplicates
//! nothing. Objects are held per (sender, object id): an id is chosen by whoever seals
//! the object, so one partner's object never keeps out or replaces another's. A receipt
//! is given only for the bytes whose row was committed, and a kept file is named by its
//! sender and bytes, so that deliveries (or sends) racing each other under one id never
//! overwrite the file a row names.

use crate::agreements::Held;
use crate::node::{AuditEntry, Node, Peer, Refusal};
use crate::partners::{self, Partner};
use crate::receipt::{Receipt, ReceiptBody};
use crate::store::{Stmt, Store};
use crate::wire::{self, Reason};
use crate::Error;
use accord_agreement::Time;
use accord_spif::Label;
use accord_tdf::VerifiedLabel;
use futures_util::StreamExt;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest sealed object a node accepts (64 GiB).
pub const MAX_OBJECT: u64 = 64 << 30;

/// Delivery retry schedule: the first retry after `RETRY_FIRST`, doubling up to the
/// cap in [`DeliveryOptions`].
const RETRY_FIRST_MS: i64 = 250;

/// How the node delivers its outbox.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The longest wait between two attempts.
    pub retry_cap: Duration,
    /// Deliveries in flight at once.
    pub parallel: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            retry_cap: Duration::from_secs(60),
            parallel: 8,
        }
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An object id is a UUID: checked before it names a file.
pub fn check_object_id(id: &str) -> Result<(), Refusal> {
    let ok = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
        });
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            400,
            crate::wire::Rule::Request,
            format!("object id {id:?} is not a lower-case UUID"),
        ))
    }
}

fn check_code(code: &str) -> Result<(), Refusal> {
    accord_keys::party::check_party_code(code)
        .map_err(|e| Refusal::new(400, crate::wire::Rule::Request, e.to_string()))
}

// ---------------------------------------------------------------- blob store

fn blob_dir(node: &Node, sub: &str) -> PathBuf {
    node.home.layout.blobs().join(sub)
}

/// The file name of a queued send: by its bytes too, so that two sends of the same id
/// to the same partner never share a file unless they are the same bytes.
fn outbox_file_name(id: &str, to: &str, sha256: &str) -> String {
    format!("{id}.{to}.{sha256}.tdf")
}

/// Where a queued send's bytes are: the file its row names, or for a row queued before
/// files were named by their bytes, `{id}.{to}.tdf`.
fn outbox_path(node: &Node, item: &OutboxItem) -> Result<PathBuf, String> {
    let dir = blob_dir(node, "outbox");
    match &item.file_name {
        Some(name) => checked_file_name(name).map(|n| dir.join(n)),
        None => {
            check_object_id(&item.id).map_err(|r| r.error)?;
            check_code(&item.to).map_err(|r| r.error)?;
            Ok(dir.join(format!("{}.{}.tdf", item.id, item.to)))
        }
    }
}

/// The file name of an object received on its own: by sender and bytes too, so that
/// objects of two partners under one id, or two deliveries of different bytes, never
/// share a file.
fn inbox_file_name(from: &str, id: &str, sha256: &str) -> String {
    format!("{from}.{id}.{sha256}.tdf")
}

/// A file name read from the database, checked before it names a file: letters,
/// digits, dots and dashes, not starting with a dot.
fn checked_file_name(name: &str) -> Result<&str, String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if ok {
        Ok(name)
    } else {
        Err(format!("stored file name {name:?} is not a blob's name"))
    }
}

/// A pack file's name is 32 lower-case hex digits: checked before it names a file.
fn pack_path(node: &Node, pack: &str) -> Result<PathBuf, Refusal> {
    if pack.len() == 32 && pack.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(blob_dir(node, "packs").join(format!("{pack}.pack")))
    } else {
        Err(Refusal::internal(format!("stored pack name {pack:?}")))
    }
}

/// Where a received object's bytes are: a file, an offset in it, a size.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The file.
    pub path: PathBuf,
    /// Where the object starts in it.
    pub offset: u64,
    /// Its size.
    pub size: u64,
}

/// A body being written to `blobs/tmp/`, removed unless kept.
struct Spooled {
    path: PathBuf,
    size: u64,
    sha256: String,
    keep: bool,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Spooled {
    /// Move into place durably (file data was synced when spooled; the rename is made
    /// durable by syncing the directory).
    async fn keep_as(mut self, to: &Path) -> Result<(), Refusal> {
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(Refusal::internal)?;
        }
        tokio::fs::rename(&self.path, to)
            .await
            .map_err(Refusal::internal)?;
        self.keep = true;
        if let Some(dir) = to.parent() {
            let dir = dir.to_path_buf();
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::open(&dir).and_then(|d| d.sync_all())
            })
            .await;
        }
        Ok(())
    }
}

/// The size of the pieces the network side hands to the spool writer.
const SPOOL_PIECE: usize = 1 << 20;

/// How much a spooled body may have written past its last sync before the next one
/// starts (in the background).
const WRITE_BEHIND: usize = 32 << 20;

/// Give the writer `pending` (waiting off the async threads if its queue is full);
/// false when the writer has stopped (its error is reported when it is joined).
async fn hand_over(tx: &std::sync::mpsc::SyncSender<Vec<u8>>, pending: &mut Vec<u8>) -> bool {
    let piece = std::mem::replace(pending, Vec::with_capacity(SPOOL_PIECE));
    match tx.try_send(piece) {
        Ok(()) => true,
        Err(std::sync::mpsc::TrySendError::Full(piece)) => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || tx.send(piece).is_ok())
                .await
                .unwrap_or(false)
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => false,
    }
}

/// A partner's large delivery that broke off: what arrived is kept (synced) in
/// `blobs/partial/`, so that the next attempt sends only the rest.
#[derive(Clone)]
pub(crate) struct Partial {
    /// `blobs/partial/{from}.{id}.part`.
    path: PathBuf,
    /// Resume from this many bytes of it; `None` for a delivery from the start (which
    /// leaves a partial if it breaks off).
    from: Option<u64>,
}

/// Partial deliveries shorter than this are not kept: sending them again costs less
/// than a round trip to ask.
const PARTIAL_MIN: u64 = 8 << 20;

/// A delivery this large asks the partner first whether part of it is held already.
const RESUME_MIN: u64 = PARTIAL_MIN;

/// Partial deliveries untouched for this long are removed.
const PARTIAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Partial deliveries kept per partner at most (the oldest go first): a partner whose
/// deliveries keep breaking cannot fill the disk with them.
const PARTIALS_PER_PARTNER: usize = 16;

/// Bytes of partial deliveries kept per partner at most (the oldest go first): one
/// object of the largest size. (The disk reserve bounds all of them together.)
const PARTIAL_BYTES_PER_PARTNER: u64 = MAX_OBJECT;

/// Keep at most [`PARTIALS_PER_PARTNER`] partials, and [`PARTIAL_BYTES_PER_PARTNER`]
/// bytes of them, from the partner whose partial is `kept` (blocking): the least
/// recently written go first, and `kept` stays.
fn bound_partials(kept: &Path) {
    let (Some(dir), Some(name)) = (kept.parent(), kept.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Some(from) = name.split('.').next() else {
        return;
    };
    let prefix = format!("{from}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut theirs: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    // Newest first; `kept` counts first whatever its time says.
    theirs.sort_by_key(|e| std::cmp::Reverse((e.2 == kept, e.0)));
    let (mut count, mut bytes) = (0usize, 0u64);
    for (_, len, p) in theirs {
        count += 1;
        bytes = bytes.saturating_add(len);
        let fits = count <= PARTIALS_PER_PARTNER && bytes <= PARTIAL_BYTES_PER_PARTNER;
        if !fits && p != kept {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn partial_path(node: &Node, from: &str, id: &str) -> PathBuf {
    blob_dir(node, "partial").join(format!("{from}.{id}.part"))
}

/// Remove what a crash left half-written in `blobs/tmp/` (bodies being spooled, packs
/// being written): nothing there is referred to until it is moved into place. Called at
/// start, before anything spools.
pub(crate) fn clear_spool(blobs: &Path) {
    let dir = blobs.join("tmp");
    let removed = remove_files_where(&dir, |_| true);
    if removed > 0 {
        tracing::info!(removed, dir = %dir.display(), "removed half-written files a stop left behind");
    }
}

/// Remove partial deliveries older than [`PARTIAL_MAX_AGE`] (a sender that never came
/// back for them).
pub(crate) async fn prune_partials(node: &Node) {
    let dir = blob_dir(node, "partial");
    let _ = tokio::task::spawn_blocking(move || remove_older(&dir, PARTIAL_MAX_AGE)).await;
}

/// Remove the files in `dir` last written more than `age` ago (blocking).
fn remove_older(dir: &Path, age: Duration) {
    remove_files_where(dir, |m| {
        m.modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age)
    });
}

/// Remove the plain files in `dir` whose metadata satisfies `doomed` (blocking; a
/// directory that is not there holds nothing). Returns how many went.
fn remove_files_where(dir: &Path, doomed: impl Fn(&std::fs::Metadata) -> bool) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let go = e.metadata().is_ok_and(|m| m.is_file() && doomed(&m));
        if go && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Move a kept partial delivery into the spool file `to`, cut to `offset` bytes, and
/// hash those bytes (blocking).
fn resume_partial(
    partial: &Path,
    to: &Path,
    offset: u64,
) -> Result<(std::fs::File, aws_lc_rs::digest::Context), Refusal> {
    use std::io::{Read as _, Seek as _};
    let gone = || {
        Refusal::new(
            416,
            crate::wire::Rule::Request,
            format!(
                "no partial delivery of {offset} bytes or more is held here; send the object whole"
            ),
        )
    };
    let held = std::fs::metadata(partial).map_err(|_| gone())?.len();
    if held < offset {
        let _ = std::fs::remove_file(partial);
        return Err(gone());
    }
    std::fs::rename(partial, to).map_err(|_| gone())?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(to)
        .map_err(Refusal::internal)?;
    file.set_len(offset).map_err(Refusal::internal)?;
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; SPOOL_PIECE];
    let mut left = offset;
    while left > 0 {
        let n = file
            .read(&mut buf[..(left.min(SPOOL_PIECE as u64)) as usize])
            .map_err(Refusal::internal)?;
        if n == 0 {
            return Err(Refusal::internal("the partial delivery shrank while read"));
        }
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    file.seek(std::io::SeekFrom::End(0))
        .map_err(Refusal::internal)?;
    Ok((file, hash))
}

/// How long an upload may go without a byte before it is broken off.
const SPOOL_IDLE: Duration = Duration::from_secs(60);

async fn spool(
    node: &Node,
    body: axum::body::Body,
    limit: u64,
    partial: Option<Partial>,
) -> Result<Spooled, Refusal> {
    // A task of its own: when the connection breaks, the server drops the request's
    // handler (this future) at once, and the spool would go with it. The task instead
    // reads on until the body reports the break, and keeps what arrived.
    let reserve = node.home.config.disk_reserve();
    tokio::spawn(spool_task(
        blob_dir(node, "tmp"),
        body,
        limit,
        reserve,
        partial,
    ))
    .await
    .map_err(Refusal::internal)?
}

async fn spool_task(
    dir: PathBuf,
    body: axum::body::Body,
    limit: u64,
    reserve: u64,
    partial: Option<Partial>,
) -> Result<Spooled, Refusal> {
    use axum::body::HttpBody as _;
    let partial = partial.as_ref();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(Refusal::internal)?;
    // The declared length (when there is one) must fit above the disk reserve before
    // the first byte is taken; what streams is checked again as it arrives.
    let declared = body.size_hint().exact();
    crate::disk::check_room(&dir, reserve, declared.unwrap_or(0))?;
    let mut name = [0u8; 16];
    aws_lc_rs::rand::fill(&mut name).map_err(|_| Refusal::internal("random"))?;
    let mut sp = Spooled {
        path: dir.join(format!("{}.part", hex::encode(name))),
        size: 0,
        sha256: String::new(),
        keep: false,
    };
    // A resumed delivery starts from the bytes kept last time.
    let start = match partial {
        Some(Partial {
            path,
            from: Some(offset),
        }) => {
            let (path, to, offset) = (path.clone(), sp.path.clone(), *offset);
            let r = tokio::task::spawn_blocking(move || resume_partial(&path, &to, offset))
                .await
                .map_err(Refusal::internal)??;
            sp.size = offset;
            Some(r)
        }
        _ => None,
    };
    // The network side reads and bounds; a thread of its own hashes and writes, so that
    // TLS and HTTP keep receiving while the disk writes (a bounded queue of 1 MiB-ish
    // chunks between them keeps memory flat).
    let path = sp.path.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use std::io::Write as _;
        let (mut file, mut hash) = match start {
            Some(r) => r,
            None => (
                std::fs::File::create(&path)?,
                aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            ),
        };
        // Write-behind: past every WRITE_BEHIND bytes a second thread syncs what is
        // written so far, so that the disk writes while the network still delivers,
        // and the final sync only has the last stretch to do (without it a large
        // object's whole size waited in the page cache for that final sync).
        let syncer_file = file.try_clone()?;
        std::thread::scope(|s| -> std::io::Result<()> {
            let (sync_tx, sync_rx) = std::sync::mpsc::sync_channel::<()>(1);
            let syncer = s.spawn(move || -> std::io::Result<()> {
                for () in sync_rx {
                    syncer_file.sync_data()?;
                }
                Ok(())
            });
            let mut unsynced = 0usize;
            let written = (|| {
                for chunk in rx {
                    hash.update(&chunk);
                    file.write_all(&chunk)?;
                    unsynced += chunk.len();
                    if unsynced >= WRITE_BEHIND {
                        unsynced = 0;
                        // Already syncing with one more asked for: that one will
                        // cover these bytes too.
                        let _ = sync_tx.try_send(());
                    }
                }
                Ok(())
            })();
            drop(sync_tx);
            // The clone shares the file's error state, so an error its sync saw is
            // reported from here, not lost.
            let synced = syncer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the write-behind thread panicked")));
            written.and(synced)
        })?;
        file.sync_all()?;
        Ok(hex::encode(hash.finish().as_ref()))
    });
    let mut stream = body.into_data_stream();
    let mut failed = None;
    let mut broken = false;
    let mut pending: Vec<u8> = Vec::with_capacity(SPOOL_PIECE);
    let mut checked = sp.size;
    loop {
        // A sender that stops sending holds a connection and a spool file: after
        // SPOOL_IDLE without a byte the upload is broken off (what arrived is kept as
        // for any broken delivery, so a partner can resume it).
        let chunk = match tokio::time::timeout(SPOOL_IDLE, stream.next()).await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(_) => {
                broken = true;
                failed = Some(Refusal::new(
                    408,
                    crate::wire::Rule::Request,
                    format!(
                        "no byte of the object arrived for {} s: the upload is broken off",
                        SPOOL_IDLE.as_secs()
                    ),
                ));
                break;
            }
        };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                broken = true;
                failed = Some(Refusal::new(
                    400,
                    crate::wire::Rule::Request,
                    format!("reading the object: {e}"),
                ));
                break;
            }
        };
        sp.size += chunk.len() as u64;
        if sp.size > limit {
            failed = Some(Refusal::new(
                413,
                crate::wire::Rule::Request,
                format!("the object is larger than {limit} bytes"),
            ));
            break;
        }
        // Other deliveries may be streaming too: the room is checked again every
        // WRITE_BEHIND bytes, for what is still to come.
        if sp.size - checked >= WRITE_BEHIND as u64 {
            checked = sp.size;
            let rest = declared.map_or(0, |d| d.saturating_sub(sp.size));
            if let Err(r) = crate::disk::check_room(&dir, reserve, rest) {
                failed = Some(r);
                break;
            }
        }
        // Gather the small network chunks into 1 MiB pieces for the writer.
        pending.extend_from_slice(&chunk);
        if pending.len() >= SPOOL_PIECE && !hand_over(&tx, &mut pending).await {
            break;
        }
    }
    // What arrived before a break is written too: it may be kept.
    if (failed.is_none() || broken) && !pending.is_empty() {
        hand_over(&tx, &mut pending).await;
    }
    drop(tx);
    let written = writer.await.map_err(Refusal::internal)?;
    if let Some(mut f) = failed {
        if let (true, Some(p), Ok(_)) = (broken, partial, &written) {
            if sp.size >= PARTIAL_MIN {
                // Synced above; the rename is made durable with the directory.
                let (from, to) = (sp.path.clone(), p.path.clone());
                let kept = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let dir = to.parent().unwrap_or(Path::new("."));
                    std::fs::create_dir_all(dir)?;
                    std::fs::rename(&from, &to)?;
                    std::fs::File::open(dir)?.sync_all()?;
                    bound_partials(&to);
                    Ok(())
                })
                .await;
                if matches!(kept, Ok(Ok(()))) {
                    sp.keep = true;
                    f.error = format!(
                        "{}; the first {} bytes are kept here: ask GET /v1/fed/inbox/{{id}}/partial and send the rest",
                        f.error, sp.size
                    );
                }
            }
        }
        return Err(f);
    }
    sp.sha256 = written.map_err(|e| {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Refusal::new(
                507,
                crate::wire::Rule::Storage,
                format!("this node's disk is full ({e}); try again later"),
            )
        } else {
            Refusal::internal(e)
        }
    })?;
    Ok(sp)
}

/// Read and verify the label of a spooled object (blocking: zip and signatures).
async fn examine(
    path: &Path,
    trusted: Vec<accord_keys::VerifyingKey>,
) -> Result<VerifiedLabel, Reason> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path).map_err(|e| {
            Reason::new(
                crate::wire::Rule::ObjectIntegrity,
                format!("reading the object: {e}"),
            )
        })?;
        examine_container(&mut f, &trusted)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Reason::new(
            crate::wire::Rule::ObjectIntegrity,
            e.to_string(),
        ))
    })
}

/// Verify the label of a container (blocking).
fn examine_container<R: std::io::Read + std::io::Seek>(
    r: &mut R,
    trusted: &[accord_keys::VerifyingKey],
) -> Result<VerifiedLabel, Reason> {
    let integrity =
        |e: accord_tdf::Error| Reason::new(crate::wire::Rule::ObjectIntegrity, e.to_string());
    let layout = accord_tdf::zip::read_layout(r).map_err(integrity)?;
    let manifest = accord_tdf::zip::read_manifest(r, &layout).map_err(integrity)?;
    accord_tdf::verify_label(&manifest, trusted).map_err(integrity)
}

/// Verify the labels of the objects of a batch held in memory, on as many blocking
/// threads as there are cores; the results in the order of `ranges`.
async fn examine_all(
    body: axum::body::Bytes,
    ranges: Vec<std::ops::Range<usize>>,
    trusted: Vec<accord_keys::VerifyingKey>,
) -> Vec<Result<VerifiedLabel, Reason>> {
    let n = ranges.len();
    let threads = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .clamp(1, 8)
        .min(n.max(1));
    let per = n.div_ceil(threads).max(1);
    let trusted = Arc::new(trusted);
    let mut tasks = Vec::with_capacity(threads);
    for chunk in ranges.chunks(per) {
        let (chunk, body, trusted) = (chunk.to_vec(), body.clone(), trusted.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|r| examine_container(&mut std::io::Cursor::new(&body[r]), &trusted))
                .collect::<Vec<_>>()
        }));
    }
    let mut out = Vec::with_capacity(n);
    for (t, len) in tasks.into_iter().zip(ranges.chunks(per).map(<[_]>::len)) {
        match t.await {
            Ok(v) => out.extend(v),
            Err(e) => out.extend((0..len).map(|_| {
                Err(Reason::new(
                    crate::wire::Rule::ObjectIntegrity,
                    format!("checking: {e}"),
                ))
            })),
        }
    }
    out
}

/// Keep the objects of a batch durably in one pack file: written to `blobs/tmp/`,
/// synced once, moved to `blobs/packs/`, the directory synced. One fsync for the
/// batch, where a file per object cost one each and was most of a batch's time.
/// Returns the pack's name and each object's offset in it.
async fn keep_pack(
    node: &Node,
    body: axum::body::Bytes,
    ranges: Vec<std::ops::Range<usize>>,
) -> Result<(String, Vec<u64>), Refusal> {
    let mut name = [0u8; 16];
    aws_lc_rs::rand::fill(&mut name).map_err(|_| Refusal::internal("random"))?;
    let name = hex::encode(name);
    let tmp = blob_dir(node, "tmp").join(format!("{name}.part"));
    let to = pack_path(node, &name)?;
    let offsets = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u64>> {
        let dir = to.parent().unwrap_or(&to).to_path_buf();
        if let Some(t) = tmp.parent() {
            std::fs::create_dir_all(t)?;
        }
        std::fs::create_dir_all(&dir)?;
        let written = (|| {
            let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
            let mut offsets = Vec::with_capacity(ranges.len());
            let mut at = 0u64;
            for r in ranges {
                offsets.push(at);
                at += r.len() as u64;
                std::io::Write::write_all(&mut f, &body[r])?;
            }
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &to)?;
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(offsets)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    })
    .await
    .map_err(Refusal::internal)?
    .map_err(Refusal::internal)?;
    Ok((name, offsets))
}

// ---------------------------------------------------------------- database

/// One object this node sends to a partner, and how its delivery stands.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutboxItem {
    /// Object id.
    pub id: String,
    /// The receiving party.
    pub to: String,
    /// Who sent it.
    pub person: String,
    /// The agreement.
    pub agreement: String,
    /// The label's marking.
    pub marking: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// When it was queued (RFC 3339).
    pub queued: String,
    /// `queued`, `delivered` or `refused`.
    pub state: String,
    /// Delivery attempts made.
    pub attempts: u64,
    /// The last transport error, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why the partner (or this node) refused it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// The partner's signed receipt, once delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The queued file's name under `blobs/outbox/` (None: a row queued before files
    /// were named by their bytes). Not part of the API.
    #[serde(skip)]
    pub(crate) file_name: Option<String>,
}

/// `$1, $2, … $n`: the parameters of an `IN (…)` list.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of `table` with the batch signatures their receipts refer to.
/// The `arrival` of an object taken in now: nanoseconds since the epoch, or one more
/// than the last one given when the clock has not moved on (or went back), so that it
/// grows with every object, in the order the node took them in.
fn next_arrival() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn rows_of(table: &str) -> String {
    format!(
        "SELECT t.*, s.ecdsa_p384 AS sig_ecdsa_p384, s.ml_dsa_87 AS sig_ml_dsa_87 \
         FROM {table} t LEFT JOIN receipt_signatures s ON s.digest = t.receipt_sig"
    )
}

/// A stored receipt, with its batch's signatures when the query joined them.
fn receipt_from_row(r: &AnyRow, json: &str) -> Result<Receipt, Error> {
    let sigs = match (
        r.try_get::<Option<String>, _>("sig_ecdsa_p384")
            .ok()
            .flatten(),
        r.try_get::<Option<String>, _>("sig_ml_dsa_87")
            .ok()
            .flatten(),
    ) {
        (Some(e), Some(m)) => Some((e, m)),
        _ => None,
    };
    Receipt::from_stored(json, sigs).map_err(|e| Error::Database(format!("stored receipt: {e}")))
}

/// Store the signatures of batch receipts once (before the rows that refer to them).
fn signature_stmts<'a>(receipts: impl IntoIterator<Item = &'a Receipt>) -> Vec<Stmt> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in receipts {
        if let (_, Some(sig)) = r.stored() {
            if seen.insert(sig.digest.clone()) {
                out.push(
                    Stmt::new(
                        "INSERT INTO receipt_signatures (digest, ecdsa_p384, ml_dsa_87) VALUES ($1, $2, $3) \
                         ON CONFLICT (digest) DO NOTHING",
                    )
                    .text(sig.digest)
                    .text(sig.ecdsa_p384)
                    .text(sig.ml_dsa_87),
                );
            }
        }
    }
    out
}

fn outbox_from_row(r: &AnyRow) -> Result<OutboxItem, Error> {
    let reasons: Option<String> = r.try_get("reasons")?;
    let receipt: Option<String> = r.try_get("receipt")?;
    let queued: i64 = r.try_get("queued")?;
    let size: i64 = r.try_get("size")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(OutboxItem {
        id: r.try_get("object_id")?,
        to: r.try_get("recipient")?,
        person: r.try_get("person")?,
        agreement: r.try_get("agreement")?,
        marking: r.try_get("marking")?,
        size: size as u64,
        sha256: r.try_get("sha256")?,
        queued: rfc3339(queued / 1000),
        state: r.try_get("state")?,
        attempts: attempts as u64,
        last_error: r.try_get("last_error")?,
        reasons: reasons
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        receipt: receipt.map(|s| receipt_from_row(r, &s)).transpose()?,
        file_name: r.try_get("file_name")?,
    })
}

/// What `accord inbox` lists for one received object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboxItem {
    /// Object id.
    pub id: String,
    /// The label's marking.
    pub marking: String,
    /// The sending party.
    pub from: String,
    /// When it was received (RFC 3339).
    pub received: String,
    /// Bytes.
    pub size: u64,
    /// The agreement.
    pub agreement: String,
}

/// Which outbox entries to list (`GET /v1/outbox?id=&state=&limit=`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxFilter {
    /// One object.
    pub id: Option<String>,
    /// `queued`, `delivered` or `refused`.
    pub state: Option<String>,
    /// At most this many, the most recent.
    pub limit: Option<u64>,
}

impl OutboxFilter {
    fn check(&self) -> Result<(), Refusal> {
        if let Some(id) = &self.id {
            check_object_id(id)?;
        }
        match self.state.as_deref() {
            None | Some("queued" | "delivered" | "refused") => Ok(()),
            Some(other) => Err(Refusal::new(
                400,
                crate::wire::Rule::Request,
                format!("state must be queued, delivered or refused, not {other:?}"),
            )),
        }
    }
}

/// One object this node received from a partner.
#[derive(Debug, Clone)]
pub struct InboxRecord {
    /// What `accord inbox` shows.
    pub item: InboxItem,
    /// The label XML (the originator's policy).
    pub label: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// The signed receipt this node gave.
    pub receipt: Receipt,
    /// The pack file and offset, when the object came in a batch.
    pub pack: Option<(String, u64)>,
    /// The object's file under `blobs/inbox/`, when it came on its own (None for one
    /// kept before files were named by sender and bytes: `{id}.tdf`).
    pub file_name: Option<String>,
}

fn inbox_from_row(r: &AnyRow) -> Result<InboxRecord, Error> {
    let received: i64 = r.try_get("received")?;
    let size: i64 = r.try_get("size")?;
    let receipt: String = r.try_get("receipt")?;
    Ok(InboxRecord {
        item: InboxItem {
            id: r.try_get("object_id")?,
            marking: r.try_get("marking")?,
            from: r.try_get("sender")?,
            received: rfc3339(received),
            size: size as u64,
            agreement: r.try_get("agreement")?,
        },
        label: r.try_get("label")?,
        sha256: r.try_get("sha256")?,
        receipt: receipt_from_row(r, &receipt)?,
        pack: match (
            r.try_get::<Option<String>, _>("pack")?,
            r.try_get::<Option<i64>, _>("pack_offset")?,
        ) {
            (Some(p), Some(o)) => Some((p, o as u64)),
            _ => None,
        },
        file_name: r.try_get("file_name")?,
    })
}

impl Store {
    async fn outbox_get(&self, id: &str, to: &str) -> Result<Option<OutboxItem>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 AND t.recipient = $2",
            rows_of("outbox")
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(to)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// Queue `o`: false when a row for its id and partner was there already (then
    /// nothing is written).
    async fn outbox_insert(&self, o: &OutboxItem, queued_ms: i64) -> Result<bool, Error> {
        let rows = self
            .commit(vec![Stmt::new(
                "INSERT INTO outbox (object_id, recipient, person, agreement, marking, size, sha256, queued, state, attempts, next_attempt, file_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10) ON CONFLICT (object_id, recipient) DO NOTHING",
            )
            .text(&o.id)
            .text(&o.to)
            .text(&o.person)
            .text(&o.agreement)
            .text(&o.marking)
            .int(o.size as i64)
            .text(&o.sha256)
            .int(queued_ms)
            .int(queued_ms)
            .opt_text(o.file_name.clone())])
            .await?;
        Ok(rows.first() == Some(&1))
    }

    /// Objects whose delivery is due, oldest first.
    /// Objects whose delivery is due and not in `skip` (deliveries under way), oldest
    /// first, at most `limit`. The keys are read first, then only the rows wanted: the
    /// loop asks whenever a delivery ends, while most due objects are under way.
    async fn outbox_due(
        &self,
        now: i64,
        limit: usize,
        skip: &std::collections::HashSet<(String, String)>,
    ) -> Result<Vec<OutboxItem>, Error> {
        let keys = sqlx::query(
            "SELECT object_id, recipient FROM outbox WHERE state = 'queued' AND next_attempt <= $1 ORDER BY next_attempt, queued LIMIT $2",
        )
        .bind(now)
        .bind((limit + skip.len()) as i64)
        .fetch_all(self.pool())
        .await?;
        let mut wanted = Vec::new();
        for r in &keys {
            let key: (String, String) = (r.try_get("object_id")?, r.try_get("recipient")?);
            if !skip.contains(&key) {
                wanted.push(key);
                if wanted.len() == limit {
                    break;
                }
            }
        }
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT * FROM outbox WHERE object_id IN ({}) ORDER BY next_attempt, queued",
            placeholders(wanted.len())
        );
        let mut q = sqlx::query(&sql);
        for (id, _) in &wanted {
            q = q.bind(id.as_str());
        }
        let rows = q.fetch_all(self.pool()).await?;
        let wanted: std::collections::HashSet<(String, String)> = wanted.into_iter().collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let item = outbox_from_row(r)?;
            if item.state == "queued" && wanted.contains(&(item.id.clone(), item.to.clone())) {
                out.push(item);
            }
        }
        Ok(out)
    }

    async fn outbox_next_due(&self) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT MIN(next_attempt) AS n FROM outbox WHERE state = 'queued'")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>("n")?)
    }

    /// What `person` sent (every send when `person` is None) matching `filter`, oldest
    /// first; with a limit, the most recent ones.
    pub async fn outbox(
        &self,
        person: Option<&str>,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxItem>, Error> {
        // Only the terms asked for, so that the database can use its indexes (the
        // primary key for an id, (state, next_attempt) for a state): a person polling
        // for what is still queued must not cost a scan of every receipt ever kept.
        let limit = filter
            .limit
            .map_or(i64::MAX, |l| l.min(i64::MAX as u64) as i64);
        let mut terms = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [
            ("person", person),
            ("object_id", filter.id.as_deref()),
            ("state", filter.state.as_deref()),
        ] {
            if let Some(v) = value {
                values.push(v);
                terms.push(format!("t.{column} = ${}", values.len()));
            }
        }
        let sql = format!(
            "SELECT * FROM ({} {} ORDER BY t.queued DESC, t.object_id DESC LIMIT ${}) AS recent \
             ORDER BY queued, object_id",
            rows_of("outbox"),
            if terms.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", terms.join(" AND "))
            },
            values.len() + 1
        );
        let mut q = sqlx::query(&sql);
        for v in values {
            q = q.bind(v);
        }
        let rows = q.bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// The records held for any of `ids` from `sender` (one query for a batch), by id.
    async fn inbox_get_many(
        &self,
        ids: &[&str],
        sender: &str,
    ) -> Result<std::collections::HashMap<String, InboxRecord>, Error> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "{} WHERE t.sender = $1 AND t.object_id IN ({})",
            rows_of("inbox"),
            (2..ids.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(&sql).bind(sender);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| inbox_from_row(r).map(|rec| (rec.item.id.clone(), rec)))
            .collect()
    }

    /// The record of object `id` from `sender`, if one is held.
    async fn inbox_get(&self, id: &str, sender: &str) -> Result<Option<InboxRecord>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 AND t.sender = $2",
            rows_of("inbox")
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(sender)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(inbox_from_row).transpose()
    }

    /// Every record held under object id `id` (one per sender), oldest first.
    async fn inbox_get_all(&self, id: &str) -> Result<Vec<InboxRecord>, Error> {
        let sql = format!(
            "{} WHERE t.object_id = $1 ORDER BY t.received, t.arrival, t.sender",
            rows_of("inbox")
        );
        let rows = sqlx::query(&sql).bind(id).fetch_all(self.pool()).await?;
        rows.iter().map(inbox_from_row).collect()
    }

    /// Keep `r`: false when a record of the same id from the same sender was committed
    /// first (then nothing is written, and that one is what is held).
    async fn inbox_insert(&self, r: &InboxRecord, received: i64) -> Result<bool, Error> {
        let rows = self
            .commit(vec![Self::inbox_insert_stmt(r, received)])
            .await?;
        Ok(rows.first() == Some(&1))
    }

    /// Insert the records of a batch in one commit; for each, whether it was the one
    /// kept (false: a record of the same id from the same sender was there first).
    async fn inbox_insert_many(
        &self,
        rs: &[InboxRecord],
        received: i64,
    ) -> Result<Vec<bool>, Error> {
        let mut stmts = signature_stmts(rs.iter().map(|r| &r.receipt));
        let skip = stmts.len();
        stmts.extend(rs.iter().map(|r| Self::inbox_insert_stmt(r, received)));
        let rows = self.commit(stmts).await?;
        Ok((0..rs.len())
            .map(|k| rows.get(skip + k) == Some(&1))
            .collect())
    }

    fn inbox_insert_stmt(r: &InboxRecord, received: i64) -> Stmt {
        let stored = r.receipt.stored();
        Stmt::new(
            "INSERT INTO inbox (object_id, sender, agreement, marking, label, size, sha256, received, receipt, pack, pack_offset, receipt_sig, file_name, arrival) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (object_id, sender) DO NOTHING",
        )
        .text(&r.item.id)
        .text(&r.item.from)
        .text(&r.item.agreement)
        .text(&r.item.marking)
        .text(&r.label)
        .int(r.item.size as i64)
        .text(&r.sha256)
        .int(received)
        .text(stored.0)
        .opt_text(r.pack.as_ref().map(|(p, _)| p.clone()))
        .opt_int(r.pack.as_ref().map(|(_, o)| *o as i64))
        .opt_text(stored.1.map(|s| s.digest))
        .opt_text(r.file_name.clone())
        .int(next_arrival())
    }

    /// Everything received, oldest first.
    pub async fn inbox(&self) -> Result<Vec<InboxRecord>, Error> {
        let sql = format!(
            "{} ORDER BY t.received, t.arrival, t.object_id, t.sender",
            rows_of("inbox")
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(inbox_from_row).collect()
    }
}

// ---------------------------------------------------------------- decisions

/// Most reasons of a refused delivery written to its audit entry.
const ENTRY_REASONS: usize = 8;

/// Longest reason text written to an audit entry (bytes; longer ones are cut): a
/// refused delivery's reasons may quote what the caller sent (an id, a manifest's
/// field), and an entry must not be as large as the caller likes.
const ENTRY_TEXT: usize = 512;

/// `reasons` as an audit entry holds them: at most [`ENTRY_REASONS`], each text at most
/// [`ENTRY_TEXT`] bytes (cut at a character boundary, marked with `…`).
fn bounded(reasons: &[Reason]) -> Vec<Reason> {
    reasons
        .iter()
        .take(ENTRY_REASONS)
        .map(|r| Reason {
            rule: r.rule,
            text: cut(&r.text, ENTRY_TEXT),
        })
        .collect()
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A send already queued for an object and partner, answered to `person` who sends it
/// again: their own entry (sending is idempotent), or, when someone else sent it, a
/// refusal that says nothing of that send.
fn own_send(o: OutboxItem, person: &str) -> Result<OutboxItem, Refusal> {
    if o.person == person {
        return Ok(o);
    }
    Err(Refusal::new(
        409,
        crate::wire::Rule::Request,
        format!(
            "object {} was already sent to {} by someone else: an object goes to a partner once",
            o.id, o.to
        ),
    ))
}

/// A refused delivery, with what is known of the object for its audit entry.
struct Refused {
    refusal: Refusal,
    marking: Option<String>,
    agreement: Option<String>,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        Refused {
            refusal,
            marking: None,
            agreement: None,
        }
    }
}

/// The refusal of other bytes under an id this node holds from the same partner.
fn conflict(id: &str, from: &str, held_sha256: &str) -> Refusal {
    Refusal::new(
        409,
        crate::wire::Rule::Request,
        format!(
            "object {id} from {from} is held here already with other bytes (SHA-256 {}…): an object id names one object",
            held_sha256.get(..16).unwrap_or(held_sha256)
        ),
    )
}

/// What an exchange decision is about, for its audit entry.
struct Event<'a> {
    kind: &'a str,
    person: Option<&'a str>,
    credential: Option<&'a str>,
    object: Option<&'a str>,
    marking: Option<&'a str>,
    agreement: Option<&'a str>,
    partner: Option<&'a str>,
}

impl Node {
    /// The audit entry of an exchange decision.
    fn audit(&self, e: &Event<'_>, permit: bool, reasons: &[Reason]) -> Vec<u8> {
        AuditEntry {
            kind: e.kind,
            time: (self.clock)().to_string(),
            party: self.party(),
            person: e.person,
            credential: e.credential,
            decision: if permit { "permit" } else { "deny" },
            object: e.object,
            marking: e.marking,
            agreement: e.agreement,
            request: None,
            partner: e.partner,
            reasons,
        }
        .bytes()
    }

    fn transfer_reasons(
        &self,
        held: &[Held],
        agreement: &str,
        label: &Label,
        from: &str,
        to: &str,
        at: Time,
    ) -> (bool, Vec<Reason>) {
        let Some(h) = held.iter().find(|h| h.agreement.body.id == agreement) else {
            return (
                false,
                vec![Reason::new(
                    accord_agreement::Rule::AgreementInForce,
                    format!(
                        "agreement {agreement} is not loaded at the {} node",
                        self.party()
                    ),
                )],
            );
        };
        let checked = h.checked();
        let d = accord_agreement::admit(
            self.policies(),
            &accord_agreement::Transfer {
                label,
                agreement: &checked,
                from,
                to,
                at,
            },
        );
        (d.permit, crate::node::convert(d.reasons))
    }

    /// The audit entry of a decision about receiving object `id` from `partner`. The
    /// reasons of a refusal are bounded ([`bounded`]): some of their text comes from
    /// the delivery.
    fn received(
        &self,
        id: Option<&str>,
        partner: Option<&str>,
        marking: Option<&str>,
        agreement: Option<&str>,
        permit: bool,
        reasons: &[Reason],
    ) -> Vec<u8> {
        self.audit(
            &Event {
                kind: "receive",
                person: None,
                credential: None,
                object: id,
                marking,
                agreement,
                partner,
            },
            permit,
            &bounded(reasons),
        )
    }

    /// Account for a delivery refused because the caller is not a partner node in
    /// force. A caller that presented no certificate gets no entry: it is no identity,
    /// there is nothing to account for, and anyone may connect without one (so an
    /// entry for each would let anyone fill the log). A certificate that is not a
    /// partner's is logged (within the node's rate for strangers,
    /// [`crate::admission::StrangerLog`]) with its fingerprint, the object id only when
    /// it is one (never the raw path), and bounded reasons.
    async fn log_stranger(&self, peer: &Peer, id: Option<&str>, r: &Refusal) {
        let Some(cert) = peer.cert.as_deref() else {
            return;
        };
        if r.status >= 500 {
            // Not a decision about the caller: the node could not make one.
            return;
        }
        // Such a caller can make a new certificate for every request: rate-limited as
        // the node's other refusals of strangers are.
        if !self.strangers.admit() {
            return;
        }
        let fingerprint = hex::encode(crate::pki::sha256(cert));
        let entry = self.audit(
            &Event {
                kind: "receive",
                person: None,
                credential: Some(&fingerprint),
                object: id.filter(|id| check_object_id(id).is_ok()),
                marking: None,
                agreement: None,
                partner: None,
            },
            false,
            &bounded(&r.reasons),
        );
        let _ = self.log_entries(vec![entry]).await;
    }

    /// `PUT /v1/outbox/{to}/{id}`: a person sends a sealed object to a partner party.
    pub async fn send(
        self: &Arc<Self>,
        peer: &Peer,
        to: &str,
        id: &str,
        body: axum::body::Body,
    ) -> Result<OutboxItem, Refusal> {
        let caller = self.authenticate(peer).await?;
        let r = self.send_as(&caller, to, id, body).await;
        self.answered("send", &caller, r).await
    }

    async fn send_as(
        self: &Arc<Self>,
        caller: &crate::node::Caller,
        to: &str,
        id: &str,
        body: axum::body::Body,
    ) -> Result<OutboxItem, Refusal> {
        check_code(to)?;
        check_object_id(id)?;
        if to == self.party() {
            return Err(Refusal::new(
                400,
                crate::wire::Rule::Request,
                format!("{to} is this node's own party: send to a partner"),
            ));
        }
        if let Some(o) = self
            .store
            .outbox_get(id, to)
            .await
            .map_err(Refusal::internal)?
        {
            // Already sent: read and drop the body so the client sees the answer.
            let mut stream = body.into_data_stream();
            while let Some(Ok(_)) = stream.next().await {}
            return own_send(o, &caller.record.id);
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let partner = partners::in_force(&held, self.party(), at)
            .into_iter()
            .find(|p| p.code == to)
            .ok_or_else(|| {
                Refusal::new(
                    403,
                    accord_agreement::Rule::AgreementInForce,
                    format!(
                        "{} holds no agreement in force with {to} that names {to}'s node",
                        self.party()
                    ),
                )
            })?;
        let sp = spool(self, body, MAX_OBJECT, None).await?;
        let trusted = self
            .trusted_signers(&held)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        let v = examine(&sp.path, trusted).await.map_err(|r| Refusal {
            status: 422,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })?;
        if v.object_id != id {
            return Err(Refusal::new(
                400,
                crate::wire::Rule::Request,
                format!("the object's id is {}, not {id}", v.object_id),
            ));
        }
        let Some(agreement) = v.agreement.clone() else {
            return Err(Refusal::new(
                422,
                accord_agreement::Rule::AgreementInForce,
                "the object names no agreement: seal it with --agreement to exchange it",
            ));
        };
        let label = Label::read(
            self.policies(),
            "the object's label",
            v.label_xml.as_bytes(),
        )
        .map_err(|e| Refusal::new(422, accord_agreement::Rule::Translation, e.to_string()))?;
        let marking = self.marking_of(&label, &v.marking);
        let person = self.person(&caller.record).map_err(|r| Refusal {
            status: 403,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })?;
        let (ok_send, mut reasons) =
            self.transfer_reasons(&held, &agreement, &label, self.party(), to, at);
        let (ok_read, read_reasons) = self.decide(&person, &label, Some(&agreement), &held, at);
        if !ok_read {
            reasons.extend(read_reasons);
        }
        if !partner.agreements.contains(&agreement) {
            reasons.push(Reason::new(
                accord_agreement::Rule::AgreementInForce,
                format!("agreement {agreement} is not in force with {to}"),
            ));
        }
        let permit = ok_send && ok_read && partner.agreements.contains(&agreement);
        let entry = self.audit(
            &Event {
                kind: "send",
                person: Some(&caller.record.id),
                credential: None,
                object: Some(id),
                marking: Some(&marking),
                agreement: Some(&agreement),
                partner: Some(to),
            },
            permit,
            &reasons,
        );
        self.log_entries(vec![entry]).await?;
        if !permit {
            return Err(Refusal {
                status: 403,
                error: format!("{} may not send this object to {to}", caller.record.id),
                reasons,
                logged: true,
            });
        }
        let item = OutboxItem {
            id: id.to_string(),
            to: to.to_string(),
            person: caller.record.id.clone(),
            agreement,
            marking,
            size: sp.size,
            sha256: sp.sha256.clone(),
            queued: rfc3339(crate::store::unix_now()),
            state: "queued".into(),
            attempts: 0,
            last_error: None,
            reasons: vec![],
            receipt: None,
            file_name: Some(outbox_file_name(id, to, &sp.sha256)),
        };
        // The file goes into place first (a crash before the row is written leaves a
        // file no row names, never a row without its file), under a name no other
        // bytes can have: a send of the same id racing this one cannot overwrite it.
        let path = outbox_path(self, &item).map_err(Refusal::internal)?;
        sp.keep_as(&path).await?;
        if self
            .store
            .outbox_insert(&item, now_ms())
            .await
            .map_err(Refusal::internal)?
        {
            self.outbox_ready.notify_one();
            return Ok(item);
        }
        // Another send of this id to `to` was queued while this one was checked: that
        // one is what is sent. This file goes unless it is that one's, still queued.
        let kept = self
            .store
            .outbox_get(id, to)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| Refusal::internal(format!("outbox row {id} {to} vanished")))?;
        if kept.state != "queued" || outbox_path(self, &kept).ok().as_ref() != Some(&path) {
            let _ = tokio::fs::remove_file(&path).await;
        }
        own_send(kept, &caller.record.id)
    }

    /// `GET /v1/outbox`: what the person sent, and how each delivery stands.
    pub async fn outbox(
        &self,
        peer: &Peer,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxItem>, Refusal> {
        let caller = self.authenticate(peer).await?;
        filter.check()?;
        self.store
            .outbox(Some(&caller.record.id), filter)
            .await
            .map_err(Refusal::internal)
    }

    /// `GET /v1/fed/inbox/{id}/partial`: how many bytes of a broken delivery of `id`
    /// from this partner are kept here (0 if none), for the partner to send the rest.
    pub async fn partial_offset(
        self: &Arc<Self>,
        peer: &Peer,
        id: &str,
    ) -> Result<wire::PartialDelivery, Refusal> {
        let partner = self.partner_of(peer).await?;
        check_object_id(id)?;
        let path = partial_path(self, &partner.code, id);
        let offset = tokio::fs::metadata(&path)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(wire::PartialDelivery { offset })
    }

    /// `PUT /v1/fed/inbox/{id}`: a partner node delivers an object. Every refusal of a
    /// partner (whatever its status, short of an internal error) is logged (`receive`,
    /// `deny`); a caller that is not a partner, as [`Node::log_stranger`] says.
    pub async fn receive(
        self: &Arc<Self>,
        peer: &Peer,
        id: &str,
        resume_from: Option<u64>,
        body: axum::body::Body,
    ) -> Result<Receipt, Refusal> {
        let partner = match self.partner_of(peer).await {
            Ok(p) => p,
            Err(r) => {
                self.log_stranger(peer, Some(id), &r).await;
                return Err(r);
            }
        };
        match self.receive_from(&partner, id, resume_from, body).await {
            Ok(receipt) => Ok(receipt),
            Err(Refused {
                refusal,
                marking,
                agreement,
            }) => {
                if refusal.status < 500 {
                    let entry = self.received(
                        check_object_id(id).is_ok().then_some(id),
                        Some(&partner.code),
                        marking.as_deref(),
                        agreement.as_deref(),
                        false,
                        &refusal.reasons,
                    );
                    self.log_entries(vec![entry]).await?;
                }
                Err(refusal)
            }
        }
    }

    /// [`Node::receive`] from a recognised partner.
    async fn receive_from(
        self: &Arc<Self>,
        partner: &Partner,
        id: &str,
        resume_from: Option<u64>,
        body: axum::body::Body,
    ) -> Result<Receipt, Refused> {
        check_object_id(id)?;
        let partial = Partial {
            path: partial_path(self, &partner.code, id),
            from: resume_from,
        };
        let sp = spool(self, body, MAX_OBJECT, Some(partial.clone())).await?;
        // Whole now: a partial left by an earlier attempt is of no more use.
        if resume_from.is_none() {
            let _ = tokio::fs::remove_file(&partial.path).await;
        }
        // Held per (id, sender): another partner's object under the same id is another
        // object, and neither keeps the other out.
        if let Some(held_rec) = self
            .store
            .inbox_get(id, &partner.code)
            .await
            .map_err(Refusal::internal)?
        {
            if held_rec.sha256 == sp.sha256 {
                return Ok(held_rec.receipt);
            }
            return Err(conflict(id, &partner.code, &held_rec.sha256).into());
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let (label_xml, marking, agreement) = self
            .admit_delivery(&held, partner, id, &sp, at)
            .await
            .map_err(|(marking, agreement, reasons)| Refused {
                refusal: Refusal {
                    status: 403,
                    error: format!("{} refuses object {id} from {}", self.party(), partner.code),
                    reasons,
                    logged: false,
                },
                marking,
                agreement,
            })?;
        let entry = self.received(
            Some(id),
            Some(&partner.code),
            Some(&marking),
            Some(&agreement),
            true,
            &[],
        );
        let (size, sha256) = (sp.size, sp.sha256.clone());
        // The file goes into place before the row (a crash in between leaves a file no
        // row names, which a retried delivery of the same bytes takes over), under a
        // name no other bytes or sender can have: a delivery racing this one cannot
        // overwrite it.
        let file_name = inbox_file_name(&partner.code, id, &sha256);
        let path = blob_dir(self, "inbox").join(&file_name);
        sp.keep_as(&path).await?;
        let range = self.log_entries(vec![entry]).await?;
        let received = crate::store::unix_now();
        let receipt = Receipt::sign(
            ReceiptBody {
                object_id: id.to_string(),
                sha256: sha256.clone(),
                size,
                from: partner.code.clone(),
                to: self.party().to_string(),
                agreement: agreement.clone(),
                received: rfc3339(received),
                log_index: range.start,
            },
            &self.signing,
        )
        .map_err(Refusal::internal)?;
        let rec = InboxRecord {
            item: InboxItem {
                id: id.to_string(),
                marking: marking.clone(),
                from: partner.code.clone(),
                received: rfc3339(received),
                size,
                agreement: agreement.clone(),
            },
            label: label_xml,
            sha256: sha256.clone(),
            receipt: receipt.clone(),
            pack: None,
            file_name: Some(file_name),
        };
        if self
            .store
            .inbox_insert(&rec, received)
            .await
            .map_err(Refusal::internal)?
        {
            tracing::info!(object = %id, from = %partner.code, size, "received");
            return Ok(receipt);
        }
        // A delivery of this id from this partner was kept while this one was checked:
        // what is held is that one, and only its receipt may be given. This file goes
        // unless it is that one's.
        let kept = self
            .store
            .inbox_get(id, &partner.code)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| {
                Refusal::internal(format!("inbox row {id} from {} vanished", partner.code))
            })?;
        if self.stored_at(&kept).ok().map(|s| s.path).as_ref() != Some(&path) {
            let _ = tokio::fs::remove_file(&path).await;
        }
        if kept.sha256 == sha256 {
            return Ok(kept.receipt);
        }
        Err(Refused {
            refusal: conflict(id, &partner.code, &kept.sha256),
            marking: Some(marking),
            agreement: Some(agreement),
        })
    }

    /// Where a held object's bytes are.
    fn stored_at(&self, rec: &InboxRecord) -> Result<Stored, Refusal> {
        let dir = blob_dir(self, "inbox");
        let (path, offset) = match (&rec.pack, &rec.file_name) {
            (Some((pack, offset)), _) => (pack_path(self, pack)?, *offset),
            (None, Some(name)) => (
                dir.join(checked_file_name(name).map_err(Refusal::internal)?),
                0,
            ),
            (None, None) => {
                check_object_id(&rec.item.id)
                    .map_err(|r| Refusal::internal(format!("stored {}", r.error)))?;
                (dir.join(format!("{}.tdf", rec.item.id)), 0)
            }
        };
        Ok(Stored {
            path,
            offset,
            size: rec.item.size,
        })
    }

    /// The receiver's checks; on refusal, what is known of the object and why.
    #[allow(clippy::type_complexity)]
    async fn admit_delivery(
        &self,
        held: &[Held],
        partner: &Partner,
        id: &str,
        sp: &Spooled,
        at: Time,
    ) -> Result<(String, String, String), (Option<String>, Option<String>, Vec<Reason>)> {
        // Only the sender's own key may have signed the label.
        let trusted: Vec<accord_keys::VerifyingKey> =
            accord_keys::VerifyingKey::from_spki_der(&partner.signing_keys.ecdsa_p384)
                .into_iter()
                .collect();
        let v = examine(&sp.path, trusted).await;
        self.admit_verified(held, partner, id, v, at)
    }

    /// The receiver's checks of an object whose label was verified (or not).
    #[allow(clippy::type_complexity)]
    fn admit_verified(
        &self,
        held: &[Held],
        partner: &Partner,
        id: &str,
        v: Result<VerifiedLabel, Reason>,
        at: Time,
    ) -> Result<(String, String, String), (Option<String>, Option<String>, Vec<Reason>)> {
        let v = v.map_err(|r| (None, None, vec![r]))?;
        let marking = Some(v.marking.clone());
        if v.object_id != id {
            return Err((
                marking,
                v.agreement.clone(),
                vec![Reason::new(
                    crate::wire::Rule::ObjectIntegrity,
                    format!("delivered as {id} but the object's id is {}", v.object_id),
                )],
            ));
        }
        let Some(agreement) = v.agreement.clone() else {
            return Err((
                marking,
                None,
                vec![Reason::new(
                    accord_agreement::Rule::AgreementInForce,
                    "the object names no agreement",
                )],
            ));
        };
        if !partner.agreements.contains(&agreement) {
            return Err((
                marking,
                Some(agreement.clone()),
                vec![Reason::new(
                    accord_agreement::Rule::AgreementInForce,
                    format!(
                        "agreement {agreement} is not in force between {} and {}",
                        partner.code,
                        self.party()
                    ),
                )],
            ));
        }
        let label = Label::read(
            self.policies(),
            "the object's label",
            v.label_xml.as_bytes(),
        )
        .map_err(|e| {
            (
                marking.clone(),
                Some(agreement.clone()),
                vec![Reason::new(
                    accord_agreement::Rule::Translation,
                    format!("the label cannot be read here: {e}"),
                )],
            )
        })?;
        // What the inbox and the log show is the verified label's own marking.
        let marking = self.marking_of(&label, &v.marking);
        let (ok, reasons) =
            self.transfer_reasons(held, &agreement, &label, &partner.code, self.party(), at);
        if !ok {
            return Err((Some(marking), Some(agreement), reasons));
        }
        Ok((v.label_xml, marking, agreement))
    }

    /// `POST /v1/fed/inbox`: a partner node delivers a batch of small objects. Each is
    /// checked as [`Node::receive`] checks one; the kept ones are synced together, their
    /// decisions logged in one durable append, their receipts signed once for the batch
    /// and recorded in one commit. One result per object, in the batch's order. A
    /// refusal of the whole batch is logged as one entry naming no object; a caller
    /// that is not a partner, as [`Node::log_stranger`] says.
    pub async fn receive_batch(
        self: &Arc<Self>,
        peer: &Peer,
        body: axum::body::Bytes,
    ) -> Result<wire::BatchResponse, Refusal> {
        let partner = match self.partner_of(peer).await {
            Ok(p) => p,
            Err(r) => {
                self.log_stranger(peer, None, &r).await;
                return Err(r);
            }
        };
        match self.receive_batch_from(&partner, body).await {
            Ok(answer) => Ok(answer),
            Err(r) => {
                if r.status < 500 {
                    let entry =
                        self.received(None, Some(&partner.code), None, None, false, &r.reasons);
                    self.log_entries(vec![entry]).await?;
                }
                Err(r)
            }
        }
    }

    /// [`Node::receive_batch`] from a recognised partner.
    async fn receive_batch_from(
        self: &Arc<Self>,
        partner: &Partner,
        body: axum::body::Bytes,
    ) -> Result<wire::BatchResponse, Refusal> {
        let batch = wire::parse_batch(&body)
            .map_err(|e| Refusal::new(400, crate::wire::Rule::Request, e.0))?;
        crate::disk::check_room(
            &self.home.layout.blobs(),
            self.home.config.disk_reserve(),
            body.len() as u64,
        )?;
        let n = batch.objects.len();
        let mut results: Vec<Option<wire::BatchResult>> = vec![None; n];
        let refused = |id: &str, status: u16, error: String, reasons: Vec<Reason>| {
            Some(wire::BatchResult {
                id: id.to_string(),
                receipt: None,
                status: Some(status),
                error: Some(error),
                reasons,
            })
        };
        let receipted = |id: &str, receipt: Receipt| {
            Some(wire::BatchResult {
                id: id.to_string(),
                receipt: Some(receipt),
                status: None,
                error: None,
                reasons: vec![],
            })
        };
        // Hash everything off the async threads; then what is already held from this
        // partner answers with its receipt (a retried delivery), or a conflict.
        let hashes = {
            let (body, ranges) = (body.clone(), batch.objects.clone());
            tokio::task::spawn_blocking(move || {
                ranges
                    .iter()
                    .map(|(_, r)| {
                        hex::encode(
                            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body[r.clone()])
                                .as_ref(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(Refusal::internal)?
        };
        let ids: Vec<&str> = batch.objects.iter().map(|(id, _)| id.as_str()).collect();
        let held_here = self
            .store
            .inbox_get_many(&ids, &partner.code)
            .await
            .map_err(Refusal::internal)?;
        // Refusals first, then permits, in the log: the receipts' log indexes count on it.
        let mut entries = Vec::new();
        let mut fresh = Vec::new();
        for (i, (id, _)) in batch.objects.iter().enumerate() {
            match held_here.get(id) {
                Some(rec) if rec.sha256 == hashes[i] => {
                    results[i] = receipted(id, rec.receipt.clone());
                }
                Some(rec) => {
                    let r = conflict(id, &partner.code, &rec.sha256);
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        None,
                        None,
                        false,
                        &r.reasons,
                    ));
                    results[i] = refused(id, r.status, r.error, r.reasons);
                }
                None => fresh.push(i),
            }
        }
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let trusted: Vec<accord_keys::VerifyingKey> =
            accord_keys::VerifyingKey::from_spki_der(&partner.signing_keys.ecdsa_p384)
                .into_iter()
                .collect();
        let verified = examine_all(
            body.clone(),
            fresh.iter().map(|&i| batch.objects[i].1.clone()).collect(),
            trusted,
        )
        .await;
        let mut kept = Vec::new();
        for (&i, v) in fresh.iter().zip(verified) {
            let id = &batch.objects[i].0;
            match self.admit_verified(&held, partner, id, v, at) {
                Ok(ok) => kept.push((i, ok)),
                Err((marking, agreement, reasons)) => {
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        marking.as_deref(),
                        agreement.as_deref(),
                        false,
                        &reasons,
                    ));
                    let e = format!("{} refuses object {id} from {}", self.party(), partner.code);
                    results[i] = refused(id, 403, e, reasons);
                }
            }
        }
        let done = |results: Vec<Option<wire::BatchResult>>| wire::BatchResponse {
            results: results.into_iter().flatten().collect(),
        };
        if kept.is_empty() {
            if !entries.is_empty() {
                self.log_entries(entries).await?;
            }
            return Ok(done(results));
        }
        let (pack, offsets) = keep_pack(
            self,
            body.clone(),
            kept.iter()
                .map(|(i, _)| batch.objects[*i].1.clone())
                .collect(),
        )
        .await?;
        let denied = entries.len() as u64;
        for (i, (_, marking, agreement)) in &kept {
            entries.push(self.received(
                Some(&batch.objects[*i].0),
                Some(&partner.code),
                Some(marking),
                Some(agreement),
                true,
                &[],
            ));
        }
        let range = self.log_entries(entries).await?;
        let received = crate::store::unix_now();
        let bodies = kept
            .iter()
            .enumerate()
            .map(|(k, (i, (_, _, agreement)))| {
                let (id, r) = &batch.objects[*i];
                ReceiptBody {
                    object_id: id.clone(),
                    sha256: hashes[*i].clone(),
                    size: r.len() as u64,
                    from: partner.code.clone(),
                    to: self.party().to_string(),
                    agreement: agreement.clone(),
                    received: rfc3339(received),
                    log_index: range.start + denied + k as u64,
                }
            })
            .collect();
        let receipts = Receipt::sign_batch(bodies, &self.signing).map_err(Refusal::internal)?;
        let (places, records): (Vec<usize>, Vec<InboxRecord>) = kept
            .into_iter()
            .zip(receipts)
            .zip(offsets)
            .map(|(((i, (label, marking, agreement)), receipt), offset)| {
                (
                    i,
                    InboxRecord {
                        item: InboxItem {
                            id: batch.objects[i].0.clone(),
                            marking,
                            from: partner.code.clone(),
                            received: rfc3339(received),
                            size: batch.objects[i].1.len() as u64,
                            agreement,
                        },
                        label,
                        sha256: hashes[i].clone(),
                        receipt,
                        pack: Some((pack.clone(), offset)),
                        file_name: None,
                    },
                )
            })
            .unzip();
        let inserted = self
            .store
            .inbox_insert_many(&records, received)
            .await
            .map_err(Refusal::internal)?;
        tracing::info!(objects = inserted.iter().filter(|k| **k).count(), from = %partner.code, "received a batch");
        let mut lost = Vec::new();
        for ((i, r), won) in places.into_iter().zip(records).zip(inserted) {
            if won {
                results[i] = receipted(&r.item.id, r.receipt);
            } else {
                lost.push((i, r));
            }
        }
        if lost.is_empty() {
            return Ok(done(results));
        }
        // Objects of this partner under an id that was kept meanwhile (by a delivery
        // racing this batch, or earlier in it): only what is held may be receipted.
        let ids: Vec<&str> = lost.iter().map(|(_, r)| r.item.id.as_str()).collect();
        let now_held = self
            .store
            .inbox_get_many(&ids, &partner.code)
            .await
            .map_err(Refusal::internal)?;
        let mut entries = Vec::new();
        for (i, r) in &lost {
            let id = &r.item.id;
            match now_held.get(id) {
                Some(h) if h.sha256 == r.sha256 => results[*i] = receipted(id, h.receipt.clone()),
                Some(h) => {
                    let c = conflict(id, &partner.code, &h.sha256);
                    entries.push(self.received(
                        Some(id),
                        Some(&partner.code),
                        Some(&r.item.marking),
                        Some(&r.item.agreement),
                        false,
                        &c.reasons,
                    ));
                    results[*i] = refused(id, c.status, c.error, c.reasons);
                }
                None => return Err(Refusal::internal(format!("inbox row {id} vanished"))),
            }
        }
        if !entries.is_empty() {
            self.log_entries(entries).await?;
        }
        Ok(done(results))
    }

    /// `GET /v1/inbox`: what the person may see, oldest first.
    pub async fn inbox(&self, peer: &Peer) -> Result<Vec<InboxItem>, Refusal> {
        let caller = self.authenticate(peer).await?;
        let person = match self.person(&caller.record) {
            Ok(p) => p,
            Err(_) => return Ok(vec![]),
        };
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let all = self.store.inbox().await.map_err(Refusal::internal)?;
        Ok(all
            .into_iter()
            .filter(|r| {
                Label::read(self.policies(), "label", r.label.as_bytes())
                    .map(|l| {
                        self.decide(&person, &l, Some(&r.item.agreement), &held, at)
                            .0
                    })
                    .unwrap_or(false)
            })
            .map(|r| r.item)
            .collect())
    }

    /// `GET /v1/inbox/{id}`: the object, if the person may see it. Objects are held per
    /// sender, and two partners may have sent objects under the same id: this gives
    /// the one the person may see; when they may see more than one, it refuses (409)
    /// naming the senders, and [`Node::fetch_from`] takes the one from a sender.
    pub async fn fetch(&self, peer: &Peer, id: &str) -> Result<Stored, Refusal> {
        self.fetch_from(peer, id, None).await
    }

    /// `GET /v1/inbox/{id}` from one sender (`from`, a party code), or from whichever
    /// sender's object under `id` the person may see (None; see [`Node::fetch`]).
    pub async fn fetch_from(
        &self,
        peer: &Peer,
        id: &str,
        from: Option<&str>,
    ) -> Result<Stored, Refusal> {
        let caller = self.authenticate(peer).await?;
        let r = self.fetch_as(&caller, id, from).await;
        self.answered("fetch", &caller, r).await
    }

    async fn fetch_as(
        &self,
        caller: &crate::node::Caller,
        id: &str,
        from: Option<&str>,
    ) -> Result<Stored, Refusal> {
        check_object_id(id)?;
        if let Some(f) = from {
            check_code(f)?;
        }
        let recs: Vec<InboxRecord> = self
            .store
            .inbox_get_all(id)
            .await
            .map_err(Refusal::internal)?
            .into_iter()
            .filter(|r| from.is_none_or(|f| r.item.from == f))
            .collect();
        if recs.is_empty() {
            return Err(Refusal::new(
                404,
                crate::wire::Rule::Request,
                match from {
                    Some(f) => format!("no object {id} from {f} in the inbox"),
                    None => format!("no object {id} in the inbox"),
                },
            ));
        }
        let person = self.person(&caller.record).map_err(|r| Refusal {
            status: 403,
            error: r.text.clone(),
            reasons: vec![r],
            logged: false,
        })?;
        let held = self.agreements().await.map_err(Refusal::internal)?;
        let at = (self.clock)();
        let mut seen = Vec::new();
        let mut refused = Vec::new();
        for rec in recs {
            let decided = Label::read(self.policies(), "label", rec.label.as_bytes())
                .map_err(|e| {
                    vec![Reason::new(
                        accord_agreement::Rule::Translation,
                        e.to_string(),
                    )]
                })
                .and_then(|label| {
                    match self.decide(&person, &label, Some(&rec.item.agreement), &held, at) {
                        (true, _) => Ok(()),
                        (false, reasons) => Err(reasons),
                    }
                });
            match decided {
                Ok(()) => seen.push(rec),
                // The first refusal's reasons: the others' would say nothing more the
                // person may know.
                Err(reasons) if refused.is_empty() => refused = reasons,
                Err(_) => {}
            }
        }
        match seen.len() {
            // Logged as the route answers (every refusal of a known caller is); opening
            // would ask the KAS, which decides and logs again.
            0 => Err(Refusal {
                status: 403,
                error: format!("{} may not see object {id}", person.id),
                reasons: refused,
                logged: false,
            }),
            1 => self.stored_at(&seen[0]),
            _ => Err(Refusal::new(
                409,
                crate::wire::Rule::Request,
                format!(
                    "{} objects were received under id {id}, from {}: name the sender to fetch one",
                    seen.len(),
                    seen.iter()
                        .map(|r| r.item.from.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------- delivery

fn backoff(attempts: u64, cap: Duration) -> i64 {
    let ms = RETRY_FIRST_MS.saturating_mul(1i64 << attempts.min(20));
    ms.min(cap.as_millis() as i64)
}

/// Outbox entries read per round of delivery.
const ROUND: usize = 1024;

/// What one delivery call carries: a large object alone (streamed), or a batch of
/// small ones for the same partner.
enum Unit {
    One(Box<OutboxItem>),
    Batch(Vec<OutboxItem>),
}

/// Group due objects into units: per partner, small objects in batches bounded by
/// [`wire::BATCH_MAX_OBJECTS`] and [`wire::BATCH_MAX_BYTES`]; large ones alone.
fn units(due: Vec<OutboxItem>) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut open: std::collections::BTreeMap<String, (Vec<OutboxItem>, u64)> =
        std::collections::BTreeMap::new();
    for item in due {
        if item.size > wire::BATCH_OBJECT_MAX {
            out.push(Unit::One(Box::new(item)));
            continue;
        }
        let (items, bytes) = open.entry(item.to.clone()).or_default();
        if items.len() == wire::BATCH_MAX_OBJECTS || *bytes + item.size > wire::BATCH_MAX_BYTES {
            out.push(Unit::Batch(std::mem::take(items)));
            *bytes = 0;
        }
        *bytes += item.size;
        items.push(item);
    }
    for (_, (items, _)) in open {
        if !items.is_empty() {
            out.push(Unit::Batch(items));
        }
    }
    out
}

/// Deliver the outbox until `stop` turns true (then let the deliveries under way
/// finish).
///
/// Deliveries run as tasks, at most `parallel` at once, each recording its own
/// outcomes; the loop keeps starting new ones as others finish or objects fall due,
/// rather than in rounds, so that the bookkeeping of one batch overlaps the transfer
/// of the next. What is in flight is remembered so that it is not started twice.
pub async fn deliver_loop(
    node: Arc<Node>,
    opts: DeliveryOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let parallel = opts.parallel.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut in_flight: std::collections::HashSet<(String, String)> = Default::default();
    // Batches under way per partner: at most BATCHES_PER_PARTNER, so that while they
    // travel what falls due gathers into the next batch, rather than each object sent
    // going out alone as it arrives (one signature, one sync, one commit each).
    let mut batches: std::collections::HashMap<String, usize> = Default::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<(String, String)>>();
    loop {
        while let Ok(keys) = done_rx.try_recv() {
            finished(&mut in_flight, &mut batches, keys);
        }
        while tasks.try_join_next().is_some() {}
        if *stop.borrow() {
            while tasks.join_next().await.is_some() {}
            return;
        }
        let room = parallel.saturating_sub(tasks.len());
        let due = if room == 0 {
            vec![]
        } else {
            match node.store.outbox_due(now_ms(), ROUND, &in_flight).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the outbox");
                    vec![]
                }
            }
        };
        let mut started = false;
        let mut room = room;
        for unit in units(due) {
            if room == 0 {
                break;
            }
            let keys: Vec<(String, String)> = match &unit {
                Unit::One(i) => vec![(i.id.clone(), i.to.clone())],
                Unit::Batch(v) => {
                    let n = batches.entry(v[0].to.clone()).or_default();
                    if *n >= BATCHES_PER_PARTNER {
                        continue;
                    }
                    *n += 1;
                    v.iter().map(|i| (i.id.clone(), i.to.clone())).collect()
                }
            };
            room -= 1;
            in_flight.extend(keys.iter().cloned());
            let (node, done, cap) = (node.clone(), done_tx.clone(), opts.retry_cap);
            let marker = match &unit {
                Unit::Batch(v) => vec![(String::new(), v[0].to.clone())],
                Unit::One(_) => vec![],
            };
            tasks.spawn(async move {
                // Released however the task ends, a panic included: what it held is
                // then delivered again rather than left "under way" until a restart.
                let objects = Release(done.clone(), keys);
                let batch = Release(done, marker);
                let outcomes = match unit {
                    Unit::One(item) => {
                        let o = attempt(&node, &item).await;
                        vec![(*item, o)]
                    }
                    Unit::Batch(items) => {
                        let o = attempt_batch(&node, items).await;
                        // The partner has answered: the next batch may go while this
                        // one is recorded.
                        drop(batch);
                        o
                    }
                };
                record(&node, outcomes, cap).await;
                drop(objects);
            });
            started = true;
        }
        if started {
            continue;
        }
        let wait = if !tasks.is_empty() {
            // A finishing delivery wakes the loop; this only bounds how late an object
            // whose backoff ends meanwhile is noticed.
            Duration::from_millis(50)
        } else {
            match node.store.outbox_next_due().await {
                Ok(Some(t)) => Duration::from_millis((t - now_ms()).clamp(10, 1000) as u64),
                _ => Duration::from_secs(1),
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            _ = node.outbox_ready.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(keys) = done_rx.recv() => finished(&mut in_flight, &mut batches, keys),
        }
    }
}

/// Tells the delivery loop, when dropped, that these keys (objects, or a batch's
/// marker: an empty id) are no longer under way.
struct Release(
    tokio::sync::mpsc::UnboundedSender<Vec<(String, String)>>,
    Vec<(String, String)>,
);

impl Drop for Release {
    fn drop(&mut self) {
        if !self.1.is_empty() {
            let _ = self.0.send(std::mem::take(&mut self.1));
        }
    }
}

/// Batch deliveries under way at once to one partner.
const BATCHES_PER_PARTNER: usize = 2;

/// Forget a finished delivery's objects (and its batch marker, an empty id).
fn finished(
    in_flight: &mut std::collections::HashSet<(String, String)>,
    batches: &mut std::collections::HashMap<String, usize>,
    keys: Vec<(String, String)>,
) {
    for k in keys {
        if k.0.is_empty() {
            if let Some(n) = batches.get_mut(&k.1) {
                *n = n.saturating_sub(1);
            }
        } else {
            in_flight.remove(&k);
        }
    }
}

enum Outcome {
    Delivered(Box<Receipt>),
    Refused(Vec<Reason>),
    Retry(String),
}

/// Record how deliveries went: retries rescheduled; the others logged in one durable
/// append, then marked in one commit, then their queued copies removed.
async fn record(node: &Arc<Node>, outcomes: Vec<(OutboxItem, Outcome)>, cap: Duration) {
    let mut retries = Vec::new();
    let mut entries = Vec::new();
    let mut finished = Vec::new();
    for (item, outcome) in &outcomes {
        let (id, to) = (item.id.as_str(), item.to.as_str());
        let (state, reasons, receipt) = match outcome {
            Outcome::Retry(e) => {
                let next = now_ms() + backoff(item.attempts, cap);
                tracing::debug!(object = %id, %to, error = %e, attempts = item.attempts + 1, "delivery will be retried");
                retries.push(
                    Stmt::new(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt = $1, last_error = $2 WHERE object_id = $3 AND recipient = $4",
                    )
                    .int(next)
                    .text(e.as_str())
                    .text(id)
                    .text(to),
                );
                continue;
            }
            Outcome::Delivered(r) => ("delivered", &[][..], Some(&**r)),
            Outcome::Refused(reasons) => ("refused", &reasons[..], None),
        };
        entries.push(node.audit(
            &Event {
                kind: "deliver",
                person: Some(&item.person),
                credential: None,
                object: Some(id),
                marking: Some(&item.marking),
                agreement: Some(&item.agreement),
                partner: Some(to),
            },
            receipt.is_some(),
            reasons,
        ));
        if receipt.is_some() {
            tracing::info!(object = %id, %to, "delivered");
        } else {
            tracing::warn!(object = %id, %to, "delivery refused");
        }
        let stored = receipt.map(|r| r.stored());
        let (json, sig) = match stored {
            Some((j, s)) => (Some(j), s.map(|s| s.digest)),
            None => (None, None),
        };
        finished.push(
            Stmt::new(
                "UPDATE outbox SET state = $1, attempts = attempts + 1, reasons = $2, receipt = $3, last_error = NULL, done = $4, \
                 receipt_sig = $5 WHERE object_id = $6 AND recipient = $7",
            )
            .text(state)
            .text(serde_json::to_string(reasons).unwrap_or_default())
            .opt_text(json)
            .int(crate::store::unix_now())
            .opt_text(sig)
            .text(id)
            .text(to),
        );
    }
    if !retries.is_empty() {
        if let Err(e) = node.store.commit(retries).await {
            tracing::error!(error = %e, "recording delivery attempts");
        }
    }
    if entries.is_empty() {
        return;
    }
    if let Err(e) = node.log_entries(entries).await {
        tracing::error!(error = %e.error, "audit log");
        return;
    }
    // A partner that just took a delivery is back: what waits for it in backoff is due
    // now, and goes in batches rather than one by one as each backoff ends.
    let mut back: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Delivered(_)))
        .map(|(i, _)| i.to.as_str())
        .collect();
    back.dedup();
    let now = now_ms();
    for to in &back {
        finished.push(
            Stmt::new(
                "UPDATE outbox SET next_attempt = $1 WHERE recipient = $2 AND state = 'queued' AND next_attempt > $3",
            )
            .int(now)
            .text(*to)
            .int(now),
        );
    }
    let mut stmts = signature_stmts(outcomes.iter().filter_map(|(_, o)| match o {
        Outcome::Delivered(r) => Some(&**r),
        _ => None,
    }));
    stmts.extend(finished);
    match node.store.commit(stmts).await {
        Ok(rows) if rows.iter().rev().take(back.len()).any(|&n| n > 0) => {
            node.outbox_ready.notify_one();
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "recording deliveries");
            return;
        }
    }
    // The delivered (or finally refused) objects' files, in one blocking call.
    let done: Vec<PathBuf> = outcomes
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Retry(_)))
        .filter_map(|(item, _)| outbox_path(node, item).ok())
        .collect();
    if !done.is_empty() {
        let _ = tokio::task::spawn_blocking(move || {
            for p in done {
                let _ = std::fs::remove_file(p);
            }
        })
        .await;
    }
}

/// Check a partner's receipt against what was sent (its signature is checked by the
/// caller).
fn check_receipt(
    node: &Node,
    item: &OutboxItem,
    receipt: &Receipt,
    url: &str,
) -> Result<(), String> {
    let b = &receipt.body;
    if b.object_id != item.id
        || b.sha256 != item.sha256
        || b.size != item.size
        || b.from != node.party()
        || b.to != item.to
    {
        return Err(format!(
            "{url}: the receipt is for another object or party ({} {} {}→{})",
            b.object_id, b.sha256, b.from, b.to
        ));
    }
    Ok(())
}

/// How a partner's refusal status maps to an outcome.
fn refusal_outcome(status: u16, url: &str, problem: Option<wire::Problem>) -> Outcome {
    match status {
        400 | 403 | 409 | 413 | 422 => Outcome::Refused(match problem {
            Some(p) if !p.reasons.is_empty() => p.reasons,
            Some(p) => vec![Reason::new(crate::wire::Rule::Partner, p.error)],
            None => vec![Reason::new(
                crate::wire::Rule::Partner,
                format!("{url}: status {status}"),
            )],
        }),
        _ => Outcome::Retry(format!(
            "{url}: status {status}{}",
            problem
                .map(|p| format!(": {}", p.error))
                .unwrap_or_default()
        )),
    }
}

/// Deliver a batch of small objects to one partner in one request.
async fn attempt_batch(node: &Arc<Node>, items: Vec<OutboxItem>) -> Vec<(OutboxItem, Outcome)> {
    let all = |items: Vec<OutboxItem>, o: &dyn Fn() -> Outcome| {
        items.into_iter().map(|i| (i, o())).collect::<Vec<_>>()
    };
    let held = match node.agreements().await {
        Ok(h) => h,
        Err(e) => return all(items, &|| Outcome::Retry(e.to_string())),
    };
    let at = (node.clock)();
    let to = items[0].to.clone();
    let partners = partners::in_force(&held, node.party(), at);
    let Some(partner) = partners.iter().find(|p| p.code == to) else {
        return items
            .into_iter()
            .map(|i| {
                let o = stopped(&i);
                (i, o)
            })
            .collect();
    };
    let client = match node.partner_clients.get(&node.home, partner) {
        Ok(c) => c,
        Err(e) => return all(items, &|| Outcome::Retry(e.to_string())),
    };
    let mut out = Vec::new();
    let mut wanted = Vec::new();
    for item in items {
        if !partner.agreements.contains(&item.agreement) {
            let o = stopped(&item);
            out.push((item, o));
        } else {
            wanted.push(item);
        }
    }
    // All the batch's files in one blocking call, rather than one hand-off to the
    // blocking pool (and one wake-up) per object.
    let paths: Vec<Result<PathBuf, String>> = wanted.iter().map(|i| outbox_path(node, i)).collect();
    let read = tokio::task::spawn_blocking(move || {
        paths
            .into_iter()
            .map(|p| {
                let p = p?;
                std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|e| vec![Err(format!("reading the batch's files: {e}")); wanted.len()]);
    let mut sending = Vec::new();
    let mut bodies = Vec::new();
    for (item, r) in wanted.into_iter().zip(read) {
        match r {
            Ok(b) => {
                bodies.push((item.id.clone(), b));
                sending.push(item);
            }
            Err(e) => out.push((
                item,
                Outcome::Refused(vec![Reason::new(
                    crate::wire::Rule::ObjectIntegrity,
                    format!("the queued object is gone: {e}"),
                )]),
            )),
        }
    }
    if sending.is_empty() {
        return out;
    }
    let url = format!("{}/v1/fed/inbox", partner.url);
    let resp = match client
        .post(&url)
        .header("content-type", wire::BATCH_MEDIA_TYPE)
        .body(wire::batch_body(&bodies))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let e = format!("{url}: {}", crate::client::describe(&e));
            out.extend(all(sending, &|| Outcome::Retry(e.clone())));
            return out;
        }
    };
    drop(bodies);
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let e = format!("{url}: {e}");
            out.extend(all(sending, &|| Outcome::Retry(e.clone())));
            return out;
        }
    };
    if matches!(status.as_u16(), 400 | 404 | 405 | 413) {
        // A partner without batch delivery, or one that will not take this batch (its
        // bounds may be smaller than ours): one by one, so that each object gets its
        // own answer rather than the batch's.
        for item in sending {
            let o = attempt(node, &item).await;
            out.push((item, o));
        }
        return out;
    }
    if !status.is_success() {
        let problem: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
        for item in sending {
            let o = refusal_outcome(status.as_u16(), &url, problem.clone());
            out.push((item, o));
        }
        return out;
    }
    let answer: wire::BatchResponse = match serde_json::from_slice(&bytes) {
        Ok(a) => a,
        Err(e) => {
            let e = format!("{url}: the answer does not parse: {e}");
            out.extend(all(sending, &|| Outcome::Retry(e.clone())));
            return out;
        }
    };
    if answer.results.len() != sending.len()
        || answer
            .results
            .iter()
            .zip(&sending)
            .any(|(r, i)| r.id != i.id)
    {
        let e = format!("{url}: the answer does not list the objects sent, in order");
        out.extend(all(sending, &|| Outcome::Retry(e.clone())));
        return out;
    }
    let receipts: Vec<&Receipt> = answer
        .results
        .iter()
        .filter_map(|r| r.receipt.as_ref())
        .collect();
    if let Err(e) = Receipt::verify_all(receipts, &partner.signing_keys) {
        let e = e.to_string();
        out.extend(all(sending, &|| Outcome::Retry(e.clone())));
        return out;
    }
    for (item, r) in sending.into_iter().zip(answer.results) {
        let o = match r.receipt {
            Some(receipt) => match check_receipt(node, &item, &receipt, &url) {
                Ok(()) => Outcome::Delivered(Box::new(receipt)),
                Err(e) => Outcome::Retry(e),
            },
            None => refusal_outcome(
                r.status.unwrap_or(500),
                &url,
                Some(wire::Problem {
                    error: r.error.unwrap_or_default(),
                    reasons: r.reasons,
                }),
            ),
        };
        out.push((item, o));
    }
    out
}

/// The outcome for an object whose agreement is no longer in force with its partner.
fn stopped(item: &OutboxItem) -> Outcome {
    Outcome::Refused(vec![Reason::new(
        accord_agreement::Rule::AgreementInForce,
        format!(
            "agreement {} is no longer in force with {}: the delivery is stopped",
            item.agreement, item.to
        ),
    )])
}

/// Ask the partner how much of a broken delivery it holds (0 when it holds none, or
/// does not answer that question, or answers what cannot be right for this object).
async fn resume_offset(client: &reqwest::Client, url: &str, size: u64) -> u64 {
    let Ok(resp) = client.get(format!("{url}/partial")).send().await else {
        return 0;
    };
    if !resp.status().is_success() {
        return 0;
    }
    let Ok(bytes) = resp.bytes().await else {
        return 0;
    };
    resume_from(&bytes, size)
}

/// The offset to resume from, given the partner's answer: only strictly inside the
/// object (a partial as long as the object or longer is not a partial of it).
fn resume_from(answer: &[u8], size: u64) -> u64 {
    match serde_json::from_slice::<wire::PartialDelivery>(answer) {
        Ok(p) if p.offset < size => p.offset,
        _ => 0,
    }
}

async fn attempt(node: &Arc<Node>, item: &OutboxItem) -> Outcome {
    let held = match node.agreements().await {
        Ok(h) => h,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let at = (node.clock)();
    let Some(partner) = partners::in_force(&held, node.party(), at)
        .into_iter()
        .find(|p| p.code == item.to && p.agreements.contains(&item.agreement))
    else {
        return stopped(item);
    };
    let client = match node.partner_clients.get(&node.home, &partner) {
        Ok(c) => c,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let path = match outbox_path(node, item) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                crate::wire::Rule::ObjectIntegrity,
                format!("the queued object {} cannot be found: {e}", item.id),
            )])
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return Outcome::Refused(vec![Reason::new(
                crate::wire::Rule::ObjectIntegrity,
                format!("the queued object {} is gone: {e}", path.display()),
            )])
        }
    };
    let url = format!("{}/v1/fed/inbox/{}", partner.url, item.id);
    // A large object whose last delivery broke off: send only what the partner lacks.
    let from = if item.size >= RESUME_MIN {
        resume_offset(&client, &url, item.size).await
    } else {
        0
    };
    if from > 0 {
        use tokio::io::AsyncSeekExt as _;
        if let Err(e) = file.seek(std::io::SeekFrom::Start(from)).await {
            return Outcome::Retry(format!("{}: {e}", path.display()));
        }
        tracing::info!(object = %item.id, to = %item.to, from, "resuming a delivery");
    }
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let mut req = client
        .put(&url)
        .header("content-type", "application/zip")
        .header("content-length", item.size - from);
    if from > 0 {
        req = req.header(wire::RESUME_HEADER, from);
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(format!("{url}: {}", crate::client::describe(&e))),
    };
    let status = resp.status();
    if from > 0 && status.as_u16() == 416 {
        // The partner no longer holds what it said: the next attempt asks again (and
        // is told 0) and sends the object whole.
        return Outcome::Retry(format!(
            "{url}: the partner no longer holds the first {from} bytes; sending it whole next"
        ));
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Outcome::Retry(format!("{url}: {e}")),
    };
    if status.is_success() {
        let receipt: Receipt = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(format!("{url}: the receipt does not parse: {e}")),
        };
        if let Err(e) = receipt.verify(&partner.signing_keys) {
            return Outcome::Retry(e.to_string());
        }
        if let Err(e) = check_receipt(node, item, &receipt, &url) {
            return Outcome::Retry(e);
        }
        return Outcome::Delivered(Box::new(receipt));
    }
    let problem: Option<wire::Problem> = serde_json::from_slice(&bytes).ok();
    refusal_outcome(status.as_u16(), &url, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_sixteen_partials_per_partner_the_oldest_go() {
        let dir = tempfile::tempdir().unwrap();
        let at = |i: u64| std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + i);
        let mk = |name: &str, t: std::time::SystemTime| {
            let p = dir.path().join(name);
            let f = std::fs::File::create(&p).unwrap();
            f.set_modified(t).unwrap();
            p
        };
        for i in 0..20u64 {
            mk(
                &format!("USA.{i:08}-0000-0000-0000-000000000000.part"),
                at(i),
            );
        }
        // Another partner's partials are not counted against USA.
        let gbr = mk("GBR.00000000-0000-0000-0000-000000000000.part", at(0));
        let kept = dir
            .path()
            .join("USA.00000019-0000-0000-0000-000000000000.part");
        bound_partials(&kept);
        let usa: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("USA."))
            .collect();
        assert_eq!(usa.len(), PARTIALS_PER_PARTNER);
        for i in 0..4 {
            assert!(
                !usa.iter().any(|n| n.starts_with(&format!("USA.{i:08}"))),
                "{i} kept"
            );
        }
        assert!(kept.exists() && gbr.exists());
    }

    #[test]
    fn partials_of_one_partner_stay_within_one_largest_object() {
        let dir = tempfile::tempdir().unwrap();
        // Sparse files: the bound counts their lengths, which is what they may fill.
        let mk = |i: u64, len: u64| {
            let p = dir
                .path()
                .join(format!("PAK.{i:08}-0000-0000-0000-000000000000.part"));
            let f = std::fs::File::create(&p).unwrap();
            f.set_len(len).unwrap();
            f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + i))
                .unwrap();
            p
        };
        let quarter = MAX_OBJECT / 4 + 1;
        let old: Vec<PathBuf> = (0..3).map(|i| mk(i, quarter)).collect();
        let kept = mk(3, quarter);
        bound_partials(&kept);
        // Four quarters and a bit are over the bound: the oldest went, the rest stay.
        assert!(!old[0].exists());
        assert!(old[1].exists() && old[2].exists() && kept.exists());
        // The partial just kept stays even when it alone is the largest object.
        let big = mk(4, MAX_OBJECT);
        bound_partials(&big);
        assert!(big.exists() && !old[1].exists() && !old[2].exists() && !kept.exists());
    }

    #[test]
    fn partials_untouched_for_a_week_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("USA.a.part");
        let fresh = dir.path().join("USA.b.part");
        for p in [&stale, &fresh] {
            std::fs::write(p, b"part").unwrap();
        }
        let week_ago = std::time::SystemTime::now() - PARTIAL_MAX_AGE - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(week_ago)
            .unwrap();
        remove_older(dir.path(), PARTIAL_MAX_AGE);
        assert!(!stale.exists() && fresh.exists());
        // A directory that is not there is no error.
        remove_older(&dir.path().join("none"), PARTIAL_MAX_AGE);
    }

    #[test]
    fn resume_only_strictly_inside_the_object() {
        assert_eq!(resume_from(br#"{"offset":0}"#, 100), 0);
        assert_eq!(resume_from(br#"{"offset":40}"#, 100), 40);
        assert_eq!(resume_from(br#"{"offset":99}"#, 100), 99);
        // As long as the object or longer: not a partial of it.
        assert_eq!(resume_from(br#"{"offset":100}"#, 100), 0);
        assert_eq!(resume_from(br#"{"offset":18446744073709551615}"#, 100), 0);
        // Anything else: start over.
        assert_eq!(resume_from(br#"{"offset":-1}"#, 100), 0);
        assert_eq!(resume_from(br#"{"offset":40,"more":1}"#, 100), 0);
        assert_eq!(resume_from(b"not json", 100), 0);
    }
}
