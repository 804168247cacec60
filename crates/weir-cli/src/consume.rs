//! `weir consume`: print a topic's records.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_log::{LogError, PartitionLog};

use crate::json::JsonRecord;
use crate::{Failure, Format, log_failure, open_data_dir, topics};

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
                s.parse()
                    .map(StartAt::Offset)
                    .map_err(|_| format!("{s:?} is not beginning, end, an offset or @TIMESTAMP_MS"))
            }
        }
    }
}

pub(crate) struct ConsumeArgs<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: Option<i32>,
    pub(crate) from: StartAt,
    pub(crate) count: Option<u64>,
    pub(crate) exit_at_end: bool,
    pub(crate) key_separator: Option<&'a str>,
    pub(crate) format: Format,
}

fn start_offset(log: &PartitionLog, from: StartAt) -> Result<i64, Failure> {
    Ok(match from {
        StartAt::Beginning => log.log_start_offset(),
        StartAt::End => log.high_watermark(),
        StartAt::Offset(o) => o.clamp(log.log_start_offset(), log.high_watermark()),
        StartAt::Timestamp(ts) => log
            .offset_for_timestamp(ts)
            .map_err(log_failure)?
            .map_or(log.high_watermark(), |t| t.offset),
    })
}

pub(crate) fn run(
    data_dir: &Path,
    args: &ConsumeArgs<'_>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let logs = open_data_dir(data_dir)?;
    let topic = logs.topic(args.topic).map_err(log_failure)?;
    let logs_to_read: Vec<Arc<PartitionLog>> = match args.partition {
        Some(p) => vec![topic.partition(p).map_err(log_failure)?],
        None => topic.partitions(),
    };
    let mut positions: Vec<(Arc<PartitionLog>, i64)> = Vec::new();
    for log in logs_to_read {
        let at = start_offset(&log, args.from)?;
        positions.push((log, at));
    }
    let mut printed = 0u64;
    let done = |printed: u64| args.count.is_some_and(|c| printed >= c);
    'outer: while !done(printed) {
        let mut any = false;
        for (log, position) in &mut positions {
            let data = match log.fetch(*position, 1 << 20) {
                Ok(d) => d,
                Err(LogError::OffsetOutOfRange {
                    log_start_offset, ..
                }) => {
                    // Deleted by retention under us: go on from the start, as
                    // auto.offset.reset=earliest does.
                    *position = log_start_offset;
                    continue;
                }
                Err(e) => return Err(log_failure(e)),
            };
            for item in data.batches() {
                let batch = item
                    .map_err(|e| {
                        Failure::Data(format!("{}-{}: {e}", log.topic(), log.partition()))
                    })?
                    .batch;
                if batch.is_control() {
                    continue;
                }
                let records = batch.records().map_err(|e| {
                    Failure::Data(format!("{}-{}: {e}", log.topic(), log.partition()))
                })?;
                for record in &records {
                    let record = record.map_err(|e| {
                        Failure::Data(format!("{}-{}: {e}", log.topic(), log.partition()))
                    })?;
                    if record.offset() < *position {
                        continue;
                    }
                    print_record(args, log, &record, out)?;
                    printed += 1;
                    if done(printed) {
                        break 'outer;
                    }
                }
            }
            any |= data.next_offset > *position;
            *position = data.next_offset;
        }
        if !any {
            if args.exit_at_end {
                break;
            }
            out.flush()?;
            // Nothing anywhere: wait for an append to any partition.
            for (log, position) in &positions {
                if log.wait_for_data(*position, Instant::now() + Duration::from_millis(100)) {
                    break;
                }
            }
        }
    }
    topics::close(logs)
}

fn print_record(
    args: &ConsumeArgs<'_>,
    log: &PartitionLog,
    record: &weir_record::RecordView<'_>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    match args.format {
        Format::Json => {
            serde_json::to_writer(
                &mut *out,
                &JsonRecord::new(Some(log.topic()), Some(log.partition()), record),
            )
            .map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Format::Text => {
            if let Some(sep) = args.key_separator {
                out.write_all(record.key().unwrap_or(b"null"))?;
                out.write_all(sep.as_bytes())?;
            }
            out.write_all(record.value().unwrap_or(b"null"))?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
