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
}
