//! What each job kind does. A kind is a name in `jobs.kind` and an arm of [`run`]; its payload
//! is read strictly (an unreadable payload is a permanent failure: retrying cannot mend it).
//! A new kind of background work goes here, with the SQL function that enqueues it (in the
//! transaction of the change that causes it) in a migration.

use std::time::Duration;

use serde::Deserialize;

use super::queue::Claimed;

/// Every kind a worker runs (its figures show even when the queue holds none).
pub const KINDS: &[&str] = &["noop"];

/// How a job ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Failed in a way that may pass (a server away, a timeout): retried after the backoff.
    Retry(String),
    /// Failed in a way no retry mends (a bad payload, an address that does not exist): dead.
    Permanent(String),
}

/// Longest a `noop` job may wait.
const NOOP_MAX_SLEEP_MS: u64 = 600_000;

/// `noop`: the diagnostic job. It waits `sleep_ms` (0 to 600,000), then succeeds, or fails
/// as `fail` says (`retry` or `permanent`): operators use it to check a worker end to end and
/// the dead-job path, and the queue's benchmark uses it to measure claims without work.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Noop {
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail: Option<String>,
}

async fn noop(job: &Claimed) -> Outcome {
    let p: Noop = match serde_json::from_value(job.payload.clone()) {
        Ok(p) => p,
        Err(e) => return Outcome::Permanent(format!("noop: unreadable payload: {e}")),
    };
    if p.sleep_ms > NOOP_MAX_SLEEP_MS {
        return Outcome::Permanent(format!(
            "noop: sleep_ms is at most {NOOP_MAX_SLEEP_MS}, not {}",
            p.sleep_ms
        ));
    }
    if p.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
    }
    match p.fail.as_deref() {
        None => Outcome::Done,
        Some("retry") => Outcome::Retry("noop: asked to fail (retry)".into()),
        Some("permanent") => Outcome::Permanent("noop: asked to fail (permanent)".into()),
        Some(other) => Outcome::Permanent(format!(
            "noop: fail is \"retry\" or \"permanent\", not {other:?}"
        )),
    }
}

/// Runs `job`.
pub async fn run(job: &Claimed) -> Outcome {
    match job.kind.as_str() {
        "noop" => noop(job).await,
        other => Outcome::Permanent(format!("no worker knows the job kind {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: &str, payload: serde_json::Value) -> Claimed {
        Claimed {
            id: 1,
            sourced_id: uuid::Uuid::nil(),
            kind: kind.into(),
            payload,
            attempt: 1,
        }
    }

    #[test]
    fn noop_and_unknown_kinds() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                run(&job("noop", serde_json::json!({}))).await,
                Outcome::Done
            );
            assert!(matches!(
                run(&job("noop", serde_json::json!({"fail": "retry"}))).await,
                Outcome::Retry(_)
            ));
            assert!(matches!(
                run(&job("noop", serde_json::json!({"fail": "permanent"}))).await,
                Outcome::Permanent(_)
            ));
            assert!(matches!(
                run(&job("noop", serde_json::json!({"sleep_ms": 700_000}))).await,
                Outcome::Permanent(_)
            ));
            assert!(matches!(
                run(&job("noop", serde_json::json!({"extra": 1}))).await,
                Outcome::Permanent(_)
            ));
            assert!(matches!(
                run(&job("nope", serde_json::json!({}))).await,
                Outcome::Permanent(_)
            ));
        });
    }
}
