//! The sockets and the clock: logs the scenario's users in, then holds a constant offered rate
//! for a step on a current-thread tokio runtime (the scripts pin the generator to one core).
//!
//! Open loop: request `i` of a step is due at `start + i / rate`. A free connection takes the
//! earliest request not yet taken, waits for its due time if it is early, sends it, and records
//! the latency from the due time, not from the send. When the server stalls, every connection
//! is busy, requests fall behind their due times, and the wait is in their latency (no
//! coordinated omission). Requests still unanswered at the step's hard stop count as timeouts,
//! those never sent as `unsent`, both with their latency up to the hard stop.
//! Tokio's timer fires on whole milliseconds: a request goes out within about 1 ms either side
//! of its due time while the generator keeps up (see `wait_until`); latency counts from the
//! earlier of the due time and the send, so lateness is always in it (`send_lag_p99_ms`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::http::{encode_request, parse_response};
use super::report::{Interval, Percentiles, Second, StepReport, TransportErrors};
use super::rng::Rng;
use super::scenario::{Scenario, Vars};
use super::schedule::{intended_offset, slots};

/// Where the load goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` as written, for the Host header.
    pub host: String,
    /// The resolved address.
    pub addr: SocketAddr,
}

impl Target {
    /// From `http://host:port` (a trailing `/` is allowed; https is not supported).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http:// (got `{url}`)"))?;
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            bail!("--url must be http://HOST:PORT with no path (got `{url}`)");
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .ok_or_else(|| anyhow!("{host} resolves to no address"))?;
        Ok(Self {
            host: host.to_string(),
            addr,
        })
    }
}

/// How a step runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Keep-alive connections.
    pub connections: usize,
    /// Measured time.
    pub duration: Duration,
    /// Time before the measured window, not recorded.
    pub warmup: Duration,
    /// Longest wait for one response.
    pub timeout: Duration,
    /// How long after the window answers may still come before the step stops.
    pub grace: Duration,
    /// The server's pid, for its CPU time per request.
    pub server_pid: Option<u32>,
    /// The database's processes (PostgreSQL's, PgBouncer's), for their CPU time per request.
    pub database_pids: Vec<u32>,
    /// Print `window open <unix seconds>` on stderr when each step's measured window opens
    /// (for scripts that inject a fault at a known point of it).
    pub announce: bool,
    /// Also report latency per interval of this length (long runs: is it flat?).
    pub interval: Option<Duration>,
    /// Seed of the random choices.
    pub seed: u64,
}

/// A user the requests run as.
#[derive(Debug, Clone)]
pub struct Identity {
    /// User name.
    pub username: String,
    /// Access token (groups that log in); renewed before it expires (`renew_tokens`).
    pub token: RefCell<Option<String>>,
    /// The user's own public id (groups whose requests use `{own_student_id}`).
    pub own_id: Option<String>,
}

/// A scenario with its users logged in and its student ids.
#[derive(Debug)]
pub struct Prepared {
    /// The scenario.
    pub scenario: Scenario,
    /// Per group (same order as `scenario.groups`).
    pub identities: Vec<Vec<Identity>>,
    /// Ids for `{student_id}`.
    pub student_ids: Vec<String>,
    /// Rows for `{row1}`..`{row9}` (`--rows`), taken in order.
    pub rows: Vec<Vec<String>>,
    /// The next row to take (wraps around; `rows_taken` says how often that happened).
    pub next_row: std::cell::Cell<usize>,
    /// The shortest access-token lifetime the server gave, and when the tokens were taken:
    /// a run longer than that logs in again halfway (`renew_tokens`).
    pub token_ttl: Option<Duration>,
    /// When the tokens in `identities` were taken.
    pub logged_in_at: Cell<Instant>,
}

