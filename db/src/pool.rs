//! Per-shard PostgreSQL clients: a few connections driven by the shard's runtime, shared by
//! all of its requests so that queries pipeline; reconnect with backoff; statement timeouts.
//!
//! A connection that answers nothing for a whole statement timeout while a statement waits on
//! it is stalled (a network path that drops packets, a peer that hung): it is closed at once
//! and the slot reconnects, so later requests get a fast 503 or a live connection instead of
//! each waiting out the timeout on a socket that will never answer.
//!
//! Everything here is `!Send` on purpose (`Rc`, `Cell`): a pool is built inside its shard's
//! thread and never leaves it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use futures_util::future::{self, Either};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::error::{log_query_failed, CONFLICT_SQLSTATE};
use crate::statements::{self, Stmt};
use crate::{DbError, DbUrl, StatementMode};

/// Settings for one shard's database access.
#[derive(Debug, Clone)]
pub struct ShardDbConfig {
    /// Primary (all writes, and reads unless marked analytics).
    pub primary: DbUrl,
    /// Optional replica for analytics reads.
    pub replica: Option<DbUrl>,
    /// Statement mode.
    pub mode: StatementMode,
    /// Connections per pool.
    pub connections: u32,
    /// Longest a statement may take, measured from the request's side.
    pub statement_timeout: Duration,
    /// Shows in `pg_stat_activity`, e.g. `campushub shard-0`.
    pub application_name: String,
    /// Analytics go to the primary while the replica lags more than this.
    pub replica_max_lag: Duration,
}

/// The database as one shard sees it.
pub struct ShardDb {
    primary: Rc<Pool>,
    replica: Option<Rc<Pool>>,
    replica_fallbacks: Cell<u64>,
    /// Last measured replica lag; `None` until measured or while the replica is unreachable.
    replica_lag: Rc<Cell<Option<Duration>>>,
    replica_max_lag: Duration,
}

impl ShardDb {
    /// Builds the pools and starts their connection tasks on the current monoio runtime.
    pub fn start(config: &ShardDbConfig) -> ShardDb {
        let primary = Pool::start(config, config.primary.clone(), "primary");
        let replica = config
            .replica
            .as_ref()
            .map(|url| Pool::start(config, url.clone(), "replica"));
        let replica_lag = Rc::new(Cell::new(None));
        if let Some(r) = &replica {
            monoio::spawn(measure_lag(Rc::clone(r), Rc::clone(&replica_lag)));
        }
        ShardDb {
            primary,
            replica,
            replica_fallbacks: Cell::new(0),
            replica_lag,
            replica_max_lag: config.replica_max_lag,
        }
    }

    /// The replica's lag as last measured (once a second), if it is reachable.
    pub fn replica_lag(&self) -> Option<Duration> {
        self.replica_lag.get()
    }

    /// The pool for ordinary reads and all writes.
    pub fn primary(&self) -> &Pool {
        &self.primary
    }

    /// The replica pool, if one is configured.
    pub fn replica(&self) -> Option<&Pool> {
        self.replica.as_deref()
    }

    /// The pool for analytics queries: the replica when it is up and no further behind than
    /// the configured bound, else the primary (counted in `replica_fallbacks`).
    pub fn analytics(&self) -> (&Pool, Source) {
        match &self.replica {
            Some(r)
                if r.connected() > 0
                    && self
                        .replica_lag
                        .get()
                        .is_some_and(|l| l <= self.replica_max_lag) =>
            {
                (r, Source::Replica)
            }
            Some(_) => {
                self.replica_fallbacks.set(self.replica_fallbacks.get() + 1);
                (&self.primary, Source::Primary)
            }
            None => (&self.primary, Source::Primary),
        }
    }

    /// Analytics queries sent to the primary because the replica was down.
    pub fn replica_fallbacks(&self) -> u64 {
        self.replica_fallbacks.get()
    }
}

/// Which server answered an analytics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The primary.
    Primary,
    /// The streaming replica.
    Replica,
}

impl Source {
    /// `primary` or `replica`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Primary => "primary",
            Source::Replica => "replica",
        }
    }
}

