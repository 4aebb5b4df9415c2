//! Merkle tree proofs: inclusion and consistency (RFC 6962 section 2.1.1 and 2.1.2, and
//! the subtree variants of draft-ietf-plants-merkle-tree-certs), generation and
//! verification.
//!
//! Verification follows the shape of the transparency-dev/merkle verifier: a proof is
//! decomposed into an "inner" part (siblings below the point where the paths to the
//! leaf and to the last leaf diverge) and a "border" part (left siblings only), so that
//! a proof of the wrong length, for the wrong index or for the wrong size is refused
//! before any hashing happens.

use crate::hash::{empty_root, node_hash, Hash, HASH_SIZE};
use crate::Error;

/// The compact range is defined with the tree hash in [`crate::hash`]; it is also
/// reachable here, where it has always been.
pub use crate::hash::CompactRange;

/// A source of perfect-subtree hashes: the hash of the node at `height` (0 = leaves)
/// and `index` (counted from the left at that height). Proof generation reads nodes
/// through this trait, so that proofs can be built from tiles on disk, over HTTP or
/// from memory.
pub trait NodeSource {
    /// Hash of the complete subtree covering leaves `[index << height, (index + 1) << height)`.
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, Error>;
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The Merkle tree hash of leaves `[start, end)`, built from perfect nodes.
pub fn subtree_hash(src: &mut dyn NodeSource, start: u64, end: u64) -> Result<Hash, Error> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let h = n.trailing_zeros();
        return src.node(h, start >> h);
    }
    let k = split_point(n);
    let left = subtree_hash(src, start, start + k)?;
    let right = subtree_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 PATH).
