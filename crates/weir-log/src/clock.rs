//! Time as the log sees it, injectable so that tests of time-driven behaviour
//! (`segment.ms`, `flush.ms`, LogAppendTime, retention) never sleep.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `from + wait`, or a century after `from` when `wait` is past what an
/// [`Instant`] holds: a caller's "wait for ever" (`Duration::MAX`, or
/// `Long.MAX_VALUE` milliseconds from a Kafka config) never overflows the clock.
pub fn instant_after(from: Instant, wait: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(wait)
        .or_else(|| from.checked_add(CENTURY))
        .unwrap_or(from)
}

/// [`instant_after`] from now.
pub fn deadline_in(wait: Duration) -> Instant {
    instant_after(Instant::now(), wait)
}

/// A source of wall-clock milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        ManualClock {
            now_ms: Arc::new(AtomicI64::new(now_ms)),
        }
    }

    /// Moves the clock forward (or back, for a negative `ms`).
    pub fn advance(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// The clock used when none is given.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_never_overflows() {
        let now = Instant::now();
        assert_eq!(
            instant_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        let forever = instant_after(now, Duration::MAX);
        assert!(forever > now + Duration::from_secs(50 * 365 * 24 * 3600));
        assert!(deadline_in(Duration::from_millis(u64::MAX)) > now);
    }
}
