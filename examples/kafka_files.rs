//! Orders keyed by customer, partitioned as the Java client would, written as
//! Kafka partition directories, verified, and read back with an integrity check.
//!
//! ```sh
//! cargo run --release -p weir-examples --example kafka_files            # temp dir
//! cargo run --release -p weir-examples --example kafka_files -- out/    # keep the files
//! weir dump --format json out/orders-0 | head                          # then inspect them
//! ```
//!
//! This writes segments by hand to show how the formats fit together: batches
//! stamped with offsets, a sparse `.index` entry every `index.interval.bytes`,
//! a `.timeindex` entry whenever the max timestamp grows, segments rolled at
//! `segment.bytes`. The segment log (`weir-log`'s `PartitionLog`, next) does
//! all of this for you, durably.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use weir_codec::{Compression, CompressionConfig};
use weir_log::index::{encode_offset_index_entry, encode_time_index_entry};
use weir_log::paths::list_segments;
use weir_log::segment_file::{INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, segment_file_name};
use weir_partition::{BuiltInPartitioner, Partitioner};
use weir_record::{BatchBuilder, BatchIter, BatchOptions, Record, RecordBatch, RecordBatchMut};

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 3;
const ORDERS: usize = 50_000;
/// Kafka's producer `batch.size` default.
const BATCH_SIZE: usize = 16 * 1024;
/// Small segments so the demo rolls a few (Kafka's default is 1 GiB).
const SEGMENT_BYTES: u64 = 512 * 1024;
/// Kafka's `index.interval.bytes` default.
const INDEX_INTERVAL_BYTES: u64 = 4096;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let tmp;
    let root: PathBuf = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    fs::create_dir_all(&root)?;
    println!(
        "writing topic {TOPIC:?} with {PARTITIONS} partitions under {}",
        root.display()
    );

    // 1. Produce: partition by key with Kafka's murmur2, batch per partition, lz4.
    let started = Instant::now();
    let partitioner = BuiltInPartitioner::new(BATCH_SIZE);
    let count = NonZeroU32::new(PARTITIONS).ok_or("no partitions")?;
    let mut writers: Vec<PartitionWriter> = (0..PARTITIONS)
        .map(|p| PartitionWriter::create(&root.join(format!("{TOPIC}-{p}"))))
        .collect::<Result<_, _>>()?;
    let mut builders: Vec<BatchBuilder> = (0..PARTITIONS).map(|_| new_builder()).collect();
    let mut produced = Checksums::default();
    let mut bytes_in = 0usize;
    for order in orders(ORDERS) {
        let key = order.key.as_deref().unwrap_or_default();
        let p = partitioner.partition(TOPIC, Some(key), order.value.as_deref(), count) as usize;
        let builder = builders
            .get_mut(p)
            .ok_or("partitioner answered out of range")?;
        produced.add(p, &order);
        bytes_in += order.value.as_ref().map_or(0, Bytes::len);
        builder.append(&order)?;
        if builder.uncompressed_size() >= BATCH_SIZE {
            let full = std::mem::replace(builder, new_builder());
            writers
                .get_mut(p)
                .ok_or("no writer")?
                .append(full.build()?)?;
        }
    }
    for (p, builder) in builders.into_iter().enumerate() {
        if !builder.is_empty() {
            writers
                .get_mut(p)
                .ok_or("no writer")?
                .append(builder.build()?)?;
        }
    }
    let mut batches = 0;
    for w in writers {
        batches += w.close()?;
    }
    let write_time = started.elapsed();
    println!(
        "produced {ORDERS} orders ({:.1} MB of values) in {batches} lz4 batches: {:.0} records/s",
        bytes_in as f64 / 1e6,
        ORDERS as f64 / write_time.as_secs_f64()
    );

    // 2. Verify every CRC, record, offset and index entry.
    let report = weir_log::verify_path(&root)?;
    for p in &report.partitions {
        let segments = &p.segments;
        let records: u64 = segments.iter().map(|s| s.records).sum();
        let size: u64 = segments.iter().map(|s| s.size).sum();
        let index: usize = segments.iter().map(|s| s.index_entries).sum();
        println!(
            "verified {}: {} segments, {records} records, {size} bytes, {index} index entries",
            p.dir.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            segments.len()
        );
    }

    // 3. Read everything back and check it is exactly what was produced.
    let started = Instant::now();
    let mut consumed = Checksums::default();
    for p in 0..PARTITIONS as usize {
        let dir = root.join(format!("{TOPIC}-{p}"));
        let mut last_offset_per_key: HashMap<Bytes, i64> = HashMap::new();
        for (_, log) in list_segments(&dir)? {
            for item in BatchIter::new(Bytes::from(fs::read(&log)?)) {
                let batch = item?.batch;
                for record in &batch.records()? {
                    let record = record?;
                    let key = record.key_bytes().ok_or("a record lost its key")?;
                    // Per-key order: a customer's orders come back in the order sent.
                    if let Some(prev) = last_offset_per_key.insert(key, record.offset()) {
                        assert!(prev < record.offset());
                    }
                    consumed.add(p, &record.to_record());
                }
            }
        }
    }
    let read_time = started.elapsed();
    println!(
        "read back {} records: {:.0} records/s",
        consumed.records,
        consumed.records as f64 / read_time.as_secs_f64()
    );
    for p in 0..PARTITIONS as usize {
        let (a, b) = (
            produced.per_partition.get(&p),
            consumed.per_partition.get(&p),
        );
        println!("partition {p}: produced {a:?}, read {b:?}");
        if a != b {
            return Err(format!("partition {p} does not read back what was written").into());
        }
    }
    println!("integrity: every partition reads back exactly what was written, in order");
    Ok(())
}

