//! Seeds `fuzz/corpus/<target>/` from the golden Kafka segments in
//! `testdata/kafka-segments/` and from our own encoder, so fuzzing starts from
//! real Kafka bytes. Run from the repository root:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --bin seed_corpus
//! ```

use std::fs;
use std::path::Path;

use bytes::Bytes;
use weir_codec::{Compression, CompressionConfig};
use weir_group::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, CooperativeStickyUserData,
    GroupMetadataKey, GroupMetadataValue, MemberMetadata, OffsetCommitKey, OffsetCommitValue,
    StickyUserData, TopicPartition, TopicPartitions,
};
use weir_log::checkpoint::{EpochEntry, format_leader_epoch_checkpoint, format_offset_checkpoint};
use weir_record::{BatchBuilder, BatchIter, BatchOptions, Header, Record};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let root = Path::new("testdata/kafka-segments");
    let mut cases: Vec<_> = fs::read_dir(root)
        .expect("run from the repository root")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    for case in cases.iter().filter(|c| c.is_dir()) {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("case")
            .to_owned();
        for dir in fs::read_dir(case)
            .expect("case")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_dir())
        {
            seed_log_files(&name, &dir);
            let mut logs: Vec<_> = fs::read_dir(&dir)
                .expect("dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect();
            logs.sort();
            for (i, log) in logs.iter().enumerate() {
                let bytes = fs::read(log).expect("log");
                // Whole segments only when small; big ones slow every fuzz iteration.
                if bytes.len() <= 64 * 1024 {
                    write("batch_decode", &format!("seed-{name}-{i}"), &bytes);
                }
                for (j, item) in BatchIter::new(Bytes::from(bytes))
                    .verify_crc(false)
                    .enumerate()
                {
                    let Ok(b) = item else { break };
                    let batch = b.batch;
                    if batch.size() > 64 * 1024 {
                        continue;
                    }
                    if j < 3 {
                        write(
                            "batch_decode",
                            &format!("seed-{name}-{i}-batch{j}"),
                            batch.as_bytes(),
                        );
                    }
                    let payload = batch.records_payload();
                    match batch.compression() {
                        Ok(Compression::None) if j < 3 => {
                            let mut rec = batch.records_count().to_be_bytes().to_vec();
                            rec.extend_from_slice(&batch.last_offset_delta().to_be_bytes());
                            rec.extend_from_slice(&payload);
                            write("record_decode", &format!("seed-{name}-{i}-batch{j}"), &rec);
                        }
                        Ok(c) if c != Compression::None && j < 2 => {
                            write(
                                &format!("decompress_{c}"),
                                &format!("seed-{name}-{i}-batch{j}"),
                                &payload,
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    seed_own_formats();
    // Our own encoder: every codec, headers, nulls, a few records.
    for codec in Compression::ALL {
        let mut builder = BatchBuilder::new(BatchOptions {
            compression: CompressionConfig::new(codec),
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 0,
            ..BatchOptions::default()
        });
        for i in 0..5i64 {
            let mut r = Record::new(format!("{{\"order\":{i},\"amount\":{}}}", i * 17))
                .with_key(format!("customer-{}", i % 2))
                .with_timestamp(1_700_000_000_000 + i);
            if i % 2 == 0 {
                r = r
                    .with_header(Header::new("trace", "t"))
                    .with_header(Header::null("n"));
            }
            if i == 3 {
                r.value = None;
                r.key = None;
            }
            builder.append(&r).expect("append");
        }
        let batch = builder.build().expect("build");
        write("batch_decode", &format!("seed-weir-{codec}"), &batch);
        if codec != Compression::None {
            write(
                &format!("decompress_{codec}"),
                &format!("seed-weir-{codec}"),
                &batch[61..],
            );
        } else {
            let mut rec = 5i32.to_be_bytes().to_vec();
            rec.extend_from_slice(&4i32.to_be_bytes());
            rec.extend_from_slice(&batch[61..]);
            write("record_decode", "seed-weir-none", &rec);
        }
    }
}

/// Index files with their base offset in front, and checkpoint files, from a
/// Kafka partition directory.
fn seed_log_files(name: &str, dir: &Path) {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let bytes = fs::read(&file).expect("file");
        if bytes.is_empty() {
            continue;
        }
        if let Some(stem) = file_name.strip_suffix(".log")
            && let Ok(base) = stem.parse::<i64>()
            && bytes.len() <= 64 * 1024
        {
            let read = |ext: &str| fs::read(dir.join(format!("{stem}.{ext}"))).unwrap_or_default();
            let (index, time_index, txn_index) =
                (read("index"), read("timeindex"), read("txnindex"));
            // Bit 4 of consume_hostile's flags adds a .txnindex.
            for flags in [0u8, 1, 6, 9, 24, 25] {
                let parts: &[&[u8]] = if flags & 16 != 0 { &[&txn_index] } else { &[] };
                write(
                    "consume_hostile",
                    &format!("seed-{name}-{stem}-flags{flags}"),
                    &framed_input(flags, base, parts, &bytes),
                );
            }
            // Bits 1 and 2 of log_recover's flags add an .index and a .timeindex.
            for flags in [0u8, 1, 6, 7] {
                let parts: &[&[u8]] = if flags & 6 != 0 {
                    &[&index, &time_index]
                } else {
                    &[]
                };
                write(
                    "log_recover",
                    &format!("seed-{name}-{stem}-flags{flags}"),
                    &framed_input(flags, base, parts, &bytes),
                );
            }
        } else if let Some((stem, ext)) = file_name.split_once('.')
            && ["index", "timeindex", "txnindex"].contains(&ext)
            && let Ok(base) = stem.parse::<i64>()
        {
            let mut input = base.to_be_bytes().to_vec();
            input.extend_from_slice(&bytes);
            write("index_decode", &format!("seed-{name}-{ext}"), &input);
        } else if file_name.ends_with("checkpoint") {
            write(
                "checkpoint_decode",
                &format!("seed-{name}-{file_name}"),
                &bytes,
            );
        }
    }
}

/// A directory target's input: the flags byte, the 8-byte base offset, each
/// of `parts` as a 2-byte length and its bytes, then the segment.
fn framed_input(flags: u8, base: i64, parts: &[&[u8]], segment: &[u8]) -> Vec<u8> {
    let mut input = vec![flags];
    input.extend_from_slice(&base.to_be_bytes());
    for part in parts {
        let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(&part[..usize::from(len)]);
    }
    input.extend_from_slice(segment);
    input
}

/// Checkpoints and `__consumer_offsets` records from our own writers.
fn seed_own_formats() {
    let offsets = format_offset_checkpoint([
        ("orders", 0, 42),
        ("orders", 1, 7),
        ("__consumer_offsets", 12, 0),
    ]);
    write("checkpoint_decode", "seed-weir-offsets", offsets.as_bytes());
    let epochs = format_leader_epoch_checkpoint(&[
        EpochEntry {
            epoch: 0,
            start_offset: 0,
        },
        EpochEntry {
            epoch: 3,
            start_offset: 120,
        },
    ]);
    write("checkpoint_decode", "seed-weir-epochs", epochs.as_bytes());
    // A base offset near the top of the range, as a hostile file name may give.
    let mut index = i64::MAX.to_be_bytes().to_vec();
    index.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 64]);
    write("index_decode", "seed-weir-top-offset", &index);

    let with = |which: u8, bytes: &[u8]| {
        let mut v = vec![which];
        v.extend_from_slice(bytes);
        v
    };
    let key = OffsetCommitKey {
        group: "billing".into(),
        topic: "orders".into(),
        partition: 3,
    };
    write(
        "offsets_decode",
        "seed-weir-commit-key-v1",
        &with(0, &key.encode_version(1).expect("key")),
    );
    let gkey = GroupMetadataKey {
        group: "billing".into(),
    };
    write(
        "offsets_decode",
        "seed-weir-group-key",
        &with(0, &gkey.encode().expect("key")),
    );
    for (version, expire) in [(1i16, 1_700_000_100_000i64), (3, -1), (4, -1)] {
        let value = OffsetCommitValue {
            offset: 42,
            leader_epoch: if version >= 3 { 5 } else { -1 },
            metadata: "m".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: expire,
        };
        write(
            "offsets_decode",
            &format!("seed-weir-commit-value-v{version}"),
            &with(1, &value.encode_version(version).expect("value")),
        );
    }
    let sub = ConsumerProtocolSubscription {
        topics: vec!["orders".into(), "payments".into()],
        user_data: Some(CooperativeStickyUserData { generation: 4 }.encode()),
        owned_partitions: vec![TopicPartitions {
            topic: "orders".into(),
            partitions: vec![0, 2],
        }],
        generation_id: 4,
        rack_id: Some("rack-a".into()),
    };
    let assigned = vec![
        TopicPartition {
            topic: "orders".into(),
            partition: 1,
        },
        TopicPartition {
            topic: "payments".into(),
            partition: 0,
        },
    ];
    let assignment = ConsumerProtocolAssignment::from_partitions(&assigned, None);
    let group = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 4,
        protocol: Some("cooperative-sticky".into()),
        leader: Some("member-1".into()),
        current_state_timestamp: 1_700_000_000_000,
        members: vec![MemberMetadata {
            member_id: "member-1".into(),
            group_instance_id: Some("instance-1".into()),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout: 300_000,
            session_timeout: 45_000,
            subscription: sub.encode().expect("subscription"),
            assignment: assignment.encode().expect("assignment"),
        }],
    };
    for version in 0..=4 {
        if let Ok(bytes) = group.encode_version(version) {
            write(
                "offsets_decode",
                &format!("seed-weir-group-value-v{version}"),
                &with(2, &bytes),
            );
        }
    }
    for version in 0..=3 {
        if let Ok(bytes) = sub.encode_version(version) {
            write(
                "offsets_decode",
                &format!("seed-weir-subscription-v{version}"),
                &with(3, &bytes),
            );
        }
    }
    write(
        "offsets_decode",
        "seed-weir-assignment",
        &with(4, &assignment.encode().expect("assignment")),
    );
    let sticky = StickyUserData {
        partitions: assigned,
        generation: Some(4),
    };
    write(
        "offsets_decode",
        "seed-weir-sticky",
        &with(5, &sticky.encode().expect("sticky")),
    );
    write(
        "offsets_decode",
        "seed-weir-coop-sticky",
        &with(6, &CooperativeStickyUserData { generation: 9 }.encode()),
    );
}
