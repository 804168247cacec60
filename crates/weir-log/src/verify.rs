//! Verifying a log on disk: every batch CRC, every record decoded, offsets in
//! order, and the `.index`, `.timeindex` and `.txnindex` entries and the
//! `leader-epoch-checkpoint` consistent with the batches.
//!
//! Verification stops at the first problem and names its file and byte position.

use std::fs;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use weir_record::{ControlRecordType, ReadError, ReaderBatches, RecordBatch};

use crate::checkpoint::{EpochEntry, epoch_for_offset, parse_leader_epoch_checkpoint};
use crate::index::{
    OFFSET_INDEX_ENTRY_SIZE, TIME_INDEX_ENTRY_SIZE, TXN_INDEX_ENTRY_SIZE, parse_offset_index,
    parse_time_index, parse_txn_index,
};
use crate::paths::{LogPath, classify, list_segments};
use crate::segment_file::{
    INDEX_SUFFIX, LEADER_EPOCH_CHECKPOINT, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
    parse_partition_dir_name,
};

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The data is not sound: the first problem found.
    #[error("{}: byte {position}: {message}", file.display())]
    Problem {
        /// The file with the problem.
        file: PathBuf,
        /// Byte position in that file (of the batch, index entry or line).
        position: u64,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl VerifyError {
    fn problem(file: &Path, position: u64, message: impl Into<String>) -> Self {
        VerifyError::Problem {
            file: file.to_path_buf(),
            position,
            message: message.into(),
        }
    }

    fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| VerifyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What one sound segment holds.
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
}

/// What one sound partition directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSummary {
    /// The directory.
    pub dir: PathBuf,
    /// Topic and partition, when the directory is named `<topic>-<partition>`.
    pub topic_partition: Option<(String, i32)>,
    /// Its segments, by base offset.
    pub segments: Vec<SegmentSummary>,
}

/// The result of verifying a path: every partition it held, all sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The partitions (one for a single segment file).
    pub partitions: Vec<PartitionSummary>,
}

/// Verifies a segment file, a partition directory or a data directory.
///
/// # Errors
/// [`VerifyError::Problem`] for the first unsound byte found;
/// [`VerifyError::Io`] when the path is not a log or cannot be read.
pub fn verify_path(path: &Path) -> Result<VerifyReport, VerifyError> {
    let partitions = match classify(path).map_err(VerifyError::io(path))? {
        LogPath::Segment {
            path: log,
            base_offset,
        } => {
            let dir = log.parent().map(Path::to_path_buf).unwrap_or_default();
            let epochs = read_epochs(&dir)?;
            vec![PartitionSummary {
                topic_partition: parse_partition_dir_name(&dir),
                segments: vec![verify_segment(&log, base_offset, &epochs)?],
                dir,
            }]
        }
        LogPath::Partition(dir) => vec![verify_partition_dir(&dir)?],
        LogPath::DataDir(dirs) => dirs
            .iter()
            .map(|d| verify_partition_dir(d))
            .collect::<Result<_, _>>()?,
    };
    Ok(VerifyReport { partitions })
}

fn read_epochs(dir: &Path) -> Result<Vec<EpochEntry>, VerifyError> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT);
    match fs::read_to_string(&path) {
        Ok(text) => parse_leader_epoch_checkpoint(&text)
            .map_err(|e| VerifyError::problem(&path, e.position as u64, e.reason)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(VerifyError::io(&path)(e)),
    }
}

/// Verifies every segment of a partition directory and that they follow each
/// other: each segment's offsets lie below the next segment's base offset.
///
/// # Errors
/// As [`verify_path`].
pub fn verify_partition_dir(dir: &Path) -> Result<PartitionSummary, VerifyError> {
    let epochs = read_epochs(dir)?;
    let mut segments: Vec<SegmentSummary> = Vec::new();
    for (base_offset, log) in list_segments(dir).map_err(VerifyError::io(dir))? {
        if let Some(prev) = segments.last()
            && let Some(last) = prev.last_offset
            && last >= base_offset
        {
            return Err(VerifyError::problem(
                &prev.log,
                0,
                format!("holds offsets up to {last}, but the next segment starts at {base_offset}"),
            ));
        }
        segments.push(verify_segment(&log, base_offset, &epochs)?);
    }
    Ok(PartitionSummary {
        dir: dir.to_path_buf(),
        topic_partition: parse_partition_dir_name(dir),
        segments,
    })
}

