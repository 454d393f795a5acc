//! The job queue and `campushub worker` on the real stack: enqueueing in the transaction of
//! the change (a rollback enqueues nothing), one job per idempotency key, claims that never
//! overlap between workers, leases that come back when a worker is killed, a stale worker
//! that can no longer finish a job it lost, backoff with jitter, dead after the last attempt
//! with its error kept, SIGTERM handing unfinished work back, and the operators' routes
//! (list, get, retry, cancel; refused to everyone without `jobs.manage`; audited).
//!
//! The tests here run one at a time: a worker claims any ready job, so two tests' jobs must
//! not meet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::campus::tag;
use common::worker::Worker;
use common::{access_token, call, eventually, psql, sql_one, stack_env, TestServer};
use serde_json::Value;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Enqueues `n` noop jobs with `payload`; their public ids.
fn enqueue(n: usize, payload: &str) -> Vec<String> {
    (0..n)
        .map(|_| {
            sql_one(&format!(
                "SELECT job_id FROM job_enqueue('noop', '{payload}'::jsonb)"
            ))
        })
        .collect()
}

fn job(id: &str, column: &str) -> String {
    sql_one(&format!(
        "SELECT {column} FROM jobs WHERE sourced_id = '{id}'"
    ))
}

fn states(ids: &[String]) -> Vec<String> {
    ids.iter().map(|id| job(id, "state")).collect()
}

#[test]
fn a_rolled_back_change_enqueues_nothing_and_a_key_makes_one_job() {
    let _g = serial();
    let key = format!("test-{}", tag());
    psql(
        &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
        &format!("BEGIN; SELECT job_enqueue('noop', '{{}}'::jsonb, 100, NULL, '{key}'); ROLLBACK;"),
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE idempotency_key = '{key}'"
        )),
        "0"
    );
    let first = sql_one(&format!(
        "SELECT job_id || ' ' || created FROM job_enqueue('noop', '{{}}'::jsonb, 100, now() + interval '1 day', '{key}')"
    ));
    let again = sql_one(&format!(
        "SELECT job_id || ' ' || created FROM job_enqueue('noop', '{{\"sleep_ms\": 1}}'::jsonb, 100, NULL, '{key}')"
    ));
    let (id, created) = first.split_once(' ').unwrap();
    assert_eq!(created, "true");
    assert_eq!(
        again,
        format!("{id} false"),
        "the same key made a second job"
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE idempotency_key = '{key}'"
        )),
        "1"
    );
    // The first payload and due time stand.
    assert_eq!(job(id, "payload::text"), "{}");
    sql_one(&format!(
        "DELETE FROM jobs WHERE sourced_id = '{id}' RETURNING 1"
    ));
}

#[test]
fn two_workers_run_every_job_exactly_once() {
    let _g = serial();
    let ids = enqueue(300, r#"{"sleep_ms": 5}"#);
    let mut a = Worker::spawn(&[("CAMPUSHUB_WORKER_CONCURRENCY", "8")]);
    let mut b = Worker::spawn(&[("CAMPUSHUB_WORKER_CONCURRENCY", "8")]);
    let list = ids
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(",");
    let done = eventually(Duration::from_secs(60), || {
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE sourced_id IN ({list}) AND state = 'done'"
        )) == "300"
    });
    assert!(done, "{:?}", states(&ids[..5]));
    // A job claimed twice would have two attempts.
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE sourced_id IN ({list}) AND attempts <> 1"
        )),
        "0"
    );
    let claimed = |w: &Worker| {
        common::metric_sum(
            &w.metrics_text(),
            "campushub_worker_jobs_claimed_total{kind=\"noop\"}",
        )
    };
    let (ca, cb) = (claimed(&a), claimed(&b));
    assert!(ca + cb >= 300.0, "{ca} + {cb}");
    assert!(
        ca > 0.0 && cb > 0.0,
        "one worker took everything: {ca} and {cb}"
    );
    assert!(a.terminate(Duration::from_secs(10)).success());
    assert!(b.terminate(Duration::from_secs(10)).success());
}

