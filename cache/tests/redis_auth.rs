//! Both kinds of shard connection authenticate with the password of the Redis URL against the
//! stack's Redis (`scripts/test`), which requires one: the ordinary multiplexed connection
//! (RESP2, AUTH) and the invalidation bus's RESP3 subscription (HELLO 3 AUTH). A wrong password
//! never connects.

use std::cell::RefCell;
use std::future::Future;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use campushub_cache::bus::publish;
use campushub_cache::{Invalidation, InvalidationBus, Message, RedisTarget, ShardRedis};

fn redis_url() -> String {
    match std::env::var("CAMPUSHUB_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("CAMPUSHUB_REDIS_URL is not set: run the suite with scripts/test"),
    }
}

/// The URL with its password replaced by another of the same shape.
fn wrong_password_url(url: &str) -> String {
    let at = url.rfind('@').expect("the Redis URL carries a password");
    let colon = url[..at]
        .rfind(':')
        .expect("the Redis URL carries a password");
    format!("{}{}{}", &url[..=colon], "0".repeat(64), &url[at..])
}

fn on_runtime(test: impl Future<Output = ()>) {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("monoio runtime")
        .block_on(test);
}

async fn until(what: &str, timeout: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn the_stack_redis_requires_a_password() {
    let url = redis_url();
    let rest = url.trim_start_matches("redis://");
    let addr = rest
        .rsplit_once('@')
        .map_or(rest, |(_, a)| a)
        .trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).expect("connect to Redis");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 128];
    let n = s.read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(
        reply.starts_with("-NOAUTH"),
        "Redis answered {reply:?} without a password: these tests would prove nothing"
    );
}

#[test]
fn connection_and_bus_authenticate_with_the_url_password() {
    let url = redis_url();
    let target = RedisTarget::parse(&url).expect("CAMPUSHUB_REDIS_URL is a Redis URL");
    let password =
        &url[url[..url.rfind('@').unwrap()].rfind(':').unwrap() + 1..url.rfind('@').unwrap()];
    assert!(
        !format!("{target:?}").contains(password) && !target.endpoint().contains(password),
        "a log line would show the password"
    );
    on_runtime(async move {
        let redis = ShardRedis::start(target.clone(), Duration::from_secs(2));
        until(
            "the connection authenticates",
            Duration::from_secs(5),
            || redis.connected(),
        )
        .await;
        redis.ping().await.expect("PING after AUTH");

        let got: Rc<RefCell<Vec<Message>>> = Rc::default();
        let sink = Rc::clone(&got);
        let bus = InvalidationBus::start(target, Duration::from_secs(2), move |m| {
            sink.borrow_mut().push(m)
        });
        until(
            "the RESP3 subscription authenticates",
            Duration::from_secs(5),
            || bus.live(),
        )
        .await;

        let id = i64::from(std::process::id()) * 1000 + 7;
        let msg = Message {
            version: 1,
            what: Invalidation::User(id),
        };
        let arrived = || got.borrow().contains(&msg);
        // Publish until it arrives: the subscription is live, yet a message sent in the same
        // instant as SUBSCRIBE's reply could race it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !arrived() {
            assert!(
                Instant::now() < deadline,
                "the published message never arrived"
            );
            publish(&redis, &msg).await.expect("PUBLISH");
            monoio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[test]
fn a_wrong_password_never_connects() {
    let target = RedisTarget::parse(&wrong_password_url(&redis_url())).expect("a Redis URL");
    on_runtime(async move {
        let redis = ShardRedis::start(target.clone(), Duration::from_secs(1));
        let bus = InvalidationBus::start(target, Duration::from_secs(1), |_| {});
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            assert!(!redis.connected(), "connected with a wrong password");
            assert!(!bus.live(), "subscribed with a wrong password");
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(redis.stats().connects_total, 0);
        assert_eq!(bus.stats().subscribes_total, 0);
    });
}
