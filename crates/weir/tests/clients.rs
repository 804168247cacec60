//! Producer and consumer end to end: what goes in comes out, in order, for
//! every codec and acks level; Kafka's partitioning; batching; back-pressure;
//! bounded reads; async APIs on our own executor and on tokio.

mod common;
use common::{hold_in_delivery, send_from_another_thread};

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use weir::{
    Acks, Compression, CompressionConfig, ConsumerConfig, OffsetReset, OffsetSpec, Producer,
    ProducerConfig, ProducerRecord, TopicPartition, Weir, WeirError,
};

/// A minimal executor: no tokio.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park_timeout(Duration::from_secs(10));
    }
}

fn weir() -> (tempfile::TempDir, Weir) {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::open(dir.path()).unwrap();
    (dir, weir)
}

/// Sets the byte `at` bytes into the first occurrence of `needle` in the
/// first segment of partition directory `partition_dir` (CRC left stale).
fn damage(dir: &std::path::Path, partition_dir: &str, needle: &[u8], at: usize, to: u8) {
    let segment = dir.join(partition_dir).join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let found = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[found + at] = to;
    std::fs::write(&segment, &bytes).unwrap();
}

fn consume_all(weir: &Weir, topic: &str) -> Vec<weir::ConsumerRecord> {
    let mut consumer = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "10"),
        ])
        .unwrap();
    consumer.assign_topic(topic).unwrap();
    let ends: HashMap<TopicPartition, i64> = consumer
        .end_offsets(&consumer.assignment())
        .unwrap()
        .into_iter()
        .collect();
    let mut out = Vec::new();
    loop {
        let done = ends
            .iter()
            .all(|(tp, end)| consumer.position(tp).unwrap() >= *end);
        if done {
            return out;
        }
        out.extend(consumer.poll(Duration::from_secs(5)).unwrap());
    }
}

#[test]
fn records_come_out_as_they_went_in_for_every_codec_and_acks() {
    let (_dir, weir) = weir();
    for codec in Compression::ALL {
        for acks in [Acks::None, Acks::Leader, Acks::All] {
            let topic = format!("t-{codec}-{}", acks.name());
            weir.admin().create_topic(&topic, 3, &[]).unwrap();
            let config = ProducerConfig::default()
                .acks(acks)
                .compression(CompressionConfig::new(codec))
                .linger(Duration::from_millis(2));
            let producer = Producer::new(&weir, config).unwrap();
            let mut sent: HashMap<i32, Vec<String>> = HashMap::new();
            let mut futures = Vec::new();
            for i in 0..300 {
                let value = format!("{codec}-{i}-{}", "v".repeat(i % 50));
                let record = ProducerRecord::new(topic.as_str(), value.clone())
                    .key(format!("key-{}", i % 11))
                    .header("i", i.to_string());
                futures.push((value, producer.send(record).unwrap()));
            }
            producer.flush();
            for (value, f) in futures {
                let meta = f.wait().unwrap();
                if acks == Acks::None {
                    assert_eq!(meta.offset, -1);
                }
                sent.entry(meta.partition).or_default().push(value);
            }
            producer.close();
            let got = consume_all(&weir, &topic);
            assert_eq!(got.len(), 300, "{topic}");
            let mut by_partition: HashMap<i32, Vec<String>> = HashMap::new();
            for r in &got {
                let i: usize = std::str::from_utf8(&r.header("i").unwrap().value.clone().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(r.key_str().unwrap(), format!("key-{}", i % 11));
                by_partition
                    .entry(r.partition)
                    .or_default()
                    .push(r.value_str().unwrap().to_string());
            }
            if acks != Acks::None {
                assert_eq!(by_partition, sent, "{topic}: per-partition order");
            }
            // The log holds batches in the codec asked for.
            let log = weir.partition(&topic, 0).unwrap();
            let data = log.fetch(0, 1 << 20).unwrap();
            if let Some(b) = data.batches().next() {
                assert_eq!(b.unwrap().batch.compression().unwrap(), codec, "{topic}");
            }
        }
    }
}

#[test]
fn keyed_records_land_where_the_java_client_puts_them() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("keyed", 12, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    // kafka-format.md §7, N = 12.
    for (key, partition) in [
        ("", 9),
        ("a", 4),
        ("abc", 3),
        ("21", 0),
        ("foobar", 6),
        ("key-0", 1),
        ("hello world", 7),
        ("order-12345", 1),
    ] {
        let meta = producer
            .send(ProducerRecord::new("keyed", "v").key(key))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(meta.partition, partition, "key {key:?}");
    }
}

#[test]
fn linger_and_batch_size_really_batch_and_idempotence_stamps_sequences() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("batched", 1, &[]).unwrap();
    let producer = weir
        .producer(&[("linger.ms", "60000"), ("batch.size", "4096")])
        .unwrap();
    let futures: Vec<_> = (0..400)
        .map(|i| {
            producer
                .send(ProducerRecord::new(
                    "batched",
                    format!("record-{i:04}-{}", "x".repeat(80)),
                ))
                .unwrap()
        })
        .collect();
    // Full batches went out without waiting for linger.ms; the rest on flush.
    producer.flush();
    for f in futures {
        f.wait().unwrap();
    }
    let log = weir.partition("batched", 0).unwrap();
    let data = log.fetch(0, 1 << 24).unwrap();
    let batches: Vec<_> = data.batches().map(|b| b.unwrap().batch).collect();
    assert!(
        batches.len() >= 10 && batches.len() <= 14,
        "{} batches",
        batches.len()
    );
    let mut sequence = 0;
    for b in &batches {
        assert!(b.size() <= 4096 + 200, "a batch of {} bytes", b.size());
        assert_eq!(b.producer_id(), producer.producer_id());
        assert_eq!(b.base_sequence(), sequence);
        sequence += b.records_count();
    }
    assert_eq!(sequence, 400);

    // linger.ms alone seals a batch: nothing else happens here.
    let lingering = weir.producer(&[("linger.ms", "20")]).unwrap();
    let meta = lingering
        .send(ProducerRecord::new("batched", "late"))
        .unwrap()
        .wait_timeout(Duration::from_secs(30))
        .unwrap();
    assert_eq!(meta.offset, 400);
}

#[test]
fn buffer_memory_blocks_then_errors() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("full", 2, &[]).unwrap();
    let config = |max_block: &'static str| {
        [
            ("acks", "1"),
            ("linger.ms", "600000"),
            ("batch.size", "1000000"),
            ("buffer.memory", "20000"),
            ("max.block.ms", max_block),
        ]
    };
    // A batch in delivery holds the memory: its callback blocks until told
    // to go. (A lingering batch would not: a sender short of memory sends
    // every batch first, as Kafka's accumulator does.)
    let producer = weir.producer(&config("50")).unwrap();
    let go = hold_in_delivery(&producer, "full", 0, 19_500);
    let err = producer
        .send(ProducerRecord::new("full", vec![b'x'; 900]).partition(1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::BufferExhausted {
                buffer_memory: 20000,
                max_block_ms: 50,
                ..
            }
        ),
        "{err}"
    );
    drop(go);
    producer.close();

    // With a long max.block.ms the send waits until memory frees up.
    let producer = weir.producer(&config("60000")).unwrap();
    let go = hold_in_delivery(&producer, "full", 0, 19_500);
    let rx = send_from_another_thread(
        &producer,
        ProducerRecord::new("full", vec![b'y'; 900]).partition(1),
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "send did not block"
    );
    drop(go); // the held batch completes, freeing its memory
    rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    let err = producer
        .send(ProducerRecord::new("full", vec![b'z'; 30_000]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::RecordTooLarge {
                config: "buffer.memory",
                ..
            }
        ),
        "{err}"
    );
    producer.close();
}

#[test]
fn a_send_refused_for_memory_leaves_nothing_for_flush_to_wait_on() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("full", 2, &[]).unwrap();
    for linger in ["0", "600000"] {
        let producer = weir
            .producer(&[
                ("linger.ms", linger),
                ("batch.size", "1000000"),
                ("buffer.memory", "20000"),
                ("max.block.ms", "10"),
                ("acks", "1"),
            ])
            .unwrap();
        // Partition 0 holds the memory in a batch being delivered.
        let go = hold_in_delivery(&producer, "full", 0, 19_000);
        // A send to partition 1 finds no memory and fails.
        let err = producer
            .send(ProducerRecord::new("full", vec![b'y'; 5000]).partition(1))
            .unwrap_err();
        assert!(matches!(err, WeirError::BufferExhausted { .. }), "{err}");
        drop(go);
        // flush() returns: the refused record left no empty batch behind.
        let (tx, rx) = mpsc::channel();
        let flushing = producer.clone();
        thread::spawn(move || {
            flushing.flush();
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("flush hangs (linger.ms={linger})"));
        producer.close();
    }
}

