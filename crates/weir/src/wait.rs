//! Waiting without a runtime: driving futures to completion on the calling
//! thread (for the blocking APIs), and a timer future that works on any
//! executor (for the async ones). Both wait by notification: a parked thread
//! or a timer thread that sleeps until the earliest deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread until it is ready or `deadline` passes, parking in
/// between; a waker registered by `f` unparks the thread.
pub(crate) fn block_until<T>(
    deadline: Option<Instant>,
    mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
) -> Option<T> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f(&mut cx) {
            return Some(v);
        }
        match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return None;
                }
                thread::park_timeout(d - now);
            }
            None => thread::park(),
        }
    }
}

#[derive(Default)]
struct TimerState {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: std::collections::HashMap<u64, Waker>,
    next_id: u64,
}

struct Timer {
    state: Mutex<TimerState>,
    cv: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            state: Mutex::new(TimerState::default()),
            cv: Condvar::new(),
        }));
        let _ = thread::Builder::new()
            .name("weir-timer".into())
            .spawn(move || timer_loop(t));
        t
    })
}

fn timer_loop(t: &'static Timer) {
    let mut st = t.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let now = Instant::now();
        while let Some(Reverse((when, id))) = st.heap.peek().copied() {
            if when > now {
                break;
            }
            st.heap.pop();
            if let Some(w) = st.wakers.remove(&id) {
                w.wake();
            }
        }
        st = match st.heap.peek().copied() {
            Some(Reverse((when, _))) => {
                t.cv.wait_timeout(st, when.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => t.cv.wait(st).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// A future that resolves at `deadline`, on any executor.
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    id: Option<u64>,
}

impl Sleep {
    /// Resolves at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Sleep { deadline, id: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let t = timer();
        let mut st = t.state.lock().unwrap_or_else(PoisonError::into_inner);
        match self.id {
            Some(id) if st.wakers.contains_key(&id) => {
                st.wakers.insert(id, cx.waker().clone());
            }
            _ => {
                let id = st.next_id;
                st.next_id += 1;
                st.heap.push(Reverse((self.deadline, id)));
                st.wakers.insert(id, cx.waker().clone());
                self.id = Some(id);
                t.cv.notify_one();
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let t = timer();
            let mut st = t.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.wakers.remove(&id);
            // The deadline stays in the heap until it passes; a Sleep dropped
            // early (a poll woken by data) with a far deadline would leave it
            // there for good. Dropped entries are swept once they outnumber
            // the live ones, so the heap stays within twice its live size.
            if st.heap.len() > 2 * st.wakers.len() + 64 {
                let TimerState { heap, wakers, .. } = &mut *st;
                heap.retain(|Reverse((_, id))| wakers.contains_key(id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Nothing;
    impl Wake for Nothing {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn sleeps_dropped_early_do_not_pile_up_in_the_timer() {
        let waker = Waker::from(Arc::new(Nothing));
        let mut cx = Context::from_waker(&waker);
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        for _ in 0..10_000 {
            let mut sleep = Sleep::until(far);
            assert!(Pin::new(&mut sleep).poll(&mut cx).is_pending());
        }
        let st = timer().state.lock().unwrap();
        // Other tests' sleeps may be live meanwhile; none of these are.
        assert!(
            st.heap.len() <= 2 * st.wakers.len() + 64,
            "{}",
            st.heap.len()
        );
    }
}
