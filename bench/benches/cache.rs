//! The per-shard L1 cache (`campushub_cache::LocalCache`): a hit and a miss on a map holding
//! 50,000 entries, as the student-profile cache does on a busy shard.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use campushub_cache::LocalCache;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn lookups(c: &mut Criterion) {
    let mut cache: LocalCache<u128, u64> = LocalCache::new(50_000);
    let far = Instant::now() + Duration::from_secs(3600);
    // Keys spread like UUIDs.
    let key = |i: u64| u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    for i in 0..50_000 {
        cache.insert(key(i), i, far);
    }
    let now = Instant::now();
    let mut i = 0u64;
    c.bench_function("cache/hit", |b| {
        b.iter(|| {
            i = (i + 7919) % 50_000;
            *cache.get(black_box(&key(i)), now).unwrap()
        })
    });
    c.bench_function("cache/miss", |b| {
        b.iter(|| {
            i += 1;
            cache.get(black_box(&key(1_000_000 + i)), now).is_none()
        })
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
