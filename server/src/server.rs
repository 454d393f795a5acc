//! The spawner: one `shard-N` thread per core, pinned, each with its own monoio runtime (the
//! ring flags `CAMPUSHUB_RING_MODE` asks for, epoll where io_uring is refused), its listener,
//! its `Shard` built inside the thread, the shard's background tasks (the invalidation bus,
//! timers, partition maintenance on shard 0) and the accept loop with its connection cap and
//! drain. Only the validated config, the shutdown flag, the metrics board and the password
//! pool cross threads.

use std::cell::{Cell, OnceCell, RefCell};
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use campushub_cache::{InvalidationBus, RedisTarget, ShardRedis};
use campushub_db::{ShardDb, ShardDbConfig};
use futures_util::FutureExt;

use crate::access_log::{self, AccessLog};
use crate::config::{Config, DriverChoice, RingMode};
use crate::http::date::DateCache;
use crate::http::HeadLimits;
use crate::metrics::{MetricsBoard, ShardMetrics};
use crate::request_id::RequestIds;
use crate::shard::timers::Timers;
use crate::shard::Shard;
use crate::shard::{profiles, registers};
use crate::shutdown::Shutdown;

/// Process-wide handles given to every shard thread.
#[derive(Clone)]
struct Shared {
    passwords: Arc<crate::auth::passwords::PasswordPool>,
    keys: Arc<crate::auth::tokens::KeySet>,
    config: Arc<Config>,
    shutdown: Arc<Shutdown>,
    board: Arc<MetricsBoard>,
    started: Instant,
}

/// Binds, starts every shard, and blocks until they have all drained.
pub fn run(config: Config, shutdown: Arc<Shutdown>) -> Result<(), String> {
    if let Some(dir) = &config.docs_dir {
        crate::handlers::docs::load(dir)?;
    }
    let (listeners, bound) = crate::net::listener::bind_all(config.listen, config.shards)?;
    let shards = listeners.len();
    let passwords = crate::auth::passwords::PasswordPool::start(
        config.password_threads as usize,
        config.password_queue as usize,
    )
    .map_err(|e| format!("could not start the password threads: {e}"))?;
    let keys = Arc::new(match &config.jwt_keys {
        Some(k) => k.clone(),
        None => {
            access_log::event(
                "warn",
                "CAMPUSHUB_JWT_KEYS is not set: tokens are signed with a random key of this process, lost on restart and unknown to other instances",
                &[],
            );
            crate::auth::tokens::KeySet::ephemeral()
        }
    });
    let shared = Shared {
        passwords,
        keys,
        config: Arc::new(config),
        shutdown,
        board: Arc::new(MetricsBoard::new(shards)),
        started: Instant::now(),
    };
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<&'static str, String>>();
    let mut threads = Vec::with_capacity(shards);
    for (id, listener) in listeners.into_iter().enumerate() {
        let shared = shared.clone();
        let core = if shared.config.pin_cores && !cores.is_empty() {
            Some(cores[id % cores.len()])
        } else {
            None
        };
        let ready = ready_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || shard_thread(id, core, listener, shared, ready))
            .map_err(|e| format!("could not start shard-{id}: {e}"))?;
        threads.push(handle);
    }
    drop(ready_tx);

    let mut drivers = Vec::new();
    let mut failure = None;
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(driver)) => drivers.push(driver),
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert_with(|| "a shard exited during start-up".into());
            }
        }
    }
    if let Some(e) = failure {
        shared.shutdown.start();
        for t in threads {
            let _ = t.join();
        }
        return Err(e);
    }
    access_log::event(
        "info",
        "listening",
        &[
            ("addr", bound.to_string()),
            ("url", format!("http://{bound}")),
            ("shards", shards.to_string()),
            (
                "driver",
                drivers.first().copied().unwrap_or("unknown").to_string(),
            ),
            ("statements", shared.config.statements.as_str().to_string()),
        ],
    );
    let mut panicked = false;
    for t in threads {
        panicked |= t.join().is_err();
    }
    access_log::event("info", "stopped", &[]);
    if panicked {
        return Err("a shard thread panicked".into());
    }
    Ok(())
}

