//! A shard's state: everything one core owns (database clients, Redis connection, caches,
//! limiters, metrics, access log), built inside its thread by `server.rs` and `!Send` (`Rc`,
//! `Cell`, `RefCell`). What runs a shard (threads, runtimes, the accept loop, background tasks)
//! is `server.rs`'s; this module names nothing above the state it holds.

pub mod coalesce;
pub mod profiles;
pub mod registers;
pub mod timers;

use std::cell::{Cell, OnceCell, RefCell};

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use campushub_cache::{Invalidation, InvalidationBus, Message, ShardCache, ShardRedis};
use campushub_db::ShardDb;

use crate::access_log::{self, AccessLog};
use crate::config::Config;
use crate::http::date::DateCache;
use crate::http::HeadLimits;
use crate::metrics::{CacheStats, MetricsBoard, ShardMetrics, ShardSnapshot};
use crate::request_id::RequestIds;
use crate::shutdown::Shutdown;
use timers::Timers;

/// Everything one shard owns.
pub struct Shard {
    /// Shard number (also the thread name suffix).
    pub id: usize,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Cached `Date` header.
    pub date: Rc<DateCache>,
    /// PostgreSQL clients.
    pub db: ShardDb,
    /// Redis connection, when configured.
    pub redis: Option<Rc<ShardRedis>>,
    /// Counters.
    pub metrics: RefCell<ShardMetrics>,
    /// Access log buffer.
    pub log: Rc<AccessLog>,
    /// Connection deadlines and the shard-local drain signal.
    pub timers: Rc<Timers>,
    /// Process-wide shutdown flag.
    pub shutdown: Arc<Shutdown>,
    /// Open connections.
    pub open_connections: Cell<u64>,
    /// Requests being handled.
    pub active_requests: Cell<u64>,
    /// Request id generator.
    pub ids: RefCell<RequestIds>,
    /// Where snapshots are published for `/metrics`.
    pub board: Arc<MetricsBoard>,
    /// Process start.
    pub started: Instant,
    /// `io_uring` or `epoll`.
    pub driver: &'static str,
    /// Head parsing limits.
    pub limits: HeadLimits,
    /// The security headers every response carries (built once from the config).
    pub security_headers: Vec<u8>,
    /// This shard's side of the password-hashing pool.
    pub passwords: crate::auth::passwords::ShardPasswords,
    /// JWT keys (the configured ones, or this process's random key).
    pub keys: Arc<crate::auth::tokens::KeySet>,
    /// Verified access tokens.
    pub tokens: RefCell<crate::auth::tokens::TokenCache>,
    /// Principals (grants and account state) by user id.
    pub principals: RefCell<crate::auth::access::PrincipalCache>,
    /// The invalidation subscription, when Redis is configured (started with the shard).
    pub bus: OnceCell<Rc<InvalidationBus>>,
    /// Highest authorisation version seen (applied here or received from the bus).
    pub authz_version: Cell<i64>,
    /// Counts the invalidations applied to the campus caches (profiles, rosters, list pages,
    /// results). A reader notes it before reading PostgreSQL or Redis and caches what it read
    /// only if it has not moved: a read that began before a change and ended after its
    /// invalidation would otherwise put the old data back for an entry's whole life.
    pub cache_epoch: Cell<u64>,
    /// The readiness verdict anonymous callers get, and when it was taken: refreshed at most
    /// once a second (`handlers::health::readyz`).
    pub readiness: Cell<Option<(Instant, Verdict)>>,
    /// Today where the institution is (days since 1970-01-01), and when PostgreSQL said so:
    /// asked again after [`TODAY_TTL`], so a change of date or of time zone shows within it.
    pub today: Cell<Option<(Instant, i32)>>,
    /// Verified API keys, and those used since the last batch was recorded.
    pub api_keys: RefCell<crate::auth::api_keys::KeyCache>,
    /// Public ids of orgs by row id (they never change).
    pub org_ids: RefCell<hashbrown::HashMap<i64, uuid::Uuid, ahash::RandomState>>,
    /// Rate-limit state.
    pub limiters: crate::ratelimit::ShardLimiters,
    /// Department summaries (encoded), each kept `summary_cache` (60 s by default): the
    /// figures are aggregates of a month's attendance, and computing one costs tens of ms.
    pub summaries: RefCell<campushub_cache::LocalCache<uuid::Uuid, Rc<[u8]>>>,
    /// Attendance registers waiting for the shard's next coalesced write.
    pub registers: registers::Registers,
    /// Student profile reads that missed every cache, waiting for the next coalesced read.
    pub profile_reads: profiles::ProfileReads,
    /// The other end of `profile_reads`, until the shard's reader task takes it.
    pub profile_queue: RefCell<Option<profiles::Queue>>,
    /// The other end of `registers`, until the shard's writer task takes it.
    pub register_queue: RefCell<Option<registers::Queue>>,
    /// Class rosters: the (users.id, public id) of each class's students, by name; dropped on
    /// every shard of every instance when someone enrolls or leaves.
    pub rosters: RefCell<campushub_cache::LocalCache<i64, Roster>>,
    /// Hot student profiles, encoded.
    pub students: RefCell<campushub_cache::LocalCache<uuid::Uuid, Rc<CachedStudent>>>,
    /// Pages of the student list: the (users.id, public id) of each page, by its query (filters,
    /// the caller's department scope, cursor and limit). Dropped whole on every shard of every
    /// instance when any student is created or changed, so a page is never staler than the
    /// invalidation bus; the profiles themselves come from `students`.
    pub student_pages: RefCell<campushub_cache::LocalCache<String, Roster>>,
    /// Students' published results as they and their guardians read them (the encoded array,
    /// by users.id). Dropped whole on every shard of every instance when any result or line
    /// item changes: results are read all term and written in a few sittings.
    pub results: RefCell<campushub_cache::LocalCache<i64, ResultRows>>,
    /// The active attendance codes of each department's classes (the institution's and the
    /// department's, encoded), by department. Codes change a few times a year, through
    /// `PUT /api/v1/attendance-codes/{code}`: entries live `cache_ttl` and go with
    /// `Invalidation::Codes` (and `All`).
    pub codes: RefCell<campushub_cache::LocalCache<i64, Rc<str>>>,
}

