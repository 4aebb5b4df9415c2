//! A consistent copy of a log that another process is writing (a node's backup): the
//! files a writer could have crashed into, which [`super::Log::open`] recovers from.
//!
//! The order is what makes it consistent. The checkpoint is read first: every tile it
//! names was durable before it was written, and full tiles never change, so the tiles
//! are read after it. A partial tile the checkpoint names may have been removed since
//! (the writer removes `.p/` once the full tile is published): its bytes are then the
//! first entries of the full tile, which is taken instead. Last, the journal: every
//! entry acknowledged before the copy started and not yet in the checkpoint is in a
//! segment that the writer removes only once a later checkpoint covers it; if that
//! happened meanwhile (the segments no longer reach back to the checkpoint read), the
//! copy starts again from a fresh checkpoint.
//!
//! What the copy holds: `checkpoint`, `.accord/log.key`, the tiles and entry bundles of
//! the checkpoint's tree, and one journal segment (`.accord/wal/<size>.wal`) with the
//! acknowledged entries after it. Never the lock.

use std::fs;
use std::path::{Path, PathBuf};

use super::files::private_dir;
use super::journal::{encode_frame, list_segments, read_segment, WAL_DIR};
use super::KEY_FILE;
use crate::checkpoint::SignedCheckpoint;
use crate::tile::{encode_bundle, entries_path, parse_bundle, tile_path, TILE_WIDTH};
use crate::Error;

/// Where a member of a log snapshot comes from.
#[derive(Debug)]
pub enum SnapshotData {
    /// A file that no writer changes any more (a full tile, the key): read it when
    /// copying.
    File(PathBuf),
    /// Bytes read (or made) at the snapshot: a checkpoint, a partial tile, the journal.
    Bytes(Vec<u8>),
}

/// One member of a log snapshot.
#[derive(Debug)]
pub struct SnapshotFile {
    /// Its path inside the log directory (`tile/0/000`, `.accord/log.key`).
    pub path: String,
    /// Its bytes.
    pub data: SnapshotData,
}

/// A consistent copy of a log being written: see the module's doc.
#[derive(Debug)]
pub struct LogSnapshot {
    /// The checkpoint read first.
    pub checkpoint: SignedCheckpoint,
    /// Acknowledged entries after it (in the journal segment of the copy).
    pub journal_entries: u64,
    /// The files, checkpoint first.
    pub files: Vec<SnapshotFile>,
}

impl LogSnapshot {
    /// The log's size once opened: the checkpoint and the journal after it.
    pub fn size(&self) -> u64 {
        self.checkpoint.checkpoint.size + self.journal_entries
    }
}

/// How many times the copy starts again when the writer removed journal segments
/// under it.
const ATTEMPTS: usize = 20;

/// Most entries in one journal frame of the copy (as the writer's largest batch).
const FRAME_ENTRIES: usize = 65536;

/// Take a consistent copy of the log in `dir`, which a writer may be appending to.
pub fn snapshot(dir: &Path) -> Result<LogSnapshot, Error> {
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match attempt(dir)? {
            Ok(s) => return Ok(s),
            Err(why) => last = why,
        }
    }
    Err(Error::Invalid(format!(
        "{}: could not copy the log consistently in {ATTEMPTS} attempts: {last}",
        dir.display()
    )))
}

/// One attempt: `Ok(Err(why))` when the writer moved under it and it must start again.
fn attempt(dir: &Path) -> Result<Result<LogSnapshot, String>, Error> {
    let cp_path = dir.join("checkpoint");
    let cp_bytes = fs::read(&cp_path).map_err(|e| Error::io(&cp_path, e))?;
    let checkpoint = SignedCheckpoint::parse(&cp_bytes)?;
    let size = checkpoint.checkpoint.size;
    let mut files = vec![
        SnapshotFile {
            path: "checkpoint".into(),
            data: SnapshotData::Bytes(cp_bytes),
        },
        SnapshotFile {
            path: format!("{}/{KEY_FILE}", super::files::PRIVATE_DIR),
            data: SnapshotData::File(private_dir(dir).join(KEY_FILE)),
        },
    ];
    // Hash tiles, level by level, then the entry bundles.
    let mut level = 0u32;
    while level < 8 && (size >> (8 * level)) > 0 {
        let at = size >> (8 * level);
        for n in 0..at / TILE_WIDTH {
            let path = tile_path(level, n, TILE_WIDTH);
            files.push(full(dir, path)?);
        }
        let w = at % TILE_WIDTH;
        if w > 0 {
            let n = at / TILE_WIDTH;
            let data = match partial(dir, &tile_path(level, n, w))? {
                Some(d) => d,
                None => {
                    let full = tile_path(level, n, TILE_WIDTH);
                    let data = read_full(dir, &full)?;
                    data[..(w as usize) * 32].to_vec()
                }
            };
            files.push(SnapshotFile {
                path: tile_path(level, n, w),
                data: SnapshotData::Bytes(data),
            });
        }
        level += 1;
    }
    for n in 0..size / TILE_WIDTH {
        files.push(full(dir, entries_path(n, TILE_WIDTH))?);
    }
    let w = size % TILE_WIDTH;
    if w > 0 {
        let n = size / TILE_WIDTH;
        let path = entries_path(n, w);
        let data = match partial(dir, &path)? {
            Some(d) => d,
            None => {
                let full = entries_path(n, TILE_WIDTH);
                let data = read_full(dir, &full)?;
                let entries = parse_bundle(&full, &data, TILE_WIDTH)?;
                encode_bundle(&entries[..w as usize])?
            }
        };
        files.push(SnapshotFile {
            path,
            data: SnapshotData::Bytes(data),
        });
    }
    // The journal: the acknowledged entries after the checkpoint, in order.
    let wal = private_dir(dir).join(WAL_DIR);
    let segs = if wal.is_dir() {
        list_segments(&wal)?
    } else {
        vec![]
    };
    let mut next = size;
    let mut after: Vec<Vec<u8>> = Vec::new();
    for s in &segs {
        let entries = read_segment(&s.path);
        let entries = match entries {
            Ok((e, _)) => e,
            Err(Error::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(format!(
                    "journal segment {} was removed while copying",
                    s.path.display()
                )))
            }
            Err(e) => return Err(e),
        };
        if s.base > next {
            return Ok(Err(format!(
                "the journal starts at entry {} but the checkpoint read has {size}: a newer checkpoint covers it",
                s.base
            )));
        }
        let end = s.base + entries.len() as u64;
        if end > next {
            after.extend(entries.into_iter().skip((next - s.base) as usize));
            next = end;
        }
    }
    let journal_entries = after.len() as u64;
    if !after.is_empty() {
        let mut seg = Vec::new();
        for chunk in after.chunks(FRAME_ENTRIES) {
            seg.extend_from_slice(&encode_frame(chunk));
        }
        files.push(SnapshotFile {
            path: format!("{}/{WAL_DIR}/{size:020}.wal", super::files::PRIVATE_DIR),
            data: SnapshotData::Bytes(seg),
        });
    }
    Ok(Ok(LogSnapshot {
        checkpoint,
        journal_entries,
        files,
    }))
}

