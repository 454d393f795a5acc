//! The one spawn helper: starts the real `campushub serve` binary on a free port against the
//! throwaway stack that `scripts/test` started (its URLs come in through the environment).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod campus;
pub mod mail;
pub mod worker;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository's root (scripts, deploy files, tuning).
pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ sits in the repository")
        .to_path_buf()
}

/// Environment of the throwaway stack, or a clear failure telling how to get one.
pub fn stack_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test, which starts PostgreSQL, PgBouncer and Redis")
    })
}

pub struct TestServer {
    pub addr: SocketAddr,
    child: Option<Child>,
    pub output: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    /// Starts a server with one shard and the stack's settings, overridden by `env`.
    pub fn spawn(env: &[(&str, &str)]) -> TestServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_campushub"));
        cmd.arg("serve")
            .env("CAMPUSHUB_LISTEN", "127.0.0.1:0")
            .env("CAMPUSHUB_SHARDS", "1")
            .env("CAMPUSHUB_PIN_CORES", "false")
            .env(
                "CAMPUSHUB_DATABASE_URL",
                stack_env("CAMPUSHUB_DATABASE_URL"),
            )
            .env("CAMPUSHUB_STATEMENTS", stack_env("CAMPUSHUB_STATEMENTS"))
            .env("CAMPUSHUB_REDIS_URL", stack_env("CAMPUSHUB_REDIS_URL"))
            // Every test server shares 127.0.0.1 and one Redis: limits are off unless a test
            // is about them (tests/limits.rs turns them on).
            .env(
                "CAMPUSHUB_RATE_LIMITS",
                "anonymous=off,authenticated=off,auth=off,login=off,credentials=off",
            )
            .env_remove("CAMPUSHUB_REPLICA_URL")
            .env_remove("CAMPUSHUB_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, output, started) = spawn_until(&mut cmd, "listening");
        let addr = started["addr"].as_str().unwrap().parse().unwrap();
        let server = TestServer {
            addr,
            child: Some(child),
            output,
        };
        server.wait_ready();
        server
    }

    /// A server this test did not start (one of scripts/fleet's instances): the helpers work
    /// on it, and dropping it leaves it running.
    pub fn at(addr: SocketAddr) -> TestServer {
        TestServer {
            addr,
            child: None,
            output: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Waits until the database pool is connected (readyz 200).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let resp = self.raw(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            if resp.starts_with(b"HTTP/1.1 200") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never ready: {}",
                String::from_utf8_lossy(&resp)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Sends `bytes` on a new connection and reads until the server closes it.
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(bytes).unwrap();
        read_to_close(&mut s)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        self.terminate_wait()
    }

    /// Waits for the exit status after a signal was sent.
    pub fn terminate_wait(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads until EOF (or the read timeout, which fails the test).
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed after {:?}: {e}", String::from_utf8_lossy(&out)),
        }
    }
}

/// One parsed response from a byte stream.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Splits a byte stream into responses (Content-Length framed; `head_only` for HEAD).
pub fn parse_responses(mut bytes: &[u8], head_only: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut i = 0;
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head end in {:?}", String::from_utf8_lossy(bytes)));
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let len = if status == 100 || head_only.get(i).copied().unwrap_or(false) {
            0
        } else {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse::<usize>().unwrap())
                .unwrap_or(0)
        };
        let body = bytes[end + 4..end + 4 + len].to_vec();
        bytes = &bytes[end + 4 + len..];
        if status != 100 {
            i += 1;
        }
        out.push(Resp {
            status,
            headers,
            body,
        });
    }
    out
}

