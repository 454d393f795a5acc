//! One JSON line per request, buffered per shard and written by the shard's flush task, so
//! the request path never blocks on stdout or takes its lock.

use std::cell::RefCell;
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most bytes buffered before lines are dropped (and counted) instead of queued.
const MAX_BUFFERED: usize = 4 << 20;

/// A finished request, as the log records it.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Method.
    pub method: &'a str,
    /// Route template (never the raw path, which may carry ids).
    pub route: &'a str,
    /// Status.
    pub status: u16,
    /// Time from the head being parsed to the response being queued.
    pub duration: Duration,
    /// Request id.
    pub request_id: &'a [u8],
    /// Shard.
    pub shard: usize,
    /// W3C traceparent, if the client sent a well-formed one.
    pub traceparent: Option<&'a [u8]>,
}

/// The shard's access log.
#[derive(Debug)]
pub struct AccessLog {
    buf: RefCell<Vec<u8>>,
    /// Sampling threshold on a 32-bit scale (0 = none, u32::MAX + 1 = all).
    threshold: u64,
    rng: std::cell::Cell<u64>,
    dropped: std::cell::Cell<u64>,
}

impl AccessLog {
    /// A log keeping a `sample` fraction (0..=1) of successful requests; errors always.
    pub fn new(sample: f64, seed: u64) -> Rc<AccessLog> {
        Rc::new(AccessLog {
            buf: RefCell::new(Vec::with_capacity(64 * 1024)),
            threshold: (sample.clamp(0.0, 1.0) * 4_294_967_296.0) as u64,
            rng: std::cell::Cell::new(seed | 1),
            dropped: std::cell::Cell::new(0),
        })
    }

    fn sampled(&self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        if self.threshold >= 1 << 32 {
            return true;
        }
        // xorshift64: cheap and good enough to pick a fraction of lines.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x >> 32) < self.threshold
    }

    /// Records a request if sampled (5xx always are).
    pub fn record(&self, e: &Entry<'_>) {
        if e.status < 500 && !self.sampled() {
            return;
        }
        let mut buf = self.buf.borrow_mut();
        if buf.len() > MAX_BUFFERED {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let level = if e.status >= 500 { "error" } else { "info" };
        let _ = write!(
            buf,
            "{{\"ts\":{ts:.6},\"level\":\"{level}\",\"msg\":\"request\",\"method\":\"{}\",\"route\":\"{}\",\"status\":{},\"duration_s\":{:.6},\"request_id\":\"",
            e.method,
            e.route,
            e.status,
            e.duration.as_secs_f64()
        );
        // Request ids and traceparents were validated to plain ASCII before they got here.
        buf.extend_from_slice(e.request_id);
        let _ = write!(buf, "\",\"shard\":{}", e.shard);
        if let Some(tp) = e.traceparent {
            buf.extend_from_slice(b",\"traceparent\":\"");
            buf.extend_from_slice(tp);
            buf.push(b'"');
        }
        buf.extend_from_slice(b"}\n");
    }

    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Writes what is buffered to stdout.
    pub fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf);
        let _ = out.flush();
        buf.clear();
    }

    /// Flushes every 100 ms for as long as the shard runs.
    pub async fn run(self: Rc<Self>) {
        loop {
            monoio::time::sleep(Duration::from_millis(100)).await;
            self.flush();
        }
    }
}

/// Writes one JSON log line for a server event (start-up, shutdown), outside the request path.
pub fn event(level: &str, msg: &str, fields: &[(&str, String)]) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut line = format!("{{\"ts\":{ts:.6},\"level\":\"{level}\",\"msg\":{msg:?}");
    for (k, v) in fields {
        line.push_str(&format!(",{k:?}:{v:?}"));
    }
    line.push_str("}\n");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_extremes() {
        let none = AccessLog::new(0.0, 7);
        let all = AccessLog::new(1.0, 7);
        let e = Entry {
            method: "GET",
            route: "/healthz",
            status: 200,
            duration: Duration::from_micros(5),
            request_id: b"abc",
            shard: 0,
            traceparent: None,
        };
        none.record(&e);
        all.record(&e);
        assert!(none.buf.borrow().is_empty());
        let line = String::from_utf8(all.buf.borrow().clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["route"], "/healthz");
        assert_eq!(v["status"], 200);
        assert_eq!(v["request_id"], "abc");
        assert!(v["duration_s"].as_f64().unwrap() > 0.0);
        let err = Entry { status: 503, ..e };
        none.record(&err);
        assert!(!none.buf.borrow().is_empty(), "errors are always logged");
    }

    #[test]
    fn half_sampling_is_roughly_half() {
        let log = AccessLog::new(0.5, 12345);
        let n = (0..10_000).filter(|_| log.sampled()).count();
        assert!((4_000..6_000).contains(&n), "{n}");
    }
}
