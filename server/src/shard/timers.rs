//! Connection deadlines and the drain signal for one shard, without a timer per read.
//!
//! Arming a monoio timer for every socket read showed up as ~5% of the user-space
//! instructions per request under callgrind (`/healthz`, one shard). Instead each connection
//! owns a slot holding its current deadline; one sweeper task per shard wakes every
//! [`TICK`], refreshes the coarse clock and wakes the connections whose deadline passed.
//! Deadlines are therefore accurate to one tick, which is plenty for 10 s header and 60 s idle
//! timeouts. The same slots carry the drain signal. Plain `Cell`/`RefCell`: never shared.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Sweep interval (and so the resolution of every connection timeout).
pub const TICK: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Slot {
    deadline: Option<Instant>,
    wake_on_drain: bool,
    expired: bool,
    waker: Option<Waker>,
}

/// The shard's deadlines and drain state.
pub struct Timers {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
    now: Cell<Instant>,
    draining: Cell<bool>,
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The armed deadline passed.
    Deadline,
    /// The shard started draining (only for waits armed with `wake_on_drain`).
    Drain,
}

impl Timers {
    /// A new set with no connections.
    pub fn new() -> Rc<Timers> {
        Rc::new(Timers {
            slots: RefCell::default(),
            free: RefCell::default(),
            now: Cell::new(Instant::now()),
            draining: Cell::new(false),
        })
    }

    /// The coarse clock (refreshed every tick).
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Starts draining: wakes every wait armed with `wake_on_drain`.
    pub fn start_draining(&self) {
        self.draining.set(true);
        let wakers: Vec<Waker> = self
            .slots
            .borrow_mut()
            .iter_mut()
            .filter(|s| s.wake_on_drain)
            .filter_map(|s| s.waker.take())
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Refreshes the clock and wakes every slot whose deadline has passed.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.now.set(now);
        let mut woken = Vec::new();
        for slot in self.slots.borrow_mut().iter_mut() {
            if let Some(d) = slot.deadline {
                if d <= now && !slot.expired {
                    slot.expired = true;
                    if let Some(w) = slot.waker.take() {
                        woken.push(w);
                    }
                }
            }
        }
        woken.into_iter().for_each(Waker::wake);
    }

    /// A slot for one connection (or the accept loop), released on drop.
    pub fn slot(self: &Rc<Self>) -> Deadline {
        let idx = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Slot::default());
                slots.len() - 1
            }
        };
        Deadline {
            timers: Rc::clone(self),
            idx,
        }
    }

    /// Slots in use (for tests and metrics).
    pub fn active(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }

    /// Sweeps every tick for as long as the shard runs; starts draining when `should_drain`
    /// says so.
    pub async fn run(self: Rc<Self>, should_drain: impl Fn() -> bool) {
        loop {
            monoio::time::sleep(TICK).await;
            self.sweep();
            if !self.draining.get() && should_drain() {
                self.start_draining();
            }
        }
    }
}

/// One connection's deadline slot.
pub struct Deadline {
    timers: Rc<Timers>,
    idx: usize,
}

impl Deadline {
    /// Sets the deadline (`None`: no deadline) and whether draining should end the next wait.
    pub fn arm(&self, deadline: Option<Instant>, wake_on_drain: bool) {
        let mut slots = self.timers.slots.borrow_mut();
        let s = &mut slots[self.idx];
        s.deadline = deadline;
        s.wake_on_drain = wake_on_drain;
        s.expired = false;
    }

    /// Completes when the armed deadline passes or, if armed so, draining starts.
    pub fn wait(&self) -> WaitDeadline<'_> {
        WaitDeadline { slot: self }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(s) = self.timers.slots.borrow_mut().get_mut(self.idx) {
            *s = Slot::default();
        }
        self.timers.free.borrow_mut().push(self.idx);
    }
}

/// See [`Deadline::wait`].
pub struct WaitDeadline<'a> {
    slot: &'a Deadline,
}

impl Future for WaitDeadline<'_> {
    type Output = Wake;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Wake> {
        let timers = &self.slot.timers;
        let mut slots = timers.slots.borrow_mut();
        let s = &mut slots[self.slot.idx];
        if s.expired {
            return Poll::Ready(Wake::Deadline);
        }
        if s.wake_on_drain && timers.draining.get() {
            return Poll::Ready(Wake::Drain);
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Yields once to the shard's scheduler, so other connections run (pipelining fairness).
pub async fn yield_now() {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop_waker() -> Waker {
        std::task::Waker::noop().clone()
    }

    #[test]
    fn deadlines_expire_on_sweep_and_slots_are_reused() {
        let timers = Timers::new();
        let a = timers.slot();
        let b = timers.slot();
        assert_eq!(timers.active(), 2);
        let past = Instant::now() - Duration::from_secs(1);
        a.arm(Some(past), false);
        b.arm(Some(Instant::now() + Duration::from_secs(60)), true);
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        {
            let mut wa = a.wait();
            assert!(Pin::new(&mut wa).poll(&mut cx).is_pending());
            timers.sweep();
            assert_eq!(Pin::new(&mut wa).poll(&mut cx), Poll::Ready(Wake::Deadline));
        }
        let mut wb = b.wait();
        assert!(Pin::new(&mut wb).poll(&mut cx).is_pending());
        timers.start_draining();
        assert_eq!(Pin::new(&mut wb).poll(&mut cx), Poll::Ready(Wake::Drain));
        drop(a);
        assert_eq!(timers.active(), 1);
        let c = timers.slot();
        assert_eq!(c.idx, 0, "freed slot reused");
        // Re-arming clears an expiry.
        c.arm(None, false);
        let mut wc = c.wait();
        assert!(Pin::new(&mut wc).poll(&mut cx).is_pending());
    }
}
