//! campushub: a campus management API server. Shard-per-core monoio (io_uring) runtimes,
//! HTTP/1.1 over httparse, PostgreSQL and Redis per shard.
//!
//! The request line: listener -> conn loop -> parse -> route -> handler -> db/cache -> encode
//! -> write. See ARCHITECTURE.md for the map and the invariants.
#![deny(missing_docs)]

pub mod access_log;
pub mod api_error;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cors;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod pipeline;
pub mod ratelimit;
pub mod request;
pub mod request_id;
pub mod router;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod tune;
pub mod worker;
