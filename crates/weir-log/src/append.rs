//! Appending to a [`PartitionLog`]: a batch validated as Kafka's broker validates
//! it (`LogValidator`), offsets assigned, idempotent sequences checked, recompressed
//! for the topic's `compression.type`, written, indexed, and the segment rolled.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use weir_record::{BatchBuilder, BatchOptions, RecordBatch, RecordBatchMut, TimestampType};

use crate::batch_header::{self, BatchHeader};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::partition::{AppendInfo, AppendOrigin, PartitionLog, Writer, sizing};
use crate::producer_state::SequenceCheck;
use crate::recovery::{ContentProblem, check_record_offset, validate_records};
use crate::segment::{LogSegment, lock, write_lock};

/// What an appended batch does to the partition's open transactions.
#[derive(Debug, Clone, Copy)]
enum TxnRole {
    /// A transactional data batch of this producer.
    Data { producer_id: i64 },
    /// A COMMIT (`commit`) or ABORT marker.
    Marker {
        producer_id: i64,
        epoch: i16,
        commit: bool,
    },
}

impl PartitionLog {
    /// Appends one producer batch. See [`append_as`](Self::append_as).
    ///
    /// # Errors
    /// As [`append_as`](Self::append_as).
    pub fn append(&self, batch: Bytes) -> Result<AppendInfo, LogError> {
        self.append_as(batch, AppendOrigin::Client)
    }

    /// Validates one encoded batch, assigns its offsets (stamping the base
    /// offset and leader epoch outside the CRC), writes it to the OS, indexes
    /// it, advances the log end offset and high watermark and wakes waiting
    /// readers. With `message.timestamp.type=LogAppendTime` the append time is
    /// stamped (recomputing the CRC, as Kafka does); when the topic's
    /// `compression.type` names a codec other than the batch's, the batch is
    /// re-compressed. Blocks only for the write (and an fsync when
    /// `flush.messages` is reached); for durability see
    /// [`flush_until`](Self::flush_until).
    ///
    /// Checked, as Kafka's broker checks them: magic 2, size against
    /// `max.message.bytes` and `segment.bytes`, CRC-32C, a record count that
    /// matches `lastOffsetDelta`, no control batches from clients, CreateTime
    /// within `message.timestamp.{before,after}.max.ms`, and every record
    /// decodes (decompressed within the bound recovery uses) with an offset in
    /// the batch's range, so that recovery keeps whatever is acknowledged.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`], [`LogError::BatchTooLarge`],
    /// [`LogError::InvalidTimestamp`] for a batch that is not accepted (nothing
    /// is written); [`LogError::ReadOnly`] once a write or fsync has failed;
    /// [`LogError::Closed`].
    pub fn append_as(&self, batch: Bytes, origin: AppendOrigin) -> Result<AppendInfo, LogError> {
        self.append_checked(batch, origin, None)
    }