impl Prepared {
    /// Rows handed out so far (more than `rows.len()` means some were used twice).
    pub fn rows_taken(&self) -> usize {
        self.next_row.get()
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExchangeError {
    Io,
    Parse,
}

/// One keep-alive connection and its read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `req` and reads one response: status, body (when `want_body`), and whether the
    /// connection must be dropped after it.
    async fn exchange(
        &mut self,
        req: &[u8],
        want_body: bool,
    ) -> Result<(u16, Vec<u8>, bool), ExchangeError> {
        self.stream
            .write_all(req)
            .await
            .map_err(|_| ExchangeError::Io)?;
        let mut eof = false;
        loop {
            if !self.buf.is_empty() || eof {
                match parse_response(&self.buf, eof) {
                    Ok(Some(r)) => {
                        let body = if want_body {
                            r.body(&self.buf).to_vec()
                        } else {
                            Vec::new()
                        };
                        self.buf.drain(..r.consumed);
                        return Ok((r.status, body, r.close || eof));
                    }
                    Ok(None) if eof => return Err(ExchangeError::Io),
                    Ok(None) => {}
                    Err(_) => return Err(ExchangeError::Parse),
                }
            }
            self.buf.reserve(16 * 1024);
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|_| ExchangeError::Io)?;
            eof = n == 0;
        }
    }
}

