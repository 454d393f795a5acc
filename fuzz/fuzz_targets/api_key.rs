//! Credentials in headers: `api_keys::prefix_of` (X-API-Key, or a Bearer value that looks
//! like a key) and `auth::bearer` (Authorization).
//!
//! Input: a mode byte, then the bytes. Mode 0: arbitrary bytes. A prefix found is the 10
//! lowercase hex digits right after `chk_` in a key of exactly the key's length; a bearer
//! token found is a non-empty, trimmed sub-slice of the value after a `Bearer` scheme.
//! Mode 1: the bytes are mapped onto the key alphabet to make a well-formed key, which
//! `prefix_of` must accept, and `Bearer <key>` must yield the key back.
#![no_main]

use campushub::auth::api_keys::{prefix_of, KEY_MARK};
use campushub::auth::bearer;
use libfuzzer_sys::fuzz_target;

const HEX: &[u8] = b"0123456789abcdef";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fuzz_target!(|data: &[u8]| {
    let [mode, bytes @ ..] = data else { return };
    if mode & 1 == 0 {
        if let Some(prefix) = prefix_of(bytes) {
            assert_eq!(bytes.len(), KEY_MARK.len() + 10 + 1 + 43);
            assert!(bytes.starts_with(KEY_MARK.as_bytes()));
            assert_eq!(
                prefix.as_bytes(),
                &bytes[KEY_MARK.len()..KEY_MARK.len() + 10]
            );
            assert!(prefix.bytes().all(|b| HEX.contains(&b)));
        }
        if let Some(token) = bearer(Some(bytes)) {
            let (start, end) = (
                bytes.as_ptr() as usize,
                bytes.as_ptr() as usize + bytes.len(),
            );
            let t = token.as_ptr() as usize;
            assert!(
                start <= t && t + token.len() <= end,
                "token outside the value"
            );
            assert!(!token.is_empty() && token.trim_ascii() == token);
            let v = bytes.trim_ascii();
            assert!(v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "));
            assert_eq!(token, v[7..].trim_ascii());
        }
        assert_eq!(bearer(None), None);
    } else {
        let pick = |set: &[u8], i: usize| set[usize::from(*bytes.get(i).unwrap_or(&0)) % set.len()];
        let prefix: Vec<u8> = (0..10).map(|i| pick(HEX, i)).collect();
        let secret: Vec<u8> = (10..53).map(|i| pick(B64URL, i)).collect();
        let key = [KEY_MARK.as_bytes(), &prefix, b"_", &secret].concat();
        assert_eq!(prefix_of(&key).map(str::as_bytes), Some(&prefix[..]));
        let header = [b"Bearer ".as_slice(), &key].concat();
        assert_eq!(bearer(Some(&header)), Some(&key[..]));
        // One byte more or less is not a key.
        assert_eq!(prefix_of(&key[..key.len() - 1]), None);
        assert_eq!(prefix_of(&[&key[..], b"A"].concat()), None);
    }
});
