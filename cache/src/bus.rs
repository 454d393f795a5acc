//! The invalidation bus: what one shard of one instance changes (a role, a binding, a user's
//! revocation time, a student profile), every shard of every instance drops from its caches.
//!
//! Each shard keeps one RESP3 connection subscribed to [`CHANNEL`], driven by its own runtime
//! (no tokio reactor: the push sender is a runtime-agnostic channel whose receiver the shard
//! awaits). Messages are published on the shard's ordinary [`ShardRedis`] connection. While
//! the subscription is down the bus says so ([`InvalidationBus::live`]) and caches fall back to
//! short expiry; when it comes back every cache is cleared, since messages may have been missed.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};

use crate::redis_conn::{RedisError, RedisTarget, ShardRedis};
use crate::send::{multiplexed, LocalDriver as Driver};

/// The one channel every instance publishes invalidations on.
pub const CHANNEL: &str = "campushub:invalidate";

/// What became stale. The text form is `<version> <kind> <id>` (`version` is the authorisation
/// version PostgreSQL handed out for the change, 0 when none applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A user's bindings, status or token revocation time changed (users.id).
    User(i64),
    /// A role's permission set changed: every user holding it is stale (roles.id).
    Role(i64),
    /// A student's profile changed (public id, as text).
    Student(String),
    /// An API key was revoked (api_keys.id).
    ApiKey(i64),
    /// A class's roster changed: someone enrolled or left (classes.id).
    Class(i64),
    /// Results of a class's line item changed, or a line item was published, locked or edited
    /// (classes.id).
    Results(i64),
    /// Attendance codes changed (an administrator added, changed or retired one).
    Codes,
    /// Everything (missed messages, bulk changes).
    All,
}

/// An invalidation and the version it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Authorisation version of the change (0 when none).
    pub version: i64,
    /// What is stale.
    pub what: Invalidation,
}

impl Message {
    /// The wire form.
    pub fn encode(&self) -> String {
        match &self.what {
            Invalidation::User(id) => format!("{} user {id}", self.version),
            Invalidation::Role(id) => format!("{} role {id}", self.version),
            Invalidation::Student(id) => format!("{} student {id}", self.version),
            Invalidation::ApiKey(id) => format!("{} apikey {id}", self.version),
            Invalidation::Class(id) => format!("{} class {id}", self.version),
            Invalidation::Results(id) => format!("{} results {id}", self.version),
            Invalidation::Codes => format!("{} codes 0", self.version),
            Invalidation::All => format!("{} all 0", self.version),
        }
    }

    /// Parses the wire form; `None` for anything malformed (ignored: it cannot be ours).
    pub fn decode(text: &str) -> Option<Message> {
        let mut parts = text.split(' ');
        let version = parts.next()?.parse().ok()?;
        let kind = parts.next()?;
        let id = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let what = match kind {
            "user" => Invalidation::User(id.parse().ok()?),
            "role" => Invalidation::Role(id.parse().ok()?),
            "apikey" => Invalidation::ApiKey(id.parse().ok()?),
            "class" => Invalidation::Class(id.parse().ok()?),
            "results" => Invalidation::Results(id.parse().ok()?),
            "student" if !id.is_empty() && id.len() <= 64 => Invalidation::Student(id.into()),
            "codes" => Invalidation::Codes,
            "all" => Invalidation::All,
            _ => return None,
        };
        Some(Message { version, what })
    }
}

