//! Offsets kept in the same store, and the same write, as the results — the
//! rebalance-listener pattern of Kafka's consumer docs ("storing offsets
//! outside Kafka").
//!
//! A group of consumers keeps account balances from a `payments` topic. Each
//! write to the store is one transaction holding a partition's new balances
//! *and* the next offset of that partition, so results and positions can never
//! disagree: after a crash, a restart or a rebalance, a partition resumes
//! exactly after the last payment whose effect is stored — exactly-once
//! effects without Kafka commits (`enable.auto.commit=false`, nothing
//! committed to the group).
//!
//! The listener does the two things the pattern needs: on revocation it
//! writes what it holds for the partitions it loses; on assignment it seeks
//! each new partition to the offset found in the store.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir::{Consumer, ConsumerRebalanceListener, TopicPartition, Weir};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The store's contents: balances (cents per account) and, per partition of
/// the source topic, the next offset to process.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Account → balance in cents.
    pub balances: BTreeMap<String, i64>,
    /// Partition → next offset to process.
    pub offsets: BTreeMap<i32, i64>,
}

/// A file-backed store whose every write is atomic (temp file, fsync,
/// rename): a stand-in for a database transaction.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    state: Mutex<State>,
}

impl Store {
    /// Opens (or starts) the store at `path`.
    ///
    /// # Errors
    /// An unreadable or malformed file.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(Store {
            path: path.to_path_buf(),
            state: Mutex::new(state),
        })
    }

    /// One transaction: add `deltas` to the balances and set the partition's
    /// next offset, both or neither.
    ///
    /// # Errors
    /// The write failed; nothing changed then.
    pub fn commit(
        &self,
        partition: i32,
        deltas: &HashMap<String, i64>,
        next_offset: i64,
    ) -> Result<(), Error> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = state.clone();
        for (account, delta) in deltas {
            *next.balances.entry(account.clone()).or_default() += delta;
        }
        next.offsets.insert(partition, next_offset);
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&next)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        *state = next;
        Ok(())
    }

    /// The next offset stored for a partition.
    pub fn offset(&self, partition: i32) -> Option<i64> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .offsets
            .get(&partition)
            .copied()
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> State {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Balances not yet written, per partition, with the next offset they reach.
#[derive(Debug, Default)]
struct Pending {
    deltas: HashMap<String, i64>,
    next_offset: Option<i64>,
}

/// A member's work in progress, shared with its listener.
#[derive(Debug, Default)]
struct Work {
    pending: HashMap<i32, Pending>,
}

impl Work {
    fn flush(
        &mut self,
        store: &Store,
        partitions: impl IntoIterator<Item = i32>,
    ) -> Result<(), Error> {
        for p in partitions {
            if let Some(pending) = self.pending.remove(&p)
                && let Some(next) = pending.next_offset
            {
                store.commit(p, &pending.deltas, next)?;
            }
        }
        Ok(())
    }
}

struct Listener {
    store: Arc<Store>,
    work: Arc<Mutex<Work>>,
}

impl ConsumerRebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        // Write what was processed before another member takes over.
        let mut work = self.work.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = work.flush(&self.store, partitions.iter().map(|tp| tp.partition)) {
            eprintln!("could not store progress of {partitions:?}: {e}");
        }
    }

    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        // Resume where the store says, not where the group committed; a
        // partition the store has never seen starts at the log's beginning
        // (offset 0 may be gone to retention, and a seek past the log would
        // reset to auto.offset.reset, `latest` by default, skipping the
        // backlog).
        for tp in partitions {
            let resumed = match self.store.offset(tp.partition) {
                Some(offset) => consumer.seek(tp, offset),
                None => consumer.seek_to_beginning(std::slice::from_ref(tp)),
            };
            if let Err(e) = resumed {
                eprintln!("could not seek {tp}: {e}");
            }
        }
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        // Someone else may own them already: drop what was not stored; the
        // store's offsets make the new owner redo exactly that.
        let mut work = self.work.lock().unwrap_or_else(PoisonError::into_inner);
        for tp in partitions {
            work.pending.remove(&tp.partition);
        }
    }
}