#[test]
fn a_killed_workers_job_is_taken_again_when_its_lease_runs_out() {
    let _g = serial();
    let lease = [("CAMPUSHUB_WORKER_LEASE_S", "3")];
    let mut a = Worker::spawn(&lease);
    let id = enqueue(1, r#"{"sleep_ms": 1500}"#).remove(0);
    assert!(eventually(Duration::from_secs(10), || job(&id, "state") == "running"));
    assert_eq!(job(&id, "worker"), a.name);
    a.kill();
    // Nothing happens while the dead worker's lease lasts; then another worker takes it.
    let b = Worker::spawn(&lease);
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(30), || job(&id, "state") == "done"),
        "{:?}",
        b.logs()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "taken before the lease ran out"
    );
    assert_eq!(job(&id, "attempts"), "2");
    assert!(common::metric_sum(&b.metrics_text(), "campushub_worker_jobs_recovered_total") >= 1.0);
}

#[test]
fn a_worker_that_lost_its_lease_cannot_finish_or_fail_the_job() {
    let _g = serial();
    let kind = format!("fence{}", tag());
    let id = sql_one(&format!(
        "SELECT job_id FROM job_enqueue('{kind}', '{{}}'::jsonb)"
    ));
    let claim = |w: &str| {
        sql_one(&format!(
            "SELECT job_id || ' ' || attempt FROM jobs_claim('{w}', 1, 1, ARRAY['{kind}'])"
        ))
    };
    let first = claim("stale:1");
    let (row, attempt) = first.split_once(' ').unwrap();
    assert_eq!(attempt, "1");
    // Its lease runs out; another worker recovers and claims it.
    std::thread::sleep(Duration::from_millis(1200));
    sql_one("SELECT jobs_recover()");
    let second = claim("fresh:2");
    assert_eq!(second, format!("{row} 2"));
    assert_eq!(
        sql_one(&format!("SELECT job_finish({row}, 'stale:1', 1)")),
        "f",
        "the stale worker finished a job it lost"
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT coalesce(job_fail({row}, 'stale:1', 1, 'late', true), 'lost')"
        )),
        "lost"
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM jobs_renew('stale:1', ARRAY[{row}]::int8[], ARRAY[1], 30)"
        )),
        "0"
    );
    assert_eq!(job(&id, "state"), "running");
    assert_eq!(
        sql_one(&format!("SELECT job_finish({row}, 'fresh:2', 2)")),
        "t"
    );
    assert_eq!(job(&id, "state"), "done");
}

#[test]
fn failures_back_off_with_jitter_then_die_keeping_the_last_error() {
    let _g = serial();
    let kind = format!("backoff{}", tag());
    let n = 20;
    for _ in 0..n {
        sql_one(&format!(
            "SELECT job_id FROM job_enqueue('{kind}', '{{}}'::jsonb, 100, NULL, NULL, 3)"
        ));
    }
    let claim_all = |w: &str| {
        psql(
            &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
            &format!("SELECT job_id, attempt FROM jobs_claim('{w}', {n}, 30, ARRAY['{kind}'])"),
        )
    };
    let delays = |attempt: i32| -> Vec<f64> {
        claim_all("w:1");
        let rows = psql(
            &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
            &format!(
                "SELECT job_fail(id, 'w:1', {attempt}, 'smtp away', false) FROM jobs WHERE kind = '{kind}' AND state = 'running'"
            ),
        );
        assert_eq!(rows.lines().filter(|l| l.trim() == "ready").count(), n);
        let text = psql(
            &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
            &format!(
                "SELECT extract(epoch FROM run_at - now())::float8 FROM jobs WHERE kind = '{kind}'"
            ),
        );
        let d: Vec<f64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        // Due now for the next claim.
        sql_one(&format!(
            "UPDATE jobs SET run_at = now() WHERE kind = '{kind}' RETURNING 1"
        ));
        d
    };
    // Attempt 1: 2 s x [0.5, 1) = 1 to 2 s; attempt 2: 2 to 4 s; each job its own.
    let first = delays(1);
    assert_eq!(first.len(), n);
    assert!(first.iter().all(|d| (0.8..2.05).contains(d)), "{first:?}");
    let second = delays(2);
    assert!(second.iter().all(|d| (1.8..4.05).contains(d)), "{second:?}");
    let mut distinct = second.clone();
    distinct.sort_by(|a, b| a.partial_cmp(b).unwrap());
    distinct.dedup_by(|a, b| (*a - *b).abs() < 0.001);
    assert!(distinct.len() > n / 2, "no jitter: {second:?}");
    // Attempt 3 is the last: dead, the error kept, not due again.
    claim_all("w:1");
    let out = psql(
        &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
        &format!(
            "SELECT job_fail(id, 'w:1', 3, 'smtp away for good', false) FROM jobs WHERE kind = '{kind}' AND state = 'running'"
        ),
    );
    assert_eq!(out.lines().filter(|l| l.trim() == "dead").count(), n);
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE kind = '{kind}' AND state = 'dead' AND last_error = 'smtp away for good' AND finished_at IS NOT NULL"
        )),
        n.to_string()
    );
    // A permanent failure is dead at the first attempt.
    let id = sql_one(&format!(
        "SELECT job_id FROM job_enqueue('{kind}', '{{}}'::jsonb)"
    ));
    let row = sql_one(&format!(
        "SELECT job_id FROM jobs_claim('w:1', 1, 30, ARRAY['{kind}'])"
    ));
    assert_eq!(
        sql_one(&format!(
            "SELECT job_fail({row}, 'w:1', 1, 'no such address', true)"
        )),
        "dead"
    );
    assert_eq!(job(&id, "attempts"), "1");
}