/// Checks that the server answers, logs the scenario's users in (a few at a time: log-ins are
/// argon2 work on the server) and looks up their own ids where requests need them.
pub async fn prepare(
    target: &Target,
    scenario: Scenario,
    student_ids: Vec<String>,
) -> anyhow::Result<Prepared> {
    Conn::connect(target.addr)
        .await
        .with_context(|| format!("cannot connect to http://{}", target.host))?;
    if scenario.needs_student_ids() && student_ids.is_empty() {
        bail!("the scenario uses {{student_id}}: give student ids with --ids FILE (one per line)");
    }
    let mut identities = Vec::new();
    let mut token_ttl: Option<Duration> = None;
    for group in &scenario.groups {
        if !group.login {
            identities.push(
                group
                    .users
                    .iter()
                    .map(|u| Identity {
                        username: u.clone(),
                        token: RefCell::new(None),
                        own_id: None,
                    })
                    .collect(),
            );
            continue;
        }
        let next = Rc::new(Cell::new(0usize));
        let users = Rc::new(group.users.clone());
        let mut tasks = Vec::new();
        for _ in 0..group.users.len().min(8) {
            let (next, users, target) = (next.clone(), users.clone(), target.clone());
            let (password, needs_own_id) = (group.password.clone(), group.needs_own_id);
            tasks.push(tokio::task::spawn_local(async move {
                let mut conn = Conn::connect(target.addr).await.context("cannot connect")?;
                let mut out = Vec::new();
                loop {
                    let i = next.get();
                    let Some(user) = users.get(i) else {
                        return Ok::<_, anyhow::Error>(out);
                    };
                    next.set(i + 1);
                    out.push((
                        i,
                        log_in(&mut conn, &target, user, &password, needs_own_id).await?,
                    ));
                }
            }));
        }
        let mut got: Vec<(usize, (Identity, Option<Duration>))> = Vec::new();
        for t in tasks {
            got.extend(t.await.map_err(|e| anyhow!("log-in task failed: {e}"))??);
        }
        got.sort_by_key(|(i, _)| *i);
        for (_, (_, ttl)) in &got {
            token_ttl = match (token_ttl, *ttl) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        identities.push(got.into_iter().map(|(_, (id, _))| id).collect());
        eprintln!(
            "logged in {} users of group `{}`",
            group.users.len(),
            group.name
        );
    }
    Ok(Prepared {
        scenario,
        identities,
        student_ids,
        rows: Vec::new(),
        next_row: std::cell::Cell::new(0),
        token_ttl,
        logged_in_at: Cell::new(Instant::now()),
    })
}

/// One user's log-in (retried while the server is busy hashing: 503 and 429) and, when asked,
/// their own id from `/api/v1/me`; with the token's lifetime (`expires_in`).
async fn log_in(
    conn: &mut Conn,
    target: &Target,
    user: &str,
    password: &str,
    own_id: bool,
) -> anyhow::Result<(Identity, Option<Duration>)> {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    let mut req = Vec::new();
    encode_request(
        &mut req,
        "POST",
        b"/api/v1/auth/login",
        &target.host,
        None,
        Some(body.as_bytes()),
    );
    let mut tries = 0;
    let (token, ttl) = loop {
        let (status, body) = exchange_once(conn, target, &req).await?;
        if (status == 503 || status == 429) && tries < 100 {
            tries += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        if status != 200 {
            bail!("log-in of `{user}` answered {status}: {}", snippet(&body));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| anyhow!("log-in of `{user}`: the answer is not JSON"))?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("log-in of `{user}`: no access_token in the answer"))?
            .to_string();
        break (token, v["expires_in"].as_u64().map(Duration::from_secs));
    };
    let own_id = if own_id {
        let mut req = Vec::new();
        encode_request(
            &mut req,
            "GET",
            b"/api/v1/me",
            &target.host,
            Some(&token),
            None,
        );
        let (status, body) = exchange_once(conn, target, &req).await?;
        if status != 200 {
            bail!(
                "GET /api/v1/me as `{user}` answered {status}: {}",
                snippet(&body)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| anyhow!("/api/v1/me: the answer is not JSON"))?;
        Some(
            v["sourced_id"]
                .as_str()
                .ok_or_else(|| anyhow!("/api/v1/me: no sourced_id"))?
                .to_string(),
        )
    } else {
        None
    };
    Ok((
        Identity {
            username: user.to_string(),
            token: RefCell::new(Some(token)),
            own_id,
        },
        ttl,
    ))
}

/// Logs every user in again when half the tokens' lifetime has passed, for as long as the step
/// runs (a soak outlives the 15-minute access tokens). A failed renewal is reported and retried
/// a minute later; the old tokens stay until then.
async fn renew_tokens(prep: Rc<Prepared>, target: Target) {
    let Some(ttl) = prep.token_ttl else { return };
    loop {
        sleep_until(prep.logged_in_at.get() + ttl / 2).await;
        let started = Instant::now();
        let renewed = async {
            let mut conn = Conn::connect(target.addr).await.context("cannot connect")?;
            for (group, ids) in prep.scenario.groups.iter().zip(&prep.identities) {
                if !group.login {
                    continue;
                }
                for id in ids {
                    let (fresh, _) =
                        log_in(&mut conn, &target, &id.username, &group.password, false).await?;
                    *id.token.borrow_mut() = fresh.token.into_inner();
                }
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        match renewed {
            Ok(()) => prep.logged_in_at.set(started),
            Err(e) => {
                eprintln!("renewing the access tokens failed (retrying in a minute): {e:#}");
                prep.logged_in_at
                    .set(Instant::now() + Duration::from_secs(60) - ttl / 2);
            }
        }
    }
}

/// One exchange outside a step: 30 s at most, reconnecting when the server closed.
async fn exchange_once(
    conn: &mut Conn,
    target: &Target,
    req: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body, close) = match timeout_at(deadline, conn.exchange(req, true)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => bail!("request to http://{} failed ({e:?})", target.host),
        Err(_) => bail!("no answer from http://{} within 30 s", target.host),
    };
    if close {
        *conn = Conn::connect(target.addr)
            .await
            .context("cannot reconnect")?;
    }
    Ok((status, body))
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).replace('\n', " ")
}

/// What the connections of a step share (one thread: cells, no locks).
struct Step {
    prep: Rc<Prepared>,
    target: Target,
    rate: f64,
    start: Instant,
    warmup_slots: u64,
    total_slots: u64,
    hard_stop: Instant,
    timeout: Duration,
    /// Seconds per reported interval (`Settings::interval`).
    interval: Option<f64>,
    next: Cell<u64>,
    rng: RefCell<Rng>,
    rec: RefCell<Recorder>,
}

struct Recorder {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    transport: TransportErrors,
    mix: Vec<u64>,
    /// Per second of the window, by due time.
    timeline: Vec<Second>,
    /// Per `Settings::interval` of the window, by due time: latency (us) and errors.
    intervals: Vec<(Histogram<u64>, u64, u64)>,
    /// The first column of the row of each request that used one and was answered 2xx.
    acked: Vec<String>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Step {
    fn intended(&self, slot: u64) -> Instant {
        self.start + intended_offset(slot, self.rate)
    }

    /// Builds the request for one slot into `out`; returns its kind and the fixture row it
    /// used, if any.
    fn build(
        &self,
        out: &mut Vec<u8>,
        path: &mut Vec<u8>,
        body: &mut Vec<u8>,
    ) -> (usize, Option<usize>) {
        let scenario = &self.prep.scenario;
        let mut rng = self.rng.borrow_mut();
        let kind = scenario.pick(&mut rng);
        let spec = &scenario.requests[kind];
        let ids = &self.prep.student_ids;
        let student_id = if ids.is_empty() {
            ""
        } else {
            &ids[rng.below(ids.len() as u64) as usize]
        };
        let who = spec.group.and_then(|g| {
            let users = &self.prep.identities[g];
            users.get(rng.below(users.len().max(1) as u64) as usize)
        });
        let group_password = spec
            .group
            .map_or("", |g| scenario.groups[g].password.as_str());
        let (row, row_index): (&[String], Option<usize>) =
            if self.prep.rows.is_empty() || !spec.uses_rows() {
                (&[], None)
            } else {
                let n = self.prep.next_row.get();
                self.prep.next_row.set(n + 1);
                let i = n % self.prep.rows.len();
                (&self.prep.rows[i], Some(i))
            };
        let vars = Vars {
            row,
            student_id,
            own_student_id: who.and_then(|w| w.own_id.as_deref()).unwrap_or(""),
            username: who.map_or("", |w| w.username.as_str()),
            password: group_password,
        };
        path.clear();
        spec.path.expand_into(&vars, path);
        body.clear();
        if let Some(b) = &spec.body {
            b.expand_into(&vars, body);
        }
        let token = match who {
            Some(w) if spec.send_token => Some(w.token.borrow()),
            _ => None,
        };
        out.clear();
        encode_request(
            out,
            &spec.method,
            path,
            &self.target.host,
            token.as_ref().and_then(|t| t.as_deref()),
            spec.body.as_ref().map(|_| body.as_slice()),
        );
        (kind, row_index)
    }

    fn record(
        &self,
        slot: u64,
        kind: Option<usize>,
        row: Option<usize>,
        intended: Instant,
        sent: Option<Instant>,
        outcome: Outcome,
    ) {
        if slot < self.warmup_slots {
            return;
        }
        let done = Instant::now();
        let mut rec = self.rec.borrow_mut();
        // From the due time, or from the send when it went out early (see `wait_until`).
        let origin = sent.map_or(intended, |s| s.min(intended));
        let took = micros(done.saturating_duration_since(origin));
        let second = ((slot - self.warmup_slots) as f64 / self.rate) as usize;
        if rec.timeline.len() <= second {
            rec.timeline.resize(second + 1, Second::default());
        }
        let ok = matches!(outcome, Outcome::Status(s) if (200..300).contains(&s));
        let t = &mut rec.timeline[second];
        t.due += 1;
        if ok {
            t.ok += 1;
        } else {
            t.errors += 1;
        }
        t.max_ms = t.max_ms.max(took as f64 / 1000.0);
        if let Some(sent) = sent {
            let service = micros(done.saturating_duration_since(sent));
            t.max_service_ms = t.max_service_ms.max(service as f64 / 1000.0);
        }
        if let Some(every) = self.interval {
            let i = (second as f64 / every) as usize;
            while rec.intervals.len() <= i {
                match Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2) {
                    Ok(h) => rec.intervals.push((h, 0, 0)),
                    Err(_) => break,
                }
            }
            if let Some((h, n, errors)) = rec.intervals.get_mut(i) {
                h.saturating_record(took);
                *n += 1;
                *errors += u64::from(!ok);
            }
        }
        if ok {
            if let Some(first) = row
                .and_then(|r| self.prep.rows.get(r))
                .and_then(|r| r.first())
            {
                rec.acked.push(first.clone());
            }
        }
        rec.latency.saturating_record(took);
        if let Some(sent) = sent {
            rec.service
                .saturating_record(micros(done.saturating_duration_since(sent)));
            rec.lag
                .saturating_record(micros(sent.saturating_duration_since(intended)));
        }
        if let Some(k) = kind {
            rec.mix[k] += 1;
        }
        match outcome {
            Outcome::Status(s) => *rec.statuses.entry(s).or_default() += 1,
            Outcome::Connect => rec.transport.connect += 1,
            Outcome::Io => rec.transport.io += 1,
            Outcome::Parse => rec.transport.parse += 1,
            Outcome::Timeout => rec.transport.timeout += 1,
            Outcome::Unsent => rec.transport.unsent += 1,
        }
    }
}

#[derive(Clone, Copy)]
enum Outcome {
    Status(u16),
    Connect,
    Io,
    Parse,
    Timeout,
    Unsent,
}

/// One connection of a step: takes due requests until the step has none left.
async fn connection(step: Rc<Step>) {
    let mut conn: Option<Conn> = None;
    let (mut req, mut path, mut body) = (Vec::with_capacity(512), Vec::new(), Vec::new());
    loop {
        let slot = step.next.get();
        if slot >= step.total_slots {
            return;
        }
        step.next.set(slot + 1);
        let intended = step.intended(slot);
        wait_until(intended).await;
        if Instant::now() >= step.hard_stop {
            step.record(slot, None, None, intended, None, Outcome::Unsent);
            return;
        }
        let (kind, row) = step.build(&mut req, &mut path, &mut body);
        let c = match conn.as_mut() {
            Some(c) => c,
            None => {
                let deadline = (Instant::now() + step.timeout).min(step.hard_stop);
                match timeout_at(deadline, Conn::connect(step.target.addr)).await {
                    Ok(Ok(c)) => conn.insert(c),
                    _ => {
                        step.record(slot, Some(kind), row, intended, None, Outcome::Connect);
                        // Refused at once when the server is down: do not spin through slots.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                }
            }
        };
        let sent = Instant::now();
        let deadline = (sent + step.timeout).min(step.hard_stop);
        let outcome = match timeout_at(deadline, c.exchange(&req, false)).await {
            Ok(Ok((status, _, close))) => {
                if close {
                    conn = None;
                }
                Outcome::Status(status)
            }
            Ok(Err(e)) => {
                conn = None;
                if e == ExchangeError::Parse {
                    Outcome::Parse
                } else {
                    Outcome::Io
                }
            }
            Err(_) => {
                conn = None;
                Outcome::Timeout
            }
        };
        step.record(slot, Some(kind), row, intended, Some(sent), outcome);
    }
}

/// Waits for `due`, give or take the timer's millisecond: tokio fires a sleep on the next
/// whole millisecond after its deadline (up to about 1 ms late), so aiming [`EARLY`] before the
/// due time centres the sends on it instead of adding ~1 ms to every latency. A request is never
/// sent more than `EARLY` before its due time, and its latency then counts from the send.
/// (Spinning for the last stretch instead cost a whole core on a machine where PostgreSQL
/// shares the generator's core, and slowed the server.)
async fn wait_until(due: Instant) {
    if due.saturating_duration_since(Instant::now()) > EARLY {
        sleep_until(due - EARLY).await;
    }
}

/// How early a request may go out (see `wait_until`).
const EARLY: Duration = Duration::from_millis(1);

/// utime+stime of a process in clock ticks, from /proc/PID/stat (fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Linux reports /proc times in USER_HZ, which is 100 on every architecture it supports.
const TICKS_PER_S: f64 = 100.0;

/// Runs one step at `rate` requests per second; call inside a `LocalSet`.
pub async fn run_step(
    prep: Rc<Prepared>,
    target: &Target,
    settings: &Settings,
    rate: f64,
) -> anyhow::Result<StepReport> {
    let hist = || {
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .map_err(|e| anyhow!("histogram: {e}"))
    };
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + settings.warmup;
    let window_end = window_start + settings.duration;
    let warmup_slots = slots(settings.warmup, rate);
    let kinds = prep.scenario.requests.len();
    let step = Rc::new(Step {
        prep,
        target: target.clone(),
        rate,
        start,
        warmup_slots,
        total_slots: warmup_slots + slots(settings.duration, rate),
        hard_stop: window_end + settings.grace,
        timeout: settings.timeout,
        next: Cell::new(0),
        rng: RefCell::new(Rng::new(settings.seed ^ rate.to_bits())),
        rec: RefCell::new(Recorder {
            latency: hist()?,
            service: hist()?,
            lag: hist()?,
            statuses: BTreeMap::new(),
            transport: TransportErrors::default(),
            mix: vec![0; kinds],
            timeline: Vec::new(),
            intervals: Vec::new(),
            acked: Vec::new(),
        }),
        interval: settings.interval.map(|d| d.as_secs_f64().max(1.0)),
    });
    // CPU ticks over the window: the server's (when its pid is known) and the generator's own.
    let server_pid = settings.server_pid;
    let database_pids = settings.database_pids.clone();
    let announce = settings.announce;
    let window_start_unix_s = unix_now()
        + window_start
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
    let cpu = tokio::task::spawn_local(async move {
        let own = std::process::id();
        let delta = |t0: Option<u64>, t1: Option<u64>| Some(t1?.saturating_sub(t0?));
        // A database process that ends during the window takes its ticks with it: the sum
        // counts the processes alive at both ends.
        let database =
            |pids: &[u32]| -> Vec<Option<u64>> { pids.iter().map(|p| cpu_ticks(*p)).collect() };
        sleep_until(window_start).await;
        if announce {
            eprintln!("window open {:.3}", unix_now());
        }
        let (s0, g0, d0) = (
            server_pid.and_then(cpu_ticks),
            cpu_ticks(own),
            database(&database_pids),
        );
        sleep_until(window_end).await;
        let (s1, g1, d1) = (
            server_pid.and_then(cpu_ticks),
            cpu_ticks(own),
            database(&database_pids),
        );
        let d: Option<u64> = (!database_pids.is_empty())
            .then(|| d0.iter().zip(&d1).filter_map(|(a, b)| delta(*a, *b)).sum());
        (delta(s0, s1), delta(g0, g1), d)
    });
    let renewer = tokio::task::spawn_local(renew_tokens(step.prep.clone(), target.clone()));
    let tasks: Vec<_> = (0..settings.connections)
        .map(|_| tokio::task::spawn_local(connection(step.clone())))
        .collect();
    for t in tasks {
        t.await
            .map_err(|e| anyhow!("connection task failed: {e}"))?;
    }
    renewer.abort();
    // Requests due in the window that no connection took before the hard stop.
    // Their latency counts to now, past the hard stop.
    for slot in step.next.get().max(warmup_slots)..step.total_slots {
        step.record(slot, None, None, step.intended(slot), None, Outcome::Unsent);
    }
    let (server_ticks, own_ticks, database_ticks) =
        cpu.await.map_err(|e| anyhow!("cpu task failed: {e}"))?;
    let per_request = |ticks: Option<u64>, answered: u64| -> Option<f64> {
        ticks
            .filter(|_| answered > 0)
            .map(|t| t as f64 / TICKS_PER_S * 1e6 / answered as f64)
    };
    let mut rec = step.rec.borrow_mut();
    let answered: u64 = rec.statuses.values().sum();
    let duration_s = settings.duration.as_secs_f64();
    Ok(StepReport {
        offered_rps: rate,
        achieved_rps: answered as f64 / duration_s,
        requests: step.total_slots - warmup_slots,
        ok: rec
            .statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum(),
        latency_ms: Percentiles::of(&rec.latency),
        service_ms: Percentiles::of(&rec.service),
        send_lag_p99_ms: if rec.lag.is_empty() {
            0.0
        } else {
            rec.lag.value_at_quantile(0.99) as f64 / 1000.0
        },
        statuses: rec.statuses.clone(),
        transport_errors: rec.transport,
        error_ratio: 0.0,
        generator_cpu_cores: own_ticks.map(|t| t as f64 / TICKS_PER_S / duration_s),
        server_cpu_us_per_request: per_request(server_ticks, answered),
        database_cpu_us_per_request: per_request(database_ticks, answered),
        meets_slo: false,
        timeline: std::mem::take(&mut rec.timeline),
        intervals: rec
            .intervals
            .iter()
            .map(|(h, n, errors)| Interval {
                requests: *n,
                errors: *errors,
                latency_ms: Percentiles::of(h),
            })
            .collect(),
        window_start_unix_s,
        acked: std::mem::take(&mut rec.acked),
        mix: step
            .prep
            .scenario
            .requests
            .iter()
            .zip(&rec.mix)
            .map(|(r, n)| (r.name.clone(), *n))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.addr.port(), 8080);
        assert!(Target::parse("https://127.0.0.1:8080").is_err());
        assert!(Target::parse("http://127.0.0.1:8080/api").is_err());
    }

    #[test]
    fn own_cpu_time_reads() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(cpu_ticks(u32::MAX).is_none());
    }
}
