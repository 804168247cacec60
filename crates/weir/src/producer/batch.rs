//! Open and sealed batches, a partition's queue of them, and how full a batch is
//! (Kafka's `ProducerBatch` and `MemoryRecordsBuilder` sizing rules).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use weir_log::PartitionLog;
use weir_record::{BatchBuilder, BatchOptions, BuiltBatch, Compression};

use crate::delivery::{BatchResult, RecordSlot};
use crate::error::WeirError;

use super::Callback;

pub(super) struct OpenBatch {
    pub(super) id: u64,
    pub(super) builder: BatchBuilder,
    pub(super) created: Instant,
    pub(super) result: Arc<BatchResult>,
    /// `buffer.memory` held by this batch, released when it completes: a
    /// batch's worth when it opens (as Kafka's `BufferPool` hands each batch a
    /// `batch.size` buffer), more when its records need it.
    pub(super) reserved: u64,
    /// What its records take of `reserved` (their estimated sizes).
    pub(super) used: u64,
    pub(super) records: usize,
    /// The records sent with a callback, and what their metadata needs.
    pub(super) callbacks: Vec<(RecordSlot, Callback)>,
    /// `batch.size`: the batch is full when its estimated size reaches it.
    pub(super) batch_size: usize,
    /// How much its records' bytes are estimated to take once compressed
    /// (the topic's ratio times Kafka's 1.05 margin when the batch opened; 1
    /// without compression).
    pub(super) ratio: f64,
    /// The most its records may take before compression: the topic's
    /// `max.message.bytes`, less room for the codec's worst expansion (the
    /// log would refuse a bigger batch, and there is no splitting one).
    pub(super) cap: usize,
}

impl OpenBatch {
    pub(super) fn sizing(&self) -> BatchSizing {
        BatchSizing {
            uncompressed: self.builder.uncompressed_size(),
            empty: self.builder.is_empty(),
            batch_size: self.batch_size,
            ratio: self.ratio,
            cap: self.cap,
        }
    }

    pub(super) fn estimated_size(&self) -> usize {
        self.sizing().estimated_size()
    }

    pub(super) fn has_room_for(&self, size: usize) -> bool {
        self.sizing().has_room_for(size)
    }

    pub(super) fn is_full(&self) -> bool {
        self.sizing().is_full()
    }
}

/// The most `codec` can add to `n` bytes. lz4, zstd and gzip at levels
/// other than 1 store a block that would grow, with a few bytes of framing
/// per block. gzip at level 1 (zlib-rs's quick deflate) codes every byte with
/// fixed Huffman codes and stores nothing: up to 1 bit in 8. Snappy never
/// stores a block: input crafted against its matcher (literal runs of 61
/// bytes, each costing a 2-byte tag, between 4-byte copies from 2 KiB or
/// more back, which save 1) grows by 1 byte in 65, plus the xerial framing.
pub(super) fn worst_expansion(codec: weir_record::CompressionConfig, n: usize) -> usize {
    match codec.compression() {
        Compression::None => 0,
        Compression::Gzip if codec.level() == 1 => 64 + n / 8,
        Compression::Snappy => 64 + n / 60,
        _ => 64 + n / 250,
    }
}

/// What decides when an open batch is sent: Kafka's `MemoryRecordsBuilder`
/// rules, with Weir's cap from `max.message.bytes`.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchSizing {
    /// The batch's size before compression (header and records).
    pub(super) uncompressed: usize,
    pub(super) empty: bool,
    pub(super) batch_size: usize,
    pub(super) ratio: f64,
    pub(super) cap: usize,
}

impl BatchSizing {
    /// Its size once built, by the estimate (Kafka's
    /// `estimatedBytesWritten`: the header, and the records times the ratio).
    pub(super) fn estimated_size(self) -> usize {
        let header = weir_record::layout::RECORD_BATCH_OVERHEAD;
        let records = self.uncompressed.saturating_sub(header);
        header.saturating_add((records as f64 * self.ratio) as usize)
    }

    /// Whether a record of `size` bytes still fits (Kafka's `hasRoomFor`: the
    /// record counted uncompressed, the batch by its estimate; an empty batch
    /// takes any record).
    pub(super) fn has_room_for(self, size: usize) -> bool {
        self.empty
            || (self.estimated_size().saturating_add(size) <= self.batch_size
                && self.uncompressed.saturating_add(size) <= self.cap)
    }

