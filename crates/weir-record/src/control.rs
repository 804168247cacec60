//! Control records: transaction markers (`kafka-format.md` §4).
//!
//! A control batch has the transactional and control attributes set and holds
//! one record whose key is `version int16 (0) | type int16` and, for COMMIT and
//! ABORT, whose value is `version int16 (0) | coordinatorEpoch int32`.

use crate::RecordError;

/// The type field of a control record key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ControlRecordType {
    /// 0: the transaction was aborted.
    Abort,
    /// 1: the transaction was committed.
    Commit,
    /// 2: KRaft leader change.
    LeaderChange,
    /// 3: KRaft snapshot header.
    SnapshotHeader,
    /// 4: KRaft snapshot footer.
    SnapshotFooter,
    /// 5: KRaft version.
    KraftVersion,
    /// 6: KRaft voters.
    KraftVoters,
    /// Any other type; Kafka ignores these.
    Unknown(i16),
}

impl ControlRecordType {
    /// The int16 stored in the key.
    pub const fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KraftVersion => 5,
            ControlRecordType::KraftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The type for a stored id.
    pub const fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KraftVersion,
            6 => ControlRecordType::KraftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// Kafka's name: `ABORT`, `COMMIT`, ... or `UNKNOWN`.
    pub const fn name(self) -> &'static str {
        match self {
            ControlRecordType::Abort => "ABORT",
            ControlRecordType::Commit => "COMMIT",
            ControlRecordType::LeaderChange => "LEADER_CHANGE",
            ControlRecordType::SnapshotHeader => "SNAPSHOT_HEADER",
            ControlRecordType::SnapshotFooter => "SNAPSHOT_FOOTER",
            ControlRecordType::KraftVersion => "KRAFT_VERSION",
            ControlRecordType::KraftVoters => "KRAFT_VOTERS",
            ControlRecordType::Unknown(_) => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for ControlRecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded control record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRecord {
    /// The key's version (0 today; newer versions are read as far as known).
    pub key_version: i16,
    /// The type.
    pub record_type: ControlRecordType,
    /// For COMMIT and ABORT, the marker's value.
    pub end_transaction: Option<EndTransactionMarker>,
}

impl ControlRecord {
    /// Parses a control record's key and value.
    ///
    /// # Errors
    /// [`RecordError::InvalidControlRecord`] for a missing or short key, a
    /// negative key version, or a COMMIT/ABORT whose value is not a marker.
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, RecordError> {
        let invalid = |reason: String| RecordError::InvalidControlRecord { reason };
        let key = key.ok_or_else(|| invalid("null key".into()))?;
        let Some(&[v0, v1, t0, t1]) = key.first_chunk::<4>() else {
            return Err(invalid(format!(
                "key of {} bytes, at least 4 needed",
                key.len()
            )));
        };
        let key_version = i16::from_be_bytes([v0, v1]);
        if key_version < 0 {
            return Err(invalid(format!("negative key version {key_version}")));
        }
        let record_type = ControlRecordType::from_id(i16::from_be_bytes([t0, t1]));
        let end_transaction = match record_type {
            ControlRecordType::Abort | ControlRecordType::Commit => {
                let value = value
                    .ok_or_else(|| invalid(format!("{record_type} marker with a null value")))?;
                Some(EndTransactionMarker::parse_value(record_type, value)?)
            }
            _ => None,
        };
        Ok(ControlRecord {
            key_version,
            record_type,
            end_transaction,
        })
    }
}

/// A transaction marker: COMMIT or ABORT, with the coordinator epoch that wrote
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTransactionMarker {
    committed: bool,
    /// The transaction coordinator's epoch.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// A COMMIT marker.
    pub const fn commit(coordinator_epoch: i32) -> Self {
        EndTransactionMarker {
            committed: true,
            coordinator_epoch,
        }
    }

    /// An ABORT marker.
    pub const fn abort(coordinator_epoch: i32) -> Self {
        EndTransactionMarker {
            committed: false,
            coordinator_epoch,
        }
    }

    /// Whether this is a COMMIT (otherwise an ABORT).
    pub const fn is_commit(&self) -> bool {
        self.committed
    }

    /// COMMIT or ABORT.
    pub const fn record_type(&self) -> ControlRecordType {
        if self.committed {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        }
    }

    /// The record key: version 0 and the type.
    pub fn key(&self) -> [u8; 4] {
        let t = self.record_type().id().to_be_bytes();
        [0, 0, t[0], t[1]]
    }

    /// The record value: version 0 and the coordinator epoch.
    pub fn value(&self) -> [u8; 6] {
        let e = self.coordinator_epoch.to_be_bytes();
        [0, 0, e[0], e[1], e[2], e[3]]
    }

    fn parse_value(record_type: ControlRecordType, value: &[u8]) -> Result<Self, RecordError> {
        let Some(&[v0, v1, e0, e1, e2, e3]) = value.first_chunk::<6>() else {
            return Err(RecordError::InvalidControlRecord {
                reason: format!(
                    "{record_type} marker value of {} bytes, at least 6 needed",
                    value.len()
                ),
            });
        };
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(RecordError::InvalidControlRecord {
                reason: format!("negative marker value version {version}"),
            });
        }
        Ok(EndTransactionMarker {
            committed: record_type == ControlRecordType::Commit,
            coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for m in [
            EndTransactionMarker::commit(17),
            EndTransactionMarker::abort(-1),
        ] {
            let parsed = ControlRecord::parse(Some(&m.key()), Some(&m.value())).unwrap();
            assert_eq!(parsed.end_transaction, Some(m));
            assert_eq!(parsed.record_type, m.record_type());
        }
        assert_eq!(EndTransactionMarker::commit(17).key(), [0, 0, 0, 1]);
        assert_eq!(
            EndTransactionMarker::commit(17).value(),
            [0, 0, 0, 0, 0, 17]
        );
    }

    #[test]
    fn malformed_control_records_are_errors() {
        assert!(ControlRecord::parse(None, None).is_err());
        assert!(ControlRecord::parse(Some(&[0, 0, 0]), None).is_err());
        assert!(ControlRecord::parse(Some(&[0xff, 0xff, 0, 1]), Some(&[0; 6])).is_err());
        assert!(ControlRecord::parse(Some(&[0, 0, 0, 1]), Some(&[0; 5])).is_err());
        assert!(ControlRecord::parse(Some(&[0, 0, 0, 0]), None).is_err());
        // Unknown types parse, without a marker, and newer key versions are read.
        let unknown = ControlRecord::parse(Some(&[0, 1, 0, 42]), None).unwrap();
        assert_eq!(unknown.record_type, ControlRecordType::Unknown(42));
        assert_eq!(unknown.end_transaction, None);
    }
}
