//! Committed offsets and group metadata as records of `__consumer_offsets`
//! (Kafka's key and value schemas, the partition chosen by the group id), kept
//! in memory and rebuilt by replaying the topic when the coordinator opens.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use weir_log::{LogDir, LogError, PartitionLog};
use weir_record::{BatchBuilder, BatchOptions, Record};

use crate::schema::{
    GroupMetadataKey, GroupMetadataValue, OffsetCommitKey, OffsetCommitValue, OffsetsRecordKey,
    offsets_partition_for,
};
use crate::{GroupError, TopicPartition};

/// Kafka's internal topic for group offsets and metadata.
pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";

/// A committed offset: the next offset to consume, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata the committer attached.
    pub metadata: String,
    /// When it was committed (ms since the epoch).
    pub commit_timestamp: i64,
}

impl OffsetAndMetadata {
    /// An offset with no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
            commit_timestamp: -1,
        }
    }

    /// This offset with metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// A group's last generation as `__consumer_offsets` remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredGroup {
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    /// When the record was written (Kafka's `currentStateTimestamp`: the
    /// group's last state change), -1 when its version has none.
    pub(crate) state_timestamp: i64,
    /// Members the record lists (none once the group emptied).
    pub(crate) members: usize,
}

impl StoredGroup {
    fn from_value(v: &GroupMetadataValue) -> Self {
        StoredGroup {
            generation: v.generation,
            protocol: v.protocol.clone(),
            state_timestamp: v.current_state_timestamp,
            members: v.members.len(),
        }
    }
}

type OffsetKey = (String, String, i32);

/// The in-memory view of `__consumer_offsets`, and its partitions.
#[derive(Debug)]
pub(crate) struct OffsetStore {
    partitions: Vec<Arc<PartitionLog>>,
    offsets: Mutex<HashMap<OffsetKey, OffsetAndMetadata>>,
    /// The explicit expire timestamps of offsets whose record carries one
    /// (value version 1, from old clients): they expire then, whatever the
    /// retention (as in Kafka).
    expire_at: Mutex<HashMap<OffsetKey, i64>>,
    pub(crate) groups: Mutex<BTreeMap<String, StoredGroup>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a coordinator write failed.
pub(crate) fn log_error(e: LogError) -> GroupError {
    GroupError::Storage {
        reason: e.to_string(),
    }
}

impl OffsetStore {
    /// Opens (creating if needed) `__consumer_offsets` with `partitions`
    /// partitions, compacted, and replays it.
    pub(crate) fn open(logs: &LogDir, partitions: u32) -> Result<Self, GroupError> {
        let topic = logs
            .create_internal_topic(
                CONSUMER_OFFSETS,
                partitions,
                &[
                    ("cleanup.policy", "compact"),
                    ("segment.bytes", "104857600"),
                    ("compression.type", "producer"),
                ],
            )
            .map_err(log_error)?;
        let store = OffsetStore {
            partitions: topic.partitions(),
            offsets: Mutex::new(HashMap::new()),
            expire_at: Mutex::new(HashMap::new()),
            groups: Mutex::new(BTreeMap::new()),
        };
        store.replay()?;
        Ok(store)
    }

