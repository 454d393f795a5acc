//! Passwords: argon2id hashes (19 MiB, t=2, p=1), Django `pbkdf2_sha256$` hashes from the
//! system we replace (verified, then re-hashed to argon2id), and the bounded pool of threads
//! that does this work off the shard threads so a log-in never stalls a core.
//!
//! Results come back to the shard that asked through its own inbox: a mutex-guarded list
//! (touched only by log-ins, never by ordinary requests) and one byte on a socket pair that
//! wakes the shard's inbox task. When the pool's queue is full, callers get `Busy` at once.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use monoio::io::AsyncReadRent;

/// The outcome of checking a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It matches. `rehash` carries a new argon2id hash when the stored one should be replaced
    /// (a Django hash, or argon2 with other parameters).
    Valid {
        /// Replacement hash to store.
        rehash: Option<String>,
    },
    /// It does not match (or there was no such user: checked against a dummy hash, so both
    /// cases take the same time).
    Invalid,
}

fn argon() -> argon2::Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: OWASP's argon2id baseline.
    let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// A new argon2id hash of `password`.
pub fn hash(password: &str) -> Option<String> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).ok()?;
    argon()
        .hash_password(password.as_bytes(), &salt)
        .ok()
        .map(|h| h.to_string())
}

/// A hash nobody's password matches, checked for unknown users so they cost the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("not a password: timing equaliser").unwrap_or_default())
}

/// Checks `password` against `stored` (`None`: no such user). CPU-heavy: call it on the pool.
pub fn verify(stored: Option<&str>, password: &str) -> Verdict {
    let Some(stored) = stored else {
        let _ = verify_argon2(dummy_hash(), password);
        return Verdict::Invalid;
    };
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        return if verify_django(rest, password) {
            Verdict::Valid {
                rehash: hash(password),
            }
        } else {
            Verdict::Invalid
        };
    }
    match verify_argon2(stored, password) {
        Some(true) => {
            let current = stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$");
            Verdict::Valid {
                rehash: if current { None } else { hash(password) },
            }
        }
        _ => Verdict::Invalid,
    }
}

fn verify_argon2(stored: &str, password: &str) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    Some(
        argon()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
    )
}

/// Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (the part after the prefix).
fn verify_django(rest: &str, password: &str) -> bool {
    use base64::Engine as _;
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if !(1..=10_000_000).contains(&iterations) {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    // Constant-time comparison.
    out.iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// The pool is full; answer 503 with Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct Job {
    /// The principal's share of the pool, given back when the job is dropped (done, or
    /// refused by a full queue).
    _slot: Option<OwnerSlot>,
    /// `None` with `hash_only` set: hash `password` instead of checking it.
    stored: Option<String>,
    hash_only: bool,
    password: String,
    inbox: Arc<Inbox>,
    ticket: u64,
}

/// Where a shard's results land.
struct Inbox {
    results: Mutex<Vec<(u64, Verdict)>>,
    wake: Mutex<StdUnixStream>,
}

/// The process-wide hashing pool (the one piece of log-in work that crosses threads).
pub struct PasswordPool {
    queue: SyncSender<Job>,
    /// Jobs in the pool per principal (only principals with one are present).
    owners: Mutex<HashMap<i64, u32>>,
    /// Most jobs one principal may have in the pool at once.
    per_owner: u32,
}

/// One job's claim on its principal's share of the pool.
struct OwnerSlot {
    pool: Arc<PasswordPool>,
    owner: i64,
}

impl Drop for OwnerSlot {
    fn drop(&mut self) {
        let mut owners = match self.pool.owners.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(n) = owners.get_mut(&self.owner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                owners.remove(&self.owner);
            }
        }
    }
}

impl PasswordPool {
    /// A claim on one of `owner`'s jobs, or `None` when they already hold their share.
    fn claim(self: &Arc<Self>, owner: i64) -> Option<OwnerSlot> {
        let mut owners = match self.owners.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let n = owners.entry(owner).or_insert(0);
        if *n >= self.per_owner {
            return None;
        }
        *n += 1;
        Some(OwnerSlot {
            pool: Arc::clone(self),
            owner,
        })
    }
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordPool")
    }
}

