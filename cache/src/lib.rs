//! Caches for campushub: per-shard (L1) maps with no locks, and the per-shard Redis
//! connection used for what must be shared across instances. Never imports the HTTP server.
#![deny(missing_docs)]

pub mod bus;
pub mod local;
pub mod policies;
pub mod ratelimit;
mod redis_conn;
mod send;
pub mod shared;

pub use bus::{BusStats, Invalidation, InvalidationBus, Message};
pub use local::{LocalCache, ShardCache};
pub use policies::RateLimits;
pub use ratelimit::{Decision, LocalLimiter, Policy, SharedLimiter};
pub use redis_conn::{RedisError, RedisStats, RedisTarget, ShardRedis};
