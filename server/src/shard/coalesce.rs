//! What the shard's coalescers share (`registers.rs`, `profiles.rs`): a queue of jobs, each
//! with the channel its answer comes back on, and a bounded wait for that answer. The wait
//! counts the queue too: past the statement timeout a request is answered
//! `DbError::Timeout` (a slow database gives fast 503s, never a queue that holds requests
//! without bound), and its job, if no batch has taken it yet, is skipped (`Job::abandoned`).

use std::time::Duration;

use campushub_db::DbError;
use futures_channel::{mpsc, oneshot};

/// A queued job: what to do, and where its answer goes.
pub type Job<T, R> = (T, oneshot::Sender<Result<R, DbError>>);

/// Whether the request behind `job` stopped waiting (nothing to do for it any more).
pub fn abandoned<T, R>(job: &Job<T, R>) -> bool {
    job.1.is_canceled()
}

/// The sending side of a coalescer's queue.
pub struct Coalescer<T, R> {
    tx: mpsc::UnboundedSender<Job<T, R>>,
    /// Longest wait for an answer, the queue included (the statement timeout).
    wait: Duration,
}

impl<T, R> Coalescer<T, R> {
    /// A queue whose requests wait at most `wait`, and its receiving end for the task that
    /// drains it.
    pub fn new(wait: Duration) -> (Self, mpsc::UnboundedReceiver<Job<T, R>>) {
        let (tx, rx) = mpsc::unbounded();
        (Coalescer { tx, wait }, rx)
    }

    /// Queues `job`; its answer, or `DbError::Timeout` once the wait is over.
    pub async fn ask(&self, job: T) -> Result<R, DbError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .unbounded_send((job, reply))
            .map_err(|_| DbError::Unavailable)?;
        match monoio::time::timeout(self.wait, answer).await {
            Ok(answer) => answer.map_err(|_| DbError::Unavailable)?,
            Err(_) => Err(DbError::Timeout),
        }
    }
}
