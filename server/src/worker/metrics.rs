//! The worker's figures and its small HTTP face: `GET /metrics` (Prometheus text: what this
//! worker ran, and the queue's depth and age per kind and state, read from PostgreSQL at each
//! scrape) and `GET /healthz`. Off the request path, so a mutex guards the counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::queue;

/// Upper bounds of the run-time histogram, in seconds.
const BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

#[derive(Debug, Default)]
struct Runs {
    /// Cumulative counts per bucket, then +Inf.
    buckets: [u64; BUCKETS_S.len() + 1],
    sum_s: f64,
}

/// What one worker process counted since it started.
#[derive(Debug, Default)]
pub struct Figures {
    claimed: BTreeMap<String, u64>,
    /// (kind, outcome) -> jobs: `done`, `retry`, `dead`, `lost` (the lease went to another
    /// worker or the job was cancelled), `released` (handed back at shutdown).
    outcomes: BTreeMap<(String, &'static str), u64>,
    runs: BTreeMap<String, Runs>,
    in_flight: u64,
    queue_errors: u64,
    recovered: u64,
}

/// The counters, shared by the worker's tasks.
pub type Shared = Arc<Mutex<Figures>>;

impl Figures {
    /// A job of `kind` was claimed.
    pub fn claimed(&mut self, kind: &str) {
        *self.claimed.entry(kind.to_string()).or_default() += 1;
        self.in_flight += 1;
    }

    /// A job of `kind` ended with `outcome` after running `took`.
    pub fn ended(&mut self, kind: &str, outcome: &'static str, took: Duration) {
        *self
            .outcomes
            .entry((kind.to_string(), outcome))
            .or_default() += 1;
        self.in_flight = self.in_flight.saturating_sub(1);
        let runs = self.runs.entry(kind.to_string()).or_default();
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if s <= *b {
                runs.buckets[i] += 1;
            }
        }
        runs.buckets[BUCKETS_S.len()] += 1;
        runs.sum_s += s;
    }

    /// A statement of the queue failed (the database was away).
    pub fn queue_error(&mut self) {
        self.queue_errors += 1;
    }

    /// Jobs whose lease ran out, made ready again by this worker.
    pub fn recovered(&mut self, n: u64) {
        self.recovered += n;
    }

    /// Prometheus text: these counters, then the queue's depth.
    pub fn render(&self, depth: Option<&[queue::Depth]>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP campushub_worker_jobs_claimed_total Jobs this worker claimed.\n# TYPE campushub_worker_jobs_claimed_total counter"
        );
        for (kind, n) in &self.claimed {
            let _ = writeln!(
                out,
                "campushub_worker_jobs_claimed_total{{kind=\"{kind}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP campushub_worker_jobs_ended_total Jobs this worker ended, by outcome (done, retry, dead, lost, released).\n# TYPE campushub_worker_jobs_ended_total counter"
        );
        for ((kind, outcome), n) in &self.outcomes {
            let _ = writeln!(
                out,
                "campushub_worker_jobs_ended_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP campushub_worker_job_run_seconds How long jobs ran, by kind.\n# TYPE campushub_worker_job_run_seconds histogram"
        );
        for (kind, runs) in &self.runs {
            for (i, b) in BUCKETS_S.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "campushub_worker_job_run_seconds_bucket{{kind=\"{kind}\",le=\"{b}\"}} {}",
                    runs.buckets[i]
                );
            }
            let total = runs.buckets[BUCKETS_S.len()];
            let _ = writeln!(
                out,
                "campushub_worker_job_run_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {total}\ncampushub_worker_job_run_seconds_sum{{kind=\"{kind}\"}} {}\ncampushub_worker_job_run_seconds_count{{kind=\"{kind}\"}} {total}",
                runs.sum_s
            );
        }
        let _ = writeln!(
            out,
            "# HELP campushub_worker_jobs_in_flight Jobs this worker is running.\n# TYPE campushub_worker_jobs_in_flight gauge\ncampushub_worker_jobs_in_flight {}",
            self.in_flight
        );
        let _ = writeln!(
            out,
            "# HELP campushub_worker_queue_errors_total Queue statements that failed (database away).\n# TYPE campushub_worker_queue_errors_total counter\ncampushub_worker_queue_errors_total {}",
            self.queue_errors
        );
        let _ = writeln!(
            out,
            "# HELP campushub_worker_jobs_recovered_total Jobs whose lease ran out, made ready again by this worker.\n# TYPE campushub_worker_jobs_recovered_total counter\ncampushub_worker_jobs_recovered_total {}",
            self.recovered
        );
        match depth {
            Some(rows) => render_depth(&mut out, rows),
            None => {
                let _ = writeln!(
                    out,
                    "# HELP campushub_jobs_depth_up Whether the queue's depth could be read at this scrape.\n# TYPE campushub_jobs_depth_up gauge\ncampushub_jobs_depth_up 0"
                );
            }
        }
        out
    }
}

