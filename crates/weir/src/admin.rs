//! [`Admin`]: Kafka's admin client, in process: topics, configs, offsets.

use crate::consumer_config::IsolationLevel;
use crate::error::WeirError;
use crate::record::TopicPartition;
use crate::weir::Weir;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The name.
    pub name: String,
    /// Partitions.
    pub partitions: u32,
    /// Config overrides under Kafka's topic-config names.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and no config overrides.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            configs: Vec::new(),
        }
    }

    /// This topic with a config override.
    #[must_use]
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// One partition as [`Admin::describe_topic`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition.
    pub partition: i32,
    /// First offset held.
    pub log_start_offset: i64,
    /// Next offset to be written.
    pub log_end_offset: i64,
    /// Offset up to which readers read.
    pub high_watermark: i64,
    /// fsynced up to here.
    pub recovery_point: i64,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Segments.
    pub segments: usize,
}

/// A topic as [`Admin::describe_topic`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The name.
    pub name: String,
    /// Kafka's topic id (base64url).
    pub topic_id: String,
    /// Whether it is internal (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Its partitions.
    pub partitions: Vec<PartitionDescription>,
}

/// One config key of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka's name for it.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Whether the value is the default (not set on the topic).
    pub is_default: bool,
}

/// Which offset [`Admin::list_offsets`] looks up (Kafka's `OffsetSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark.
    Latest,
    /// The first record at or after this timestamp (ms).
    ForTimestamp(i64),
    /// The record with the largest timestamp at or after the log start
    /// offset, the first one on a tie. Transaction markers count, as in
    /// Kafka: when a marker has the largest timestamp, its offset and
    /// timestamp are the answer.
    MaxTimestamp,
}

/// What [`Admin::list_offsets`] found for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset; -1 when no record matches a timestamp spec (Kafka's answer).
    pub offset: i64,
    /// The record's timestamp for timestamp specs, else -1.
    pub timestamp: i64,
    /// The batch's leader epoch, when a record was found.
    pub leader_epoch: Option<i32>,
}

/// Kafka's admin client, in process. Obtain one from [`Weir::admin`].
#[derive(Debug, Clone)]
pub struct Admin {
    weir: Weir,
}

impl Admin {
    pub(crate) fn new(weir: Weir) -> Self {
        Admin { weir }
    }

    pub(crate) fn weir(&self) -> &Weir {
        &self.weir
    }