#[test]
fn many_threads_share_one_producer_keeping_per_key_order() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("shared", 4, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "1"), ("acks", "1")]).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = producer.clone();
            thread::spawn(move || {
                let futures: Vec<_> = (0..500)
                    .map(|i| {
                        p.send(
                            ProducerRecord::new("shared", format!("{t}:{i}"))
                                .key(format!("thread-{t}")),
                        )
                        .unwrap()
                    })
                    .collect();
                futures
                    .into_iter()
                    .map(|f| f.wait().unwrap().offset)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        let offsets = t.join().unwrap();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "a thread's records out of order"
        );
    }
    producer.close();
    let got = consume_all(&weir, "shared");
    assert_eq!(got.len(), 2000);
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in got {
        let (t, i) = r.value_str().unwrap().split_once(':').unwrap();
        let i: i64 = i.parse().unwrap();
        let prev = last.insert(t.to_string(), i);
        assert!(
            prev.is_none_or(|p| p + 1 == i),
            "thread {t}: {prev:?} then {i}"
        );
    }
}

#[test]
fn threads_filling_shared_batches_build_them_in_parallel_and_keep_order() {
    // Small batches filled by four threads at once, compressed: each batch is
    // built by the thread that fills it, outside the queue lock, and must
    // still reach the log in order (the idempotent log refuses a sequence gap).
    let (_dir, weir) = weir();
    weir.admin().create_topic("busy", 2, &[]).unwrap();
    let producer = weir
        .producer(&[
            ("batch.size", "1024"),
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
            ("acks", "all"),
        ])
        .unwrap();
    assert!(producer.producer_id() >= 0, "idempotence is on by default");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = producer.clone();
            thread::spawn(move || {
                let futures: Vec<_> = (0..2000)
                    .map(|i| {
                        p.send(
                            ProducerRecord::new("busy", format!("{t}:{i}:{}", "x".repeat(i % 50)))
                                .partition(i32::from(i % 3 == 0)),
                        )
                        .unwrap()
                    })
                    .collect();
                futures
                    .into_iter()
                    .map(|f| f.wait().map(|m| (m.partition, m.offset)))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .collect();
    for t in threads {
        let delivered = t.join().unwrap().unwrap();
        for partition in [0, 1] {
            let offsets: Vec<i64> = delivered
                .iter()
                .filter(|(p, _)| *p == partition)
                .map(|&(_, o)| o)
                .collect();
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "a thread's records to partition {partition} out of order"
            );
        }
    }
    producer.close();
    let got = consume_all(&weir, "busy");
    assert_eq!(got.len(), 8000);
    let mut last: HashMap<(String, i32), i64> = HashMap::new();
    for r in got {
        let mut fields = r.value_str().unwrap().split(':');
        let (t, i) = (fields.next().unwrap(), fields.next().unwrap());
        let i: i64 = i.parse().unwrap();
        let prev = last.insert((t.to_string(), r.partition), i);
        assert!(
            prev.is_none_or(|p| p < i),
            "thread {t} partition {}: {prev:?} then {i}",
            r.partition
        );
    }
}

#[test]
fn callbacks_and_errors() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("cb", 1, &[]).unwrap();
    let producer = weir
        .producer(&[("linger.ms", "0"), ("max.request.size", "1000")])
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let seen = Arc::clone(&seen);
        producer
            .send_with_callback(ProducerRecord::new("cb", format!("v{i}")), move |r| {
                seen.lock().unwrap().push(r.unwrap().offset);
            })
            .unwrap();
    }
    producer.flush();
    let mut offsets = seen.lock().unwrap().clone();
    offsets.sort_unstable();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    let err = producer
        .send(ProducerRecord::new("cb", vec![0u8; 2000]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::RecordTooLarge {
                config: "max.request.size",
                ..
            }
        ),
        "{err}"
    );
    // 21 bytes of record framing and the 61-byte batch header count too:
    // 930 bytes of value are 1012 bytes on their own in a batch.
    let err = producer
        .send(ProducerRecord::new("cb", vec![0u8; 930]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::RecordTooLarge {
                size: 1012,
                config: "max.request.size",
                ..
            }
        ),
        "{err}"
    );
    let err = producer
        .send(ProducerRecord::new("cb", "v").timestamp(-2))
        .unwrap_err();
    assert!(matches!(err, WeirError::InvalidArgument(_)), "{err}");
    let err = producer.send(ProducerRecord::new("nope", "v")).unwrap_err();
    assert!(err.to_string().contains("unknown topic nope"), "{err}");
    let err = producer
        .send(ProducerRecord::new("cb", "v").partition(3))
        .unwrap_err();
    assert!(err.to_string().contains("no partition 3"), "{err}");
    producer.close();
    assert!(matches!(
        producer.send(ProducerRecord::new("cb", "v")),
        Err(WeirError::Closed { .. })
    ));
    let err = weir.producer(&[("acks", "2")]).unwrap_err();
    assert!(err.to_string().contains("acks"), "{err}");
}

#[test]
fn consumer_positions_pause_max_poll_records_and_resets() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("c", 2, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..100 {
        producer
            .send(ProducerRecord::new("c", format!("{i}")).partition(i % 2))
            .unwrap();
    }
    producer.flush();
    let p0 = TopicPartition::new("c", 0);
    let p1 = TopicPartition::new("c", 1);

    // latest by default: nothing old.
    let mut latest = weir.consumer(&[]).unwrap();
    latest.assign(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(latest.position(&p0).unwrap(), 50);
    assert!(latest.poll(Duration::from_millis(20)).unwrap().is_empty());

    // none: an error until sought.
    let mut none = weir.consumer(&[("auto.offset.reset", "none")]).unwrap();
    none.assign(std::slice::from_ref(&p0)).unwrap();
    assert!(matches!(
        none.poll(Duration::ZERO),
        Err(WeirError::NoOffsetForPartition { .. })
    ));
    none.seek(&p0, 45).unwrap();
    let got: Vec<i64> = none
        .poll(Duration::from_secs(1))
        .unwrap()
        .iter()
        .map(|r| r.offset())
        .collect();
    assert_eq!(got, [45, 46, 47, 48, 49]);
    // A position beyond the log: out of range, with the log's bounds.
    none.seek(&p0, 70).unwrap();
    match none.poll(Duration::ZERO) {
        Err(WeirError::OffsetOutOfRange {
            offset: 70,
            log_start_offset: 0,
            log_end_offset: 50,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }

    let mut c = weir
        .consumer(&[("auto.offset.reset", "earliest"), ("max.poll.records", "7")])
        .unwrap();
    c.assign(&[p0.clone(), p1.clone()]).unwrap();
    c.pause(std::slice::from_ref(&p1)).unwrap();
    let mut seen = 0;
    while seen < 50 {
        let records = c.poll(Duration::from_secs(1)).unwrap();
        assert!(records.count() <= 7);
        assert!(
            records.records(&p1).next().is_none(),
            "paused partition returned records"
        );
        seen += records.count();
    }
    assert_eq!(c.position(&p0).unwrap(), 50);
    c.resume(std::slice::from_ref(&p1)).unwrap();
    c.seek(&p1, 40).unwrap();
    let r = c.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(r.records(&p1).next().unwrap().offset(), 40);
    c.seek_to_end(&[]).unwrap();
    assert_eq!(c.position(&p1).unwrap(), 50);
    c.seek_to_beginning(std::slice::from_ref(&p1)).unwrap();
    assert_eq!(c.position(&p1).unwrap(), 0);
    assert!(matches!(
        c.seek(&TopicPartition::new("c", 9), 0),
        Err(WeirError::NotAssigned { .. })
    ));
    let times = c.offsets_for_times(&[(p0.clone(), 0)]).unwrap();
    assert_eq!(times[0].1.unwrap().offset, 0);
}

/// Sends `n` records to `topic`, waiting for each to be acknowledged.
fn send_acked(producer: &Producer, topic: &str, n: usize) {
    for i in 0..n {
        producer
            .send(ProducerRecord::new(topic, format!("r{i}")))
            .unwrap()
            .wait()
            .unwrap();
    }
}

#[test]
fn current_lag_follows_the_position_without_fetching() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("lagging", 1, &[]).unwrap();
    let tp = TopicPartition::new("lagging", 0);
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    let send = |n: usize| send_acked(&producer, "lagging", n);
    send(10);
    let mut c = weir
        .consumer(&[("auto.offset.reset", "earliest"), ("max.poll.records", "4")])
        .unwrap();
    assert!(matches!(
        c.current_lag(&tp),
        Err(WeirError::NotAssigned { .. })
    ));
    c.assign(std::slice::from_ref(&tp)).unwrap();
    // No position yet: unknown, as Kafka's empty OptionalLong.
    assert_eq!(c.current_lag(&tp).unwrap(), None);
    assert_eq!(c.poll(Duration::from_secs(10)).unwrap().count(), 4);
    assert_eq!(c.current_lag(&tp).unwrap(), Some(6));
    send(3);
    assert_eq!(c.current_lag(&tp).unwrap(), Some(9));
    c.seek_to_end(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(c.current_lag(&tp).unwrap(), Some(0));
}

/// Wakes the consumer from another thread, a moment after the caller starts
/// its poll, so that the wakeup usually finds the poll parked. Nothing says
/// when a poll has parked, so this is a delay, not a wait: a wakeup that
/// comes first is raised by the poll at its start, and the test holds
/// either way.
fn wake_from_another_thread(wakeup: weir::ConsumerWakeup) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        wakeup.wakeup();
    })
}

