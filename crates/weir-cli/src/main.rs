//! `weir`: Kafka's log in a data directory: topics, produce, consume, bench,
//! and inspecting and verifying Kafka logs written by Weir or by Kafka.
//!
//! Exit codes: 0 success; 1 the data has a problem (a corrupt or torn batch, an
//! index that disagrees with its log); 2 bad usage or config (an unknown
//! property, an unknown topic, a path that cannot be read, a data directory in
//! use by another process) and failed deliveries.

mod admin;
mod bench;
mod client;
mod compact;
mod consume;
mod dump;
mod groups;
mod json;
mod produce;
mod repair;
mod topics;
mod transactions;
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
    /// For people (dump: batches with all their header fields, then their
    /// records).
    Text,
    /// For scripts: JSON, one object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe, alter and delete topics; look up offsets and
    /// delete records.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Send lines of stdin to a topic, one record per line, through Weir's
    /// producer.
    ///
    /// Keyed lines (with --key-separator) go to the partition the Java client
    /// would pick (murmur2); unkeyed lines stick to one partition per batch.
    /// Lines are batched (batch.size, linger.ms) while more input is ready; a
    /// line typed at a terminal is delivered at once. At the end the count
    /// delivered is reported (stderr in text, one JSON object on stdout in
    /// json); any failed delivery exits non-zero with the error on stderr.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, read through Weir's consumer.
    ///
    /// Text prints each value (with --key-separator: key, SEP, value); json
    /// prints `weir dump`'s schema, one object per line. Waits for new records
    /// at the end unless --exit-at-end or --count says when to stop; Ctrl-C
    /// (SIGINT, SIGTERM, SIGHUP) stops it cleanly, with exit code 130 as
    /// Kafka's console consumer. With --group (and enable.auto.commit, the
    /// default), the offsets of what was printed are committed when it
    /// stops.
    Consume(consume::ConsumeArgs),
    /// Compact a topic now: one cleaning pass over each partition's closed
    /// segments, whatever its dirty ratio (the background cleaner waits for
    /// `min.cleanable.dirty.ratio`).
    ///
    /// The latest record of each key survives at its offset; tombstones stay
    /// for `delete.retention.ms`. Prints what each pass did (json: one object
    /// per partition). Exits 2 for a topic whose cleanup.policy has no
    /// `compact`, 1 for a corrupt segment.
    Compact(compact::CompactArgs),
    /// List, describe (lag), reset offsets of, and delete consumer groups (like
    /// kafka-consumer-groups).
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// List the data directory's transactional ids and their open
    /// transactions (like kafka-transactions), also while an application has
    /// the directory open.
    #[command(subcommand)]
    Transactions(transactions::TransactionsCommand),
    /// Measure producer and consumer throughput and latency on a fresh topic
    /// (like Kafka's perf-test tools).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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
    /// Damage does not stop it. In text, a batch failing its CRC is printed with
    /// `isvalid: false` (then its records as far as they decode), as Kafka's
    /// kafka-dump-log does; at bytes that frame no batch, "Found N invalid bytes
    /// at the end of FILE" and the next segment follows. In json, only the
    /// records of sound batches are printed. Each problem is named on stderr
    /// (file and byte position), and the exit code is 1 at the end.
    Dump {
        /// A `<20-digit base offset>.log` file, a `<topic>-<partition>/` directory,
        /// or a directory of partition directories [default: the data directory,
        /// --data-dir].
        path: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Open a data directory that damage keeps from opening (records that
    /// were fsynced no longer read back), cutting each damaged partition at
    /// its first damaged batch as Kafka's recovery cuts a log: the records
    /// from there on are lost, and consumers whose positions lie past the new
    /// end start over per auto.offset.reset.
    ///
    /// The damaged segment and every later one of each such partition are
    /// first copied (and fsynced) into --backup. Run `weir verify` first to
    /// see what is damaged, and `weir dump` on the copies to read what was
    /// cut. Partitions without such damage are opened as usual (a torn,
    /// unacknowledged tail is cut as at any open). Damage is cut where
    /// recovery reads (the segments from the recovery point on, or a last
    /// segment that does not end cleanly); an older segment whose index must
    /// be rebuilt and whose batches do not frame still fails the open, named
    /// in the error. Prints each cut (json: one object listing them); exits
    /// 0 when the directory opens.
    Repair(repair::RepairArgs),
    /// Check a log: every batch's CRC-32C, every record decoded, offsets in order,
    /// the .index, .timeindex, .txnindex and leader-epoch-checkpoint entries
    /// against the batches, and that nothing is missing: no index file without
    /// its .log, no offsets missing between segments of a topic whose
    /// cleanup.policy (from the data directory's weir-topics.json) does not
    /// compact, no log ending below what recovery-point-offset-checkpoint or
    /// log-start-offset-checkpoint records for it.
    ///
    /// Checks every partition and segment and reports every problem with its
    /// file and byte position. Exits 0 when sound, 1 when anything is wrong.
    Verify {
        /// A `<20-digit base offset>.log` file, a `<topic>-<partition>/` directory,
        /// or a directory of partition directories [default: the data directory,
        /// --data-dir].
        path: Option<PathBuf>,
        /// Output format: a summary table, or one JSON object (the same schema
        /// either way: "ok", "partitions", and "problems" listing every
        /// problem as {"file","position","error"}).
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
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
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
    /// Show a topic's partitions (offsets, sizes, segments, the cleaner's dirty
    /// ratio and last clean) and configs.
    Describe {
        /// The topic.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete a topic and its data, and the groups' committed offsets for it.
    ///
    /// `__consumer_offsets` is refused: to drop consumer groups and their
    /// offsets, use `weir groups delete`.
    Delete {
        /// The topic.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Give a topic the id a Kafka cluster's controller gave it (shown by
    /// `kafka-topics --describe`), before its partition directories move into
    /// a Kafka broker's log directory: a KRaft broker serves a directory only
    /// under that id. Rewrites each partition's `partition.metadata`. See the
    /// README's "Moving to Kafka".
    SetId {
        /// The topic (`__consumer_offsets` too).
        name: String,
        /// The topic's id in Kafka: 22 base64url characters.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Change a topic's configs and add partitions (like `kafka-topics
    /// --alter` and `kafka-configs --alter`).
    ///
    /// Everything is checked before anything changes: config values as at
    /// creation, that a deleted config is an override, the partition count.
    /// Adding partitions moves where keys land, as in Kafka. Each
    /// --add-config takes one KEY=VALUE (no comma lists).
    Alter {
        /// The topic.
        name: String,
        /// The new partition count: more than it has.
        #[arg(long, allow_negative_numbers = true)]
        partitions: Option<u32>,
        /// A config override to set, as KEY=VALUE under its Kafka name
        /// (repeatable).
        #[arg(long = "add-config", value_name = "KEY=VALUE")]
        add_configs: Vec<String>,
        /// A config override to remove, back to its default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print partition offsets (like `kafka-get-offsets`): one
    /// `topic:partition:offset` line per partition.
    ///
    /// A partition with no record at or after a --time timestamp is left out
    /// (json: its offset is null).
    Offsets {
        /// The topic.
        name: String,
        /// Only this partition.
        #[arg(long, allow_hyphen_values = true)]
        partition: Option<i32>,
        /// Which offset: latest (-1, the high watermark), earliest (-2, the log
        /// start), max-timestamp (-3, the record with the largest timestamp),
        /// or a timestamp in ms (the first record at or after it).
        /// earliest-local (-4) is earliest and latest-tiered (-5) has no
        /// offset: there is no tiered storage.
        #[arg(long, default_value = "latest", allow_hyphen_values = true)]
        time: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete the records below an offset (like `kafka-delete-records`): the
    /// log start offset moves up, and whole segments below it are removed.
    ///
    /// Prints each partition's new low watermark.
    DeleteRecords {
        /// The topic.
        name: String,
        /// Only this partition (default: every one).
        #[arg(long, allow_hyphen_values = true)]
        partition: Option<i32>,
        /// The first offset to keep; -1 deletes every record.
        #[arg(long, allow_hyphen_values = true)]
        before: i64,
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
    /// Bad usage, a bad config, an unreadable path, a failed delivery: exit 2.
    Usage(String),
    /// stdout was closed (e.g. `weir dump ... | head`): stop quietly.
    ClosedOutput,
    /// Stopped by SIGINT, SIGTERM or SIGHUP after cleaning up: exit 130, as
    /// a shell reports a Ctrl-C.
    Interrupted(String),
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
    // Only `topics create` and `bench` (which creates its topic) start a data
    // directory; the other commands read one, and a mistyped --data-dir must
    // not quietly make a new, empty one.
    let creates = matches!(
        cli.command,
        Command::Topics(TopicsCommand::Create { .. }) | Command::Bench(_)
    );
    let reads_data_dir = !matches!(cli.command, Command::Dump { .. } | Command::Verify { .. });
    if reads_data_dir && let Err(message) = check_data_dir(data_dir, creates) {
        eprintln!("weir: {message}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Dump { path, format } => {
            dump::run(path.as_deref().unwrap_or(data_dir), format, &mut out)
        }
        Command::Verify { path, format } => {
            verify::run(path.as_deref().unwrap_or(data_dir), format, &mut out)
        }
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
        Command::Topics(TopicsCommand::SetId { name, id, format }) => {
            topics::set_id(data_dir, &name, &id, format, &mut out)
        }
        Command::Topics(TopicsCommand::Alter {
            name,
            partitions,
            add_configs,
            delete_configs,
            format,
        }) => admin::alter(
            data_dir,
            &name,
            &admin::Alteration {
                partitions,
                add_configs: &add_configs,
                delete_configs: &delete_configs,
            },
            format,
            &mut out,
        ),
        Command::Topics(TopicsCommand::Offsets {
            name,
            partition,
            time,
            format,
        }) => admin::parse_time(&time)
            .and_then(|spec| admin::offsets(data_dir, &name, partition, spec, format, &mut out)),
        Command::Topics(TopicsCommand::DeleteRecords {
            name,
            partition,
            before,
            format,
        }) => admin::delete_records(data_dir, &name, partition, before, format, &mut out),
        Command::Produce(args) => {
            let mut input = io::BufReader::with_capacity(1 << 20, io::stdin());
            produce::run(data_dir, &args, &mut input, &mut out)
        }
        Command::Consume(args) => consume::run(data_dir, &args, &mut out),
        Command::Bench(command) => bench::run(data_dir, &command, &mut out),
        Command::Groups(command) => groups::run(data_dir, &command, &mut out),
        Command::Transactions(command) => transactions::run(data_dir, &command, &mut out),
        Command::Compact(args) => compact::run(data_dir, &args, &mut out),
        Command::Repair(args) => repair::run(data_dir, &args, &mut out),
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
        Err(Failure::Interrupted(message)) => {
            eprintln!("weir: {message}");
            ExitCode::from(130)
        }
    }
}

/// Whether the commands that open `path` as a data directory may: one that
/// holds `meta.properties` (a Kafka log directory, or one Weir started), an
/// empty one, one holding only partition directories with segments (copied
/// from a Kafka broker), or (for the commands that start one) a new one. Any
/// other
/// directory is refused: opening it would take its `NAME-N` subdirectories
/// for partitions, write segment files into them, and `topics delete` would
/// remove them, whatever else they hold.
fn check_data_dir(path: &Path, creates: bool) -> Result<(), String> {
    let shown = path.display();
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if creates {
                Ok(())
            } else {
                Err(format!(
                    "data directory {shown} does not exist (create a topic in it with `weir topics create`, or pass --data-dir)"
                ))
            };
        }
        Err(_) if path.exists() && !path.is_dir() => {
            return Err(format!(
                "--data-dir {shown} is a file, not a directory (pass the data directory)"
            ));
        }
        Err(e) => return Err(format!("data directory {shown}: {e}")),
    };
    // Empty, or holding only partition directories with segments (copied
    // from a Kafka broker, which Weir adopts as topics), is fine too; a
    // hidden entry (`.git`, `.env`) is another file. What an open writes
    // before `meta.properties` (the lock, then `meta.properties` by way of
    // its `.tmp`) is what a crash at the start of a first open leaves: the
    // directory is still new.
    let mut only_partitions = true;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == "meta.properties" || name == weir_log::TOPICS_FILE {
            return Ok(());
        }
        if name == weir_log::LOCK_FILE || name == "meta.properties.tmp" {
            continue;
        }
        only_partitions &= !name.to_str().is_some_and(|n| n.starts_with('.'))
            && is_partition_with_segments(&entry.path());
    }
    if only_partitions {
        return Ok(());
    }
    Err(format!(
        "{shown} is not a data directory: it holds other files and no meta.properties (a Kafka log directory has one, and Weir writes one when it starts a directory). Pass --data-dir of a data directory, or a new or empty directory to start one"
    ))
}

/// Whether `dir` is named `<topic>-<partition>` and holds a segment file
/// (`<20 digits>.log`).
fn is_partition_with_segments(dir: &Path) -> bool {
    use weir_log::segment_file::{parse_partition_dir_name, parse_segment_file_name};
    parse_partition_dir_name(dir).is_some()
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| parse_segment_file_name(n, ".log").is_some())
            })
        })
}