impl PasswordPool {
    /// Starts `threads` hashing threads with room for `queue` waiting jobs.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Arc<PasswordPool>> {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("passwords-{i}"))
                .spawn(move || worker(&rx))?;
        }
        // One principal holds at most a sixteenth of the queue (at least one job), so a flood
        // of password changes from one token cannot starve everyone else's log-ins.
        let per_owner = u32::try_from((queue / 16).max(1)).unwrap_or(u32::MAX);
        Ok(Arc::new(PasswordPool {
            queue: tx,
            owners: Mutex::new(HashMap::new()),
            per_owner,
        }))
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let guard = match rx.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let verdict = if job.hash_only {
            match hash(&job.password) {
                Some(h) => Verdict::Valid { rehash: Some(h) },
                None => Verdict::Invalid,
            }
        } else {
            verify(job.stored.as_deref(), &job.password)
        };
        match job.inbox.results.lock() {
            Ok(mut r) => r.push((job.ticket, verdict)),
            Err(p) => p.into_inner().push((job.ticket, verdict)),
        }
        // A shard that stopped listening has no one waiting: a failed wake needs no action.
        let _ = match job.inbox.wake.lock() {
            Ok(mut w) => w.write_all(&[1]),
            Err(p) => p.into_inner().write_all(&[1]),
        };
    }
}

#[derive(Default)]
struct Pending {
    verdict: Option<Verdict>,
    waker: Option<Waker>,
}

/// One shard's side of the pool.
pub struct ShardPasswords {
    pool: Arc<PasswordPool>,
    inbox: Arc<Inbox>,
    pending: Rc<RefCell<HashMap<u64, Pending>>>,
    next: Cell<u64>,
}

impl ShardPasswords {
    /// Connects this shard to the pool and starts its inbox task on the current runtime.
    pub fn start(pool: Arc<PasswordPool>) -> std::io::Result<ShardPasswords> {
        let (reader, writer) = StdUnixStream::pair()?;
        reader.set_nonblocking(true)?;
        let reader = monoio::net::UnixStream::from_std(reader)?;
        let inbox = Arc::new(Inbox {
            results: Mutex::new(Vec::new()),
            wake: Mutex::new(writer),
        });
        let pending: Rc<RefCell<HashMap<u64, Pending>>> = Rc::default();
        monoio::spawn(deliver(reader, Arc::clone(&inbox), Rc::clone(&pending)));
        Ok(ShardPasswords {
            pool,
            inbox,
            pending,
            next: Cell::new(0),
        })
    }

    /// Checks a password on the pool; `Err(Busy)` at once when its queue is full.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<Verdict, Busy> {
        self.submit(None, stored, false, password).await
    }

    /// [`verify`](Self::verify) for an authenticated principal, within their share of the
    /// pool (`Err(Busy)` when they already hold it).
    pub async fn verify_as(
        &self,
        owner: i64,
        stored: Option<String>,
        password: String,
    ) -> Result<Verdict, Busy> {
        let slot = self.pool.claim(owner).ok_or(Busy)?;
        self.submit(Some(slot), stored, false, password).await
    }

    /// [`hash`](Self::hash) for an authenticated principal, within their share of the pool.
    pub async fn hash_as(&self, owner: i64, password: String) -> Result<Option<String>, Busy> {
        let slot = self.pool.claim(owner).ok_or(Busy)?;
        Ok(match self.submit(Some(slot), None, true, password).await? {
            Verdict::Valid { rehash } => rehash,
            Verdict::Invalid => None,
        })
    }

    /// Hashes a new password on the pool (`Ok(None)` only if hashing itself failed).
    pub async fn hash(&self, password: String) -> Result<Option<String>, Busy> {
        Ok(match self.submit(None, None, true, password).await? {
            Verdict::Valid { rehash } => rehash,
            Verdict::Invalid => None,
        })
    }

    async fn submit(
        &self,
        slot: Option<OwnerSlot>,
        stored: Option<String>,
        hash_only: bool,
        password: String,
    ) -> Result<Verdict, Busy> {
        let ticket = self.next.get();
        self.next.set(ticket + 1);
        self.pending.borrow_mut().insert(ticket, Pending::default());
        let job = Job {
            _slot: slot,
            stored,
            hash_only,
            password,
            inbox: Arc::clone(&self.inbox),
            ticket,
        };
        match self.pool.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.pending.borrow_mut().remove(&ticket);
                return Err(Busy);
            }
        }
        Ok(WaitVerdict {
            pending: &self.pending,
            ticket,
        }
        .await)
    }
}

