//! `weir topics create|list|describe|delete`.

use std::io::Write;
use std::path::Path;

use std::sync::Arc;

use serde_json::json;
use weir::{Cleaner, CleanerConfig, PartitionCleaning};
use weir_log::{LogDir, Topic};

use crate::compact::stats_json;
use crate::{Failure, Format, log_failure, open_data_dir, parse_property};

pub(crate) fn create(
    data_dir: &Path,
    name: &str,
    partitions: u32,
    configs: &[String],
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let props: Vec<(String, String)> = configs
        .iter()
        .map(|c| parse_property(c, "--config"))
        .collect::<Result<_, _>>()?;
    let refs: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Through the admin client, which first finishes an unfinished delete
    // of a topic of the name (its groups' offsets, its cleaner checkpoint).
    let weir = crate::client::open(data_dir)?;
    weir.admin()
        .create_topic(name, partitions, &refs)
        .map_err(crate::client::failure)?;
    let topic = weir.log_dir().topic(name).map_err(log_failure)?;
    match format {
        Format::Text => writeln!(
            out,
            "Created topic {} with {} partition(s), id {}",
            topic.name(),
            topic.partition_count(),
            topic.topic_id()
        )?,
        Format::Json => writeln!(
            out,
            "{}",
            json!({"topic": topic.name(), "partition_count": topic.partition_count(), "topic_id": topic.topic_id()})
        )?,
    }
    drop(topic);
    weir.close().map_err(crate::client::failure)
}

pub(crate) fn list(data_dir: &Path, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    let logs = open_data_dir(data_dir)?;
    for t in logs.topics() {
        match format {
            Format::Text => writeln!(out, "{}", t.name())?,
            Format::Json => writeln!(
                out,
                "{}",
                json!({"topic": t.name(), "partition_count": t.partition_count(), "topic_id": t.topic_id(), "internal": t.is_internal()})
            )?,
        }
    }
    close(logs)
}

pub(crate) fn describe(
    data_dir: &Path,
    name: &str,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let logs = Arc::new(open_data_dir(data_dir)?);
    let topic = logs.topic(name).map_err(log_failure)?;
    let cleaner = Cleaner::new(Arc::clone(&logs), CleanerConfig::default()).map_err(log_failure)?;
    let cleaning: Vec<PartitionCleaning> = topic
        .partitions()
        .iter()
        .map(|log| cleaner.partition_state(name, log.partition()))
        .collect::<Result<_, _>>()
        .map_err(log_failure)?;
    drop(cleaner);
    match format {
        Format::Text => describe_text(&topic, &cleaning, out)?,
        Format::Json => writeln!(out, "{}", describe_json(&topic, &cleaning))?,
    }
    logs.close().map_err(log_failure)
}

/// When a partition was last compacted, for people.
fn last_clean_text(c: &PartitionCleaning, now_ms: i64) -> String {
    match c.last_clean_ms {
        None => "never".to_string(),
        Some(t) => {
            let ago = now_ms.saturating_sub(t).max(0) / 1000;
            format!("{}s ago", ago)
        }
    }
}

fn describe_text(
    topic: &Topic,
    cleaning: &[PartitionCleaning],
    out: &mut impl Write,
) -> Result<(), Failure> {
    writeln!(
        out,
        "Topic: {}\tTopicId: {}\tPartitionCount: {}",
        topic.name(),
        topic.topic_id(),
        topic.partition_count()
    )?;
    let config = topic.config();
    let overrides: Vec<String> = config
        .overrides()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    writeln!(out, "\tConfigs: {}", overrides.join(","))?;
    writeln!(
        out,
        "\t{:<10} {:>14} {:>14} {:>14} {:>9} {:>14} {:>10} {:>12}",
        "Partition",
        "StartOffset",
        "EndOffset",
        "RecoveryPoint",
        "Segments",
        "SizeBytes",
        "DirtyRatio",
        "LastClean"
    )?;
    for (log, c) in topic.partitions().iter().zip(cleaning) {
        writeln!(
            out,
            "\t{:<10} {:>14} {:>14} {:>14} {:>9} {:>14} {:>10.3} {:>12}",
            log.partition(),
            log.log_start_offset(),
            log.log_end_offset(),
            log.recovery_point(),
            log.segments().len(),
            log.size_bytes(),
            c.dirty_ratio,
            last_clean_text(c, log.clock().now_ms())
        )?;
    }
    writeln!(out, "\tAll configs:")?;
    for (key, value, set) in config.describe() {
        let source = if set { "topic" } else { "default" };
        writeln!(out, "\t  {key}={value} ({source})")?;
    }
    Ok(())
}

fn describe_json(topic: &Topic, cleaning: &[PartitionCleaning]) -> serde_json::Value {
    let config = topic.config();
    let partitions: Vec<_> = topic
        .partitions()
        .iter()
        .zip(cleaning)
        .map(|(log, c)| {
            json!({
                "partition": log.partition(),
                "log_start_offset": log.log_start_offset(),
                "log_end_offset": log.log_end_offset(),
                "high_watermark": log.high_watermark(),
                "recovery_point": log.recovery_point(),
                "size_bytes": log.size_bytes(),
                "segments": log.segments().iter().map(|s| json!({
                    "base_offset": s.base_offset,
                    "last_offset": s.last_offset,
                    "size_bytes": s.size_bytes,
                    "max_timestamp": s.max_timestamp,
                    "active": s.is_active,
                })).collect::<Vec<_>>(),
                "cleaner": {
                    "first_dirty_offset": c.first_dirty_offset,
                    "dirty_ratio": c.dirty_ratio,
                    "last_clean_ms": c.last_clean_ms,
                    "last_clean": c.last_clean.as_ref().map(stats_json),
                },
            })
        })
        .collect();
    let configs: serde_json::Map<String, serde_json::Value> = config
        .describe()
        .into_iter()
        .map(|(k, v, set)| {
            (
                k.to_string(),
                json!({"value": v, "source": if set { "topic" } else { "default" }}),
            )
        })
        .collect();
    json!({
        "topic": topic.name(),
        "topic_id": topic.topic_id(),
        "internal": topic.is_internal(),
        "partitions": partitions,
        "configs": configs,
    })
}

pub(crate) fn delete(
    data_dir: &Path,
    name: &str,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // Through the admin client, which also deletes the groups' committed
    // offsets for the topic.
    let weir = crate::client::open(data_dir)?;
    weir.admin()
        .delete_topic(name)
        .map_err(crate::client::failure)?;
    match format {
        Format::Text => writeln!(out, "Deleted topic {name}")?,
        Format::Json => writeln!(out, "{}", json!({"deleted": name}))?,
    }
    weir.close().map_err(crate::client::failure)
}

pub(crate) fn set_id(
    data_dir: &Path,
    name: &str,
    id: &str,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let logs = open_data_dir(data_dir)?;
    let set = logs.set_topic_id(name, id).map_err(log_failure);
    if set.is_ok() {
        let partitions = logs.topic(name).map_err(log_failure)?.partition_count();
        match format {
            Format::Text => writeln!(
                out,
                "Topic {name}: id {id} written to its {partitions} partition(s)"
            )?,
            Format::Json => writeln!(
                out,
                "{}",
                json!({"topic": name, "topic_id": id, "partition_count": partitions})
            )?,
        }
    }
    let closed = close(logs);
    set.and(closed)
}

pub(crate) fn close(logs: LogDir) -> Result<(), Failure> {
    logs.close().map_err(log_failure)
}
