//! The job queue as operators see it through the API: pages and single jobs as JSON documents
//! built in SQL, and the audited retry and cancel. The worker's own statements (claim, renew,
//! finish) are the worker's (`campushub worker`, on its own pool).

use uuid::Uuid;

use crate::queries::word::Word;
use crate::statements::{JOBS_PAGE, JOB_BY_ID, JOB_OPERATE};
use crate::{DbError, Pool};

/// Up to `limit` jobs, newest first, of `state` and `kind` (None: any), after row `after`:
/// (row id, JSON document) each.
pub async fn page(
    pool: &Pool,
    state: Option<&str>,
    kind: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    let rows = pool
        .query(&JOBS_PAGE, &[&state, &kind, &after, &limit])
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)
                    .map_err(|e| DbError::undecodable(&JOBS_PAGE, e))?,
                r.try_get(1)
                    .map_err(|e| DbError::undecodable(&JOBS_PAGE, e))?,
            ))
        })
        .collect()
}

/// One job, as a JSON document.
pub async fn by_id(pool: &Pool, id: Uuid) -> Result<Option<String>, DbError> {
    match pool.query_opt(&JOB_BY_ID, &[&id]).await? {
        Some(row) => row
            .try_get(0)
            .map(Some)
            .map_err(|e| DbError::undecodable(&JOB_BY_ID, e)),
        None => Ok(None),
    }
}

/// What an operator does to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A dead or cancelled job runs again, attempts from zero.
    Retry,
    /// A ready or running job stops.
    Cancel,
}

/// Retries or cancels job `id` (audited as `actor` from `ip`).
pub async fn operate(
    pool: &Pool,
    actor: i64,
    ip: &str,
    id: Uuid,
    op: Operation,
) -> Result<Word, DbError> {
    let action = match op {
        Operation::Retry => "retry",
        Operation::Cancel => "cancel",
    };
    let rows = pool
        .query(&JOB_OPERATE, &[&actor, &ip, &id, &action])
        .await?;
    rows.first()
        .ok_or_else(|| DbError::undecodable(&JOB_OPERATE, "no row"))?
        .try_get(0)
        .map_err(|e| DbError::undecodable(&JOB_OPERATE, e))
}
