//! `weir topics alter|offsets|delete-records`: the admin operations on a
//! topic that Kafka's `kafka-topics --alter`, `kafka-configs --alter`,
//! `kafka-get-offsets` and `kafka-delete-records` perform, through Weir's
//! [`Admin`](weir::Admin).

use std::io::Write;
use std::path::Path;

use serde_json::json;
use weir::{OffsetSpec, TopicPartition, Weir};

use crate::client::{failure, open};
use crate::{Failure, Format, parse_property};

/// What `weir topics alter` changes.
#[derive(Debug)]
pub(crate) struct Alteration<'a> {
    /// The new partition count, when it grows.
    pub(crate) partitions: Option<u32>,
    /// `KEY=VALUE` overrides to set.
    pub(crate) add_configs: &'a [String],
    /// Override keys to remove (back to the default).
    pub(crate) delete_configs: &'a [String],
}

/// Alters a topic's configs (all or nothing) and then its partition count.
/// The partition count is checked before anything changes, so a count that
/// does not grow, or a count for an internal topic (whose count is fixed),
/// leaves the configs alone too.
pub(crate) fn alter(
    data_dir: &Path,
    name: &str,
    change: &Alteration<'_>,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    if change.partitions.is_none()
        && change.add_configs.is_empty()
        && change.delete_configs.is_empty()
    {
        return Err(Failure::Usage(
            "nothing to alter: give --partitions, --add-config or --delete-config".into(),
        ));
    }
    let set: Vec<(String, String)> = change
        .add_configs
        .iter()
        .map(|c| parse_property(c, "--add-config"))
        .collect::<Result<_, _>>()?;
    let weir = open(data_dir)?;
    let result = alter_open(&weir, name, change, &set);
    let closed = weir.close().map_err(failure);
    let (before, after) = result?;
    closed?;
    let deleted: Vec<&str> = change.delete_configs.iter().map(String::as_str).collect();
    match format {
        Format::Text => {
            let mut parts = Vec::new();
            if after != before {
                parts.push(format!("partitions {before} -> {after}"));
            }
            for (k, v) in &set {
                parts.push(format!("set {k}={v}"));
            }
            for k in &deleted {
                parts.push(format!("deleted {k}"));
            }
            writeln!(out, "Altered topic {name}: {}", parts.join("; "))?;
        }
        Format::Json => {
            let set: serde_json::Map<String, serde_json::Value> =
                set.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            writeln!(
                out,
                "{}",
                json!({
                    "topic": name,
                    "partition_count_before": before,
                    "partition_count": after,
                    "set": set,
                    "deleted": deleted,
                })
            )?;
        }
    }
    Ok(())
}

/// The alteration on an open data directory: the partition counts before and
/// after.
fn alter_open(
    weir: &Weir,
    name: &str,
    change: &Alteration<'_>,
    set: &[(String, String)],
) -> Result<(u32, u32), Failure> {
    let admin = weir.admin();
    let topic = weir.log_dir().topic(name).map_err(|e| failure(e.into()))?;
    let before = topic.partition_count();
    // Everything is checked before anything changes.
    if let Some(n) = change.partitions {
        if topic.is_internal() {
            // As `create_partitions` refuses it, but before the configs change.
            return Err(Failure::Usage(format!(
                "--partitions {n}: the partition count of internal topic {name} cannot be changed (groups are placed by a hash over it)"
            )));
        }
        if n <= before {
            return Err(Failure::Usage(format!(
                "topic {name} has {before} partition(s): --partitions {n} must be more (partitions cannot be removed, as in Kafka)"
            )));
        }
        if n > weir_log::MAX_PARTITIONS {
            return Err(Failure::Usage(format!(
                "--partitions {n}: a topic has at most {} partitions",
                weir_log::MAX_PARTITIONS
            )));
        }
    }
    if let Some((k, _)) = set.iter().find(|(k, _)| change.delete_configs.contains(k)) {
        return Err(Failure::Usage(format!(
            "{k} is both in --add-config and in --delete-config"
        )));
    }
    if !change.delete_configs.is_empty() {
        let overrides: Vec<String> = admin
            .describe_config(name)
            .map_err(failure)?
            .into_iter()
            .filter(|c| !c.is_default)
            .map(|c| c.name)
            .collect();
        let missing: Vec<&str> = change
            .delete_configs
            .iter()
            .filter(|k| !overrides.contains(k))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            // As kafka-configs: only an override can be deleted.
            return Err(Failure::Usage(format!(
                "invalid --delete-config: {name} has no override for {}",
                missing.join(", ")
            )));
        }
    }
    if !set.is_empty() || !change.delete_configs.is_empty() {
        let set: Vec<(&str, &str)> = set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let delete: Vec<&str> = change.delete_configs.iter().map(String::as_str).collect();
        admin.alter_config(name, &set, &delete).map_err(failure)?;
    }
    let after = match change.partitions {
        Some(n) => {
            admin.create_partitions(name, n).map_err(failure)?;
            n
        }
        None => before,
    };
    Ok((before, after))
}

