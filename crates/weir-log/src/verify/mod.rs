//! Verifying a log on disk: every batch CRC, every record decoded, offsets in
//! order, the `.index`, `.timeindex` and `.txnindex` entries and the
//! `leader-epoch-checkpoint` consistent with the batches, and, for a partition
//! directory, that nothing is missing: no index file without its `.log`, no
//! offsets missing between segments of a topic that does not compact, and no log
//! ending below what the data directory's checkpoints record for it.
//!
//! Verification goes on after a problem: every partition and segment is checked,
//! and every problem is named with its file and byte position (the first of each
//! file at least: a segment's `.log` is read up to its first problem).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::checkpoint::{EpochEntry, parse_leader_epoch_checkpoint};
use crate::log_dir::{LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, TOPICS_FILE};
use crate::paths::{LogPath, classify};
use crate::segment_file::{LEADER_EPOCH_CHECKPOINT, parse_partition_dir_name};

mod partition;
mod segment;

pub use partition::verify_partition_dir;
pub use segment::verify_segment;

use partition::{DataDirContext, partition};
use segment::segment;

/// One problem found: the file, the byte position in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: byte {position}: {message}", file.display())]
pub struct Problem {
    /// The file with the problem (a segment's `.log` for offsets missing between
    /// segments; the checkpoint file for a log ending below its checkpoint).
    pub file: PathBuf,
    /// Byte position in that file (of the batch, index entry or line; 0 when the
    /// problem concerns the whole file).
    pub position: u64,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    fn new(file: &Path, position: u64, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_path_buf(),
            position,
            message: message.into(),
        }
    }

    fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |e| Problem::new(path, 0, format!("read error: {e}"))
    }
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The data is not sound: the first problem found, and the whole report with
    /// every problem ([`VerifyReport::problems`]).
    #[error("{}: byte {position}: {message}{}", file.display(), more_problems(report))]
    Problem {
        /// The file with the first problem.
        file: PathBuf,
        /// Byte position in that file (of the batch, index entry or line).
        position: u64,
        /// What is wrong.
        message: String,
        /// Everything verified, every problem included.
        report: Box<VerifyReport>,
    },
    /// The path is not a log, or cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn more_problems(report: &VerifyReport) -> String {
    match report.problems().count() {
        0 | 1 => String::new(),
        n => format!(" (and {} more problem(s))", n - 1),
    }
}

impl VerifyError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| VerifyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What one segment holds: all of it when it has no problem, what precedes the
/// first problem of its `.log` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The `.log` file.
    pub log: PathBuf,
    /// Base offset from the file name.
    pub base_offset: i64,
    /// Bytes in the `.log`.
    pub size: u64,
    /// Batches, control batches included.
    pub batches: u64,
    /// Data records (control records excluded).
    pub records: u64,
    /// Control batches (transaction markers).
    pub control_batches: u64,
    /// Base offset of the first batch.
    pub first_offset: Option<i64>,
    /// Last offset of the last batch.
    pub last_offset: Option<i64>,
    /// The largest batch max timestamp.
    pub max_timestamp: Option<i64>,
    /// Entries in `.index` (preallocated zero entries not counted).
    pub index_entries: usize,
    /// Entries in `.timeindex` (likewise).
    pub time_index_entries: usize,
    /// Entries in `.txnindex`.
    pub txn_index_entries: usize,
    /// Observations that are not problems (a missing index, preallocated space).
    pub notes: Vec<String>,
    /// The problems of the `.log` (its first) and of each index file.
    pub problems: Vec<Problem>,
}

impl SegmentSummary {
    /// Whether the `.log` was read to its end without a problem (its counts and
    /// offsets are then the whole segment's).
    pub fn log_is_sound(&self) -> bool {
        !self.problems.iter().any(|p| p.file == self.log)
    }

    /// The offset after the segment's last batch; its base offset when empty.
    fn next_offset(&self) -> i64 {
        self.last_offset
            .map_or(self.base_offset, |last| last.saturating_add(1))
    }
}

/// What one partition directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSummary {
    /// The directory.
    pub dir: PathBuf,
    /// Topic and partition, when the directory is named `<topic>-<partition>`.
    pub topic_partition: Option<(String, i32)>,
    /// The topic's `cleanup.policy` from the data directory's
    /// `weir-topics.json` (`None` when it cannot be known: no data directory, or
    /// a topic it does not list; gaps between segments are then notes).
    pub cleanup_policy: Option<String>,
    /// Its segments, by base offset.
    pub segments: Vec<SegmentSummary>,
    /// Observations that are not problems.
    pub notes: Vec<String>,
    /// Problems of the partition as a whole: its `leader-epoch-checkpoint`,
    /// overlapping segments, offsets missing between segments, orphaned index
    /// files, a log ending below a checkpoint. (Each segment's own are in it.)
    pub problems: Vec<Problem>,
}

