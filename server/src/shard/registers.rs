//! Attendance registers, coalesced per shard. Marking is the highest-frequency write on a
//! campus, and every audited write holds the audit chain's lock until its commit: one commit
//! per register would cap the whole campus at one register per commit latency. So a shard
//! queues the registers its requests bring, and one task writes everything queued in one
//! statement (one transaction, one commit), then answers each request with its own outcome.
//! While a batch is in flight the next one gathers, so the batch grows with the load and the
//! wait is at most one batch's round trip. PostgreSQL locks a batch's sessions in id order, so
//! two shards' batches cannot deadlock.

use std::rc::Rc;

use campushub_db::queries::campus::{self, Outcome, Register};
use campushub_db::DbError;
use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;

use super::Shard;

/// Most registers in one statement.
pub const MAX_REGISTERS: usize = 128;
/// Most records in one statement (about 4,700 at 37 a register).
pub const MAX_RECORDS: usize = 8_192;

type Job = (Register, oneshot::Sender<Result<Outcome, DbError>>);

/// The receiving end of a shard's register queue.
pub type Queue = mpsc::UnboundedReceiver<Job>;

/// The shard's queue of registers to write.
pub struct Registers {
    tx: mpsc::UnboundedSender<Job>,
    /// Longest wait for an answer, the queue included (the statement timeout): past it the
    /// request is answered 503 and a register not yet in a batch is never written.
    wait: std::time::Duration,
}

impl Registers {
    /// A queue and the task that drains it (spawned by the shard); requests wait at most `wait`.
    pub fn new(wait: std::time::Duration) -> (Registers, Queue) {
        let (tx, rx) = mpsc::unbounded();
        (Registers { tx, wait }, rx)
    }

    /// Queues `register`; answers once the batch holding it has committed (or failed), or with
    /// `DbError::Timeout` when that takes longer than the statement timeout (a slow database
    /// must give fast 503s, never a queue that grows without bound).
    pub async fn mark(&self, register: Register) -> Result<Outcome, DbError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .unbounded_send((register, reply))
            .map_err(|_| DbError::Unavailable)?;
        match monoio::time::timeout(self.wait, answer).await {
            Ok(answer) => answer.map_err(|_| DbError::Unavailable)?,
            Err(_) => Err(DbError::Timeout),
        }
    }
}

/// Writes what is queued, batch after batch, until the shard goes away. A batch holds at most
/// one register per (session, source): a second PUT of the same register waits for the next
/// batch, so it applies after the first, as it would one statement at a time.
pub async fn run(shard: Rc<Shard>, mut rx: Queue) {
    let mut held: Option<Job> = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match rx.next().await {
                Some(job) => job,
                None => return,
            },
        };
        // A request that stopped waiting (answered 503) is not written.
        if first.1.is_canceled() {
            continue;
        }
        let mut records = first.0.students.len();
        let mut batch = vec![first];
        while batch.len() < MAX_REGISTERS && records < MAX_RECORDS {
            match rx.try_recv() {
                Ok(job) if job.1.is_canceled() => {}
                Ok(job) => {
                    let again = batch
                        .iter()
                        .any(|(r, _)| r.session == job.0.session && r.source == job.0.source);
                    if again {
                        held = Some(job);
                        break;
                    }
                    records += job.0.students.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let registers: Vec<&Register> = batch.iter().map(|(r, _)| r).collect();
        let result = campus::mark_registers(shard.db.primary(), &registers).await;
        shard.metrics.borrow_mut().register_batches_total += 1;
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}
