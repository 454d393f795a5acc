//! A bounded per-shard cache: a plain map, no locks, entries with an expiry.
//!
//! Owned by one shard (`!Send` in use: it lives in the shard's `Rc` state). When full, an
//! insert evicts an arbitrary batch of entries; hot entries come back on the next miss.

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::Instant;

use hashbrown::HashMap;

/// Bounded map from `K` to `V` with per-entry expiry.
pub struct LocalCache<K, V> {
    map: HashMap<K, (V, Instant), ahash::RandomState>,
    capacity: usize,
    hits: u64,
    misses: u64,
}

impl<K: Hash + Eq, V> LocalCache<K, V> {
    /// A cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LocalCache {
            map: HashMap::with_capacity_and_hasher(
                capacity.min(1 << 16),
                ahash::RandomState::new(),
            ),
            capacity: capacity.max(1),
            hits: 0,
            misses: 0,
        }
    }

    /// The value for `key` if present and not expired at `now` (borrowed keys work, e.g.
    /// `&str` for `Box<str>`, so a lookup allocates nothing).
    pub fn get<Q>(&mut self, key: &Q, now: Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // One lookup. An expired entry is left in place: the next insert overwrites it, and
        // eviction prefers expired entries.
        match self.map.get(key) {
            Some((v, exp)) if *exp > now => {
                self.hits += 1;
                Some(v)
            }
            _ => {
                self.misses += 1;
                None
            }
        }
    }

    /// Inserts `value` until `expires`, evicting if full.
    pub fn insert(&mut self, key: K, value: V, expires: Instant) {
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            let evict = (self.capacity / 8).max(1);
            let now = Instant::now();
            let mut n = 0;
            self.map.retain(|_, (_, exp)| {
                n += 1;
                n > evict && *exp > now
            });
        }
        self.map.insert(key, (value, expires));
    }

    /// Drops one entry.
    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key);
    }

    /// Keeps only the entries for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.map.retain(|k, (v, _)| keep(k, v));
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Entries held (some may be expired).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// (hits, misses) since start.
    pub fn hit_miss(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

/// What a shard counts and clears of each of its caches, whatever the cache holds: a shard
/// lists its caches once (`Shard::caches` in the server) and its readiness figures, metrics
/// and "clear everything" follow from that list.
pub trait ShardCache {
    /// (entries held, hits, misses since start).
    fn figures(&self) -> (usize, u64, u64);
    /// Drops every entry.
    fn drop_all(&mut self);
}

impl<K: Hash + Eq, V> ShardCache for LocalCache<K, V> {
    fn figures(&self) -> (usize, u64, u64) {
        (self.map.len(), self.hits, self.misses)
    }

    fn drop_all(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expires_and_bounds() {
        let now = Instant::now();
        let mut c = LocalCache::new(8);
        for i in 0..100u32 {
            c.insert(i, i * 2, now + Duration::from_secs(1));
            assert!(c.len() <= 8);
        }
        assert_eq!(c.get(&99, now), Some(&198));
        assert_eq!(c.get(&99, now + Duration::from_secs(2)), None);
        assert_eq!(c.hit_miss(), (1, 1));
    }
}