/// Where a batch sits and what the indexes need to know of it.
#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    position: u64,
    base_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
    producer_id: i64,
    transactional: bool,
    /// A control batch (`control` is `None` for one the cleaner emptied).
    control_batch: bool,
    control: Option<ControlRecordType>,
}

/// Verifies one segment and the index files beside it. `epochs` is the partition's
/// leader epoch checkpoint (empty when there is none).
///
/// # Errors
/// As [`verify_path`].
pub fn verify_segment(
    log: &Path,
    base_offset: i64,
    epochs: &[EpochEntry],
) -> Result<SegmentSummary, VerifyError> {
    let file = fs::File::open(log).map_err(VerifyError::io(log))?;
    let size = file.metadata().map_err(VerifyError::io(log))?.len();
    let mut summary = SegmentSummary {
        log: log.to_path_buf(),
        base_offset,
        size,
        batches: 0,
        records: 0,
        control_batches: 0,
        first_offset: None,
        last_offset: None,
        max_timestamp: None,
        index_entries: 0,
        time_index_entries: 0,
        txn_index_entries: 0,
        notes: Vec::new(),
    };
    let mut metas: Vec<BatchMeta> = Vec::new();
    for item in ReaderBatches::new(BufReader::with_capacity(256 * 1024, file), size) {
        let item =
            item.map_err(|e| VerifyError::problem(log, e.position(), read_error_message(e)))?;
        let meta = check_batch(
            log,
            base_offset,
            epochs,
            metas.last(),
            item.position,
            &item.batch,
            &mut summary,
        )?;
        metas.push(meta);
    }
    summary.batches = metas.len() as u64;
    summary.first_offset = metas.first().map(|m| m.base_offset);
    summary.last_offset = metas.last().map(|m| m.last_offset);
    summary.max_timestamp = metas.iter().map(|m| m.max_timestamp).max();

    let sibling = |suffix: &str| log.with_file_name(format!("{base_offset:020}{suffix}"));
    check_offset_index(&sibling(INDEX_SUFFIX), base_offset, &metas, &mut summary)?;
    check_time_index(
        &sibling(TIME_INDEX_SUFFIX),
        base_offset,
        &metas,
        &mut summary,
    )?;
    check_txn_index(&sibling(TXN_INDEX_SUFFIX), &metas, &mut summary)?;
    Ok(summary)
}

fn check_batch(
    log: &Path,
    base_offset: i64,
    epochs: &[EpochEntry],
    prev: Option<&BatchMeta>,
    position: u64,
    batch: &RecordBatch,
    summary: &mut SegmentSummary,
) -> Result<BatchMeta, VerifyError> {
    let problem = |message: String| VerifyError::problem(log, position, message);
    let (first, last) = (batch.base_offset(), batch.last_offset());
    if last < first {
        return Err(problem(format!(
            "last offset {last} is before the base offset {first}"
        )));
    }
    if first < base_offset {
        return Err(problem(format!(
            "offset {first} is below the segment's base offset {base_offset}"
        )));
    }
    if last - base_offset > i64::from(i32::MAX) {
        return Err(problem(format!(
            "offset {last} is too far past the base offset {base_offset} for a 32-bit relative offset"
        )));
    }
    if let Some(prev) = prev
        && first <= prev.last_offset
    {
        return Err(problem(format!(
            "offset {first} does not follow the previous batch's last offset {}",
            prev.last_offset
        )));
    }
    if let Some(epoch) = epoch_for_offset(epochs, first)
        && batch.partition_leader_epoch() != epoch
    {
        return Err(problem(format!(
            "partition leader epoch {} but the leader-epoch-checkpoint gives epoch {epoch} from offset {first}",
            batch.partition_leader_epoch()
        )));
    }
    let records = batch.records().map_err(|e| problem(e.to_string()))?;
    let mut count = 0u64;
    for record in &records {
        // Decoding a record checks every field, headers included.
        record.map_err(|e| problem(e.to_string()))?;
        count += 1;
    }
    let control = if batch.is_control() {
        summary.control_batches += 1;
        if count == 0 {
            // A marker the cleaner emptied, as Kafka's cleaner leaves them.
            None
        } else {
            let c = batch.control_record().map_err(|e| problem(e.to_string()))?;
            Some(c.record_type)
        }
    } else {
        summary.records += count;
        None
    };
    Ok(BatchMeta {
        position,
        base_offset: first,
        last_offset: last,
        max_timestamp: batch.max_timestamp(),
        producer_id: batch.producer_id(),
        transactional: batch.is_transactional(),
        control_batch: batch.is_control(),
        control,
    })
}

