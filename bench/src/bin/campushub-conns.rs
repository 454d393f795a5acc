//! `campushub-conns`: holds many keep-alive connections on a server, to measure what each
//! costs it. Every connection sends one request once it is open; then either stays idle
//! (`--every 0`) or sends one request every `--every`, spread evenly over the interval. After
//! all are open it prints `open N` on stderr (so a script can read the server's memory then),
//! holds them for `--hold`, and prints one JSON line: connections opened and failed, requests,
//! errors, latency percentiles. Connections come from `--sources` loopback addresses
//! (127.0.0.1, 127.0.0.2, ...) so that more of them fit than one address has ephemeral ports.
//!   campushub-conns --url http://127.0.0.1:PORT --connections 10000 [--path /healthz]
//!     [--every 3s] [--hold 30s] [--sources 4] [--open-rate 5000]

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use campushub_bench::load::args::{parse_duration, parse_num};
use campushub_bench::load::http::parse_response;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const USAGE: &str =
    "usage: campushub-conns --url http://HOST:PORT --connections N [--path /healthz]
  [--every 3s (0: one request, then idle)] [--hold 30s] [--sources 4] [--open-rate 5000]";

struct Args {
    addr: SocketAddr,
    host: String,
    connections: usize,
    path: String,
    every: Duration,
    hold: Duration,
    sources: u8,
    open_rate: u32,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut url = None;
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        host: String::new(),
        connections: 0,
        path: "/healthz".into(),
        every: Duration::ZERO,
        hold: Duration::from_secs(30),
        sources: 1,
        open_rate: 5_000,
    };
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        let num = |v: &str| parse_num::<u64>(&flag, v);
        match flag.as_str() {
            "--url" => url = Some(v),
            "--connections" => a.connections = num(&v)? as usize,
            "--path" => a.path = v,
            "--every" => a.every = parse_duration(&flag, &v)?,
            "--hold" => a.hold = parse_duration(&flag, &v)?,
            "--sources" => {
                a.sources = u8::try_from(num(&v)?)
                    .ok()
                    .filter(|n| (1..=250).contains(n))
                    .ok_or_else(|| anyhow!("--sources must be 1 to 250"))?
            }
            "--open-rate" => {
                a.open_rate = u32::try_from(num(&v)?)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| anyhow!("--open-rate must be a positive number"))?
            }
            _ => bail!("unknown argument `{flag}` (see --help)"),
        }
    }
    let url = url.ok_or_else(|| anyhow!("--url is required (see --help)"))?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url must start with http://"))?;
    let host = rest.trim_end_matches('/');
    a.addr = host
        .parse()
        .map_err(|_| anyhow!("--url: `{host}` is not IP:PORT"))?;
    a.host = host.to_string();
    if a.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !a.path.starts_with('/') || a.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        bail!("--path must be an absolute path without spaces or control characters");
    }
    Ok(a)
}

#[derive(Default)]
struct Tally {
    opened: u64,
    open_failed: u64,
    requests: u64,
    ok: u64,
    errors: u64,
    closed_by_server: u64,
}

struct Shared {
    tally: RefCell<Tally>,
    latency: RefCell<Histogram<u64>>,
}

/// Sends `req` and reads one response; the status, or `None` on any failure.
async fn exchange(stream: &mut TcpStream, buf: &mut Vec<u8>, req: &[u8]) -> Option<u16> {
    stream.write_all(req).await.ok()?;
    buf.clear();
    loop {
        let n = stream.read_buf(buf).await.ok()?;
        match parse_response(buf, n == 0) {
            Ok(Some(r)) => {
                let status = r.status;
                buf.drain(..r.consumed);
                return Some(status);
            }
            Ok(None) if n == 0 => return None,
            Ok(None) => {}
            Err(_) => return None,
        }
    }
}

fn record(shared: &Shared, status: Option<u16>, took: Duration) {
    let mut t = shared.tally.borrow_mut();
    t.requests += 1;
    match status {
        Some(s) if (200..300).contains(&s) => t.ok += 1,
        _ => t.errors += 1,
    }
    shared
        .latency
        .borrow_mut()
        .saturating_record(took.as_micros().min(u64::MAX as u128) as u64);
}