/// The result of verifying a path: every partition it held, and every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The partitions (one for a single segment file).
    pub partitions: Vec<PartitionSummary>,
    /// Problems of the data directory's own files (`weir-topics.json`, the
    /// offset checkpoints) and partitions they list that are gone.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Every problem: the data directory's, then each partition's (its
    /// segments' in order, then its own).
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .chain(self.partitions.iter().flat_map(|p| {
                p.segments
                    .iter()
                    .flat_map(|s| s.problems.iter())
                    .chain(p.problems.iter())
            }))
    }

    /// Whether no problem was found.
    pub fn is_sound(&self) -> bool {
        self.problems().next().is_none()
    }

    /// The report when it is sound.
    ///
    /// # Errors
    /// [`VerifyError::Problem`] naming the first problem, holding the report.
    pub fn into_result(self) -> Result<VerifyReport, VerifyError> {
        let first = self.problems().next().cloned();
        match first {
            None => Ok(self),
            Some(first) => Err(VerifyError::Problem {
                file: first.file,
                position: first.position,
                message: first.message,
                report: Box::new(self),
            }),
        }
    }
}

/// Verifies a segment file, a partition directory or a data directory, and
/// fails unless everything is sound. Reads files only; blocks on their I/O.
///
/// # Errors
/// [`VerifyError::Problem`] naming the first problem, with the report of
/// everything (see [`verify_report`]); [`VerifyError::Io`] when the path is not
/// a log or cannot be read.
pub fn verify_path(path: &Path) -> Result<VerifyReport, VerifyError> {
    verify_report(path)?.into_result()
}

/// Verifies a segment file, a partition directory or a data directory, going on
/// after problems: the report holds every partition and segment checked and
/// every problem found ([`VerifyReport::is_sound`]). Reads files only; blocks
/// on their I/O.
///
/// A partition directory inside a data directory (one holding
/// `weir-topics.json` or the offset checkpoints) is checked against them too.
///
/// # Errors
/// [`VerifyError::Io`] when the path is not a log or cannot be read; a file
/// under it that cannot be read is a problem in the report.
pub fn verify_report(path: &Path) -> Result<VerifyReport, VerifyError> {
    let classified = match classify(path) {
        // A data directory whose every partition directory is gone: what its
        // files list is checked against nothing.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput && is_data_dir(path) => {
            LogPath::DataDir(Vec::new())
        }
        // A data directory named like a partition (Kafka's `kafka-logs-1`)
        // with no partition directory left: its own files say what it is.
        Ok(LogPath::Partition(_)) if is_data_dir(path) => LogPath::DataDir(Vec::new()),
        other => other.map_err(VerifyError::io(path))?,
    };
    match classified {
        LogPath::Segment {
            path: log,
            base_offset,
        } => {
            let dir = log.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut problems = Vec::new();
            let epochs = read_epochs(&dir).unwrap_or_else(|p| {
                problems.push(p);
                Vec::new()
            });
            Ok(VerifyReport {
                partitions: vec![PartitionSummary {
                    topic_partition: parse_partition_dir_name(&dir),
                    cleanup_policy: None,
                    segments: vec![segment(&log, base_offset, &epochs)],
                    notes: Vec::new(),
                    problems,
                    dir,
                }],
                problems: Vec::new(),
            })
        }
        LogPath::Partition(dir) => {
            let root = dir.parent().filter(|p| is_data_dir(p));
            let mut context = DataDirContext::read(root);
            let partition = partition(&dir, &context);
            Ok(VerifyReport {
                partitions: vec![partition],
                problems: std::mem::take(&mut context.problems),
            })
        }
        LogPath::DataDir(dirs) => {
            let mut context = DataDirContext::read(Some(path));
            let partitions: Vec<PartitionSummary> =
                dirs.iter().map(|d| partition(d, &context)).collect();
            context.check_missing_partitions(path, &partitions);
            Ok(VerifyReport {
                partitions,
                problems: context.problems,
            })
        }
    }
}

fn read_epochs(dir: &Path) -> Result<Vec<EpochEntry>, Problem> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT);
    match fs::read_to_string(&path) {
        Ok(text) => parse_leader_epoch_checkpoint(&text)
            .map_err(|e| Problem::new(&path, e.position as u64, e.reason)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Problem::io(&path)(e)),
    }
}

/// Whether `dir` looks like a data directory: it holds Weir's topic file, an
/// offset checkpoint or Kafka's `meta.properties`.
fn is_data_dir(dir: &Path) -> bool {
    [
        TOPICS_FILE,
        RECOVERY_POINT_CHECKPOINT,
        LOG_START_OFFSET_CHECKPOINT,
        "meta.properties",
    ]
    .iter()
    .any(|f| dir.join(f).is_file())
}

/// `summary` when it has no problem, else the error naming its first.
fn sound_partition(summary: PartitionSummary) -> Result<PartitionSummary, VerifyError> {
    let report = VerifyReport {
        partitions: vec![summary],
        problems: Vec::new(),
    };
    let mut report = report.into_result()?;
    report.partitions.pop().ok_or_else(|| VerifyError::Io {
        path: PathBuf::new(),
        source: io::Error::other("no partition verified"),
    })
}
