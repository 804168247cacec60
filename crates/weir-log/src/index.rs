//! The entry formats of `.index`, `.timeindex` and `.txnindex` files
//! (`kafka-format.md` §5), as Kafka's `OffsetIndex`, `TimeIndex` and
//! `TransactionIndex` lay them out.
//!
//! ```text
//! .index      entry =  relative offset i32 | file position i32                       (8 bytes)
//! .timeindex  entry =  timestamp i64 | relative offset i32                            (12 bytes)
//! .txnindex   entry =  version i16 (0) | producer id i64 | first offset i64
//!                      | last offset i64 | last stable offset i64                     (34 bytes)
//! ```

use std::io;
use std::path::Path;

/// Bytes per `.index` entry.
pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;
/// Bytes per `.timeindex` entry.
pub const TIME_INDEX_ENTRY_SIZE: usize = 12;
/// Bytes per `.txnindex` entry.
pub const TXN_INDEX_ENTRY_SIZE: usize = 34;

/// Why index bytes could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexFormatError {
    /// The length is not a whole number of entries.
    #[error("{len} bytes is not a multiple of the {entry_size}-byte entry size")]
    PartialEntry {
        /// The file length.
        len: usize,
        /// The entry size.
        entry_size: usize,
    },
    /// An entry's offset (the segment's base offset plus the entry's relative
    /// offset) is past the largest offset Kafka can hold.
    #[error(
        "entry {index}: base offset {base_offset} + relative offset {relative_offset} overflows"
    )]
    OffsetOverflow {
        /// Which entry (from 0).
        index: usize,
        /// The segment's base offset.
        base_offset: i64,
        /// The entry's relative offset.
        relative_offset: i32,
    },
    /// A `.txnindex` entry with a version other than 0.
    #[error("entry {index}: unsupported version {version}")]
    UnsupportedVersion {
        /// The entry's index.
        index: usize,
        /// Its version.
        version: i16,
    },
}

/// An `.index` entry: an absolute offset and the file position of the batch
/// where the lookup for it starts (Kafka's `OffsetPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetPosition {
    /// Segment base offset plus the stored relative offset.
    pub offset: i64,
    /// Byte position in the `.log` file.
    pub position: u32,
}

/// A `.timeindex` entry: a timestamp and the offset from which to scan for it
/// (Kafka's `TimestampOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampOffset {
    /// The largest timestamp in the segment up to `offset`.
    pub timestamp: i64,
    /// Segment base offset plus the stored relative offset.
    pub offset: i64,
}

/// A `.txnindex` entry: one aborted transaction (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// The transaction's first offset.
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    /// The last stable offset when the marker was written.
    pub last_stable_offset: i64,
}

fn chunks<const N: usize>(
    bytes: &[u8],
) -> Result<impl Iterator<Item = &[u8; N]>, IndexFormatError> {
    if !bytes.len().is_multiple_of(N) {
        return Err(IndexFormatError::PartialEntry {
            len: bytes.len(),
            entry_size: N,
        });
    }
    Ok(bytes.chunks_exact(N).filter_map(|c| c.first_chunk::<N>()))
}

/// The offset of entry `index`: `base_offset` plus the big-endian relative
/// offset (a segment named near the top of the offset range overflows).
fn absolute(index: usize, base_offset: i64, relative: [u8; 4]) -> Result<i64, IndexFormatError> {
    let relative_offset = i32::from_be_bytes(relative);
    base_offset
        .checked_add(i64::from(relative_offset))
        .ok_or(IndexFormatError::OffsetOverflow {
            index,
            base_offset,
            relative_offset,
        })
}

/// An index file read no further than entries can be real (see
/// [`read_index_prefix`]).
#[derive(Debug)]
pub(crate) struct IndexPrefix {
    /// The file's first bytes, up to the limit.
    pub(crate) bytes: Vec<u8>,
    /// Bytes past the limit up to the first non-zero one (all of them when
    /// `non_zero_at` is `None`).
    pub(crate) zero_tail: u64,
    /// The position of the first non-zero byte past the limit.
    pub(crate) non_zero_at: Option<u64>,
}

/// Reads the first `limit` bytes of an index file, and looks at the rest a
/// block at a time without holding it: a segment's index has at most one
/// entry per batch, so past that the file can only be preallocated zeros,
/// and a huge or sparse file costs no memory. `None` when the file does not
/// exist.
pub(crate) fn read_index_prefix(path: &Path, limit: u64) -> io::Result<Option<IndexPrefix>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut bytes = Vec::new();
    (&mut reader).take(limit).read_to_end(&mut bytes)?;
    let mut zero_tail = 0u64;
    let mut non_zero_at = None;
    if bytes.len() as u64 == limit {
        let mut block = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut block) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let read = block.get(..n).unwrap_or_default();
            if let Some(i) = read.iter().position(|&b| b != 0) {
                zero_tail += i as u64;
                non_zero_at = Some(limit + zero_tail);
                break;
            }
            zero_tail += n as u64;
        }
    }
    Ok(Some(IndexPrefix {
        bytes,
        zero_tail,
        non_zero_at,
    }))
}

