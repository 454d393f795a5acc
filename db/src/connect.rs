//! Opening a PostgreSQL connection over the current monoio runtime.
//!
//! tokio-postgres only needs tokio's `AsyncRead`/`AsyncWrite`; monoio-compat adapts monoio's
//! sockets, so the connection is driven by the shard that owns it and never crosses threads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use monoio_compat::{TcpStreamCompat, UnixStreamCompat};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls};

use crate::DbUrl;

/// The future that drives a connection; it ends when the connection closes.
pub type ConnectionTask = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>>>>;

/// Connects and authenticates, bounded by `timeout`. The caller must poll the returned task
/// (spawn it, or await it) for the client to make progress.
pub async fn connect(
    url: &DbUrl,
    application_name: &str,
    timeout: Duration,
) -> io::Result<(Client, ConnectionTask)> {
    match monoio::time::timeout(timeout, connect_inner(url, application_name)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connecting to {} timed out", url.endpoint()),
        )),
    }
}

async fn connect_inner(
    url: &DbUrl,
    application_name: &str,
) -> io::Result<(Client, ConnectionTask)> {
    let mut config = url.config().clone();
    config.application_name(application_name);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let pg_err = |e: tokio_postgres::Error| io::Error::other(e.to_string());
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => {
            let stream = monoio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            let (client, conn) = config
                .connect_raw(TcpStreamCompat::new(stream), NoTls)
                .await
                .map_err(pg_err)?;
            Ok((client, Box::pin(conn)))
        }
        Some(Host::Unix(dir)) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let stream = monoio::net::UnixStream::connect(path).await?;
            let (client, conn) = config
                .connect_raw(UnixStreamCompat::new(stream), NoTls)
                .await
                .map_err(pg_err)?;
            Ok((client, Box::pin(conn)))
        }
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "database URL has no host",
        )),
    }
}
