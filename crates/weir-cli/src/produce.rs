//! `weir produce`: append stdin lines to a topic.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::num::NonZeroU32;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use weir_log::PartitionLog;
use weir_partition::{BuiltInPartitioner, Partitioner};
use weir_record::{BatchBuilder, BatchOptions, Record};

use crate::{Failure, Format, log_failure, open_data_dir, topics};

/// `--acks`: how far an append must get before the next batch is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Acks {
    /// Queued: returned without waiting.
    #[value(name = "0")]
    Zero,
    /// Written to the OS.
    #[value(name = "1")]
    One,
    /// fsynced.
    All,
}

pub(crate) struct ProduceArgs<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: Option<i32>,
    pub(crate) key_separator: Option<&'a str>,
    pub(crate) acks: Acks,
    pub(crate) batch_size: usize,
    pub(crate) format: Format,
}

struct Pending {
    builder: BatchBuilder,
}

#[derive(Default)]
struct Stats {
    records: u64,
    batches: u64,
    first_offset: Option<i64>,
    last_offset: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn run(
    data_dir: &Path,
    args: &ProduceArgs<'_>,
    input: &mut BufReader<impl Read>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let logs = open_data_dir(data_dir)?;
    let topic = logs.topic(args.topic).map_err(log_failure)?;
    let partitions = topic.partitions();
    let count = NonZeroU32::new(topic.partition_count())
        .ok_or_else(|| Failure::Usage(format!("topic {} has no partitions", args.topic)))?;
    if let Some(p) = args.partition {
        topic.partition(p).map_err(log_failure)?;
    }
    let partitioner = BuiltInPartitioner::new(args.batch_size);
    let mut pending: BTreeMap<usize, Pending> = BTreeMap::new();
    let mut stats: BTreeMap<usize, Stats> = BTreeMap::new();
    let mut line = String::new();
    loop {
        // No whole line buffered: the next read may block, so send what is
        // pending first. Lines typed at a terminal are appended at once while
        // piped input still fills batches.
        if !input.buffer().contains(&b'\n') {
            send_all(&partitions, &mut pending, &mut stats, args.acks)?;
        }
        line.clear();
        if input.read_line(&mut line).map_err(io_failure)? == 0 {
            break;
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let (key, value) = match args.key_separator {
            Some(sep) => match text.split_once(sep) {
                Some((k, v)) => (Some(k.as_bytes()), v.as_bytes()),
                None => {
                    return Err(Failure::Usage(format!(
                        "line {:?} has no key separator {sep:?}",
                        truncate(text)
                    )));
                }
            },
            None => (None, text.as_bytes()),
        };
        let p = match args.partition {
            Some(p) => usize::try_from(p).unwrap_or(0),
            None => partitioner.partition(args.topic, key, Some(value), count) as usize,
        };
        let mut record = Record::new(value.to_vec()).with_timestamp(now_ms());
        if let Some(k) = key {
            record = record.with_key(k.to_vec());
        }
        let slot = pending.entry(p).or_insert_with(|| Pending {
            builder: BatchBuilder::new(BatchOptions::default()),
        });
        slot.builder
            .append(&record)
            .map_err(|e| Failure::Usage(e.to_string()))?;
        let full = slot.builder.uncompressed_size() >= args.batch_size;
        partitioner.on_append(args.topic, key, p as u32, record_size(&record), full);
        if full && let Some(slot) = pending.remove(&p) {
            send(&partitions, p, slot, &mut stats, args.acks)?;
        }
    }
    send_all(&partitions, &mut pending, &mut stats, args.acks)?;
    let records: u64 = stats.values().map(|s| s.records).sum();
    let batches: u64 = stats.values().map(|s| s.batches).sum();
    match args.format {
        Format::Text => {
            eprintln!(
                "weir: produced {records} record(s) in {batches} batch(es) to {}",
                args.topic
            );
        }
        Format::Json => {
            let per: serde_json::Map<String, serde_json::Value> = stats
                .iter()
                .map(|(p, s)| {
                    (
                        p.to_string(),
                        json!({"records": s.records, "first_offset": s.first_offset, "last_offset": s.last_offset}),
                    )
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({"topic": args.topic, "records": records, "batches": batches, "partitions": per})
            )?;
        }
    }
    topics::close(logs)
}

fn record_size(record: &Record) -> usize {
    record.value.as_ref().map_or(0, |v| v.len()) + record.key.as_ref().map_or(0, |k| k.len()) + 8
}

fn truncate(text: &str) -> String {
    text.chars().take(60).collect()
}

fn io_failure(e: std::io::Error) -> Failure {
    Failure::Usage(format!("reading stdin: {e}"))
}

fn send_all(
    partitions: &[std::sync::Arc<PartitionLog>],
    pending: &mut BTreeMap<usize, Pending>,
    stats: &mut BTreeMap<usize, Stats>,
    acks: Acks,
) -> Result<(), Failure> {
    for (p, slot) in std::mem::take(pending) {
        send(partitions, p, slot, stats, acks)?;
    }
    Ok(())
}

fn send(
    partitions: &[std::sync::Arc<PartitionLog>],
    p: usize,
    slot: Pending,
    stats: &mut BTreeMap<usize, Stats>,
    acks: Acks,
) -> Result<(), Failure> {
    if slot.builder.is_empty() {
        return Ok(());
    }
    let log = partitions
        .get(p)
        .ok_or_else(|| Failure::Usage(format!("no partition {p}")))?;
    let records = slot.builder.len() as u64;
    let batch = slot
        .builder
        .build()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let info = log.append(batch).map_err(log_failure)?;
    if acks == Acks::All {
        log.flush_until(info.last_offset + 1).map_err(log_failure)?;
    }
    let s = stats.entry(p).or_default();
    s.records += records;
    s.batches += 1;
    s.first_offset.get_or_insert(info.base_offset);
    s.last_offset = info.last_offset;
    Ok(())
}
