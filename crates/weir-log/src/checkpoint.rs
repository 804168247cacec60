//! Kafka's text checkpoint files: a version line, a count line, then one entry
//! per line (`server-common/.../CheckpointFile.java`).

/// A problem in a checkpoint file, with the byte position of the offending line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {position}: {reason}")]
pub struct CheckpointFormatError {
    /// Byte position of the line.
    pub position: usize,
    /// What is wrong.
    pub reason: String,
}

/// One `leader-epoch-checkpoint` entry: the leader epoch and the first offset
/// written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset of the epoch.
    pub start_offset: i64,
}

/// Splits a checkpoint into (byte position, line) pairs after checking the version
/// and the count.
fn entry_lines(text: &str, version: u32) -> Result<Vec<(usize, &str)>, CheckpointFormatError> {
    let mut lines = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        lines.push((pos, line.trim_end_matches('\n')));
        pos += line.len();
    }
    let err = |position, reason: String| CheckpointFormatError { position, reason };
    let mut iter = lines.into_iter();
    let (vpos, vline) = iter.next().ok_or_else(|| err(0, "empty file".into()))?;
    if vline.trim().parse::<u32>().ok() != Some(version) {
        return Err(err(vpos, format!("version {vline:?}, expected {version}")));
    }
    let (cpos, cline) = iter
        .next()
        .ok_or_else(|| err(pos, "missing entry count".into()))?;
    let count: usize = cline
        .trim()
        .parse()
        .map_err(|_| err(cpos, format!("entry count {cline:?} is not a number")))?;
    let entries: Vec<(usize, &str)> = iter.filter(|(_, l)| !l.trim().is_empty()).collect();
    if entries.len() != count {
        return Err(err(
            cpos,
            format!("says {count} entries, the file has {}", entries.len()),
        ));
    }
    Ok(entries)
}

/// Parses a `leader-epoch-checkpoint` (version 0) and checks that epochs and start
/// offsets increase.
///
/// # Errors
/// [`CheckpointFormatError`] naming the byte position of the first bad line.
pub fn parse_leader_epoch_checkpoint(text: &str) -> Result<Vec<EpochEntry>, CheckpointFormatError> {
    let mut out: Vec<EpochEntry> = Vec::new();
    for (position, line) in entry_lines(text, 0)? {
        let err = |reason: String| CheckpointFormatError { position, reason };
        let mut fields = line.split_whitespace();
        let (Some(epoch), Some(start), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(err(format!("{line:?} is not \"<epoch> <start offset>\"")));
        };
        let entry = EpochEntry {
            epoch: epoch
                .parse()
                .map_err(|_| err(format!("epoch {epoch:?} is not a number")))?,
            start_offset: start
                .parse()
                .map_err(|_| err(format!("start offset {start:?} is not a number")))?,
        };
        if let Some(prev) = out.last()
            && (entry.epoch <= prev.epoch || entry.start_offset < prev.start_offset)
        {
            return Err(err(format!(
                "epoch {} at {} does not follow epoch {} at {}",
                entry.epoch, entry.start_offset, prev.epoch, prev.start_offset
            )));
        }
        out.push(entry);
    }
    Ok(out)
}

/// The epoch in force at `offset`: the last entry starting at or before it.
pub fn epoch_for_offset(entries: &[EpochEntry], offset: i64) -> Option<i32> {
    let idx = entries.partition_point(|e| e.start_offset <= offset);
    idx.checked_sub(1)
        .and_then(|i| entries.get(i))
        .map(|e| e.epoch)
}

/// Parses a log-directory offset checkpoint (`recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`): version 0, a
/// count, then `<topic> <partition> <offset>` lines.
///
/// # Errors
/// [`CheckpointFormatError`] naming the byte position of the bad line.
pub fn parse_offset_checkpoint(
    text: &str,
) -> Result<Vec<(String, i32, i64)>, CheckpointFormatError> {
    let mut out = Vec::new();
    for (position, line) in entry_lines(text, 0)? {
        let err = |reason: String| CheckpointFormatError { position, reason };
        let mut fields = line.split_whitespace();
        let (Some(topic), Some(partition), Some(offset), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(err(format!(
                "{line:?} is not \"<topic> <partition> <offset>\""
            )));
        };
        out.push((
            topic.to_string(),
            partition
                .parse()
                .map_err(|_| err(format!("partition {partition:?} is not a number")))?,
            offset
                .parse()
                .map_err(|_| err(format!("offset {offset:?} is not a number")))?,
        ));
    }
    Ok(out)
}

