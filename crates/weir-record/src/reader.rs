//! Iterating the batches of a byte buffer or a segment file, telling a torn
//! tail from corruption.
//!
//! The checks follow Kafka's `FileLogInputStream` and `DefaultRecordBatch.ensureValid`,
//! in that order: a length below 14 is corruption; a batch running past the end is
//! a torn tail (what a crash mid-write leaves); then magic 2, a length of at least
//! 49, and the CRC-32C.

use std::io::{self, Read};

use bytes::Bytes;

use crate::layout::{LOG_OVERHEAD, MAGIC, MAGIC_V2, MIN_BATCH_LENGTH};
use crate::{ReadError, RecordBatch, RecordError};

/// Kafka's smallest legal `batchLength` for any magic (`LegacyRecord.RECORD_OVERHEAD_V0`);
/// below it the length itself is corrupt.
const MIN_ANY_MAGIC_LENGTH: i32 = 14;
/// The most a read reserves before the bytes arrive.
const READ_CHUNK: usize = 1 << 20;

/// A batch and the byte position where it starts.
#[derive(Debug, Clone)]
pub struct PositionedBatch {
    /// Byte position of the batch's first byte in the file or buffer (plus the
    /// iterator's starting position).
    pub position: u64,
    /// The batch.
    pub batch: RecordBatch,
}

/// Reads the length at the start of a batch; returns it and the batch's total
/// size, or the error for a length that is corrupt by itself.
fn frame(header: &[u8; LOG_OVERHEAD], position: u64) -> Result<(i32, usize), ReadError> {
    // Bytes 8..12 (layout::BATCH_LENGTH) hold the length.
    let [_, _, _, _, _, _, _, _, l0, l1, l2, l3] = *header;
    let length = i32::from_be_bytes([l0, l1, l2, l3]);
    if length < MIN_ANY_MAGIC_LENGTH {
        return Err(ReadError::Corrupt {
            position,
            source: RecordError::BatchLengthTooSmall { length },
        });
    }
    Ok((length, LOG_OVERHEAD + length as usize))
}

/// Checks a complete batch: magic, minimum length, and the CRC if asked.
fn check(
    bytes: Bytes,
    length: i32,
    position: u64,
    verify_crc: bool,
) -> Result<RecordBatch, ReadError> {
    let corrupt = |source| ReadError::Corrupt { position, source };
    let magic = bytes.get(MAGIC).map(|&b| b as i8).unwrap_or_default();
    if magic != MAGIC_V2 {
        return Err(corrupt(RecordError::UnsupportedMagic { magic }));
    }
    if length < MIN_BATCH_LENGTH {
        return Err(corrupt(RecordError::BatchLengthTooSmall { length }));
    }
    let batch = RecordBatch::new(bytes).map_err(corrupt)?;
    if verify_crc {
        batch.validate_crc().map_err(corrupt)?;
    }
    Ok(batch)
}

/// Iterates the batches of an in-memory buffer (a fetched range, a whole segment
/// read into memory), yielding zero-copy [`RecordBatch`]es.
///
/// Stops after the first error. [`valid_bytes`](Self::valid_bytes) then tells
/// where the sound prefix ends — the truncation point for recovery.
#[derive(Debug, Clone)]
pub struct BatchIter {
    buf: Bytes,
    pos: usize,
    start_position: u64,
    verify_crc: bool,
    done: bool,
}

impl BatchIter {
    /// Iterates `buf` from its first byte, checking CRCs.
    pub fn new(buf: Bytes) -> Self {
        BatchIter {
            buf,
            pos: 0,
            start_position: 0,
            verify_crc: true,
            done: false,
        }
    }

    /// Reports positions as `start_position` plus the offset into the buffer, for
    /// a buffer read from the middle of a file.
    #[must_use]
    pub fn starting_at(mut self, start_position: u64) -> Self {
        self.start_position = start_position;
        self
    }

    /// Whether to check each batch's CRC-32C (on by default).
    #[must_use]
    pub fn verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }

    /// Bytes of sound batches read so far: after the iterator ends with an error,
    /// the length of the prefix to keep.
    pub fn valid_bytes(&self) -> usize {
        self.pos
    }

    fn byte_position(&self) -> u64 {
        self.start_position + self.pos as u64
    }
}

