//! The cleaner's bounded key → latest offset map (Kafka's `SkimpyOffsetMap`):
//! keys are stored as 128-bit hashes, so memory per key is fixed whatever
//! the key's size, and the map refuses new keys once full, which ends the
//! cleanable range there (the rest is cleaned in a later pass).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_128;

/// The map's keys are already xxh3 hashes: the table uses their bits as they
/// are instead of hashing them again.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are hashed; this is for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}

/// Key hashes → the latest offset seen for them.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    map: HashMap<u128, i64, BuildHasherDefault<PassThrough>>,
    max_entries: usize,
}

impl OffsetMap {
    pub(crate) fn new(max_entries: usize) -> Self {
        OffsetMap {
            map: HashMap::default(),
            max_entries: max_entries.max(1),
        }
    }

    /// Records `offset` as the latest for `key`. `false` (nothing recorded)
    /// when the key is new and the map is full.
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_hash(Self::hash(key), offset)
    }

    /// A key's hash as the map stores it.
    pub(crate) fn hash(key: &[u8]) -> u128 {
        xxh3_128(key)
    }

    /// [`put`](Self::put) of a key already hashed.
    pub(crate) fn put_hash(&mut self, h: u128, offset: i64) -> bool {
        if let Some(o) = self.map.get_mut(&h) {
            *o = (*o).max(offset);
            return true;
        }
        if self.map.len() >= self.max_entries {
            return false;
        }
        self.map.insert(h, offset);
        true
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&xxh3_128(key)).copied()
    }

    /// Keys recorded.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes the map uses, about.
    pub(crate) fn memory_bytes(&self) -> usize {
        // A hashbrown slot: 16 + 8 bytes and one control byte; capacity is
        // a power of two at most 7/8 full.
        self.map.capacity() * 25
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_the_map_bounds_itself() {
        let mut m = OffsetMap::new(2);
        assert!(m.put(b"a", 5));
        assert!(m.put(b"a", 3));
        assert_eq!(m.get(b"a"), Some(5));
        assert!(m.put(b"b", 1));
        assert!(!m.put(b"c", 9), "full");
        assert!(m.put(b"b", 7), "known keys still update");
        assert_eq!((m.get(b"b"), m.get(b"c"), m.len()), (Some(7), None, 2));
    }
}
