//! `/healthz` (liveness, no I/O, open to all), `/readyz` (dependencies: a bare verdict for
//! anyone, the details for operators) and `/metrics` (operators only). An operator is a
//! request carrying `Authorization: Bearer <CAMPUSHUB_OPS_TOKEN>`, or, while no token is
//! configured, any loopback connection: pool figures, memory and database error text are a
//! map for an attacker, and nothing a balancer's health check needs. Anyone else gets a
//! verdict at most a second old (taken with real checks, then reused), and is rate limited
//! per address: anonymous readiness checks cannot make the server ping PostgreSQL, the
//! replica and Redis at the rate they arrive.

use serde::Serialize;

use super::Request;
use crate::api_error::ApiError;
use crate::http::response::PROMETHEUS;
use crate::http::{Body, Response};
use crate::metrics::{self, ProcessInfo};
use crate::shard::{Shard, Verdict};

/// Liveness: the shard's event loop answers. No I/O.
pub async fn healthz(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    Ok(Response::static_json(200, b"{\"status\":\"ok\"}"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PoolView {
    total: u32,
    connected: u32,
    active: u32,
    idle: u32,
    waiting: u32,
}

#[derive(Serialize, Default, utoipa::ToSchema)]
pub(crate) struct Check {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<PoolView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_s: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Checks {
    database: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<Check>,
    redis: Check,
}

/// `/readyz` for operators; anyone else gets `status` alone (`ready` or `degraded`), and a
/// server that is not ready answers 503 with a problem.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ready`, `degraded` (Redis or the replica is down: still serving) or `not_ready`.
    status: &'static str,
    #[schema(required = false)]
    draining: bool,
    /// The shard that answered.
    #[schema(required = false)]
    shard: usize,
    /// The I/O driver: `io_uring` or `legacy`.
    #[schema(required = false)]
    driver: &'static str,
    #[schema(required = false)]
    uptime_s: f64,
    #[schema(required = false)]
    checks: Checks,
    #[schema(required = false)]
    cache: CacheView,
    #[schema(required = false)]
    memory: MemoryView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CacheView {
    /// Entries of every cache of the answering shard.
    entries: u64,
    /// Entries per cache.
    caches: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MemoryView {
    rss_bytes: u64,
}

async fn pool_check(pool: &campushub_db::Pool) -> Check {
    let result = pool.ping().await;
    let s = pool.stats();
    let view = PoolView {
        total: s.total,
        connected: s.connected,
        active: s.active,
        idle: s.idle,
        waiting: s.waiting,
    };
    match result {
        Ok(d) => Check {
            status: "up",
            latency_ms: Some(d.as_secs_f64() * 1e3),
            pool: Some(view),
            ..Check::default()
        },
        Err(e) => Check {
            status: "down",
            pool: Some(view),
            error: Some(pool.last_error().unwrap_or_else(|| e.to_string())),
            ..Check::default()
        },
    }
}

/// How long an anonymous caller's verdict is reused.
const VERDICT_TTL: std::time::Duration = std::time::Duration::from_secs(1);

fn verdict_answer(v: Verdict) -> Result<Response, ApiError> {
    match v {
        Verdict::Ready => Ok(Response::json(200, b"{\"status\":\"ready\"}".to_vec())
            .with_header("Cache-Control", "no-store")),
        Verdict::Degraded => Ok(Response::json(200, b"{\"status\":\"degraded\"}".to_vec())
            .with_header("Cache-Control", "no-store")),
        Verdict::DatabaseDown => Err(ApiError::NotReady("The database does not answer.", None)),
    }
}

/// Readiness: 200 when the database answers and the server is not draining; 503
/// (problem+json) otherwise. Redis or replica trouble is reported as `degraded` (the server
/// still serves). Only operators see the checks, and only they make every call check; others
/// get the shard's last verdict while it is under a second old (draining is always live: a
/// balancer must see it at once).
pub async fn readyz(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let draining = shard.shutdown.is_draining();
    let operator = crate::auth::caller::operator(shard, req);
    let now = std::time::Instant::now();
    if !operator {
        if draining {
            return Err(ApiError::NotReady("The server is shutting down.", None));
        }
        if let Some((at, v)) = shard.readiness.get() {
            if now.duration_since(at) < VERDICT_TTL {
                return verdict_answer(v);
            }
            // Callers that arrive while this one checks reuse the last verdict.
            shard.readiness.set(Some((now, v)));
        }
    }
    shard.metrics.borrow_mut().readiness_checks_total += 1;
    let database = pool_check(shard.db.primary()).await;
    let replica = match shard.db.replica() {
        Some(r) => {
            let mut check = pool_check(r).await;
            check.lag_s = shard.db.replica_lag().map(|d| d.as_secs_f64());
            Some(check)
        }
        None => None,
    };
    let redis = match &shard.redis {
        None => Check {
            status: "disabled",
            connected: Some(false),
            ..Check::default()
        },
        Some(r) => match r.ping().await {
            Ok(d) => Check {
                status: "up",
                latency_ms: Some(d.as_secs_f64() * 1e3),
                connected: Some(true),
                ..Check::default()
            },
            Err(e) => Check {
                status: "down",
                connected: Some(r.connected()),
                error: Some(e.to_string()),
                ..Check::default()
            },
        },
    };
    let db_up = database.status == "up";
    let degraded = redis.status == "down" || replica.as_ref().is_some_and(|r| r.status == "down");
    let status = if draining || !db_up {
        "not_ready"
    } else if degraded {
        "degraded"
    } else {
        "ready"
    };
    let body = Readiness {
        status,
        draining,
        shard: shard.id,
        driver: shard.driver,
        uptime_s: shard.started.elapsed().as_secs_f64(),
        checks: Checks {
            database,
            replica,
            redis,
        },
        cache: {
            let stats = shard.cache_stats();
            CacheView {
                entries: stats.iter().map(|c| c.entries).sum(),
                caches: stats.iter().map(|c| (c.name, c.entries)).collect(),
            }
        },
        memory: MemoryView {
            rss_bytes: metrics::rss_bytes(),
        },
    };
    let verdict = if !db_up {
        Verdict::DatabaseDown
    } else if degraded {
        Verdict::Degraded
    } else {
        Verdict::Ready
    };
    shard.readiness.set(Some((now, verdict)));
    if status == "not_ready" {
        let why = if draining {
            "The server is shutting down."
        } else {
            "The database does not answer."
        };
        let detail = if operator {
            let checks = serde_json::to_value(&body.checks).map_err(|_| ApiError::Internal)?;
            Some(Box::new((checks, draining)))
        } else {
            None
        };
        return Err(ApiError::NotReady(why, detail));
    }
    let bytes = if operator {
        sonic_rs::to_vec(&body).map_err(|_| ApiError::Internal)?
    } else if status == "degraded" {
        b"{\"status\":\"degraded\"}".to_vec()
    } else {
        b"{\"status\":\"ready\"}".to_vec()
    };
    Ok(Response::json(200, bytes).with_header("Cache-Control", "no-store"))
}

/// Prometheus exposition of every shard's latest snapshot (this shard's is fresh), for
/// operators (the route table's rule).
pub async fn metrics(shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    shard.publish();
    let text = metrics::render(
        &shard.board.snapshots(),
        ProcessInfo {
            uptime_s: shard.started.elapsed().as_secs_f64(),
            rss_bytes: metrics::rss_bytes(),
            shards: shard.config.shards,
            draining: shard.shutdown.is_draining(),
        },
    );
    Ok(Response {
        status: 200,
        content_type: PROMETHEUS,
        body: Body::Bytes(text.into_bytes()),
        headers: vec![("Cache-Control", "no-store".into())],
        close: false,
    })
}
