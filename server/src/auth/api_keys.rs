//! API keys: `chk_<prefix>_<secret>`, shown once at creation and stored only as a SHA-256
//! hash, found by their public prefix; presented as `X-API-Key` or as a Bearer token. A key
//! acts for its creator, on every use with the intersection of its own scoped bindings and
//! what the creator holds at that moment (never self-only rights), and only while the creator's
//! account is usable. Each shard caches verified keys (by the key's bytes) and records their
//! use in batches rather than with a write per request.

use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use campushub_cache::LocalCache;
use campushub_db::queries::api_keys;
use sha2::Digest as _;

use crate::api_error::ApiError;
use crate::auth::access::Principal;

/// What every key starts with (so a leaked one is recognisable, and tokens and keys never
/// look alike).
pub const KEY_MARK: &str = "chk_";
/// Characters of the public prefix.
const PREFIX_LEN: usize = 10;
/// Characters of the secret part (32 random bytes, base64url without padding).
const SECRET_LEN: usize = 43;
/// How often a shard writes down which keys it saw used.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(5);

/// A new key: (the key, its public prefix, the SHA-256 that is stored).
pub fn generate() -> (String, String, Vec<u8>) {
    let id = uuid::Uuid::new_v4();
    let prefix: String = id.simple().to_string()[..PREFIX_LEN].to_string();
    let mut secret = [0u8; 32];
    secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let key = format!("{KEY_MARK}{prefix}_{secret}");
    let hash = sha2::Sha256::digest(key.as_bytes()).to_vec();
    (key, prefix, hash)
}

/// The public prefix of a well-formed key.
pub fn prefix_of(key: &[u8]) -> Option<&str> {
    let rest = key.strip_prefix(KEY_MARK.as_bytes())?;
    if rest.len() != PREFIX_LEN + 1 + SECRET_LEN || rest[PREFIX_LEN] != b'_' {
        return None;
    }
    let (prefix, secret) = (&rest[..PREFIX_LEN], &rest[PREFIX_LEN + 1..]);
    let ok = prefix
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && secret
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    ok.then(|| std::str::from_utf8(prefix).ok()).flatten()
}

/// A verified key: which one, whose, and its own grants.
#[derive(Debug)]
pub struct KeyPrincipal {
    /// api_keys.id.
    pub key_id: i64,
    /// users.id of its creator.
    pub owner_id: i64,
    /// The grants of its own bindings, as stored.
    grants: Vec<campushub_db::queries::access::Grant>,
    /// The principal it acts as, with the creator principal it was computed from: reused
    /// while the creator's cached principal is the same one (a change to the creator drops
    /// that, so the next use recomputes).
    acting: std::cell::RefCell<Option<(Rc<Principal>, Rc<Principal>)>>,
}

impl KeyPrincipal {
    /// The principal this key acts as while its creator is `creator`: the creator's id and
    /// account state, and those of the key's grants that the creator still holds, not through
    /// a self-only role, at the institution or at the grant's own scope.
    pub fn acting_as(&self, creator: &Rc<Principal>) -> Rc<Principal> {
        if let Some((from, acting)) = self.acting.borrow().as_ref() {
            if Rc::ptr_eq(from, creator) {
                return Rc::clone(acting);
            }
        }
        let acting = Rc::new(Principal {
            user_id: creator.user_id,
            grants: crate::auth::access::within(&self.grants, creator),
            usable: creator.usable,
            revoked_before_ms: creator.revoked_before_ms,
        });
        *self.acting.borrow_mut() = Some((Rc::clone(creator), Rc::clone(&acting)));
        acting
    }
}

/// The shard's verified keys and the ids used since the last batch was written.
pub struct KeyCache {
    cache: LocalCache<Box<[u8]>, Rc<KeyPrincipal>>,
    used: hashbrown::HashSet<i64>,
}

impl KeyCache {
    /// A cache of at most `capacity` keys.
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            cache: LocalCache::new(capacity),
            used: hashbrown::HashSet::new(),
        }
    }

    /// The verified key for these bytes, if cached (marks it used).
    pub fn get(&mut self, key: &[u8]) -> Option<Rc<KeyPrincipal>> {
        let k = Rc::clone(self.cache.get(key, Instant::now())?);
        self.used.insert(k.key_id);
        Some(k)
    }

    /// Drops the keys of user `owner` (their account or rights changed).
    pub fn forget_owner(&mut self, owner: i64) {
        self.cache.retain(|_, k| k.owner_id != owner);
    }

    /// Drops every key (one was revoked, or grants changed).
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

impl campushub_cache::ShardCache for KeyCache {
    fn figures(&self) -> (usize, u64, u64) {
        self.cache.figures()
    }

    fn drop_all(&mut self) {
        self.cache.drop_all();
    }
}

/// The principal of a presented key, from the shard's cache (`cache`, which keeps it for
/// `ttl`) or the database.
pub async fn resolve(
    cache: &std::cell::RefCell<KeyCache>,
    db: &campushub_db::Pool,
    ttl: std::time::Duration,
    key: &[u8],
) -> Result<Rc<KeyPrincipal>, ApiError> {
    if let Some(k) = cache.borrow_mut().get(key) {
        return Ok(k);
    }
    let invalid = ApiError::Unauthenticated("The API key is not valid.");
    let prefix = prefix_of(key).ok_or(invalid)?;
    let stored = api_keys::by_prefix(db, prefix)
        .await?
        .ok_or(ApiError::Unauthenticated("The API key is not valid."))?;
    if !crate::auth::same_secret(&sha2::Sha256::digest(key), &stored.secret_hash) {
        return Err(ApiError::Unauthenticated("The API key is not valid."));
    }
    if !stored.live {
        return Err(ApiError::Unauthenticated(
            "The API key was revoked or has expired.",
        ));
    }
    if !stored.owner_usable {
        return Err(ApiError::Unauthenticated(
            "The account that made this API key is disabled.",
        ));
    }
    let grants = api_keys::grants(db, stored.id).await?;
    let k = Rc::new(KeyPrincipal {
        key_id: stored.id,
        owner_id: stored.owner_id,
        grants,
        acting: std::cell::RefCell::new(None),
    });
    let mut cache = cache.borrow_mut();
    cache
        .cache
        .insert(key.into(), Rc::clone(&k), Instant::now() + ttl);
    cache.used.insert(k.key_id);
    Ok(k)
}

/// Writes down which keys this shard saw used since the last time (one statement for the
/// batch); a failed write keeps the ids for the next round. The spawner calls it every
/// [`TOUCH_INTERVAL`].
pub async fn record_use(cache: &std::cell::RefCell<KeyCache>, db: &campushub_db::Pool) {
    let ids: Vec<i64> = cache.borrow().used.iter().copied().collect();
    if ids.is_empty() {
        return;
    }
    if api_keys::touch(db, &ids).await.is_ok() {
        let mut cache = cache.borrow_mut();
        for id in &ids {
            cache.used.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_garbage_does_not() {
        let (key, prefix, hash) = generate();
        assert_eq!(prefix_of(key.as_bytes()), Some(prefix.as_str()));
        assert_eq!(hash.len(), 32);
        assert_ne!(generate().0, key);
        let mut bad = key.clone().into_bytes();
        bad[5] = b'Z';
        for k in [
            &bad[..],
            b"",
            b"chk_",
            &key.as_bytes()[..key.len() - 1],
            b"eyJhbGciOiJIUzI1NiJ9.e30.x",
        ] {
            assert_eq!(prefix_of(k), None, "{:?}", String::from_utf8_lossy(k));
        }
        use crate::auth::same_secret as same;
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
