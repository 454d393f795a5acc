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
use futures_channel::mpsc;
use futures_util::StreamExt;
use hashbrown::HashMap;

use super::coalesce::{self, Coalescer};
use super::Shard;

/// Most ids in one statement.
pub const MAX_IDS: usize = 512;

type Job = coalesce::Job<uuid::Uuid, Option<Rc<Student>>>;

/// The receiving end of a shard's queue of profile reads.
pub type Queue = mpsc::UnboundedReceiver<Job>;

/// The shard's queue of profile reads: `ask(id)` answers the student with that public id
/// (`None`: no such student), read with whatever other reads are queued with it.
pub type ProfileReads = Coalescer<uuid::Uuid, Option<Rc<Student>>>;

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
        batch.retain(|job| !coalesce::abandoned(job));
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
