//! Student profile reads that miss every cache, coalesced per shard. One read at a time costs
//! PostgreSQL a statement (and a round trip) per request, which caps a shard at what
//! PostgreSQL answers one row at a time; the same rows fetched many to a statement
//! (`= ANY($1)`) cost a fraction of that each. So a shard queues the ids its requests miss, and
//! one task reads them: a read that finds no statement in flight goes out at once, alone, so a
//! quiet shard waits no longer than before; while a statement is in flight the next reads
//! gather, so a statement holds more ids the busier the shard is (the register coalescer's
//! rule, `registers.rs`). An id asked for twice in one statement is read once.

use std::rc::Rc;

use campushub_db::queries::students::{self, Student};
use campushub_db::DbError;
use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;
use hashbrown::HashMap;

use super::Shard;

/// Most ids in one statement.
pub const MAX_IDS: usize = 512;

type Reply = oneshot::Sender<Result<Option<Rc<Student>>, DbError>>;
type Job = (uuid::Uuid, Reply);

/// The receiving end of a shard's queue of profile reads.
pub type Queue = mpsc::UnboundedReceiver<Job>;

/// The shard's queue of profile reads.
pub struct ProfileReads {
    tx: mpsc::UnboundedSender<Job>,
    /// Longest wait for an answer, the queue included (the statement timeout).
    wait: std::time::Duration,
}

impl ProfileReads {
    /// A queue and its receiving end, for the task that drains it (spawned by the shard);
    /// requests wait at most `wait`.
    pub fn new(wait: std::time::Duration) -> (ProfileReads, Queue) {
        let (tx, rx) = mpsc::unbounded();
        (ProfileReads { tx, wait }, rx)
    }

    /// The student with public id `id` (`None`: no such student), read with whatever other
    /// reads are queued with it; `DbError::Timeout` past the statement timeout.
    pub async fn get(&self, id: uuid::Uuid) -> Result<Option<Rc<Student>>, DbError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .unbounded_send((id, reply))
            .map_err(|_| DbError::Unavailable)?;
        match monoio::time::timeout(self.wait, answer).await {
            Ok(answer) => answer.map_err(|_| DbError::Unavailable)?,
            Err(_) => Err(DbError::Timeout),
        }
    }
}

/// Reads what is queued, one statement at a time, until the shard goes away: a read that
/// arrives while none is in flight goes out at once, alone; those that arrive during a statement
/// go out together in the next. One statement at a time (not one per connection) measured
/// better: fewer, larger statements cost PostgreSQL less per row, at the same throughput.
pub async fn run(shard: Rc<Shard>, mut rx: Queue) {
    while let Some(first) = rx.next().await {
        let mut batch = vec![first];
        while batch.len() < MAX_IDS {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Requests that stopped waiting (answered 503) are not read for.
        batch.retain(|(_, reply)| !reply.is_canceled());
        if !batch.is_empty() {
            read(&shard, batch).await;
        }
    }
}

/// One statement for `batch`, and each request its answer.
async fn read(shard: &Shard, batch: Vec<Job>) {
    let mut ids: Vec<uuid::Uuid> = batch.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    // One id alone (a quiet shard) takes the single-row statement: its plan is an index scan,
    // where `= ANY($1)`'s generic plan is a bitmap scan that costs a lone read ~0.3 ms more.
    let result = match ids.as_slice() {
        [id] => students::by_id(shard.db.primary(), *id)
            .await
            .map(|s| s.into_iter().collect()),
        _ => students::by_ids(shard.db.primary(), &ids).await,
    };
    {
        let mut m = shard.metrics.borrow_mut();
        m.profile_read_batches_total += 1;
        m.profile_reads_total += batch.len() as u64;
    }
    match result {
        Ok(rows) => {
            let found: HashMap<uuid::Uuid, Rc<Student>> = rows
                .into_iter()
                .map(|s| (s.sourced_id, Rc::new(s)))
                .collect();
            for (id, reply) in batch {
                let _ = reply.send(Ok(found.get(&id).map(Rc::clone)));
            }
        }
        Err(e) => {
            for (_, reply) in batch {
                let _ = reply.send(Err(e));
            }
        }
    }
}