/// A student profile as the shard's cache keeps it: what access checks need, and the encoded
/// body (shard state, so that it does not depend on the handler that fills it).
#[derive(Debug)]
pub struct CachedStudent {
    /// users.id.
    pub id: i64,
    /// orgs.id of the student's department.
    pub department_id: i64,
    /// Microseconds of the last change: the version in the profile's ETag.
    pub version: i64,
    /// The profile, encoded once.
    pub json: Rc<[u8]>,
}

/// What anonymous callers of `/readyz` are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything answers.
    Ready,
    /// The database answers; Redis or the replica does not.
    Degraded,
    /// The database does not answer.
    DatabaseDown,
}

/// How long a shard trusts the date it asked PostgreSQL for (`Shard::today`).
pub const TODAY_TTL: Duration = Duration::from_secs(10);

/// A student's results as the results cache keeps them: (line item row id, document), in line
/// item order.
pub type ResultRows = Rc<[(i64, String)]>;

/// A list of students as the roster and page caches keep them: (users.id, public id), in the
/// list's order.
pub type Roster = Rc<[(i64, uuid::Uuid)]>;

impl Shard {
    /// How long this shard may keep what it just loaded: long while its invalidation bus is
    /// live, short while it is down (`auth::access::cache_ttl`).
    pub fn cache_ttl(&self) -> Duration {
        crate::auth::access::cache_ttl(self.bus.get().is_some_and(|b| b.live()))
    }

