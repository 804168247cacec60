//! `weir dump`: print the batches and records of a log.

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
    for (dir, segments) in partitions {
        let topic_partition = parse_partition_dir_name(&dir);
        for log in segments {
            dump_segment(&log, topic_partition.as_ref(), format, out)?;
        }
    }
    Ok(())
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

fn dump_segment(
    log: &Path,
    topic_partition: Option<&(String, i32)>,
    format: Format,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let file = fs::File::open(log).map_err(|e| Failure::Usage(with_path(log, &e)))?;
    let len = file
        .metadata()
        .map_err(|e| Failure::Usage(with_path(log, &e)))?
        .len();
    if format == Format::Text {
        writeln!(out, "Dumping {}", log.display())?;
    }
    let problem = |message: String| Failure::Data(format!("{}: {message}", log.display()));
    for item in ReaderBatches::new(BufReader::with_capacity(256 * 1024, file), len) {
        let PositionedBatch { position, batch } = item.map_err(|e| problem(e.to_string()))?;
        let at = |e: weir_record::RecordError| problem(format!("batch at byte {position}: {e}"));
        match format {
            Format::Text => text_batch(position, &batch, out, at)?,
            Format::Json => {
                if batch.is_control() {
                    continue;
                }
                let records = batch.records().map_err(at)?;
                let (topic, partition) = match topic_partition {
                    Some((t, p)) => (Some(t.as_str()), Some(*p)),
                    None => (None, None),
                };
                for record in &records {
                    let record = record.map_err(at)?;
                    serde_json::to_writer(&mut *out, &JsonRecord::new(topic, partition, &record))
                        .map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    Ok(())
}

fn text_batch(
    position: u64,
    batch: &RecordBatch,
    out: &mut impl Write,
    at: impl Fn(weir_record::RecordError) -> Failure,
) -> Result<(), Failure> {
    let compression = batch.compression().map_err(&at)?;
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
        batch.validate_crc().is_ok(),
    )?;
    let records = batch.records().map_err(&at)?;
    for record in &records {
        let record = record.map_err(&at)?;
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
            let control = ControlRecord::parse(record.key(), record.value()).map_err(&at)?;
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
    Ok(())
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
