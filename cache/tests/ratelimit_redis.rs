//! The Redis rate limiter against a real Redis (the one `scripts/test` starts): one budget
//! shared by two instances, and the script surviving a SCRIPT FLUSH, which is what a Redis
//! restart does to it.

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use campushub_cache::ratelimit::header_values;
use campushub_cache::{Policy, RedisTarget, ShardRedis, SharedLimiter};

fn redis_target() -> RedisTarget {
    let url = match std::env::var("CAMPUSHUB_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("CAMPUSHUB_REDIS_URL is not set: run the suite with scripts/test"),
    };
    RedisTarget::parse(&url).expect("CAMPUSHUB_REDIS_URL is a Redis URL")
}

fn on_runtime(test: impl Future<Output = ()>) {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("monoio runtime")
        .block_on(test);
}

/// One "instance": its own connection, as a shard of another process would have.
async fn connect(target: &RedisTarget) -> Rc<ShardRedis> {
    let redis = ShardRedis::start(target.clone(), Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !redis.connected() {
        assert!(
            Instant::now() < deadline,
            "no connection to Redis at {target:?} within 5 s"
        );
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    redis
}

/// A key prefix of this run, so reruns and parallel runs never share a bucket.
fn unique_key(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "campushub-test:ratelimit:{}:{nanos}:{name}",
        std::process::id()
    )
}

#[test]
fn two_instances_share_one_budget() {
    let target = redis_target();
    on_runtime(async move {
        let (redis_a, redis_b) = (connect(&target).await, connect(&target).await);
        let (limiter_a, limiter_b) = (SharedLimiter::new(), SharedLimiter::new());
        let policy = Policy::new("shared", 5, Duration::from_secs(60)).expect("valid policy");
        let key = unique_key("budget");

        for (i, expected_remaining) in (0..5u32).rev().enumerate() {
            let (redis, limiter) = if i % 2 == 0 {
                (&redis_a, &limiter_a)
            } else {
                (&redis_b, &limiter_b)
            };
            let d = limiter
                .check(redis, &key, &policy)
                .await
                .expect("rate-limit check");
            assert!(d.allowed, "request {} of 5 was denied: {d:?}", i + 1);
            assert_eq!(d.remaining, expected_remaining, "request {}", i + 1);
            assert_eq!(d.retry_after, Duration::ZERO);
        }

        for (redis, limiter, which) in [
            (&redis_a, &limiter_a, "instance a"),
            (&redis_b, &limiter_b, "instance b"),
        ] {
            let d = limiter
                .check(redis, &key, &policy)
                .await
                .expect("rate-limit check");
            assert!(!d.allowed, "the 6th request was allowed on {which}: {d:?}");
            assert_eq!(d.remaining, 0);
            // One emission interval (12 s) after the burst, less the time the burst took.
            assert!(
                d.retry_after > Duration::from_secs(11) && d.retry_after <= Duration::from_secs(12),
                "{which}: retry_after {:?}",
                d.retry_after
            );
            assert!(
                d.reset_after > Duration::from_secs(59) && d.reset_after <= Duration::from_secs(60),
                "{which}: reset_after {:?}",
                d.reset_after
            );
            assert_eq!(d.retry_after_s(), Some(12));
            assert_eq!(header_values(&policy, &d).1, r#""shared";r=0;t=60"#);
        }

        // The key lives only as long as it carries state: until the bucket is full again.
        let pttl_ms: i64 = redis_a
            .query(redis::cmd("PTTL").arg(&key))
            .await
            .expect("PTTL");
        assert!(pttl_ms > 59_000 && pttl_ms <= 60_000, "PTTL {pttl_ms} ms");
        let _: i64 = redis_a
            .query(redis::cmd("DEL").arg(&key))
            .await
            .expect("DEL");
    });
}

#[test]
fn survives_script_flush() {
    let target = redis_target();
    on_runtime(async move {
        let redis = connect(&target).await;
        let limiter = SharedLimiter::new();
        let policy = Policy::new("flush", 5, Duration::from_secs(60)).expect("valid policy");
        let key = unique_key("flush");

        let d = limiter
            .check(&redis, &key, &policy)
            .await
            .expect("first check");
        assert_eq!((d.allowed, d.remaining), (true, 4));

        let flushed: String = redis
            .query(redis::cmd("SCRIPT").arg("FLUSH"))
            .await
            .expect("SCRIPT FLUSH");
        assert_eq!(flushed, "OK");
        let errors_before = redis.stats().errors_total;

        // The cached SHA-1 now meets NOSCRIPT; the limiter loads the script again and retries,
        // and the bucket (data, not scripts) is untouched.
        let d = limiter
            .check(&redis, &key, &policy)
            .await
            .expect("check after SCRIPT FLUSH");
        assert_eq!((d.allowed, d.remaining), (true, 3));
        assert_eq!(
            redis.stats().errors_total,
            errors_before + 1,
            "the retry path (NOSCRIPT, then SCRIPT LOAD) was not taken"
        );

        let _: i64 = redis.query(redis::cmd("DEL").arg(&key)).await.expect("DEL");
    });
}
