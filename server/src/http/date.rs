//! The `Date` header value, formatted once per second per shard by a timer task.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// The shard's current `Date` value.
#[derive(Debug)]
pub struct DateCache {
    value: Cell<[u8; DATE_LEN]>,
}

impl DateCache {
    /// A cache holding the current time.
    pub fn new() -> Rc<DateCache> {
        let cache = Rc::new(DateCache {
            value: Cell::new([b' '; DATE_LEN]),
        });
        cache.refresh();
        cache
    }

    /// The value to send.
    pub fn get(&self) -> [u8; DATE_LEN] {
        self.value.get()
    }

    fn refresh(&self) {
        let s = httpdate::fmt_http_date(SystemTime::now());
        let mut v = [b' '; DATE_LEN];
        let n = s.len().min(DATE_LEN);
        v[..n].copy_from_slice(&s.as_bytes()[..n]);
        self.value.set(v);
    }

    /// Refreshes the value just after each whole second, for as long as the shard runs.
    pub async fn run(self: Rc<Self>) {
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let to_next = Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos()));
            monoio::time::sleep(to_next + Duration::from_millis(1)).await;
            self.refresh();
        }
    }
}
