//! PostgreSQL for campushub: per-shard clients over the shard's own runtime, the statement
//! table, migrations and seeding. This crate never imports the HTTP server.
#![deny(missing_docs)]

pub mod audit;
pub mod bootstrap;
mod connect;
mod error;
pub mod migrate;
pub mod partitions;
pub mod pgtypes;
mod pool;
pub mod queries;
pub mod seed;
pub mod simple;
pub mod statements;
mod url;

pub use connect::connect;
pub use error::DbError;
pub use pool::{Pool, PoolStats, ShardDb, ShardDbConfig, Source};
pub use url::{redact_url, DbUrl, StatementMode};

/// Re-exported so callers can name row and type items without their own dependency.
pub use tokio_postgres;