pub fn inclusion_proof(
    src: &mut dyn NodeSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, Error> {
    if index >= size {
        return Err(Error::Proof(format!(
            "index {index} is not below tree size {size}"
        )));
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path(
    src: &mut dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `size1` leaves to the tree of `size2`
/// (RFC 6962 PROOF). Empty when `size1` is 0 or equals `size2`.
pub fn consistency_proof(
    src: &mut dyn NodeSource,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, Error> {
    if size1 > size2 {
        return Err(Error::Proof(format!(
            "old size {size1} is larger than new size {size2}"
        )));
    }
    let mut out = Vec::new();
    if size1 == 0 || size1 == size2 {
        return Ok(out);
    }
    subproof(src, size1, 0, size2, true, &mut out)?;
    Ok(out)
}

fn subproof(
    src: &mut dyn NodeSource,
    m: u64,
    start: u64,
    end: u64,
    b: bool,
    out: &mut Vec<Hash>,
) -> Result<(), Error> {
    let n = end - start;
    if m == n {
        if !b {
            out.push(subtree_hash(src, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, start + k, b, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

fn bits_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

fn mismatch(what: &str) -> Error {
    Error::Proof(format!(
        "{what}: calculated root does not match the expected root"
    ))
}

fn check_hash_len(name: &str, h: &[u8]) -> Result<Hash, Error> {
    h.try_into()
        .map_err(|_| Error::Proof(format!("{name} is {} bytes, want {HASH_SIZE}", h.len())))
}

fn to_hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, Error> {
    proof
        .iter()
        .enumerate()
        .map(|(i, h)| check_hash_len(&format!("proof hash {i}"), h))
        .collect()
}

/// `x >> n` that gives 0 for shifts of 64 or more (as Go does) instead of overflowing.
fn shr(x: u64, n: usize) -> u64 {
    x.checked_shr(n as u32).unwrap_or(0)
}

fn decomp_incl_proof(index: u64, size: u64) -> (usize, usize) {
    let inner = bits_len(index ^ (size - 1)) as usize;
    let border = shr(index, inner).count_ones() as usize;
    (inner, border)
}

fn chain_inner(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        seed = if shr(index, i) & 1 == 0 {
            node_hash(&seed, h)
        } else {
            node_hash(h, &seed)
        };
    }
    seed
}

fn chain_inner_right(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if shr(index, i) & 1 == 1 {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

fn chain_border_right(mut seed: Hash, proof: &[Hash]) -> Hash {
    for h in proof {
        seed = node_hash(h, &seed);
    }
    seed
}

/// The root implied by an inclusion proof for `leaf` at `index` in a tree of `size`.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
) -> Result<Hash, Error> {
    if index >= size {
        return Err(Error::Proof(format!(
            "index {index} is not below tree size {size}"
        )));
    }
    let leaf = check_hash_len("leaf hash", leaf)?;
    let (inner, border) = decomp_incl_proof(index, size);
    if proof.len() != inner + border {
        return Err(Error::Proof(format!(
            "inclusion proof has {} hashes, want {} for index {index} in size {size}",
            proof.len(),
            inner + border
        )));
    }
    let proof = to_hashes(proof)?;
    let res = chain_inner(leaf, &proof[..inner], index);
    Ok(chain_border_right(res, &proof[inner..]))
}

/// Verify an inclusion proof of `leaf` (a leaf hash) at `index` in the tree of `size`
/// with root `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), Error> {
    let calc = root_from_inclusion_proof(index, size, leaf, proof)?;
    if calc[..] != *root {
        return Err(mismatch("inclusion proof"));
    }
    Ok(())
}

fn bit_ceil(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        1u64 << bits_len(n - 1)
    }
}

/// Whether `[start, end)` is a valid subtree: start is a multiple of the smallest power
/// of two at least `end - start`.
pub fn check_subtree(start: u64, end: u64) -> Result<(), Error> {
    if start > end {
        return Err(Error::Proof(format!(
            "subtree start {start} is larger than end {end}"
        )));
    }
    if start == 0 || start == end {
        return Ok(());
    }
    let l = end - start;
    if l > 1u64 << 63 {
        return Err(Error::Proof(format!(
            "subtree [{start}, {end}) is too large to start at {start}"
        )));
    }
    let bc = bit_ceil(l);
    if start & (bc - 1) != 0 {
        return Err(Error::Proof(format!(
            "subtree start {start} is not a multiple of {bc} (the power of two covering {l} leaves)"
        )));
    }
    Ok(())
}

/// Verify a subtree inclusion proof: `leaf` at `index` within subtree `[start, end)`
/// whose hash is `root`.
pub fn verify_subtree_inclusion(
    index: u64,
    start: u64,
    end: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), Error> {
    check_subtree(start, end)?;
    if index < start || index >= end {
        return Err(Error::Proof(format!(
            "index {index} is outside subtree [{start}, {end})"
        )));
    }
    let calc = root_from_inclusion_proof(index - start, end - start, leaf, proof)?;
    if calc[..] != *root {
        return Err(mismatch("subtree inclusion proof"));
    }
    Ok(())
}

/// Verify a consistency proof between the tree of `size1` with `root1` and the tree of
/// `size2` with `root2`. Requires `0 < size1 <= size2`.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Vec<u8>],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), Error> {
    let calc = root_from_consistency_proof(size1, size2, proof, root1)?;
    if calc[..] != *root2 {
        return Err(mismatch("consistency proof"));
    }
    Ok(())
}

/// The root of the tree of `size2` implied by a consistency proof from `root1` at `size1`.
pub fn root_from_consistency_proof(
    size1: u64,
    size2: u64,
    proof: &[Vec<u8>],
    root1: &[u8],
) -> Result<Vec<u8>, Error> {
    if size2 < size1 {
        return Err(Error::Proof(format!(
            "new size {size2} is smaller than old size {size1}"
        )));
    }
    if size1 == 0 {
        return Err(Error::Proof(
            "a consistency proof from the empty tree is meaningless".into(),
        ));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(Error::Proof(
                "sizes are equal but the proof is not empty".into(),
            ));
        }
        return Ok(root1.to_vec());
    }
    if proof.is_empty() {
        return Err(Error::Proof("empty consistency proof".into()));
    }
    let root1 = check_hash_len("old root", root1)?;
    Ok(root_from_subtree_consistency_inner(0, size1, size2, &to_hashes(proof)?, &root1)?.to_vec())
}

/// Verify a subtree consistency proof: subtree `[start, end)` with hash `sub_root` is
/// contained in the tree of `size` with root `root`.
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    size: u64,
    proof: &[Vec<u8>],
    sub_root: &[u8],
    root: &[u8],
) -> Result<(), Error> {
    if start == end {
        if end > size {
            return Err(Error::Proof(format!(
                "size {size} is smaller than subtree end {end}"
            )));
        }
        if !proof.is_empty() {
            return Err(Error::Proof(
                "empty subtree but the proof is not empty".into(),
            ));
        }
        if *sub_root != empty_root() {
            return Err(Error::Proof(
                "empty subtree but its hash is not the empty root".into(),
            ));
        }
        return Ok(());
    }
    check_subtree(start, end)?;
    if size < end {
        return Err(Error::Proof(format!(
            "size {size} is smaller than subtree end {end}"
        )));
    }
    let calc: Vec<u8> = if start == 0 && size == end {
        if !proof.is_empty() {
            return Err(Error::Proof(
                "subtree is the whole tree but the proof is not empty".into(),
            ));
        }
        sub_root.to_vec()
    } else {
        if proof.is_empty() {
            return Err(Error::Proof("empty consistency proof".into()));
        }
        let sub = check_hash_len("subtree hash", sub_root)?;
        root_from_subtree_consistency_inner(start, end, size, &to_hashes(proof)?, &sub)?.to_vec()
    };
    if calc[..] != *root {
        return Err(mismatch("subtree consistency proof"));
    }
    Ok(())
}

fn root_from_subtree_consistency_inner(
    start: u64,
    end: u64,
    size: u64,
    proof: &[Hash],
    sub_root: &Hash,
) -> Result<Hash, Error> {
    let wrong_len = |got: usize, want: usize| {
        Error::Proof(format!("consistency proof has {got} hashes, want {want}"))
    };
    if end == size {
        let level = bits_len((end - 1) ^ start);
        let index = shr(start, level as usize);
        let want = index.count_ones() as usize;
        if proof.len() != want {
            return Err(wrong_len(proof.len(), want));
        }
        return Ok(chain_border_right(*sub_root, proof));
    }
    let (fork_level, border) = decomp_incl_proof(end - 1, size);
    let shift = (end - start).trailing_zeros() as usize;
    let inner = fork_level - shift;
    let (seed, p_start) = if end - start == 1u64 << shift {
        (*sub_root, 0)
    } else {
        (proof[0], 1)
    };
    if proof.len() != p_start + inner + border {
        return Err(wrong_len(proof.len(), p_start + inner + border));
    }
    let proof = &proof[p_start..];
    let mask = shr(end - 1, shift);
    if p_start == 1 {
        let h = bits_len((end - 1) ^ start) as usize;
        let fork = bits_len((end - 1) ^ (size - 1)) as usize;
        let sub_inner = h.min(fork) - shift;
        let sub_border = border.saturating_sub(shr(end - 1, h).count_ones() as usize);
        let hash1 = chain_inner_right(seed, &proof[..sub_inner], mask);
        let hash1 = chain_border_right(hash1, &proof[inner..inner + sub_border]);
        if hash1 != *sub_root {
            return Err(mismatch("consistency proof (old root)"));
        }
    }
    let hash2 = chain_inner(seed, &proof[..inner], mask);
    Ok(chain_border_right(hash2, &proof[inner..]))
}

/// An in-memory tree of leaf hashes: a [`NodeSource`] for tests, small logs and tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    leaves: Vec<Hash>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }
    /// Append a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.leaves.push(leaf);
    }
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }
    /// Root at `size` leaves.
    pub fn root_at(&self, size: u64) -> Hash {
        crate::hash::root_of(&self.leaves[..size as usize])
    }
}

impl NodeSource for MemoryTree {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, Error> {
        let start = (index << height) as usize;
        let end = start + (1usize << height);
        if end > self.leaves.len() {
            return Err(Error::Proof(format!(
                "node {height}/{index} is beyond the tree"
            )));
        }
        Ok(crate::hash::root_of(&self.leaves[start..end]))
    }
}
