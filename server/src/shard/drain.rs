//! A shard-local "draining started" signal that wakes every waiting connection at once.
//! Plain `Cell`/`RefCell`: it never leaves its shard.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The signal.
#[derive(Debug, Default)]
pub struct Drain {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl Drain {
    /// A new, unfired signal.
    pub fn new() -> Rc<Drain> {
        Rc::new(Drain::default())
    }

    /// Whether draining has started on this shard.
    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Starts draining and wakes every waiter.
    pub fn fire(&self) {
        self.fired.set(true);
        let wakers: Vec<Waker> = self
            .wakers
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes once draining starts.
    pub fn wait(self: &Rc<Self>) -> Drained {
        Drained {
            drain: Rc::clone(self),
            slot: None,
        }
    }
}

/// See [`Drain::wait`].
#[derive(Debug)]
pub struct Drained {
    drain: Rc<Drain>,
    slot: Option<usize>,
}

impl Future for Drained {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.fired.get() {
            return Poll::Ready(());
        }
        let slot = match self.slot {
            Some(s) => s,
            None => {
                let mut wakers = self.drain.wakers.borrow_mut();
                let s = match self.drain.free.borrow_mut().pop() {
                    Some(s) => s,
                    None => {
                        wakers.push(None);
                        wakers.len() - 1
                    }
                };
                drop(wakers);
                self.slot = Some(s);
                s
            }
        };
        let mut wakers = self.drain.wakers.borrow_mut();
        match &mut wakers[slot] {
            Some(w) if w.will_wake(cx.waker()) => {}
            entry => *entry = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            if let Some(entry) = self.drain.wakers.borrow_mut().get_mut(s) {
                *entry = None;
            }
            self.drain.free.borrow_mut().push(s);
        }
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