/// Reads a log-directory offset checkpoint file (see
/// [`parse_offset_checkpoint`]); a missing file has no entries.
///
/// # Errors
/// [`LogError::Corrupt`](crate::LogError::Corrupt) naming the file and the
/// byte position of a bad line; [`LogError::Io`](crate::LogError::Io).
pub fn read_offset_checkpoint(
    path: &std::path::Path,
) -> Result<Vec<(String, i32, i64)>, crate::LogError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_offset_checkpoint(&text).map_err(|e| crate::LogError::Corrupt {
            path: path.to_path_buf(),
            position: e.position as u64,
            reason: e.reason,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(crate::LogError::io(path, "read")(e)),
    }
}

/// Formats a log-directory offset checkpoint (see [`parse_offset_checkpoint`]).
pub fn format_offset_checkpoint<'a>(
    entries: impl IntoIterator<Item = (&'a str, i32, i64)>,
) -> String {
    let lines: Vec<String> = entries
        .into_iter()
        .map(|(t, p, o)| format!("{t} {p} {o}\n"))
        .collect();
    format!("0\n{}\n{}", lines.len(), lines.concat())
}

/// Formats a `leader-epoch-checkpoint`.
pub fn format_leader_epoch_checkpoint(entries: &[EpochEntry]) -> String {
    let mut s = format!("0\n{}\n", entries.len());
    for e in entries {
        s.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
    }
    s
}

/// Writes `contents` to `path` as Kafka writes checkpoints: to `<path>.tmp`,
/// fsynced, renamed over `path`, and the directory fsynced, so a crash leaves
/// either the old file or the new one. Writes in this process are
/// serialized (as Kafka's `CheckpointFile.write` is): two writers of one
/// file would otherwise share its `.tmp`, and one could publish the other's
/// half-written bytes or fail its rename.
///
/// # Errors
/// The I/O error of the step that failed.
pub fn write_atomically(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    static WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = WRITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_format() {
        let entries = parse_leader_epoch_checkpoint("0\n2\n0 0\n1 133\n").unwrap();
        assert_eq!(
            entries,
            [
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 1,
                    start_offset: 133
                }
            ]
        );
        assert_eq!(epoch_for_offset(&entries, 132), Some(0));
        assert_eq!(epoch_for_offset(&entries, 133), Some(1));
        assert_eq!(epoch_for_offset(&entries[1..], 5), None);
        assert_eq!(parse_leader_epoch_checkpoint("0\n0\n").unwrap(), []);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_leader_epoch_checkpoint("0\n2\n0 0\n0 5\n").unwrap_err();
        assert_eq!(err.position, 8);
        assert!(parse_leader_epoch_checkpoint("1\n0\n").is_err());
        assert!(parse_leader_epoch_checkpoint("0\n3\n0 0\n").is_err());
        assert!(parse_leader_epoch_checkpoint("0\n1\nx 0\n").is_err());
        assert!(parse_leader_epoch_checkpoint("").is_err());
    }

    #[test]
    fn offset_checkpoints_round_trip() {
        let text = format_offset_checkpoint([("orders", 0, 42), ("my-topic", 11, 0)]);
        assert_eq!(text, "0\n2\norders 0 42\nmy-topic 11 0\n");
        assert_eq!(
            parse_offset_checkpoint(&text).unwrap(),
            [
                ("orders".to_string(), 0, 42),
                ("my-topic".to_string(), 11, 0)
            ]
        );
        assert!(parse_offset_checkpoint("0\n1\norders zero 1\n").is_err());
        assert!(parse_offset_checkpoint("0\n1\norders 0\n").is_err());
        let epochs = [
            EpochEntry {
                epoch: 0,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 3,
                start_offset: 90,
            },
        ];
        assert_eq!(
            parse_leader_epoch_checkpoint(&format_leader_epoch_checkpoint(&epochs)).unwrap(),
            epochs
        );
    }
}
