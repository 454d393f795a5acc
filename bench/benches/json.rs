//! JSON encode/decode of our payloads: sonic-rs against serde_json and simd-json.
//! The result decides the server's JSON crate (recorded in bench/README.md).
#![allow(clippy::unwrap_used)]

use campushub_bench::{roster, student, RosterPayload, StudentPayload};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn encode(c: &mut Criterion) {
    let s = student(42);
    let r = roster(40);
    for (name, bytes) in [
        ("student", serde_json::to_vec(&s).unwrap().len()),
        ("roster40", serde_json::to_vec(&r).unwrap().len()),
    ] {
        let mut g = c.benchmark_group(format!("encode/{name}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        if name == "student" {
            g.bench_function("serde_json", |b| {
                b.iter(|| serde_json::to_vec(black_box(&s)).unwrap())
            });
            g.bench_function("sonic_rs", |b| {
                b.iter(|| sonic_rs::to_vec(black_box(&s)).unwrap())
            });
            g.bench_function("simd_json", |b| {
                b.iter(|| simd_json::to_vec(black_box(&s)).unwrap())
            });
        } else {
            g.bench_function("serde_json", |b| {
                b.iter(|| serde_json::to_vec(black_box(&r)).unwrap())
            });
            g.bench_function("sonic_rs", |b| {
                b.iter(|| sonic_rs::to_vec(black_box(&r)).unwrap())
            });
            g.bench_function("simd_json", |b| {
                b.iter(|| simd_json::to_vec(black_box(&r)).unwrap())
            });
        }
        g.finish();
    }
}

fn decode(c: &mut Criterion) {
    let s = serde_json::to_vec(&student(42)).unwrap();
    let r = serde_json::to_vec(&roster(40)).unwrap();
    let mut g = c.benchmark_group("decode/student");
    g.throughput(Throughput::Bytes(s.len() as u64));
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::from_slice::<StudentPayload>(black_box(&s)).unwrap())
    });
    g.bench_function("sonic_rs", |b| {
        b.iter(|| sonic_rs::from_slice::<StudentPayload>(black_box(&s)).unwrap())
    });
    g.bench_function("simd_json", |b| {
        b.iter(|| {
            let mut copy = s.clone();
            simd_json::serde::from_slice::<StudentPayload>(black_box(&mut copy)).unwrap()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("decode/roster40");
    g.throughput(Throughput::Bytes(r.len() as u64));
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::from_slice::<RosterPayload>(black_box(&r)).unwrap())
    });
    g.bench_function("sonic_rs", |b| {
        b.iter(|| sonic_rs::from_slice::<RosterPayload>(black_box(&r)).unwrap())
    });
    g.bench_function("simd_json", |b| {
        b.iter(|| {
            let mut copy = r.clone();
            simd_json::serde::from_slice::<RosterPayload>(black_box(&mut copy)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