    /// As [`append`](Self::append), for a batch encoded in this process by
    /// `weir_record::BatchBuilder` (a producer's): its records decode by
    /// construction, so they are not walked again (Kafka's broker must walk
    /// every record it receives; an in-process log can take the builder's
    /// word). Every other check runs, the CRC too; a compacted topic still
    /// checks each record for a key, and a control batch is still read.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_built(&self, batch: weir_record::BuiltBatch) -> Result<AppendInfo, LogError> {
        // Recovery decompresses within this bound: a batch past it is walked
        // here too, so that recovery keeps whatever an append accepted.
        let trusted = (batch.uncompressed_records_size()
            <= weir_record::DEFAULT_MAX_UNCOMPRESSED_BYTES)
            .then(|| batch.min_timestamp().unwrap_or(i64::MAX));
        self.append_checked(batch.into_bytes(), AppendOrigin::Client, trusted)
    }

    /// `trusted`: the records were encoded by this process's `BatchBuilder`
    /// (they need no walk), with this smallest record timestamp (`i64::MAX`
    /// when no record has one).
    fn append_checked(
        &self,
        batch: Bytes,
        origin: AppendOrigin,
        trusted: Option<i64>,
    ) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        let config = self.config();
        let now = self.clock.now_ms();
        let (mut buf, txn) = self.validate(batch, &config, origin, now, trusted)?;
        let log_append_time = if config.message_timestamp_type == TimestampType::LogAppendTime {
            RecordBatchMut::new(&mut buf)
                .map_err(|e| self.invalid(e))?
                .set_log_append_time(now);
            Some(now)
        } else {
            None
        };
        let header = batch_header::parse(&buf, 0)
            .ok_or_else(|| LogError::invalid_batch(&self.name, "header unreadable"))?;
        let idempotent = sequence_of(&buf);
        // The header's lastOffsetDelta (last_offset is base + delta, wrapping).
        let last_delta = header.last_offset.wrapping_sub(header.base_offset);
        let count = last_delta + 1;
        let size = buf.len();

        let mut w = lock(&self.writer);
        if w.closed {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        self.check_writable()?;
        if let Some(TxnRole::Marker {
            producer_id, epoch, ..
        }) = txn
            && let Err(current_epoch) = w.producers.check_marker(producer_id, epoch)
        {
            return Err(LogError::ProducerFenced {
                partition: self.name.clone(),
                producer_id,
                producer_epoch: epoch,
                current_epoch,
            });
        }
        if let Some(seq) = idempotent {
            match w
                .producers
                .check(seq.producer_id, seq.epoch, seq.first, seq.last)
            {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate {
                    first_offset,
                    last_offset,
                    timestamp,
                } => {
                    // The time the batch was first appended, as Kafka
                    // answers a retry.
                    return Ok(AppendInfo {
                        base_offset: first_offset,
                        last_offset,
                        log_append_time: log_append_time.map(|_| timestamp),
                        log_start_offset: self.log_start_offset(),
                        size: 0,
                        duplicate: true,
                    });
                }
                SequenceCheck::Fenced { current_epoch } => {
                    return Err(LogError::ProducerFenced {
                        partition: self.name.clone(),
                        producer_id: seq.producer_id,
                        producer_epoch: seq.epoch,
                        current_epoch,
                    });
                }
                SequenceCheck::OutOfOrder { expected } => {
                    return Err(LogError::OutOfOrderSequence {
                        partition: self.name.clone(),
                        producer_id: seq.producer_id,
                        producer_epoch: seq.epoch,
                        sequence: seq.first,
                        expected,
                    });
                }
            }
        }
        // The batch's offsets, and the next offset after them, must exist.
        if w.next_offset
            .checked_add(last_delta)
            .and_then(|last| last.checked_add(1))
            .is_none()
        {
            return Err(LogError::OffsetsExhausted {
                partition: self.name.clone(),
                next_offset: w.next_offset,
                records: count,
            });
        }
        self.maybe_roll(
            &mut w,
            &config,
            size as u64,
            header.max_timestamp,
            last_delta,
            now,
        )?;
        let base_offset = w.next_offset;
        {
            let mut m = RecordBatchMut::new(&mut buf).map_err(|e| self.invalid(e))?;
            m.set_base_offset(base_offset);
            m.set_partition_leader_epoch(self.leader_epoch);
        }
        if let Some(TxnRole::Marker {
            producer_id,
            commit: false,
            ..
        }) = txn
            && let Some(&first_offset) = w.ongoing.get(&producer_id)
        {
            // The aborted transaction is listed (and fsynced) before its
            // marker is written: a marker that survives a crash always has
            // its entry, and an entry whose marker did not survive is
            // dropped by recovery, which cuts entries past the log's end.
            let stable_after = w
                .ongoing
                .iter()
                .filter(|&(&p, _)| p != producer_id)
                .map(|(_, &f)| f)
                .min()
                .unwrap_or(base_offset + 1);
            let entry = crate::index::AbortedTxn {
                producer_id,
                first_offset,
                last_offset: base_offset,
                last_stable_offset: stable_after,
            };
            if let Err(e) = w.active.append_aborted(entry) {
                return Err(self.fail(e));
            }
        }
        let position = w.active.size();
        let stamped = BatchHeader {
            position,
            base_offset,
            last_offset: base_offset + last_delta,
            size: size as u64,
            ..header
        };
        if let Err(e) = w.active.append(&stamped, &buf) {
            return Err(self.fail(e));
        }
        w.next_offset = stamped.last_offset + 1;
        if let Some(seq) = idempotent {
            w.producers.update(
                seq.producer_id,
                seq.epoch,
                seq.first,
                seq.last,
                base_offset,
                stamped.last_offset,
                stamped.max_timestamp,
            );
        }
        match txn {
            Some(TxnRole::Data { producer_id }) => {
                w.ongoing.entry(producer_id).or_insert(base_offset);
                w.producers.mark_transactional(producer_id);
            }
            Some(TxnRole::Marker {
                producer_id, epoch, ..
            }) => {
                w.ongoing.remove(&producer_id);
                w.producers.marker_written(producer_id, epoch);
            }
            None => {}
        }
        if txn.is_some() {
            // Before the high watermark that covers the batch (see
            // `last_stable_offset`).
            self.first_unstable
                .store(w.first_unstable(), Ordering::Release);
        }
        w.active.publish(position + size as u64);
        self.log_end_offset.store(w.next_offset, Ordering::Release);
        self.high_watermark.store(w.next_offset, Ordering::Release);
        w.messages_since_flush += count;
        let flush_due = w.messages_since_flush >= config.flush_messages;
        if flush_due {
            w.messages_since_flush = 0;
        }
        let end = w.next_offset;
        drop(w);
        self.appended_batches.fetch_add(1, Ordering::Relaxed);
        self.flush.note_unflushed(now);
        self.data_event.notify(usize::MAX);
        if flush_due {
            self.flush_until(end)?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: stamped.last_offset,
            log_append_time,
            log_start_offset: self.log_start_offset(),
            size,
            duplicate: false,
        })
    }

    fn invalid(&self, e: weir_record::RecordError) -> LogError {
        LogError::InvalidBatch {
            partition: self.name.clone(),
            reason: e.to_string(),
            source: Some(e),
        }
    }

    fn invalid_contents(&self, problem: ContentProblem) -> LogError {
        LogError::InvalidBatch {
            partition: self.name.clone(),
            reason: format!("a record does not decode: {}", problem.reason),
            source: problem.source,
        }
    }

    /// The broker-side checks of `append_as`, and re-compression; returns the
    /// batch in a buffer the log may stamp.
    fn validate(
        &self,
        batch: Bytes,
        config: &LogConfig,
        origin: AppendOrigin,
        now: i64,
        trusted: Option<i64>,
    ) -> Result<(BytesMut, Option<TxnRole>), LogError> {
        self.check_size(config, batch.len())?;
        let view = RecordBatch::new(batch).map_err(|e| self.invalid(e))?;
        view.validate_crc().map_err(|e| self.invalid(e))?;
        let txn = self.txn_role(&view)?;
        let compression = view.compression().map_err(|e| self.invalid(e))?;
        let count = view.records_count();
        if origin == AppendOrigin::Client {
            if view.is_control() {
                return Err(LogError::invalid_batch(
                    &self.name,
                    "clients may not write control batches",
                ));
            }
            if count <= 0 || i64::from(view.last_offset_delta()) != i64::from(count) - 1 {
                return Err(LogError::invalid_batch(
                    &self.name,
                    format!(
                        "inconsistent batch: {count} records but last offset delta {}",
                        view.last_offset_delta()
                    ),
                ));
            }
        } else if count < 0 || view.last_offset_delta() < 0 {
            return Err(LogError::invalid_batch(
                &self.name,
                "negative count or offset delta",
            ));
        }
        // A compacted topic refuses records without a key, as Kafka's
        // `LogValidator` does (the cleaner could only drop them).
        let require_keys = config.cleanup_policy.compact && origin == AppendOrigin::Client;
        // As Kafka's `LogValidator`: on a CreateTime topic every record's
        // timestamp is held against message.timestamp.{before,after}.max.ms
        // (a LogAppendTime topic stamps its own time instead).
        let check_times = config.message_timestamp_type == TimestampType::CreateTime
            && !view.is_control()
            && count > 0;
        let recompress = config
            .recompression()
            .filter(|t| t.compression() != compression && !view.is_control());
        // Recovery decodes every record and drops a batch that does not decode
        // as a torn tail, with everything after it; so a batch is accepted only
        // if recovery would keep it (Kafka's `LogValidator` walks every record
        // and refuses a bad one with CorruptRecordException). Re-compression
        // decodes every record too, checking them on the way.
        let walk = require_keys
            || view.is_control()
            || (trusted.is_none() && recompress.is_none())
            || (check_times && trusted.is_none());
        let walked = if walk {
            validate_records(&view, require_keys).map_err(|p| self.invalid_contents(p))?
        } else {
            None
        };
        if check_times {
            // A LogAppendTime batch's records all carry its max timestamp.
            let (earliest, latest) = if view.timestamp_type() == TimestampType::LogAppendTime {
                (view.max_timestamp(), view.max_timestamp())
            } else if walk {
                // No record has a timestamp: nothing to hold against the bounds.
                walked.unwrap_or((i64::MAX, weir_record::layout::NO_TIMESTAMP))
            } else {
                (trusted.unwrap_or(i64::MAX), view.max_timestamp())
            };
            self.check_timestamps(config, now, earliest, latest)?;
        }
        if let Some(target) = recompress {
            // Re-compression may grow the batch (zstd to none, say): it is
            // held to the limits again, as Kafka's `UnifiedLog.append` does.
            let rebuilt = self.recompress(&view, target)?;
            self.check_size(config, rebuilt.len())?;
            return Ok((rebuilt, txn));
        }
        let bytes = view.into_bytes();
        let buf = bytes
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        Ok((buf, txn))
    }

    /// What a batch does to the partition's transactions: a transactional
    /// data batch opens (or continues) its producer's transaction, a
    /// COMMIT or ABORT marker ends it.
    fn txn_role(&self, view: &RecordBatch) -> Result<Option<TxnRole>, LogError> {
        if !view.is_transactional() {
            return Ok(None);
        }
        let producer_id = view.producer_id();
        if producer_id < 0 {
            return Err(LogError::invalid_batch(
                &self.name,
                format!("a transactional batch with producer id {producer_id}"),
            ));
        }
        if !view.is_control() {
            return Ok(Some(TxnRole::Data { producer_id }));
        }
        if view.records_count() == 0 {
            // A marker the cleaner emptied: it ends nothing any more.
            return Ok(None);
        }
        let control = view.control_record().map_err(|e| self.invalid(e))?;
        Ok(control.end_transaction.map(|marker| TxnRole::Marker {
            producer_id,
            epoch: view.producer_epoch(),
            commit: marker.is_commit(),
        }))
    }

    /// Appends a transaction marker for `producer_id` at `epoch`, as Kafka's
    /// transaction coordinator writes one to each partition of a transaction
    /// it ends: the producer's open transaction here (if any) ends, and an
    /// aborted one is listed in the segment's `.txnindex` for
    /// `read_committed` readers. The marker is not fsynced; see
    /// [`flush_until`](Self::flush_until).
    ///
    /// # Errors
    /// [`LogError::ProducerFenced`] when the partition has seen a newer epoch
    /// of the producer; otherwise as [`append`](Self::append).
    pub fn append_txn_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        let marker = if commit {
            weir_record::EndTransactionMarker::commit(coordinator_epoch)
        } else {
            weir_record::EndTransactionMarker::abort(coordinator_epoch)
        };
        let batch = BatchBuilder::end_transaction_marker(
            BatchOptions {
                producer_id,
                producer_epoch: epoch,
                ..BatchOptions::default()
            },
            marker,
            self.clock.now_ms(),
        )
        .map_err(|e| self.invalid(e))?;
        self.append_as(batch, AppendOrigin::Coordinator)
    }

    /// A batch of `size` bytes within `max.message.bytes` and `segment.bytes`.
    fn check_size(&self, config: &LogConfig, size: usize) -> Result<(), LogError> {
        if size > config.max_message_bytes as usize {
            return Err(LogError::BatchTooLarge {
                partition: self.name.clone(),
                size,
                max: u64::from(config.max_message_bytes),
                config: "max.message.bytes",
            });
        }
        if size > config.segment_bytes as usize {
            return Err(LogError::BatchTooLarge {
                partition: self.name.clone(),
                size,
                max: u64::from(config.segment_bytes),
                config: "segment.bytes",
            });
        }
        Ok(())
    }

    /// Holds the batch's earliest and latest record timestamps against
    /// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms`.
    fn check_timestamps(
        &self,
        config: &LogConfig,
        now: i64,
        earliest: i64,
        latest: i64,
    ) -> Result<(), LogError> {
        if now.saturating_sub(earliest) > config.message_timestamp_before_max_ms {
            return Err(LogError::InvalidTimestamp {
                partition: self.name.clone(),
                timestamp: earliest,
                now,
                config: "message.timestamp.before.max.ms",
                max_ms: config.message_timestamp_before_max_ms,
            });
        }
        if latest.saturating_sub(now) > config.message_timestamp_after_max_ms {
            return Err(LogError::InvalidTimestamp {
                partition: self.name.clone(),
                timestamp: latest,
                now,
                config: "message.timestamp.after.max.ms",
                max_ms: config.message_timestamp_after_max_ms,
            });
        }
        Ok(())
    }

    /// Rebuilds a batch in the topic's codec, keeping every header field and
    /// record (Kafka's broker-side re-compression).
    fn recompress(
        &self,
        view: &RecordBatch,
        target: weir_record::CompressionConfig,
    ) -> Result<BytesMut, LogError> {
        let mut builder = BatchBuilder::new(BatchOptions {
            compression: target,
            timestamp_type: view.timestamp_type(),
            transactional: view.is_transactional(),
            control: view.is_control(),
            producer_id: view.producer_id(),
            producer_epoch: view.producer_epoch(),
            base_sequence: view.base_sequence(),
            base_offset: view.base_offset(),
            partition_leader_epoch: view.partition_leader_epoch(),
            delete_horizon_ms: view.delete_horizon_ms(),
        });
        if view.last_offset_delta() < 0 {
            return Err(LogError::invalid_batch(
                &self.name,
                format!("negative last offset delta {}", view.last_offset_delta()),
            ));
        }
        let records = view.records().map_err(|e| self.invalid(e))?;
        for record in &records {
            let record = record.map_err(|e| self.invalid(e))?;
            check_record_offset(view, record.offset()).map_err(|p| self.invalid_contents(p))?;
            builder.append_view(&record).map_err(|e| self.invalid(e))?;
        }
        builder
            .set_last_offset_delta(view.last_offset_delta())
            .map_err(|e| self.invalid(e))?;
        builder.set_max_timestamp(view.max_timestamp());
        let built = builder.build().map_err(|e| self.invalid(e))?;
        Ok(built
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..])))
    }

    /// Kafka's `shouldRoll`: the batch would overflow `segment.bytes`, the
    /// segment is older than `segment.ms` (less jitter), an index is full, or
    /// the batch's offsets would not fit 32 bits relative to the base.
    fn maybe_roll(
        &self,
        w: &mut Writer,
        config: &LogConfig,
        batch_size: u64,
        batch_max_timestamp: i64,
        last_delta: i64,
        now: i64,
    ) -> Result<(), LogError> {
        let seg = &w.active;
        let size = seg.size();
        if size == 0 {
            return Ok(());
        }
        let full = size + batch_size > u64::from(config.segment_bytes);
        // A compacted topic's active segment is never cleaned: it rolls by
        // max.compaction.lag.ms too, so that records get cleaned in time
        // (Kafka's `maxSegmentMs`).
        let max_segment_ms = if config.cleanup_policy.compact && config.max_compaction_lag_ms > 0 {
            config.segment_ms.min(config.max_compaction_lag_ms)
        } else {
            config.segment_ms
        };
        // Kafka draws the jitter below min(segment.jitter.ms, segment.ms);
        // applied as given here, it is held below segment.ms too, so the
        // threshold stays positive.
        let jitter = config
            .segment_jitter_ms
            .min(max_segment_ms.saturating_sub(1))
            .max(0);
        let old = seg.time_waited_for_roll(now, batch_max_timestamp)
            > max_segment_ms.saturating_sub(jitter);
        let overflow = w.next_offset + last_delta - seg.base_offset() > i64::from(i32::MAX);
        if full || old || overflow || seg.indexes_full() {
            self.roll_locked(w, config, now)?;
        }
        Ok(())
    }

    pub(crate) fn roll_locked(
        &self,
        w: &mut Writer,
        config: &LogConfig,
        now: i64,
    ) -> Result<(), LogError> {
        if w.active.size() == 0 {
            return Ok(());
        }
        w.active.seal()?;
        let new = match LogSegment::create(&self.dir, w.next_offset, sizing(config), now) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                // A `.log` left at the new base (its removal failed too)
                // would be read as a segment at the next open, cutting off
                // what is appended meanwhile: no more appends, as Kafka takes
                // the directory offline.
                let stray = self.dir.join(crate::segment_file::segment_file_name(
                    w.next_offset,
                    crate::segment_file::LOG_SUFFIX,
                ));
                if stray.exists() {
                    return Err(self.fail(io::Error::other(format!(
                        "rolling to a new segment failed and left {}: {e}",
                        stray.display()
                    ))));
                }
                return Err(e);
            }
        };
        {
            let mut segs = write_lock(&self.segments);
            let mut list: Vec<Arc<LogSegment>> = segs.iter().cloned().collect();
            list.push(Arc::clone(&new));
            *segs = Arc::new(list);
        }
        self.flush.mark_dir_dirty();
        self.flush.add_pending(Arc::clone(&w.active));
        w.active = new;
        Ok(())
    }

    /// Rolls a new active segment now (if the current one holds any batch).
    ///
    /// # Errors
    /// [`LogError::Io`] if the new segment cannot be created;
    /// [`LogError::Closed`].
    pub fn roll(&self) -> Result<(), LogError> {
        let config = self.config();
        let mut w = lock(&self.writer);
        if w.closed {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        self.roll_locked(&mut w, &config, self.clock.now_ms())
    }
}

/// The producer id, epoch and sequence range of an idempotent batch.
#[derive(Debug, Clone, Copy)]
struct Sequence {
    producer_id: i64,
    epoch: i16,
    first: i32,
    last: i32,
}

fn sequence_of(buf: &[u8]) -> Option<Sequence> {
    use weir_record::layout::{BASE_SEQUENCE, LAST_OFFSET_DELTA, PRODUCER_EPOCH, PRODUCER_ID};
    let field = |at: usize, n: usize| buf.get(at..at + n);
    let producer_id = i64::from_be_bytes(field(PRODUCER_ID, 8)?.try_into().ok()?);
    let epoch = i16::from_be_bytes(field(PRODUCER_EPOCH, 2)?.try_into().ok()?);
    let first = i32::from_be_bytes(field(BASE_SEQUENCE, 4)?.try_into().ok()?);
    let delta = i32::from_be_bytes(field(LAST_OFFSET_DELTA, 4)?.try_into().ok()?);
    (producer_id >= 0 && first >= 0).then(|| Sequence {
        producer_id,
        epoch,
        first,
        last: weir_record::increment_sequence(first, delta),
    })
}