#[test]
fn wakeup_interrupts_a_blocking_or_async_poll_once() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("quiet", 1, &[]).unwrap();
    let tp = TopicPartition::new("quiet", 0);
    let mut c = weir.consumer(&[]).unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();

    // From another thread, while the poll waits for records that never come.
    let waker = wake_from_another_thread(c.wakeup_handle());
    assert!(matches!(
        c.poll(Duration::from_secs(120)),
        Err(WeirError::Wakeup)
    ));
    waker.join().unwrap();

    // Raised once: the next poll waits and returns nothing.
    assert!(c.poll(Duration::from_millis(20)).unwrap().is_empty());

    // Asked for while no poll runs: the next poll returns it at once, even
    // with records to return, and the one after returns them.
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    producer
        .send(ProducerRecord::new("quiet", "kept"))
        .unwrap()
        .wait()
        .unwrap();
    c.wakeup_handle().wakeup();
    assert!(matches!(
        c.poll(Duration::from_secs(120)),
        Err(WeirError::Wakeup)
    ));
    let got = c.poll(Duration::from_secs(30)).unwrap();
    assert_eq!(got.iter().next().unwrap().value_str(), Some("kept"));

    // poll_async, on an executor that is not tokio.
    let waker = wake_from_another_thread(c.wakeup_handle());
    assert!(matches!(
        block_on(c.poll_async(Duration::from_secs(120))),
        Err(WeirError::Wakeup)
    ));
    waker.join().unwrap();
}

#[test]
fn a_group_consumer_woken_for_shutdown_commits_what_it_read_on_close() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("jobs", 1, &[]).unwrap();
    let tp = TopicPartition::new("jobs", 0);
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    send_acked(&producer, "jobs", 3);
    let mut c = weir
        .consumer(&[
            ("group.id", "workers"),
            ("auto.offset.reset", "earliest"),
            // Only the commit at close counts.
            ("auto.commit.interval.ms", "3600000"),
        ])
        .unwrap();
    c.subscribe(&["jobs"]).unwrap();
    let wakeup = c.wakeup_handle();
    let mut read = 0;
    loop {
        match c.poll(Duration::from_secs(120)) {
            Ok(records) => {
                read += records.count();
                if read == 3 {
                    // A shutdown asked for while the loop goes on.
                    wakeup.wakeup();
                }
            }
            Err(WeirError::Wakeup) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(read, 3);
    c.close();
    let mut again = weir.consumer(&[("group.id", "workers")]).unwrap();
    let committed = again.committed(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(committed[0].1.as_ref().map(|o| o.offset), Some(3));
}

#[test]
fn a_poll_wakes_on_new_records_blocking_async_and_on_tokio() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("wake", 1, &[]).unwrap();
    let tp = TopicPartition::new("wake", 0);
    let producer = weir.producer(&[("linger.ms", "0"), ("acks", "1")]).unwrap();

    let mut c = weir.consumer(&[("fetch.max.wait.ms", "0")]).unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(c.position(&tp).unwrap(), 0);
    let p = producer.clone();
    let sender = thread::spawn(move || {
        p.send(ProducerRecord::new("wake", "one"))
            .unwrap()
            .wait()
            .unwrap()
    });
    let got = c.poll(Duration::from_secs(30)).unwrap();
    sender.join().unwrap();
    assert_eq!(got.iter().next().unwrap().value_str(), Some("one"));

    // Async, on a hand-rolled executor.
    let p = producer.clone();
    let sender = thread::spawn(move || {
        p.send(ProducerRecord::new("wake", "two"))
            .unwrap()
            .wait()
            .unwrap()
    });
    let got = block_on(c.poll_async(Duration::from_secs(30))).unwrap();
    sender.join().unwrap();
    assert_eq!(got.iter().next().unwrap().value_str(), Some("two"));
    // A poll with nothing to read returns empty at its timeout.
    assert!(
        block_on(c.poll_async(Duration::from_millis(20)))
            .unwrap()
            .is_empty()
    );

    // And on tokio: deliveries and polls are plain futures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let meta = producer
            .send(ProducerRecord::new("wake", "three"))
            .unwrap()
            .await
            .unwrap();
        assert_eq!(meta.offset, 2);
        let got = c.poll_async(Duration::from_secs(30)).await.unwrap();
        assert_eq!(got.iter().next().unwrap().value_str(), Some("three"));
    });
}

#[test]
fn bounded_reads_stop_exactly_at_their_end() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("b", 3, &[]).unwrap();
    let producer = weir
        .producer(&[("linger.ms", "1"), ("compression.type", "lz4")])
        .unwrap();
    let base = 1_700_000_000_000i64;
    for i in 0..300 {
        producer
            .send(
                ProducerRecord::new("b", format!("v{i}"))
                    .key(format!("k{}", i % 17))
                    .timestamp(base + i),
            )
            .unwrap();
    }
    producer.flush();
    let read = weir.bounded_read("b").open().unwrap();
    // Appended after the read opened: not part of it.
    for i in 300..400 {
        producer
            .send(ProducerRecord::new("b", format!("v{i}")).timestamp(base + i))
            .unwrap();
    }
    producer.flush();
    let mut values = Vec::new();
    let summary = read
        .for_each(|r| {
            values.push(String::from_utf8(r.record.value().unwrap().to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
    assert_eq!(summary.records, 300);
    assert_eq!(values.len(), 300);
    assert!(values.iter().all(|v| v[1..].parse::<i64>().unwrap() < 300));
    let per: u64 = summary.partitions.iter().map(|p| p.records).sum();
    assert_eq!(per, 300);
    // The same range read again gives the same checksum.
    let ranges: Vec<(i32, i64)> = summary
        .partitions
        .iter()
        .map(|p| (p.partition, p.start_offset))
        .collect();
    assert!(ranges.iter().all(|(_, s)| *s == 0));
    let again = weir
        .bounded_read("b")
        .open()
        .unwrap()
        .for_each(|_| Ok(()))
        .unwrap();
    assert_eq!(again.records, 400);
    assert_ne!(again.checksum, summary.checksum);

    // A time window: records with timestamps in [base + 100, base + 200).
    let window = weir
        .bounded_read("b")
        .time_window(base + 100, base + 200)
        .open()
        .unwrap()
        .for_each(|r| {
            assert!((base + 100..base + 200).contains(&r.record.timestamp()));
            Ok(())
        })
        .unwrap();
    assert_eq!(window.records, 100);
    let window2 = weir
        .bounded_read("b")
        .time_window(base + 100, base + 200)
        .fetch_bytes(100)
        .open()
        .unwrap()
        .for_each(|_| Ok(()))
        .unwrap();
    assert_eq!(
        window2.checksum, window.checksum,
        "checksums do not depend on fetch sizes"
    );
    // Nor on the order partitions are named in; each is read once.
    let read_of = |partitions: &[i32]| {
        weir.bounded_read("b")
            .partitions(partitions)
            .open()
            .unwrap()
            .for_each(|_| Ok(()))
            .unwrap()
    };
    let (forward, backward) = (read_of(&[0, 1, 2]), read_of(&[2, 1, 0, 1]));
    assert_eq!(forward.checksum, backward.checksum);
    assert_eq!(backward.records, 400);

    // A start offset the log does not hold fails the read (records would be
    // skipped without a word) unless data loss is allowed.
    weir.admin()
        .delete_records(&TopicPartition::new("b", 0), 10)
        .unwrap();
    let err = weir
        .bounded_read("b")
        .from_offsets(&[(0, 3)])
        .open()
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::OffsetOutOfRange {
                partition: 0,
                offset: 3,
                log_start_offset: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        weir.bounded_read("b")
            .from_offsets(&[(1, 1_000_000)])
            .open(),
        Err(WeirError::OffsetOutOfRange { partition: 1, .. })
    ));
    let lenient = weir
        .bounded_read("b")
        .from_offsets(&[(0, 3)])
        .fail_on_data_loss(false)
        .open()
        .unwrap();
    assert_eq!(lenient.ranges()[0].1, 10);
}

/// A topic that is not compacted holds every offset below its end: offsets
/// missing between its batches are records lost, and a bounded read reports
/// them (failing, unless data loss is allowed), where a compacted topic's gaps
/// are only counted.
#[test]
fn bounded_reads_report_offsets_missing_from_a_topic_that_is_not_compacted() {
    let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/kafka-segments/compacted-gaps");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("manifest.json")).unwrap())
            .unwrap();
    let name = manifest["dir"].as_str().unwrap();
    let batches = manifest["batches"].as_array().unwrap();
    let mut gaps = Vec::new();
    let mut next = 0;
    for b in batches {
        let base = b["base_offset"].as_i64().unwrap();
        if base > next {
            gaps.push((next, base));
        }
        next = b["last_offset"].as_i64().unwrap() + 1;
    }
    let missing: i64 = gaps.iter().map(|(from, to)| to - from).sum();
    assert!(!gaps.is_empty(), "the fixture has gaps between its batches");
    let records: usize = manifest["records"].as_array().unwrap().len();

    // The partition copied into a data directory: a topic with default
    // configs (cleanup.policy=delete).
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join(name);
    std::fs::create_dir_all(&part).unwrap();
    for e in std::fs::read_dir(case.join(name)).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, part.join(p.file_name().unwrap())).unwrap();
    }
    let weir = Weir::open(dir.path()).unwrap();
    let topic = name.rsplit_once('-').unwrap().0;

    let err = weir
        .bounded_read(topic)
        .open()
        .unwrap()
        .for_each(|_| Ok(()))
        .unwrap_err();
    let (from, to) = gaps[0];
    assert!(
        matches!(err, WeirError::OffsetsMissing { partition: 0, from: f, to: t, .. } if f == from && t == to),
        "{err}"
    );
    // Records before the gap were handed over; none after it.
    let mut seen = Vec::new();
    let _ = weir.bounded_read(topic).open().unwrap().for_each(|r| {
        seen.push(r.record.offset());
        Ok(())
    });
    assert!(
        !seen.is_empty() && seen.iter().all(|o| *o < from),
        "{seen:?}"
    );

    let lenient = weir
        .bounded_read(topic)
        .fail_on_data_loss(false)
        .fetch_bytes(100)
        .open()
        .unwrap()
        .for_each(|_| Ok(()))
        .unwrap();
    assert_eq!(lenient.missing_offsets as i64, missing);
    assert_eq!(lenient.partitions[0].missing_offsets as i64, missing);
    assert_eq!(lenient.records as usize, records);

    // Compacted, the same gaps are the cleaner's: counted, no error.
    weir.admin()
        .alter_config(topic, &[("cleanup.policy", "compact")], &[])
        .unwrap();
    let compacted = weir
        .bounded_read(topic)
        .open()
        .unwrap()
        .for_each(|_| Ok(()))
        .unwrap();
    assert_eq!(compacted.missing_offsets as i64, missing);
    assert_eq!(compacted.checksum, lenient.checksum);
}

