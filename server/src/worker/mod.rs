//! `campushub worker`: runs the background jobs of the queue in PostgreSQL (migration 0015) in
//! a process of its own, on tokio with a deadpool-postgres pool: it is off the request path,
//! so it shares nothing with the shards. Several workers on several hosts share one queue:
//! each claims with `FOR UPDATE SKIP LOCKED`, holds what it claimed under a lease it renews
//! every third of the lease, and a job whose worker died is taken again when its lease runs
//! out (`jobs_recover`, run by every worker). SIGTERM stops the claiming; what is in flight
//! gets `shutdown_grace` to finish, and what is still running then is handed back (ready at
//! once, the attempt not counted).
//!
//! The stages: [`queue`] (the SQL calls), [`kinds`] (what each kind does), [`metrics`] (the
//! worker's `/metrics` and `/healthz`); this file is the loop that ties them.

pub mod kinds;
pub mod mail;
pub mod metrics;
pub mod notices;
pub mod pdf;
pub mod queue;
pub mod reports;
pub mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

use crate::access_log;
use crate::config::{Config, WorkerConfig};
use kinds::Outcome;
use queue::Claimed;

/// Longest a job may run before it counts as failed (retried): a hung job must not hold its
/// lease, renewed, for ever.
const JOB_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How often leases that ran out are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(5);

/// How often done and cancelled jobs past `keep_done` are deleted.
const CLEAN_UP_EVERY: Duration = Duration::from_secs(600);

/// Jobs this worker holds: id -> the job and its task.
type Held = Arc<Mutex<HashMap<i64, (Claimed, AbortHandle)>>>;

/// Everything a job's task needs, cheap to clone.
#[derive(Clone)]
struct Ctx {
    db: queue::Db,
    tools: Arc<send::Tools>,
    name: Arc<str>,
    figures: metrics::Shared,
    held: Held,
}

/// Runs the worker until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<(), String> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("worker")
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the worker's runtime: {e}"))?;
    runtime.block_on(work(config))
}

fn pool(config: &Config) -> Result<Pool, String> {
    let manager = Manager::from_config(
        config.database.config().clone(),
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        // The jobs in flight, the lease renewer, the housekeeping and a scrape.
        .max_size(config.worker.concurrency as usize + 3)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("could not build the database pool: {e}"))
}

/// This worker's name in `jobs.worker`: host and process, unique among live workers.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

