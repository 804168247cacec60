//! `weir consume`: print a topic's records, read through a [`weir::Consumer`].

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use weir::{Consumer, RecordRef, TopicPartition, Weir, WeirError};

use crate::client;
use crate::json::JsonRecord;
use crate::{Failure, Format};

/// `--from`: where each partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartAt {
    /// The log start offset.
    Beginning,
    /// The log end offset: only new records.
    End,
    /// An offset (clamped to the log's range).
    Offset(i64),
    /// The first record at or after a timestamp (ms since the epoch).
    Timestamp(i64),
}

impl FromStr for StartAt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "beginning" | "earliest" => Ok(StartAt::Beginning),
            "end" | "latest" => Ok(StartAt::End),
            _ => {
                if let Some(ts) = s.strip_prefix('@') {
                    return ts
                        .parse()
                        .map(StartAt::Timestamp)
                        .map_err(|_| format!("{ts:?} is not a timestamp in ms"));
                }
                match s.parse::<i64>() {
                    // As Kafka's console consumer: an offset is never negative
                    // (kcat's "-N from the end" is not Kafka's meaning).
                    Ok(offset) if offset < 0 => Err(format!(
                        "the offset {offset} is negative: give beginning, end, an offset of 0 or more, or @TIMESTAMP_MS"
                    )),
                    Ok(offset) => Ok(StartAt::Offset(offset)),
                    Err(_) => Err(format!(
                        "{s:?} is not beginning, end, an offset or @TIMESTAMP_MS"
                    )),
                }
            }
        }
    }
}

/// The arguments of `weir consume`.
#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// The topic.
    topic: String,
    /// Read only this partition (default: all).
    #[arg(long, allow_negative_numbers = true)]
    partition: Option<i32>,
    /// Where to start: beginning, end, an offset of 0 or more (clamped to
    /// each partition's range), or @TIMESTAMP_MS (the first record at or after it; the end when
    /// every record is older). As Kafka's console consumer, the end by
    /// default: new records only.
    #[arg(
        long,
        default_value = "end",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(StartAt)
    )]
    from: StartAt,
    /// The same as --from beginning (Kafka's console consumer's flag).
    #[arg(long, conflicts_with = "from")]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long, allow_negative_numbers = true)]
    count: Option<u64>,
    /// Stop once caught up: when, after a poll, every read partition's position
    /// has reached its end offset (the high watermark; with
    /// isolation.level=read_committed the last stable offset) as of that
    /// moment. Records
    /// appended while reading are printed if they land before that.
    #[arg(long)]
    exit_at_end: bool,
    /// In text format, print the key and SEP before the value.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Join this consumer group: the group's assignor shares the topic's
    /// partitions among its members, reading starts at the group's committed
    /// offsets (--from beginning|end applies only where it has none), and the
    /// positions are committed as records are read and at exit.
    #[arg(long, value_name = "GROUP", conflicts_with = "partition")]
    group: Option<String>,
    /// Any Kafka consumer property, as KEY=VALUE (repeatable), e.g.
    /// max.poll.records=100 or check.crcs=false. auto.offset.reset (what to
    /// do when retention removed the records at the position) defaults to
    /// earliest here.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

impl ConsumeArgs {
    /// Where reading starts: --from, or the beginning with --from-beginning.
    fn start(&self) -> StartAt {
        if self.from_beginning {
            StartAt::Beginning
        } else {
            self.from
        }
    }
}

/// Runs `weir consume`, printing records to `out`.
pub(crate) fn run(
    data_dir: &Path,
    args: &ConsumeArgs,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // Where retention or DeleteRecords removed the records at the position,
    // go on from the log start rather than skip to the end (a property may
    // say otherwise).
    if args.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
        return Err(Failure::Usage(format!(
            "--group {:?}: a consumer group's id must not be empty",
            args.group.as_deref().unwrap_or_default()
        )));
    }
    let reset = match (&args.group, args.start()) {
        (Some(_), StartAt::End) => "latest",
        (Some(_), StartAt::Offset(_) | StartAt::Timestamp(_)) => {
            return Err(Failure::Usage(
                "with --group, --from takes beginning or end (where the group has no committed offset); use weir groups reset-offsets to move a group".into(),
            ));
        }
        _ => "earliest",
    };
    let mut props = vec![("auto.offset.reset".to_string(), reset.to_string())];
    if let Some(group) = &args.group {
        props.push(("group.id".to_string(), group.clone()));
    }
    props.extend(client::parse_properties(&args.properties)?);
    let config = client::consumer_config(&props)?;
    let weir = client::open(data_dir)?;
    let result = Consumer::new(&weir, config)
        .map_err(client::failure)
        .and_then(|mut consumer| {
            stop_on_signals(&consumer);
            let r = consume(&weir, &mut consumer, args, out);
            // With --group this commits what was read (auto-commit) and
            // leaves the group, also after Ctrl-C.
            consumer.close();
            r
        });
    let closed = weir.close().map_err(client::failure);
    result.and(closed)
}