/// One member of the `balances` group: processes payments (`account` key,
/// cents as the value) until `stop` says so, storing each poll's effects per
/// partition (one transaction each), and on revocation.
///
/// # Errors
/// Consumer or store failures.
pub fn run_member(
    weir: &Weir,
    topic: &str,
    store: &Arc<Store>,
    stop: &dyn Fn() -> bool,
) -> Result<u64, Error> {
    let mut consumer = weir.consumer(&[
        ("group.id", "balances"),
        ("enable.auto.commit", "false"),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("max.poll.records", "200"),
    ])?;
    let work = Arc::new(Mutex::new(Work::default()));
    consumer.set_rebalance_listener(Listener {
        store: Arc::clone(store),
        work: Arc::clone(&work),
    })?;
    consumer.subscribe(&[topic])?;
    let mut processed = 0u64;
    while !stop() {
        let records = consumer.poll(Duration::from_millis(20))?;
        let mut w = work.lock().unwrap_or_else(PoisonError::into_inner);
        for r in records.iter() {
            // A payment that does not parse is not a payment of 0: stop, and
            // the store keeps the offsets of what was applied before it.
            let (Some(account), Some(cents)) = (
                r.key_str(),
                r.value_str().and_then(|v| v.parse::<i64>().ok()),
            ) else {
                return Err(format!(
                    "payments-{} offset {}: not an account and an amount in cents",
                    r.partition(),
                    r.offset()
                )
                .into());
            };
            let account = account.to_string();
            let pending = w.pending.entry(r.partition()).or_default();
            *pending.deltas.entry(account).or_default() += cents;
            pending.next_offset = Some(r.offset() + 1);
            processed += 1;
        }
        let touched: Vec<i32> = w.pending.keys().copied().collect();
        w.flush(store, touched)?;
    }
    // Leaving: store everything, then close (the listener runs on close too).
    let owned: Vec<i32> = consumer
        .assignment()
        .iter()
        .map(|tp| tp.partition)
        .collect();
    work.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .flush(store, owned)?;
    consumer.close();
    Ok(processed)
}

/// A payment of the demo: account and amount in cents, both from `i` alone.
pub fn payment(i: u64) -> (String, i64) {
    let cents = i64::try_from((i * 7_919) % 100_000).unwrap_or(0) - 20_000;
    (format!("acct-{:03}", i % 50), cents)
}

/// Runs the demo on `dir`: produces `payments` payments, then lets members
/// join and leave while they keep balances in a store under `dir`, until the
/// store holds every payment. Returns the store's final state.
///
/// # Errors
/// Any Weir or store failure.
pub fn run_demo(dir: &Path, payments: u64) -> Result<State, Error> {
    use std::sync::atomic::{AtomicBool, Ordering};

    let weir = Weir::open(dir.join("data"))?;
    if weir.admin().list_topics().iter().all(|t| t != "payments") {
        weir.admin().create_topic("payments", 4, &[])?;
    }
    let producer = weir.producer(&[("acks", "all"), ("linger.ms", "2")])?;
    let mut deliveries = Vec::new();
    for i in 0..payments {
        let (account, cents) = payment(i);
        deliveries.push(
            producer.send(weir::ProducerRecord::new("payments", cents.to_string()).key(account))?,
        );
    }
    producer.flush();
    // Every payment written (and fsynced: acks=all) before anyone reads.
    for d in deliveries {
        d.wait()?;
    }
    producer.close();
    let store = Arc::new(Store::open(&dir.join("balances.json"))?);
    let stored = |s: &Store| s.snapshot().offsets.values().sum::<i64>();

    // Member a starts alone; b joins once a made progress; a leaves halfway;
    // b finishes. Each change is a rebalance handled by the listener.
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let spawn = |stop: Arc<AtomicBool>| {
        let (weir, store) = (weir.clone(), Arc::clone(&store));
        std::thread::spawn(move || {
            run_member(&weir, "payments", &store, &|| stop.load(Ordering::Acquire))
        })
    };
    let total = i64::try_from(payments).unwrap_or(i64::MAX);
    let wait_for = |reached: i64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while stored(&store) < reached {
            if std::time::Instant::now() > deadline {
                return Err::<(), Error>("members made no progress".into());
            }
            std::thread::yield_now();
        }
        Ok(())
    };
    let a = spawn(Arc::clone(&stop_a));
    wait_for(total / 4)?;
    let b = spawn(Arc::clone(&stop_b));
    wait_for(total / 2)?;
    stop_a.store(true, Ordering::Release);
    let by_a = a.join().map_err(|_| "member a panicked")??;
    wait_for(total)?;
    stop_b.store(true, Ordering::Release);
    let by_b = b.join().map_err(|_| "member b panicked")??;
    println!(
        "member a processed {by_a} payments, member b {by_b} (a payment may be processed twice across a rebalance; its effect is stored once)"
    );
    weir.close()?;
    Ok(store.snapshot())
}