async fn work(config: Config) -> Result<(), String> {
    let w = config.worker.clone();
    let db = queue::Db {
        pool: pool(&config)?,
        unnamed: config.statements == campushub_db::StatementMode::Unnamed,
    };
    let mailer = match &config.mail.smtp {
        Some(smtp) => Some(mail::Mailer::new(smtp, w.concurrency)?),
        None => None,
    };
    let tools = send::Tools {
        db: db.clone(),
        mailer,
        templates: mail::templates()?,
        link_key: config.mail.link_key.as_ref().map(|k| k.expose().clone()),
        public_url: config.mail.public_url.clone(),
        fonts: match pdf::Fonts::load(&w.report_fonts_dir) {
            Ok(f) => Some(f),
            Err(e) => {
                access_log::event(
                    "warn",
                    "report fonts missing: report jobs wait until they are installed",
                    &[("error", e)],
                );
                None
            }
        },
    };
    let ctx = Ctx {
        db,
        tools: Arc::new(tools),
        name: worker_name().into(),
        figures: Arc::default(),
        held: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(w.metrics_listen)
        .await
        .map_err(|e| format!("CAMPUSHUB_WORKER_METRICS_LISTEN={}: {e}", w.metrics_listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("could not read the metrics address: {e}"))?;
    tokio::spawn(metrics::serve(
        listener,
        Arc::clone(&ctx.figures),
        ctx.db.clone(),
    ));
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(signals(stop_tx));
    tokio::spawn(renew_leases(ctx.clone(), w.lease));
    tokio::spawn(housekeeping(ctx.clone(), w.keep_done));
    access_log::event(
        "info",
        "worker started",
        &[
            ("worker", ctx.name.to_string()),
            ("metrics", bound.to_string()),
            ("concurrency", w.concurrency.to_string()),
            ("lease_s", w.lease.as_secs_f64().to_string()),
            (
                "smtp",
                config
                    .mail
                    .smtp
                    .as_ref()
                    .map(|s| s.redacted())
                    .unwrap_or_else(|| "none: email jobs wait".into()),
            ),
        ],
    );
    let mut tasks = claim_loop(&ctx, &w, stop).await;
    drain(&ctx, &mut tasks, config.shutdown_grace).await;
    access_log::event(
        "info",
        "worker stopped",
        &[("worker", ctx.name.to_string())],
    );
    Ok(())
}

async fn signals(stop: watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        access_log::event("error", "could not install signal handlers", &[]);
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = stop.send(true);
}

/// Claims and starts jobs while there is room, until told to stop; answers the tasks still
/// running.
async fn claim_loop(ctx: &Ctx, w: &WorkerConfig, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let concurrency = w.concurrency as usize;
    let mut idle = w.poll;
    while !*stop.borrow() {
        while tasks.try_join_next().is_some() {}
        let free = concurrency.saturating_sub(tasks.len());
        if free == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let limit = i32::try_from(free).unwrap_or(i32::MAX);
        match queue::claim(&ctx.db, &ctx.name, limit, w.lease).await {
            Ok(jobs) if jobs.is_empty() => {
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = stop.changed() => {}
                }
                // Idle: look less often, up to four times the poll interval.
                idle = (idle * 2).min(w.poll * 4);
            }
            Ok(jobs) => {
                idle = w.poll;
                for job in jobs {
                    start(ctx, &mut tasks, job);
                }
            }
            Err(e) => {
                note_queue_error(ctx, "claim", &e);
                tokio::select! {
                    _ = tokio::time::sleep(w.poll.max(Duration::from_secs(1))) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    tasks
}

fn start(ctx: &Ctx, tasks: &mut JoinSet<()>, job: Claimed) {
    if let Ok(mut f) = ctx.figures.lock() {
        f.claimed(&job.kind);
    }
    let id = job.id;
    // The entry goes in before the task can end and take it out.
    let mut held = match ctx.held.lock() {
        Ok(h) => h,
        Err(p) => p.into_inner(),
    };
    let handle = tasks.spawn(run_one(ctx.clone(), job.clone()));
    held.insert(id, (job, handle));
}

async fn run_one(ctx: Ctx, job: Claimed) {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(JOB_TIMEOUT, kinds::run(&ctx.tools, &job)).await {
        Ok(o) => o,
        Err(_) => Outcome::Retry(format!("ran longer than {} s", JOB_TIMEOUT.as_secs())),
    };
    let ended = settle(&ctx, &job, &outcome).await;
    if let Ok(mut held) = ctx.held.lock() {
        held.remove(&job.id);
    }
    if let Ok(mut f) = ctx.figures.lock() {
        f.ended(&job.kind, ended, started.elapsed());
    }
    if let Outcome::Retry(e) | Outcome::Permanent(e) = &outcome {
        access_log::event(
            "warn",
            "job failed",
            &[
                ("job", job.sourced_id.to_string()),
                ("kind", job.kind.clone()),
                ("attempt", job.attempt.to_string()),
                ("now", ended.to_string()),
                ("error", e.clone()),
            ],
        );
    }
}

/// Writes how the job ended, retrying while the database is away (a few seconds; after that
/// the lease runs out and the job runs again: at least once, never lost). Answers the outcome
/// as the figures count it.
async fn settle(ctx: &Ctx, job: &Claimed, outcome: &Outcome) -> &'static str {
    let mut wait = Duration::from_millis(200);
    for _ in 0..6 {
        let result =
            match outcome {
                Outcome::Done => queue::finish(&ctx.db, &ctx.name, job).await.map(|ours| {
                    if ours {
                        "done"
                    } else {
                        "lost"
                    }
                }),
                Outcome::Retry(e) | Outcome::Permanent(e) => {
                    let permanent = matches!(outcome, Outcome::Permanent(_));
                    queue::fail(&ctx.db, &ctx.name, job, e, permanent)
                        .await
                        .map(|state| match state.as_deref() {
                            Some("dead") => "dead",
                            Some(_) => "retry",
                            None => "lost",
                        })
                }
            };
        match result {
            Ok(ended) => return ended,
            Err(e) => {
                note_queue_error(ctx, "settle", &e);
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    "lost"
}

fn note_queue_error(ctx: &Ctx, what: &str, e: &queue::QueueError) {
    if let Ok(mut f) = ctx.figures.lock() {
        f.queue_error();
    }
    access_log::event(
        "warn",
        "queue statement failed",
        &[("step", what.to_string()), ("error", e.to_string())],
    );
}

/// Every third of the lease, renews the leases of the jobs held; a job no longer this
/// worker's (its lease ran out and another took it, or an operator cancelled it) is stopped.
async fn renew_leases(ctx: Ctx, lease: Duration) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let held: Vec<(i64, i32)> = match ctx.held.lock() {
            Ok(h) => h.values().map(|(j, _)| (j.id, j.attempt)).collect(),
            Err(_) => continue,
        };
        if held.is_empty() {
            continue;
        }
        match queue::renew(&ctx.db, &ctx.name, &held, lease).await {
            Ok(still) => {
                let lost: Vec<(Claimed, AbortHandle)> = match ctx.held.lock() {
                    Ok(mut h) => held
                        .iter()
                        .filter(|(id, _)| !still.contains(id))
                        .filter_map(|(id, _)| h.remove(id))
                        .collect(),
                    Err(_) => continue,
                };
                for (job, task) in lost {
                    task.abort();
                    if let Ok(mut f) = ctx.figures.lock() {
                        f.ended(&job.kind, "lost", Duration::ZERO);
                    }
                    access_log::event(
                        "warn",
                        "job no longer held: stopped",
                        &[("job", job.sourced_id.to_string()), ("kind", job.kind)],
                    );
                }
            }
            Err(e) => note_queue_error(&ctx, "renew", &e),
        }
    }
}

/// Recovers leases that ran out (every worker does, so one dead worker's jobs come back while
/// any worker lives) and deletes old finished jobs.
async fn housekeeping(ctx: Ctx, keep_done: Duration) {
    let mut last_clean_up: Option<Instant> = None;
    loop {
        match queue::recover(&ctx.db).await {
            Ok(n) if n > 0 => {
                if let Ok(mut f) = ctx.figures.lock() {
                    f.recovered(u64::try_from(n).unwrap_or(0));
                }
                access_log::event(
                    "warn",
                    "jobs whose lease ran out are ready again",
                    &[("jobs", n.to_string())],
                );
            }
            Ok(_) => {}
            Err(e) => note_queue_error(&ctx, "recover", &e),
        }
        if last_clean_up.is_none_or(|t| t.elapsed() >= CLEAN_UP_EVERY) {
            match queue::clean_up(&ctx.db, keep_done).await {
                Ok(_) => last_clean_up = Some(Instant::now()),
                Err(e) => note_queue_error(&ctx, "clean up", &e),
            }
        }
        tokio::time::sleep(RECOVER_EVERY).await;
    }
}

/// Shutting down: the jobs in flight get `grace` to finish; what still runs then is stopped
/// and handed back.
async fn drain(ctx: &Ctx, tasks: &mut JoinSet<()>, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while !tasks.is_empty() {
        tokio::select! {
            _ = tasks.join_next() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let left: Vec<(Claimed, AbortHandle)> = match ctx.held.lock() {
        Ok(mut h) => h.drain().map(|(_, v)| v).collect(),
        Err(p) => p.into_inner().drain().map(|(_, v)| v).collect(),
    };
    for (job, task) in left {
        task.abort();
        let handed_back = queue::release(&ctx.db, &ctx.name, &job).await;
        if let Ok(mut f) = ctx.figures.lock() {
            f.ended(&job.kind, "released", Duration::ZERO);
        }
        access_log::event(
            "info",
            "job handed back at shutdown",
            &[
                ("job", job.sourced_id.to_string()),
                ("kind", job.kind),
                (
                    "released",
                    match handed_back {
                        Ok(b) => b.to_string(),
                        Err(e) => format!("no ({e}); its lease will run out"),
                    },
                ),
            ],
        );
    }
    tasks.shutdown().await;
}