fn consume(
    weir: &Weir,
    consumer: &mut Consumer,
    args: &ConsumeArgs,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let tps: Vec<TopicPartition> = match args.partition {
        Some(p) => {
            weir.partition(&args.topic, p).map_err(client::failure)?;
            vec![TopicPartition::new(args.topic.as_str(), p)]
        }
        None => {
            let n = weir
                .topic(&args.topic)
                .map_err(client::failure)?
                .partition_count();
            (0..n)
                .map(|p| {
                    TopicPartition::new(args.topic.as_str(), i32::try_from(p).unwrap_or(i32::MAX))
                })
                .collect()
        }
    };
    if args.group.is_some() {
        consumer
            .subscribe(&[args.topic.as_str()])
            .map_err(client::failure)?;
    } else {
        consumer.assign(&tps).map_err(client::failure)?;
        seek(consumer, &tps, args.start()).map_err(client::failure)?;
    }
    let mut printed = 0u64;
    let done = |printed: u64| args.count.is_some_and(|c| printed >= c);
    // Short polls when exiting at the end: a poll that finds nothing waits its
    // whole timeout.
    let timeout = Duration::from_millis(if args.exit_at_end { 100 } else { 500 });
    while !done(printed) {
        let mine = if args.group.is_some() {
            consumer.assignment()
        } else {
            tps.clone()
        };
        if args.exit_at_end
            && !mine.is_empty()
            && caught_up(consumer, &mine).map_err(client::failure)?
        {
            break;
        }
        let records = match consumer.poll(timeout) {
            Ok(records) => records,
            // Ctrl-C, SIGTERM or SIGHUP: stop cleanly (the caller closes the
            // consumer, committing a group's offsets), and exit 130 as
            // Kafka's console consumer does, so a script sees the
            // interruption.
            Err(WeirError::Wakeup) => {
                return Err(Failure::Interrupted(format!(
                    "interrupted after {printed} record(s)"
                )));
            }
            Err(e) => return Err(client::failure(e)),
        };
        // Records past --count are not printed: each partition goes back to
        // its first unprinted record, so that a group commits only what was
        // printed and its next run starts there. When the output fails (a
        // closed pipe), nothing of this poll counts as printed.
        let mut first: Vec<(TopicPartition, i64)> = Vec::new();
        let mut unprinted: Vec<(TopicPartition, i64)> = Vec::new();
        let mut written = Ok(());
        for record in records.iter() {
            if written.is_ok() && !done(printed) {
                note_first(&mut first, &record);
                written = print_record(args, &record, out);
                printed += 1;
            } else {
                note_first(&mut unprinted, &record);
            }
        }
        if written.is_ok() {
            written = out.flush().map_err(Failure::from);
        }
        let back: Vec<&(TopicPartition, i64)> = if written.is_ok() {
            unprinted.iter().collect()
        } else {
            // Every partition of the poll goes back to its first record: the
            // ones printed into a buffer that never reached the reader, and
            // the ones after the failure.
            first
                .iter()
                .chain(
                    unprinted
                        .iter()
                        .filter(|(tp, _)| !first.iter().any(|(f, _)| f == tp)),
                )
                .collect()
        };
        for (tp, offset) in back {
            consumer.seek(tp, *offset).map_err(client::failure)?;
        }
        written?;
    }
    Ok(())
}

/// Adds `record`'s partition and offset to `firsts` unless its partition is
/// there already (a poll's records are in offset order per partition). A
/// poll returns each partition's records together, so most records are of
/// the partition noted last: checked first, without a scan.
fn note_first(firsts: &mut Vec<(TopicPartition, i64)>, record: &RecordRef<'_>) {
    let same =
        |tp: &TopicPartition| tp.partition == record.partition() && tp.topic == record.topic();
    if firsts.last().is_some_and(|(tp, _)| same(tp)) {
        return;
    }
    if !firsts.iter().any(|(tp, _)| same(tp)) {
        firsts.push((
            TopicPartition::new(record.topic(), record.partition()),
            record.offset(),
        ));
    }
}

/// Makes SIGINT, SIGTERM and SIGHUP end the poll loop, so that the consumer
/// is closed (committing its group's offsets) and the data directory shut
/// down cleanly, as Kafka's console consumer does from its shutdown hook; it
/// then exits 130. A second signal exits at once (130). Without a handler (one was set
/// already) the signals keep their default action.
fn stop_on_signals(consumer: &Consumer) {
    let wakeup = consumer.wakeup_handle();
    let asked = AtomicBool::new(false);
    let _ = ctrlc::set_handler(move || {
        if asked.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        wakeup.wakeup();
    });
}

/// Positions each partition per `--from`.
fn seek(
    consumer: &mut Consumer,
    tps: &[TopicPartition],
    from: StartAt,
) -> Result<(), weir::WeirError> {
    match from {
        StartAt::Beginning => consumer.seek_to_beginning(tps),
        StartAt::End => consumer.seek_to_end(tps),
        StartAt::Offset(o) => {
            let starts = consumer.beginning_offsets(tps)?;
            let ends = consumer.end_offsets(tps)?;
            for ((tp, start), (_, end)) in starts.iter().zip(&ends) {
                consumer.seek(tp, o.clamp(*start, (*end).max(*start)))?;
            }
            Ok(())
        }
        StartAt::Timestamp(ts) => {
            let query: Vec<(TopicPartition, i64)> = tps.iter().map(|tp| (tp.clone(), ts)).collect();
            let found = consumer.offsets_for_times(&query)?;
            let ends = consumer.end_offsets(tps)?;
            for ((tp, at), (_, end)) in found.iter().zip(&ends) {
                consumer.seek(tp, at.map_or(*end, |a| a.offset))?;
            }
            Ok(())
        }
    }
}

/// Whether every partition's position has reached its current end offset.
fn caught_up(consumer: &mut Consumer, tps: &[TopicPartition]) -> Result<bool, weir::WeirError> {
    let ends = consumer.end_offsets(tps)?;
    for (tp, end) in &ends {
        if consumer.position(tp)? < *end {
            return Ok(false);
        }
    }
    Ok(true)
}

fn print_record(
    args: &ConsumeArgs,
    record: &RecordRef<'_>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    match args.format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &JsonRecord::from_ref(record))
                .map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Format::Text => {
            if let Some(sep) = &args.key_separator {
                out.write_all(record.key().unwrap_or(b"null"))?;
                out.write_all(sep.as_bytes())?;
            }
            out.write_all(record.value().unwrap_or(b"null"))?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
