//! `weir`: inspect and verify Kafka logs written by Weir or by Kafka.
//!
//! Exit codes: 0 success; 1 the data has a problem (a corrupt or torn batch, an
//! index that disagrees with its log); 2 bad usage or a path that cannot be read.

mod dump;
mod json;
mod verify;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Kafka's log, in process: inspect and verify Kafka segment files.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people: batches with all their header fields, then their records.
    Text,
    /// For scripts: one JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the records of a segment file, a partition directory or a data
    /// directory.
    ///
    /// With `--format json`, prints one object per record and line:
    /// {"topic","partition","offset","timestamp","key","value","headers"}, where
    /// bytes that are valid UTF-8 appear as {"utf8": "..."}, other bytes as
    /// {"base64": "..."}, and a null key or value as null. Topic and partition come
    /// from the `<topic>-<partition>` directory name (null when it has another
    /// name). Control records (transaction markers) are not printed in json mode.
    ///
    /// Stops at the first corrupt or torn batch with exit code 1, after printing
    /// what precedes it.
    Dump {
        /// A `<20-digit base offset>.log` file, a `<topic>-<partition>/` directory,
        /// or a directory of partition directories.
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check a log: every batch's CRC-32C, every record decoded, offsets in order,
    /// and the .index, .timeindex, .txnindex and leader-epoch-checkpoint entries
    /// against the batches.
    ///
    /// Exits 0 when sound; 1 with a message naming the file and byte position of
    /// the first problem.
    Verify {
        /// A `<20-digit base offset>.log` file, a `<topic>-<partition>/` directory,
        /// or a directory of partition directories.
        path: PathBuf,
        /// Output format: a summary table, or one JSON object.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
enum Failure {
    /// The data has a problem: exit 1.
    Data(String),
    /// Bad usage or an unreadable path: exit 2.
    Usage(String),
    /// stdout was closed (e.g. `weir dump ... | head`): stop quietly.
    ClosedOutput,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::ClosedOutput
        } else {
            Failure::Usage(format!("writing output: {e}"))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let result = match cli.command {
        Command::Dump { path, format } => dump::run(&path, format, &mut out),
        Command::Verify { path, format } => verify::run(&path, format, &mut out),
    };
    let flushed = out.flush().map_err(Failure::from);
    match result.and(flushed) {
        Ok(()) | Err(Failure::ClosedOutput) => ExitCode::SUCCESS,
        Err(Failure::Data(message)) => {
            eprintln!("weir: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("weir: {message}");
            ExitCode::from(2)
        }
    }
}
