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