    fn replay(&self) -> Result<(), GroupError> {
        let mut offsets = lock(&self.offsets);
        let mut expire_at = lock(&self.expire_at);
        let mut groups = lock(&self.groups);
        for log in &self.partitions {
            // Offsets committed in a transaction (Kafka's TxnOffsetCommit,
            // from `sendOffsetsToTransaction`) wait for its marker, as in
            // Kafka's `OffsetMetadataManager`: a COMMIT applies them unless
            // a plain commit of the same partition came later, an ABORT
            // drops them, and an open transaction's stay invisible.
            let mut pending: HashMap<i64, Vec<PendingCommit>> = HashMap::new();
            // The record offset of the commit each partition's offset was
            // last taken from (plain or transactional), from the first
            // transactional commit on: only those are compared with it.
            let mut applied_at: HashMap<OffsetKey, i64> = HashMap::new();
            let mut position = log.log_start_offset();
            loop {
                let data = log.fetch(position, 4 << 20).map_err(log_error)?;
                if data.is_empty() {
                    break;
                }
                for item in data.batches() {
                    let batch = item
                        .map_err(|e| GroupError::Storage {
                            reason: format!("{CONSUMER_OFFSETS}-{}: {e}", log.partition()),
                        })?
                        .batch;
                    if batch.is_control() {
                        let committed =
                            batch
                                .control_record()
                                .ok()
                                .and_then(|c| match c.record_type {
                                    weir_record::ControlRecordType::Commit => Some(true),
                                    weir_record::ControlRecordType::Abort => Some(false),
                                    _ => None,
                                });
                        if let Some(committed) = committed
                            && let Some(done) = pending.remove(&batch.producer_id())
                            && committed
                        {
                            for p in done {
                                // Only over an older commit (by record
                                // offset), as Kafka's
                                // `replayEndTransactionMarker`: so compaction
                                // of the topic never changes the outcome.
                                let older = match &p.key {
                                    OffsetsRecordKey::OffsetCommit { key, .. } => {
                                        let k =
                                            (key.group.clone(), key.topic.clone(), key.partition);
                                        if applied_at.get(&k).is_some_and(|at| *at > p.offset) {
                                            true
                                        } else {
                                            applied_at.insert(k, p.offset);
                                            false
                                        }
                                    }
                                    _ => false,
                                };
                                if !older {
                                    apply(
                                        &mut offsets,
                                        &mut expire_at,
                                        &mut groups,
                                        p.key,
                                        p.value.as_deref(),
                                    )
                                    .map_err(|source| {
                                        GroupError::CorruptOffsetsRecord {
                                            partition: log.partition(),
                                            offset: p.offset,
                                            source: Box::new(source),
                                        }
                                    })?;
                                }
                            }
                        }
                        continue;
                    }
                    let transactional = batch.is_transactional() && batch.producer_id() >= 0;
                    let records = batch.records().map_err(|e| GroupError::Storage {
                        reason: e.to_string(),
                    })?;
                    for r in &records {
                        let r = r.map_err(|e| GroupError::Storage {
                            reason: e.to_string(),
                        })?;
                        let corrupt = |source: GroupError| GroupError::CorruptOffsetsRecord {
                            partition: log.partition(),
                            offset: r.offset(),
                            source: Box::new(source),
                        };
                        // Kafka's loader requires a key: every record it
                        // writes has one.
                        let key = r.key().ok_or_else(|| {
                            corrupt(GroupError::NullField {
                                field: "__consumer_offsets key",
                            })
                        })?;
                        // Only records of unknown types (by key version) are
                        // skipped, as Kafka's loader skips them; any other
                        // record that does not decode is corruption.
                        let key = match OffsetsRecordKey::decode(key) {
                            Ok(key) => key,
                            Err(GroupError::UnknownRecordType { .. }) => continue,
                            Err(e) => return Err(corrupt(e)),
                        };
                        if transactional {
                            if let Some(v) = r.value() {
                                // Checked now, applied at the marker.
                                OffsetCommitValue::decode(v).map_err(corrupt)?;
                            }
                            pending
                                .entry(batch.producer_id())
                                .or_default()
                                .push(PendingCommit {
                                    key,
                                    value: r.value().map(<[u8]>::to_vec),
                                    offset: r.offset(),
                                });
                            continue;
                        }
                        // Only against a transaction's commits does the
                        // record offset matter: a log without transactions
                        // replays without a copy of each key.
                        if (!pending.is_empty() || !applied_at.is_empty())
                            && let OffsetsRecordKey::OffsetCommit { key: k, .. } = &key
                        {
                            applied_at.insert(
                                (k.group.clone(), k.topic.clone(), k.partition),
                                r.offset(),
                            );
                        }
                        apply(&mut offsets, &mut expire_at, &mut groups, key, r.value())
                            .map_err(corrupt)?;
                    }
                }
                position = data.next_offset;
            }
        }
        Ok(())
    }

    fn partition_for(&self, group: &str) -> Result<&Arc<PartitionLog>, GroupError> {
        let n = NonZeroU32::new(u32::try_from(self.partitions.len()).unwrap_or(0)).ok_or(
            GroupError::Storage {
                reason: format!("{CONSUMER_OFFSETS} has no partitions"),
            },
        )?;
        self.partitions
            .get(offsets_partition_for(group, n) as usize)
            .ok_or(GroupError::Storage {
                reason: format!("{CONSUMER_OFFSETS} partition for {group} missing"),
            })
    }

