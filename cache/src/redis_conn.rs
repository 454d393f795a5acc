//! One multiplexed Redis connection per shard, driven by the shard's runtime, reconnected with
//! backoff. With no Redis configured the server runs in single-instance mode.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use crate::send::{multiplexed, LocalDriver as Driver};

/// A checked Redis URL (TCP, no TLS).
#[derive(Clone)]
pub struct RedisTarget {
    host: String,
    port: u16,
    info: RedisConnectionInfo,
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis://{}:{}", self.host, self.port)
    }
}

impl RedisTarget {
    /// Parses `redis://[:password@]host:port[/db]`.
    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        if !url.starts_with("redis://") {
            return Err(format!(
                "{:?} is not a URL like redis://127.0.0.1:6379/",
                url.split('@').next_back().unwrap_or("")
            ));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| format!("not a Redis URL ({e})"))?;
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => Ok(RedisTarget {
                host: host.clone(),
                port: *port,
                info: info.redis_settings().clone(),
            }),
            _ => Err("only plain TCP Redis URLs are supported".into()),
        }
    }

    /// Host and port.
    pub(crate) fn addr(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// Database, credentials and protocol settings.
    pub(crate) fn info(&self) -> &RedisConnectionInfo {
        &self.info
    }

    /// `host:port`, for logs.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Why a Redis call failed; cheap to copy on the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisError {
    /// No connection is up (or none is configured).
    Unavailable,
    /// No answer within the timeout.
    Timeout,
    /// Redis answered with an error, or the connection broke.
    Command,
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedisError::Unavailable => "redis unavailable",
            RedisError::Timeout => "redis timed out",
            RedisError::Command => "redis command failed",
        })
    }
}

impl std::error::Error for RedisError {}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisStats {
    /// Whether the connection is up now.
    pub connected: bool,
    /// Connections established since start.
    pub connects_total: u64,
    /// Commands that failed or timed out.
    pub errors_total: u64,
}

/// The shard's Redis connection.
pub struct ShardRedis {
    target: RedisTarget,
    timeout: Duration,
    conn: RefCell<Option<MultiplexedConnection>>,
    connects_total: Cell<u64>,
    errors_total: Cell<u64>,
}

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl ShardRedis {
    /// Starts the connection task on the current monoio runtime.
    pub fn start(target: RedisTarget, timeout: Duration) -> Rc<ShardRedis> {
        let redis = Rc::new(ShardRedis {
            target,
            timeout,
            conn: RefCell::new(None),
            connects_total: Cell::new(0),
            errors_total: Cell::new(0),
        });
        monoio::spawn(run(Rc::clone(&redis)));
        redis
    }

    /// Whether the connection is up.
    pub fn connected(&self) -> bool {
        self.conn.borrow().is_some()
    }

    /// Counters.
    pub fn stats(&self) -> RedisStats {
        RedisStats {
            connected: self.connected(),
            connects_total: self.connects_total.get(),
            errors_total: self.errors_total.get(),
        }
    }

    /// Runs a command with the timeout; the connection handle is cheap to clone.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        let mut conn = match self.conn.borrow().as_ref() {
            Some(c) => c.clone(),
            None => return Err(RedisError::Unavailable),
        };
        match monoio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => {
                self.errors_total.set(self.errors_total.get() + 1);
                Err(RedisError::Command)
            }
            Err(_) => {
                self.errors_total.set(self.errors_total.get() + 1);
                Err(RedisError::Timeout)
            }
        }
    }

    /// PING round trip; returns its latency.
    pub async fn ping(&self) -> Result<Duration, RedisError> {
        let started = Instant::now();
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong != "PONG" {
            return Err(RedisError::Command);
        }
        Ok(started.elapsed())
    }
}

pub(crate) fn log_event(target: &RedisTarget, event: &str, detail: &str) {
    eprintln!(
        "{{\"level\":\"{}\",\"msg\":\"redis {event}\",\"endpoint\":\"{}\",\"detail\":{:?}}}",
        if event == "connected" { "info" } else { "warn" },
        target.endpoint(),
        detail
    );
}

async fn connect(target: &RedisTarget) -> Result<(MultiplexedConnection, Driver), String> {
    let stream = monoio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // No redis-side timeouts: they would call tokio's timer, which does not run here. The
    // shard applies its own timeouts with monoio's timer instead.
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(None);
    multiplexed(&target.info, stream, config)
        .await
        .map_err(|e| e.to_string())
}

async fn run(redis: Rc<ShardRedis>) {
    let mut backoff = BACKOFF_MIN;
    let mut failing = false;
    let connect_timeout = redis.timeout.max(Duration::from_millis(500));
    loop {
        match monoio::time::timeout(connect_timeout, connect(&redis.target)).await {
            Ok(Ok((conn, driver))) => {
                redis.connects_total.set(redis.connects_total.get() + 1);
                if failing {
                    log_event(&redis.target, "connected", "");
                }
                failing = false;
                backoff = BACKOFF_MIN;
                *redis.conn.borrow_mut() = Some(conn);
                driver.await;
                redis.conn.borrow_mut().take();
                log_event(&redis.target, "connection lost", "");
            }
            Ok(Err(e)) => {
                if !failing {
                    log_event(&redis.target, "connect failed", &e);
                }
                failing = true;
            }
            Err(_) => {
                if !failing {
                    log_event(&redis.target, "connect failed", "timed out");
                }
                failing = true;
            }
        }
        monoio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
