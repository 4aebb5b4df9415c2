//! The blob store: objects spooled to disk as they stream in, kept files named by
//! their bytes, packs of batched objects, and partial deliveries kept for resuming.

use super::store::OutboxRow;
use crate::exchange::check_code;
use crate::exchange::check_object_id;
use crate::exchange::MAX_OBJECT;
use crate::node::Node;
use crate::refusal::Refusal;
use accord_node_api::wire::Reason;
use accord_node_api::Kind;
use accord_tdf::VerifiedLabel;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub(super) fn blob_dir(node: &Node, sub: &str) -> PathBuf {
    node.home.layout.blobs().join(sub)
}

/// The file name of a queued send: by its bytes too, so that two sends of the same id
/// to the same partner never share a file unless they are the same bytes.
pub(super) fn outbox_file_name(id: &str, to: &str, sha256: &str) -> String {
    format!("{id}.{to}.{sha256}.tdf")
}

/// Where a queued send's bytes are: the file its row names, or for a row queued before
/// files were named by their bytes, `{id}.{to}.tdf`.
pub(super) fn outbox_path(node: &Node, item: &OutboxRow) -> Result<PathBuf, String> {
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
pub(super) fn inbox_file_name(from: &str, id: &str, sha256: &str) -> String {
    format!("{from}.{id}.{sha256}.tdf")
}

/// A file name read from the database, checked before it names a file: letters,
/// digits, dots and dashes, not starting with a dot.
pub(crate) fn checked_file_name(name: &str) -> Result<&str, String> {
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
pub(super) fn pack_path(node: &Node, pack: &str) -> Result<PathBuf, Refusal> {
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
pub(crate) struct Spooled {
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) sha256: String,
    pub(super) keep: bool,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A sealed object the node writes itself (the console's seal, as the upload arrives)
/// straight into `blobs/tmp/`, hashed as it is written: then queued as it is, with no
/// copy (`Node::send_written`).
pub(crate) struct SpoolWriter {
    sp: Spooled,
    file: std::io::BufWriter<std::fs::File>,
    hash: aws_lc_rs::digest::Context,
}

impl SpoolWriter {
    /// A new file under the node's `blobs/tmp/` (removed unless queued).
    pub(crate) fn new(node: &Node) -> std::io::Result<SpoolWriter> {
        let dir = blob_dir(node, "tmp");
        std::fs::create_dir_all(&dir)?;
        let mut name = [0u8; 16];
        aws_lc_rs::rand::fill(&mut name).map_err(|_| std::io::Error::other("random"))?;
        let path = dir.join(format!("{}.part", hex::encode(name)));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(SpoolWriter {
            sp: Spooled {
                path,
                size: 0,
                sha256: String::new(),
                keep: false,
            },
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            hash: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
        })
    }

    /// Written and durable: the spooled object.
    pub(crate) fn finish(mut self) -> std::io::Result<Spooled> {
        use std::io::Write;
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        let SpoolWriter { mut sp, hash, .. } = self;
        sp.sha256 = hex::encode(hash.finish().as_ref());
        Ok(sp)
    }
}

impl std::io::Write for SpoolWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.sp.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Spooled {
    /// Move into place durably (file data was synced when spooled; the rename is made
    /// durable by syncing the directory).
    pub(super) async fn keep_as(mut self, to: &Path) -> Result<(), Refusal> {
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
pub(super) const SPOOL_PIECE: usize = 1 << 20;

/// How much a spooled body may have written past its last sync before the next one
/// starts (in the background).
pub(super) const WRITE_BEHIND: usize = 32 << 20;

/// Give the writer `pending` (waiting off the async threads if its queue is full);
/// false when the writer has stopped (its error is reported when it is joined).
pub(super) async fn hand_over(
    tx: &std::sync::mpsc::SyncSender<Vec<u8>>,
    pending: &mut Vec<u8>,
) -> bool {
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
    pub(super) path: PathBuf,
    /// Resume from this many bytes of it; `None` for a delivery from the start (which
    /// leaves a partial if it breaks off).
    pub(super) from: Option<u64>,
}

/// Partial deliveries shorter than this are not kept: sending them again costs less
/// than a round trip to ask.
pub(super) const PARTIAL_MIN: u64 = 8 << 20;

/// A delivery this large asks the partner first whether part of it is held already.
pub(super) const RESUME_MIN: u64 = PARTIAL_MIN;

/// Partial deliveries untouched for this long are removed.
pub(super) const PARTIAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Partial deliveries kept per partner at most (the oldest go first): a partner whose
/// deliveries keep breaking cannot fill the disk with them.
pub(super) const PARTIALS_PER_PARTNER: usize = 16;

/// Bytes of partial deliveries kept per partner at most (the oldest go first): one
/// object of the largest size. (The disk reserve bounds all of them together.)
pub(super) const PARTIAL_BYTES_PER_PARTNER: u64 = MAX_OBJECT;

/// Keep at most [`PARTIALS_PER_PARTNER`] partials, and [`PARTIAL_BYTES_PER_PARTNER`]
/// bytes of them, from the partner whose partial is `kept` (blocking): the least
/// recently written go first, and `kept` stays.
pub(super) fn bound_partials(kept: &Path) {
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

pub(super) fn partial_path(node: &Node, from: &str, id: &str) -> PathBuf {
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
pub(super) fn remove_older(dir: &Path, age: Duration) {
    remove_files_where(dir, |m| {
        m.modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age)
    });
}

/// Remove the plain files in `dir` whose metadata satisfies `doomed` (blocking; a
/// directory that is not there holds nothing). Returns how many went.
pub(super) fn remove_files_where(dir: &Path, doomed: impl Fn(&std::fs::Metadata) -> bool) -> u64 {
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
pub(super) fn resume_partial(
    partial: &Path,
    to: &Path,
    offset: u64,
) -> Result<(std::fs::File, aws_lc_rs::digest::Context), Refusal> {
    use std::io::{Read as _, Seek as _};
    let gone = || {
        Refusal::new(
            Kind::BadRange,
            accord_node_api::wire::Rule::Request,
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
pub(super) const SPOOL_IDLE: Duration = Duration::from_secs(60);

pub(super) async fn spool(
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

pub(super) async fn spool_task(
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
                    Kind::TooSlow,
                    accord_node_api::wire::Rule::Request,
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
                    Kind::BadRequest,
                    accord_node_api::wire::Rule::Request,
                    format!("reading the object: {e}"),
                ));
                break;
            }
        };
        sp.size += chunk.len() as u64;
        if sp.size > limit {
            failed = Some(Refusal::new(
                Kind::TooLarge,
                accord_node_api::wire::Rule::Request,
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
                Kind::NoRoom,
                accord_node_api::wire::Rule::Storage,
                format!("this node's disk is full ({e}); try again later"),
            )
        } else {
            Refusal::internal(e)
        }
    })?;
    Ok(sp)
}

/// Read and verify the label of a spooled object (blocking: zip and signatures).
pub(super) async fn examine(
    path: &Path,
    trusted: Vec<accord_keys::VerifyingKey>,
) -> Result<VerifiedLabel, Reason> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path).map_err(|e| {
            Reason::new(
                accord_node_api::wire::Rule::ObjectIntegrity,
                format!("reading the object: {e}"),
            )
        })?;
        examine_container(&mut f, &trusted)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Reason::new(
            accord_node_api::wire::Rule::ObjectIntegrity,
            e.to_string(),
        ))
    })
}

/// Verify the label of a container (blocking).
pub(super) fn examine_container<R: std::io::Read + std::io::Seek>(
    r: &mut R,
    trusted: &[accord_keys::VerifyingKey],
) -> Result<VerifiedLabel, Reason> {
    let integrity = |e: accord_tdf::Error| {
        Reason::new(accord_node_api::wire::Rule::ObjectIntegrity, e.to_string())
    };
    let layout = accord_tdf::zip::read_layout(r).map_err(integrity)?;
    let manifest = accord_tdf::zip::read_manifest(r, &layout).map_err(integrity)?;
    accord_tdf::verify_label(&manifest, trusted).map_err(integrity)
}

/// Verify the labels of the objects of a batch held in memory, on as many blocking
/// threads as there are cores; the results in the order of `ranges`.
pub(super) async fn examine_all(
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
                    accord_node_api::wire::Rule::ObjectIntegrity,
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
pub(super) async fn keep_pack(
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
