//! `weir verify`: check a log and report what it holds or its first problem.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use weir_log::{VerifyError, VerifyReport, verify_path};

use crate::{Failure, Format};

pub(crate) fn run(path: &Path, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    match verify_path(path) {
        Ok(report) => match format {
            Format::Text => text(&report, out),
            Format::Json => {
                serde_json::to_writer(&mut *out, &report_json(&report))
                    .map_err(std::io::Error::from)?;
                writeln!(out)?;
                Ok(())
            }
        },
        Err(e) => {
            if format == Format::Json {
                let body = match &e {
                    VerifyError::Problem {
                        file,
                        position,
                        message,
                    } => json!({
                        "ok": false,
                        "file": file.display().to_string(),
                        "position": position,
                        "error": message,
                    }),
                    other => json!({ "ok": false, "error": other.to_string() }),
                };
                serde_json::to_writer(&mut *out, &body).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
            Err(match e {
                VerifyError::Problem { .. } => Failure::Data(e.to_string()),
                other => Failure::Usage(other.to_string()),
            })
        }
    }
}

fn text(report: &VerifyReport, out: &mut impl Write) -> Result<(), Failure> {
    let (mut batches, mut records, mut bytes) = (0u64, 0u64, 0u64);
    for p in &report.partitions {
        for s in &p.segments {
            let offsets = match (s.first_offset, s.last_offset) {
                (Some(a), Some(b)) => format!("{a}..={b}"),
                _ => "empty".into(),
            };
            writeln!(
                out,
                "ok {}: {} batches, {} records, {} control, offsets {offsets}, {} bytes, index {} / timeindex {} / txnindex {} entries",
                s.log.display(),
                s.batches,
                s.records,
                s.control_batches,
                s.size,
                s.index_entries,
                s.time_index_entries,
                s.txn_index_entries,
            )?;
            for note in &s.notes {
                writeln!(out, "   note: {note}")?;
            }
            batches += s.batches;
            records += s.records;
            bytes += s.size;
        }
    }
    let segments: usize = report.partitions.iter().map(|p| p.segments.len()).sum();
    writeln!(
        out,
        "sound: {} partition(s), {segments} segment(s), {batches} batches, {records} records, {bytes} bytes",
        report.partitions.len()
    )?;
    Ok(())
}

fn report_json(report: &VerifyReport) -> serde_json::Value {
    let partitions: Vec<_> = report
        .partitions
        .iter()
        .map(|p| {
            let segments: Vec<_> = p
                .segments
                .iter()
                .map(|s| {
                    json!({
                        "log": s.log.display().to_string(),
                        "base_offset": s.base_offset,
                        "size": s.size,
                        "batches": s.batches,
                        "records": s.records,
                        "control_batches": s.control_batches,
                        "first_offset": s.first_offset,
                        "last_offset": s.last_offset,
                        "max_timestamp": s.max_timestamp,
                        "index_entries": s.index_entries,
                        "timeindex_entries": s.time_index_entries,
                        "txnindex_entries": s.txn_index_entries,
                        "notes": s.notes,
                    })
                })
                .collect();
            json!({
                "dir": p.dir.display().to_string(),
                "topic": p.topic_partition.as_ref().map(|(t, _)| t),
                "partition": p.topic_partition.as_ref().map(|(_, n)| n),
                "segments": segments,
            })
        })
        .collect();
    json!({ "ok": true, "partitions": partitions })
}
