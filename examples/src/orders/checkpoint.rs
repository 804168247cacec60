//! The enricher's positions in `orders`, kept in a compacted topic.
//!
//! One record per source partition, keyed `<topic>-<partition>`, whose value
//! is the next offset to process. Compaction keeps only the latest record per
//! key, so the topic stays small however long the pipeline runs; reading it to
//! its end, last value per key wins, gives the positions to resume from. Kafka
//! Connect keeps source connectors' offsets the same way (its compacted
//! `connect-offsets` topic).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use weir::{ProducerRecord, Weir};

use crate::orders::Error;

/// A checkpoint record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    topic: String,
    partition: i32,
    next_offset: i64,
    written_at: i64,
}

/// The key of `source_topic`'s partition `partition` in the checkpoint topic.
pub fn checkpoint_key(source_topic: &str, partition: i32) -> String {
    format!("{source_topic}-{partition}")
}

/// The record saying that `source_topic`'s partition `partition` is processed
/// up to (not including) `next_offset`.
pub fn checkpoint_record(
    checkpoint_topic: &str,
    source_topic: &str,
    partition: i32,
    next_offset: i64,
) -> Result<ProducerRecord, Error> {
    let written_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let value = serde_json::to_vec(&Checkpoint {
        topic: source_topic.to_string(),
        partition,
        next_offset,
        written_at,
    })?;
    Ok(ProducerRecord::new(checkpoint_topic, value).key(checkpoint_key(source_topic, partition)))
}

/// Reads `checkpoint_topic` to its end and returns, per partition of
/// `source_topic`, the latest checkpointed next offset. Partitions never
/// checkpointed are absent. Blocks while reading.
///
/// # Errors
/// An unknown topic; a checkpoint value that is not one (named by offset):
/// guessing a position would silently skip or repeat orders.
pub fn load_checkpoints(
    weir: &Weir,
    checkpoint_topic: &str,
    source_topic: &str,
) -> Result<BTreeMap<i32, i64>, Error> {
    let mut consumer = weir.consumer(&[
        ("client.id", "orders-pipeline-checkpoint-reader"),
        ("auto.offset.reset", "earliest"),
        // Only checkpoints whose transaction committed (with the outputs
        // they cover) count.
        ("isolation.level", "read_committed"),
        ("fetch.max.wait.ms", "10"),
    ])?;
    consumer.assign_topic(checkpoint_topic)?;
    // Read up to the end captured now: the checkpoints written before we
    // started are all there is to resume from.
    let ends = consumer.end_offsets(&consumer.assignment())?;
    let mut positions = BTreeMap::new();
    loop {
        let mut behind = false;
        for (tp, end) in &ends {
            behind |= consumer.position(tp)? < *end;
        }
        if !behind {
            break;
        }
        let records = consumer.poll(Duration::from_secs(10))?;
        if records.is_empty() {
            return Err(
                format!("{checkpoint_topic} stopped short of its end offsets {ends:?}").into(),
            );
        }
        for record in records.iter() {
            let key = record.key_str().unwrap_or_default();
            let Some(value) = record.value() else {
                // A tombstone: that partition starts over from the beginning.
                positions.retain(|p, _| checkpoint_key(source_topic, *p) != key);
                continue;
            };
            let checkpoint: Checkpoint = serde_json::from_slice(value).map_err(|e| {
                format!(
                    "{checkpoint_topic}-{} offset {}: not a checkpoint: {e}",
                    record.partition(),
                    record.offset()
                )
            })?;
            if checkpoint.topic == source_topic {
                positions.insert(checkpoint.partition, checkpoint.next_offset);
            }
        }
    }
    consumer.close();
    Ok(positions)
}
