//! A real `campushub worker` process for a test: started against the test stack with its
//! metrics on a free port (read from its "worker started" line), stopped with SIGTERM or
//! SIGKILL, its log lines kept.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::stack_env;

pub struct Worker {
    child: Child,
    pub metrics: SocketAddr,
    pub name: String,
    output: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    /// Starts a worker with `env` on top of the stack's (PgBouncer's session pool).
    pub fn spawn(env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_campushub"));
        cmd.arg("worker")
            .env(
                "CAMPUSHUB_DATABASE_URL",
                stack_env("CAMPUSHUB_DATABASE_URL"),
            )
            .env("CAMPUSHUB_WORKER_METRICS_LISTEN", "127.0.0.1:0")
            .env("CAMPUSHUB_WORKER_POLL_MS", "50")
            .env_remove("CAMPUSHUB_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, output, started) = super::spawn_until(&mut cmd, "worker started");
        let metrics = started["metrics"].as_str().unwrap().parse().unwrap();
        let name = started["worker"].as_str().unwrap().to_string();
        Worker {
            child,
            metrics,
            name,
            output,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits at most `within` for the exit.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal("TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "the worker did not stop within {within:?}: {:?}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a worker that dies without a word.
    pub fn kill(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// `/metrics` of this worker.
    pub fn metrics_text(&self) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    pub fn logs(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
