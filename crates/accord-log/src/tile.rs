//! Tiles and entry bundles (c2sp.org/tlog-tiles): paths and encodings.

use crate::hash::{Hash, HASH_SIZE};
use crate::Error;

/// Hashes in a full tile (and entries in a full bundle).
pub const TILE_WIDTH: u64 = 256;
/// Height of a tile in tree levels (256 = 2^8).
pub const TILE_HEIGHT: u32 = 8;
/// Largest entry a bundle can carry (uint16 length prefix).
pub const MAX_ENTRY_SIZE: usize = 65535;

/// The `N` path component: zero-padded 3-digit elements, all but the last prefixed `x`.
pub fn encode_index(n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        parts.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

fn suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

/// Path of a Merkle tree tile: `tile/<L>/<N>[.p/<W>]`. `width` is 1..=256.
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", encode_index(index), suffix(width))
}

/// Path of an entry bundle: `tile/entries/<N>[.p/<W>]`.
pub fn entries_path(index: u64, width: u64) -> String {
    format!("tile/entries/{}{}", encode_index(index), suffix(width))
}

/// The width of tile `index` at `level` in a tree of `size` leaves (0 if it does not exist).
pub fn tile_width(level: u32, index: u64, size: u64) -> u64 {
    let shift = TILE_HEIGHT * level;
    let at_level = if shift >= 64 { 0 } else { size >> shift };
    let full = at_level / TILE_WIDTH;
    if index < full {
        TILE_WIDTH
    } else if index == full {
        at_level % TILE_WIDTH
    } else {
        0
    }
}

/// Parse a hash tile of the expected width.
pub fn parse_tile(path: &str, data: &[u8], width: u64) -> Result<Vec<Hash>, Error> {
    if data.len() as u64 != width * HASH_SIZE as u64 {
        return Err(Error::Tile {
            path: path.into(),
            msg: format!(
                "{} bytes, want {} ({} hashes)",
                data.len(),
                width * 32,
                width
            ),
        });
    }
    Ok(data
        .chunks_exact(HASH_SIZE)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect())
}

/// Encode a bundle: each entry as big-endian uint16 length then bytes.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for e in entries {
        let e = e.as_ref();
        if e.len() > MAX_ENTRY_SIZE {
            return Err(Error::EntryTooLarge(e.len()));
        }
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Parse an entry bundle holding exactly `width` entries.
pub fn parse_bundle<'a>(path: &str, data: &'a [u8], width: u64) -> Result<Vec<&'a [u8]>, Error> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if out.len() as u64 == width {
            return Err(Error::Tile {
                path: path.into(),
                msg: format!("{} trailing bytes after {width} entries", rest.len()),
            });
        }
        if rest.len() < 2 {
            return Err(Error::Tile {
                path: path.into(),
                msg: format!("entry {} has a truncated length", out.len()),
            });
        }
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + n {
            return Err(Error::Tile {
                path: path.into(),
                msg: format!("entry {} of {n} bytes is truncated", out.len()),
            });
        }
        out.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    if out.len() as u64 != width {
        return Err(Error::Tile {
            path: path.into(),
            msg: format!("{} entries, want {width}", out.len()),
        });
    }
    Ok(out)
}

/// One resource a log serves, read from its path exactly as C2SP spells it.
///
/// A server answers only the canonical spelling of each resource, and decides who may
/// read it on this value, not on the path: two spellings of one resource (a
/// percent-encoded byte, a doubled slash, a `.` segment, leading zeros) would otherwise
/// let one of them past a check written for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `checkpoint`.
    Checkpoint,
    /// `tile/<L>/<N>[.p/<W>]`: hashes only.
    HashTile {
        /// The level.
        level: u32,
        /// The tile index.
        index: u64,
        /// The width (256 for a full tile).
        width: u64,
    },
    /// `tile/entries/<N>[.p/<W>]`: the entries themselves.
    EntryBundle {
        /// The bundle index.
        index: u64,
        /// The width (256 for a full bundle).
        width: u64,
    },
}

/// Tile levels a log of at most 2^64 entries can have (8 levels of the tree a tile).
pub const MAX_LEVEL: u32 = 63;