    /// Whether it is full (Kafka's `isFull`) and goes now.
    pub(super) fn is_full(self) -> bool {
        !self.empty && (self.estimated_size() >= self.batch_size || self.uncompressed >= self.cap)
    }
}

/// A sealed batch waiting, in partition order, to be appended.
pub(super) struct Sealed {
    pub(super) batch: OpenBatch,
    /// Its bytes (compressed, CRC'd) once built; `None` while a sending
    /// thread builds it, or until the drainer does.
    pub(super) built: Option<Result<BuiltBatch, WeirError>>,
    /// A sending thread is building it outside the queue lock (its builder
    /// is with that thread).
    pub(super) building: bool,
    /// The records' size before compression, for metrics.
    pub(super) uncompressed: usize,
}

#[derive(Default)]
pub(super) struct Queue {
    pub(super) open: Option<OpenBatch>,
    pub(super) sealed: VecDeque<Sealed>,
    pub(super) draining: bool,
    pub(super) next_sequence: i32,
}

impl Queue {
    /// Seals `batch` for the drainer to build and append.
    pub(super) fn seal(&mut self, batch: OpenBatch) {
        let uncompressed = batch.builder.uncompressed_size();
        self.sealed.push_back(Sealed {
            batch,
            built: None,
            building: false,
            uncompressed,
        });
    }

    /// Seals `batch` and hands its builder to the caller, who builds it
    /// outside the lock and brings the bytes back with [`deposit`](Self::deposit).
    pub(super) fn seal_to_build(&mut self, mut batch: OpenBatch) -> (u64, BatchBuilder) {
        let uncompressed = batch.builder.uncompressed_size();
        let builder = std::mem::replace(
            &mut batch.builder,
            BatchBuilder::new(BatchOptions::default()),
        );
        let id = batch.id;
        self.sealed.push_back(Sealed {
            batch,
            built: None,
            building: true,
            uncompressed,
        });
        (id, builder)
    }

    /// The bytes of a batch sealed with [`seal_to_build`](Self::seal_to_build).
    pub(super) fn deposit(&mut self, id: u64, built: Result<BuiltBatch, WeirError>) {
        if let Some(s) = self.sealed.iter_mut().find(|s| s.batch.id == id) {
            s.built = Some(built);
            s.building = false;
        }
    }

    /// Whether the caller should drain the sealed batches: the first can be
    /// appended (it is not being built elsewhere) and nobody drains yet (the
    /// caller becomes the drainer). Whoever builds the first drains after.
    pub(super) fn claim_drain(&mut self) -> bool {
        let drain = self.sealed.front().is_some_and(|s| !s.building) && !self.draining;
        if drain {
            self.draining = true;
        }
        drain
    }
}

/// What [`Inner::append_to_queue`] did with a record.
pub(super) struct Appended {
    pub(super) slot: RecordSlot,
    pub(super) result: Arc<BatchResult>,
    /// Its batch was sealed by size with it.
    pub(super) full: bool,
    /// The caller is the partition's drainer now.
    pub(super) drain: bool,
    /// What the record added to its batch's estimated size.
    pub(super) estimated_bytes: usize,
}

pub(super) struct PartitionState {
    pub(super) log: Arc<PartitionLog>,
    /// The topic's `record-send-total`, registered once.
    pub(super) sent: metrics::Counter,
    pub(super) queue: Mutex<Queue>,
    /// Sequence numbers given to records of batches the log refused (so it
    /// never saw them): later batches are renumbered down by this much
    /// before they are appended, as Kafka's idempotent producer resets a
    /// partition's sequences after a failed batch. Only the drainer uses it.
    pub(super) sequences_lost: AtomicI32,
    /// The topic's estimated compression ratio (shared by its partitions).
    pub(super) compression_ratio: Arc<RatioEstimate>,
}

/// Kafka's `CompressionRatioEstimator` for one topic: how much the records
/// of a batch compress, so that `batch.size` bounds a compressed batch's
/// size, as in Kafka, rather than its records' size before compression. It
/// starts at 1 and follows each batch built: down by at most 0.005 a batch,
/// up at once by at least 0.05.
#[derive(Debug)]
pub(super) struct RatioEstimate(std::sync::atomic::AtomicU32);

