//! The one place with `unsafe` in campushub: a stream wrapper that claims `Send`.
//!
//! `redis::aio::MultiplexedConnection::new_with_config` requires a `Send` stream because it
//! is written for work-stealing runtimes. monoio streams are `!Send` (they belong to the
//! thread whose ring or poller registered them). [`multiplexed`] is the only way to a
//! connection over a shard's stream: it wraps the stream in [`ShardLocal`] (which nothing
//! outside this module can build) and hands the driver future that owns it back boxed as a
//! `dyn Future` without `Send`, so the type system keeps the stream on the shard's thread from
//! there on.
#![allow(unsafe_code)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use monoio_compat::TcpStreamCompat;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisResult};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that stays on the thread that created it, marked `Send` to satisfy an API bound.
/// Private: only [`multiplexed`] builds one.
struct ShardLocal<S>(S);

// SAFETY: a `ShardLocal` is built only in `multiplexed`, below, and moved at once into the
// connection's driver future, which `multiplexed` returns boxed as a `dyn Future` without
// `Send` ([`LocalDriver`]): from then on the compiler refuses to move it (and the stream in it)
// to another thread, and both callers (`redis_conn::run`, `bus::run`) poll it where they got
// it, on the shard's thread. The `MultiplexedConnection` handle returned beside it holds only a
// channel sender to the driver, which is genuinely `Send`.
unsafe impl<S> Send for ShardLocal<S> {}

/// The future that owns a connection's socket and drives it: `!Send`, so it stays on the
/// thread that connected.
pub(crate) type LocalDriver = Pin<Box<dyn std::future::Future<Output = ()>>>;

/// A multiplexed Redis connection over `stream` (a socket of this shard's runtime), and the
/// driver that must be polled for it to make progress.
pub(crate) async fn multiplexed(
    info: &RedisConnectionInfo,
    stream: monoio::net::TcpStream,
    config: AsyncConnectionConfig,
) -> RedisResult<(MultiplexedConnection, LocalDriver)> {
    let stream = ShardLocal(TcpStreamCompat::new(stream));
    let (conn, driver) = MultiplexedConnection::new_with_config(info, stream, config).await?;
    Ok((conn, Box::pin(driver)))
}

impl<S: AsyncRead + Unpin> AsyncRead for ShardLocal<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ShardLocal<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