/// Measures the replica's replay lag once a second. A replica that has replayed everything it
/// received counts as 0 (an idle primary sends nothing, so the replay timestamp alone would
/// look stale); otherwise the lag is the age of the last replayed transaction.
async fn measure_lag(replica: Rc<Pool>, lag: Rc<Cell<Option<Duration>>>) {
    loop {
        let measured = match replica.query(&statements::REPLICA_LAG, &[]).await {
            Ok(rows) => rows
                .first()
                .and_then(|r| r.try_get::<_, f64>(0).ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            Err(_) => None,
        };
        lag.set(measured);
        monoio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A snapshot of one pool's state for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Configured connections.
    pub total: u32,
    /// Connections currently up.
    pub connected: u32,
    /// Connections with at least one query in flight.
    pub active: u32,
    /// Connections up with nothing in flight.
    pub idle: u32,
    /// Queries queued behind another one on the same connection (pipelined).
    pub waiting: u32,
    /// Connections (re)established since start.
    pub connects_total: u64,
    /// Statements that hit the statement timeout.
    pub timeouts_total: u64,
    /// Connections closed because they answered nothing for a whole statement timeout.
    pub stalls_total: u64,
    /// Requests refused because no connection was up.
    pub unavailable_total: u64,
}

struct Conn {
    client: Client,
    prepared: Vec<Statement>,
    /// When a statement on this connection last got its answer (or its error).
    answered: Cell<Instant>,
    /// Ends the connection's driver (closing the socket): taken once, when it stalls.
    kill: RefCell<Option<oneshot::Sender<()>>>,
}

impl Conn {
    fn usable(&self) -> bool {
        !self.client.is_closed() && self.kill.borrow().is_some()
    }
}

#[derive(Default)]
struct Slot {
    conn: RefCell<Option<Rc<Conn>>>,
    in_flight: Cell<u32>,
}

/// A few connections to one PostgreSQL endpoint, owned by one shard.
pub struct Pool {
    url: DbUrl,
    role: &'static str,
    mode: StatementMode,
    timeout: Duration,
    application_name: String,
    slots: Vec<Slot>,
    next: Cell<usize>,
    connects_total: Cell<u64>,
    timeouts_total: Cell<u64>,
    stalls_total: Cell<u64>,
    unavailable_total: Cell<u64>,
    last_error: RefCell<Option<String>>,
}

struct InFlight<'a>(&'a Slot);

impl<'a> InFlight<'a> {
    fn new(slot: &'a Slot) -> Self {
        slot.in_flight.set(slot.in_flight.get() + 1);
        InFlight(slot)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Longest a new connection may take to prepare every statement.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(10);

impl Pool {
    fn start(config: &ShardDbConfig, url: DbUrl, role: &'static str) -> Rc<Pool> {
        let pool = Rc::new(Pool {
            url,
            role,
            mode: config.mode,
            timeout: config.statement_timeout,
            application_name: config.application_name.clone(),
            slots: (0..config.connections.max(1))
                .map(|_| Slot::default())
                .collect(),
            next: Cell::new(0),
            connects_total: Cell::new(0),
            timeouts_total: Cell::new(0),
            stalls_total: Cell::new(0),
            unavailable_total: Cell::new(0),
            last_error: RefCell::new(None),
        });
        for idx in 0..pool.slots.len() {
            monoio::spawn(run_slot(Rc::clone(&pool), idx));
        }
        pool
    }

    /// Connections currently up.
    pub fn connected(&self) -> u32 {
        self.slots
            .iter()
            .filter(|s| s.conn.borrow().is_some())
            .count() as u32
    }

    /// The last connection error, if the pool is or was down.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.borrow().clone()
    }

    /// A snapshot of this pool's state.
    pub fn stats(&self) -> PoolStats {
        let mut s = PoolStats {
            total: self.slots.len() as u32,
            connects_total: self.connects_total.get(),
            timeouts_total: self.timeouts_total.get(),
            stalls_total: self.stalls_total.get(),
            unavailable_total: self.unavailable_total.get(),
            ..PoolStats::default()
        };
        for slot in &self.slots {
            if slot.conn.borrow().is_none() {
                continue;
            }
            s.connected += 1;
            let n = slot.in_flight.get();
            if n == 0 {
                s.idle += 1;
            } else {
                s.active += 1;
                s.waiting += n - 1;
            }
        }
        s
    }

    fn pick(&self) -> Result<(&Slot, Rc<Conn>), DbError> {
        let n = self.slots.len();
        let start = self.next.get();
        for i in 0..n {
            let idx = (start + i) % n;
            let slot = &self.slots[idx];
            if let Some(conn) = slot.conn.borrow().as_ref() {
                if conn.usable() {
                    self.next.set((idx + 1) % n);
                    return Ok((slot, Rc::clone(conn)));
                }
            }
        }
        self.unavailable_total.set(self.unavailable_total.get() + 1);
        Err(DbError::Unavailable)
    }

    /// Runs `stmt` and returns all rows.
    pub async fn query(
        &self,
        stmt: &Stmt,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        let (slot, conn) = self.pick()?;
        let _in_flight = InFlight::new(slot);
        let sent = Instant::now();
        let fut = async {
            match self.mode {
                StatementMode::Prepared => match conn.prepared.get(stmt.id) {
                    Some(prepared) => conn.client.query(prepared, params).await,
                    None => {
                        conn.client
                            .query_typed(stmt.sql, &typed(stmt, params))
                            .await
                    }
                },
                StatementMode::Unnamed => {
                    conn.client
                        .query_typed(stmt.sql, &typed(stmt, params))
                        .await
                }
            }
        };
        let result = monoio::time::timeout(self.timeout, fut).await;
        if result.is_ok() {
            conn.answered.set(Instant::now());
        }
        match result {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => {
                if conn.client.is_closed() || is_unavailable(&e) {
                    self.unavailable_total.set(self.unavailable_total.get() + 1);
                    *self.last_error.borrow_mut() = Some(e.to_string());
                    Err(DbError::Unavailable)
                } else if e.code().map(|c| c.code()) == Some(CONFLICT_SQLSTATE) {
                    Err(DbError::Conflict)
                } else {
                    // The server answers 500 and nothing more: the cause goes to the log.
                    log_query_failed(self.role, &self.application_name, stmt, &e);
                    *self.last_error.borrow_mut() = Some(e.to_string());
                    Err(DbError::Query)
                }
            }
            Err(_) => {
                self.timeouts_total.set(self.timeouts_total.get() + 1);
                // Nothing came back on this connection since this statement was sent: it is
                // stalled, not merely busy with a slow statement of someone else's.
                if conn.answered.get() < sent {
                    if let Some(kill) = conn.kill.borrow_mut().take() {
                        self.stalls_total.set(self.stalls_total.get() + 1);
                        let detail = format!(
                            "no answer for {} ms: closing the connection",
                            self.timeout.as_millis()
                        );
                        log_event(self, "connection stalled", &detail);
                        *self.last_error.borrow_mut() = Some(detail);
                        let _ = kill.send(());
                    }
                }
                Err(DbError::Timeout)
            }
        }
    }

    /// Runs `stmt` once on a connection of its own to this pool's endpoint, opened for it and
    /// closed after, within `timeout`; its only row, or none. For a rare statement that may run
    /// for seconds (a term's rollover): on the pool's connections it would hold up every
    /// statement pipelined behind it, and their stall detection would close the connection
    /// under it. Unnamed, so it works through PgBouncer in either mode. A timeout closes the
    /// connection, which ends the statement's transaction.
    pub async fn query_opt_alone(
        &self,
        stmt: &Stmt,
        params: &[&(dyn ToSql + Sync)],
        timeout: Duration,
    ) -> Result<Option<Row>, DbError> {
        let application = format!("{} (alone)", self.application_name);
        let (client, task) = crate::connect::connect(&self.url, &application, PREPARE_TIMEOUT)
            .await
            .map_err(|e| {
                *self.last_error.borrow_mut() = Some(e.to_string());
                DbError::Unavailable
            })?;
        let driver = monoio::spawn(async move {
            let _ = task.await;
        });
        let result =
            monoio::time::timeout(timeout, client.query_typed(stmt.sql, &typed(stmt, params)))
                .await;
        drop(client);
        let _ = driver.await;
        let mut rows = match result {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) if is_unavailable(&e) => {
                *self.last_error.borrow_mut() = Some(e.to_string());
                return Err(DbError::Unavailable);
            }
            Ok(Err(e)) if e.code().map(|c| c.code()) == Some(CONFLICT_SQLSTATE) => {
                return Err(DbError::Conflict)
            }
            Ok(Err(e)) => {
                log_query_failed(self.role, &application, stmt, &e);
                return Err(DbError::Query);
            }
            Err(_) => {
                self.timeouts_total.set(self.timeouts_total.get() + 1);
                return Err(DbError::Timeout);
            }
        };
        if rows.len() > 1 {
            return Err(DbError::undecodable(
                stmt,
                format_args!("{} rows where at most one was expected", rows.len()),
            ));
        }
        Ok(rows.pop())
    }

    /// Runs `stmt` and returns its only row, or none.
    pub async fn query_opt(
        &self,
        stmt: &Stmt,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, DbError> {
        let mut rows = self.query(stmt, params).await?;
        if rows.len() > 1 {
            return Err(DbError::undecodable(
                stmt,
                format_args!("{} rows where at most one was expected", rows.len()),
            ));
        }
        Ok(rows.pop())
    }

    /// Round-trips a trivial statement; returns its latency.
    pub async fn ping(&self) -> Result<Duration, DbError> {
        let started = Instant::now();
        self.query(&statements::PING, &[]).await?;
        Ok(started.elapsed())
    }
}

/// Errors that mean "the database is not there right now" rather than "this query is wrong":
/// connection exceptions (class 08), shutdown and start-up states (57P01-57P03), too many
/// connections (53300), and PgBouncer's own errors when its server is gone.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    match e.code().map(|c| c.code()) {
        Some(code) => {
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
        // No SQLSTATE: an I/O failure on the connection, or a closed one. A parameter the
        // statement does not take (a count or a type that does not match) is a bug, not an
        // outage: it is logged and answered 500, never a 503 that sends clients to retry.
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
    }
}

fn typed<'a>(
    stmt: &Stmt,
    params: &[&'a (dyn ToSql + Sync)],
) -> Vec<(&'a (dyn ToSql + Sync), tokio_postgres::types::Type)> {
    params
        .iter()
        .zip(stmt.params.iter())
        .map(|(p, t)| (*p, t.clone()))
        .collect()
}

fn log_event(pool: &Pool, event: &str, detail: &str) {
    eprintln!(
        "{{\"level\":\"{}\",\"msg\":\"database {event}\",\"pool\":\"{}\",\"endpoint\":\"{}\",\"application\":\"{}\",\"detail\":{:?}}}",
        if event == "connected" { "info" } else { "warn" },
        pool.role,
        pool.url.endpoint(),
        pool.application_name,
        detail
    );
}

/// Keeps one slot connected for as long as the shard runs.
async fn run_slot(pool: Rc<Pool>, idx: usize) {
    let mut backoff = BACKOFF_MIN;
    let mut failing = false;
    let connect_timeout = pool
        .timeout
        .clamp(Duration::from_millis(500), Duration::from_secs(5));
    loop {
        match crate::connect(&pool.url, &pool.application_name, connect_timeout).await {
            Ok((client, task)) => {
                // The driver runs until the connection ends or the pool closes it (`kill`).
                let (kill, killed) = oneshot::channel::<()>();
                let driver = monoio::spawn(async move {
                    match future::select(task, killed).await {
                        Either::Left((result, _)) => result.map_err(|e| e.to_string()),
                        Either::Right(_) => Err("closed: it stalled".to_string()),
                    }
                });
                let mut prepared = Vec::new();
                let mut prepare_error = None;
                if pool.mode == StatementMode::Prepared {
                    // Bounded like the connect: a path that stalls here must not hold the slot.
                    let prepare = async {
                        for stmt in statements::ALL {
                            prepared.push(client.prepare_typed(stmt.sql, stmt.params).await?);
                        }
                        Ok::<(), tokio_postgres::Error>(())
                    };
                    prepare_error = match monoio::time::timeout(PREPARE_TIMEOUT, prepare).await {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e.to_string()),
                        Err(_) => Some(format!(
                            "preparing statements took over {} s",
                            PREPARE_TIMEOUT.as_secs()
                        )),
                    };
                }
                if let Some(e) = prepare_error {
                    if !failing {
                        log_event(&pool, "prepare failed", &e);
                    }
                    *pool.last_error.borrow_mut() = Some(e);
                    failing = true;
                    drop(client);
                    let _ = kill.send(());
                    let _ = driver.await;
                } else {
                    pool.connects_total.set(pool.connects_total.get() + 1);
                    if failing || idx == 0 {
                        log_event(&pool, "connected", &format!("slot {idx}"));
                    }
                    failing = false;
                    backoff = BACKOFF_MIN;
                    *pool.slots[idx].conn.borrow_mut() = Some(Rc::new(Conn {
                        client,
                        prepared,
                        answered: Cell::new(Instant::now()),
                        kill: RefCell::new(Some(kill)),
                    }));
                    let result = driver.await;
                    pool.slots[idx].conn.borrow_mut().take();
                    let detail = match result {
                        Ok(()) => "closed by server".to_string(),
                        Err(e) => e,
                    };
                    log_event(&pool, "connection lost", &detail);
                    *pool.last_error.borrow_mut() = Some(detail);
                }
            }
            Err(e) => {
                if !failing {
                    log_event(&pool, "connect failed", &e.to_string());
                }
                *pool.last_error.borrow_mut() = Some(e.to_string());
                failing = true;
            }
        }
        monoio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