/// Parses `--time` as `kafka-get-offsets` does: `latest`/`-1`,
/// `earliest`/`-2`, `max-timestamp`/`-3`, `earliest-local`/`-4`,
/// `latest-tiered`/`-5`, or a timestamp in ms. Without tiered storage every
/// record is local: `earliest-local` is the log start, and `latest-tiered`
/// has no offset (`None`: nothing is printed, as Kafka prints nothing).
pub(crate) fn parse_time(text: &str) -> Result<Option<OffsetSpec>, Failure> {
    match text {
        "latest" | "-1" => Ok(Some(OffsetSpec::Latest)),
        "earliest" | "-2" | "earliest-local" | "-4" => Ok(Some(OffsetSpec::Earliest)),
        "max-timestamp" | "-3" => Ok(Some(OffsetSpec::MaxTimestamp)),
        "latest-tiered" | "-5" => Ok(None),
        other => match other.parse::<i64>() {
            Ok(ts) if ts >= 0 => Ok(Some(OffsetSpec::ForTimestamp(ts))),
            _ => Err(Failure::Usage(format!(
                "--time {other:?} is not latest (-1), earliest (-2), max-timestamp (-3), earliest-local (-4), latest-tiered (-5) or a timestamp in ms"
            ))),
        },
    }
}

/// The topic's partition count (an unknown topic is an error naming it).
fn partition_count(weir: &Weir, name: &str) -> Result<u32, Failure> {
    let topic = weir.log_dir().topic(name).map_err(|e| failure(e.into()))?;
    Ok(topic.partition_count())
}

/// The partitions of `name` a command works on: `partition` alone (checked
/// to exist) or every one.
fn partitions_of(
    weir: &Weir,
    name: &str,
    partition: Option<i32>,
) -> Result<Vec<TopicPartition>, Failure> {
    let count = partition_count(weir, name)?;
    match partition {
        Some(p) if p < 0 || p as u32 >= count => Err(Failure::Usage(format!(
            "topic {name} has no partition {p} (it has {count}: 0..={})",
            count.saturating_sub(1)
        ))),
        Some(p) => Ok(vec![TopicPartition::new(name, p)]),
        None => Ok((0..count as i32)
            .map(|p| TopicPartition::new(name, p))
            .collect()),
    }
}

/// Prints each partition's offset for `spec`, as `kafka-get-offsets` does
/// (`topic:partition:offset`); a partition with no record at or after a
/// timestamp is left out in text (as Kafka does) and has a null offset in json.
pub(crate) fn offsets(
    data_dir: &Path,
    name: &str,
    partition: Option<i32>,
    spec: Option<OffsetSpec>,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let weir = open(data_dir)?;
    let listed = partitions_of(&weir, name, partition).and_then(|tps| match spec {
        Some(spec) => {
            let query: Vec<(TopicPartition, OffsetSpec)> =
                tps.into_iter().map(|tp| (tp, spec)).collect();
            weir.admin().list_offsets(&query).map_err(failure)
        }
        // latest-tiered: no partition has an offset.
        None => Ok(tps
            .into_iter()
            .map(|tp| {
                let none = weir::ListedOffset {
                    offset: -1,
                    timestamp: -1,
                    leader_epoch: None,
                };
                (tp, none)
            })
            .collect()),
    });
    let closed = weir.close().map_err(failure);
    let listed = listed?;
    closed?;
    for (tp, found) in listed {
        let known = found.offset >= 0;
        match format {
            Format::Text if known => {
                writeln!(out, "{}:{}:{}", tp.topic, tp.partition, found.offset)?;
            }
            Format::Text => {}
            Format::Json => writeln!(
                out,
                "{}",
                json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": known.then_some(found.offset),
                    "timestamp": (found.timestamp >= 0).then_some(found.timestamp),
                    "leader_epoch": found.leader_epoch.filter(|e| *e >= 0),
                })
            )?,
        }
    }
    Ok(())
}

/// Deletes records below `before` (`-1`: every record) in one partition or
/// all, as `kafka-delete-records` does, printing each partition's new low
/// watermark. A partition that fails is reported on stderr and the others go
/// on; the command then exits 2.
pub(crate) fn delete_records(
    data_dir: &Path,
    name: &str,
    partition: Option<i32>,
    before: i64,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    if before < -1 {
        return Err(Failure::Usage(format!(
            "--before {before}: give an offset, or -1 for every record"
        )));
    }
    let weir = open(data_dir)?;
    let result = partitions_of(&weir, name, partition).and_then(|tps| {
        let mut failed = Vec::new();
        for tp in tps {
            match weir.admin().delete_records(&tp, before) {
                Ok(low) => match format {
                    Format::Text => writeln!(
                        out,
                        "partition: {}-{}\tlow_watermark: {low}",
                        tp.topic, tp.partition
                    )?,
                    Format::Json => writeln!(
                        out,
                        "{}",
                        json!({"topic": tp.topic, "partition": tp.partition, "low_watermark": low})
                    )?,
                },
                Err(e) => {
                    // In order with what was printed; the error names the
                    // partition. JSON lists the partition too, with its
                    // error, as kafka-delete-records lists every partition.
                    if format == Format::Json {
                        writeln!(
                            out,
                            "{}",
                            json!({"topic": tp.topic, "partition": tp.partition, "error": e.to_string()})
                        )?;
                    }
                    out.flush()?;
                    eprintln!("weir: {e}");
                    failed.push(tp.partition);
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Failure::Usage(format!(
                "records of {name} partition(s) {failed:?} were not deleted (see above)"
            )))
        }
    });
    let closed = weir.close().map_err(failure);
    result?;
    closed
}
