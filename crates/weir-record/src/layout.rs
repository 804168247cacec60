//! The RecordBatch v2 header, one named offset per field (`kafka-format.md` §1).
//!
//! ```text
//!  0      8       12                    16    17    21     23              27
//!  +------+-------+---------------------+-----+-----+------+---------------+
//!  | base | batch | partition           |magic| crc |attri-| last offset   |
//!  |offset|length | leader epoch        | (2) |     |butes | delta         |
//!  +------+-------+---------------------+-----+-----+------+---------------+
//!  27              35              43           51      53        57      61
//!  +---------------+---------------+------------+-------+---------+-------+---------
//!  | base          | max           | producer   |produc-| base    |records| records
//!  | timestamp     | timestamp     | id         |er ep. | sequence| count | ...
//!  +---------------+---------------+------------+-------+---------+-------+---------
//! ```
//!
//! Everything is big-endian. The CRC-32C covers bytes 21 to the end of the batch,
//! so the base offset and the partition leader epoch can be stamped without
//! recomputing it.

/// int64: offset of the first record; stamped by the log.
pub const BASE_OFFSET: usize = 0;
/// int32: bytes after this field.
pub const BATCH_LENGTH: usize = 8;
/// int32: leader epoch; -1 from producers.
pub const PARTITION_LEADER_EPOCH: usize = 12;
/// int8: 2.
pub const MAGIC: usize = 16;
/// uint32: CRC-32C of bytes `ATTRIBUTES..`.
pub const CRC: usize = 17;
/// int16: compression, timestamp type, transactional, control, delete horizon.
pub const ATTRIBUTES: usize = 21;
/// int32: last offset minus base offset.
pub const LAST_OFFSET_DELTA: usize = 23;
/// int64: the first record's timestamp, or the delete horizon.
pub const BASE_TIMESTAMP: usize = 27;
/// int64: the largest record timestamp, or the log append time.
pub const MAX_TIMESTAMP: usize = 35;
/// int64: -1 when not idempotent.
pub const PRODUCER_ID: usize = 43;
/// int16: -1 when not idempotent.
pub const PRODUCER_EPOCH: usize = 51;
/// int32: -1 when not idempotent.
pub const BASE_SEQUENCE: usize = 53;
/// int32: number of records.
pub const RECORDS_COUNT: usize = 57;
/// Where the (possibly compressed) records begin; also the smallest batch.
pub const RECORDS: usize = 61;

/// The size of a batch header, records excluded (Kafka's `RECORD_BATCH_OVERHEAD`).
pub const RECORD_BATCH_OVERHEAD: usize = RECORDS;
/// Base offset and batch length: the bytes before `batchLength` starts counting
/// (Kafka's `LOG_OVERHEAD`).
pub const LOG_OVERHEAD: usize = 12;
/// The smallest valid `batchLength`.
pub const MIN_BATCH_LENGTH: i32 = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;
/// The only magic this crate reads and writes.
pub const MAGIC_V2: i8 = 2;
/// The first byte the CRC covers.
pub const CRC_START: usize = ATTRIBUTES;

/// "No value" for producer id, epoch, sequence, timestamps and leader epoch.
pub const NO_PRODUCER_ID: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_SEQUENCE: i32 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_TIMESTAMP: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
