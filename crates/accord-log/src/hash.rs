//! RFC 6962 (RFC 9162) Merkle tree hashing over SHA-256.
//!
//! Leaves are hashed with a `0x00` prefix and interior nodes with `0x01`, so that a leaf
//! can never be confused with an interior node (second-preimage resistance).
//!
//! The compact range (the right edge of a tree being built leaf by leaf) lives here
//! too: [`root_of`] is computed with it, and it needs nothing but the node hash, so the
//! inclusion and consistency proofs (the `merkle` module) build on this module, not the
//! other way round.

use aws_lc_rs::digest;

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// Size in bytes of every hash in the tree.
pub const HASH_SIZE: usize = 32;

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The leaf hash of an entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0]);
    ctx.update(entry);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    sha256(&buf)
}

/// The Merkle tree hash (MTH) of a sequence of already-hashed leaves, as RFC 6962
/// section 2.1 defines it (the largest power of two strictly smaller than n splits).
pub fn root_of(hashes: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for h in hashes {
        range.push(*h);
    }
    range.root()
}

/// The right edge of a tree being built leaf by leaf: the roots of the perfect
/// subtrees that make up `[0, size)`, largest first. Enough to compute the root at any
/// time with `O(log n)` memory.
#[derive(Debug, Clone, Default)]
pub struct CompactRange {
    size: u64,
    /// (height, hash), heights strictly decreasing.
    nodes: Vec<(u32, Hash)>,
}

impl CompactRange {
    /// An empty range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_subtree(0, leaf);
    }

    /// Append a perfect subtree of `height` whose first leaf is at the current size;
    /// the current size must be a multiple of `2^height`.
    pub fn push_subtree(&mut self, height: u32, hash: Hash) {
        debug_assert!(self.size.is_multiple_of(1u64 << height));
        let mut h = height;
        let mut cur = hash;
        while let Some(&(lh, lhash)) = self.nodes.last() {
            if lh != h {
                break;
            }
            self.nodes.pop();
            cur = node_hash(&lhash, &cur);
            h += 1;
        }
        self.nodes.push((h, cur));
        self.size += 1u64 << height;
    }

    /// The RFC 6962 root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, h) in iter {
            acc = node_hash(h, &acc);
        }
        acc
    }
}