    /// Creates a topic.
    ///
    /// # Errors
    /// An invalid or existing name, a bad partition count, a config key or
    /// value Kafka would refuse (named in the error).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(&str, &str)],
    ) -> Result<(), WeirError> {
        self.weir.create_topic(name, partitions, configs)?;
        Ok(())
    }

    /// Creates several topics; one result per topic, in order.
    pub fn create_topics(&self, topics: &[NewTopic]) -> Vec<Result<(), WeirError>> {
        topics
            .iter()
            .map(|t| {
                let configs: Vec<(&str, &str)> = t
                    .configs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.create_topic(&t.name, t.partitions, &configs)
            })
            .collect()
    }

    /// Deletes a topic and its data, every group's committed offsets for it
    /// (as Kafka's coordinator does) and the cleaner's checkpoint of it, so
    /// that a topic created again under the name is neither read from the
    /// old topic's offsets nor taken as cleaned up to the old checkpoint.
    ///
    /// `__consumer_offsets` is refused (Kafka's other internal topics, which
    /// nothing here holds, are deleted as any topic). Kafka deletes
    /// it (its coordinator resigns the offsets topic's partitions and
    /// creates the topic again on the next use), but here the group
    /// coordinator and the consumers in this process hold `__consumer_offsets`
    /// open, and would go on with offsets that are gone. To drop groups and
    /// their committed offsets, delete the groups
    /// ([`delete_group`](Self::delete_group), `weir groups delete`).
    ///
    /// # Errors
    /// [`WeirError::InternalTopic`] for `__consumer_offsets` (nothing is
    /// deleted); an unknown topic; I/O; [`WeirError::Group`] when the offsets
    /// cannot be deleted (the topic is gone by then).
    pub fn delete_topic(&self, name: &str) -> Result<(), WeirError> {
        if name == weir_group::CONSUMER_OFFSETS {
            return Err(WeirError::InternalTopic {
                topic: name.to_string(),
                operation: crate::error::InternalTopicOperation::Delete,
            });
        }
        self.weir.log_dir().delete_topic(name)?;
        // Then what is kept of it above the log. Until that is done, the
        // data directory lists the delete as unfinished (in the same write
        // that removed the topic), and the next open, or a creation of a
        // topic of the name, finishes it.
        self.weir.finish_delete(name)
    }

    /// Topic names, internal topics excluded.
    pub fn list_topics(&self) -> Vec<String> {
        self.weir
            .log_dir()
            .topics()
            .iter()
            .filter(|t| !t.is_internal())
            .map(|t| t.name().to_string())
            .collect()
    }

    /// A topic's partitions and offsets.
    ///
    /// # Errors
    /// An unknown topic.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription, WeirError> {
        let t = self.weir.log_dir().topic(name)?;
        Ok(TopicDescription {
            name: t.name().to_string(),
            topic_id: t.topic_id().to_string(),
            internal: t.is_internal(),
            partitions: t
                .partitions()
                .iter()
                .map(|log| PartitionDescription {
                    partition: log.partition(),
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: log.high_watermark(),
                    recovery_point: log.recovery_point(),
                    size_bytes: log.size_bytes(),
                    segments: log.segments().len(),
                })
                .collect(),
        })
    }

    /// Every config key of a topic with its value.
    ///
    /// # Errors
    /// An unknown topic.
    pub fn describe_config(&self, topic: &str) -> Result<Vec<ConfigEntry>, WeirError> {
        let t = self.weir.log_dir().topic(topic)?;
        Ok(t.config()
            .describe()
            .into_iter()
            .map(|(name, value, set)| ConfigEntry {
                name: name.to_string(),
                value,
                is_default: !set,
            })
            .collect())
    }

    /// Sets and removes config overrides, all or nothing (Kafka's
    /// IncrementalAlterConfigs with SET and DELETE).
    ///
    /// # Errors
    /// The first bad key or value, named; nothing changes then.
    pub fn alter_config(
        &self,
        topic: &str,
        set: &[(&str, &str)],
        delete: &[&str],
    ) -> Result<(), WeirError> {
        self.weir.log_dir().alter_topic_config(topic, set, delete)?;
        Ok(())
    }

    /// Raises a topic's partition count to `total`.
    ///
    /// # Errors
    /// A count that does not grow; an unknown topic.
    pub fn create_partitions(&self, topic: &str, total: u32) -> Result<(), WeirError> {
        Ok(self.weir.log_dir().create_partitions(topic, total)?)
    }

    /// Every transactional id of the data directory, with its producer id and
    /// epoch, its transaction's state, start and partitions (Kafka's
    /// `listTransactions` and `describeTransactions` at once).
    pub fn list_transactions(&self) -> Vec<crate::TransactionDescription> {
        self.weir.describe_transactions()
    }

    /// Looks offsets up (Kafka's ListOffsets), as a `read_uncommitted`
    /// reader sees them (Kafka's default for the admin client).
    ///
    /// # Errors
    /// An unknown topic or partition; a negative
    /// [`OffsetSpec::ForTimestamp`] (Kafka's negative timestamps are the
    /// other specs); log read errors.
    pub fn list_offsets(
        &self,
        query: &[(TopicPartition, OffsetSpec)],
    ) -> Result<Vec<(TopicPartition, ListedOffset)>, WeirError> {
        self.list_offsets_isolated(query, IsolationLevel::ReadUncommitted)
    }

    /// As [`list_offsets`](Self::list_offsets), for readers of `isolation`
    /// (Kafka's `ListOffsetsOptions(isolationLevel)`): with
    /// `read_committed` the latest offset is the last stable offset, and a
    /// record found at or past it is not found (offset -1).
    ///
    /// # Errors
    /// As [`list_offsets`](Self::list_offsets).
    pub fn list_offsets_isolated(
        &self,
        query: &[(TopicPartition, OffsetSpec)],
        isolation: IsolationLevel,
    ) -> Result<Vec<(TopicPartition, ListedOffset)>, WeirError> {
        let read_committed = isolation == IsolationLevel::ReadCommitted;
        query
            .iter()
            .map(|(tp, spec)| {
                if let OffsetSpec::ForTimestamp(ts) = spec
                    && *ts < 0
                {
                    return Err(WeirError::InvalidArgument(format!(
                        "the target time for {}-{} is {ts}: it cannot be negative",
                        tp.topic, tp.partition
                    )));
                }
                let log = self
                    .weir
                    .partition_or_create(&tp.topic, tp.partition, false)?;
                let plain = |offset| ListedOffset {
                    offset,
                    timestamp: -1,
                    leader_epoch: None,
                };
                let end = crate::consumer::end_offset(&log, read_committed);
                let found = |t: Option<weir_log::TimestampAndOffset>| {
                    t.filter(|t| t.offset < end)
                        .map_or(plain(-1), |t| ListedOffset {
                            offset: t.offset,
                            timestamp: t.timestamp,
                            leader_epoch: Some(t.leader_epoch),
                        })
                };
                let listed = match spec {
                    OffsetSpec::Earliest => plain(log.log_start_offset()),
                    OffsetSpec::Latest => plain(end),
                    OffsetSpec::ForTimestamp(ts) => found(log.offset_for_timestamp(*ts)?),
                    OffsetSpec::MaxTimestamp => found(log.max_timestamp_and_offset()?),
                };
                Ok((tp.clone(), listed))
            })
            .collect()
    }

    /// Deletes records below `before_offset` (Kafka's DeleteRecords); returns
    /// the new log start offset (the low watermark). `-1` stands for the high
    /// watermark (every record), as in Kafka's `RecordsToDelete`.
    ///
    /// # Errors
    /// An offset past the high watermark, or negative other than `-1`; an
    /// unknown topic or partition; [`WeirError::PolicyViolation`] for a topic
    /// whose `cleanup.policy` has no `delete` (a compacted topic), as Kafka
    /// refuses it.
    pub fn delete_records(
        &self,
        tp: &TopicPartition,
        before_offset: i64,
    ) -> Result<i64, WeirError> {
        let log = self
            .weir
            .partition_or_create(&tp.topic, tp.partition, false)?;
        if !log.config().cleanup_policy.delete {
            return Err(WeirError::PolicyViolation(format!(
                "records of {}-{} cannot be deleted: its cleanup.policy has no delete",
                tp.topic, tp.partition
            )));
        }
        let before = if before_offset == -1 {
            log.high_watermark()
        } else {
            before_offset
        };
        Ok(log.advance_log_start_offset(before)?)
    }
}
