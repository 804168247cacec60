//! The few pieces of the Java runtime whose behaviour leaks into Kafka's results.
//!
//! Kafka's assignors and its group coordinator iterate `java.util.HashMap`s and
//! `HashSet`s and compare `String`s with `compareTo`. Where that order decides an
//! outcome (which member keeps its partitions first, which partition of a set is
//! moved, which protocol wins a tie), we reproduce it here:
//!
//! * [`string_hash`]: `String.hashCode`, over UTF-16 code units.
//! * [`cmp_str`]: `String.compareTo`, also over UTF-16 code units (differs from
//!   Rust's `str` order only when supplementary characters meet U+E000..U+FFFF).
//! * [`JavaHashMap`]: the bucket layout of `java.util.HashMap` (OpenJDK 8 and
//!   later): a power-of-two table, `hash ^ (hash >>> 16)` to pick the bucket,
//!   doubling at 75% load, and a bucket that reaches the treeify threshold in a
//!   table below 64 slots forcing a resize. Iteration walks the buckets in order.
//!
//! Not modelled: a bucket that becomes a red-black tree (8 or more keys in one
//! bucket of a table of 64 or more slots). Its iteration order is then the tree's
//! root first; ours stays insertion order. That needs many colliding keys and
//! does not arise with ordinary member ids or partitions.

use std::cmp::Ordering;