#[test]
fn a_worker_runs_noop_jobs_to_their_end_and_counts_them() {
    let _g = serial();
    let w = Worker::spawn(&[]);
    let ok = enqueue(1, "{}").remove(0);
    let retry = sql_one(
        "SELECT job_id FROM job_enqueue('noop', '{\"fail\": \"retry\"}'::jsonb, 100, NULL, NULL, 2)",
    );
    let permanent = enqueue(1, r#"{"fail": "permanent"}"#).remove(0);
    let unknown = sql_one("SELECT job_id FROM job_enqueue('no.such.kind', '{}'::jsonb)");
    assert!(eventually(Duration::from_secs(20), || {
        states(&[
            ok.clone(),
            retry.clone(),
            permanent.clone(),
            unknown.clone(),
        ]) == ["done", "dead", "dead", "dead"]
    }));
    assert_eq!(job(&retry, "attempts"), "2");
    assert_eq!(job(&retry, "last_error"), "noop: asked to fail (retry)");
    assert_eq!(job(&permanent, "attempts"), "1");
    assert!(job(&unknown, "last_error").contains("no worker knows the job kind"));
    let m = w.metrics_text();
    assert!(
        m.contains("campushub_worker_jobs_ended_total{kind=\"noop\",outcome=\"retry\"}"),
        "{m}"
    );
    assert!(m.contains("campushub_jobs_depth_up 1"), "{m}");
    assert!(
        m.contains("campushub_worker_job_run_seconds_count{kind=\"noop\"}"),
        "{m}"
    );
}

#[test]
fn sigterm_lets_short_jobs_finish_and_hands_long_ones_back() {
    let _g = serial();
    let mut w = Worker::spawn(&[("CAMPUSHUB_SHUTDOWN_GRACE_S", "1.5")]);
    let short = enqueue(1, r#"{"sleep_ms": 500}"#).remove(0);
    let long = enqueue(1, r#"{"sleep_ms": 30000}"#).remove(0);
    assert!(eventually(Duration::from_secs(10), || {
        states(&[short.clone(), long.clone()]) == ["running", "running"]
    }));
    let started = Instant::now();
    assert!(w.terminate(Duration::from_secs(10)).success());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(job(&short, "state"), "done");
    // Handed back: ready at once, the attempt not counted.
    assert_eq!(job(&long, "state"), "ready");
    assert_eq!(job(&long, "attempts"), "0");
    assert!(w
        .logs()
        .iter()
        .any(|l| l.contains("job handed back at shutdown")));
    sql_one(&format!(
        "UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE sourced_id = '{long}' RETURNING 1"
    ));
}

#[test]
fn operators_list_retry_and_cancel_and_nobody_else_may() {
    let _g = serial();
    let server = TestServer::spawn(&[]);
    let admin = access_token(&server, "admin");
    let registrar = access_token(&server, "registrar");
    let student = access_token(&server, "student1");
    let w = Worker::spawn(&[("CAMPUSHUB_WORKER_LEASE_S", "3")]);
    let running = enqueue(1, r#"{"sleep_ms": 20000}"#).remove(0);
    assert!(eventually(Duration::from_secs(10), || job(
        &running, "state"
    ) == "running"));
    let path = format!("/api/v1/admin/jobs/{running}");

    // Nobody without jobs.manage: not the registrar, not a student, not anonymous.
    for (token, status) in [(Some(&registrar), 403), (Some(&student), 403), (None, 401)] {
        assert_eq!(
            call(
                &server,
                "GET",
                "/api/v1/admin/jobs",
                token.map(|t| t.as_str()),
                None
            )
            .status,
            status
        );
        assert_eq!(
            call(
                &server,
                "POST",
                &format!("{path}/cancel"),
                token.map(|t| t.as_str()),
                None
            )
            .status,
            status
        );
    }
    assert_eq!(job(&running, "state"), "running");

    // The operator finds it among the running noop jobs.
    let r = call(
        &server,
        "GET",
        "/api/v1/admin/jobs?state=running&kind=noop",
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let listed: Value = r.json();
    let found = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["sourced_id"] == running.as_str())
        .cloned()
        .unwrap();
    assert_eq!(found["worker"], w.name.as_str());
    assert_eq!(found["payload"]["sleep_ms"], 20000);

    // Cancelled while it runs: the worker stops it at its next renewal and never marks it done.
    let r = call(
        &server,
        "POST",
        &format!("{path}/cancel"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["state"], "cancelled");
    assert!(eventually(Duration::from_secs(10), || {
        common::metric_sum(
            &w.metrics_text(),
            "campushub_worker_jobs_ended_total{kind=\"noop\",outcome=\"lost\"}",
        ) >= 1.0
    }));
    assert_eq!(job(&running, "state"), "cancelled");
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("{path}/cancel"),
            Some(&admin),
            None
        )
        .status,
        409
    );

    // Retried: it runs again from attempt zero (then the worker takes it).
    let r = call(
        &server,
        "POST",
        &format!("{path}/retry"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["attempts"], 0);
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("{path}/retry"),
            Some(&admin),
            None
        )
        .status,
        409
    );
    sql_one(&format!(
        "UPDATE jobs SET state = 'cancelled', worker = NULL, lease_until = NULL, finished_at = now() WHERE sourced_id = '{running}' RETURNING 1"
    ));

    // Both changes are in the audit trail, with who made them.
    for action in ["jobs.cancelled", "jobs.retried"] {
        assert_eq!(
            sql_one(&format!(
                "SELECT count(*) FROM audit_events e JOIN users u ON u.id = e.actor_id \
                 WHERE e.action = '{action}' AND e.target_id = '{running}' AND u.username = 'admin'"
            )),
            "1",
            "{action}"
        );
    }

    // Made-up and malformed ids, bad filters.
    let nobody = "00000000-0000-4000-8000-0000000000ff";
    for (method, p, status) in [
        ("GET", format!("/api/v1/admin/jobs/{nobody}"), 404),
        ("POST", format!("/api/v1/admin/jobs/{nobody}/retry"), 404),
        ("GET", "/api/v1/admin/jobs/not-a-uuid".to_string(), 400),
        ("GET", "/api/v1/admin/jobs?state=stuck".to_string(), 400),
        (
            "GET",
            "/api/v1/admin/jobs?kind=DROP%20TABLE".to_string(),
            400,
        ),
        ("GET", "/api/v1/admin/jobs?cursor=abc".to_string(), 400),
        ("GET", "/api/v1/admin/jobs?limit=0".to_string(), 400),
    ] {
        assert_eq!(
            call(&server, method, &p, Some(&admin), None).status,
            status,
            "{method} {p}"
        );
    }

    // Keyset pages: two at a time, no job twice, newest first.
    let page1 = call(
        &server,
        "GET",
        "/api/v1/admin/jobs?limit=2",
        Some(&admin),
        None,
    )
    .json();
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let page2 = call(
        &server,
        "GET",
        &format!("/api/v1/admin/jobs?limit=2&cursor={cursor}"),
        Some(&admin),
        None,
    )
    .json();
    let ids = |p: &Value| -> Vec<String> {
        p["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["sourced_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (one, two) = (ids(&page1), ids(&page2));
    assert_eq!((one.len(), two.len()), (2, 2));
    assert!(one.iter().all(|i| !two.contains(i)));
}
