//! The write-ahead journal: segments of frames under `.accord/wal/`, one frame per
//! batch of acknowledged entries, each ending in a check of its bytes. Apart because it
//! is the on-disk format that restart replays: the sequencer writes frames, opening a
//! log reads them back.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::files::fsync_dir;
use crate::hash::sha256;
use crate::tile::parse_bundle;
use crate::Error;

pub(super) const WAL_DIR: &str = "wal";
pub(super) const FRAME_MAGIC: &[u8; 4] = b"AWF1";

pub(super) struct WalSegment {
    pub(super) base: u64,
    pub(super) path: PathBuf,
}

pub(super) fn list_segments(wal: &Path) -> Result<Vec<WalSegment>, Error> {
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
pub(super) fn read_segment(path: &Path) -> Result<(Vec<Vec<u8>>, u64), Error> {
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

/// One journal frame holding `entries` (each at most [`crate::tile::MAX_ENTRY_SIZE`]
/// bytes): magic, count, length, the entries (a 2-byte length each), and the first 8
/// bytes of the SHA-256 of all that.
pub(super) fn encode_frame<E: AsRef<[u8]>>(entries: &[E]) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.extend_from_slice(FRAME_MAGIC);
    buf.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    buf.extend_from_slice(&[0; 4]);
    for e in entries {
        let e = e.as_ref();
        buf.extend_from_slice(&(e.len() as u16).to_be_bytes());
        buf.extend_from_slice(e);
    }
    let len = (buf.len() - 12) as u32;
    buf[8..12].copy_from_slice(&len.to_be_bytes());
    let check = sha256(&buf);
    buf.extend_from_slice(&check[..8]);
    buf
}

pub(super) fn new_segment(wal: &Path, base: u64) -> Result<(File, PathBuf), Error> {
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
