//! Full verification of a published log: fetch every entry bundle and tile, recompute
//! the tree, check the checkpoint signature and the named cosignatures, and check
//! consistency with a previously verified checkpoint (kept in a state file).

use std::path::Path;

use crate::checkpoint::SignedCheckpoint;
use crate::hash::{leaf_hash, root_of, Hash};
use crate::merkle::CompactRange;
use crate::note::{VerifiedSignature, VerifierKey};
use crate::source::{fetch_tile, LogSource};
use crate::tile::{entries_path, parse_bundle, tile_path, tile_width, TILE_WIDTH};
use crate::Error;

/// What happened to the `--state` checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOutcome {
    /// No state file was given.
    NotUsed,
    /// The state file did not exist and now holds this checkpoint.
    Created,
    /// The state held a checkpoint of `from` entries, consistent with this one.
    Consistent {
        /// Size of the previously verified checkpoint.
        from: u64,
    },
}

/// The result of a successful verification.
#[derive(Debug, Clone)]
pub struct Report {
    /// The checkpoint verified.
    pub checkpoint: SignedCheckpoint,
    /// The verified log and witness signatures.
    pub signatures: Vec<VerifiedSignature>,
    /// Entries hashed.
    pub entries: u64,
    /// Tiles and bundles fetched.
    pub tiles: u64,
    /// The state file outcome.
    pub state: StateOutcome,
}

/// Fetch and parse the checkpoint of a log.
pub fn fetch_checkpoint(src: &dyn LogSource) -> Result<SignedCheckpoint, Error> {
    let data = src.fetch("checkpoint")?;
    SignedCheckpoint::parse(&data)
}

struct Levels<'a> {
    src: &'a dyn LogSource,
    size: u64,
    pending: Vec<Vec<Hash>>,
    done: Vec<u64>,
    tiles: u64,
}

impl Levels<'_> {
    fn check(&mut self, level: u32, n: u64, computed: &[Hash]) -> Result<(), Error> {
        let w = computed.len() as u64;
        let got = fetch_tile(self.src, level, n, w)?;
        self.tiles += 1;
        if let Some(j) = (0..computed.len()).find(|&j| got[j] != computed[j]) {
            let what = if level == 0 {
                format!("entry {}", n * TILE_WIDTH + j as u64)
            } else {
                format!("hash {j} (the subtree of tiles below it)")
            };
            return Err(Error::Verify(format!(
                "{what} does not match tile {}",
                tile_path(level, n, w)
            )));
        }
        Ok(())
    }

    fn push(&mut self, level: usize, h: Hash) -> Result<(), Error> {
        if self.pending.len() <= level {
            self.pending.push(vec![]);
            self.done.push(0);
        }
        self.pending[level].push(h);
        if self.pending[level].len() as u64 == TILE_WIDTH {
            let tile = std::mem::take(&mut self.pending[level]);
            let n = self.done[level];
            self.check(level as u32, n, &tile)?;
            self.done[level] += 1;
            self.push(level + 1, root_of(&tile))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        for level in 1..self.pending.len() {
            if !self.pending[level].is_empty() {
                let tile = std::mem::take(&mut self.pending[level]);
                let n = self.done[level];
                debug_assert_eq!(tile_width(level as u32, n, self.size), tile.len() as u64);
                self.check(level as u32, n, &tile)?;
            }
        }
        Ok(())
    }
}

/// Verify the whole log published by `src`. `progress` is called with (entries done,
/// total) after each bundle.
pub fn verify_log(
    src: &dyn LogSource,
    log_key: &VerifierKey,
    witnesses: &[VerifierKey],
    state_file: Option<&Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, Error> {
    let signed = fetch_checkpoint(src)?;
    let signatures = signed.verify(log_key, witnesses)?;
    let cp = &signed.checkpoint;
    let previous = match state_file {
        Some(p) if p.exists() => {
            let data = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            let old = SignedCheckpoint::parse(&data)
                .map_err(|e| Error::Invalid(format!("state file {}: {e}", p.display())))?;
            old.verify(log_key, &[])
                .map_err(|e| Error::Invalid(format!("state file {}: {e}", p.display())))?;
            if old.checkpoint.size > cp.size {
                return Err(Error::Verify(format!(
                    "the log went backwards: size {} now, {} already verified",
                    cp.size, old.checkpoint.size
                )));
            }
            Some(old.checkpoint)
        }
        _ => None,
    };
    let size = cp.size;
    let mut range = CompactRange::new();
    let mut levels = Levels {
        src,
        size,
        pending: vec![],
        done: vec![],
        tiles: 0,
    };
    let mut old_root = previous
        .as_ref()
        .filter(|o| o.size == 0)
        .map(|_| crate::hash::empty_root());
    let bundles = size.div_ceil(TILE_WIDTH);
    for n in 0..bundles {
        let w = tile_width(0, n, size);
        let path = entries_path(n, w);
        let data = src.fetch(&path).map_err(|e| match e {
            Error::NotFound(_) => Error::Tile {
                path: path.clone(),
                msg: "missing".into(),
            },
            e => e,
        })?;
        levels.tiles += 1;
        let entries = parse_bundle(&path, &data, w)?;
        let mut leaves = Vec::with_capacity(entries.len());
        for e in entries {
            let h = leaf_hash(e);
            range.push(h);
            leaves.push(h);
            if let Some(o) = &previous {
                if range.size() == o.size {
                    old_root = Some(range.root());
                }
            }
        }
        if w == TILE_WIDTH {
            for h in leaves {
                levels.push(0, h)?;
            }
        } else {
            levels.check(0, n, &leaves)?;
        }
        progress(range.size(), size);
    }
    levels.finish()?;
    let root = range.root();
    if root != cp.root {
        return Err(Error::Verify(format!(
            "the root computed from {size} entries does not match the checkpoint's root"
        )));
    }
    let state = match (state_file, previous) {
        (None, _) => StateOutcome::NotUsed,
        (Some(p), prev) => {
            let outcome = match prev {
                None => StateOutcome::Created,
                Some(o) => {
                    if old_root != Some(o.root) {
                        return Err(Error::Verify(format!(
                            "the log was rewritten or forked: its tree at size {} does not have the root verified before",
                            o.size
                        )));
                    }
                    StateOutcome::Consistent { from: o.size }
                }
            };
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, signed.note.to_bytes()).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, p).map_err(|e| Error::io(p, e))?;
            outcome
        }
    };
    Ok(Report {
        entries: size,
        tiles: levels.tiles,
        checkpoint: signed,
        signatures,
        state,
    })
}