/// The states the depth is shown for, and those with an age.
const DEPTH_STATES: [&str; 4] = ["ready", "scheduled", "running", "dead"];
const AGED_STATES: [&str; 2] = ["ready", "running"];

/// A gauge family of the queue: name, help, the states it shows, the value of a row.
type Family = (
    &'static str,
    &'static str,
    &'static [&'static str],
    fn(&queue::Depth) -> f64,
);

/// The queue's depth and age: every kind a worker runs and every kind in the queue, each state
/// shown (0 when empty), so alerts see a zero rather than no series.
fn render_depth(out: &mut String, rows: &[queue::Depth]) {
    let mut kinds: Vec<&str> = super::kinds::KINDS.to_vec();
    for r in rows {
        if !kinds.contains(&r.kind.as_str()) {
            kinds.push(&r.kind);
        }
    }
    let find = |kind: &str, state: &str| rows.iter().find(|r| r.kind == kind && r.state == state);
    let families: [Family; 2] = [
        (
            "campushub_jobs",
            "Jobs in the queue, by kind and state (ready: due now; scheduled: due later). The same for every worker: aggregate with max.",
            &DEPTH_STATES,
            |r| r.jobs as f64,
        ),
        (
            "campushub_jobs_oldest_seconds",
            "How long the oldest job of a kind and state has waited: since it was due (ready) or claimed (running); 0 when there is none.",
            &AGED_STATES,
            |r| r.oldest_s,
        ),
    ];
    for (name, help, states, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for kind in &kinds {
            for state in states {
                let v = find(kind, state).map_or(0.0, value);
                let _ = writeln!(out, "{name}{{kind=\"{kind}\",state=\"{state}\"}} {v}");
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP campushub_jobs_depth_up Whether the queue's depth could be read at this scrape.\n# TYPE campushub_jobs_depth_up gauge\ncampushub_jobs_depth_up 1"
    );
}

/// Serves `/metrics` and `/healthz` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, figures: Shared, db: queue::Db) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let figures = Arc::clone(&figures);
        let db = db.clone();
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                true
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
            let (status, body) = match line {
                l if l.starts_with(b"GET /metrics ") => {
                    let depth = queue::depth(&db).await.ok();
                    let text = match figures.lock() {
                        Ok(f) => f.render(depth.as_deref()),
                        Err(_) => String::new(),
                    };
                    ("200 OK", text)
                }
                l if l.starts_with(b"GET /healthz ") => ("200 OK", "ok\n".to_string()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_histogram_and_depth() {
        let mut f = Figures::default();
        f.claimed("noop");
        f.ended("noop", "done", Duration::from_millis(20));
        let depth = vec![queue::Depth {
            kind: "noop".into(),
            state: "ready".into(),
            jobs: 3,
            oldest_s: 1.5,
        }];
        let text = f.render(Some(&depth));
        assert!(text.contains("campushub_worker_jobs_claimed_total{kind=\"noop\"} 1"));
        assert!(
            text.contains("campushub_worker_jobs_ended_total{kind=\"noop\",outcome=\"done\"} 1")
        );
        assert!(
            text.contains("campushub_worker_job_run_seconds_bucket{kind=\"noop\",le=\"0.01\"} 0")
        );
        assert!(
            text.contains("campushub_worker_job_run_seconds_bucket{kind=\"noop\",le=\"0.025\"} 1")
        );
        assert!(text.contains("campushub_worker_jobs_in_flight 0"));
        assert!(text.contains("campushub_jobs{kind=\"noop\",state=\"ready\"} 3"));
        assert!(text.contains("campushub_jobs_oldest_seconds{kind=\"noop\",state=\"ready\"} 1.5"));
        // A kind a worker runs shows with zeros when the queue holds none of it.
        assert!(f
            .render(Some(&[]))
            .contains("campushub_jobs{kind=\"noop\",state=\"dead\"} 0"));
        assert!(f.render(None).contains("campushub_jobs_depth_up 0"));
    }
}