    /// Appends records to the group's partition; returns the partition and the
    /// offset after them, for a durability wait.
    fn append(
        &self,
        group: &str,
        records: Vec<(Bytes, Option<Bytes>)>,
        now: i64,
    ) -> Result<(Arc<PartitionLog>, i64), GroupError> {
        let log = self.partition_for(group)?;
        let mut builder = BatchBuilder::new(BatchOptions::default());
        for (key, value) in records {
            let record = Record {
                timestamp: now,
                key: Some(key),
                value,
                headers: Vec::new(),
            };
            builder.append(&record).map_err(|e| GroupError::Storage {
                reason: e.to_string(),
            })?;
        }
        let batch = builder.build().map_err(|e| GroupError::Storage {
            reason: e.to_string(),
        })?;
        let info = log
            .append_as(batch, weir_log::AppendOrigin::Coordinator)
            .map_err(log_error)?;
        Ok((Arc::clone(log), info.last_offset + 1))
    }

    /// Writes committed offsets and updates the view. Returns where to wait for
    /// durability.
    pub(crate) fn commit(
        &self,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        now: i64,
    ) -> Result<(Arc<PartitionLog>, i64), GroupError> {
        let mut records = Vec::with_capacity(offsets.len());
        for (tp, o) in offsets {
            let key = OffsetCommitKey {
                group: group.to_string(),
                topic: tp.topic.clone(),
                partition: tp.partition,
            };
            let value = OffsetCommitValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch.unwrap_or(-1),
                metadata: o.metadata.clone(),
                commit_timestamp: now,
                expire_timestamp: -1,
            };
            records.push((key.encode()?, Some(value.encode()?)));
        }
        let target = self.append(group, records, now)?;
        let mut map = lock(&self.offsets);
        let mut expire_at = lock(&self.expire_at);
        for (tp, o) in offsets {
            expire_at.remove(&(group.to_string(), tp.topic.clone(), tp.partition));
            map.insert(
                (group.to_string(), tp.topic.clone(), tp.partition),
                OffsetAndMetadata {
                    commit_timestamp: now,
                    ..o.clone()
                },
            );
        }
        Ok(target)
    }

    /// Writes a group's metadata record (its generation and members).
    pub(crate) fn store_group(
        &self,
        group: &str,
        value: &GroupMetadataValue,
        now: i64,
    ) -> Result<(), GroupError> {
        let key = GroupMetadataKey {
            group: group.to_string(),
        }
        .encode()?;
        self.append(group, vec![(key, Some(value.encode()?))], now)?;
        lock(&self.groups).insert(group.to_string(), StoredGroup::from_value(value));
        Ok(())
    }

    /// Tombstones every record of a group; returns where to wait for
    /// durability.
    pub(crate) fn delete_group(
        &self,
        group: &str,
        now: i64,
    ) -> Result<(Arc<PartitionLog>, i64), GroupError> {
        let keys: Vec<OffsetKey> = lock(&self.offsets)
            .keys()
            .filter(|(g, _, _)| g == group)
            .cloned()
            .collect();
        let mut records = tombstones(&keys)?;
        records.push((
            GroupMetadataKey {
                group: group.to_string(),
            }
            .encode()?,
            None,
        ));
        let target = self.append(group, records, now)?;
        self.forget(&keys);
        lock(&self.groups).remove(group);
        Ok(target)
    }

    /// Tombstones every group's committed offsets for `topic` (deleted), as
    /// Kafka's coordinator does when partitions are deleted; returns where
    /// each group's tombstones end, for the caller to make them durable.
    pub(crate) fn delete_topic_offsets(
        &self,
        topic: &str,
        now: i64,
    ) -> Result<Vec<(Arc<PartitionLog>, i64)>, GroupError> {
        let mut by_group: BTreeMap<String, Vec<OffsetKey>> = BTreeMap::new();
        for k in lock(&self.offsets).keys().filter(|(_, t, _)| t == topic) {
            by_group.entry(k.0.clone()).or_default().push(k.clone());
        }
        let mut targets = Vec::with_capacity(by_group.len());
        for (group, keys) in by_group {
            targets.push(self.append(&group, tombstones(&keys)?, now)?);
            self.forget(&keys);
        }
        Ok(targets)
    }

    /// Tombstones the given committed offsets of `group`; returns where to
    /// wait for durability, `None` when there was nothing to write.
    pub(crate) fn remove(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        now: i64,
    ) -> Result<Option<(Arc<PartitionLog>, i64)>, GroupError> {
        if partitions.is_empty() {
            return Ok(None);
        }
        let keys: Vec<OffsetKey> = partitions
            .iter()
            .map(|tp| (group.to_string(), tp.topic.clone(), tp.partition))
            .collect();
        let target = self.append(group, tombstones(&keys)?, now)?;
        self.forget(&keys);
        Ok(Some(target))
    }