#[test]
fn admin_topics_configs_and_offsets() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    let results = admin.create_topics(&[
        weir::NewTopic::new("a", 2).config("cleanup.policy", "compact"),
        weir::NewTopic::new("b", 1).config("retention.msec", "1"),
    ]);
    assert!(results[0].is_ok());
    assert!(
        results[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("retention.msec")
    );
    assert_eq!(admin.list_topics(), ["a"]);
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..10 {
        producer
            .send(
                ProducerRecord::new("a", "v")
                    .key(format!("k{i}"))
                    .partition(0)
                    .timestamp(1_000 + i * 10),
            )
            .unwrap();
    }
    producer.flush();
    let tp = TopicPartition::new("a", 0);
    let listed = admin
        .list_offsets(&[
            (tp.clone(), OffsetSpec::Earliest),
            (tp.clone(), OffsetSpec::Latest),
            (tp.clone(), OffsetSpec::ForTimestamp(1_045)),
            (tp.clone(), OffsetSpec::MaxTimestamp),
            (tp.clone(), OffsetSpec::ForTimestamp(5_000)),
        ])
        .unwrap();
    let offsets: Vec<i64> = listed.iter().map(|(_, l)| l.offset).collect();
    assert_eq!(offsets, [0, 10, 5, 9, -1]);
    assert!(matches!(
        admin.list_offsets(&[(tp.clone(), OffsetSpec::ForTimestamp(-5))]),
        Err(WeirError::InvalidArgument(_))
    ));
    // As Kafka, a topic whose cleanup.policy has no delete ("a" is compact
    // only) refuses DeleteRecords; compact,delete allows it.
    assert!(matches!(
        admin.delete_records(&tp, 4),
        Err(WeirError::PolicyViolation(m)) if m.contains("cleanup.policy")
    ));
    assert_eq!(
        admin.describe_topic("a").unwrap().partitions[0].log_start_offset,
        0
    );
    let policy = [("cleanup.policy", "compact,delete")];
    admin.alter_config("a", &policy, &[]).unwrap();
    assert_eq!(admin.delete_records(&tp, 4).unwrap(), 4);
    assert_eq!(
        admin.describe_topic("a").unwrap().partitions[0].log_start_offset,
        4
    );
    let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(
        c.poll(Duration::from_secs(1))
            .unwrap()
            .iter()
            .next()
            .unwrap()
            .offset(),
        4
    );
    admin
        .alter_config("a", &[("retention.ms", "1000")], &[])
        .unwrap();
    let entries = admin.describe_config("a").unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(
        (retention.value.as_str(), retention.is_default),
        ("1000", false)
    );
    admin.create_partitions("a", 5).unwrap();
    assert_eq!(admin.describe_topic("a").unwrap().partitions.len(), 5);
    // The producer sees the new partitions.
    let meta = producer
        .send(ProducerRecord::new("a", "v").key("k").partition(4))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(meta.partition, 4);
    // The topic is compacted: a record without a key is refused, as in Kafka.
    let err = producer
        .send(ProducerRecord::new("a", "v").partition(4))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(err.to_string().contains("no key"), "{err}");
    let consumer_config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
    assert_eq!(consumer_config.max_poll_records, 500);
}