impl RatioEstimate {
    /// Kafka's margin over the estimate when it sizes a batch.
    pub(super) const MARGIN: f32 = 1.05;

    pub(super) fn new() -> Self {
        RatioEstimate(std::sync::atomic::AtomicU32::new(1.0f32.to_bits()))
    }

    pub(super) fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// After a batch was built: its records took `compressed` bytes for
    /// `uncompressed` (both without the batch header).
    pub(super) fn observe(&self, compressed: usize, uncompressed: usize) {
        if uncompressed == 0 {
            return;
        }
        let observed = compressed as f32 / uncompressed as f32;
        let current = self.get();
        let next = if observed > current {
            (current + 0.05).max(observed)
        } else if observed < current {
            (current - 0.005).max(observed)
        } else {
            current
        };
        // Racing updates may lose one: the estimate only steers batch sizes.
        self.0.store(next.to_bits(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::{BatchSizing, Compression, RatioEstimate, worst_expansion};

    #[test]
    fn the_room_for_expansion_covers_each_codecs_worst_input() {
        // 200,000 bytes crafted against snappy's matcher (and random for the
        // others), which snappy grows by over 0.6 %.
        let crafted = include_bytes!("../../testdata/snappy-worst-case.bin");
        for codec in [
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Gzip,
        ] {
            for level in [None, Some(1)] {
                let config = match level {
                    Some(l) if codec == Compression::Gzip => {
                        weir_record::CompressionConfig::with_level(codec, l).unwrap()
                    }
                    _ => weir_record::CompressionConfig::new(codec),
                };
                let mut out = Vec::new();
                weir_codec::compress(&config, crafted, &mut out).unwrap();
                let grew = out.len().saturating_sub(crafted.len());
                let room = worst_expansion(config, crafted.len());
                assert!(grew <= room, "{config:?}: grew {grew}, room {room}");
            }
        }
    }

    #[test]
    fn a_batch_has_room_by_kafkas_rule() {
        // Compressing to about a tenth (ratio 0.1 with the 1.05 margin), a
        // 16 KiB batch: a new record counts at its full size, the records
        // already in by the estimate.
        let at = |uncompressed: usize| BatchSizing {
            uncompressed,
            empty: false,
            batch_size: 16_384,
            ratio: 0.105,
            cap: 1_000_000,
        };
        // 61 + 70_000 * 0.105 = 7_411: an 8_000-byte record fits.
        assert!(at(61 + 70_000).has_room_for(8_000));
        // 61 + 80_000 * 0.105 = 8_461: it does not.
        assert!(!at(61 + 80_000).has_room_for(8_000));
        assert!(!at(61 + 80_000).is_full());
        assert!(at(61 + 156_000).is_full());
        // An empty batch takes any record; the cap bounds the records'
        // size before compression whatever the estimate.
        let empty = BatchSizing {
            empty: true,
            ..at(61)
        };
        assert!(empty.has_room_for(5_000_000));
        let capped = BatchSizing {
            cap: 10_000,
            ratio: 0.001,
            ..at(9_000)
        };
        assert!(!capped.has_room_for(1_001));
        assert!(capped.has_room_for(1_000));
        // Without compression the ratio is 1: batch.size counts the bytes.
        let plain = BatchSizing {
            ratio: 1.0,
            ..at(16_000)
        };
        assert!(!plain.has_room_for(385));
        assert!(plain.has_room_for(384));
    }

    #[test]
    fn the_ratio_estimate_moves_as_kafkas() {
        let r = RatioEstimate::new();
        assert_eq!(r.get(), 1.0);
        // Better compression: down by 0.005 a batch at most.
        r.observe(200, 1000);
        assert!((r.get() - 0.995).abs() < 1e-6, "{}", r.get());
        // Worse than the estimate: up at once, by 0.05 at least.
        r.observe(1000, 1000);
        assert!((r.get() - 1.045).abs() < 1e-6, "{}", r.get());
        r.observe(3000, 1000);
        assert!((r.get() - 3.0).abs() < 1e-6, "{}", r.get());
        // A hundred batches that compress to a tenth: from 1 to 0.5.
        let r = RatioEstimate::new();
        for _ in 0..100 {
            r.observe(100, 1000);
        }
        assert!((r.get() - 0.5).abs() < 1e-4, "{}", r.get());
    }
}