    /// Drops tombstoned offsets from the view.
    fn forget(&self, keys: &[OffsetKey]) {
        let mut map = lock(&self.offsets);
        let mut expire_at = lock(&self.expire_at);
        for k in keys {
            map.remove(k);
            expire_at.remove(k);
        }
    }

    /// The explicit expire timestamp of a committed offset's record, if it
    /// has one.
    pub(crate) fn expire_at(&self, group: &str, tp: &TopicPartition) -> Option<i64> {
        lock(&self.expire_at)
            .get(&(group.to_string(), tp.topic.clone(), tp.partition))
            .copied()
    }

    /// Every group's partitions with a committed offset, now.
    pub(crate) fn partitions_by_group(&self) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut out: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
        for (g, t, p) in lock(&self.offsets).keys() {
            out.entry(g.clone())
                .or_default()
                .push(TopicPartition::new(t.clone(), *p));
        }
        out
    }

    /// Whether the group has any committed offset.
    pub(crate) fn has_offsets(&self, group: &str) -> bool {
        lock(&self.offsets).keys().any(|(g, _, _)| g == group)
    }

    /// The group's last metadata record, if it has one.
    pub(crate) fn stored_group(&self, group: &str) -> Option<StoredGroup> {
        lock(&self.groups).get(group).cloned()
    }

    /// A group's committed offset for a partition.
    pub(crate) fn committed(&self, group: &str, tp: &TopicPartition) -> Option<OffsetAndMetadata> {
        lock(&self.offsets)
            .get(&(group.to_string(), tp.topic.clone(), tp.partition))
            .cloned()
    }

    /// Every committed offset of a group.
    pub(crate) fn group_offsets(&self, group: &str) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let mut out: Vec<(TopicPartition, OffsetAndMetadata)> = lock(&self.offsets)
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, p), o)| (TopicPartition::new(t.clone(), *p), o.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Groups with committed offsets or stored metadata.
    pub(crate) fn known_groups(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.offsets)
            .keys()
            .map(|(g, _, _)| g.clone())
            .collect();
        names.extend(lock(&self.groups).keys().cloned());
        names.sort();
        names.dedup();
        names
    }
}

/// A record of a transaction whose marker replay has not met yet.
struct PendingCommit {
    key: OffsetsRecordKey,
    value: Option<Vec<u8>>,
    /// Its offset in `__consumer_offsets`.
    offset: i64,
}

fn apply(
    offsets: &mut HashMap<OffsetKey, OffsetAndMetadata>,
    expire_at: &mut HashMap<OffsetKey, i64>,
    groups: &mut BTreeMap<String, StoredGroup>,
    key: OffsetsRecordKey,
    value: Option<&[u8]>,
) -> Result<(), GroupError> {
    match key {
        OffsetsRecordKey::OffsetCommit { key, .. } => {
            let k = (key.group, key.topic, key.partition);
            match value {
                None => {
                    expire_at.remove(&k);
                    offsets.remove(&k);
                }
                Some(v) => {
                    let v = OffsetCommitValue::decode(v)?;
                    if v.expire_timestamp >= 0 {
                        expire_at.insert(k.clone(), v.expire_timestamp);
                    } else {
                        expire_at.remove(&k);
                    }
                    offsets.insert(
                        k,
                        OffsetAndMetadata {
                            offset: v.offset,
                            leader_epoch: (v.leader_epoch >= 0).then_some(v.leader_epoch),
                            metadata: v.metadata,
                            commit_timestamp: v.commit_timestamp,
                        },
                    );
                }
            }
        }
        OffsetsRecordKey::GroupMetadata(key) => match value {
            None => {
                groups.remove(&key.group);
            }
            Some(v) => {
                let v = GroupMetadataValue::decode(v)?;
                groups.insert(key.group, StoredGroup::from_value(&v));
            }
        },
    }
    Ok(())
}

/// Tombstones for committed offsets (a key with a null value), one per key.
fn tombstones(keys: &[OffsetKey]) -> Result<Vec<(Bytes, Option<Bytes>)>, GroupError> {
    let mut records = Vec::with_capacity(keys.len() + 1);
    for (group, topic, partition) in keys {
        let key = OffsetCommitKey {
            group: group.clone(),
            topic: topic.clone(),
            partition: *partition,
        };
        records.push((key.encode()?, None));
    }
    Ok(records)
}
