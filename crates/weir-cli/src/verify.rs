//! `weir verify`: check a log and report what it holds and every problem found.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use weir_log::VerifyReport;
use weir_log::verify::{Problem, verify_report};

use crate::{Failure, Format};

/// Verifies `path` and prints the report (text, or one JSON object with the
/// same schema whether sound or not). Exits 1 (a [`Failure::Data`] naming the
/// first problem) when anything is wrong, 2 when the path is not a log.
pub(crate) fn run(path: &Path, format: Format, out: &mut impl Write) -> Result<(), Failure> {
    let report = match verify_report(path) {
        Ok(report) => report,
        Err(e) => {
            // Not a log: exit 2, and in JSON still one object of the schema.
            if format == Format::Json {
                let object = json!({
                    "ok": false,
                    "partitions": [],
                    "problems": [{"file": path.display().to_string(), "position": 0, "error": e.to_string()}],
                });
                writeln!(out, "{object}")?;
            }
            return Err(Failure::Usage(e.to_string()));
        }
    };
    match format {
        Format::Text => text(&report, out)?,
        Format::Json => {
            serde_json::to_writer(&mut *out, &report_json(&report))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    let count = report.problems().count();
    match report.problems().next() {
        None => Ok(()),
        Some(first) if count == 1 => Err(Failure::Data(first.to_string())),
        Some(first) => Err(Failure::Data(format!(
            "{first} (and {} more problem(s), listed in the report)",
            count - 1
        ))),
    }
}

fn text(report: &VerifyReport, out: &mut impl Write) -> Result<(), Failure> {
    let problem =
        |out: &mut dyn Write, indent: &str, p: &Problem| writeln!(out, "{indent}problem: {p}");
    for p in &report.problems {
        problem(out, "", p)?;
    }
    let (mut batches, mut records, mut bytes) = (0u64, 0u64, 0u64);
    for p in &report.partitions {
        for note in &p.notes {
            writeln!(out, "note {}: {note}", p.dir.display())?;
        }
        for s in &p.segments {
            let offsets = match (s.first_offset, s.last_offset) {
                (Some(a), Some(b)) => format!("{a}..={b}"),
                _ => "empty".into(),
            };
            // A segment with a problem shows what was read before it.
            let status = if s.problems.is_empty() { "ok" } else { "BAD" };
            writeln!(
                out,
                "{status} {}: {} batches, {} records, {} control, offsets {offsets}, {} bytes, index {} / timeindex {} / txnindex {} entries",
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
            for p in &s.problems {
                problem(out, "   ", p)?;
            }
            batches += s.batches;
            records += s.records;
            bytes += s.size;
        }
        for p in &p.problems {
            problem(out, "", p)?;
        }
    }
    let segments: usize = report.partitions.iter().map(|p| p.segments.len()).sum();
    let problems = report.problems().count();
    let verdict = if problems == 0 {
        "sound:".to_owned()
    } else {
        format!("NOT SOUND, {problems} problem(s):")
    };
    writeln!(
        out,
        "{verdict} {} partition(s), {segments} segment(s), {batches} batches, {records} records, {bytes} bytes",
        report.partitions.len()
    )?;
    Ok(())
}

fn problem_json(p: &Problem) -> serde_json::Value {
    json!({
        "file": p.file.display().to_string(),
        "position": p.position,
        "error": p.message,
    })
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
                        "problems": s.problems.iter().map(problem_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "dir": p.dir.display().to_string(),
                "topic": p.topic_partition.as_ref().map(|(t, _)| t),
                "partition": p.topic_partition.as_ref().map(|(_, n)| n),
                "cleanup_policy": p.cleanup_policy,
                "segments": segments,
                "notes": p.notes,
                "problems": p.problems.iter().map(problem_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "ok": report.is_sound(),
        "partitions": partitions,
        "problems": report.problems().map(problem_json).collect::<Vec<_>>(),
    })
}