/// A batch iterator's error without the position the problem already carries.
fn read_error_message(e: ReadError) -> String {
    match e {
        ReadError::TornBatch {
            needed, available, ..
        } => {
            format!("torn batch: needs {needed} bytes, {available} remain in the file")
        }
        ReadError::Corrupt { source, .. } => format!("corrupt batch: {source}"),
        ReadError::Io { source, .. } => format!("read error: {source}"),
        other => other.to_string(),
    }
}

/// Reads an index file; `None` when it does not exist.
fn read_index(path: &Path, summary: &mut SegmentSummary) -> Result<Option<Vec<u8>>, VerifyError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !name.ends_with(TXN_INDEX_SUFFIX) && !name.ends_with(LOG_SUFFIX) {
                summary
                    .notes
                    .push(format!("{name} is missing (Kafka rebuilds it on recovery)"));
            }
            Ok(None)
        }
        Err(e) => Err(VerifyError::io(path)(e)),
    }
}

/// Entries past the last real one that are all zeros: space preallocated for an
/// active segment and not yet trimmed.
fn preallocated<T>(entries: &[T], is_zero: impl Fn(&T) -> bool) -> usize {
    entries.iter().rev().take_while(|e| is_zero(e)).count()
}

fn check_offset_index(
    path: &Path,
    base_offset: i64,
    metas: &[BatchMeta],
    summary: &mut SegmentSummary,
) -> Result<(), VerifyError> {
    let Some(bytes) = read_index(path, summary)? else {
        return Ok(());
    };
    let entries = parse_offset_index(&bytes, base_offset)
        .map_err(|e| VerifyError::problem(path, 0, e.to_string()))?;
    let slack = preallocated(&entries, |e| e.offset == base_offset && e.position == 0);
    let real = entries.get(..entries.len() - slack).unwrap_or_default();
    if slack > 0 {
        summary
            .notes
            .push(format!("{slack} preallocated .index entries (not trimmed)"));
    }
    let last_offset = metas.last().map_or(base_offset, |m| m.last_offset);
    for (i, e) in real.iter().enumerate() {
        let at = (i * OFFSET_INDEX_ENTRY_SIZE) as u64;
        let problem = |m: String| {
            VerifyError::problem(
                path,
                at,
                format!("entry {i} ({}, {}): {m}", e.offset, e.position),
            )
        };
        if i > 0
            && let Some(prev) = real.get(i - 1)
            && (e.offset <= prev.offset || e.position <= prev.position)
        {
            return Err(problem("does not follow the previous entry".into()));
        }
        let idx = metas.partition_point(|m| m.position < u64::from(e.position));
        let batch = metas
            .get(idx)
            .filter(|m| m.position == u64::from(e.position))
            .ok_or_else(|| problem("position is not the start of a batch".into()))?;
        if batch.base_offset > e.offset || e.offset > last_offset {
            return Err(problem(format!(
                "offset is not covered from the batch at that position (offsets {}..={})",
                batch.base_offset, batch.last_offset
            )));
        }
        if let Some(before) = idx.checked_sub(1).and_then(|j| metas.get(j))
            && before.last_offset >= e.offset
        {
            return Err(problem(format!(
                "the batch before the position already holds offset {}",
                before.last_offset
            )));
        }
    }
    summary.index_entries = real.len();
    Ok(())
}