/// The shard's subscription.
pub struct InvalidationBus {
    live: Cell<bool>,
    received_total: Cell<u64>,
    resubscribes_total: Cell<u64>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BusStats {
    /// Subscribed now.
    pub live: bool,
    /// Messages applied since start.
    pub received_total: u64,
    /// Subscriptions (re)established since start.
    pub subscribes_total: u64,
}

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl InvalidationBus {
    /// Subscribes on the current monoio runtime; `apply` runs on this shard for every message
    /// (and with [`Invalidation::All`] each time the subscription is (re)established).
    pub fn start(
        target: RedisTarget,
        timeout: Duration,
        apply: impl Fn(Message) + 'static,
    ) -> Rc<InvalidationBus> {
        let bus = Rc::new(InvalidationBus {
            live: Cell::new(false),
            received_total: Cell::new(0),
            resubscribes_total: Cell::new(0),
        });
        monoio::spawn(run(Rc::clone(&bus), target, timeout, apply));
        bus
    }

    /// Whether the subscription is up: caches may then keep entries longer, since a change
    /// reaches them by message.
    pub fn live(&self) -> bool {
        self.live.get()
    }

    /// Counters.
    pub fn stats(&self) -> BusStats {
        BusStats {
            live: self.live.get(),
            received_total: self.received_total.get(),
            subscribes_total: self.resubscribes_total.get(),
        }
    }
}

/// Publishes `msg` to every shard of every instance (this one included).
pub async fn publish(redis: &ShardRedis, msg: &Message) -> Result<(), RedisError> {
    redis
        .query::<i64>(redis::cmd("PUBLISH").arg(CHANNEL).arg(msg.encode()))
        .await
        .map(|_| ())
}

async fn subscribe(
    target: &RedisTarget,
    sender: tokio::sync::mpsc::UnboundedSender<PushInfo>,
) -> Result<(MultiplexedConnection, Driver), String> {
    let (host, port) = target.addr();
    let stream = monoio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // RESP3: pushes arrive on an ordinary multiplexed connection, so no tokio-spawned pub/sub
    // driver is needed (the crate's RESP2 `PubSub` spawns on tokio, which does not run here).
    let info = target.info().clone().set_protocol(ProtocolVersion::RESP3);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(None)
        .set_push_sender(sender);
    let (mut conn, mut driver) = multiplexed(&info, stream, config)
        .await
        .map_err(|e| e.to_string())?;
    // Subscribing needs the driver running: run both until the reply arrives.
    monoio::select! {
        r = conn.subscribe(CHANNEL) => r.map_err(|e| e.to_string())?,
        _ = &mut driver => return Err("connection closed while subscribing".into()),
    }
    Ok((conn, driver))
}

fn payload(info: &PushInfo) -> Option<&[u8]> {
    if info.kind != PushKind::Message {
        return None;
    }
    // [channel, payload]
    match info.data.get(1)? {
        Value::BulkString(b) => Some(b),
        _ => None,
    }
}

async fn run(
    bus: Rc<InvalidationBus>,
    target: RedisTarget,
    timeout: Duration,
    apply: impl Fn(Message),
) {
    let mut backoff = BACKOFF_MIN;
    let connect_timeout = timeout.max(Duration::from_millis(500));
    loop {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        match monoio::time::timeout(connect_timeout, subscribe(&target, tx)).await {
            Ok(Ok((_conn, driver))) => {
                backoff = BACKOFF_MIN;
                bus.live.set(true);
                bus.resubscribes_total.set(bus.resubscribes_total.get() + 1);
                // Whatever was published while we were not listening is lost: start clean.
                apply(Message {
                    version: 0,
                    what: Invalidation::All,
                });
                let consume = async {
                    while let Some(info) = rx.recv().await {
                        if info.kind == PushKind::Disconnection {
                            break;
                        }
                        let Some(msg) = payload(&info)
                            .and_then(|p| std::str::from_utf8(p).ok())
                            .and_then(Message::decode)
                        else {
                            continue;
                        };
                        bus.received_total.set(bus.received_total.get() + 1);
                        apply(msg);
                    }
                };
                monoio::select! {
                    _ = driver => {},
                    _ = consume => {},
                }
                bus.live.set(false);
                crate::redis_conn::log_event(&target, "invalidation subscription lost", "");
            }
            Ok(Err(e)) => {
                if backoff == BACKOFF_MIN {
                    crate::redis_conn::log_event(&target, "invalidation subscribe failed", &e);
                }
            }
            Err(_) => {
                if backoff == BACKOFF_MIN {
                    crate::redis_conn::log_event(
                        &target,
                        "invalidation subscribe failed",
                        "timed out",
                    );
                }
            }
        }
        monoio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_ignored() {
        for what in [
            Invalidation::User(42),
            Invalidation::Role(7),
            Invalidation::ApiKey(3),
            Invalidation::Class(5),
            Invalidation::Results(6),
            Invalidation::Student("0b7a3c1e-0000-4000-8000-000000000001".into()),
            Invalidation::All,
        ] {
            let m = Message { version: 9, what };
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        for bad in [
            "",
            "x user 1",
            "1 user x",
            "1 nobody 1",
            "1 user 1 extra",
            "1 class x",
            "1 student ",
        ] {
            assert_eq!(Message::decode(bad), None, "{bad:?}");
        }
    }
}
