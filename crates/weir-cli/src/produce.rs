//! `weir produce`: send stdin lines to a topic through a [`weir::Producer`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde_json::json;
use weir::{Producer, ProducerRecord, RecordMetadata, Weir, WeirError};
use weir_log::LogError;

use crate::client::{self, Completions, ProducerFlags, lock};
use crate::{Failure, Format};

/// The arguments of `weir produce`.
#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// The topic.
    topic: String,
    /// Send every record to this partition (default: the partitioner picks:
    /// murmur2 of the key, sticky for lines without one).
    #[arg(long, allow_negative_numbers = true)]
    partition: Option<i32>,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A key or value equal to MARKER is null (a value: a tombstone), as
    /// the Kafka console producer's `null.marker` (KIP-810).
    #[arg(long, value_name = "MARKER")]
    null_marker: Option<String>,
    #[command(flatten)]
    producer: ProducerFlags,
    /// Any Kafka producer property, as KEY=VALUE (repeatable), e.g.
    /// enable.idempotence=false or compression.zstd.level=9. The flags above
    /// win over a property with the same key. With transactional.id=ID the
    /// whole input is one transaction, committed at its end, or aborted on
    /// any failure (nothing of it reaches read_committed consumers then).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Output format of the summary (text goes to stderr, json to stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Where one partition's records landed.
#[derive(Debug, Default)]
struct PartitionSummary {
    records: u64,
    first_offset: Option<i64>,
    last_offset: Option<i64>,
}

/// What the delivery callbacks learned.
#[derive(Debug, Default)]
struct Deliveries {
    partitions: BTreeMap<i32, PartitionSummary>,
    failed: u64,
    /// Records refused when sent (too large, say): reported, and the input
    /// goes on, as the console producer logs such a send and goes on.
    refused: u64,
    /// Failed deliveries that concern the partition (a read-only log, say),
    /// not one record: they would fail the rest too, so reading stops.
    fatal: u64,
    first_error: Option<WeirError>,
    /// Reading stopped on a failure (a failed delivery or a bad line): input
    /// past the lines read was not sent.
    stopped_on_failure: bool,
    /// Lines read from the input.
    lines_read: u64,
    /// With `transactional.id`: how the run's one transaction ended
    /// (`committed` or `aborted`).
    transaction: Option<&'static str>,
}

/// Whether a failed delivery is this record's alone (too large for the
/// topic, say: the producer sends its neighbours in other batches), as
/// opposed to one that would fail every record sent after it.
fn concerns_one_record(e: &WeirError) -> bool {
    match e {
        WeirError::RecordTooLarge { .. } => true,
        WeirError::Log(log) => matches!(
            **log,
            LogError::BatchTooLarge { .. }
                | LogError::InvalidTimestamp { .. }
                | LogError::InvalidBatch { .. }
        ),
        _ => false,
    }
}