fn check_time_index(
    path: &Path,
    base_offset: i64,
    metas: &[BatchMeta],
    summary: &mut SegmentSummary,
) -> Result<(), VerifyError> {
    let Some(bytes) = read_index(path, summary)? else {
        return Ok(());
    };
    let entries = parse_time_index(&bytes, base_offset)
        .map_err(|e| VerifyError::problem(path, 0, e.to_string()))?;
    let slack = preallocated(&entries, |e| e.timestamp == 0 && e.offset == base_offset);
    let real = entries.get(..entries.len() - slack).unwrap_or_default();
    if slack > 0 {
        summary.notes.push(format!(
            "{slack} preallocated .timeindex entries (not trimmed)"
        ));
    }
    // The running max timestamp before each batch.
    let mut max_before = Vec::with_capacity(metas.len());
    let mut running = i64::MIN;
    for m in metas {
        max_before.push(running);
        running = running.max(m.max_timestamp);
    }
    for (i, e) in real.iter().enumerate() {
        let at = (i * TIME_INDEX_ENTRY_SIZE) as u64;
        let problem = |m: String| {
            VerifyError::problem(
                path,
                at,
                format!("entry {i} ({}, {}): {m}", e.timestamp, e.offset),
            )
        };
        if i > 0
            && let Some(prev) = real.get(i - 1)
            && (e.timestamp <= prev.timestamp || e.offset < prev.offset)
        {
            return Err(problem("does not follow the previous entry".into()));
        }
        let idx = metas.partition_point(|m| m.last_offset < e.offset);
        let batch = metas
            .get(idx)
            .filter(|m| m.base_offset <= e.offset)
            .ok_or_else(|| problem("offset is in no batch of the segment".into()))?;
        if batch.max_timestamp != e.timestamp {
            return Err(problem(format!(
                "the batch holding the offset has max timestamp {}",
                batch.max_timestamp
            )));
        }
        if max_before
            .get(idx)
            .is_some_and(|&before| before >= e.timestamp)
        {
            return Err(problem(format!(
                "an earlier batch already reached timestamp {}",
                max_before.get(idx).copied().unwrap_or_default()
            )));
        }
    }
    summary.time_index_entries = real.len();
    Ok(())
}

fn check_txn_index(
    path: &Path,
    metas: &[BatchMeta],
    summary: &mut SegmentSummary,
) -> Result<(), VerifyError> {
    let Some(bytes) = read_index(path, summary)? else {
        return Ok(());
    };
    let entries =
        parse_txn_index(&bytes).map_err(|e| VerifyError::problem(path, 0, e.to_string()))?;
    let segment_start = metas.first().map_or(i64::MAX, |m| m.base_offset);
    let find = |offset: i64| {
        metas
            .binary_search_by_key(&offset, |m| m.base_offset)
            .ok()
            .and_then(|i| metas.get(i))
    };
    for (i, t) in entries.iter().enumerate() {
        let at = (i * TXN_INDEX_ENTRY_SIZE) as u64;
        let problem = |m: String| {
            VerifyError::problem(
                path,
                at,
                format!("aborted transaction {i} of producer {}: {m}", t.producer_id),
            )
        };
        if t.first_offset > t.last_offset {
            return Err(problem(format!(
                "first offset {} is after last offset {}",
                t.first_offset, t.last_offset
            )));
        }
        match find(t.last_offset) {
            Some(m)
                if m.control == Some(ControlRecordType::Abort)
                    && m.producer_id == t.producer_id => {}
            _ => {
                return Err(problem(format!(
                    "offset {} is not an ABORT marker of the producer",
                    t.last_offset
                )));
            }
        }
        if t.first_offset >= segment_start {
            match find(t.first_offset) {
                Some(m)
                    if m.transactional && m.producer_id == t.producer_id && !m.control_batch => {}
                _ => {
                    return Err(problem(format!(
                        "first offset {} is not a transactional batch of the producer",
                        t.first_offset
                    )));
                }
            }
        }
    }
    summary.txn_index_entries = entries.len();
    Ok(())
}
