//! One segment: its batches, records and offsets, and the index files beside it.

use std::fs;
use std::io::{self, BufReader};
use std::path::Path;

use weir_record::{ControlRecordType, ReadError, ReaderBatches, RecordBatch};

use super::{PartitionSummary, Problem, SegmentSummary, VerifyError, sound_partition};
use crate::checkpoint::{EpochEntry, epoch_for_offset};
use crate::index::{
    OFFSET_INDEX_ENTRY_SIZE, TIME_INDEX_ENTRY_SIZE, TXN_INDEX_ENTRY_SIZE, parse_offset_index,
    parse_time_index, parse_txn_index, read_index_prefix,
};
use crate::segment_file::{
    INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, parse_partition_dir_name,
};

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
/// leader epoch checkpoint (empty when there is none). The `.log` is read up to
/// its first problem; the index files are checked against it only when it is
/// sound (a note says so otherwise). Reads files only.
///
/// # Errors
/// [`VerifyError::Problem`] naming the first problem, with a report holding
/// the whole summary (every problem of the segment).
pub fn verify_segment(
    log: &Path,
    base_offset: i64,
    epochs: &[EpochEntry],
) -> Result<SegmentSummary, VerifyError> {
    let summary = segment(log, base_offset, epochs);
    let dir = log.parent().map(Path::to_path_buf).unwrap_or_default();
    let partition = sound_partition(PartitionSummary {
        topic_partition: parse_partition_dir_name(&dir),
        cleanup_policy: None,
        segments: vec![summary],
        notes: Vec::new(),
        problems: Vec::new(),
        dir,
    })?;
    partition
        .segments
        .into_iter()
        .next()
        .ok_or_else(|| VerifyError::Io {
            path: log.to_path_buf(),
            source: io::Error::other("no segment verified"),
        })
}

pub(super) fn segment(log: &Path, base_offset: i64, epochs: &[EpochEntry]) -> SegmentSummary {
    let mut summary = SegmentSummary {
        log: log.to_path_buf(),
        base_offset,
        size: 0,
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
        problems: Vec::new(),
    };
    let opened = fs::File::open(log).and_then(|f| Ok((f.metadata()?.len(), f)));
    let (size, file) = match opened {
        Ok(x) => x,
        Err(e) => {
            summary.problems.push(Problem::io(log)(e));
            return summary;
        }
    };
    summary.size = size;
    let mut metas: Vec<BatchMeta> = Vec::new();
    for item in ReaderBatches::new(BufReader::with_capacity(256 * 1024, file), size) {
        let checked = item
            .map_err(|e| Problem::new(log, e.position(), read_error_message(e)))
            .and_then(|item| {
                check_batch(
                    log,
                    base_offset,
                    epochs,
                    metas.last(),
                    item.position,
                    &item.batch,
                    &mut summary,
                )
            });
        match checked {
            Ok(meta) => metas.push(meta),
            Err(problem) => {
                summary.problems.push(problem);
                break;
            }
        }
    }
    summary.batches = metas.len() as u64;
    summary.first_offset = metas.first().map(|m| m.base_offset);
    summary.last_offset = metas.last().map(|m| m.last_offset);
    summary.max_timestamp = metas.iter().map(|m| m.max_timestamp).max();
    if !summary.log_is_sound() {
        // Entries past the damage would all look wrong.
        summary
            .notes
            .push("index files not checked: the .log has a problem".into());
        return summary;
    }

    let sibling = |suffix: &str| log.with_file_name(format!("{base_offset:020}{suffix}"));
    let checks = [
        check_offset_index(&sibling(INDEX_SUFFIX), base_offset, &metas, &mut summary),
        check_time_index(
            &sibling(TIME_INDEX_SUFFIX),
            base_offset,
            &metas,
            &mut summary,
        ),
        check_txn_index(&sibling(TXN_INDEX_SUFFIX), &metas, &mut summary),
    ];
    summary
        .problems
        .extend(checks.into_iter().filter_map(Result::err));
    summary
}

