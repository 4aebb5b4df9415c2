//! A bounded cache for the KAS's repeatable work (verified labels, unwrapped shares),
//! kept in two generations.
//!
//! New entries go into the young generation. When it is full, the young generation
//! becomes the old one, and the old one is dropped (its secrets are zeroized on drop).
//! A hit in the old generation moves the entry back into the young one. So an entry
//! used at least once per generation stays; memory is bounded by the capacity; and
//! there is no moment when the whole cache empties at once. Emptying it all at once had
//! made every open after a full cache cold again, the busiest objects included.

use accord_spif::Label;
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Keys are SHA-256 digests of the work's inputs.
pub(crate) type Key = [u8; 32];

pub(crate) struct Generations<V> {
    young: HashMap<Key, V>,
    old: HashMap<Key, V>,
    /// Entries per generation: at most twice this many are held.
    per_generation: usize,
}

impl<V: Clone> Generations<V> {
    /// A cache holding at most `capacity` entries (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            young: HashMap::new(),
            old: HashMap::new(),
            per_generation: (capacity / 2).max(1),
        }
    }

    pub(crate) fn get(&mut self, key: &Key) -> Option<V> {
        if let Some(v) = self.young.get(key) {
            return Some(v.clone());
        }
        let v = self.old.remove(key)?;
        self.insert(*key, v.clone());
        Some(v)
    }

    pub(crate) fn insert(&mut self, key: Key, value: V) {
        if self.young.len() >= self.per_generation && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    /// Entries held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// Work whose result depends only on its inputs, kept so that an object opened again
/// (by the same or another person) costs no signature verification and no key
/// decapsulation: the decision itself, and its durable log entry, are still made for
/// every request. Bounded, in two generations (see [`crate::cache`]); shares are
/// zeroized when dropped.
pub(crate) struct Caches {
    /// Verified labels by SHA-256 of (trusted signer kids, manifest bytes).
    pub(crate) labels: std::sync::Mutex<Generations<Arc<CachedLabel>>>,
    /// Unwrapped shares by SHA-256 of (KAS kid, key access object, policy).
    pub(crate) shares: std::sync::Mutex<Generations<Zeroizing<Vec<u8>>>>,
    /// Labels rebuilt from an OpenTDF policy's attributes, by SHA-256 of the policy
    /// (base64, as bound to the key); only labels that were valid are kept.
    pub(crate) attribute_labels: std::sync::Mutex<Generations<Arc<AttributeLabel>>>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            labels: std::sync::Mutex::new(Generations::new(MAX_CACHED_LABELS)),
            shares: std::sync::Mutex::new(Generations::new(MAX_CACHED_SHARES)),
            attribute_labels: std::sync::Mutex::new(Generations::new(MAX_CACHED_LABELS)),
        }
    }
}

/// A verified label, its label read under the node's policies, and the marking those
/// policies render for it (made once with the entry, not on every rewrap).
pub(crate) type CachedLabel = (accord_tdf::VerifiedLabel, Label, String);

/// A label rebuilt from a policy's attributes: the policy object, the label, the
/// agreement the attributes name, and the marking the node's policies render.
pub(crate) type AttributeLabel = (
    accord_tdf::manifest::PolicyObject,
    Label,
    Option<String>,
    String,
);

pub(crate) const MAX_CACHED_LABELS: usize = 4096;

pub(crate) const MAX_CACHED_SHARES: usize = 65536;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Key {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    }

    #[test]
    fn bounded_and_a_used_entry_stays() {
        let mut c = Generations::new(100);
        c.insert(key(0), 0u32);
        for i in 1..10_000 {
            c.insert(key(i), i);
            assert!(c.len() <= 100, "{} entries held", c.len());
            // The hot entry is used once every 10 inserts: well within a generation.
            if i % 10 == 0 {
                assert_eq!(c.get(&key(0)), Some(0), "the hot entry was dropped at {i}");
            }
        }
        // A cold entry from long ago is gone; a recent one is there.
        assert_eq!(c.get(&key(5)), None);
        assert_eq!(c.get(&key(9_999)), Some(9_999));
    }

    #[test]
    fn an_old_hit_moves_back_to_the_young_generation() {
        let mut c = Generations::new(4);
        c.insert(key(1), 1u32);
        c.insert(key(2), 2);
        // Young is full: 1 and 2 become old; 3 starts the new young generation.
        c.insert(key(3), 3);
        assert_eq!(c.get(&key(1)), Some(1));
        // 1 moved back: the next turnover keeps 1 and 3, and drops 2.
        c.insert(key(4), 4);
        assert_eq!(c.get(&key(2)), None);
        assert_eq!(c.get(&key(1)), Some(1));
        assert_eq!(c.get(&key(3)), Some(3));
        assert!(c.len() <= 4);
    }

    #[test]
    fn replacing_an_entry_does_not_turn_the_generation_over() {
        let mut c = Generations::new(4);
        c.insert(key(1), 1u32);
        c.insert(key(2), 2);
        c.insert(key(2), 20);
        assert_eq!(c.get(&key(1)), Some(1));
        assert_eq!(c.get(&key(2)), Some(20));
    }
}
