//! Access tokens and MFA challenges: `verify`/`verify_kind` on arbitrary bytes against a
//! fixed key set, and issue -> verify round trips.
//!
//! Input: a mode byte, then the bytes. Mode 0: the bytes are a token (as `authenticate` hands
//! it over: UTF-8 or refused); anything accepted must carry this server's issuer and the
//! kind's audience, and never pass as the other kind. Mode 1: the bytes are a key spec for
//! `KeySet::parse` (config), which must not panic and yields at least one key. Otherwise: a
//! token is issued for a subject made of the bytes, verifies with the same claims, is refused
//! as the other kind and by a key set without its key, and refused again after any one byte
//! of it is changed (the position and the new byte come from the input).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use campushub::auth::tokens::{self, KeySet, Kind, TokenError};
use libfuzzer_sys::fuzz_target;

/// Two keys, `k2` signing, as a rotation leaves them; and the same without `k2`.
fn keys() -> &'static (KeySet, KeySet) {
    static KEYS: OnceLock<(KeySet, KeySet)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let k1 = "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let k2 = "k2=ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
        (
            KeySet::parse(&format!("{k1},{k2}"), Some("k2")).expect("keys"),
            KeySet::parse(k1, None).expect("keys"),
        )
    })
}

fn other(kind: Kind) -> Kind {
    match kind {
        Kind::Access => Kind::MfaChallenge,
        Kind::MfaChallenge => Kind::Access,
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, bytes @ ..] = data else { return };
    let (keys, old_keys) = keys();
    match mode % 4 {
        0 => {
            let Ok(token) = std::str::from_utf8(bytes) else {
                return;
            };
            for kind in [Kind::Access, Kind::MfaChallenge] {
                if let Ok(c) = tokens::verify_kind(keys, kind, token) {
                    assert_eq!(c.iss, tokens::ISSUER);
                    let aud = match kind {
                        Kind::Access => tokens::AUDIENCE,
                        Kind::MfaChallenge => tokens::MFA_AUDIENCE,
                    };
                    assert_eq!(c.aud, aud);
                    assert!(tokens::verify_kind(keys, other(kind), token).is_err());
                }
            }
        }
        1 => {
            let Ok(spec) = std::str::from_utf8(bytes) else {
                return;
            };
            if let Ok(k) = KeySet::parse(spec, None) {
                assert!(!k.kids().is_empty());
            }
        }
        _ => {
            let [at, new, ttl, subject @ ..] = bytes else {
                return;
            };
            let kind = if mode & 4 == 0 {
                Kind::Access
            } else {
                Kind::MfaChallenge
            };
            let sub = String::from_utf8_lossy(subject);
            let uid = i64::from(*ttl) * 7919 - 1_000_000;
            let ttl = Duration::from_secs(u64::from(*ttl) * 60);
            let (token, issued) = tokens::issue_kind(keys, kind, uid, &sub, ttl).expect("issue");
            let c = tokens::verify_kind(keys, kind, &token).expect("own token refused");
            assert_eq!(c, issued);
            assert_eq!((c.sub.as_str(), c.uid), (&*sub, uid));
            assert_eq!(
                tokens::verify_kind(keys, other(kind), &token).unwrap_err(),
                TokenError::Invalid
            );
            assert!(tokens::verify_kind(old_keys, kind, &token).is_err());
            let mut changed = token.into_bytes();
            let i = usize::from(*at) * changed.len() / 256;
            if changed[i] == *new {
                return;
            }
            changed[i] = *new;
            if let Ok(t) = std::str::from_utf8(&changed) {
                assert!(
                    tokens::verify_kind(keys, kind, t).is_err(),
                    "byte {i} changed to {new:#04x} and still valid: {t}"
                );
            }
        }
    }
});
