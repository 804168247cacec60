//! `AbstractStickyAssignor.PartitionMovements`: which partitions moved between
//! which members during one general assignment, so that a partition moving back
//! returns to the member it came from instead of bouncing a different one.
//!
//! When a partition of topic `t` is to move from `a` to `b` and some partition of
//! `t` already moved from `b` to `a`, Java moves that one back instead, taking the
//! first element of a `HashSet<TopicPartition>`. The sets here reproduce that
//! set's iteration order.

use std::collections::HashMap;

use super::Tp;
use crate::java::{JavaHashMap, topic_partition_hash};

/// A move from `.0` to `.1` (member indices).
type Pair = (usize, usize);

#[derive(Debug, Default)]
pub(super) struct Movements {
    by_topic: HashMap<usize, HashMap<Pair, JavaHashMap<Tp>>>,
    by_partition: HashMap<Tp, Pair>,
}

impl Movements {
    fn hash(topic_hash: &[i32], tp: Tp) -> i32 {
        topic_partition_hash(topic_hash.get(tp.topic).copied().unwrap_or(0), tp.partition)
    }

    fn remove_record(&mut self, topic_hash: &[i32], tp: Tp) -> Option<Pair> {
        let pair = self.by_partition.remove(&tp)?;
        if let Some(moves) = self.by_topic.get_mut(&tp.topic) {
            if let Some(set) = moves.get_mut(&pair) {
                set.remove(Self::hash(topic_hash, tp), &tp);
                if set.is_empty() {
                    moves.remove(&pair);
                }
            }
            if moves.is_empty() {
                self.by_topic.remove(&tp.topic);
            }
        }
        Some(pair)
    }

    fn add_record(&mut self, topic_hash: &[i32], tp: Tp, pair: Pair) {
        self.by_partition.insert(tp, pair);
        self.by_topic
            .entry(tp.topic)
            .or_default()
            .entry(pair)
            .or_default()
            .put(Self::hash(topic_hash, tp), tp);
    }

    /// `movePartition`: records `tp` moving from `old` to `new`, collapsing a
    /// chain of moves into one from the original owner.
    pub(super) fn move_partition(&mut self, topic_hash: &[i32], tp: Tp, old: usize, new: usize) {
        if self.by_partition.contains_key(&tp) {
            if let Some((src, _)) = self.remove_record(topic_hash, tp)
                && src != new
            {
                self.add_record(topic_hash, tp, (src, new));
            }
        } else {
            self.add_record(topic_hash, tp, (old, new));
        }
    }

    /// `getTheActualPartitionToBeMoved`.
    pub(super) fn actual_partition_to_move(&self, tp: Tp, old: usize, new: usize) -> Tp {
        let Some(moves) = self.by_topic.get(&tp.topic) else {
            return tp;
        };
        let old = self.by_partition.get(&tp).map_or(old, |(src, _)| *src);
        moves
            .get(&(new, old))
            .and_then(|set| set.keys().next().copied())
            .unwrap_or(tp)
    }
}