async fn open(args: &Args, i: usize) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if args.sources > 1 {
        // Binding before connecting picks the port at bind time, a search that slows down as
        // ports fill up: only worth it when one address has too few ports.
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i % args.sources as usize) as u8);
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    }
    let stream = socket.connect(args.addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One request on `stream`, recorded with its latency from `due` (a late send counts); `false`
/// when the connection is gone. The buffer is let go between requests, as an idle client's is.
async fn ask(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    req: &[u8],
    shared: &Shared,
    due: Instant,
) -> bool {
    let status = exchange(stream, buf, req).await;
    record(shared, status, due.elapsed());
    if status.is_none() {
        shared.tally.borrow_mut().closed_by_server += 1;
        return false;
    }
    *buf = Vec::new();
    true
}

/// One connection: open, one request, then idle or a request every `every` (first at a
/// random-looking offset spread by index) until `until`.
async fn connection(args: Rc<Args>, shared: Rc<Shared>, req: Rc<[u8]>, i: usize, until: Instant) {
    let Ok(mut stream) = open(&args, i).await else {
        shared.tally.borrow_mut().open_failed += 1;
        return;
    };
    shared.tally.borrow_mut().opened += 1;
    let mut buf = Vec::with_capacity(512);
    if !ask(&mut stream, &mut buf, &req, &shared, Instant::now()).await {
        return;
    }
    if args.every.is_zero() {
        // Idle: wait for the end (or for the server to close the connection).
        let mut byte = [0u8; 1];
        let closed = tokio::select! {
            r = stream.read(&mut byte) => { let _ = r; true },
            _ = tokio::time::sleep_until(until.into()) => false,
        };
        if closed {
            shared.tally.borrow_mut().closed_by_server += 1;
        }
        return;
    }
    // Spread the connections' sends evenly over the interval.
    let offset = args.every.mul_f64((i as f64 * 0.618_033_988_75).fract());
    let mut next = Instant::now() + offset;
    while next < until {
        tokio::time::sleep_until(next.into()).await;
        if !ask(&mut stream, &mut buf, &req, &shared, next).await {
            return;
        }
        next += args.every;
    }
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("campushub-conns: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let args = Rc::new(parse_args(std::env::args().skip(1))?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let local = tokio::task::LocalSet::new();
    let req: Rc<[u8]> = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: campushub-conns\r\n\r\n",
        args.path, args.host
    )
    .into_bytes()
    .into();
    let shared = Rc::new(Shared {
        tally: RefCell::default(),
        latency: RefCell::new(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .map_err(|e| anyhow!("histogram: {e}"))?,
        ),
    });
    let started = Instant::now();
    local.block_on(&runtime, async {
        // Opening paced at --open-rate, so the accept backlog never overflows.
        let open_for = Duration::from_secs_f64(args.connections as f64 / args.open_rate as f64);
        let until = started + open_for + Duration::from_secs(2) + args.hold;
        let mut tasks = Vec::with_capacity(args.connections);
        for i in 0..args.connections {
            let due = started + Duration::from_secs_f64(i as f64 / args.open_rate as f64);
            tokio::time::sleep_until(due.into()).await;
            tasks.push(tokio::task::spawn_local(connection(
                Rc::clone(&args),
                Rc::clone(&shared),
                Rc::clone(&req),
                i,
                until,
            )));
        }
        // Every connection has had its first answer (or failed) within 2 s of the last open.
        tokio::time::sleep_until((started + open_for + Duration::from_secs(2)).into()).await;
        {
            let t = shared.tally.borrow();
            eprintln!(
                "open {} (failed {}) after {:.1} s",
                t.opened - t.closed_by_server,
                t.open_failed,
                started.elapsed().as_secs_f64()
            );
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let t = shared.tally.borrow();
    let h = shared.latency.borrow();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{{\"connections\":{},\"opened\":{},\"open_failed\":{},\"closed_by_server\":{},\"requests\":{},\"ok\":{},\"errors\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"every_s\":{},\"hold_s\":{}}}",
        args.connections,
        t.opened,
        t.open_failed,
        t.closed_by_server,
        t.requests,
        t.ok,
        t.errors,
        ms(0.5),
        ms(0.99),
        h.max() as f64 / 1000.0,
        args.every.as_secs_f64(),
        args.hold.as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> anyhow::Result<Args> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn arguments() {
        let a =
            args("--url http://127.0.0.1:8080 --connections 10 --every 3s --sources 2").unwrap();
        assert_eq!(a.addr.port(), 8080);
        assert_eq!(a.every, Duration::from_secs(3));
        assert_eq!(a.sources, 2);
        assert!(args("--url http://127.0.0.1:8080").is_err());
        assert!(args("--url https://127.0.0.1:8080 --connections 1").is_err());
        assert!(args("--url http://127.0.0.1:8080 --connections 1 --sources 0").is_err());
        assert!(args("--url http://127.0.0.1:8080 --connections 1 --path nope").is_err());
    }
}
