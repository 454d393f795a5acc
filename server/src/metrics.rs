//! Metrics: each shard counts into its own plain structs (no atomics, no locks per request)
//! and publishes a snapshot to the [`MetricsBoard`] once a second; `/metrics` renders the
//! board in the Prometheus text format. Labels are route templates, never per-user values.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use campushub_cache::RedisStats;
use campushub_db::PoolStats;

use crate::http::Method;
use crate::router::Route;

/// Upper bounds (seconds) of the request-duration histogram buckets.
pub const BUCKETS_S: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// One histogram series.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Per-bucket counts (not cumulative); the last slot is +Inf.
    pub counts: [u64; BUCKETS_S.len() + 1],
    /// Sum of observations in seconds.
    pub sum_s: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let idx = BUCKETS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS_S.len());
        self.counts[idx] += 1;
        self.sum_s += s;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.sum_s += other.sum_s;
    }
}

/// One per-shard cache's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `tokens`, `principals`, `api_keys`, `students`, `summaries`, `rosters` or
    /// `student_pages`, `results` or `codes`.
    pub name: &'static str,
    /// Entries held now.
    pub entries: u64,
    /// Lookups answered from the cache since start.
    pub hits: u64,
    /// Lookups that went to the database since start.
    pub misses: u64,
}

impl CacheStats {
    /// A cache's figures: its name, entries and (hits, misses).
    pub fn of(name: &'static str, entries: usize, (hits, misses): (u64, u64)) -> CacheStats {
        CacheStats {
            name,
            entries: entries as u64,
            hits,
            misses,
        }
    }
}

/// Key of a request series.
pub type SeriesKey = (Method, Route, u16);

/// One shard's counters.
#[derive(Debug, Clone, Default)]
pub struct ShardMetrics {
    /// Request durations by (method, route, status).
    pub requests: hashbrown::HashMap<SeriesKey, Histogram, ahash::RandomState>,
    /// Requests answered by this shard.
    pub requests_total: u64,
    /// Connections accepted.
    pub connections_total: u64,
    /// Times accepting paused because the shard was at its connection cap.
    pub backpressure_total: u64,
    /// Idle keep-alive connections that gave up their buffers (`net::conn::PARK_AFTER`).
    pub parked_total: u64,
    /// Access-log lines dropped because the log could not keep up.
    pub log_dropped_total: u64,
    /// Invalidations that could not be published (other shards caught up by expiry).
    pub invalidation_publish_failures_total: u64,
    /// Requests refused with 429.
    pub rate_limited_total: u64,
    /// Coalesced attendance writes (statements, each holding one or more registers).
    pub register_batches_total: u64,
    /// Coalesced student profile reads (statements, each holding one or more ids).
    pub profile_read_batches_total: u64,
    /// Student profile reads those statements answered.
    pub profile_reads_total: u64,
    /// Student profiles found in the shared (Redis) level.
    pub profile_shared_hits_total: u64,
    /// Student profiles looked up in the shared level and not found there.
    pub profile_shared_misses_total: u64,
    /// Attendance partitions the daily maintenance created (shard 0).
    pub partitions_created_total: u64,
    /// Months the last maintenance run left for a later one (its bound on partitions per run).
    pub partitions_deferred: u64,
    /// Daily maintenance runs that failed.
    pub partition_maintenance_failures_total: u64,
    /// `/readyz` answers that checked the dependencies (the others reused a verdict under a
    /// second old).
    pub readiness_checks_total: u64,
}

impl ShardMetrics {
    /// Records one answered request.
    pub fn observe(&mut self, method: Method, route: Route, status: u16, d: Duration) {
        self.requests_total += 1;
        self.requests
            .entry((method, route, status))
            .or_default()
            .observe(d);
    }
}

