//! A second cache level in Redis, shared by every shard of every instance: encoded records
//! (student profiles) that a shard's own cache lacks are looked up here before PostgreSQL.
//!
//! An entry is `<version> <id> <group> <body>`: the record's version (microseconds of its last
//! change), its row id, its group (a student's department) and the encoded body. [`fill`] never
//! replaces a version with an older one, so after a write (whose writer stores the new version
//! once it has committed) a reader that read PostgreSQL before the commit cannot put the old
//! record back. Every call is bounded by the connection's timeout, and a failed call is a miss:
//! PostgreSQL still answers.

use std::time::Duration;

use crate::{RedisError, ShardRedis};

/// One record as the shared level keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Microseconds of the record's last change.
    pub version: i64,
    /// Row id.
    pub id: i64,
    /// The record's group (a student's department row id).
    pub group: i64,
    /// The encoded record.
    pub body: Vec<u8>,
}

/// Stores `value` (ARGV[2]) under KEYS[1] for ARGV[3] ms unless a version at least ARGV[1] is
/// there.
const FILL: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%-?%d+) '))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// The wire form of `e`.
pub fn encode(e: &Entry) -> Vec<u8> {
    let mut out = format!("{} {} {} ", e.version, e.id, e.group).into_bytes();
    out.extend_from_slice(&e.body);
    out
}

/// Parses the wire form; `None` for anything malformed.
pub fn decode(bytes: &[u8]) -> Option<Entry> {
    let mut fields = bytes.splitn(4, |b| *b == b' ');
    let mut num = || -> Option<i64> { std::str::from_utf8(fields.next()?).ok()?.parse().ok() };
    let (version, id, group) = (num()?, num()?, num()?);
    let body = fields.next()?.to_vec();
    Some(Entry {
        version,
        id,
        group,
        body,
    })
}

/// The entries under `keys`, in order (`None`: absent or unreadable).
pub async fn get_many(
    redis: &ShardRedis,
    keys: &[String],
) -> Result<Vec<Option<Entry>>, RedisError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = redis::cmd("MGET");
    for k in keys {
        cmd.arg(k);
    }
    let values: Vec<Option<Vec<u8>>> = redis.query(&cmd).await?;
    if values.len() != keys.len() {
        return Err(RedisError::Command);
    }
    Ok(values
        .into_iter()
        .map(|v| v.and_then(|b| decode(&b)))
        .collect())
}

/// Stores `e` under `key` for `ttl`, unless the same or a newer version is there. Whether it
/// was stored.
pub async fn fill(
    redis: &ShardRedis,
    key: &str,
    e: &Entry,
    ttl: Duration,
) -> Result<bool, RedisError> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(FILL)
        .arg(1)
        .arg(key)
        .arg(e.version)
        .arg(encode(e))
        .arg(ttl.as_millis().max(1) as u64);
    let stored: i64 = redis.query(&cmd).await?;
    Ok(stored == 1)
}

/// Removes every key starting with `prefix`; how many.
pub async fn clear(redis: &ShardRedis, prefix: &str) -> Result<u64, RedisError> {
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    let mut removed = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, keys): (u64, Vec<String>) = redis.query(&scan).await?;
        if !keys.is_empty() {
            let mut unlink = redis::cmd("UNLINK");
            for k in &keys {
                unlink.arg(k);
            }
            let n: u64 = redis.query(&unlink).await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_a_miss() {
        let e = Entry {
            version: 1_796_000_000_123_456,
            id: 42,
            group: -7,
            body: br#"{"given_name":"A B","x":" 1 2 "}"#.to_vec(),
        };
        assert_eq!(decode(&encode(&e)), Some(e));
        for bad in [&b"-"[..], b"", b"1 2", b"1 2 3", b"x 2 3 {}", b"1 2 y {}"] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
