//! `weir`: Kafka's log in a data directory: topics, produce, consume, and
//! inspecting and verifying Kafka logs written by Weir or by Kafka.
//!
//! Exit codes: 0 success; 1 the data has a problem (a corrupt or torn batch, an
//! index that disagrees with its log); 2 bad usage, an unknown topic, a path that
//! cannot be read, or a data directory in use by another process.

mod consume;
mod dump;
mod json;
mod produce;
mod topics;
mod verify;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use weir_log::{LogDir, LogError};

/// Kafka's log, in process: topics in a data directory of Kafka segment files.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// The data directory (a Kafka log directory).
    #[arg(
        long,
        global = true,
        env = "WEIR_DATA_DIR",
        default_value = "./weir-data"
    )]
    data_dir: PathBuf,
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
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Append lines of stdin to a topic, one record per line.
    ///
    /// Keyed lines (with --key-separator) go to the partition the Java client
    /// would pick (murmur2); unkeyed lines stick to one partition per batch.
    /// Lines are batched up to --batch-size bytes while more input is ready.
    Produce {
        /// The topic.
        topic: String,
        /// Write every record to this partition.
        #[arg(long)]
        partition: Option<i32>,
        /// Split each line at the first SEP into key and value.
        #[arg(long, value_name = "SEP")]
        key_separator: Option<String>,
        /// 0: don't wait; 1: written to the OS; all: fsynced.
        #[arg(long, value_enum, default_value = "all")]
        acks: produce::Acks,
        /// Largest batch, in bytes of uncompressed records (Kafka's batch.size).
        #[arg(long, default_value_t = 16384)]
        batch_size: usize,
        /// Output format of the summary (text goes to stderr).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a topic's records.
    ///
    /// Text prints each value (with --key-separator: key, SEP, value); json
    /// prints `weir dump`'s schema, one object per line. Waits for new records
    /// at the end unless --exit-at-end.
    Consume {
        /// The topic.
        topic: String,
        /// Read only this partition (default: all).
        #[arg(long)]
        partition: Option<i32>,
        /// Where to start: beginning, end, an offset, or @TIMESTAMP_MS.
        #[arg(long, default_value = "beginning", value_parser = clap::value_parser!(consume::StartAt))]
        from: consume::StartAt,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
        /// Stop at the end of the log instead of waiting for more.
        #[arg(long)]
        exit_at_end: bool,
        /// In text format, print the key and SEP before the value.
        #[arg(long, value_name = "SEP")]
        key_separator: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
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

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create {
        /// The topic name: 1-249 of [a-zA-Z0-9._-].
        name: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// A topic config under its Kafka name, as KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List topics.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a topic's partitions (offsets, sizes, segments) and configs.
    Describe {
        /// The topic.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete a topic and its data.
    Delete {
        /// The topic.
        name: String,
        /// Output format.
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
    let data_dir = cli.data_dir.as_path();
    let result = match cli.command {
        Command::Dump { path, format } => dump::run(&path, format, &mut out),
        Command::Verify { path, format } => verify::run(&path, format, &mut out),
        Command::Topics(TopicsCommand::Create {
            name,
            partitions,
            configs,
            format,
        }) => topics::create(data_dir, &name, partitions, &configs, format, &mut out),
        Command::Topics(TopicsCommand::List { format }) => topics::list(data_dir, format, &mut out),
        Command::Topics(TopicsCommand::Describe { name, format }) => {
            topics::describe(data_dir, &name, format, &mut out)
        }
        Command::Topics(TopicsCommand::Delete { name, format }) => {
            topics::delete(data_dir, &name, format, &mut out)
        }
        Command::Produce {
            topic,
            partition,
            key_separator,
            acks,
            batch_size,
            format,
        } => {
            let args = produce::ProduceArgs {
                topic: &topic,
                partition,
                key_separator: key_separator.as_deref(),
                acks,
                batch_size: batch_size.max(1),
                format,
            };
            let mut input = io::BufReader::with_capacity(1 << 20, io::stdin());
            produce::run(data_dir, &args, &mut input, &mut out)
        }
        Command::Consume {
            topic,
            partition,
            from,
            count,
            exit_at_end,
            key_separator,
            format,
        } => {
            let args = consume::ConsumeArgs {
                topic: &topic,
                partition,
                from,
                count,
                exit_at_end,
                key_separator: key_separator.as_deref(),
                format,
            };
            consume::run(data_dir, &args, &mut out)
        }
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

/// Opens the data directory, naming it in the error.
fn open_data_dir(path: &Path) -> Result<LogDir, Failure> {
    LogDir::open(path).map_err(log_failure)
}

/// Damaged data exits 1; everything else (unknown topic, bad config, a locked
/// directory, I/O) exits 2.
fn log_failure(e: LogError) -> Failure {
    match e {
        LogError::Corrupt { .. } => Failure::Data(e.to_string()),
        other => Failure::Usage(other.to_string()),
    }
}

/// Splits `KEY=VALUE`.
fn parse_property(text: &str, flag: &str) -> Result<(String, String), Failure> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Failure::Usage(format!("{flag} {text:?} is not KEY=VALUE")))
}