/// What to do about a data directory another process has open.
pub(crate) fn locked_hint(data_dir: &Path) -> String {
    format!(
        "one process at a time opens a data directory (stop it first); `weir dump` and `weir verify` read its partition directories while it runs, e.g. `weir dump {}/TOPIC-0 --format json`",
        data_dir.display()
    )
}

/// What to do about a data directory that does not open because a partition
/// is damaged where recovery may not cut it (below what was fsynced).
pub(crate) fn damaged_hint(data_dir: &Path, e: &LogError) -> String {
    let partition = match e {
        LogError::Corrupt { path, .. } => path
            .ancestors()
            .find(|p| p.parent().is_some_and(|parent| parent == data_dir))
            .map(Path::to_path_buf),
        _ => None,
    };
    let aside = partition.map_or_else(
        || "move the damaged partition's directory".to_string(),
        |p| format!("move {}", p.display()),
    );
    format!(
        "a data directory does not open while it holds damage that recovery must not cut off (records that were fsynced): `weir verify {}` shows every problem, and `weir dump` reads what is sound. `weir repair --backup DIR` cuts a partition at damage that recovery reads (its last segments) as Kafka's recovery does: the records from there on are lost, and what it cuts is copied into DIR first; damage in an index-less older segment it reports again. Or, to open the rest without that partition, {aside} out of the data directory (back it up): Weir then starts that partition again, empty, at its log start offset (0 unless retention or delete-records moved it), so its offsets are handed out again and committed offsets point past its end",
        data_dir.display()
    )
}

/// Opens the data directory, naming it in the error.
fn open_data_dir(path: &Path) -> Result<LogDir, Failure> {
    LogDir::open(path).map_err(|e| match e {
        LogError::DirLocked { .. } => Failure::Usage(format!("{e}; {}", locked_hint(path))),
        LogError::Corrupt { .. } => Failure::Data(format!("{e}; {}", damaged_hint(path, &e))),
        other => log_failure(other),
    })
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