fn full(dir: &Path, path: String) -> Result<SnapshotFile, Error> {
    let p = dir.join(&path);
    if !p.is_file() {
        return Err(Error::Invalid(format!(
            "{}: the tile {path} its checkpoint names is missing",
            dir.display()
        )));
    }
    Ok(SnapshotFile {
        path,
        data: SnapshotData::File(p),
    })
}

fn read_full(dir: &Path, path: &str) -> Result<Vec<u8>, Error> {
    let p = dir.join(path);
    fs::read(&p).map_err(|e| Error::io(&p, e))
}

/// A partial tile's bytes, or `None` when the writer has removed it since.
fn partial(dir: &Path, path: &str) -> Result<Option<Vec<u8>>, Error> {
    let p = dir.join(path);
    match fs::read(&p) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{create_log, Log, LogOptions};

    fn copy(snap: &LogSnapshot, to: &Path) {
        for f in &snap.files {
            let p = to.join(&f.path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            match &f.data {
                SnapshotData::File(src) => fs::copy(src, &p).map(|_| ()).unwrap(),
                SnapshotData::Bytes(b) => fs::write(&p, b).unwrap(),
            }
        }
    }

    /// A copy taken while entries are acknowledged but not yet checkpointed (a long
    /// checkpoint interval) holds them in its journal, and opens to the same tree as
    /// the original once that publishes.
    #[test]
    fn a_copy_of_a_log_being_written_opens_to_every_acknowledged_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        create_log(&dir, "example.org/log").unwrap();
        let opts = LogOptions {
            checkpoint_interval: std::time::Duration::from_secs(3600),
            ..LogOptions::default()
        };
        let log = Log::open(&dir, opts.clone()).unwrap();
        let app = log.appender();
        for i in 0..300u32 {
            app.append_blocking(format!("entry {i}").into_bytes())
                .unwrap();
        }
        log.publish_now().unwrap();
        for i in 300..700u32 {
            app.append_blocking(format!("entry {i}").into_bytes())
                .unwrap();
        }
        let snap = snapshot(&dir).unwrap();
        assert_eq!(snap.checkpoint.checkpoint.size, 300);
        assert_eq!(snap.size(), 700);
        let to = tmp.path().join("copy");
        copy(&snap, &to);
        let original = log.close().unwrap();
        let copied = Log::open(&to, opts).unwrap().close().unwrap();
        assert_eq!(copied.checkpoint.size, 700);
        assert_eq!(copied.checkpoint.root, original.checkpoint.root);
    }

    /// A partial tile the writer removed after the checkpoint was read is cut from the
    /// full tile.
    #[test]
    fn a_removed_partial_tile_is_taken_from_the_full_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        create_log(&dir, "example.org/log").unwrap();
        let log = Log::open(&dir, LogOptions::default()).unwrap();
        let app = log.appender();
        for i in 0..100u32 {
            app.append_blocking(format!("entry {i}").into_bytes())
                .unwrap();
        }
        let at100 = log.publish_now().unwrap();
        let cp100 = fs::read(dir.join("checkpoint")).unwrap();
        for i in 100..300u32 {
            app.append_blocking(format!("entry {i}").into_bytes())
                .unwrap();
        }
        log.close().unwrap();
        // As if the checkpoint of 100 had been read just before the writer went on.
        fs::write(dir.join("checkpoint"), &cp100).unwrap();
        fs::remove_dir_all(dir.join(".accord/wal")).unwrap();
        assert!(!dir.join(tile_path(0, 0, 100)).exists());
        let snap = snapshot(&dir).unwrap();
        assert_eq!(snap.size(), 100);
        let to = tmp.path().join("copy");
        copy(&snap, &to);
        let copied = Log::open(&to, LogOptions::default())
            .unwrap()
            .close()
            .unwrap();
        assert_eq!(copied.checkpoint.root, at100.checkpoint.root);
    }
}