fn shard_thread(
    id: usize,
    core: Option<core_affinity::CoreId>,
    listener: TcpListener,
    shared: Shared,
    ready: mpsc::Sender<Result<&'static str, String>>,
) {
    let pinned = core.map(core_affinity::set_for_current).unwrap_or(false);
    let runtime = build_runtime(&shared.config);
    let mut runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("shard-{id}: could not build its runtime: {e}")));
            return;
        }
    };
    let driver = match &runtime {
        monoio::FusionRuntime::Uring(_) => "io_uring",
        monoio::FusionRuntime::Legacy(_) => "epoll",
    };
    access_log::event(
        "info",
        "shard started",
        &[
            ("shard", id.to_string()),
            ("driver", driver.to_string()),
            (
                "core",
                core.map(|c| c.id.to_string())
                    .unwrap_or_else(|| "none".into()),
            ),
            ("pinned", pinned.to_string()),
        ],
    );
    runtime.block_on(async move {
        let listener = match monoio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(format!("shard-{id}: listener: {e}")));
                return;
            }
        };
        let shard = match build_shard(id, &shared, driver) {
            Ok(s) => Rc::new(s),
            Err(e) => {
                let _ = ready.send(Err(format!("shard-{id}: {e}")));
                return;
            }
        };
        let _ = ready.send(Ok(driver));
        drop(ready);
        serve(shard, listener).await;
    });
}

type ShardRuntime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

/// Builds the shard's runtime: io_uring with the configured task-running flags, or epoll when
/// io_uring is not allowed here (FusionDriver decides) or not wanted (`driver = epoll`).
fn build_runtime(config: &Config) -> std::io::Result<ShardRuntime> {
    if config.driver == DriverChoice::Epoll {
        return monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map(Into::into);
    }
    let build = |mode: RingMode| {
        let mut uring = io_uring::IoUring::builder();
        match mode {
            // DEFER_TASKRUN runs completion work only when the shard asks for events, never by
            // interrupting it. Measured on the 2-core dev box (one shard, wrk -c64, /healthz,
            // 3 alternating runs each): 7.21 us of server CPU per request against 8.17 us with
            // COOP_TASKRUN, and 10-15% more requests per second.
            RingMode::Defer => {
                uring.setup_single_issuer().setup_defer_taskrun();
            }
            RingMode::Coop => {
                uring.setup_coop_taskrun().setup_taskrun_flag();
            }
        }
        monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .with_entries(config.ring_entries)
            .uring_builder(uring)
            .enable_timer()
            .build()
    };
    match build(config.ring_mode) {
        // Kernels before 6.1 refuse DEFER_TASKRUN; COOP_TASKRUN is the next best thing.
        Err(e) if config.ring_mode == RingMode::Defer => {
            access_log::event(
                "warn",
                "io_uring refused DEFER_TASKRUN; using COOP_TASKRUN",
                &[("detail", e.to_string())],
            );
            build(RingMode::Coop)
        }
        other => other,
    }
}