    /// Every cache of this shard, by name: the one place a cache is listed (readiness,
    /// metrics and clearing everything follow from it).
    pub fn caches(&self) -> Vec<(&'static str, &RefCell<dyn ShardCache>)> {
        let caches: &[(&'static str, &RefCell<dyn ShardCache>)] = &[
            ("tokens", &self.tokens),
            ("principals", &self.principals),
            ("api_keys", &self.api_keys),
            ("students", &self.students),
            ("summaries", &self.summaries),
            ("rosters", &self.rosters),
            ("student_pages", &self.student_pages),
            ("results", &self.results),
            ("codes", &self.codes),
        ];
        caches.to_vec()
    }

    /// Each cache's figures: entries, hits and misses.
    pub fn cache_stats(&self) -> Vec<CacheStats> {
        self.caches()
            .iter()
            .map(|(name, c)| {
                let (entries, hits, misses) = c.borrow().figures();
                CacheStats::of(name, entries, (hits, misses))
            })
            .collect()
    }

    /// The shard's current snapshot.
    pub fn snapshot(&self) -> ShardSnapshot {
        let mut metrics = self.metrics.borrow().clone();
        metrics.log_dropped_total = self.log.dropped();
        metrics.rate_limited_total = self.limiters.refused_total();
        ShardSnapshot {
            metrics,
            active_requests: self.active_requests.get(),
            open_connections: self.open_connections.get(),
            primary: self.db.primary().stats(),
            replica: self.db.replica().map(|r| r.stats()),
            replica_fallbacks: self.db.replica_fallbacks(),
            replica_lag_s: self.db.replica_lag().map(|d| d.as_secs_f64()),
            redis: self.redis.as_ref().map(|r| r.stats()),
            caches: self.cache_stats(),
            bus: self.bus.get().map(|b| b.stats()),
            authz_version: self.authz_version.get(),
            driver: self.driver,
        }
    }

    /// Publishes the current snapshot.
    pub fn publish(&self) {
        self.board.publish(self.id, self.snapshot());
    }

    /// Drops what `msg` made stale from this shard's caches.
    pub fn apply(&self, msg: &Message) {
        if msg.version > self.authz_version.get() {
            self.authz_version.set(msg.version);
        }
        if matches!(
            msg.what,
            Invalidation::Student(_)
                | Invalidation::Class(_)
                | Invalidation::Results(_)
                | Invalidation::Codes
                | Invalidation::All
        ) {
            self.cache_epoch.set(self.cache_epoch.get() + 1);
        }
        match &msg.what {
            Invalidation::User(id) => {
                self.principals.borrow_mut().forget(*id);
                // Their keys act with their rights and account state: look them up again.
                self.api_keys.borrow_mut().forget_owner(*id);
            }
            // Who holds a role is not indexed per shard; role changes are rare.
            Invalidation::Role(_) => {
                self.principals.borrow_mut().clear();
                self.api_keys.borrow_mut().clear();
            }
            // Keys are cached by their bytes, not their id; revocations are rare.
            Invalidation::ApiKey(_) => self.api_keys.borrow_mut().clear(),
            Invalidation::Class(id) => {
                self.rosters.borrow_mut().remove(id);
            }
            // Which students a class's results concern is not kept per shard: all go.
            Invalidation::Results(_) => self.results.borrow_mut().clear(),
            // A student who is new, renamed, moved or deactivated may enter, leave or move
            // within any page: every page goes.
            Invalidation::Student(id) => {
                if let Ok(id) = uuid::Uuid::try_parse(id) {
                    self.students.borrow_mut().remove(&id);
                }
                self.student_pages.borrow_mut().clear();
            }
            Invalidation::Codes => self.codes.borrow_mut().clear(),
            Invalidation::All => {
                for (_, cache) in self.caches() {
                    cache.borrow_mut().drop_all();
                }
            }
        }
    }

    /// A change was committed: drop what it made stale here at once, and tell every other
    /// shard of every instance. Without Redis (or when publishing fails) the others catch up
    /// within `auth::access::FALLBACK_TTL`; the change itself is already durable.
    pub async fn invalidate(&self, msg: Message) {
        self.apply(&msg);
        let Some(redis) = &self.redis else {
            return;
        };
        if let Err(e) = campushub_cache::bus::publish(redis, &msg).await {
            self.metrics
                .borrow_mut()
                .invalidation_publish_failures_total += 1;
            access_log::event(
                "warn",
                "invalidation not published; other shards catch up by expiry",
                &[("message", msg.encode()), ("detail", e.to_string())],
            );
        }
    }
}
