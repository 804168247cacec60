//! Completing a segment replacement at startup (Kafka's `LogLoader` handling of
//! `.swap` files).
//!
//! The cleaner writes replacement segments as `.cleaned`, renames them to
//! `.swap` once complete and fsynced (the commit point), then deletes the
//! segments they replace and drops the `.swap` suffix. A crash after the commit
//! point leaves `.swap` files: the replacement is finished here. A crash before
//! it leaves `.cleaned` files, which are simply deleted.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::batch_header;
use crate::error::LogError;
use crate::partition::SWAP_SUFFIX;
use crate::paths::list_segments;
use crate::segment_file::{
    INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, segment_file_name,
};

/// Offset after the last whole batch of a `.log`-format file.
pub(crate) fn next_offset_of_file(path: &Path) -> Result<Option<i64>, LogError> {
    let file = File::open(path).map_err(LogError::io(path, "open"))?;
    let len = file.metadata().map_err(LogError::io(path, "stat"))?.len();
    let mut pos = 0u64;
    let mut next = None;
    let mut chunk = vec![0u8; 64 * 1024];
    while pos < len {
        let want = usize::try_from(len - pos)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let buf = chunk.get_mut(..want).unwrap_or_default();
        file.read_exact_at(buf, pos)
            .map_err(LogError::io(path, "read"))?;
        let mut advanced = pos;
        for h in batch_header::walk(buf, pos) {
            next = Some(h.last_offset + 1);
            advanced = h.position + h.size;
        }
        if advanced == pos {
            // One batch larger than the chunk: skip its body.
            match batch_header::parse(buf, pos) {
                Some(h) if h.size >= 61 && pos + h.size <= len => {
                    next = Some(h.last_offset + 1);
                    advanced = pos + h.size;
                }
                _ => break,
            }
        }
        pos = advanced;
    }
    Ok(next)
}

fn remove_if_present(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, "delete")(e)),
    }
}

/// Finishes the replacement committed by `swap_log` (`<base>.log.swap`):
/// deletes the segments whose base offsets fall in the range it covers, and
/// renames its files into place.
pub(crate) fn complete_swap(dir: &Path, base: i64, swap_log: &Path) -> Result<(), LogError> {
    let next = next_offset_of_file(swap_log)?.unwrap_or(base + 1);
    for (old_base, old_log) in list_segments(dir).map_err(LogError::io(dir, "list"))? {
        if old_base >= base && old_base < next {
            for kind in [
                LOG_SUFFIX,
                INDEX_SUFFIX,
                TIME_INDEX_SUFFIX,
                TXN_INDEX_SUFFIX,
            ] {
                remove_if_present(&old_log.with_file_name(segment_file_name(old_base, kind)))?;
            }
        }
    }
    for kind in [
        LOG_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        TXN_INDEX_SUFFIX,
    ] {
        let name = segment_file_name(base, kind);
        let from: PathBuf = dir.join(format!("{name}{SWAP_SUFFIX}"));
        let to = dir.join(&name);
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // No replacement index: drop any stale one so it is rebuilt.
                if kind != LOG_SUFFIX {
                    remove_if_present(&to)?;
                }
            }
            Err(e) => return Err(LogError::io(&from, "rename")(e)),
        }
    }
    Ok(())
}