/// Parses `.index` bytes of a segment with base offset `base_offset`.
///
/// # Errors
/// [`IndexFormatError::PartialEntry`] when the length is not a multiple of 8,
/// [`IndexFormatError::OffsetOverflow`] when an entry's offset overflows.
pub fn parse_offset_index(
    bytes: &[u8],
    base_offset: i64,
) -> Result<Vec<OffsetPosition>, IndexFormatError> {
    chunks::<OFFSET_INDEX_ENTRY_SIZE>(bytes)?
        .enumerate()
        .map(|(index, &[o0, o1, o2, o3, p0, p1, p2, p3])| {
            Ok(OffsetPosition {
                offset: absolute(index, base_offset, [o0, o1, o2, o3])?,
                position: u32::from_be_bytes([p0, p1, p2, p3]),
            })
        })
        .collect()
}

/// Appends one `.index` entry; `relative_offset` is the offset minus the segment's
/// base offset.
pub fn encode_offset_index_entry(relative_offset: i32, position: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&relative_offset.to_be_bytes());
    out.extend_from_slice(&position.to_be_bytes());
}

/// Parses `.timeindex` bytes of a segment with base offset `base_offset`.
///
/// # Errors
/// [`IndexFormatError::PartialEntry`] when the length is not a multiple of 12,
/// [`IndexFormatError::OffsetOverflow`] when an entry's offset overflows.
pub fn parse_time_index(
    bytes: &[u8],
    base_offset: i64,
) -> Result<Vec<TimestampOffset>, IndexFormatError> {
    chunks::<TIME_INDEX_ENTRY_SIZE>(bytes)?
        .enumerate()
        .map(
            |(index, &[t0, t1, t2, t3, t4, t5, t6, t7, o0, o1, o2, o3])| {
                Ok(TimestampOffset {
                    timestamp: i64::from_be_bytes([t0, t1, t2, t3, t4, t5, t6, t7]),
                    offset: absolute(index, base_offset, [o0, o1, o2, o3])?,
                })
            },
        )
        .collect()
}

/// Appends one `.timeindex` entry.
pub fn encode_time_index_entry(timestamp: i64, relative_offset: i32, out: &mut Vec<u8>) {
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&relative_offset.to_be_bytes());
}

/// Parses `.txnindex` bytes.
///
/// # Errors
/// [`IndexFormatError::PartialEntry`] when the length is not a multiple of 34;
/// [`IndexFormatError::UnsupportedVersion`] for an entry whose version is not 0.
pub fn parse_txn_index(bytes: &[u8]) -> Result<Vec<AbortedTxn>, IndexFormatError> {
    chunks::<TXN_INDEX_ENTRY_SIZE>(bytes)?
        .enumerate()
        .map(|(index, e)| {
            let [v0, v1, rest @ ..] = *e;
            let version = i16::from_be_bytes([v0, v1]);
            if version != 0 {
                return Err(IndexFormatError::UnsupportedVersion { index, version });
            }
            let field = |i: usize| {
                let mut b = [0u8; 8];
                if let Some(src) = rest.get(i * 8..i * 8 + 8) {
                    b.copy_from_slice(src);
                }
                i64::from_be_bytes(b)
            };
            Ok(AbortedTxn {
                producer_id: field(0),
                first_offset: field(1),
                last_offset: field(2),
                last_stable_offset: field(3),
            })
        })
        .collect()
}

/// Appends one `.txnindex` entry (version 0).
pub fn encode_txn_index_entry(txn: &AbortedTxn, out: &mut Vec<u8>) {
    out.extend_from_slice(&0i16.to_be_bytes());
    for v in [
        txn.producer_id,
        txn.first_offset,
        txn.last_offset,
        txn.last_stable_offset,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut b = Vec::new();
        encode_offset_index_entry(30, 4120, &mut b);
        encode_offset_index_entry(57, 8568, &mut b);
        assert_eq!(
            parse_offset_index(&b, 100).unwrap(),
            [
                OffsetPosition {
                    offset: 130,
                    position: 4120
                },
                OffsetPosition {
                    offset: 157,
                    position: 8568
                }
            ]
        );
        let mut t = Vec::new();
        encode_time_index_entry(1_735_689_600_091, 30, &mut t);
        assert_eq!(
            parse_time_index(&t, 0).unwrap(),
            [TimestampOffset {
                timestamp: 1_735_689_600_091,
                offset: 30
            }]
        );
        let txn = AbortedTxn {
            producer_id: 7001,
            first_offset: 5,
            last_offset: 8,
            last_stable_offset: 7,
        };
        let mut x = Vec::new();
        encode_txn_index_entry(&txn, &mut x);
        assert_eq!(x.len(), TXN_INDEX_ENTRY_SIZE);
        assert_eq!(parse_txn_index(&x).unwrap(), [txn]);
    }

    #[test]
    fn partial_entries_and_versions_are_errors() {
        assert!(matches!(
            parse_offset_index(&[0; 9], 0),
            Err(IndexFormatError::PartialEntry {
                len: 9,
                entry_size: 8
            })
        ));
        assert!(parse_time_index(&[0; 13], 0).is_err());
        let mut x = vec![0u8; 34];
        x[1] = 1;
        assert!(matches!(
            parse_txn_index(&x),
            Err(IndexFormatError::UnsupportedVersion {
                index: 0,
                version: 1
            })
        ));
    }
}