#[test]
fn flush_returns_after_the_callbacks_ran() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("cb-order", 1, &[]).unwrap();
    for acks in ["0", "1", "all"] {
        let producer = weir
            .producer(&[("acks", acks), ("linger.ms", "60000")])
            .unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..20 {
            let ran = Arc::clone(&ran);
            producer
                .send_with_callback(ProducerRecord::new("cb-order", "v"), move |_| {
                    // A slow callback: flush must still wait for it.
                    let spin = std::time::Instant::now();
                    while spin.elapsed() < Duration::from_millis(2) {}
                    ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
                .unwrap();
        }
        producer.flush();
        assert_eq!(
            ran.load(std::sync::atomic::Ordering::SeqCst),
            20,
            "acks={acks}"
        );
    }
}

/// A byte flipped on disk inside a record's value: `poll` refuses the batch
/// with `check.crcs=true` (the default), naming the partition and offset, and
/// returns the damaged bytes as they are with `check.crcs=false`.
#[test]
fn a_damaged_batch_fails_the_poll_unless_check_crcs_is_off() {
    let (dir, weir) = weir();
    weir.admin().create_topic("d", 1, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..3 {
        producer
            .send(ProducerRecord::new("d", format!("value-{i}-abcdefgh")))
            .unwrap();
    }
    producer.flush();
    damage(dir.path(), "d-0", b"value-1", b"value-".len(), b'X');

    let mut checked = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
    checked.assign_topic("d").unwrap();
    let mut delivered = Vec::new();
    let err = loop {
        match checked.poll(Duration::from_secs(1)) {
            Ok(records) => {
                assert!(!records.is_empty(), "the damaged batch was never reached");
                delivered.extend(records.iter().map(|r| r.offset()));
            }
            Err(e) => break e,
        }
    };
    assert_eq!(
        delivered,
        [0],
        "only the batch before the damage is delivered"
    );
    assert!(
        matches!(&err, WeirError::Corrupt { topic, partition: 0, offset: 1, .. } if topic == "d"),
        "{err:?}"
    );

    let mut unchecked = weir
        .consumer(&[("auto.offset.reset", "earliest"), ("check.crcs", "false")])
        .unwrap();
    unchecked.assign_topic("d").unwrap();
    let mut values = Vec::new();
    while values.len() < 3 {
        let records = unchecked.poll(Duration::from_secs(1)).unwrap();
        assert!(!records.is_empty());
        values.extend(records.iter().map(|r| r.value_str().unwrap().to_string()));
    }
    assert_eq!(values[1], "value-X-abcdefgh");
}

/// `close` stops the linger timer even when the timer is about to wait with
/// nothing lingering (a lost wake-up hung `close` before). Each producer makes
/// hundreds of one-record batches, so the timer has hundreds of deadlines of
/// sent batches to drop around the time `close` is called; a watchdog fails
/// the test instead of hanging it.
#[test]
fn a_damaged_batch_does_not_hold_up_the_other_partitions() {
    let (dir, weir) = weir();
    weir.admin().create_topic("d", 2, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for p in 0..2 {
        for i in 0..20 {
            producer
                .send(ProducerRecord::new("d", format!("value-{p}-{i:02}")).partition(p))
                .unwrap();
        }
        producer.flush();
    }
    damage(dir.path(), "d-0", b"value-0-00", 0, b'X');

    let mut c = weir
        .consumer(&[("auto.offset.reset", "earliest"), ("max.poll.records", "5")])
        .unwrap();
    c.assign_topic("d").unwrap();
    let mut errors = 0;
    let mut of_1 = Vec::new();
    for _ in 0..20 {
        match c.poll(Duration::from_millis(200)) {
            Ok(records) => {
                assert!(records.iter().all(|r| r.partition() == 1));
                of_1.extend(records.iter().map(|r| r.offset()));
            }
            Err(WeirError::Corrupt { partition: 0, .. }) => errors += 1,
            Err(e) => panic!("{e:?}"),
        }
        if of_1.len() == 20 {
            break;
        }
    }
    assert!(errors > 0, "the damage was reported");
    assert_eq!(of_1, (0..20).collect::<Vec<i64>>(), "partition 1 went on");
}

#[test]
fn close_never_hangs_on_the_linger_timer() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("l", 1, &[]).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = weir.clone();
    thread::spawn(move || {
        for i in 0..200u64 {
            let producer = worker
                .producer(&[("linger.ms", "1"), ("batch.size", "1")])
                .unwrap();
            for j in 0..300 {
                producer
                    .send(ProducerRecord::new("l", format!("{i}-{j}")))
                    .unwrap();
            }
            producer.flush();
            producer.close();
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("Producer::close hung waiting for the linger thread");
}

/// A batch whose CRC is sound but whose third record is not (its header count
/// points past its end): the records before it are delivered, then every poll
/// fails naming offset 2 until the consumer seeks past it. The same with one
/// record per poll, which also shows a batch taken over many polls.
#[test]
fn a_damaged_record_inside_a_sound_batch_stops_the_consumer_just_before_it() {
    let (dir, weir) = weir();
    weir.admin().create_topic("r", 1, &[]).unwrap();
    let producer = weir
        .producer(&[("linger.ms", "60000"), ("batch.size", "1000000")])
        .unwrap();
    for i in 0..5 {
        producer
            .send(ProducerRecord::new("r", format!("value-{i}-abcdefgh")))
            .unwrap();
    }
    producer.flush();
    let segment = dir.path().join("r-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let value = b"value-2-abcdefgh";
    let at = bytes.windows(value.len()).position(|w| w == value).unwrap() + value.len();
    assert_eq!(bytes[at], 0, "the header count after the value");
    bytes[at] = 2; // one header, which the record has no room for
    let batch_end = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c(&bytes[21..batch_end]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&segment, &bytes).unwrap();

    for max_poll in ["500", "1"] {
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", max_poll),
            ])
            .unwrap();
        c.assign_topic("r").unwrap();
        let mut delivered = Vec::new();
        let err = loop {
            match c.poll(Duration::from_secs(1)) {
                Ok(records) => {
                    assert!(!records.is_empty(), "the damage was never reached");
                    delivered.extend(records.iter().map(|r| r.offset()));
                }
                Err(e) => break e,
            }
        };
        assert_eq!(delivered, [0, 1], "max.poll.records={max_poll}");
        assert!(
            matches!(&err, WeirError::Corrupt { offset: 2, .. }),
            "{err:?}"
        );
        assert!(matches!(
            c.poll(Duration::ZERO),
            Err(WeirError::Corrupt { offset: 2, .. })
        ));
        // The position is at the damaged record, after those returned.
        let p = TopicPartition::new("r", 0);
        assert_eq!(c.position(&p).unwrap(), 2, "max.poll.records={max_poll}");
        c.seek(&p, 3).unwrap();
        let mut rest = Vec::new();
        while rest.len() < 2 {
            rest.extend(
                c.poll(Duration::from_secs(1))
                    .unwrap()
                    .iter()
                    .map(|r| r.offset()),
            );
        }
        assert_eq!(rest, [3, 4]);
    }
}

/// `poll(Duration::MAX)` (Kafka's `poll(Long.MAX_VALUE)`) waits for records
/// instead of overflowing the clock: once with records already there, once
/// waiting for a record sent later.
#[test]
fn poll_with_the_largest_timeout_waits_for_records() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("m", 1, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    producer.send(ProducerRecord::new("m", "first")).unwrap();
    producer.flush();
    let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
    c.assign_topic("m").unwrap();
    let first = c.poll(Duration::MAX).unwrap();
    assert_eq!(first.iter().map(|r| r.offset()).collect::<Vec<_>>(), [0]);

    let later = producer.clone();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        later.send(ProducerRecord::new("m", "second")).unwrap();
        later.flush();
    });
    let second = c.poll(Duration::MAX).unwrap();
    assert_eq!(second.iter().map(|r| r.offset()).collect::<Vec<_>>(), [1]);
    sender.join().unwrap();
}

/// The largest durations Kafka's configs and APIs accept mean "for ever", not
/// a clock overflow: `linger.ms` and `max.block.ms` at `Long.MAX_VALUE`, and
/// `wait_timeout(Duration::MAX)` on a delivery.
#[test]
fn the_largest_durations_wait_for_ever_without_overflowing() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("f", 1, &[]).unwrap();
    let producer = weir
        .producer(&[
            ("linger.ms", "9223372036854775807"),
            ("max.block.ms", "9223372036854775807"),
        ])
        .unwrap();
    let delivery = producer.send(ProducerRecord::new("f", "v")).unwrap();
    producer.flush();
    let metadata = delivery.wait_timeout(Duration::MAX).unwrap();
    assert_eq!(metadata.offset, 0);
    producer.close();
}

/// `flush` waits for the records sent before it, not for batches opened while
/// it runs (as Kafka's): with a long `linger.ms`, such a batch held `flush`
/// until its linger passed. Here a delivery callback, which runs during the
/// flush, sends the record that opens that batch. A watchdog fails the test
/// instead of hanging it; `close` then delivers both records.
#[test]
fn flush_does_not_wait_for_batches_opened_after_it_started() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("w", 1, &[]).unwrap();
    // acks=1: the batch completes, and its callback runs, inside the flush.
    let producer = weir
        .producer(&[("linger.ms", "600000"), ("acks", "1")])
        .unwrap();
    let again = producer.clone();
    producer
        .send_with_callback(ProducerRecord::new("w", "first"), move |r| {
            r.unwrap();
            again
                .send(ProducerRecord::new("w", "sent by the callback"))
                .unwrap();
        })
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let flusher = producer.clone();
    thread::spawn(move || {
        flusher.flush();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("flush waited for a batch opened after it started");
    producer.close();
    let values: Vec<String> = consume_all(&weir, "w")
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, ["first", "sent by the callback"]);
}

#[test]
fn a_poll_that_no_batch_reaches_fails_with_the_offset_instead_of_spinning() {
    // A partition trusted after a clean shutdown whose batches' base offsets
    // (outside the CRC) were damaged to 0, 50 and 5: the high watermark is 7,
    // and no batch holds offsets 2..7. The consumer reports the offset, and an
    // application seeking past it reaches the end.
    let dir = tempfile::tempdir().unwrap();
    let partition = dir.path().join("t-0");
    std::fs::create_dir(&partition).unwrap();
    let mut bytes = Vec::new();
    for (i, base) in [0i64, 50, 5].into_iter().enumerate() {
        let mut builder = weir_record::BatchBuilder::new(weir_record::BatchOptions::default());
        for j in 0..2 {
            builder
                .append(&weir_record::Record::new(format!("v{i}-{j}")).with_timestamp(1_000))
                .unwrap();
        }
        let mut b = builder.build().unwrap().to_vec();
        weir_record::RecordBatchMut::new(&mut b)
            .unwrap()
            .set_base_offset(base);
        bytes.extend_from_slice(&b);
    }
    std::fs::write(partition.join("00000000000000000000.log"), &bytes).unwrap();
    std::fs::write(dir.path().join(".kafka_cleanshutdown"), b"").unwrap();
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    let mut consumer = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "0"),
        ])
        .unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let first = consumer.poll(Duration::from_secs(5)).unwrap();
    assert_eq!(first.iter().map(|r| r.offset()).collect::<Vec<_>>(), [0, 1]);
    let mut skipped = Vec::new();
    while consumer.position(&tp).unwrap() < 7 {
        match consumer.poll(Duration::from_secs(5)) {
            Err(WeirError::Corrupt { offset, .. }) => {
                skipped.push(offset);
                consumer.seek(&tp, offset + 1).unwrap();
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    assert_eq!(skipped, [2, 3, 4, 5, 6]);
}

#[test]
fn a_batch_the_log_refuses_does_not_break_the_partitions_sequence() {
    let (_dir, weir) = weir();
    weir.admin()
        .create_topic("small", 1, &[("max.message.bytes", "2000")])
        .unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    assert!(producer.producer_id() >= 0, "idempotence is on by default");
    let send = |value: Vec<u8>| {
        producer
            .send(ProducerRecord::new("small", value))
            .unwrap()
            .wait_timeout(Duration::from_secs(30))
    };
    assert_eq!(send(b"a".to_vec()).unwrap().offset, 0);
    // One record over the topic's max.message.bytes: refused by the log.
    let err = send(vec![b'x'; 5000]).unwrap_err();
    assert!(err.to_string().contains("max.message.bytes"), "{err}");
    // The records after it are numbered on from the last one the log took.
    assert_eq!(send(b"b".to_vec()).unwrap().offset, 1);
    assert_eq!(send(b"c".to_vec()).unwrap().offset, 2);
}

#[test]
fn batches_stay_within_the_topics_max_message_bytes() {
    let (dir, weir) = weir();
    weir.admin()
        .create_topic("small", 1, &[("max.message.bytes", "2000")])
        .unwrap();
    // batch.size (16 KiB by default) is more than the topic takes in a batch.
    let producer = weir.producer(&[("linger.ms", "600000")]).unwrap();
    let futures: Vec<_> = (0..40)
        .map(|i| {
            producer
                .send(ProducerRecord::new(
                    "small",
                    vec![b'0' + (i % 10) as u8; 300],
                ))
                .unwrap()
        })
        .collect();
    producer.flush();
    for (i, f) in futures.into_iter().enumerate() {
        let meta = f.wait_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(meta.offset, i as i64);
    }
    let segment = dir.path().join("small-0").join("00000000000000000000.log");
    let bytes = bytes::Bytes::from(std::fs::read(segment).unwrap());
    let batches: Vec<_> = weir_record::BatchIter::new(bytes)
        .map(|b| b.unwrap())
        .collect();
    assert!(batches.len() >= 7, "{} batches", batches.len());
    assert!(batches.iter().all(|b| b.batch.size() <= 2000));
}

#[test]
fn a_producer_goes_on_to_a_topic_deleted_and_created_again() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("again", 2, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    let send = |p: i32| {
        producer
            .send(ProducerRecord::new("again", "v").partition(p))
            .unwrap()
            .wait_timeout(Duration::from_secs(30))
    };
    send(0).unwrap();
    send(1).unwrap();
    admin.delete_topic("again").unwrap();
    admin.create_topic("again", 2, &[]).unwrap();
    assert_eq!(send(0).unwrap().offset, 0);
    assert_eq!(send(1).unwrap().offset, 0);
    admin.delete_topic("again").unwrap();
    admin.create_topic("again", 3, &[]).unwrap();
    assert_eq!(send(2).unwrap().offset, 0);
    assert_eq!(send(0).unwrap().offset, 0);
}

/// Runs `f` on a thread; fails the test if it does not finish in 30 s.
fn within_30s(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} hangs"));
}

#[test]
fn flush_close_and_the_last_drop_inside_a_callback_do_not_hang() {
    let (_dir, weir) = weir();
    for acks in ["1", "all"] {
        let topic = format!("cb-{acks}");
        weir.admin().create_topic(&topic, 1, &[]).unwrap();
        let record = |v: &str| ProducerRecord::new(topic.clone(), v.to_string());
        // flush() and then close() from a callback; the outer flush returns.
        let producer = weir.producer(&[("acks", acks)]).unwrap();
        let (tx, rx) = mpsc::channel();
        let (p, b, c) = (producer.clone(), record("b"), record("c"));
        producer
            .send_with_callback(record("a"), move |r| {
                r.unwrap();
                p.send(b).unwrap();
                p.flush();
                p.close();
                tx.send(p.send(c).is_err()).unwrap();
            })
            .unwrap();
        let outer = producer.clone();
        within_30s("flush with close() in a callback", move || outer.flush());
        assert!(rx.recv_timeout(Duration::from_secs(30)).unwrap());
        drop(producer);

        // The last handle dropped by a callback (the producer's timer thread
        // may hold it a moment longer: either way nothing waits on itself).
        let producer = weir
            .producer(&[("acks", acks), ("linger.ms", "300")])
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let (p, e) = (producer.clone(), record("e"));
        producer
            .send_with_callback(record("d"), move |r| {
                r.unwrap();
                p.send_with_callback(e, move |r| tx.send(r.is_ok()).unwrap())
                    .unwrap();
                drop(p);
            })
            .unwrap();
        drop(producer);
        let delivered = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the last drop in a callback hangs (acks={acks})"));
        assert!(delivered);
        let values: Vec<_> = consume_all(&weir, &topic)
            .into_iter()
            .map(|r| r.value.unwrap())
            .collect();
        assert_eq!(values, ["a", "b", "d", "e"], "acks={acks}");
    }
}

#[test]
fn auto_creation_is_up_to_the_consumer_and_never_the_admin() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .auto_create_topics(2, &[])
        .open()
        .unwrap();
    let tp = |t: &str| TopicPartition::new(t, 0);
    let err = weir
        .admin()
        .list_offsets(&[(tp("by-admin"), OffsetSpec::Latest)])
        .unwrap_err();
    assert!(err.to_string().contains("by-admin"), "{err}");
    let mut strict = weir
        .consumer(&[("allow.auto.create.topics", "false")])
        .unwrap();
    assert!(strict.assign(&[tp("by-strict")]).is_err());
    assert!(strict.assign_topic("by-strict").is_err());
    let names = |w: &Weir| w.admin().list_topics();
    assert!(names(&weir).is_empty(), "{:?}", names(&weir));
    // Allowed by default, as Kafka's consumer metadata requests allow it.
    let mut c = weir.consumer(&[]).unwrap();
    c.assign(&[tp("by-consumer")]).unwrap();
    assert_eq!(names(&weir), ["by-consumer"]);
}