impl Resource {
    /// Parse `path` (relative to the log's prefix, with or without one leading `/`, not
    /// percent-decoded): the canonical form or an error naming what is wrong. Every
    /// accepted path is exactly [`Resource::path`] of its value.
    pub fn parse(path: &str) -> Result<Resource, Error> {
        let bad = |why: &str| {
            let shown: String = path.chars().take(80).collect();
            Error::Invalid(format!("{shown:?} is not a log resource: {why}"))
        };
        let p = path.strip_prefix('/').unwrap_or(path);
        if p.len() > 128 {
            return Err(bad("longer than any tile path"));
        }
        if p == "checkpoint" {
            return Ok(Resource::Checkpoint);
        }
        let rest = p
            .strip_prefix("tile/")
            .ok_or_else(|| bad("not `checkpoint` or under `tile/`"))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| bad("no tile index"))?;
        let (n, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let width = canonical_number(w)
                    .filter(|w| (1..TILE_WIDTH).contains(w))
                    .ok_or_else(|| bad("a partial width is 1 to 255, in canonical decimal"))?;
                (n, width)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = decode_index(n).ok_or_else(|| {
            bad("a tile index is groups of three digits, all but the last prefixed `x`, with no leading zero group")
        })?;
        let r = if kind == "entries" {
            Resource::EntryBundle { index, width }
        } else {
            let level = canonical_number(kind)
                .filter(|l| *l <= MAX_LEVEL as u64)
                .ok_or_else(|| bad("a tile level is `entries` or 0 to 63 in canonical decimal"))?;
            Resource::HashTile {
                level: level as u32,
                index,
                width,
            }
        };
        debug_assert_eq!(r.path(), p);
        Ok(r)
    }

    /// The canonical path (no leading `/`).
    pub fn path(&self) -> String {
        match *self {
            Resource::Checkpoint => "checkpoint".into(),
            Resource::HashTile {
                level,
                index,
                width,
            } => tile_path(level, index, width),
            Resource::EntryBundle { index, width } => entries_path(index, width),
        }
    }

    /// Whether anyone may read it: the checkpoint and hash tiles show only hashes
    /// (witnesses and auditors need them to check that the log only grows); entry
    /// bundles show what was decided, about whom.
    pub fn is_public(&self) -> bool {
        !matches!(self, Resource::EntryBundle { .. })
    }
}

/// A decimal number with no sign and no leading zero (`0` itself is fine).
fn canonical_number(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) || s.len() > 19 {
        return None;
    }
    s.parse().ok()
}

/// The inverse of [`encode_index`], for its canonical output only.
fn decode_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let (last, head) = groups.split_last()?;
    if head.len() > 6 {
        return None;
    }
    fn three(g: &str) -> Option<&str> {
        (g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit())).then_some(g)
    }
    let mut n: u64 = 0;
    for (i, g) in head.iter().enumerate() {
        let d = three(g.strip_prefix('x')?)?;
        if i == 0 && d == "000" {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(d.parse::<u64>().ok()?)?;
    }
    n = n
        .checked_mul(1000)?
        .checked_add(three(last)?.parse::<u64>().ok()?)?;
    (encode_index(n) == s).then_some(n)
}

#[cfg(test)]
mod resource_tests {
    use super::*;

    #[test]
    fn canonical_paths_parse_and_round_trip() {
        for (p, public) in [
            ("checkpoint", true),
            ("tile/0/000", true),
            ("tile/0/000.p/4", true),
            ("tile/entries/000.p/4", false),
            ("tile/entries/x001/234", false),
            ("tile/3/x123/x456/789.p/255", true),
            ("/tile/entries/000", false),
        ] {
            let r = Resource::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(r.path(), p.trim_start_matches('/'));
            assert_eq!(r.is_public(), public, "{p}");
        }
        for i in [0u64, 1, 999, 1000, 1_234_567, u64::MAX / 256] {
            let p = entries_path(i, 7);
            assert_eq!(
                Resource::parse(&p).unwrap(),
                Resource::EntryBundle { index: i, width: 7 }
            );
        }
    }

    #[test]
    fn every_other_spelling_is_refused() {
        for p in [
            "tile/%65ntries/000.p/4",
            "tile/entries%2F000.p/4",
            "tile/entries/000%2Ep/4",
            "tile//entries/000",
            "tile/./entries/000",
            "tile/entries/./000",
            "tile/entries/../0/000",
            "tile/Entries/000",
            "tile/entries/000.p/04",
            "tile/entries/000.p/0",
            "tile/entries/000.p/256",
            "tile/entries/x000/001",
            "tile/entries/1",
            "tile/entries/0000",
            "tile/00/000",
            "tile/+1/000",
            "tile/64/000",
            "tile/entries/000/",
            "tile/entries/000.p/4/",
            "checkpoint/",
            "Checkpoint",
            "tile/0/x1000/000",
            "",
            "/",
        ] {
            assert!(Resource::parse(p).is_err(), "{p:?} was accepted");
        }
    }
}