/// `java.lang.String.hashCode()`.
pub(crate) fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `java.lang.String.compareTo`: lexicographic over UTF-16 code units.
pub(crate) fn cmp_str(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `org.apache.kafka.common.TopicPartition.hashCode()`.
pub(crate) fn topic_partition_hash(topic_hash: i32, partition: i32) -> i32 {
    31i32
        .wrapping_add(partition)
        .wrapping_mul(31)
        .wrapping_add(topic_hash)
}

/// `HashMap.hash(key)`: the key's hash with its high half folded into the low.
fn spread(hash: i32) -> u32 {
    // Reinterpreting the bits is the point: Java works on the same 32 bits.
    let h = hash.cast_unsigned();
    h ^ (h >> 16)
}

const DEFAULT_CAPACITY: usize = 16;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// The key layout of a `java.util.HashMap` (or `HashSet`) created with `new
/// HashMap<>()`. Values are not stored: callers keep them elsewhere, keyed by `K`.
#[derive(Debug, Clone)]
pub(crate) struct JavaHashMap<K> {
    /// `table[i]` holds the keys of bucket `i` in their linked-list order, each
    /// with its spread hash.
    table: Vec<Vec<(u32, K)>>,
    size: usize,
    threshold: usize,
}

impl<K: Eq> Default for JavaHashMap<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq> JavaHashMap<K> {
    /// `new HashMap<>()`: no table until the first insertion.
    pub(crate) fn new() -> Self {
        JavaHashMap {
            table: Vec::new(),
            size: 0,
            threshold: 0,
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.size
    }

    /// Whether the map holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    fn index(&self, spread_hash: u32) -> usize {
        // The table length is a power of two; the mask keeps the low bits.
        (spread_hash as usize) & (self.table.len() - 1)
    }

    /// `HashMap.resize()`: allocate the first table or double it. Each new bucket
    /// receives the keys of one old bucket in their old order, as Java's lo/hi
    /// split does.
    fn resize(&mut self) {
        let old_capacity = self.table.len();
        let (capacity, threshold) = if old_capacity == 0 {
            (DEFAULT_CAPACITY, DEFAULT_CAPACITY * 3 / 4)
        } else {
            (old_capacity * 2, self.threshold * 2)
        };
        let old = std::mem::replace(&mut self.table, (0..capacity).map(|_| Vec::new()).collect());
        self.threshold = threshold;
        for (hash, key) in old.into_iter().flatten() {
            let i = self.index(hash);
            if let Some(bucket) = self.table.get_mut(i) {
                bucket.push((hash, key));
            }
        }
    }

    /// `treeifyBin`: below 64 slots Java resizes instead of building a tree.
    fn treeify_bin(&mut self) {
        if self.table.len() < MIN_TREEIFY_CAPACITY {
            self.resize();
        }
    }

    fn bucket_position(&self, hash: u32, key: &K) -> Option<(usize, usize)> {
        if self.table.is_empty() {
            return None;
        }
        let i = self.index(hash);
        let bucket = self.table.get(i)?;
        bucket
            .iter()
            .position(|(h, k)| *h == hash && k == key)
            .map(|j| (i, j))
    }

    /// Whether `key` is present.
    #[cfg(test)]
    pub(crate) fn contains(&self, hash: i32, key: &K) -> bool {
        self.bucket_position(spread(hash), key).is_some()
    }

    /// `HashMap.put`: a new key goes to the tail of its bucket; the table grows
    /// after the insertion when the size passes the threshold. Returns whether
    /// the key was new (an existing key keeps its place).
    pub(crate) fn put(&mut self, hash: i32, key: K) -> bool {
        let hash = spread(hash);
        if self.table.is_empty() {
            self.resize();
        }
        if self.bucket_position(hash, &key).is_some() {
            return false;
        }
        let i = self.index(hash);
        let Some(bucket) = self.table.get_mut(i) else {
            return false;
        };
        bucket.push((hash, key));
        // putVal treeifies once the bucket holds TREEIFY_THRESHOLD + 1 keys.
        let bucket_len = bucket.len();
        if bucket_len > 8 {
            self.treeify_bin();
        }
        self.size += 1;
        if self.size > self.threshold {
            self.resize();
        }
        true
    }

    /// `HashMap.computeIfAbsent`: the table grows *before* the lookup when the
    /// size already passed the threshold (even if the key is present), and a new
    /// key goes to the *head* of its bucket. Returns whether the key was new.
    pub(crate) fn compute_if_absent(&mut self, hash: i32, key: K) -> bool {
        let hash = spread(hash);
        if self.size > self.threshold || self.table.is_empty() {
            self.resize();
        }
        if self.bucket_position(hash, &key).is_some() {
            return false;
        }
        let i = self.index(hash);
        let Some(bucket) = self.table.get_mut(i) else {
            return false;
        };
        let existing = bucket.len();
        bucket.insert(0, (hash, key));
        // computeIfAbsent treeifies once the bucket holds TREEIFY_THRESHOLD keys.
        if existing >= 7 {
            self.treeify_bin();
        }
        self.size += 1;
        true
    }

    /// `HashMap.remove`: unlink the key; the table never shrinks.
    pub(crate) fn remove(&mut self, hash: i32, key: &K) -> bool {
        let Some((i, j)) = self.bucket_position(spread(hash), key) else {
            return false;
        };
        if let Some(bucket) = self.table.get_mut(i) {
            bucket.remove(j);
            self.size -= 1;
            return true;
        }
        false
    }

    /// The keys in Java's iteration order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.table.iter().flatten().map(|(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values printed by `"...".hashCode()` on a JVM.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("consumer1"), -421_004_549);
        assert_eq!(string_hash("hello"), 99_162_322);
        // U+1F600 is the surrogate pair D83D DE00.
        assert_eq!(string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn compare_uses_utf16_order() {
        // U+FF61 is above the surrogates in UTF-16 but below U+10000 in code points.
        assert_eq!(cmp_str("\u{FF61}", "\u{10000}"), Ordering::Greater);
        assert_eq!("\u{FF61}".cmp("\u{10000}"), Ordering::Less);
        assert_eq!(cmp_str("a", "ab"), Ordering::Less);
    }

    #[test]
    fn iteration_follows_buckets_then_insertion() {
        // Kafka's tests rely on this: consumer1..3 hash to buckets 12, 11, 10 of
        // a 16-slot table, so a HashMap iterates them in reverse.
        let mut map = JavaHashMap::new();
        for name in ["consumer1", "consumer2", "consumer3"] {
            map.put(string_hash(name), name);
        }
        let order: Vec<_> = map.keys().copied().collect();
        assert_eq!(order, ["consumer3", "consumer2", "consumer1"]);
    }

    #[test]
    fn grows_past_three_quarters_and_keeps_bucket_order() {
        let mut map = JavaHashMap::new();
        // 0, 16, 32, .. share bucket 0 of 16 slots; 13 keys pass 12 = 16 * 0.75.
        // (The 9th key in one bucket already forced 16 -> 32, as treeifyBin does.)
        for k in 0..13i32 {
            map.put(k * 16, k);
        }
        assert_eq!(map.table.len(), 32);
        let order: Vec<_> = map.keys().copied().collect();
        assert_eq!(order, [0, 2, 4, 6, 8, 10, 12, 1, 3, 5, 7, 9, 11]);
        assert!(map.remove(32, &2));
        assert!(!map.contains(32, &2));
        assert_eq!(map.len(), 12);

        let mut distinct = JavaHashMap::new();
        for k in 0..13i32 {
            distinct.put(k, k);
        }
        assert_eq!(distinct.table.len(), 32);
    }

    #[test]
    fn compute_if_absent_inserts_at_head_and_resizes_late() {
        let mut map = JavaHashMap::new();
        for k in 0..13i32 {
            map.compute_if_absent(k, k);
        }
        // 13 keys after 13 calls: the check ran before each insertion, so no resize.
        assert_eq!(map.table.len(), 16);
        // The next call resizes even though the key exists.
        assert!(!map.compute_if_absent(0, 0));
        assert_eq!(map.table.len(), 32);

        let mut colliding = JavaHashMap::new();
        colliding.compute_if_absent(0, 0);
        colliding.compute_if_absent(16, 1);
        let order: Vec<_> = colliding.keys().copied().collect();
        assert_eq!(order, [1, 0]);
    }

    #[test]
    fn collisions_force_resize_below_64_slots() {
        let mut map = JavaHashMap::new();
        // All in bucket 0 of 16, 32 and 64 slots: the 9th key forces 16 -> 32.
        for k in 0..9i32 {
            map.put(k * 64, k);
        }
        assert_eq!(map.table.len(), 32);
    }
}
