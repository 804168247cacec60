//! Helpers shared by the client tests.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use weir::{Producer, ProducerRecord, WeirError};

/// Sends a record to `partition` whose callback blocks until the returned
/// sender is used or dropped: its batch, and the `buffer.memory` it holds,
/// stay in delivery until then. Returns once the callback runs (a flush on
/// another thread sends a lingering batch).
pub(crate) fn hold_in_delivery(
    producer: &Producer,
    topic: &str,
    partition: i32,
    size: usize,
) -> mpsc::Sender<()> {
    let (go, wait) = mpsc::channel::<()>();
    let (entered, inside) = mpsc::channel::<()>();
    producer
        .send_with_callback(
            ProducerRecord::new(topic.to_string(), vec![b'h'; size]).partition(partition),
            move |r| {
                r.unwrap();
                entered.send(()).unwrap();
                let _ = wait.recv_timeout(Duration::from_secs(60));
            },
        )
        .unwrap();
    let flusher = producer.clone();
    thread::spawn(move || flusher.flush());
    inside
        .recv_timeout(Duration::from_secs(30))
        .expect("the holding callback never ran");
    go
}

/// Sends `record` from another thread; the receiver gets whether `send`
/// accepted it (a send waiting for `buffer.memory` has not answered yet).
pub(crate) fn send_from_another_thread(
    producer: &Producer,
    record: ProducerRecord,
) -> mpsc::Receiver<Result<(), WeirError>> {
    let (tx, rx) = mpsc::channel();
    let sender = producer.clone();
    thread::spawn(move || {
        let _ = tx.send(sender.send(record).map(|_| ()));
    });
    rx
}