fn build_shard(id: usize, shared: &Shared, driver: &'static str) -> Result<Shard, String> {
    let passwords = crate::auth::passwords::ShardPasswords::start(Arc::clone(&shared.passwords))
        .map_err(|e| format!("password inbox: {e}"))?;
    let config = &shared.config;
    let db = ShardDb::start(&ShardDbConfig {
        primary: config.database.clone(),
        replica: config.replica.clone(),
        mode: config.statements,
        connections: config.db_connections_per_shard,
        statement_timeout: config.statement_timeout,
        application_name: format!("campushub shard-{id}"),
        replica_max_lag: config.replica_max_lag,
    });
    let redis = config.redis_url.as_ref().and_then(|u| {
        // Validated in Config; a failure here would be a bug, reported and survived.
        match RedisTarget::parse(u.expose()) {
            Ok(t) => Some(ShardRedis::start(t, config.statement_timeout)),
            Err(e) => {
                access_log::event("error", "redis url", &[("detail", e)]);
                None
            }
        }
    });
    let seed = (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ shared.started.elapsed().as_nanos() as u64;
    let (registers, register_queue) = registers::Registers::new(config.statement_timeout);
    let (profile_reads, profile_queue) = profiles::ProfileReads::new(config.statement_timeout);
    Ok(Shard {
        registers,
        register_queue: RefCell::new(Some(register_queue)),
        profile_reads,
        profile_queue: RefCell::new(Some(profile_queue)),
        passwords,
        keys: Arc::clone(&shared.keys),
        tokens: RefCell::new(crate::auth::tokens::TokenCache::new(100_000)),
        principals: RefCell::new(crate::auth::access::PrincipalCache::new(100_000)),
        bus: OnceCell::new(),
        limiters: crate::ratelimit::ShardLimiters::default(),
        org_ids: RefCell::new(hashbrown::HashMap::default()),
        api_keys: RefCell::new(crate::auth::api_keys::KeyCache::new(10_000)),
        authz_version: Cell::new(0),
        cache_epoch: Cell::new(0),
        readiness: Cell::new(None),
        today: Cell::new(None),
        summaries: RefCell::new(campushub_cache::LocalCache::new(1_000)),
        students: RefCell::new(campushub_cache::LocalCache::new(
            config.profile_cache_entries.max(1) as usize,
        )),
        rosters: RefCell::new(campushub_cache::LocalCache::new(10_000)),
        student_pages: RefCell::new(campushub_cache::LocalCache::new(10_000)),
        codes: RefCell::new(campushub_cache::LocalCache::new(1_000)),
        results: RefCell::new(campushub_cache::LocalCache::new(
            config.profile_cache_entries.max(1) as usize,
        )),
        id,
        config: Arc::clone(config),
        date: DateCache::new(),
        db,
        redis,
        metrics: RefCell::new(ShardMetrics::default()),
        log: AccessLog::new(config.access_log_sample, seed),
        timers: Timers::new(),
        shutdown: Arc::clone(&shared.shutdown),
        open_connections: Cell::new(0),
        active_requests: Cell::new(0),
        ids: RefCell::new(RequestIds::new()),
        board: Arc::clone(&shared.board),
        started: shared.started,
        driver,
        security_headers: crate::http::response::security_headers(config.hsts),
        limits: HeadLimits {
            max_head_bytes: config.max_header_bytes,
            max_uri_bytes: config.max_uri_bytes,
        },
    })
}

/// Once a day (first a minute after start), shard 0 makes sure attendance partitions exist
/// for this month and the next three, on its own short-lived connection.
async fn maintain_partitions(shard: Rc<Shard>) {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    monoio::time::sleep(Duration::from_secs(60)).await;
    loop {
        let result = async {
            let (client, task) = campushub_db::connect(
                &shard.config.database,
                "campushub maintenance",
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| e.to_string())?;
            let driver = monoio::spawn(task);
            let month = campushub_db::partitions::current_month(&client)
                .await
                .map_err(|e| e.to_string())?;
            let report = campushub_db::partitions::maintain(&client, month, 3)
                .await
                .map_err(|e| e.to_string());
            drop(client);
            let _ = driver.await;
            report
        }
        .await;
        match result {
            Ok(report) => {
                {
                    let mut m = shard.metrics.borrow_mut();
                    m.partitions_created_total += report.created.len() as u64;
                    m.partitions_deferred = report.deferred.len() as u64;
                }
                let months = |v: &[campushub_db::partitions::Month]| {
                    v.iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                // Deferred months are a warning: rows wait in the default partition, and
                // something wrote dates far from today.
                access_log::event(
                    if report.deferred.is_empty() {
                        "info"
                    } else {
                        "warn"
                    },
                    "attendance partitions maintained",
                    &[
                        (
                            "created",
                            report
                                .created
                                .iter()
                                .map(|(m, moved)| format!("{m} (moved {moved})"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        ("existing", report.existing.len().to_string()),
                        ("deferred", months(&report.deferred)),
                        (
                            "limit_per_run",
                            campushub_db::partitions::MAX_CREATED_PER_RUN.to_string(),
                        ),
                    ],
                )
            }
            Err(e) => {
                shard
                    .metrics
                    .borrow_mut()
                    .partition_maintenance_failures_total += 1;
                access_log::event(
                    "warn",
                    "attendance partition maintenance failed",
                    &[("detail", e)],
                )
            }
        }
        monoio::time::sleep(DAY).await;
    }
}

/// The shard's main task: background tasks, the accept loop, then draining.
async fn serve(shard: Rc<Shard>, listener: monoio::net::TcpListener) {
    if let Some(url) = &shard.config.redis_url {
        if let Ok(target) = RedisTarget::parse(url.expose()) {
            let weak = Rc::downgrade(&shard);
            let bus = InvalidationBus::start(target, shard.config.statement_timeout, move |msg| {
                if let Some(shard) = weak.upgrade() {
                    shard.apply(&msg);
                }
            });
            let _ = shard.bus.set(bus);
        }
    }
    monoio::spawn(Rc::clone(&shard.date).run());
    {
        let shard = Rc::clone(&shard);
        monoio::spawn(async move {
            loop {
                monoio::time::sleep(crate::auth::api_keys::TOUCH_INTERVAL).await;
                crate::auth::api_keys::record_use(&shard.api_keys, shard.db.primary()).await;
            }
        });
    }
    if let Some(queue) = shard.register_queue.borrow_mut().take() {
        monoio::spawn(registers::run(Rc::clone(&shard), queue));
    }
    if let Some(queue) = shard.profile_queue.borrow_mut().take() {
        monoio::spawn(profiles::run(Rc::clone(&shard), queue));
    }
    monoio::spawn(Rc::clone(&shard.log).run());
    {
        let shard = Rc::clone(&shard);
        monoio::spawn(async move {
            loop {
                shard.publish();
                monoio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    {
        // Drain once SIGTERM has been seen and the configured delay has passed; until then
        // the shard keeps serving while /readyz answers 503.
        let shutdown = Arc::clone(&shard.shutdown);
        let delay = shard.config.drain_delay;
        let seen: Cell<Option<Instant>> = Cell::new(None);
        monoio::spawn(Rc::clone(&shard.timers).run(move || {
            if !shutdown.is_draining() {
                return false;
            }
            let since = seen.get().unwrap_or_else(|| {
                let now = Instant::now();
                seen.set(Some(now));
                now
            });
            since.elapsed() >= delay
        }));
    }

    if shard.id == 0 {
        monoio::spawn(maintain_partitions(Rc::clone(&shard)));
    }

    let cap = u64::from(shard.config.max_connections_per_shard);
    let drain = shard.timers.slot();
    drain.arm(None, true);
    loop {
        if shard.open_connections.get() >= cap {
            shard.metrics.borrow_mut().backpressure_total += 1;
            while shard.open_connections.get() >= cap && !shard.timers.is_draining() {
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let accepted = monoio::select! {
            r = listener.accept() => Some(r),
            _ = drain.wait() => None,
        };
        match accepted {
            Some(Ok((stream, peer))) => {
                shard.metrics.borrow_mut().connections_total += 1;
                let open = crate::net::conn::OpenConnection::new(&shard);
                let conn = crate::net::conn::serve(Rc::clone(&shard), stream, open, peer.ip());
                let id = shard.id;
                monoio::spawn(async move {
                    // A bug in one connection must not take the shard (and every other
                    // connection on it) down with it.
                    if AssertUnwindSafe(conn).catch_unwind().await.is_err() {
                        access_log::event(
                            "error",
                            "connection task panicked",
                            &[("shard", id.to_string())],
                        );
                    }
                });
            }
            Some(Err(e)) => {
                // EMFILE and friends: back off briefly instead of spinning.
                access_log::event(
                    "warn",
                    "accept failed",
                    &[("shard", shard.id.to_string()), ("detail", e.to_string())],
                );
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
            None => break,
        }
    }
    drop(listener);

    // Draining: connections finish what they are doing and close; idle ones close now.
    let deadline = Instant::now() + shard.config.shutdown_grace;
    while shard.open_connections.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = shard.open_connections.get();
    access_log::event(
        "info",
        "shard drained",
        &[
            ("shard", shard.id.to_string()),
            ("connections_left", left.to_string()),
        ],
    );
    shard.publish();
    shard.log.flush();
}
