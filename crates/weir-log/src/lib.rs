//! One Kafka partition's log on disk, in Kafka's own files.
//!
//! A partition is a directory `<topic>-<partition>/` of segments named by their
//! base offset in 20 digits: `.log` (batches back to back), `.index` (sparse
//! offset → position), `.timeindex` (timestamp → offset) and, where a transaction
//! was aborted, `.txnindex` (`kafka-format.md` §5).
//!
//! This crate holds the file formats ([`index`], [`checkpoint`],
//! [`segment_file`]) and [`verify`]: checking a segment, a partition directory or
//! a data directory, batch by batch and index entry by index entry, stopping at
//! the first problem with its file and byte position.
//!
//! ```
//! use weir_log::index::{encode_offset_index_entry, parse_offset_index, OffsetPosition};
//! use weir_log::segment_file::{segment_file_name, INDEX_SUFFIX};
//!
//! assert_eq!(segment_file_name(133, INDEX_SUFFIX), "00000000000000000133.index");
//! let mut index = Vec::new();
//! encode_offset_index_entry(41, 4507, &mut index);
//! assert_eq!(parse_offset_index(&index, 133)?, [OffsetPosition { offset: 174, position: 4507 }]);
//! # Ok::<(), weir_log::index::IndexFormatError>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod checkpoint;
pub mod index;
pub mod paths;
pub mod segment_file;
pub mod verify;

pub use verify::{PartitionSummary, SegmentSummary, VerifyError, VerifyReport, verify_path};
