//! `weir dump`: print the batches and records of a log.
//!
//! Damage does not stop it: a batch failing its CRC is printed with
//! `isvalid: false` in text (as Kafka's `kafka-dump-log`) and left out in
//! json; at bytes that frame no batch the rest of that segment is reported
//! unread and the next segment follows. Each problem goes to stderr, and the
//! command exits 1 at the end.

use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use weir_log::paths::{LogPath, classify, list_segments};
use weir_log::segment_file::parse_partition_dir_name;
use weir_record::{ControlRecord, PositionedBatch, ReaderBatches, RecordBatch, increment_sequence};

use crate::json::JsonRecord;
use crate::{Failure, Format};

pub(crate) fn run(path: &Path, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    let classified = classify(path).map_err(|e| Failure::Usage(with_path(path, &e)))?;
    let partitions: Vec<(PathBuf, Vec<PathBuf>)> = match classified {
        LogPath::Segment { path, .. } => {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            vec![(dir, vec![path])]
        }
        LogPath::Partition(dir) => vec![(dir.clone(), segments_of(&dir)?)],
        LogPath::DataDir(dirs) => dirs
            .into_iter()
            .map(|d| segments_of(&d).map(|s| (d, s)))
            .collect::<Result<_, _>>()?,
    };
    let mut problems = 0usize;
    for (dir, segments) in partitions {
        let topic_partition = parse_partition_dir_name(&dir);
        for log in segments {
            problems += dump_segment(&log, topic_partition.as_ref(), format, out)?;
        }
    }
    if problems > 0 {
        return Err(Failure::Data(format!(
            "{}: {problems} problem(s), each named above",
            path.display()
        )));
    }
    Ok(())
}

/// Reports a problem on stderr (stdout carries the dump).
fn report(log: &Path, position: u64, message: impl std::fmt::Display) {
    eprintln!("weir: {}: byte {position}: {message}", log.display());
}

fn with_path(path: &Path, e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains(&path.display().to_string()) {
        text
    } else {
        format!("{}: {text}", path.display())
    }
}

