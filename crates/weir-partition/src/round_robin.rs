//! Kafka's `RoundRobinPartitioner`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use crate::Partitioner;

/// Deals records to partitions in turn, per topic, ignoring keys (Kafka's
/// `RoundRobinPartitioner`: `toPositive(counter++) % partitions`).
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, u32>>,
}

impl RoundRobinPartitioner {
    /// A partitioner whose counters all start at 0.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: NonZeroU32,
    ) -> u32 {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counter = match counters.get_mut(topic) {
            Some(c) => c,
            None => counters.entry(topic.to_owned()).or_insert(0),
        };
        let value = *counter;
        *counter = counter.wrapping_add(1);
        (value & 0x7fff_ffff) % partitions.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_per_topic() {
        let p = RoundRobinPartitioner::new();
        let three = NonZeroU32::new(3).unwrap();
        let a: Vec<u32> = (0..7)
            .map(|_| p.partition("a", Some(b"k"), None, three))
            .collect();
        assert_eq!(a, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(p.partition("b", None, None, three), 0);
        assert_eq!(p.partition("a", None, None, three), 1);
    }
}