#[test]
fn close_timeout_gives_up_waiting_and_delivery_goes_on() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("slow", 1, &[]).unwrap();
    let producer = weir.producer(&[("acks", "all")]).unwrap();
    let (go, wait) = mpsc::channel::<()>();
    let (done, delivered) = mpsc::channel();
    // The callback (on the fsync completion thread) holds its batch open.
    producer
        .send_with_callback(ProducerRecord::new("slow", "v"), move |r| {
            let _ = wait.recv_timeout(Duration::from_secs(30));
            done.send(r.map(|m| m.offset)).unwrap();
        })
        .unwrap();
    let err = producer
        .close_timeout(Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(err, WeirError::Timeout { .. }), "{err}");
    assert!(matches!(
        producer.send(ProducerRecord::new("slow", "late")),
        Err(WeirError::Closed { .. })
    ));
    go.send(()).unwrap();
    assert_eq!(
        delivered
            .recv_timeout(Duration::from_secs(30))
            .unwrap()
            .unwrap(),
        0
    );
    producer.close_timeout(Duration::from_secs(30)).unwrap();
}

#[test]
fn auto_offset_reset_by_duration_starts_that_long_ago() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("dur", 1, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    let now = weir.clock().now_ms();
    for minutes_ago in [180, 120, 30, 10] {
        producer
            .send(ProducerRecord::new("dur", "v").timestamp(now - minutes_ago * 60_000))
            .unwrap()
            .wait()
            .unwrap();
    }
    let tp = TopicPartition::new("dur", 0);
    for (duration, want) in [("PT1H", 2), ("P1D", 0), ("PT1M", 4), ("PT2H30M", 1)] {
        let mut c = weir
            .consumer(&[("auto.offset.reset", &format!("by_duration:{duration}"))])
            .unwrap();
        c.assign(std::slice::from_ref(&tp)).unwrap();
        assert_eq!(c.position(&tp).unwrap(), want, "{duration}");
    }
    let err = weir
        .consumer(&[("auto.offset.reset", "by_duration:1h")])
        .unwrap_err();
    assert!(err.to_string().contains("auto.offset.reset"), "{err}");
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).as_mut().poll(&mut cx)
}

fn send_values(weir: &Weir, topic: &str, values: impl IntoIterator<Item = String>) {
    let producer = weir.producer(&[("linger.ms", "1")]).unwrap();
    for v in values {
        producer.send(ProducerRecord::new(topic, v)).unwrap();
    }
    producer.close();
}

/// A manually assigned consumer whose topic is deleted waits (its poll
/// yields; it does not spin on the closed log until its timeout), and reads
/// the topic created again under the same name from its new log.
#[test]
fn a_consumer_waits_on_a_deleted_topic_and_reads_it_once_created_again() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    send_values(&weir, "t", ["old".to_string()]);
    let mut c = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "1"),
        ])
        .unwrap();
    c.assign(&[TopicPartition::new("t", 0)]).unwrap();
    let mut got = 0;
    while got == 0 {
        got += c.poll(Duration::from_secs(10)).unwrap().count();
    }
    admin.delete_topic("t").unwrap();
    assert!(
        poll_once(c.poll_async(Duration::from_secs(2))).is_pending(),
        "a poll on a deleted topic waits"
    );
    admin.create_topic("t", 1, &[]).unwrap();
    send_values(&weir, "t", (0..3).map(|i| format!("new{i}")));
    let mut values = Vec::new();
    for _ in 0..100 {
        let polled = c.poll(Duration::from_millis(100)).unwrap();
        values.extend(polled.iter().map(|r| r.value_str().unwrap().to_string()));
        if values.len() >= 3 {
            break;
        }
    }
    assert_eq!(values, ["new0", "new1", "new2"]);
}