/// Runs a script action (`stop postgres`, `start redis`, ...) on the throwaway stack.
pub fn stack(action: &str, service: &str) {
    let cmd = stack_env("CAMPUSHUB_TEST_STACK_CMD");
    let dir = stack_env("CAMPUSHUB_TEST_STACK_DIR");
    let status = Command::new(cmd)
        .args([dir.as_str(), action, service])
        .status()
        .expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {action} {service} failed");
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A department id from the seeded database.
pub fn some_department_id(server: &TestServer) -> String {
    let resp = server
        .raw(b"GET /api/v1/departments?limit=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = parse_responses(&resp, &[]);
    assert_eq!(
        r[0].status,
        200,
        "{:?}",
        String::from_utf8_lossy(&r[0].body)
    );
    r[0].json()["departments"][0]["sourced_id"]
        .as_str()
        .expect("seeded departments (scripts/test seeds them)")
        .to_string()
}

/// A fresh database on the stack's PostgreSQL, dropped afterwards.
pub struct ScratchDb {
    admin: String,
    name: String,
    pub url: String,
}

impl ScratchDb {
    pub fn new(tag: &str) -> ScratchDb {
        let admin = stack_env("CAMPUSHUB_DIRECT_DATABASE_URL");
        let name = format!("campushub_{tag}_{}", std::process::id());
        psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = match admin.rfind('/') {
            Some(i) => format!("{}/{name}", &admin[..i]),
            None => panic!("unexpected URL {admin}"),
        };
        ScratchDb { admin, name, url }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// `url` without its password, and the password (percent-decoding is not needed: the stack's
/// passwords are hex). psql gets the password through `PGPASSWORD`, never on its command line,
/// which every user sees in `ps`.
pub fn split_pg_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end]
        .rfind('@')
        .map(|i| scheme_end + i)
    else {
        return (url.to_string(), None);
    };
    match url[scheme_end..at].find(':').map(|i| scheme_end + i) {
        Some(colon) => (
            format!("{}{}", &url[..colon], &url[at..]),
            Some(url[colon + 1..at].to_string()),
        ),
        None => (url.to_string(), None),
    }
}

/// `psql` on `url` with its password (if any) in the environment.
pub fn psql_command(url: &str) -> Command {
    let (bare, password) = split_pg_password(url);
    let mut cmd = Command::new("psql");
    cmd.arg(bare);
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    cmd
}

pub fn psql(url: &str, sql: &str) -> String {
    let out = psql_command(url)
        .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sql` through psql, which may fail: (success, stdout, stderr).
pub fn psql_result(url: &str, sql: &str) -> (bool, String, String) {
    let out = psql_command(url)
        .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the `campushub` binary against the database at `url`: (exit code, stdout, stderr).
pub fn cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_campushub"))
        .args(args)
        .env_remove("CAMPUSHUB_CONFIG")
        .env("CAMPUSHUB_DATABASE_URL", url)
        .output()
        .expect("run campushub");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `campushub admin create ARGS` against `url` with `stdin` on standard input:
/// (exit code, stdout, stderr).
pub fn admin_create(url: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_campushub"))
        .args(["admin", "create"])
        .args(args)
        .env_remove("CAMPUSHUB_CONFIG")
        .env("CAMPUSHUB_DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command refused before it reads the password may be gone already: a broken pipe here
    // is its answer, not the test's failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sum of every sample of a Prometheus metric family in `text`.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One request on its own connection: `token` goes in `Authorization: Bearer`, `body` is sent
/// as JSON.
pub fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Resp {
    let bytes = server.raw(request_bytes(method, path, token, body).as_bytes());
    first_response(&bytes, method)
}

/// The response to a `method` request, the first in `bytes`.
pub fn first_response(bytes: &[u8], method: &str) -> Resp {
    parse_responses(bytes, &[method == "HEAD"]).remove(0)
}

/// The bytes of one request that closes its connection: `token` as Bearer, `body` as JSON.
fn request_bytes(method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body_head = body
        .map(|b| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            )
        })
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}{body_head}Connection: close\r\n\r\n{}",
        body.unwrap_or("")
    )
}

/// An access token for a seeded user (password `campushub-demo`).
pub fn access_token(server: &TestServer, user: &str) -> String {
    let body = serde_json::json!({"username": user, "password": "campushub-demo"}).to_string();
    let r = call(server, "POST", "/api/v1/auth/login", None, Some(&body));
    assert_eq!(
        r.status,
        200,
        "log-in {user}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// The first column of the first row of `sql` on the stack's PostgreSQL.
pub fn sql_one(sql: &str) -> String {
    psql(&stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"), sql)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `host:port` and the password (if any) of a `redis://[[user]:password@]host:port[/db]` URL.
pub fn redis_addr_and_password(url: &str) -> (String, Option<String>) {
    let rest = url.trim_start_matches("redis://");
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.rsplit_once('@') {
        Some((userinfo, addr)) => (
            addr.to_string(),
            userinfo
                .split_once(':')
                .map(|(_, pw)| pw.to_string())
                .filter(|pw| !pw.is_empty()),
        ),
        None => (rest.to_string(), None),
    }
}

/// One command as a RESP array.
pub fn resp_command(args: &[&str]) -> String {
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    cmd
}

/// Sends one command to the stack's Redis (after AUTH with the URL's password) and returns the
/// raw reply (RESP2).
pub fn redis(args: &[&str]) -> String {
    let (addr, password) = redis_addr_and_password(&stack_env("CAMPUSHUB_REDIS_URL"));
    let mut s = TcpStream::connect(addr.as_str()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if let Some(pw) = password {
        s.write_all(resp_command(&["AUTH", &pw]).as_bytes())
            .unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "Redis closed during AUTH");
            line.push(byte[0]);
        }
        assert_eq!(
            line,
            b"+OK\r\n",
            "Redis AUTH: {}",
            String::from_utf8_lossy(&line)
        );
    }
    s.write_all(resp_command(args).as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Sends `bytes` on a new connection made from the loopback address `from` (any of
/// 127.0.0.0/8: each is a different client address to the server) and reads until close.
pub fn raw_from(server: &TestServer, from: std::net::Ipv4Addr, bytes: &[u8]) -> Vec<u8> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    read_to_close(&mut s)
}

/// [`call`] from the client address `from`.
pub fn call_from(
    server: &TestServer,
    from: std::net::Ipv4Addr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Resp {
    let bytes = raw_from(
        server,
        from,
        request_bytes(method, path, token, body).as_bytes(),
    );
    first_response(&bytes, method)
}

/// Sends requests with `send` until one is not refused for the growing delay between failed
/// attempts (429 `login-throttled`), sleeping as `Retry-After` says: what a patient guesser
/// sees.
pub fn patiently(mut send: impl FnMut() -> Resp) -> Resp {
    loop {
        let r = send();
        if r.status == 429 && r.json()["type"] == "/problems/login-throttled" {
            let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
            std::thread::sleep(Duration::from_millis(wait * 1000 + 50));
            continue;
        }
        return r;
    }
}

/// The current time in seconds since the epoch.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The one-time code for `offset` steps from now, as an authenticator a little fast or slow
/// shows it.
pub fn totp_code(secret: &[u8], offset: i64) -> String {
    use campushub::auth::totp;
    let step = (now_s() / totp::STEP_S) as i64 + offset;
    format!("{:06}", totp::code_at(secret, step as u64))
}

/// A log-in attempt from `from` that waits out the growing delay between failures (429
/// `login-throttled`) instead of answering with it: what a patient guesser sees.
pub fn login_patiently(
    server: &TestServer,
    from: std::net::Ipv4Addr,
    user: &str,
    password: &str,
) -> Resp {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    patiently(|| {
        call_from(
            server,
            from,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&body),
        )
    })
}

/// Forgets every failed log-in of `user` (a seeded username), so a test starts clean: the
/// suite runs twice against one database.
pub fn forget_failures(user: &str) {
    sql_one(&format!(
        "WITH d AS (DELETE FROM login_throttle WHERE subject = \
         (SELECT 'u:' || id FROM users WHERE username = '{user}') RETURNING 1) SELECT count(*) FROM d"
    ));
}

/// A TCP proxy between a test server and one of the stack's services that can cut every
/// connection through it, or blackhole them: while blackholed it forwards nothing either way
/// (what it reads is held, as a path that drops packets holds them in the peers' send queues)
/// and delivers it once the hole closes.
pub struct FaultProxy {
    pub port: u16,
    blackholed: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let blackholed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (hole, conns) = (Arc::clone(&blackholed), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut conns = conns.lock().unwrap();
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let hole = Arc::clone(&hole);
                    std::thread::spawn(move || pump(from, to, &hole));
                }
            }
        });
        FaultProxy {
            port,
            blackholed,
            open,
        }
    }

    /// Stops (true) or resumes (false) forwarding on every connection, new ones included.
    pub fn blackhole(&self, on: bool) {
        self.blackholed
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Closes every connection open through the proxy (new ones are forwarded as before).
    pub fn cut(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, hole: &std::sync::atomic::AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while hole.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// `url` (a postgres:// URL) with its port replaced by `port`.
pub fn with_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    format!("{scheme}://{userinfo}{host}:{port}/{path}")
}

/// The host:port of a URL.
pub fn url_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = rest.split('/').next().unwrap();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    use std::net::ToSocketAddrs;
    hostport.to_socket_addrs().unwrap().next().unwrap()
}

/// Runs a checking tool (a validator, a browser) and fails the test, with everything the tool
/// printed, unless it succeeds; a missing tool fails too, naming `what` installs it.
pub fn run_ok(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} could not run ({e}); scripts/test installs it"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `cmd` (stdout and stderr piped) and keeps every line it prints; answers once it logs
/// the JSON line whose `msg` is `started` (that line's fields), or fails the test with what it
/// printed when 20 s pass first.
pub fn spawn_until(
    cmd: &mut Command,
    started: &str,
) -> (Child, Arc<Mutex<Vec<String>>>, serde_json::Value) {
    let mut child = cmd.spawn().expect("start campushub");
    let output = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let marker = format!("\"msg\":\"{started}\"");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(&marker) {
                    let _ = tx.send(serde_json::from_str(&line).unwrap());
                }
                output.lock().unwrap().push(line);
            }
        });
    }
    {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                output.lock().unwrap().push(line);
            }
        });
    }
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(v) => (child, output, v),
        Err(_) => {
            let _ = child.kill();
            panic!("{started:?} never came: {:?}", output.lock().unwrap());
        }
    }
}
