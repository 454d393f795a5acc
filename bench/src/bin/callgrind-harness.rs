//! Runs one hot stage function a fixed number of times for callgrind, so scripts/bench-gate can
//! count its instructions per call (deterministic where wall-clock time on a shared machine is
//! not).
//!
//!   callgrind-harness list              the figure names, one a line
//!   callgrind-harness NAME ITERATIONS   set up, warm up, then call NAME ITERATIONS times
//!
//! Only `callgrind_measured_loop` is meant to be counted:
//!   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*callgrind_measured_loop*' \
//!       callgrind-harness NAME ITERATIONS
//! then the `summary:` Ir divided by ITERATIONS is the figure. The maps under test hash with
//! ahash's per-process random seeds, so lookups cycle through all `FILL` keys rather than
//! repeating one: probe lengths then average over the whole map, and a run's figure does not
//! depend on where one key happened to land.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use campushub::auth::tokens::verify;
use campushub::http::parse::parse_head;
use campushub::http::response::encode;
use campushub::router::route;
use campushub_bench::fixtures::{self, EncodeFixture, FILL};
use campushub_bench::{roster, student};

/// The figures, in the order the gate prints them.
const FIGURES: &[&str] = &[
    "http_parse_wrk_get",
    "http_parse_browser_get",
    "route_healthz",
    "route_department",
    "encode_healthz",
    "json_student",
    "json_roster40",
    "token_verify_cached",
    "token_verify_uncached",
    "auth_cached_permission",
    "ratelimit_decision",
    "l1_cache_get",
];

/// Calls `f` `iterations` times. The only function callgrind counts; never inlined so its name
/// stays in the profile.
#[inline(never)]
fn callgrind_measured_loop<F: FnMut(u64)>(iterations: u64, f: &mut F) {
    for i in 0..iterations {
        f(black_box(i));
    }
}

/// Warms `f` up (first-call allocations, lazily built tables), checks it, then measures it.
fn measure<F: FnMut(u64) -> bool>(iterations: u64, mut f: F) -> Result<(), String> {
    for i in 0..iterations.min(FILL as u64) {
        if !f(i) {
            return Err(format!(
                "the function under test failed at warm-up iteration {i}"
            ));
        }
    }
    let mut ok = true;
    callgrind_measured_loop(iterations, &mut |i| ok &= f(i));
    if ok {
        Ok(())
    } else {
        Err("the function under test failed during the measured loop".into())
    }
}

/// The key of iteration `i`: every key of the filled maps in turn.
fn key(i: u64) -> usize {
    (i % FILL as u64) as usize
}

fn run(name: &str, iterations: u64) -> Result<(), String> {
    match name {
        "http_parse_wrk_get" => measure(iterations, |_| {
            matches!(
                parse_head(black_box(fixtures::WRK_GET), &fixtures::HEAD_LIMITS),
                Ok(Some(_))
            )
        }),
        "http_parse_browser_get" => measure(iterations, |_| {
            matches!(
                parse_head(black_box(fixtures::BROWSER_GET), &fixtures::HEAD_LIMITS),
                Ok(Some(_))
            )
        }),
        "route_healthz" => measure(iterations, |_| {
            black_box(route(black_box("/healthz")));
            true
        }),
        "route_department" => measure(iterations, |_| {
            black_box(route(black_box(fixtures::DEPARTMENT_PATH)));
            true
        }),
        "encode_healthz" => {
            let fixture = EncodeFixture::healthz();
            let ctx = fixture.context();
            let mut out = Vec::with_capacity(8192);
            measure(iterations, |_| {
                out.clear();
                encode(black_box(&fixture.response), &ctx, &mut out);
                !black_box(&out).is_empty()
            })
        }
        "json_student" => {
            let s = student(42);
            measure(iterations, |_| {
                sonic_rs::to_vec(black_box(&s)).is_ok_and(|v| !black_box(v).is_empty())
            })
        }
        "json_roster40" => {
            let r = roster(40);
            measure(iterations, |_| {
                sonic_rs::to_vec(black_box(&r)).is_ok_and(|v| !black_box(v).is_empty())
            })
        }
        "token_verify_cached" => {
            let keys = fixtures::keys(fixtures::TWO_KEYS, Some("k2"))?;
            let (mut cache, tokens) = fixtures::filled_token_cache(&keys)?;
            measure(iterations, |i| {
                cache
                    .verify(&keys, black_box(tokens[key(i)].as_bytes()))
                    .is_ok()
            })
        }
        "token_verify_uncached" => {
            let keys = fixtures::keys(fixtures::TWO_KEYS, Some("k2"))?;
            let token = fixtures::token(&keys, 4242)?;
            measure(iterations, |_| verify(&keys, black_box(&token)).is_ok())
        }
        "auth_cached_permission" => {
            let keys = fixtures::keys(fixtures::ONE_KEY, None)?;
            let (mut tokens, list) = fixtures::filled_token_cache(&keys)?;
            let mut principals = fixtures::filled_principals();
            measure(iterations, |i| {
                fixtures::authorise(
                    &keys,
                    &mut tokens,
                    &mut principals,
                    black_box(list[key(i)].as_bytes()),
                    black_box(campushub::auth::rule::Permission::StudentsRead),
                )
            })
        }
        "ratelimit_decision" => {
            let (policy, mut limiter) = fixtures::filled_limiter()?;
            measure(iterations, |i| {
                let uid = key(i) as i64;
                black_box(limiter.check(black_box(&uid), &policy, Instant::now()));
                true
            })
        }
        "l1_cache_get" => {
            let mut principals = fixtures::filled_principals();
            measure(iterations, |i| {
                let uid = key(i) as i64;
                principals.get(black_box(&uid), Instant::now()).is_some()
            })
        }
        _ => Err(format!(
            "unknown figure '{name}' (callgrind-harness list prints the names)"
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd] if cmd == "list" => {
            for name in FIGURES {
                println!("{name}");
            }
            Ok(())
        }
        [name, iterations] => match iterations.parse::<u64>() {
            Ok(n) if n > 0 => run(name, n),
            _ => Err(format!(
                "ITERATIONS must be a positive integer, not '{iterations}'"
            )),
        },
        _ => Err("usage: callgrind-harness list | callgrind-harness NAME ITERATIONS".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
