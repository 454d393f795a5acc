//! SIGTERM/SIGINT handling: the one flag (besides the config) shared across threads.
//!
//! The first signal starts draining; a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared shutdown state.
#[derive(Debug, Default)]
pub struct Shutdown {
    draining: AtomicBool,
}

impl Shutdown {
    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts draining.
    pub fn start(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// Installs the signal handlers and returns the shared state.
pub fn install() -> std::io::Result<Arc<Shutdown>> {
    let shutdown = Arc::new(Shutdown::default());
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    let s = Arc::clone(&shutdown);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if s.is_draining() {
                    crate::access_log::event("warn", "second signal: exiting now", &[]);
                    std::process::exit(1);
                }
                crate::access_log::event(
                    "info",
                    "shutdown requested: draining",
                    &[("signal", sig.to_string())],
                );
                s.start();
            }
        })?;
    Ok(shutdown)
}
