//! The one place with `unsafe` in campushub: a stream wrapper that claims `Send`.
//!
//! `redis::aio::MultiplexedConnection::new_with_config` requires a `Send` stream because it
//! is written for work-stealing runtimes. monoio streams are `!Send` (they belong to the
//! thread whose ring or poller registered them). The wrapper below is only ever constructed in
//! `redis_conn::connect`, and the driver future that owns it is spawned with `monoio::spawn`
//! on the same shard thread, which never moves tasks between threads.
#![allow(unsafe_code)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that stays on the thread that created it, marked `Send` to satisfy an API bound.
pub(crate) struct ShardLocal<S>(S);

impl<S> ShardLocal<S> {
    /// Wraps `stream`. Callers must keep the wrapper (and whatever owns it) on this thread.
    pub(crate) fn new(stream: S) -> Self {
        ShardLocal(stream)
    }
}

// SAFETY: the wrapped stream is created on a shard thread and moved only into the Redis
// driver future, which `redis_conn::connect` hands to `monoio::spawn` on that same thread;
// monoio runs a task only on the thread that spawned it, so the stream is never touched from
// another thread. The `MultiplexedConnection` handle that does cross into request code only
// holds a channel sender, which is genuinely `Send`.
unsafe impl<S> Send for ShardLocal<S> {}

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
