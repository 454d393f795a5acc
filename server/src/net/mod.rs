//! Sockets: the listeners and the per-connection loop.

pub mod conn;
pub mod forwarded;
pub mod listener;
