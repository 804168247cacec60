//! Retention and compaction through the clients: a consumer reading a
//! compacted topic from the beginning, the background cleaner, delete
//! records, and committed offsets surviving a compacted `__consumer_offsets`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir::{ProducerRecord, TopicPartition, Weir};

fn read_all(weir: &Weir, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let mut c = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "5"),
        ])
        .unwrap();
    c.assign_topic(topic).unwrap();
    let tp = TopicPartition::new(topic, 0);
    let end = weir.partition(topic, 0).unwrap().log_end_offset();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.position(&tp).unwrap() < end {
        assert!(
            Instant::now() < deadline,
            "the consumer stalled at {}",
            c.position(&tp).unwrap()
        );
        for r in c.poll(Duration::from_millis(20)).unwrap().iter() {
            out.push((
                r.offset(),
                r.key_str().unwrap().to_string(),
                r.value_str().map(str::to_string),
            ));
        }
    }
    out
}

fn fold(rows: &[(i64, String, Option<String>)]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (_, k, v) in rows {
        match v {
            Some(v) => m.insert(k.clone(), v.clone()),
            None => m.remove(k),
        };
    }
    m
}

fn produce_keyed(weir: &Weir, topic: &str, n: usize, keys: usize) {
    let producer = weir
        .producer(&[("linger.ms", "0"), ("batch.size", "200")])
        .unwrap();
    for i in 0..n {
        let record = if i % 17 == 16 {
            ProducerRecord::tombstone(topic, format!("k{}", i % keys))
        } else {
            ProducerRecord::new(topic, format!("v{i}")).key(format!("k{}", i % keys))
        };
        producer.send(record).unwrap();
    }
    producer.flush();
    producer.close();
}

#[test]
fn a_consumer_reads_the_latest_value_per_key_across_offset_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    weir.admin()
        .create_topic(
            "prices",
            1,
            &[("cleanup.policy", "compact"), ("segment.bytes", "2048")],
        )
        .unwrap();
    produce_keyed(&weir, "prices", 600, 20);
    let before = read_all(&weir, "prices");
    let results = weir.cleaner().clean_topic("prices").unwrap();
    let stats = results[0].1.clone().expect("closed segments to clean");
    assert!(stats.records_kept < stats.records_read / 4, "{stats:?}");
    let after = read_all(&weir, "prices");
    assert!(after.len() < before.len() / 4);
    assert_eq!(fold(&after), fold(&before));
    let state = weir.cleaner().partition_state("prices", 0).unwrap();
    assert_eq!(state.first_dirty_offset, stats.next_dirty_offset);
    assert!(state.last_clean.is_some());
}

#[test]
fn the_background_cleaner_runs_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .cleaner_property("log.cleaner.backoff.ms", "10")
        .unwrap()
        .open()
        .unwrap();
    weir.admin()
        .create_topic(
            "state",
            1,
            &[
                ("cleanup.policy", "compact,delete"),
                ("segment.bytes", "2048"),
            ],
        )
        .unwrap();
    produce_keyed(&weir, "state", 400, 5);
    let before = fold(&read_all(&weir, "state"));
    assert!(
        weir.cleaner()
            .wait_for_clean("state", 0, Duration::from_secs(60)),
        "the background cleaner never ran"
    );
    assert_eq!(fold(&read_all(&weir, "state")), before);
    assert!(
        Weir::builder(dir.path())
            .cleaner_property("log.cleaner.threads", "many")
            .is_err()
    );
}

#[test]
fn delete_records_then_retention_removes_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    weir.admin()
        .create_topic("events", 1, &[("segment.bytes", "2048")])
        .unwrap();
    produce_keyed(&weir, "events", 300, 300);
    let tp = TopicPartition::new("events", 0);
    let low = weir.admin().delete_records(&tp, 150).unwrap();
    assert_eq!(low, 150);
    let before = weir.partition("events", 0).unwrap().segments().len();
    let stats = weir.cleaner().run_retention().unwrap();
    assert!(stats.segments_deleted > 0);
    assert!(weir.partition("events", 0).unwrap().segments().len() < before);
    let rows = read_all(&weir, "events");
    assert_eq!(rows.first().unwrap().0, 150);
}

