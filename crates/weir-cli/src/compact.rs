//! `weir compact TOPIC`: a forced cleaning pass.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use clap::Args;
use serde_json::json;
use weir::{CleanStats, Cleaner, CleanerConfig};

use crate::{Failure, Format, log_failure, open_data_dir, parse_property};

/// Arguments of `weir compact`.
#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// The topic (its cleanup.policy must include `compact`).
    topic: String,
    /// Only this partition (all of them by default).
    #[arg(long)]
    partition: Option<i32>,
    /// A cleaner property under its Kafka broker name, as KEY=VALUE
    /// (`log.cleaner.dedupe.buffer.size`, `log.cleaner.io.max.bytes.per.second`;
    /// repeatable).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(
    data_dir: &Path,
    args: &CompactArgs,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut config = CleanerConfig::default();
    for p in &args.properties {
        let (k, v) = parse_property(p, "--property")?;
        config
            .set(&k, &v)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let logs = Arc::new(open_data_dir(data_dir)?);
    let topic = logs.topic(&args.topic).map_err(log_failure)?;
    let policy = topic.config().log_config().cleanup_policy;
    if !policy.compact {
        return Err(Failure::Usage(format!(
            "topic {} has cleanup.policy={}: nothing to compact (set cleanup.policy=compact)",
            args.topic,
            if policy.delete { "delete" } else { "none" }
        )));
    }
    let partitions: Vec<i32> = match args.partition {
        Some(p) => {
            topic.partition(p).map_err(log_failure)?;
            vec![p]
        }
        None => topic.partitions().iter().map(|l| l.partition()).collect(),
    };
    let cleaner = Cleaner::new(Arc::clone(&logs), config).map_err(log_failure)?;
    let mut first_error = None;
    for p in partitions {
        match cleaner.clean_partition(&args.topic, p) {
            Ok(stats) => report(out, args.format, &args.topic, p, stats.as_ref())?,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    drop(cleaner);
    let closed = logs.close().map_err(log_failure);
    if let Some(e) = first_error {
        return Err(log_failure(e));
    }
    closed
}

fn report(
    out: &mut impl Write,
    format: Format,
    topic: &str,
    partition: i32,
    stats: Option<&CleanStats>,
) -> Result<(), Failure> {
    match (format, stats) {
        (Format::Text, None) => writeln!(
            out,
            "{topic}-{partition}: nothing to clean (no closed segment is dirty, or none is past min.compaction.lag.ms)"
        )?,
        (Format::Text, Some(s)) => writeln!(
            out,
            "{topic}-{partition}: offsets {}..{} cleaned: {} segment(s) into {}, {} records kept in them ({} dirty records read), {} -> {} bytes in {:.1} ms",
            s.first_dirty_offset,
            s.next_dirty_offset,
            s.segments_cleaned,
            s.segments_written,
            s.records_kept,
            s.records_read,
            s.bytes_read,
            s.bytes_written,
            s.elapsed.as_secs_f64() * 1e3
        )?,
        (Format::Json, stats) => writeln!(
            out,
            "{}",
            json!({
                "topic": topic,
                "partition": partition,
                "cleaned": stats.is_some(),
                "stats": stats.map(stats_json),
            })
        )?,
    }
    Ok(())
}

/// A clean's figures as JSON (also used by `topics describe`).
pub(crate) fn stats_json(s: &CleanStats) -> serde_json::Value {
    json!({
        "first_dirty_offset": s.first_dirty_offset,
        "next_dirty_offset": s.next_dirty_offset,
        "dirty_ratio": s.dirty_ratio,
        "segments_cleaned": s.segments_cleaned,
        "segments_written": s.segments_written,
        "bytes_read": s.bytes_read,
        "bytes_written": s.bytes_written,
        "records_read": s.records_read,
        "records_kept": s.records_kept,
        "keys": s.keys,
        "map_bytes": s.map_bytes,
        "elapsed_ms": s.elapsed.as_secs_f64() * 1e3,
    })
}
