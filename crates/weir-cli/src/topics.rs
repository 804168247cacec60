//! `weir topics create|list|describe|delete`.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use weir_log::{LogDir, Topic};

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
    let logs = open_data_dir(data_dir)?;
    let topic = logs
        .create_topic(name, partitions, &refs)
        .map_err(log_failure)?;
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
            json!({"topic": topic.name(), "partitions": topic.partition_count(), "topic_id": topic.topic_id()})
        )?,
    }
    close(logs)
}

pub(crate) fn list(data_dir: &Path, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    let logs = open_data_dir(data_dir)?;
    for t in logs.topics() {
        match format {
            Format::Text => writeln!(out, "{}", t.name())?,
            Format::Json => writeln!(
                out,
                "{}",
                json!({"topic": t.name(), "partitions": t.partition_count(), "topic_id": t.topic_id(), "internal": t.is_internal()})
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
    let logs = open_data_dir(data_dir)?;
    let topic = logs.topic(name).map_err(log_failure)?;
    match format {
        Format::Text => describe_text(&topic, out)?,
        Format::Json => writeln!(out, "{}", describe_json(&topic))?,
    }
    close(logs)
}

fn describe_text(topic: &Topic, out: &mut impl Write) -> Result<(), Failure> {
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
        "\t{:<10} {:>14} {:>14} {:>14} {:>9} {:>14}",
        "Partition", "StartOffset", "EndOffset", "RecoveryPoint", "Segments", "SizeBytes"
    )?;
    for log in topic.partitions() {
        writeln!(
            out,
            "\t{:<10} {:>14} {:>14} {:>14} {:>9} {:>14}",
            log.partition(),
            log.log_start_offset(),
            log.log_end_offset(),
            log.recovery_point(),
            log.segments().len(),
            log.size_bytes()
        )?;
    }
    writeln!(out, "\tAll configs:")?;
    for (key, value, set) in config.describe() {
        let source = if set { "topic" } else { "default" };
        writeln!(out, "\t  {key}={value} ({source})")?;
    }
    Ok(())
}

fn describe_json(topic: &Topic) -> serde_json::Value {
    let config = topic.config();
    let partitions: Vec<_> = topic
        .partitions()
        .iter()
        .map(|log| {
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
    let logs = open_data_dir(data_dir)?;
    logs.delete_topic(name).map_err(log_failure)?;
    match format {
        Format::Text => writeln!(out, "Deleted topic {name}")?,
        Format::Json => writeln!(out, "{}", json!({"deleted": name}))?,
    }
    close(logs)
}

pub(crate) fn close(logs: LogDir) -> Result<(), Failure> {
    logs.close().map_err(log_failure)
}
