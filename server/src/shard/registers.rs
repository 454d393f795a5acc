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
use futures_channel::mpsc;
use futures_util::StreamExt;

use super::coalesce::{self, Coalescer};
use super::Shard;

/// Most registers in one statement.
pub const MAX_REGISTERS: usize = 128;
/// Most records in one statement (about 4,700 at 37 a register).
pub const MAX_RECORDS: usize = 8_192;

type Job = coalesce::Job<Register, Outcome>;

/// The receiving end of a shard's register queue.
pub type Queue = mpsc::UnboundedReceiver<Job>;

/// The shard's queue of registers to write: `ask(register)` answers once the batch holding it
/// has committed (or failed).
pub type Registers = Coalescer<Register, Outcome>;

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
        if coalesce::abandoned(&first) {
            continue;
        }
        let mut records = first.0.students.len();
        let mut batch = vec![first];
        while batch.len() < MAX_REGISTERS && records < MAX_RECORDS {
            match rx.try_recv() {
                Ok(job) if coalesce::abandoned(&job) => {}
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
