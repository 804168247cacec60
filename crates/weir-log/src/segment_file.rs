//! Kafka's segment file names: the base offset in 20 zero-padded digits and a
//! suffix (`kafka-format.md` §5).

use std::path::Path;

/// The suffix of a log segment.
pub const LOG_SUFFIX: &str = ".log";
/// The suffix of an offset index.
pub const INDEX_SUFFIX: &str = ".index";
/// The suffix of a time index.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// The suffix of a transaction index.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Every file of a segment, by suffix: the `.log`, then its indexes.
pub(crate) const SEGMENT_FILE_SUFFIXES: [&str; 4] = [
    LOG_SUFFIX,
    INDEX_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
];
/// The name of the leader epoch checkpoint in a partition directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// The file name for a segment file: `00000000000000000042.log` for base offset 42
/// and suffix `.log`.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The base offset in a segment file name with the given suffix, if the name is
/// exactly 20 digits followed by the suffix.
pub fn parse_segment_file_name(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The topic and partition of a partition directory named `<topic>-<partition>`
/// (the topic may itself contain dashes; the partition is after the last one).
/// A path without a name of its own (`.`, `..`, or the empty parent of a bare
/// file name) stands for the directory it resolves to.
pub fn parse_partition_dir_name(dir: &Path) -> Option<(String, i32)> {
    let resolved;
    let name = match dir.file_name() {
        Some(name) => name,
        None => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            resolved = std::fs::canonicalize(dir).ok()?;
            resolved.file_name()?
        }
    };
    let (topic, partition) = name.to_str()?.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic.to_owned(), partition.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_file_name(0, LOG_SUFFIX), "00000000000000000000.log");
        assert_eq!(
            segment_file_name(133, INDEX_SUFFIX),
            "00000000000000000133.index"
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000133.timeindex", TIME_INDEX_SUFFIX),
            Some(133)
        );
        assert_eq!(
            parse_segment_file_name("0000000000000000133.log", LOG_SUFFIX),
            None
        );
        assert_eq!(
            parse_segment_file_name("0000000000000000013a.log", LOG_SUFFIX),
            None
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000133.log.deleted", LOG_SUFFIX),
            None
        );
        assert_eq!(
            parse_segment_file_name("99999999999999999999.log", LOG_SUFFIX),
            None
        );
    }

    #[test]
    fn partition_dirs() {
        assert_eq!(
            parse_partition_dir_name(Path::new("/x/orders-enriched-12")),
            Some(("orders-enriched".into(), 12))
        );
        assert_eq!(parse_partition_dir_name(Path::new("orders")), None);
        assert_eq!(parse_partition_dir_name(Path::new("-3")), None);
        assert_eq!(parse_partition_dir_name(Path::new("orders-x")), None);
    }
}