/// What a shard publishes each second.
#[derive(Debug, Clone, Default)]
pub struct ShardSnapshot {
    /// Counters.
    pub metrics: ShardMetrics,
    /// Requests being handled right now.
    pub active_requests: u64,
    /// Open connections.
    pub open_connections: u64,
    /// Primary pool.
    pub primary: PoolStats,
    /// Replica pool, if configured.
    pub replica: Option<PoolStats>,
    /// Analytics queries that fell back to the primary.
    pub replica_fallbacks: u64,
    /// Replica replay lag, when measured.
    pub replica_lag_s: Option<f64>,
    /// Redis, if configured.
    pub redis: Option<RedisStats>,
    /// The shard's hot caches: entries, hits and misses of each.
    pub caches: Vec<CacheStats>,
    /// The invalidation subscription, if Redis is configured.
    pub bus: Option<campushub_cache::BusStats>,
    /// Highest authorisation version the shard has seen.
    pub authz_version: i64,
    /// io_uring or epoll.
    pub driver: &'static str,
}

/// The only shared metrics structure: one slot per shard, written by its shard once a second
/// and read by `/metrics` scrapes. The request path never touches it.
#[derive(Debug)]
pub struct MetricsBoard {
    slots: Vec<Mutex<Option<ShardSnapshot>>>,
}

impl MetricsBoard {
    /// A board for `shards` shards.
    pub fn new(shards: usize) -> Self {
        MetricsBoard {
            slots: (0..shards).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Stores shard `id`'s latest snapshot.
    pub fn publish(&self, id: usize, snap: ShardSnapshot) {
        if let Some(slot) = self.slots.get(id) {
            match slot.lock() {
                Ok(mut g) => *g = Some(snap),
                Err(poisoned) => *poisoned.into_inner() = Some(snap),
            }
        }
    }

    /// Every shard's latest snapshot.
    pub fn snapshots(&self) -> Vec<(usize, ShardSnapshot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let g = match s.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                g.clone().map(|snap| (i, snap))
            })
            .collect()
    }
}

/// Process-wide figures for the exposition.
#[derive(Debug, Clone, Copy)]
pub struct ProcessInfo {
    /// Seconds since start.
    pub uptime_s: f64,
    /// Resident memory.
    pub rss_bytes: u64,
    /// Shard count.
    pub shards: usize,
    /// Whether SIGTERM was received.
    pub draining: bool,
}

/// Renders the Prometheus text format.
pub fn render(snaps: &[(usize, ShardSnapshot)], process: ProcessInfo) -> String {
    let mut out = String::with_capacity(16 * 1024);
    render_request_durations(&mut out, snaps);
    render_connections(&mut out, snaps);
    render_caches(&mut out, snaps);
    render_shard_work(&mut out, snaps);
    render_invalidations(&mut out, snaps);
    render_database(&mut out, snaps);
    render_redis(&mut out, snaps);
    render_process(&mut out, snaps, process);
    out
}

/// One family with one series per shard: `name{shard="N"} f(snapshot)`.
fn per_shard(
    out: &mut String,
    snaps: &[(usize, ShardSnapshot)],
    name: &str,
    help: &str,
    kind: &str,
    f: &dyn Fn(&ShardSnapshot) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (id, s) in snaps {
        let _ = writeln!(out, "{name}{{shard=\"{id}\"}} {}", f(s));
    }
}

/// The request-duration histogram, every shard's series merged, ordered by route, method and
/// status.
fn render_request_durations(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    let mut merged: hashbrown::HashMap<SeriesKey, Histogram, ahash::RandomState> =
        hashbrown::HashMap::default();
    for (_, s) in snaps {
        for (k, h) in &s.metrics.requests {
            merged.entry(*k).or_default().merge(h);
        }
    }
    let mut keys: Vec<&SeriesKey> = merged.keys().collect();
    keys.sort_by_key(|(m, r, s)| (r.index(), m.index(), *s));

    out.push_str("# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n# TYPE http_server_request_duration_seconds histogram\n");
    for k in keys {
        let h = &merged[k];
        let labels = format!(
            "http_request_method=\"{}\",http_route=\"{}\",http_response_status_code=\"{}\"",
            k.0.as_str(),
            k.1.template(),
            k.2
        );
        let mut cumulative = 0u64;
        for (i, b) in BUCKETS_S.iter().enumerate() {
            cumulative += h.counts[i];
            let _ = writeln!(
                out,
                "http_server_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
            );
        }
        cumulative += h.counts[BUCKETS_S.len()];
        let _ = writeln!(
            out,
            "http_server_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "http_server_request_duration_seconds_sum{{{labels}}} {}",
            h.sum_s
        );
        let _ = writeln!(
            out,
            "http_server_request_duration_seconds_count{{{labels}}} {cumulative}"
        );
    }
}

