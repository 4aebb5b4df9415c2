//! RFC 6962 (RFC 9162) Merkle tree hashing over SHA-256.
//!
//! Leaves are hashed with a `0x00` prefix and interior nodes with `0x01`, so that a leaf
//! can never be confused with an interior node (second-preimage resistance).

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
    let mut range = crate::merkle::CompactRange::new();
    for h in hashes {
        range.push(*h);
    }
    range.root()
}