#[test]
fn committed_offsets_survive_compaction_of_consumer_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let weir = Weir::builder(dir.path())
            .background_thread(false)
            .offsets_topic_partitions(1)
            .open()
            .unwrap();
        weir.admin().create_topic("in", 3, &[]).unwrap();
        let coordinator = weir.group_coordinator().unwrap();
        weir.admin()
            .alter_config("__consumer_offsets", &[("segment.bytes", "1024")], &[])
            .unwrap();
        for round in 0..50i64 {
            for p in 0..3 {
                let offsets = [(TopicPartition::new("in", p), round * 10 + i64::from(p))];
                weir.admin()
                    .alter_group_offsets(&format!("g{}", round % 4), &offsets)
                    .unwrap();
            }
        }
        drop(coordinator);
        let results = weir.cleaner().clean_topic("__consumer_offsets").unwrap();
        let stats = results[0].1.clone().expect("offsets to compact");
        assert!(stats.records_kept < stats.records_read, "{stats:?}");
        weir.close().unwrap();
    }
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    for g in 0..4i64 {
        let offsets = weir.admin().list_group_offsets(&format!("g{g}")).unwrap();
        let last_round = 48 + g - if g >= 2 { 4 } else { 0 };
        for p in 0..3 {
            let got = offsets
                .iter()
                .find(|(tp, _)| *tp == TopicPartition::new("in", p))
                .map(|(_, o)| o)
                .unwrap_or_else(|| panic!("g{g} lost its offset for partition {p}"));
            assert_eq!(got.offset, last_round * 10 + i64::from(p), "g{g} p{p}");
        }
    }
}

/// Deleting a topic forgets its cleaner checkpoint (Kafka's `asyncDelete`):
/// a topic created again under the name, also after a restart, is not taken
/// as cleaned up to the old topic's checkpoint.
#[test]
fn a_topic_created_again_is_not_taken_as_cleaned_up_to_the_old_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Weir::builder(dir.path())
            .cleaner_property("log.cleaner.enable", "false")
            .unwrap()
            .open()
            .unwrap()
    };
    let compact = [("cleanup.policy", "compact"), ("delete.retention.ms", "0")];
    let send = |weir: &Weir, records: &[(&str, Option<&str>)]| {
        let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
        for (k, v) in records {
            let r = match v {
                Some(v) => ProducerRecord::new("t", v.to_string()).key(k.to_string()),
                None => ProducerRecord::tombstone("t", k.to_string()),
            };
            producer.send(r).unwrap().wait().unwrap();
        }
        producer.close();
    };
    {
        let weir = open();
        weir.admin().create_topic("t", 1, &compact).unwrap();
        send(
            &weir,
            &[
                ("a", Some("1")),
                ("b", Some("1")),
                ("c", Some("1")),
                ("d", Some("1")),
                ("e", Some("1")),
            ],
        );
        weir.partition("t", 0).unwrap().roll().unwrap();
        let stats = weir.cleaner().clean_partition("t", 0).unwrap().unwrap();
        assert_eq!(stats.next_dirty_offset, 5);
        weir.admin().delete_topic("t").unwrap();
        weir.admin().create_topic("t", 1, &compact).unwrap();
        weir.close().unwrap();
    }
    let weir = open();
    send(
        &weir,
        &[
            ("k", Some("v")),
            ("k", None),
            ("x", Some("1")),
            ("y", Some("1")),
            ("z", Some("1")),
            ("w", Some("1")),
        ],
    );
    weir.partition("t", 0).unwrap().roll().unwrap();
    let stats = weir.cleaner().clean_partition("t", 0).unwrap().unwrap();
    assert_eq!(stats.first_dirty_offset, 0, "{stats:?}");
    assert_eq!(fold(&read_all(&weir, "t")).get("k"), None);
    assert!(
        read_all(&weir, "t")
            .iter()
            .all(|(_, k, v)| k != "k" || v.is_none()),
        "the old value of k is gone"
    );
}