fn segments_of(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    Ok(list_segments(dir)
        .map_err(|e| Failure::Usage(with_path(dir, &e)))?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// Dumps one segment; returns how many problems it reported.
fn dump_segment(
    log: &Path,
    topic_partition: Option<&(String, i32)>,
    format: Format,
    out: &mut impl Write,
) -> Result<usize, Failure> {
    let opened = fs::File::open(log).and_then(|f| Ok((f.metadata()?.len(), f)));
    let (len, file) = match opened {
        Ok(x) => x,
        Err(e) => {
            report(log, 0, format!("read error: {e}"));
            return Ok(1);
        }
    };
    if format == Format::Text {
        writeln!(out, "Dumping {}", log.display())?;
    }
    let mut problems = 0;
    // CRCs are checked here, not by the iterator: a batch failing its CRC is
    // still framed by its length, and the next one follows it.
    let batches = ReaderBatches::new(BufReader::with_capacity(256 * 1024, file), len);
    for item in batches.verify_crc(false) {
        let PositionedBatch { position, batch } = match item {
            Ok(b) => b,
            Err(e) => {
                let at = e.position();
                report(log, at, &e);
                if format == Format::Text {
                    // Kafka's DumpLogSegments words it so.
                    let name = log.file_name().map(|n| n.to_string_lossy());
                    writeln!(
                        out,
                        "Found {} invalid bytes at the end of {}",
                        len.saturating_sub(at),
                        name.unwrap_or_default()
                    )?;
                }
                return Ok(problems + 1);
            }
        };
        let crc = batch.validate_crc();
        if let Err(e) = &crc {
            report(log, position, format!("batch: {e}"));
            problems += 1;
        }
        let decoded = match format {
            Format::Text => text_batch(position, &batch, crc.is_ok(), out)?,
            Format::Json if crc.is_err() || batch.is_control() => Ok(()),
            Format::Json => json_batch(&batch, topic_partition, out)?,
        };
        if let Err(e) = decoded {
            report(log, position, format!("batch: {e}"));
            problems += usize::from(crc.is_ok());
        }
    }
    Ok(problems)
}

/// Prints the records of a sound batch, all or none: a record that fails to
/// decode is returned, with nothing printed.
fn json_batch(
    batch: &RecordBatch,
    topic_partition: Option<&(String, i32)>,
    out: &mut impl Write,
) -> Result<Result<(), weir_record::RecordError>, Failure> {
    let records = match batch.records() {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let (topic, partition) = match topic_partition {
        Some((t, p)) => (Some(t.as_str()), Some(*p)),
        None => (None, None),
    };
    let mut lines = Vec::new();
    for record in &records {
        let record = match record {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        serde_json::to_writer(&mut lines, &JsonRecord::new(topic, partition, &record))
            .map_err(std::io::Error::from)?;
        lines.push(b'\n');
    }
    out.write_all(&lines)?;
    Ok(Ok(()))
}

/// Prints a batch's header line, then its records as far as they decode (of a
/// batch failing its CRC too, as Kafka's tool does). A record that fails to
/// decode is returned after the records before it.
fn text_batch(
    position: u64,
    batch: &RecordBatch,
    crc_valid: bool,
    out: &mut impl Write,
) -> Result<Result<(), weir_record::RecordError>, Failure> {
    let compression = match batch.compression() {
        Ok(c) => c.to_string(),
        Err(_) => "unknown".to_owned(),
    };
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} \
         deleteHorizonMs: {} position: {} baseTimestamp: {} {}: {} size: {} magic: {} \
         attributes: {} compresscodec: {} crc: {} isvalid: {}",
        batch.base_offset(),
        batch.last_offset(),
        batch.records_count(),
        batch.base_sequence(),
        batch.last_sequence(),
        batch.producer_id(),
        batch.producer_epoch(),
        batch.partition_leader_epoch(),
        batch.is_transactional(),
        batch.is_control(),
        batch
            .delete_horizon_ms()
            .map_or("none".to_owned(), |h| h.to_string()),
        position,
        batch.base_timestamp(),
        batch.timestamp_type(),
        batch.max_timestamp(),
        batch.size(),
        batch.magic(),
        batch.attributes().raw(),
        compression,
        batch.crc(),
        crc_valid,
    )?;
    let records = match batch.records() {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    for record in &records {
        let record = match record {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let sequence = if batch.base_sequence() < 0 {
            -1
        } else {
            increment_sequence(batch.base_sequence(), record.offset_delta())
        };
        write!(
            out,
            "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [",
            record.offset(),
            batch.timestamp_type(),
            record.timestamp(),
            record.key().map_or(-1, |k| k.len() as i64),
            record.value().map_or(-1, |v| v.len() as i64),
            sequence,
        )?;
        for (i, h) in record.headers().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(out, "{sep}{}", String::from_utf8_lossy(h.key()))?;
        }
        write!(out, "]")?;
        if batch.is_control() {
            let control = match ControlRecord::parse(record.key(), record.value()) {
                Ok(c) => c,
                Err(e) => {
                    writeln!(out)?;
                    return Ok(Err(e));
                }
            };
            write!(out, " {}", control.record_type)?;
            if let Some(marker) = control.end_transaction {
                write!(out, " coordinatorEpoch: {}", marker.coordinator_epoch)?;
            }
            writeln!(out)?;
        } else {
            writeln!(
                out,
                " key: {} payload: {}",
                show(record.key()),
                show(record.value())
            )?;
        }
    }
    Ok(Ok(()))
}

/// Bytes for people: quoted and escaped when UTF-8, base64 otherwise.
fn show(bytes: Option<&[u8]>) -> String {
    use base64::Engine;
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            ),
        },
    }
}
