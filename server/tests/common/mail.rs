//! What the stack's SMTP server delivered: its Maildir (CAMPUSHUB_MAILDIR), read with
//! scripts/lib/read_mail.py (Python's email package decodes the MIME parts, an implementation
//! independent of the one that wrote them).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{repo, stack_env};

/// Every message delivered to `to` (oldest first).
pub fn delivered_to(to: &str) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(repo().join("scripts/lib/read_mail.py"))
        .arg(stack_env("CAMPUSHUB_MAILDIR"))
        .arg("--to")
        .arg(to)
        .output()
        .expect("python3 runs scripts/lib/read_mail.py");
    assert!(
        out.status.success(),
        "read_mail.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits up to `within` until `n` messages were delivered to `to`; answers them.
pub fn wait_for(to: &str, n: usize, within: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got = delivered_to(to);
        if got.len() >= n {
            return got;
        }
        assert!(
            started.elapsed() < within,
            "{} message(s) to {to} within {within:?}, wanted {n}",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The link in a message's text that opens `page` (`/account/invitation`), and its token.
pub fn link(message: &Value, page: &str) -> (String, String) {
    let text = message["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains(page) && w.contains("#token="))
        .unwrap_or_else(|| panic!("no {page} link in {text}"))
        .to_string();
    let token = link.split("#token=").nth(1).unwrap().to_string();
    (link, token)
}

/// Drives headless Chromium through `url` with scripts/lib/browser.py and `args` (its
/// `--type`, `--click`, `--wait`, `--screenshot`): what it saw (the address after load, the
/// texts waited for, the console and the browser's log).
pub fn browse(url: &str, args: &[String]) -> Value {
    let out = super::run_ok(
        Command::new("python3")
            .arg(repo().join("scripts/lib/browser.py"))
            .arg(url)
            .args(args),
        "headless chromium (scripts/lib/browser.py)",
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