struct WaitVerdict<'a> {
    pending: &'a RefCell<HashMap<u64, Pending>>,
    ticket: u64,
}

impl Future for WaitVerdict<'_> {
    type Output = Verdict;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Verdict> {
        let mut pending = self.pending.borrow_mut();
        let Some(entry) = pending.get_mut(&self.ticket) else {
            return Poll::Ready(Verdict::Invalid);
        };
        if let Some(v) = entry.verdict.take() {
            pending.remove(&self.ticket);
            return Poll::Ready(v);
        }
        entry.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for WaitVerdict<'_> {
    fn drop(&mut self) {
        // A cancelled log-in: forget the ticket (a late verdict is then dropped).
        self.pending.borrow_mut().remove(&self.ticket);
    }
}

/// Wakes the shard's waiting log-ins as verdicts arrive.
async fn deliver(
    mut reader: monoio::net::UnixStream,
    inbox: Arc<Inbox>,
    pending: Rc<RefCell<HashMap<u64, Pending>>>,
) {
    let mut buf = vec![0u8; 64];
    loop {
        let (res, b) = reader.read(buf).await;
        buf = b;
        if matches!(res, Ok(0) | Err(_)) {
            return;
        }
        let results = match inbox.results.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        let mut pending = pending.borrow_mut();
        for (ticket, verdict) in results {
            if let Some(entry) = pending.get_mut(&ticket) {
                entry.verdict = Some(verdict);
                if let Some(w) = entry.waker.take() {
                    w.wake();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_hashes_verify_and_current_ones_need_no_rehash() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            verify(Some(&h), "correct horse"),
            Verdict::Valid { rehash: None }
        );
        assert_eq!(verify(Some(&h), "wrong horse"), Verdict::Invalid);
        assert_eq!(verify(None, "anything"), Verdict::Invalid);
        assert_eq!(verify(Some("garbage"), "anything"), Verdict::Invalid);
    }

    #[test]
    fn django_pbkdf2_hashes_verify_and_ask_for_a_rehash() {
        // Django's PBKDF2PasswordHasher format, produced independently with Python's
        // hashlib.pbkdf2_hmac("sha256", b"campus-2019", b"Xq2lVQkGd1rW", 260000, 32).
        let stored =
            "pbkdf2_sha256$260000$Xq2lVQkGd1rW$ioK0aNZtBunv0aFpD5fClyRwvnmbtljxtvAdO5tPAaI=";
        match verify(Some(stored), "campus-2019") {
            Verdict::Valid { rehash: Some(new) } => assert!(new.starts_with("$argon2id$")),
            other => panic!("{other:?}"),
        }
        assert_eq!(verify(Some(stored), "campus-2020"), Verdict::Invalid);
        assert_eq!(
            verify(Some("pbkdf2_sha256$x$salt$abc"), "campus-2019"),
            Verdict::Invalid
        );
        assert_eq!(
            verify(Some("pbkdf2_sha256$1000$salt"), "campus-2019"),
            Verdict::Invalid
        );
    }

    #[test]
    fn one_principal_holds_at_most_its_share_of_the_pool() {
        // A queue of 32: a share of two jobs.
        let pool = PasswordPool::start(1, 32).unwrap();
        let a = pool.claim(7).unwrap();
        let b = pool.claim(7).unwrap();
        assert!(pool.claim(7).is_none(), "a third job of the same principal");
        assert!(pool.claim(8).is_some(), "others are unaffected");
        drop(a);
        assert!(pool.claim(7).is_some(), "a finished job frees its place");
        drop(b);
        assert!(pool.owners.lock().unwrap().get(&7).is_none());
    }

    #[test]
    fn pbkdf2_matches_the_rfc_7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256, P = "passwd", S = "salt", c = 1; the first
        // 32 bytes are 55ac046e...0dacbc.
        let expected = "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=";
        assert!(verify_django(&format!("1$salt${expected}"), "passwd"));
        assert!(!verify_django(&format!("2$salt${expected}"), "passwd"));
    }
}
