//! `weir groups list|describe|reset-offsets|delete-offsets|delete`, like
//! Kafka's `kafka-consumer-groups`.

use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::json;
use weir::{ResetSpec, TopicPartition, Weir};

use crate::{Failure, Format, client};

/// `weir groups` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List consumer groups (with members now, or with committed offsets).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a group: per partition the committed (current) offset, the log end
    /// offset, the lag and the member that owns it; then the members. A
    /// negative lag is a committed offset past the log end.
    Describe {
        /// The group id.
        group: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Plan, or with --execute apply, new committed offsets for a group on one
    /// topic. The group must have no active members, for a dry run too (as
    /// kafka-consumer-groups).
    ResetOffsets(ResetArgs),
    /// Delete a group's committed offsets for some topics or partitions (like
    /// kafka-consumer-groups --delete-offsets). Each partition is reported:
    /// Successful (it has no committed offset now, whether it had one or
    /// not) or the error (an unknown topic or partition). Exits 2 when any
    /// row is an error (the others are deleted).
    DeleteOffsets {
        /// The group id.
        group: String,
        /// A topic (all its partitions) or TOPIC:P,P,... (those partitions);
        /// repeatable.
        #[arg(long, required = true, value_name = "TOPIC[:P,P,...]")]
        topic: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete a group without members: its committed offsets and metadata.
    Delete {
        /// The group id.
        group: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// The arguments of `weir groups reset-offsets`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("spec").required(true).args([
    "to_earliest", "to_latest", "to_datetime", "to_offset", "shift_by"
])))]
pub(crate) struct ResetArgs {
    /// The group id.
    group: String,
    /// The topic whose partitions are reset.
    #[arg(long)]
    topic: String,
    /// To each partition's log start offset.
    #[arg(long)]
    to_earliest: bool,
    /// To each partition's log end offset.
    #[arg(long)]
    to_latest: bool,
    /// To the first record at or after this time: YYYY-MM-DDTHH:MM:SS[.sss]
    /// with an optional Z or ±HH:MM offset (UTC when none).
    #[arg(long, value_name = "ISO")]
    to_datetime: Option<String>,
    /// To this offset (clamped to each partition's range).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    to_offset: Option<i64>,
    /// Move the committed offset by N (negative: back), clamped.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// Apply the plan (without it, only print it: a dry run).
    #[arg(long)]
    execute: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(
    data_dir: &Path,
    command: &GroupsCommand,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let weir = client::open(data_dir)?;
    let result = match command {
        GroupsCommand::List { format } => list(&weir, *format, out),
        GroupsCommand::Describe { group, format } => describe(&weir, group, *format, out),
        GroupsCommand::ResetOffsets(args) => reset(&weir, args, out),
        GroupsCommand::DeleteOffsets {
            group,
            topic,
            format,
        } => delete_offsets(&weir, group, topic, *format, out),
        GroupsCommand::Delete { group, format } => {
            weir.admin().delete_group(group).map_err(client::failure)?;
            match format {
                Format::Text => writeln!(out, "Deleted group {group}")?,
                Format::Json => writeln!(out, "{}", json!({"deleted": group}))?,
            }
            Ok(())
        }
    };
    let closed = weir.close().map_err(client::failure);
    result.and(closed)
}

fn list(weir: &Weir, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    for g in weir.admin().list_groups().map_err(client::failure)? {
        match format {
            Format::Text => writeln!(out, "{}", g.group)?,
            Format::Json => writeln!(
                out,
                "{}",
                json!({"group": g.group, "state": g.state, "members": g.members})
            )?,
        }
    }
    Ok(())
}

fn describe(weir: &Weir, group: &str, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    let admin = weir.admin();
    let description = admin.describe_group(group).map_err(client::failure)?;
    let lag = admin.group_lag(group).map_err(client::failure)?;
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    match format {
        Format::Text => {
            writeln!(
                out,
                "GROUP {group}  STATE {}  GENERATION {}  ASSIGNOR {}",
                description.state.name(),
                description.generation,
                description.protocol.as_deref().unwrap_or("-")
            )?;
            writeln!(
                out,
                "{:<24} {:>9} {:>15} {:>15} {:>10}  CONSUMER-ID",
                "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"
            )?;
            for row in &lag {
                writeln!(
                    out,
                    "{:<24} {:>9} {:>15} {:>15} {:>10}  {}",
                    row.partition.topic,
                    row.partition.partition,
                    show(row.current_offset),
                    row.log_end_offset,
                    show(row.lag),
                    row.member_id.as_deref().unwrap_or("-")
                )?;
            }
            for m in &description.members {
                writeln!(
                    out,
                    "member {} client {}{} partitions {}",
                    m.member_id,
                    m.client_id,
                    m.group_instance_id
                        .as_deref()
                        .map(|i| format!(" instance {i}"))
                        .unwrap_or_default(),
                    m.assignment.len()
                )?;
            }
        }
        Format::Json => {
            let partitions: Vec<_> = lag
                .iter()
                .map(|r| {
                    json!({
                        "topic": r.partition.topic,
                        "partition": r.partition.partition,
                        "current_offset": r.current_offset,
                        "log_end_offset": r.log_end_offset,
                        "lag": r.lag,
                        "member_id": r.member_id,
                        "client_id": r.client_id,
                    })
                })
                .collect();
            let members: Vec<_> = description
                .members
                .iter()
                .map(|m| {
                    json!({
                        "member_id": m.member_id,
                        "client_id": m.client_id,
                        "group_instance_id": m.group_instance_id,
                        "partitions": m.assignment.iter().map(|tp| json!({"topic": tp.topic, "partition": tp.partition})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({
                    "group": group,
                    "state": description.state.name(),
                    "generation": description.generation,
                    "assignor": description.protocol,
                    "partitions": partitions,
                    "members": members,
                })
            )?;
        }
    }
    Ok(())
}

fn reset(weir: &Weir, args: &ResetArgs, out: &mut impl Write) -> Result<(), Failure> {
    let spec = if args.to_earliest {
        ResetSpec::Earliest
    } else if args.to_latest {
        ResetSpec::Latest
    } else if let Some(iso) = &args.to_datetime {
        ResetSpec::ToTimestamp(parse_datetime(iso).map_err(Failure::Usage)?)
    } else if let Some(o) = args.to_offset {
        ResetSpec::ToOffset(o)
    } else if let Some(d) = args.shift_by {
        ResetSpec::ShiftBy(d)
    } else {
        return Err(Failure::Usage(
            "give one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by".into(),
        ));
    };
    let plan = weir
        .admin()
        .reset_group_offsets(&args.group, &args.topic, spec, args.execute)
        .map_err(client::failure)?;
    match args.format {
        Format::Text => {
            writeln!(
                out,
                "{:<24} {:>9} {:>15} {:>15}{}",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "NEW-OFFSET",
                if args.execute {
                    ""
                } else {
                    "   (dry run: add --execute)"
                }
            )?;
            for r in &plan {
                writeln!(
                    out,
                    "{:<24} {:>9} {:>15} {:>15}",
                    r.partition.topic,
                    r.partition.partition,
                    r.previous.map_or_else(|| "-".into(), |v| v.to_string()),
                    r.offset
                )?;
            }
        }
        Format::Json => {
            for r in &plan {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "topic": r.partition.topic,
                        "partition": r.partition.partition,
                        "current_offset": r.previous,
                        "new_offset": r.offset,
                        "executed": args.execute,
                    })
                )?;
            }
        }
    }
    Ok(())
}

/// A partition a `--topic` argument names, or a bare topic the directory
/// does not have with the error saying so.
type Named = Result<TopicPartition, (String, String)>;

/// The partitions `--topic` arguments name: `TOPIC` for every partition of
/// the topic, `TOPIC:P,P,...` for those; a bare topic the directory does not
/// have is an error of its own (the other arguments still count).
fn named_partitions(weir: &Weir, topics: &[String]) -> Result<Vec<Named>, Failure> {
    let mut partitions = Vec::new();
    for arg in topics {
        match arg.rsplit_once(':') {
            Some((topic, list)) => {
                for p in list.split(',') {
                    let partition = p
                        .trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| {
                            Failure::Usage(format!(
                                "--topic {arg}: {p:?} is not a partition number (TOPIC:P,P,...)"
                            ))
                        })?;
                    partitions.push(Ok(TopicPartition::new(topic, partition)));
                }
            }
            None => match weir.topic(arg) {
                Ok(t) => {
                    let count = i32::try_from(t.partition_count()).unwrap_or(i32::MAX);
                    partitions.extend((0..count).map(|p| Ok(TopicPartition::new(arg.as_str(), p))));
                }
                Err(e) => partitions.push(Err((arg.clone(), e.to_string()))),
            },
        }
    }
    Ok(partitions)
}

fn delete_offsets(
    weir: &Weir,
    group: &str,
    topics: &[String],
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let named = named_partitions(weir, topics)?;
    let known: Vec<TopicPartition> = named
        .iter()
        .filter_map(|n| n.as_ref().ok().cloned())
        .collect();
    let mut outcome = weir
        .admin()
        .delete_group_offsets(group, &known)
        .map_err(client::failure)?
        .into_iter();
    // (topic, partition, error), in the order the arguments named them.
    let rows: Vec<(String, Option<i32>, Option<String>)> = named
        .into_iter()
        .map(|n| match n {
            Ok(tp) => {
                let error = match outcome.next() {
                    Some((_, Err(e))) => Some(e.to_string()),
                    _ => None,
                };
                (tp.topic, Some(tp.partition), error)
            }
            Err((topic, e)) => (topic, None, Some(e)),
        })
        .collect();
    if format == Format::Text {
        writeln!(out, "{:<24} {:>9}  STATUS", "TOPIC", "PARTITION")?;
    }
    let failed = rows.iter().filter(|r| r.2.is_some()).count();
    for (topic, partition, error) in &rows {
        match format {
            Format::Text => writeln!(
                out,
                "{:<24} {:>9}  {}",
                topic,
                partition.map_or_else(|| "-".to_string(), |p| p.to_string()),
                error
                    .as_ref()
                    .map_or_else(|| "Successful".to_string(), |e| format!("Error: {e}"))
            )?,
            Format::Json => writeln!(
                out,
                "{}",
                json!({
                    "group": group,
                    "topic": topic,
                    "partition": partition,
                    "deleted": error.is_none(),
                    "error": error,
                })
            )?,
        }
    }
    if failed > 0 {
        return Err(Failure::Usage(format!(
            "{failed} of {} rows of group {group} kept their offsets (see above)",
            rows.len()
        )));
    }
    Ok(())
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]` as ms since the epoch (UTC when no
/// offset is given).
pub(crate) fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]");
    let num = |t: &str| -> Result<i64, String> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let (date, rest) = s.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|&i| i >= 8) {
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off
            .get(1..)
            .and_then(|o| o.split_once(':'))
            .ok_or_else(bad)?;
        let (h, m) = (num(h)?, num(m)?);
        // Zone offsets run from -18:00 to +18:00 (java.time's bounds).
        if h > 18 || m > 59 || h * 60 + m > 18 * 60 {
            return Err(bad());
        }
        (t, sign * (h * 3_600_000 + m * 60_000))
    } else {
        (rest, 0)
    };
    let (hms, millis) = match time.split_once('.') {
        Some((hms, frac)) => {
            let frac3: String = frac.chars().chain("000".chars()).take(3).collect();
            (hms, num(&frac3)?)
        }
        None => (time, 0),
    };
    let mut t = hms.split(':');
    let (Some(h), Some(mi), Some(se), None) = (t.next(), t.next(), t.next(), t.next()) else {
        return Err(bad());
    };
    if y.len() != 4 {
        return Err(bad());
    }
    let (y, mo, da, h, mi, se) = (num(y)?, num(mo)?, num(da)?, num(h)?, num(mi)?, num(se)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return Err(bad()),
    };
    if !(1..=month_days).contains(&da) || h > 23 || mi > 59 || se > 59 {
        return Err(bad());
    }
    let days = days_from_civil(y, mo, da);
    Ok(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + millis - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    #[test]
    fn impossible_or_huge_datetimes_are_refused() {
        for bad in [
            "292277026596-01-01T00:00:00",
            "2025-02-29T00:00:00",
            "2025-02-31T00:00:00",
            "2025-04-31T00:00:00",
            "2025-01-01T00:00:61",
            "2025-01-01T00:00:00+19:00",
            "2025-01-01T00:00:00+01:99",
            "2025-01-01T00:00:00+99999999999999:00",
            "25-01-01T00:00:00",
            "2025-01-01T00:00:00.1x",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
        assert!(parse_datetime("2024-02-29T00:00:00").is_ok());
        assert!(parse_datetime("9999-12-31T23:59:59-18:00").is_ok());
    }

    #[test]
    fn iso_datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(
            parse_datetime("2025-01-01T00:00:00.000Z").unwrap(),
            1_735_689_600_000
        );
        assert_eq!(
            parse_datetime("2025-01-01T01:00:00+01:00").unwrap(),
            1_735_689_600_000
        );
        assert_eq!(
            parse_datetime("2024-02-29T12:30:15.5").unwrap(),
            1_709_209_815_500
        );
        for bad in [
            "2025-01-01",
            "yesterday",
            "2025-13-01T00:00:00",
            "2025-01-01T25:00:00",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }
}
