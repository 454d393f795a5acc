//! Identity: passwords (hashed off the shard threads), one-time codes for multi-factor log-in,
//! access tokens (JWT, cached per shard), refresh tokens (opaque, stored hashed), and the
//! caller behind a request.

pub mod access;
pub mod api_keys;
pub mod caller;
pub mod links;
pub mod passwords;
pub mod rule;
pub mod throttle;
pub mod tokens;
pub mod totp;

use base64::Engine as _;
use sha2::Digest as _;

/// A new opaque refresh token (32 random bytes, base64url) and the SHA-256 hash that is stored.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}

/// Compares two byte strings in time independent of where they differ (secrets: API keys, the
/// ops token).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of an `Authorization` header, if it has one (bytes: the per-shard cache
/// is keyed by them, so a cached token is never re-validated as UTF-8).
pub fn bearer(authorization: Option<&[u8]>) -> Option<&[u8]> {
    let v = authorization?.trim_ascii();
    let space = memchr::memchr(b' ', v)?;
    let (scheme, token) = (&v[..space], v[space + 1..].trim_ascii());
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(ha.len(), 32);
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some(b"Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(Some(b"bearer  abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(Some(b"Basic abc")), None);
        assert_eq!(bearer(Some(b"Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
