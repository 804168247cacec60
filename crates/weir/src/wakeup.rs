//! [`ConsumerWakeup`]: interrupting a consumer's poll from another thread, as
//! Kafka's `KafkaConsumer.wakeup()` does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Waker};

/// Wakes a [`Consumer`](crate::Consumer) blocked in
/// [`poll`](crate::Consumer::poll) or awaiting
/// [`poll_async`](crate::Consumer::poll_async) from another thread (a signal
/// handler, a shutdown hook): that poll returns [`WeirError::Wakeup`]
/// at once. When no poll is under way, the consumer's next poll returns it
/// instead, as Kafka's `WakeupException`. Each wakeup is raised once.
///
/// Unlike Kafka's, only polls are interrupted: the consumer's other calls (a
/// `commit_sync` waiting for its fsync, `close`) finish first, and the next
/// poll raises the wakeup.
///
/// The usual shutdown: the polling thread treats `Wakeup` as the end of its
/// loop and closes the consumer, which commits (with `enable.auto.commit`)
/// and leaves its group at once.
///
/// ```
/// # fn main() -> Result<(), weir::WeirError> {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use weir::{Weir, WeirError};
///
/// let weir = Weir::open(dir.path())?;
/// weir.admin().create_topic("orders", 1, &[])?;
/// let mut consumer = weir.consumer(&[("group.id", "billing")])?;
/// consumer.subscribe(&["orders"])?;
/// let wakeup = consumer.wakeup_handle();
/// // e.g. from a SIGTERM handler
/// std::thread::spawn(move || wakeup.wakeup());
/// loop {
///     match consumer.poll(Duration::from_secs(60)) {
///         Ok(records) => { /* process */ }
///         Err(WeirError::Wakeup) => break,
///         Err(e) => return Err(e),
///     }
/// }
/// consumer.close();
/// # Ok(())
/// # }
/// ```
///
/// [`WeirError::Wakeup`]: crate::WeirError::Wakeup
#[derive(Debug, Clone)]
pub struct ConsumerWakeup {
    state: Arc<WakeupState>,
}

impl ConsumerWakeup {
    pub(crate) fn new(state: Arc<WakeupState>) -> Self {
        ConsumerWakeup { state }
    }

    /// Makes the consumer's current poll, or its next one, return
    /// [`WeirError::Wakeup`](crate::WeirError::Wakeup).
    pub fn wakeup(&self) {
        self.state.pending.store(true, Ordering::SeqCst);
        let waker = self
            .state
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A wakeup asked for, and the waker of the poll waiting, if any.
#[derive(Debug, Default)]
pub(crate) struct WakeupState {
    pending: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl WakeupState {
    /// Takes a pending wakeup (it is raised once).
    pub(crate) fn take(&self) -> bool {
        self.pending.swap(false, Ordering::SeqCst)
    }

    /// Forgets the waker of a wait that ended, so that a later wakeup does
    /// not wake its thread or task for nothing.
    pub(crate) fn clear_waker(&self) {
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether a wakeup is pending, registering `cx`'s waker first so that a
    /// wakeup after this check wakes the caller.
    pub(crate) fn poll_pending(&self, cx: &Context<'_>) -> bool {
        {
            let mut waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
            match waker.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        self.pending.load(Ordering::SeqCst)
    }
}
