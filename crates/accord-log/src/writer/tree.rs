//! The published tree in memory: the right edge of every tile level, the partial entry
//! bundle, and the full tiles not yet on disk; and the durable writing of those tiles.
//! Apart because it is the C2SP tile layout of the log, which the publisher drives but
//! does not need to know.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::files::fsync_dir;
use crate::hash::{leaf_hash, root_of, Hash};
use crate::merkle::CompactRange;
use crate::tile::{encode_bundle, entries_path, parse_bundle, parse_tile, tile_path, TILE_WIDTH};
use crate::Error;

/// In-memory state of the published tree: the right edge of every tile level.
pub(super) struct TreeState {
    pub(super) size: u64,
    pub(super) range: CompactRange,
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
    pub(super) fn empty() -> Self {
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
    pub(super) fn load(dir: &Path, size: u64) -> Result<Self, Error> {
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

    pub(super) fn add(&mut self, entry: Vec<u8>) -> Result<(), Error> {
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

    pub(super) fn add_hash(&mut self, level: usize, h: Hash) {
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
    pub(super) fn write_tiles(&mut self, dir: &Path) -> Result<(), Error> {
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

    pub(super) fn remove_obsolete(&mut self, dir: &Path) {
        for p in self.obsolete.drain(..) {
            // Best effort: partial tiles may be removed once the full tile exists.
            let _ = fs::remove_dir_all(dir.join(p));
        }
    }
}

/// Run `f` over `items` on up to 16 threads; the first error wins.
pub(super) fn parallel<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> Result<(), Error> + Sync,
) -> Result<(), Error> {
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