fn check_batch(
    log: &Path,
    base_offset: i64,
    epochs: &[EpochEntry],
    prev: Option<&BatchMeta>,
    position: u64,
    batch: &RecordBatch,
    summary: &mut SegmentSummary,
) -> Result<BatchMeta, Problem> {
    let problem = |message: String| Problem::new(log, position, message);
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

/// An index file's bytes, read only as far as entries can be real.
struct IndexBytes {
    /// The first `max_entries` entries' bytes (or the whole file).
    bytes: Vec<u8>,
    /// Entries of zeros past those (preallocated space), checked without
    /// being held.
    zero_entries: usize,
}

/// Reads an index file; `None` when it does not exist. A segment of `n`
/// batches has at most `n` entries in an index (one for each batch at most),
/// so only the first `max_entries` entries of `entry_size` bytes are read
/// ([`read_index_prefix`]): the rest must be zeros (space preallocated for an
/// active segment, when `zeros_allowed`).
fn read_index(
    path: &Path,
    summary: &mut SegmentSummary,
    max_entries: usize,
    entry_size: usize,
    zeros_allowed: bool,
) -> Result<Option<IndexBytes>, Problem> {
    let limit = max_entries.saturating_mul(entry_size) as u64;
    let Some(prefix) = read_index_prefix(path, limit).map_err(Problem::io(path))? else {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(TXN_INDEX_SUFFIX) && !name.ends_with(LOG_SUFFIX) {
            summary
                .notes
                .push(format!("{name} is missing (Kafka rebuilds it on recovery)"));
        }
        return Ok(None);
    };
    let past = |at: u64, what: &str| {
        Problem::new(
            path,
            at,
            format!("bytes past the {max_entries} entries its segment's batches allow{what}"),
        )
    };
    if let Some(at) = prefix.non_zero_at {
        return Err(if zeros_allowed {
            past(at, " are not zeros")
        } else {
            past(limit, "")
        });
    }
    if prefix.zero_tail > 0 && !zeros_allowed {
        return Err(past(limit, ""));
    }
    // Whole entries of zeros; a partial entry at the end is a problem, as the
    // parser says of one within the bytes read.
    if !prefix.zero_tail.is_multiple_of(entry_size as u64) {
        return Err(Problem::new(
            path,
            limit + prefix.zero_tail,
            format!("the file's size is not a multiple of its {entry_size}-byte entries"),
        ));
    }
    Ok(Some(IndexBytes {
        bytes: prefix.bytes,
        zero_entries: usize::try_from(prefix.zero_tail / entry_size as u64).unwrap_or(usize::MAX),
    }))
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
) -> Result<(), Problem> {
    let Some(IndexBytes {
        bytes,
        zero_entries,
    }) = read_index(
        path,
        summary,
        metas.len() + 1,
        OFFSET_INDEX_ENTRY_SIZE,
        true,
    )?
    else {
        return Ok(());
    };
    let entries = parse_offset_index(&bytes, base_offset)
        .map_err(|e| Problem::new(path, 0, e.to_string()))?;
    let slack = preallocated(&entries, |e| e.offset == base_offset && e.position == 0);
    let real = entries.get(..entries.len() - slack).unwrap_or_default();
    let slack = slack + zero_entries;
    if slack > 0 {
        summary
            .notes
            .push(format!("{slack} preallocated .index entries (not trimmed)"));
    }
    let last_offset = metas.last().map_or(base_offset, |m| m.last_offset);
    for (i, e) in real.iter().enumerate() {
        let at = (i * OFFSET_INDEX_ENTRY_SIZE) as u64;
        let problem = |m: String| {
            Problem::new(
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
) -> Result<(), Problem> {
    let Some(IndexBytes {
        bytes,
        zero_entries,
    }) = read_index(path, summary, metas.len() + 1, TIME_INDEX_ENTRY_SIZE, true)?
    else {
        return Ok(());
    };
    let entries =
        parse_time_index(&bytes, base_offset).map_err(|e| Problem::new(path, 0, e.to_string()))?;
    let slack = preallocated(&entries, |e| e.timestamp == 0 && e.offset == base_offset);
    let real = entries.get(..entries.len() - slack).unwrap_or_default();
    let slack = slack + zero_entries;
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
            Problem::new(
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
) -> Result<(), Problem> {
    // One entry for each aborted transaction's marker at most.
    let Some(IndexBytes { bytes, .. }) =
        read_index(path, summary, metas.len(), TXN_INDEX_ENTRY_SIZE, false)?
    else {
        return Ok(());
    };
    let entries = parse_txn_index(&bytes).map_err(|e| Problem::new(path, 0, e.to_string()))?;
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
            Problem::new(
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
