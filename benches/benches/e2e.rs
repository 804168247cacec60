//! End-to-end latency, producer `send` → consumer `poll` returning the record,
//! at a fixed moderate rate, next to a crossbeam channel carrying the same
//! number of messages at the same rate in the same run. Prints p50/p99/p99.9/max.
//!
//! `cargo bench -p weir-benches --bench e2e`

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use weir::{ProducerRecord, TopicPartition, Weir};

const RATE_PER_SEC: u64 = 5_000;
const SECONDS: u64 = 4;
const MESSAGES: usize = (RATE_PER_SEC * SECONDS) as usize;

fn percentiles(mut ns: Vec<u64>) -> [u64; 4] {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    [at(0.5), at(0.99), at(0.999), *ns.last().unwrap()]
}

/// Sleeps (coarsely) then spins until `until`, to pace the sender.
fn pace(until: Instant) {
    let now = Instant::now();
    if until > now + Duration::from_micros(200) {
        thread::sleep(until - now - Duration::from_micros(100));
    }
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn weir_e2e() -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::open(dir.path()).unwrap();
    weir.admin().create_topic("e2e", 1, &[]).unwrap();
    let producer = weir.producer(&[("acks", "1"), ("linger.ms", "0")]).unwrap();
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(MESSAGES)));
    let mut consumer = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "0"),
        ])
        .unwrap();
    consumer.assign(&[TopicPartition::new("e2e", 0)]).unwrap();
    let received = thread::spawn(move || {
        let mut at = Vec::with_capacity(MESSAGES);
        while at.len() < MESSAGES {
            let records = consumer.poll(Duration::from_secs(10)).unwrap();
            let now = Instant::now();
            for _ in records.iter() {
                at.push(now);
            }
        }
        at
    });
    let start = Instant::now();
    for i in 0..MESSAGES {
        pace(start + Duration::from_nanos(i as u64 * 1_000_000_000 / RATE_PER_SEC));
        let record = ProducerRecord::new("e2e", vec![b'x'; 170]);
        sent.lock().unwrap().push(Instant::now());
        producer.send(record).unwrap();
    }
    producer.close();
    let received = received.join().unwrap();
    let sent = sent.lock().unwrap();
    sent.iter()
        .zip(&received)
        .map(|(s, r)| r.saturating_duration_since(*s).as_nanos() as u64)
        .collect()
}

fn channel_e2e() -> Vec<u64> {
    let (tx, rx) = crossbeam_channel::unbounded::<(Instant, Vec<u8>)>();
    let receiver = thread::spawn(move || {
        let mut lat = Vec::with_capacity(MESSAGES);
        while let Ok((sent, payload)) = rx.recv() {
            std::hint::black_box(payload);
            lat.push(sent.elapsed().as_nanos() as u64);
        }
        lat
    });
    let start = Instant::now();
    for i in 0..MESSAGES {
        pace(start + Duration::from_nanos(i as u64 * 1_000_000_000 / RATE_PER_SEC));
        tx.send((Instant::now(), vec![b'x'; 170])).unwrap();
    }
    drop(tx);
    receiver.join().unwrap()
}

fn main() {
    // `cargo test --benches` runs this without --bench: nothing to check then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let weir = percentiles(weir_e2e());
    let chan = percentiles(channel_e2e());
    println!("end-to-end latency at {RATE_PER_SEC} records/s, {MESSAGES} records of 170 bytes");
    println!("| latency (µs) | p50 | p99 | p99.9 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, p) in [
        ("weir: send (acks=1, linger.ms=0) → poll", weir),
        ("ceiling: crossbeam channel send → recv", chan),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            p[0] as f64 / 1e3,
            p[1] as f64 / 1e3,
            p[2] as f64 / 1e3,
            p[3] as f64 / 1e3
        );
    }
    println!(
        "ratio p50 {:.2}x, p99 {:.2}x",
        weir[0] as f64 / chan[0] as f64,
        weir[1] as f64 / chan[1] as f64
    );
}
