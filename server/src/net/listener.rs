//! Listening sockets: one SO_REUSEPORT socket per shard, all bound before any shard starts so
//! that "address in use" is a one-line start-up error, not a thread failure.

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog per listener; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds `count` listeners on `addr`. With port 0 the first picks a port and the rest join it.
/// Returns the listeners and the bound address.
pub fn bind_all(addr: SocketAddr, count: usize) -> Result<(Vec<TcpListener>, SocketAddr), String> {
    let describe = |e: std::io::Error| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
            std::io::ErrorKind::AddrNotAvailable => {
                "address not available on this machine".to_string()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_string()
            }
            _ => e.to_string(),
        };
        format!("CAMPUSHUB_LISTEN={addr}: {why}")
    };
    let first = bind_one(addr).map_err(describe)?;
    let bound = first.local_addr().map_err(describe)?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(bind_one(bound).map_err(describe)?);
    }
    Ok((all, bound))
}