impl Iterator for BatchIter {
    type Item = Result<PositionedBatch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.len() - self.pos.min(self.buf.len());
        if rest == 0 {
            self.done = true;
            return None;
        }
        let position = self.byte_position();
        let result = (|| {
            let header = self
                .buf
                .get(self.pos..)
                .and_then(|r| r.first_chunk::<LOG_OVERHEAD>())
                .ok_or(ReadError::TornBatch {
                    position,
                    needed: LOG_OVERHEAD as u64,
                    available: rest as u64,
                })?;
            let (length, size) = frame(header, position)?;
            if size > rest {
                return Err(ReadError::TornBatch {
                    position,
                    needed: size as u64,
                    available: rest as u64,
                });
            }
            let bytes = self.buf.slice(self.pos..self.pos + size);
            check(bytes, length, position, self.verify_crc)
        })();
        match result {
            Ok(batch) => {
                self.pos += batch.size();
                Some(Ok(PositionedBatch { position, batch }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchIter {}

/// Iterates the batches of a reader (a segment file) of known length without
/// loading it whole: each batch is read into its own buffer, never larger than
/// what is left of the file.
///
/// Stops after the first error; [`valid_bytes`](Self::valid_bytes) tells where
/// the sound prefix ends.
#[derive(Debug)]
pub struct ReaderBatches<R> {
    reader: R,
    pos: u64,
    len: u64,
    verify_crc: bool,
    done: bool,
}

impl<R: Read> ReaderBatches<R> {
    /// Iterates `len` bytes of `reader` (a file and its length from metadata),
    /// checking CRCs. Wrap an unbuffered file in a `BufReader`.
    pub fn new(reader: R, len: u64) -> Self {
        ReaderBatches {
            reader,
            pos: 0,
            len,
            verify_crc: true,
            done: false,
        }
    }

    /// Whether to check each batch's CRC-32C (on by default).
    #[must_use]
    pub fn verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }

    /// Bytes of sound batches read so far.
    pub fn valid_bytes(&self) -> u64 {
        self.pos
    }

    fn read_batch(&mut self) -> Result<RecordBatch, ReadError> {
        let position = self.pos;
        let rest = self.len - position;
        let io = |source: io::Error| ReadError::Io { position, source };
        let torn = |needed: u64| ReadError::TornBatch {
            position,
            needed,
            available: rest,
        };
        if rest < LOG_OVERHEAD as u64 {
            return Err(torn(LOG_OVERHEAD as u64));
        }
        let mut header = [0u8; LOG_OVERHEAD];
        self.reader
            .read_exact(&mut header)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => torn(LOG_OVERHEAD as u64),
                _ => io(e),
            })?;
        let (length, size) = frame(&header, position)?;
        if size as u64 > rest {
            return Err(torn(size as u64));
        }
        // Memory grows with the bytes read, not with the length field: a
        // wrong file length from the caller cannot make it allocate 2 GiB.
        // Chunks reserved exactly: the buffer (kept by the batch) ends at the
        // batch's size.
        let mut bytes = Vec::with_capacity(size.min(READ_CHUNK));
        bytes.extend_from_slice(&header);
        while bytes.len() < size {
            let chunk = (size - bytes.len()).min(READ_CHUNK);
            bytes.reserve_exact(chunk);
            let read = (&mut self.reader)
                .take(chunk as u64)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            if read < chunk {
                // The file shrank under us: what is there is a torn batch.
                return Err(torn(size as u64));
            }
        }
        let batch = check(Bytes::from(bytes), length, position, self.verify_crc)?;
        self.pos += size as u64;
        Ok(batch)
    }
}

impl<R: Read> Iterator for ReaderBatches<R> {
    type Item = Result<PositionedBatch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.len {
            self.done = true;
            return None;
        }
        let position = self.pos;
        match self.read_batch() {
            Ok(batch) => Some(Ok(PositionedBatch { position, batch })),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for ReaderBatches<R> {}