/// Records a poll fetched and did not return come back at the next poll at
/// once: `fetch.min.bytes` holds back only a poll that has to fetch, as in
/// Kafka, whose consumer returns what it already holds.
#[test]
fn records_already_fetched_are_returned_without_waiting_for_fetch_min_bytes() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    send_values(&weir, "t", (0..10).map(|i| format!("v{i}")));
    let mut c = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.min.bytes", "1000000"),
            ("fetch.max.wait.ms", "600000"),
            ("max.poll.records", "5"),
        ])
        .unwrap();
    c.assign(&[TopicPartition::new("t", 0)]).unwrap();
    // Fewer bytes than fetch.min.bytes: the first poll waits its timeout.
    assert_eq!(c.poll(Duration::from_millis(100)).unwrap().count(), 5);
    match poll_once(c.poll_async(Duration::from_secs(600))) {
        Poll::Ready(Ok(records)) => assert_eq!(records.count(), 5),
        Poll::Ready(Err(e)) => panic!("{e}"),
        Poll::Pending => panic!("the second poll waited for fetch.min.bytes"),
    }
}

/// A top-up fetch behind records still buffered finds the log's start moved
/// past it: the buffered records are returned first, and the reset happens
/// when the position itself is out of range.
#[test]
fn an_out_of_range_top_up_keeps_the_records_already_buffered() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    send_values(&weir, "t", (0..10).map(|i| format!("{i}")));
    let mut c = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.min.bytes", "1000"),
            ("fetch.max.wait.ms", "50"),
            ("max.poll.records", "5"),
        ])
        .unwrap();
    c.assign(&[TopicPartition::new("t", 0)]).unwrap();
    let offsets = |c: &mut weir::Consumer| -> Vec<i64> {
        c.poll(Duration::from_secs(5))
            .unwrap()
            .iter()
            .map(|r| r.offset())
            .collect()
    };
    assert_eq!(offsets(&mut c), (0..5).collect::<Vec<_>>());
    send_values(&weir, "t", (10..110).map(|i| format!("{i}")));
    weir.admin()
        .delete_records(&TopicPartition::new("t", 0), 50)
        .unwrap();
    assert_eq!(offsets(&mut c), (5..10).collect::<Vec<_>>());
    assert_eq!(offsets(&mut c).first(), Some(&50));
}

/// With topic auto-creation on, neither a bounded read nor a consumer that
/// may not create topics brings a topic into being: a mistyped bounded read
/// is an unknown topic, and a deleted topic stays deleted.
#[test]
fn reads_never_auto_create_topics() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .auto_create_topics(1, &[])
        .open()
        .unwrap();
    assert!(weir.bounded_read("typo").open().is_err());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let mut c = weir
        .consumer(&[
            ("allow.auto.create.topics", "false"),
            ("fetch.max.wait.ms", "1"),
        ])
        .unwrap();
    c.assign(&[TopicPartition::new("t", 0)]).unwrap();
    c.poll(Duration::from_millis(10)).unwrap();
    weir.admin().delete_topic("t").unwrap();
    c.poll(Duration::from_millis(10)).unwrap();
    let topics = weir.admin().list_topics();
    assert!(!topics.contains(&"t".to_string()), "{topics:?}");
    assert!(!topics.contains(&"typo".to_string()), "{topics:?}");
}

/// A `poll_async` future dropped before it completes (the losing branch of a
/// `select!`, a timeout) loses no records: what it fetched stays buffered
/// for the next poll, and the position moves only when records are returned.
#[test]
fn a_cancelled_async_poll_loses_no_records() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("cancelled", 3, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    let mut consumer = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            // Each poll fetches what is there, then waits for more.
            ("fetch.min.bytes", "1000000"),
            ("fetch.max.wait.ms", "100"),
            ("max.poll.records", "7"),
        ])
        .unwrap();
    consumer.assign_topic("cancelled").unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen: Vec<weir::ConsumerRecord> = Vec::new();
    let mut cancelled = 0;
    for round in 0..20 {
        for i in 0..10 {
            producer
                .send(ProducerRecord::new("cancelled", format!("{round}-{i}")).key(format!("k{i}")))
                .unwrap()
                .wait()
                .unwrap();
        }
        for _ in 0..3 {
            let mut poll = pin!(consumer.poll_async(Duration::from_secs(5)));
            match poll.as_mut().poll(&mut cx) {
                Poll::Ready(records) => seen.extend(records.unwrap()),
                // Dropped while it waits for fetch.min.bytes.
                Poll::Pending => cancelled += 1,
            }
        }
    }
    assert!(cancelled > 0);
    let ends: HashMap<TopicPartition, i64> = consumer
        .end_offsets(&consumer.assignment())
        .unwrap()
        .into_iter()
        .collect();
    while !ends
        .iter()
        .all(|(tp, end)| consumer.position(tp).unwrap() >= *end)
    {
        seen.extend(block_on(consumer.poll_async(Duration::from_secs(5))).unwrap());
    }
    let mut values: Vec<String> = seen
        .iter()
        .map(|r| r.value_str().unwrap().to_string())
        .collect();
    values.sort();
    let mut expected: Vec<String> = (0..20)
        .flat_map(|r| (0..10).map(move |i| format!("{r}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(values, expected, "every record once");
    for p in 0..3 {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .collect();
        assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
    }
}

/// Review 13: records deleted under a bounded read failed it even with
/// `fail_on_data_loss(false)` (Spark's failOnDataLoss=false goes on at the
/// earliest offset still in the log).
#[test]
fn a_bounded_read_not_failing_on_data_loss_goes_on_past_records_deleted_under_it() {
    let (_dir, weir) = weir();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for fail in [true, false] {
        let topic = format!("shrinking-{fail}");
        weir.admin().create_topic(&topic, 1, &[]).unwrap();
        send_acked(&producer, &topic, 100);
        let tp = TopicPartition::new(topic.as_str(), 0);
        let admin = weir.admin();
        let read = weir
            .bounded_read(&topic)
            .fail_on_data_loss(fail)
            .fetch_bytes(1)
            .open()
            .unwrap();
        let mut seen = Vec::new();
        let summary = read.for_each(|r| {
            if seen.is_empty() {
                admin.delete_records(&tp, 50).unwrap();
            }
            seen.push(r.record.offset());
            Ok(())
        });
        if fail {
            let err = summary.unwrap_err();
            assert!(
                matches!(&err, WeirError::Log(e) if matches!(**e, weir_log::LogError::OffsetOutOfRange { .. })),
                "{err}"
            );
        } else {
            let summary = summary.unwrap();
            let expected: Vec<i64> = std::iter::once(0).chain(50..100).collect();
            assert_eq!(seen, expected);
            assert_eq!(summary.missing_offsets, 49);
            assert_eq!(summary.records, expected.len() as u64);
        }
    }
}

/// Review 14, finding 3: the record that held the largest timestamp had
/// been deleted (below the log start), and MaxTimestamp answered -1 for a
/// partition holding a readable record.
#[test]
fn max_timestamp_lists_a_readable_record_after_delete_records() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for ts in [2000, 1000] {
        producer
            .send(ProducerRecord::new("t", "v").partition(0).timestamp(ts))
            .unwrap()
            .wait()
            .unwrap();
    }
    let tp = TopicPartition::new("t", 0);
    let max = |admin: &weir::Admin| {
        admin
            .list_offsets(&[(tp.clone(), OffsetSpec::MaxTimestamp)])
            .unwrap()[0]
            .1
    };
    assert_eq!((max(&admin).offset, max(&admin).timestamp), (0, 2000));
    assert_eq!(admin.delete_records(&tp, 1).unwrap(), 1);
    let listed = max(&admin);
    assert_eq!((listed.offset, listed.timestamp), (1, 1000));
    assert!(listed.leader_epoch.is_some());
}

/// Review 14 (latest), finding 1: when the record with the largest
/// timestamp is below the log start, MaxTimestamp looks for the answer in the
/// segments by their largest timestamps, highest first, and stops at the
/// first that cannot beat it: it reads the deleted record's segment and the
/// last one, not every segment (a damaged batch in between is never read).
#[test]
fn max_timestamp_after_delete_records_reads_only_the_segments_it_needs() {
    let (dir, weir) = weir();
    let admin = weir.admin();
    admin
        .create_topic("t", 1, &[("segment.bytes", "1024")])
        .unwrap();
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    let now = weir.clock().now_ms();
    // A record from a clock 30 minutes ahead, then records of rising time.
    let send = |ts: i64| {
        producer
            .send(
                ProducerRecord::new("t", "v".repeat(200))
                    .partition(0)
                    .timestamp(ts),
            )
            .unwrap()
            .wait()
            .unwrap();
    };
    send(now + 30 * 60 * 1000);
    for i in 0..100 {
        send(now + i);
    }
    let tp = TopicPartition::new("t", 0);
    assert_eq!(admin.delete_records(&tp, 1).unwrap(), 1);
    let log = weir.partition("t", 0).unwrap();
    let segments = log.segments();
    assert!(segments.len() > 10, "{}", segments.len());
    // Damage the first record's framing in a segment in the middle (not the
    // batch header the search walks): decoding its batch fails.
    let middle = &segments[segments.len() / 2];
    let path = dir
        .path()
        .join("t-0")
        .join(format!("{:020}.log", middle.base_offset));
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().skip(61).take(100) {
        *b = 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    let listed = admin
        .list_offsets(&[(tp.clone(), OffsetSpec::MaxTimestamp)])
        .unwrap()[0]
        .1;
    assert_eq!((listed.offset, listed.timestamp), (100, now + 99));
}

/// Review 14, finding 6: `alter_config` with a key both set and deleted, or
/// set twice, dropped a value without an error. Refused as Kafka refuses it,
/// and nothing changes.
#[test]
fn alter_config_refuses_a_key_named_twice() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    let retention = |admin: &weir::Admin| {
        admin
            .describe_config("t")
            .unwrap()
            .into_iter()
            .find(|e| e.name == "retention.ms")
            .unwrap()
    };
    let before = retention(&admin);
    for (set, delete) in [
        (&[("retention.ms", "1000")][..], &["retention.ms"][..]),
        (
            &[("retention.ms", "1000"), ("retention.ms", "2000")][..],
            &[][..],
        ),
    ] {
        let err = admin.alter_config("t", set, delete).unwrap_err();
        assert!(
            matches!(
                err.as_log_error(),
                Some(weir::LogError::Config {
                    source: weir::ConfigError::DuplicateKey { key },
                    ..
                }) if key == "retention.ms"
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("retention.ms"), "{err}");
        assert_eq!(retention(&admin), before);
    }
}

/// The summary's checksums are the CRC-32C its docs define, computed here
/// field by field from what the callback was handed: per partition over each
/// record's offset and timestamp (big-endian i64s), key and value (a
/// big-endian i32 length, -1 for null, then the bytes); over all, the
/// partition numbers and their checksums. Null keys, tombstones, empty and
/// large values (past the block the reader gathers before each CRC) and
/// enough records for several blocks.
#[test]
fn bounded_read_checksums_are_the_documented_crc32c() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("sums", 2, &[]).unwrap();
    let producer = weir.producer(&[("linger.ms", "1")]).unwrap();
    let base = 1_700_000_000_000i64;
    for i in 0..2_000i64 {
        let record = match i % 7 {
            0 => ProducerRecord::tombstone("sums", format!("k{i}")),
            1 => ProducerRecord::new("sums", vec![b'x'; 70_000 + i as usize]),
            2 => ProducerRecord::new("sums", Vec::new()).key(Vec::new()),
            3 => ProducerRecord::new("sums", format!("value {i}")).key(vec![b'k'; 200]),
            _ => ProducerRecord::new("sums", format!("value {i}")).key(format!("k{}", i % 13)),
        };
        producer
            .send(record.partition((i % 2) as i32).timestamp(base + i))
            .unwrap();
    }
    producer.flush();
    let mut expected: HashMap<i32, u32> = HashMap::new();
    let field = |crc: u32, bytes: Option<&[u8]>| match bytes {
        None => crc32c::crc32c_append(crc, &(-1i32).to_be_bytes()),
        Some(b) => crc32c::crc32c_append(
            crc32c::crc32c_append(crc, &(b.len() as i32).to_be_bytes()),
            b,
        ),
    };
    let summary = weir
        .bounded_read("sums")
        .open()
        .unwrap()
        .for_each(|r| {
            let crc = expected.entry(r.partition).or_default();
            let mut c = crc32c::crc32c_append(*crc, &r.record.offset().to_be_bytes());
            c = crc32c::crc32c_append(c, &r.record.timestamp().to_be_bytes());
            c = field(c, r.record.key());
            *crc = field(c, r.record.value());
            Ok(())
        })
        .unwrap();
    assert_eq!(summary.records, 2_000);
    let mut all = 0u32;
    for p in &summary.partitions {
        assert_eq!(
            p.checksum, expected[&p.partition],
            "partition {}",
            p.partition
        );
        all = crc32c::crc32c_append(
            crc32c::crc32c_append(all, &p.partition.to_be_bytes()),
            &p.checksum.to_be_bytes(),
        );
    }
    assert_eq!(summary.checksum, all);
}

/// Bytes after the last declared record of a CRC-valid batch: as Kafka's
/// reader, the last record is the damaged one. The records before it come
/// back, the error names it, and seeking one past it reads the next batch
/// from its first record.
#[test]
fn trailing_bytes_make_the_last_record_of_the_batch_the_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let weir = Weir::open(dir.path()).unwrap();
        weir.admin().create_topic("t", 1, &[]).unwrap();
        let producer = weir
            .producer(&[("linger.ms", "60000"), ("batch.size", "1000000")])
            .unwrap();
        for batch in 0..2 {
            for i in 0..3 {
                producer
                    .send(ProducerRecord::new("t", format!("b{batch}-r{i}")))
                    .unwrap();
            }
            producer.flush();
        }
        producer.close();
        weir.close().unwrap();
    }
    // One stray byte at the end of the first batch's records, its length and
    // CRC made to match; the second batch follows it.
    let segment = dir.path().join("t-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let first_end = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    bytes.insert(first_end, 0);
    let length = u32::try_from(first_end + 1 - 12).unwrap();
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..first_end + 1]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&segment, &bytes).unwrap();

    let weir = Weir::open(dir.path()).unwrap();
    let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
    let tp = TopicPartition::new("t", 0);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let mut delivered = Vec::new();
    let err = loop {
        match c.poll(Duration::from_secs(1)) {
            Ok(records) => {
                assert!(!records.is_empty(), "the damage was never reached");
                delivered.extend(records.iter().map(|r| r.offset()));
            }
            Err(e) => break e,
        }
    };
    assert_eq!(delivered, [0, 1]);
    let WeirError::Corrupt { offset, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(offset, 2);
    assert_eq!(c.position(&tp).unwrap(), 2);
    c.seek(&tp, offset + 1).unwrap();
    let mut rest = Vec::new();
    while rest.len() < 3 {
        rest.extend(
            c.poll(Duration::from_secs(1))
                .unwrap()
                .iter()
                .map(|r| r.offset()),
        );
    }
    assert_eq!(rest, [3, 4, 5]);
}