fn new_builder() -> BatchBuilder {
    BatchBuilder::with_capacity(
        BatchOptions {
            compression: CompressionConfig::new(Compression::Lz4),
            ..BatchOptions::default()
        },
        BATCH_SIZE,
    )
}

/// Order events: ~170-byte JSON values keyed by customer, 1 ms apart.
fn orders(n: usize) -> impl Iterator<Item = Record> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    (0..n).map(move |i| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let customer = seed % 5_000;
        let value = format!(
            "{{\"order_id\":\"ord-{i:08}\",\"customer\":\"cust-{customer:05}\",\"sku\":\"sku-{:04}\",\"qty\":{},\"amount\":{}.{:02},\"currency\":\"EUR\"}}",
            (seed >> 20) % 10_000,
            (seed >> 34) % 9 + 1,
            (seed >> 38) % 900 + 10,
            (seed >> 48) % 100,
        );
        Record::new(value)
            .with_key(format!("cust-{customer:05}"))
            .with_timestamp(1_735_689_600_000 + i as i64)
    })
}

/// Per partition: record count and an order-sensitive checksum of keys and values.
#[derive(Default)]
struct Checksums {
    records: u64,
    per_partition: HashMap<usize, (u64, u32)>,
}

impl Checksums {
    fn add(&mut self, partition: usize, r: &Record) {
        self.records += 1;
        let entry = self.per_partition.entry(partition).or_insert((0, 0));
        let mut h = fnv_mix(entry.1, r.key.as_deref().unwrap_or_default());
        h = fnv_mix(h, r.value.as_deref().unwrap_or_default());
        *entry = (entry.0 + 1, h);
    }
}

/// A cheap order-sensitive mix (FNV-1a over the running value and the bytes).
fn fnv_mix(seed: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(seed ^ 0x811C_9DC5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Writes one partition directory as Kafka lays it out.
struct PartitionWriter {
    dir: PathBuf,
    next_offset: i64,
    segment: Option<Segment>,
    batches: usize,
}

struct Segment {
    base_offset: i64,
    log: fs::File,
    size: u64,
    index: Vec<u8>,
    time_index: Vec<u8>,
    bytes_since_index_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    last_time_index_timestamp: i64,
}

impl PartitionWriter {
    fn create(dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(dir)?;
        // One leader, epoch 0, from offset 0.
        fs::write(dir.join("leader-epoch-checkpoint"), "0\n1\n0 0\n")?;
        Ok(PartitionWriter {
            dir: dir.to_path_buf(),
            next_offset: 0,
            segment: None,
            batches: 0,
        })
    }

    fn append(&mut self, batch: Bytes) -> Result<(), Error> {
        let mut bytes = batch.to_vec();
        let mut stamp = RecordBatchMut::new(&mut bytes)?;
        stamp.set_base_offset(self.next_offset);
        stamp.set_partition_leader_epoch(0);
        let batch = RecordBatch::new(Bytes::from(bytes))?;
        let size = batch.size() as u64;
        if self
            .segment
            .as_ref()
            .is_some_and(|s| s.size + size > SEGMENT_BYTES)
        {
            self.roll()?;
        }
        let segment = match &mut self.segment {
            Some(s) => s,
            None => self
                .segment
                .insert(Segment::open(&self.dir, self.next_offset)?),
        };
        segment.append(&batch)?;
        self.next_offset = batch.next_offset();
        self.batches += 1;
        Ok(())
    }

    fn roll(&mut self) -> Result<(), Error> {
        if let Some(segment) = self.segment.take() {
            segment.close(&self.dir)?;
        }
        Ok(())
    }

    fn close(mut self) -> Result<usize, Error> {
        self.roll()?;
        Ok(self.batches)
    }
}

impl Segment {
    fn open(dir: &Path, base_offset: i64) -> Result<Self, Error> {
        Ok(Segment {
            base_offset,
            log: fs::File::create(dir.join(segment_file_name(base_offset, LOG_SUFFIX)))?,
            size: 0,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            last_time_index_timestamp: -1,
        })
    }

    fn append(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        if batch.max_timestamp() > self.max_timestamp {
            self.max_timestamp = batch.max_timestamp();
            self.offset_of_max_timestamp = batch.last_offset();
        }
        // Kafka indexes an append only when more than index.interval.bytes were
        // written since the last entry (so never the first batch).
        if self.bytes_since_index_entry > INDEX_INTERVAL_BYTES {
            let relative = i32::try_from(batch.last_offset() - self.base_offset)?;
            encode_offset_index_entry(relative, u32::try_from(self.size)?, &mut self.index);
            self.maybe_time_index_entry()?;
            self.bytes_since_index_entry = 0;
        }
        self.log.write_all(batch.as_bytes())?;
        self.size += batch.size() as u64;
        self.bytes_since_index_entry += batch.size() as u64;
        Ok(())
    }

    fn maybe_time_index_entry(&mut self) -> Result<(), Error> {
        if self.max_timestamp > self.last_time_index_timestamp {
            let relative = i32::try_from(self.offset_of_max_timestamp - self.base_offset)?;
            encode_time_index_entry(self.max_timestamp, relative, &mut self.time_index);
            self.last_time_index_timestamp = self.max_timestamp;
        }
        Ok(())
    }

    fn close(mut self, dir: &Path) -> Result<(), Error> {
        // On close Kafka adds the segment's max timestamp to the time index.
        self.maybe_time_index_entry()?;
        self.log.sync_all()?;
        fs::write(
            dir.join(segment_file_name(self.base_offset, INDEX_SUFFIX)),
            &self.index,
        )?;
        fs::write(
            dir.join(segment_file_name(self.base_offset, TIME_INDEX_SUFFIX)),
            &self.time_index,
        )?;
        Ok(())
    }
}
