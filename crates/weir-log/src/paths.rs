//! What a path given by a user holds: one segment file, one partition directory,
//! or a data directory of partitions.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::segment_file::{LOG_SUFFIX, parse_partition_dir_name, parse_segment_file_name};

/// fsyncs a directory, so that files created, renamed or removed in it stay
/// so after a power loss (Kafka's `Utils.flushDir`).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    sync_dir_io(dir).map_err(LogError::io(dir, "fsync"))
}

/// As [`sync_dir`], keeping the bare I/O error.
pub(crate) fn sync_dir_io(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// A path classified by what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPath {
    /// A `<20 digits>.log` file, with its base offset.
    Segment {
        /// The file.
        path: PathBuf,
        /// Its base offset, from the name.
        base_offset: i64,
    },
    /// A `<topic>-<partition>` directory holding segments.
    Partition(PathBuf),
    /// A directory of partition directories, sorted by name.
    DataDir(Vec<PathBuf>),
}

/// Classifies `path`.
///
/// # Errors
/// `io::ErrorKind::InvalidInput` when the path is none of the three (naming it),
/// or the error from reading it.
pub fn classify(path: &Path) -> io::Result<LogPath> {
    let meta = fs::metadata(path)?;
    if meta.is_file() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        return match parse_segment_file_name(name, LOG_SUFFIX) {
            Some(base_offset) => Ok(LogPath::Segment {
                path: path.to_path_buf(),
                base_offset,
            }),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: not a segment file (expected <20-digit base offset>.log)",
                    path.display()
                ),
            )),
        };
    }
    if !list_segments(path)?.is_empty() {
        return Ok(LogPath::Partition(path.to_path_buf()));
    }
    let mut partitions = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let p = entry.path();
        if entry.file_type()?.is_dir() && parse_partition_dir_name(&p).is_some() {
            partitions.push(p);
        }
    }
    // A directory without segments is a data directory when it holds
    // partition directories, whatever its own name (`kafka-logs-1` looks
    // like a partition too); an empty partition directory otherwise.
    if partitions.is_empty() && parse_partition_dir_name(path).is_some() {
        return Ok(LogPath::Partition(path.to_path_buf()));
    }
    if partitions.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: holds no segment files and no <topic>-<partition> directories",
                path.display()
            ),
        ));
    }
    partitions.sort();
    Ok(LogPath::DataDir(partitions))
}

/// The `.log` segments of a partition directory, sorted by base offset.
///
/// # Errors
/// The error from reading the directory.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(base) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_segment_file_name(n, LOG_SUFFIX))
            && entry.file_type()?.is_file()
        {
            segments.push((base, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}