/// Requests in flight, connections and what the accept loop and access log did with them.
fn render_connections(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    per_shard(
        out,
        snaps,
        "campushub_active_requests",
        "Requests being handled.",
        "gauge",
        &|s| s.active_requests,
    );
    per_shard(
        out,
        snaps,
        "campushub_open_connections",
        "Open client connections.",
        "gauge",
        &|s| s.open_connections,
    );
    per_shard(
        out,
        snaps,
        "campushub_shard_requests_total",
        "Requests answered, per shard.",
        "counter",
        &|s| s.metrics.requests_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_connections_total",
        "Connections accepted, per shard.",
        "counter",
        &|s| s.metrics.connections_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_accept_backpressure_total",
        "Times a shard paused accepting at its connection cap.",
        "counter",
        &|s| s.metrics.backpressure_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_connections_parked_total",
        "Idle keep-alive connections that freed their buffers to wait for readiness alone.",
        "counter",
        &|s| s.metrics.parked_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_access_log_dropped_total",
        "Access-log lines dropped under pressure.",
        "counter",
        &|s| s.metrics.log_dropped_total,
    );
}

/// Each shard's hot caches: entries, hits and misses, one series per named cache.
fn render_caches(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    for (name, help, kind, f) in [
        (
            "campushub_cache_entries",
            "Entries in a shard's cache.",
            "gauge",
            (|c: &CacheStats| c.entries) as fn(&CacheStats) -> u64,
        ),
        (
            "campushub_cache_hits_total",
            "Lookups a shard's cache answered.",
            "counter",
            |c| c.hits,
        ),
        (
            "campushub_cache_misses_total",
            "Lookups that missed a shard's cache (and went to the database).",
            "counter",
            |c| c.misses,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (id, s) in snaps {
            for c in s.caches.iter().filter(|c| !c.name.is_empty()) {
                let _ = writeln!(
                    out,
                    "{name}{{shard=\"{id}\",cache=\"{}\"}} {}",
                    c.name,
                    f(c)
                );
            }
        }
    }
}

/// What the shards did besides answering: readiness checks, partition maintenance, coalesced
/// writes and reads, rate limiting, and the authorisation version they have seen.
fn render_shard_work(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    per_shard(
        out,
        snaps,
        "campushub_readiness_checks_total",
        "Readiness answers that checked the database, the replica and Redis (anonymous callers reuse a verdict under a second old).",
        "counter",
        &|s| s.metrics.readiness_checks_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_attendance_partitions_created_total",
        "Attendance partitions the daily maintenance created.",
        "counter",
        &|s| s.metrics.partitions_created_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_attendance_partitions_deferred",
        "Months that need an attendance partition and were left for a later run (at most campushub_db::partitions::MAX_CREATED_PER_RUN are made per run).",
        "gauge",
        &|s| s.metrics.partitions_deferred,
    );
    per_shard(
        out,
        snaps,
        "campushub_attendance_partition_maintenance_failures_total",
        "Daily attendance partition maintenance runs that failed.",
        "counter",
        &|s| s.metrics.partition_maintenance_failures_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_register_batches_total",
        "Coalesced attendance writes: statements holding one or more registers.",
        "counter",
        &|s| s.metrics.register_batches_total,
    );
    render_profile_reads(out, snaps);
    per_shard(
        out,
        snaps,
        "campushub_rate_limited_total",
        "Requests refused by a rate limit (429).",
        "counter",
        &|s| s.metrics.rate_limited_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_authz_version",
        "Highest authorisation version the shard has seen.",
        "gauge",
        &|s| s.authz_version.max(0) as u64,
    );
}

/// Coalesced student profile reads, and how the shared (Redis) level answered them.
fn render_profile_reads(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    per_shard(
        out,
        snaps,
        "campushub_profile_read_batches_total",
        "Coalesced student profile reads from PostgreSQL: statements holding one or more ids.",
        "counter",
        &|s| s.metrics.profile_read_batches_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_profile_reads_total",
        "Student profile reads answered by those statements (reads per statement: this over the batches).",
        "counter",
        &|s| s.metrics.profile_reads_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_profile_shared_hits_total",
        "Student profiles found in the shared (Redis) level after missing the shard's cache.",
        "counter",
        &|s| s.metrics.profile_shared_hits_total,
    );
    per_shard(
        out,
        snaps,
        "campushub_profile_shared_misses_total",
        "Student profiles looked up in the shared (Redis) level and read from PostgreSQL.",
        "counter",
        &|s| s.metrics.profile_shared_misses_total,
    );
}

/// The invalidation bus: publishes that failed, and (with Redis) the subscription.
fn render_invalidations(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    per_shard(
        out,
        snaps,
        "campushub_invalidation_publish_failures_total",
        "Invalidations that could not be published on Redis.",
        "counter",
        &|s| s.metrics.invalidation_publish_failures_total,
    );
    if snaps.iter().any(|(_, s)| s.bus.is_some()) {
        per_shard(
            out,
            snaps,
            "campushub_invalidation_subscribed",
            "1 while the shard's invalidation subscription is up.",
            "gauge",
            &|s| s.bus.map(|b| u64::from(b.live)).unwrap_or(0),
        );
        per_shard(
            out,
            snaps,
            "campushub_invalidations_received_total",
            "Invalidation messages applied from the bus.",
            "counter",
            &|s| s.bus.map(|b| b.received_total).unwrap_or(0),
        );
    }
}

/// The database pools (primary, and the replica where configured): connections by state,
/// their counters, fallbacks to the primary and the replica's lag.
fn render_database(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    let _ = writeln!(out, "# HELP campushub_db_pool_connections Database connections by pool and state.\n# TYPE campushub_db_pool_connections gauge");
    for (id, s) in snaps {
        let mut pools = vec![("primary", s.primary)];
        if let Some(r) = s.replica {
            pools.push(("replica", r));
        }
        for (pool, p) in pools {
            for (state, v) in [
                ("total", p.total),
                ("connected", p.connected),
                ("active", p.active),
                ("idle", p.idle),
                ("waiting", p.waiting),
            ] {
                let _ = writeln!(out, "campushub_db_pool_connections{{shard=\"{id}\",pool=\"{pool}\",state=\"{state}\"}} {v}");
            }
        }
    }
    render_pool_counters(out, snaps);
    per_shard(
        out,
        snaps,
        "campushub_db_replica_fallbacks_total",
        "Analytics queries sent to the primary because the replica was down.",
        "counter",
        &|s| s.replica_fallbacks,
    );
    render_replica_lag(out, snaps);
}

/// Each pool's counters: connects, timeouts, stalls, refusals.
fn render_pool_counters(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    for (name, help, f) in [
        (
            "campushub_db_connects_total",
            "Database connections established.",
            (|p: &PoolStats| p.connects_total) as fn(&PoolStats) -> u64,
        ),
        (
            "campushub_db_timeouts_total",
            "Statements that hit the statement timeout.",
            |p: &PoolStats| p.timeouts_total,
        ),
        (
            "campushub_db_stalls_total",
            "Database connections closed because they answered nothing for a whole statement timeout.",
            |p: &PoolStats| p.stalls_total,
        ),
        (
            "campushub_db_unavailable_total",
            "Requests refused because no database connection was up.",
            |p: &PoolStats| p.unavailable_total,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (id, s) in snaps {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{id}\",pool=\"primary\"}} {}",
                f(&s.primary)
            );
            if let Some(r) = &s.replica {
                let _ = writeln!(out, "{name}{{shard=\"{id}\",pool=\"replica\"}} {}", f(r));
            }
        }
    }
}

/// The replica's replay lag, for the shards that have a replica (NaN when unmeasured).
fn render_replica_lag(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    if snaps.iter().any(|(_, s)| s.replica.is_some()) {
        let _ = writeln!(out, "# HELP campushub_db_replica_lag_seconds Replica replay lag as last measured (NaN when unreachable).\n# TYPE campushub_db_replica_lag_seconds gauge");
        for (id, s) in snaps {
            if s.replica.is_some() {
                let lag = s
                    .replica_lag_s
                    .map_or_else(|| "NaN".to_string(), |l| l.to_string());
                let _ = writeln!(
                    out,
                    "campushub_db_replica_lag_seconds{{shard=\"{id}\"}} {lag}"
                );
            }
        }
    }
}

/// Each shard's Redis connection, where Redis is configured.
fn render_redis(out: &mut String, snaps: &[(usize, ShardSnapshot)]) {
    if snaps.iter().any(|(_, s)| s.redis.is_some()) {
        per_shard(
            out,
            snaps,
            "campushub_redis_connected",
            "1 when the shard's Redis connection is up.",
            "gauge",
            &|s| s.redis.map(|r| u64::from(r.connected)).unwrap_or(0),
        );
        per_shard(
            out,
            snaps,
            "campushub_redis_connects_total",
            "Redis connections established.",
            "counter",
            &|s| s.redis.map(|r| r.connects_total).unwrap_or(0),
        );
        per_shard(
            out,
            snaps,
            "campushub_redis_errors_total",
            "Redis commands that failed or timed out.",
            "counter",
            &|s| s.redis.map(|r| r.errors_total).unwrap_or(0),
        );
    }
}

/// The process: build, driver and shards, draining, memory and uptime.
fn render_process(out: &mut String, snaps: &[(usize, ShardSnapshot)], process: ProcessInfo) {
    let driver = snaps.first().map(|(_, s)| s.driver).unwrap_or("unknown");
    let _ = writeln!(
        out,
        "# HELP campushub_build_info Build and runtime information.\n# TYPE campushub_build_info gauge\ncampushub_build_info{{version=\"{}\",driver=\"{driver}\",shards=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        process.shards
    );
    let _ = writeln!(out, "# HELP campushub_draining 1 while shutting down.\n# TYPE campushub_draining gauge\ncampushub_draining {}", u8::from(process.draining));
    let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}", process.rss_bytes);
    let _ = writeln!(out, "# HELP campushub_uptime_seconds Seconds since the server started.\n# TYPE campushub_uptime_seconds gauge\ncampushub_uptime_seconds {:.3}", process.uptime_s);
}

/// Resident memory of this process, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets() {
        let mut m = ShardMetrics::default();
        m.observe(Method::Get, Route::Healthz, 200, Duration::from_micros(50));
        m.observe(Method::Get, Route::Healthz, 200, Duration::from_millis(2));
        let snap = ShardSnapshot {
            metrics: m,
            driver: "io_uring",
            ..ShardSnapshot::default()
        };
        let text = render(
            &[(0, snap)],
            ProcessInfo {
                uptime_s: 1.0,
                rss_bytes: 1,
                shards: 1,
                draining: false,
            },
        );
        assert!(text.contains("http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_route=\"/healthz\",http_response_status_code=\"200\",le=\"0.0001\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("campushub_shard_requests_total{shard=\"0\"} 2"));
        assert!(text.contains("campushub_build_info{"));
    }
}
