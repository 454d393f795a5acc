//! `GET /debug/pprof/profile?seconds=N`: a CPU flamegraph (SVG) of the whole running server,
//! from an in-process sampling profiler, for where `perf` cannot sample (virtual machines
//! without performance counters). Off unless `CAMPUSHUB_PROFILING=true`; admins only
//! (`roles.manage` for the whole institution). The shard keeps serving while it records.

use std::time::Duration;

use super::{query_pairs, Request};
use crate::api_error::ApiError;
use crate::http::response::{Body, Response};
use crate::shard::Shard;

/// Samples per second: odd, so sampling does not beat in step with 1 ms timers.
const FREQUENCY_HZ: i32 = 499;
/// Longest recording one request may ask for.
const MAX_SECONDS: u64 = 60;

/// Records for `seconds` (default 10) and answers the flamegraph.
pub async fn profile(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    if !shard.config.profiling {
        return Err(ApiError::NotFound);
    }
    let mut seconds = 10;
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        match (k.as_str(), v.parse::<u64>()) {
            ("seconds", Ok(n)) if (1..=MAX_SECONDS).contains(&n) => seconds = n,
            _ => {
                return Err(ApiError::BadParameter(format!(
                    "This route takes `seconds`, 1 to {MAX_SECONDS}."
                )))
            }
        }
    }
    // One recording at a time, process-wide: the profiler samples every thread.
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|_| ApiError::Conflict("A profile is already being recorded.".into()))?;
    monoio::time::sleep(Duration::from_secs(seconds)).await;
    let report = guard.report().build().map_err(|_| ApiError::Internal)?;
    drop(guard);
    let mut svg = Vec::new();
    report
        .flamegraph(&mut svg)
        .map_err(|_| ApiError::Internal)?;
    Ok(Response {
        status: 200,
        content_type: "image/svg+xml",
        body: Body::Bytes(svg),
        headers: Vec::new(),
        close: false,
    })
}