impl Deliveries {
    fn record(&mut self, outcome: Result<RecordMetadata, WeirError>) {
        match outcome {
            Ok(meta) => {
                let p = self.partitions.entry(meta.partition).or_default();
                p.records += 1;
                // acks=0 still learns offsets: the callback runs once the
                // batch is appended.
                if meta.offset >= 0 {
                    p.first_offset =
                        Some(p.first_offset.map_or(meta.offset, |o| o.min(meta.offset)));
                    p.last_offset = Some(p.last_offset.map_or(meta.offset, |o| o.max(meta.offset)));
                }
            }
            Err(e) => {
                self.failed += 1;
                if !concerns_one_record(&e) {
                    self.fatal += 1;
                }
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn delivered(&self) -> u64 {
        self.partitions.values().map(|p| p.records).sum()
    }
}

/// Runs `weir produce`: each line of `input` is a record; the summary goes to
/// stderr (text) or `out` (json).
pub(crate) fn run(
    data_dir: &Path,
    args: &ProduceArgs,
    input: &mut BufReader<impl Read>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    if args.key_separator.as_deref() == Some("") {
        return Err(Failure::Usage("--key-separator must not be empty".into()));
    }
    if args.null_marker.as_deref() == Some("") {
        return Err(Failure::Usage("--null-marker must not be empty".into()));
    }
    let props = client::parse_properties(&args.properties)?;
    let config = client::producer_config(&args.producer, &props)?;
    let weir = client::open(data_dir)?;
    let result = produce(&weir, args, config, input, out);
    let closed = weir.close().map_err(client::failure);
    result.and(closed)
}

fn produce(
    weir: &Weir,
    args: &ProduceArgs,
    config: weir::ProducerConfig,
    input: &mut BufReader<impl Read>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // An unknown topic or partition fails before any input is read.
    weir.topic(&args.topic).map_err(client::failure)?;
    if let Some(p) = args.partition {
        weir.partition(&args.topic, p).map_err(client::failure)?;
    }
    let producer = Producer::new(weir, config).map_err(client::failure)?;
    // With a transactional.id the whole input is one transaction: all of it
    // or (on any failure) none of it reaches read_committed consumers.
    let transactional = producer.config().transactional_id.is_some();
    if transactional {
        producer.init_transactions().map_err(client::failure)?;
        producer.begin_transaction().map_err(client::failure)?;
    }
    let deliveries = Arc::new(Mutex::new(Deliveries::default()));
    let completions = Arc::new(Completions::default());
    let mut read = send_lines(&producer, args, input, &deliveries, &completions);
    if transactional {
        let ended = end_transaction(&producer, read.is_ok(), &deliveries);
        if let (Ok(n), Err(e)) = (&read, ended) {
            read = Err((*n, e));
        }
    }
    producer.close();
    let sent = match &read {
        Ok(n) | Err((n, _)) => *n,
    };
    // Every delivery is known once the producer is closed; the callbacks may
    // still be finishing.
    completions.wait_for(sent, Duration::from_secs(60));
    let deliveries = lock(&deliveries);
    // A closed stdout must not hide a failure.
    let reported = report(args, &deliveries, out);
    read.map_err(|(_, e)| e)?;
    if let Some(e) = &deliveries.first_error {
        return Err(with_context(
            client::failure(e.clone()),
            &format!(
                "{} record(s) failed",
                deliveries.failed + deliveries.refused
            ),
        ));
    }
    reported
}

/// Sends each line; returns how many were sent, with the error that stopped
/// the input early. The lines read are counted here and recorded once.
fn send_lines(
    producer: &Producer,
    args: &ProduceArgs,
    input: &mut BufReader<impl Read>,
    deliveries: &Arc<Mutex<Deliveries>>,
    completions: &Arc<Completions>,
) -> Result<u64, (u64, Failure)> {
    let mut lines_read = 0u64;
    let result = send_each_line(
        producer,
        args,
        input,
        deliveries,
        completions,
        &mut lines_read,
    );
    lock(deliveries).lines_read = lines_read;
    result
}

fn send_each_line(
    producer: &Producer,
    args: &ProduceArgs,
    input: &mut BufReader<impl Read>,
    deliveries: &Arc<Mutex<Deliveries>>,
    completions: &Arc<Completions>,
    lines_read: &mut u64,
) -> Result<u64, (u64, Failure)> {
    let mut sent = 0u64;
    let mut line = Vec::new();
    loop {
        // No whole line buffered: the next read may block, so deliver what is
        // pending first. Lines typed at a terminal are sent at once while
        // piped input still fills batches.
        if !input.buffer().contains(&b'\n') {
            producer.flush();
            // A failed delivery that concerns the partition (a read-only
            // log, say) would fail the rest too: stop reading, and report
            // it. One record's own failure (too large for the topic) is
            // reported at the end, and the input goes on, as Kafka's
            // console producer logs it and goes on.
            let mut d = lock(deliveries);
            if d.fatal > 0 {
                d.stopped_on_failure = true;
                return Ok(sent);
            }
        }
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(sent),
            Ok(_) => {}
            Err(e) => return Err((sent, Failure::Usage(format!("reading stdin: {e}")))),
        }
        *lines_read += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let null = |part: &[u8]| args.null_marker.as_deref().map(str::as_bytes) == Some(part);
        let value = |v: &[u8]| (!null(v)).then(|| bytes::Bytes::copy_from_slice(v));
        let mut record = match args.key_separator.as_deref() {
            Some(sep) => match split_once(text, sep.as_bytes()) {
                Some((k, v)) => ProducerRecord {
                    topic: args.topic.clone(),
                    key: (!null(k)).then(|| bytes::Bytes::copy_from_slice(k)),
                    value: value(v),
                    ..ProducerRecord::default()
                },
                None => {
                    lock(deliveries).stopped_on_failure = true;
                    let shown: String = String::from_utf8_lossy(text).chars().take(60).collect();
                    return Err((
                        sent,
                        Failure::Usage(format!("line {shown:?} has no key separator {sep:?}")),
                    ));
                }
            },
            None => ProducerRecord {
                topic: args.topic.clone(),
                value: value(text),
                ..ProducerRecord::default()
            },
        };
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        let (d, c) = (Arc::clone(deliveries), Arc::clone(completions));
        let sending = producer.send_with_callback(record, move |outcome| {
            lock(&d).record(outcome);
            c.add();
        });
        match sending {
            Ok(()) => sent += 1,
            // This record alone cannot be sent: say so at the end, go on.
            Err(e @ (WeirError::RecordTooLarge { .. } | WeirError::InvalidArgument(_))) => {
                let mut d = lock(deliveries);
                d.refused += 1;
                d.first_error.get_or_insert(e);
            }
            Err(e) => {
                lock(deliveries).stopped_on_failure = true;
                return Err((sent, client::failure(e)));
            }
        }
    }
}

/// Commits the run's transaction when every line was sent and delivered,
/// else aborts it; records which in `deliveries`.
fn end_transaction(
    producer: &Producer,
    read_all: bool,
    deliveries: &Arc<Mutex<Deliveries>>,
) -> Result<(), Failure> {
    // Every record's outcome is known before the decision.
    producer.flush();
    let clean = {
        let d = lock(deliveries);
        read_all && d.failed == 0 && d.refused == 0 && !d.stopped_on_failure
    };
    let commit_error = if clean {
        match producer.commit_transaction() {
            Ok(()) => {
                lock(deliveries).transaction = Some("committed");
                return Ok(());
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    let aborted = producer.abort_transaction();
    lock(deliveries).transaction = Some(match &aborted {
        Ok(()) => "aborted",
        // Its commit is written down: it completes at the next open (or
        // from the coordinator's retries), and readers then see all of it.
        Err(WeirError::TransactionDecided { commit: true, .. }) => "committing",
        Err(_) => "unfinished",
    });
    match (commit_error, aborted) {
        // The commit failed: that is the error to report.
        (Some(e), _) => Err(with_context(
            client::failure(e),
            "the transaction did not commit",
        )),
        (None, Err(e)) => Err(with_context(
            client::failure(e),
            "the transaction did not abort",
        )),
        // The failure that made it abort is reported as usual.
        (None, Ok(())) => Ok(()),
    }
}

fn split_once<'a>(text: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if sep.is_empty() {
        return None;
    }
    let at = text.windows(sep.len()).position(|w| w == sep)?;
    Some((text.get(..at)?, text.get(at + sep.len()..)?))
}

fn with_context(f: Failure, context: &str) -> Failure {
    match f {
        Failure::Data(m) => Failure::Data(format!("{context}: {m}")),
        Failure::Usage(m) => Failure::Usage(format!("{context}: {m}")),
        Failure::ClosedOutput => Failure::ClosedOutput,
        Failure::Interrupted(m) => Failure::Interrupted(format!("{context}: {m}")),
    }
}

fn report(args: &ProduceArgs, d: &Deliveries, out: &mut impl Write) -> Result<(), Failure> {
    let records = d.delivered();
    match args.format {
        Format::Text => {
            let mut failed = if d.failed + d.refused > 0 {
                format!(", {} failed", d.failed + d.refused)
            } else {
                String::new()
            };
            if d.stopped_on_failure {
                failed.push_str(&format!(
                    "; stopped on the failure: input after line {} was not read",
                    d.lines_read
                ));
            }
            match d.transaction {
                Some("committed") => failed.push_str("; committed as one transaction"),
                Some("committing") => failed.push_str(
                    "; the transaction's commit is decided but not finished: it finishes at \
                     the next open of the data directory (do not produce the input again)",
                ),
                Some(other) => failed.push_str(&format!(
                    "; the transaction is {other}: read_committed consumers see none of them"
                )),
                None => {}
            }
            eprintln!(
                "weir: produced {records} record(s) to {}{failed}",
                args.topic
            );
        }
        Format::Json => {
            let per: Vec<serde_json::Value> = d
                .partitions
                .iter()
                .map(|(p, s)| {
                    json!({"partition": p, "records": s.records, "first_offset": s.first_offset, "last_offset": s.last_offset})
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({"topic": args.topic, "records": records, "failed": d.failed + d.refused, "stopped_on_failure": d.stopped_on_failure, "lines_read": d.lines_read, "transaction": d.transaction, "partitions": per})
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_once_finds_the_first_separator() {
        assert_eq!(
            split_once(b"a::b::c", b"::"),
            Some((&b"a"[..], &b"b::c"[..]))
        );
        assert_eq!(split_once(b"::", b"::"), Some((&b""[..], &b""[..])));
        assert_eq!(split_once(b"abc", b"\t"), None);
        assert_eq!(split_once(b"abc", b""), None);
    }
}