/// A batch failing its CRC fails the poll naming its first offset, or the
/// position when that is inside it: seeking one past the named offset,
/// again and again, gets past the batch (it used to name the batch's base
/// offset for ever). The reason says which offsets the batch holds.
#[test]
fn seeking_past_a_damaged_batch_one_offset_at_a_time_gets_past_it() {
    let (dir, weir) = weir();
    weir.admin().create_topic("s", 1, &[]).unwrap();
    let producer = weir
        .producer(&[("linger.ms", "60000"), ("batch.size", "1000000")])
        .unwrap();
    for batch in 0..2 {
        for i in 0..5 {
            producer
                .send(ProducerRecord::new(
                    "s",
                    format!("value-{batch}-{i}-abcdefgh"),
                ))
                .unwrap();
        }
        producer.flush();
    }
    damage(dir.path(), "s-0", b"value-0-2", b"value-".len(), b'X');
    let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
    let tp = TopicPartition::new("s", 0);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let mut named = Vec::new();
    let first = loop {
        match c.poll(Duration::from_secs(1)) {
            Ok(records) if !records.is_empty() => break records.iter().next().unwrap().offset(),
            Ok(_) => panic!("no records and no error"),
            Err(WeirError::Corrupt { offset, reason, .. }) => {
                assert!(reason.contains("0..=4"), "{reason}");
                assert!(named.len() < 10, "stuck at {named:?}");
                named.push(offset);
                c.seek(&tp, offset + 1).unwrap();
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(named, [0, 1, 2, 3, 4]);
    assert_eq!(first, 5);
}

#[test]
fn partitions_for_and_list_topics_describe_the_data_directory_as_kafkas_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::open(dir.path()).unwrap();
    weir.admin().create_topic("orders", 3, &[]).unwrap();
    let consumer = weir.consumer(&[("group.id", "g")]).unwrap();
    assert_eq!(
        consumer.partitions_for("orders").unwrap(),
        (0..3)
            .map(|p| TopicPartition::new("orders", p))
            .collect::<Vec<_>>()
    );
    // An unknown topic has no partitions (Kafka's partitionsFor: empty).
    assert!(consumer.partitions_for("nope").unwrap().is_empty());
    assert!(weir.topic("nope").is_err(), "and it was not created");
    let topics = consumer.list_topics();
    assert_eq!(topics["orders"].len(), 3);
    assert!(!topics.contains_key("nope"));

    // With allow.auto.create.topics (and a directory that creates topics),
    // asking creates it, as Kafka's metadata request does.
    drop(consumer);
    drop(weir);
    let weir = Weir::builder(dir.path())
        .auto_create_topics(2, &[])
        .open()
        .unwrap();
    let consumer = weir
        .consumer(&[("group.id", "g"), ("allow.auto.create.topics", "true")])
        .unwrap();
    assert_eq!(consumer.partitions_for("fresh").unwrap().len(), 2);
    assert!(consumer.list_topics().contains_key("fresh"));
    // A name Kafka would refuse is an error naming it, as Kafka's
    // InvalidTopicException.
    let err = consumer.partitions_for("bad name!").unwrap_err();
    assert!(err.to_string().contains("bad name!"), "{err}");
}