/// Review 18b: a topic's delete that a crash cut short after its data was
/// gone (`LogDir::delete_topic` done, the checkpoint not yet forgotten) does
/// not leave the new topic of that name counted as cleaned up to the old
/// checkpoint: the next open drops the checkpoints of topics that are gone.
#[test]
fn a_delete_cut_short_after_the_data_leaves_no_checkpoint_for_the_topic_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Weir::builder(dir.path())
            .cleaner_property("log.cleaner.enable", "false")
            .unwrap()
            .open()
            .unwrap()
    };
    let compact = [("cleanup.policy", "compact"), ("delete.retention.ms", "0")];
    let send = |weir: &Weir, keys: std::ops::Range<u32>| {
        let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
        for k in keys {
            let r = ProducerRecord::new("t", "v".to_string()).key(format!("k{}", k % 3));
            producer.send(r).unwrap().wait().unwrap();
        }
        producer.close();
    };
    {
        let weir = open();
        weir.admin().create_topic("t", 1, &compact).unwrap();
        send(&weir, 0..20);
        weir.partition("t", 0).unwrap().roll().unwrap();
        let stats = weir.cleaner().clean_partition("t", 0).unwrap().unwrap();
        assert_eq!(stats.next_dirty_offset, 20);
        // The data directory's part of the delete only, as a crash leaves it.
        weir.log_dir().delete_topic("t").unwrap();
        weir.close().unwrap();
    }
    let checkpoint = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    assert!(checkpoint.contains("t 0 20"), "{checkpoint}");
    let weir = open();
    let checkpoint = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    assert!(!checkpoint.contains("t 0"), "{checkpoint}");
    weir.admin().create_topic("t", 1, &compact).unwrap();
    send(&weir, 0..10);
    weir.partition("t", 0).unwrap().roll().unwrap();
    let stats = weir
        .cleaner()
        .clean_partition("t", 0)
        .unwrap()
        .expect("the new topic's segments are cleaned");
    assert_eq!(stats.first_dirty_offset, 0, "{stats:?}");
    assert_eq!(read_all(&weir, "t").len(), 3);
}

/// Deleting a topic a throttled clean is reading ends that clean (Kafka's
/// `abortCleaning`): the delete does not wait out the pass.
#[test]
fn deleting_a_topic_ends_a_throttled_clean_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .cleaner_property("log.cleaner.io.max.bytes.per.second", "10000")
        .unwrap()
        .cleaner_property("log.cleaner.backoff.ms", "10")
        .unwrap()
        .open()
        .unwrap();
    weir.admin()
        .create_topic("t", 1, &[("cleanup.policy", "compact")])
        .unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for _ in 0..200 {
        producer
            .send(ProducerRecord::new("t", vec![b'v'; 5000]).key("k"))
            .unwrap()
            .wait()
            .unwrap();
    }
    producer.close();
    weir.partition("t", 0).unwrap().roll().unwrap();
    // The cleaner thread picks the partition at once; at 10 kB/s its pass
    // over 1 MB takes 100 s.
    std::thread::sleep(Duration::from_millis(300));
    let (tx, rx) = std::sync::mpsc::channel();
    let w = weir.clone();
    std::thread::spawn(move || {
        let _ = tx.send(w.admin().delete_topic("t"));
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("delete_topic waited for the clean")
        .unwrap();
    assert!(weir.admin().list_topics().is_empty());
}

/// A failure to rewrite the cleaner checkpoint does not keep the groups'
/// offsets of a deleted topic: they go first, so a topic created again is
/// never read from the old topic's offsets.
#[test]
fn a_failed_cleaner_checkpoint_still_deletes_the_groups_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .cleaner_property("log.cleaner.enable", "false")
        .unwrap()
        .open()
        .unwrap();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    let tp = TopicPartition::new("t", 0);
    admin.alter_group_offsets("g", &[(tp.clone(), 5)]).unwrap();
    // The checkpoint's temporary file cannot be created.
    std::fs::create_dir(dir.path().join("cleaner-offset-checkpoint.tmp")).unwrap();
    assert!(admin.delete_topic("t").is_err());
    std::fs::remove_dir(dir.path().join("cleaner-offset-checkpoint.tmp")).unwrap();
    assert!(
        weir.group_coordinator()
            .unwrap()
            .committed("g", &tp)
            .is_none()
    );
}

