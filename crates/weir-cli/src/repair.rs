//! `weir repair`: opens a data directory that damage keeps from opening,
//! cutting each damaged partition at its first damaged batch as Kafka's
//! recovery cuts a log, after copying the segments it cuts.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use weir_log::{LogDir, LogDirOptions, LogError};

use crate::{Failure, Format, locked_hint, log_failure};

/// Arguments of `weir repair`.
#[derive(Debug, Args)]
pub(crate) struct RepairArgs {
    /// Where each damaged partition's segments are copied (and fsynced)
    /// before they are cut, in a directory named after the partition; outside
    /// the data directory. An earlier copy there is never overwritten.
    #[arg(long, value_name = "DIR")]
    backup: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(data_dir: &Path, args: &RepairArgs, out: &mut impl Write) -> Result<(), Failure> {
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))
    };
    let (data, backup) = (absolute(data_dir)?, absolute(&args.backup)?);
    if backup.starts_with(&data) {
        return Err(Failure::Usage(format!(
            "--backup {} is inside the data directory {}: pass a directory outside it",
            args.backup.display(),
            data_dir.display()
        )));
    }
    let logs = LogDir::open_with(
        data_dir,
        LogDirOptions {
            background_thread: false,
            damaged_segments_to: Some(backup),
            ..LogDirOptions::default()
        },
    )
    .map_err(|e| match e {
        LogError::DirLocked { .. } => Failure::Usage(format!("{e}; {}", locked_hint(data_dir))),
        other => log_failure(other),
    })?;
    let repaired: Vec<serde_json::Value> = logs
        .recovery_reports()
        .iter()
        .filter_map(|(partition, r)| {
            let copied = r.damage_copied_to.as_ref()?;
            let (file, position, reason) = r
                .reason
                .as_ref()
                .map(|(f, p, why)| (f.display().to_string(), *p, why.clone()))
                .unwrap_or_default();
            Some(json!({
                "partition": partition,
                "file": file,
                "position": position,
                "reason": reason,
                "truncated_bytes": r.truncated_bytes,
                "segments_deleted": r.segments_deleted,
                "log_end_offset": r.log_end_offset,
                "copied_to": copied.display().to_string(),
            }))
        })
        .collect();
    let closed = logs.close().map_err(log_failure);
    match args.format {
        Format::Json => writeln!(out, "{}", json!({ "repaired": repaired }))?,
        Format::Text if repaired.is_empty() => writeln!(
            out,
            "nothing to repair: the data directory opens as it is (damage that does not keep it from opening, which `weir verify` reports, is left in place: a reader meets it as a corrupt-record error naming its offset, and can seek past it)"
        )?,
        Format::Text => {
            for r in &repaired {
                writeln!(
                    out,
                    "{}: cut at {} byte {} ({}): {} bytes and {} later segment(s) removed, the log now ends at offset {}; the segments cut were copied to {}",
                    r["partition"].as_str().unwrap_or_default(),
                    r["file"].as_str().unwrap_or_default(),
                    r["position"],
                    r["reason"].as_str().unwrap_or_default(),
                    r["truncated_bytes"],
                    r["segments_deleted"],
                    r["log_end_offset"],
                    r["copied_to"].as_str().unwrap_or_default(),
                )?;
            }
        }
    }
    closed
}
