//! The load generator behind `campushub-load`: open-loop constant-rate HTTP/1.1 load from a
//! scenario file, latency measured from each request's intended send time.
//!
//! The pure parts (schedule, random choice, scenario and template, HTTP framing, report, SVG)
//! live in their own modules with their tests; `run` owns the sockets and the clock.

pub mod args;
pub mod http;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod svg;