/// After a poll that stops inside a batch with offset gaps (records
/// compacted away between those kept), the position is the last returned
/// offset + 1, as Kafka's consumer sets it (`nextFetchOffset`), and past the
/// batch's last offset once it is read to its end.
#[test]
fn a_poll_stopping_inside_a_compacted_batch_positions_after_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    weir.admin()
        .create_topic(
            "gaps",
            1,
            &[("cleanup.policy", "compact"), ("segment.bytes", "2048")],
        )
        .unwrap();
    let send_batch = |keys: &mut dyn Iterator<Item = usize>| {
        let producer = weir
            .producer(&[("linger.ms", "60000"), ("batch.size", "1000000")])
            .unwrap();
        let sent: Vec<_> = keys
            .map(|k| {
                producer
                    .send(
                        ProducerRecord::new("gaps", format!("value-of-{k:04}"))
                            .key(format!("k{k:04}")),
                    )
                    .unwrap()
            })
            .collect();
        producer.flush();
        for s in sent {
            s.wait().unwrap();
        }
        producer.close();
    };
    // A batch of 70 keys, one updating the even ones, one of other keys
    // (each batch rolls a segment): cleaning the first two segments leaves
    // the first batch's odd keys, with a gap between each two.
    send_batch(&mut (0..70));
    send_batch(&mut (0..70).step_by(2));
    send_batch(&mut (1000..1070));
    let results = weir.cleaner().clean_topic("gaps").unwrap();
    assert!(results[0].1.is_some(), "{results:?}");
    // For each record kept: the batch's last offset if it is the batch's
    // last record.
    let log = weir.partition("gaps", 0).unwrap();
    let mut ends = BTreeMap::new();
    let mut gaps = 0;
    let mut offset = 0;
    while offset < log.high_watermark() {
        let fetched = log.fetch(offset, 1 << 20).unwrap();
        for batch in fetched.batches() {
            let batch = batch.unwrap().batch;
            let records = batch.records().unwrap();
            let offsets: Vec<i64> = records.iter().map(|r| r.unwrap().offset()).collect();
            gaps += offsets.windows(2).filter(|w| w[1] > w[0] + 1).count();
            for (i, o) in offsets.iter().enumerate() {
                ends.insert(*o, (i + 1 == offsets.len()).then_some(batch.last_offset()));
            }
        }
        offset = fetched.next_offset;
    }
    assert!(
        gaps >= 10,
        "the even keys were compacted away inside batches"
    );
    let mut c = weir
        .consumer(&[("auto.offset.reset", "earliest"), ("max.poll.records", "2")])
        .unwrap();
    let tp = TopicPartition::new("gaps", 0);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let all: Vec<i64> = ends.keys().copied().collect();
    let mut seen = Vec::new();
    while seen.len() < all.len() {
        let polled = c.poll(Duration::from_secs(5)).unwrap();
        let offsets: Vec<i64> = polled.iter().map(|r| r.offset()).collect();
        let last = *offsets.last().expect("records before the end");
        let expected = ends[&last].unwrap_or(last) + 1;
        assert_eq!(c.position(&tp).unwrap(), expected, "after {offsets:?}");
        seen.extend(offsets);
    }
    assert_eq!(seen, all);
}
