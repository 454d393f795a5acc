//! Time-based one-time passwords (RFC 6238 TOTP over RFC 4226 HOTP, HMAC-SHA-1, 6 digits,
//! 30 s steps) for multi-factor log-in: secrets, their base32 form, the `otpauth://` URI that
//! authenticator apps scan, and code checks with clock skew and replay protection.

use hmac::{Hmac, Mac};
use sha1::{Digest as _, Sha1};

/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Seconds per time step.
pub const STEP_S: u64 = 30;
/// Steps accepted either side of the current one: 30 s of clock skew each way.
pub const SKEW_STEPS: u64 = 1;

/// Bytes in a new secret: 160 bits, the length RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;

/// SHA-1 block size: HMAC pads or hashes its key to exactly this (RFC 2104 §2).
const SHA1_BLOCK_BYTES: usize = 64;

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random secret.
pub fn new_secret() -> [u8; SECRET_BYTES] {
    // A v4 UUID is 122 bits from the OS generator; bytes 6 and 8 carry the version and variant
    // bits, so only the other 14 bytes of each are taken to keep all 160 bits random.
    let mut secret = [0u8; SECRET_BYTES];
    let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    let bytes = random.iter().flat_map(|u| {
        u.as_bytes()
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 6 && i != 8)
            .map(|(_, &b)| b)
    });
    for (dst, src) in secret.iter_mut().zip(bytes) {
        *dst = src;
    }
    secret
}

/// RFC 4648 base32, uppercase, without `=` padding (what authenticator apps expect).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// Decodes RFC 4648 base32, ignoring case, spaces and `=` (people retype secrets in groups);
/// `None` on any other character or on a length no encoding produces.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits, mut chars) = (0u32, 0u32, 0usize);
    for c in text.bytes().filter(|&c| c != b' ' && c != b'=') {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        chars += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    // 1, 3 or 6 trailing characters cannot come from whole bytes: the secret was cut short.
    matches!(chars % 8, 0 | 2 | 4 | 5 | 7).then_some(out)
}

/// The HOTP code (RFC 4226, dynamic truncation) of `secret` for time step `step`
/// (`unix_seconds / STEP_S` for TOTP).
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    // Padding the key here is exactly what HMAC does itself, and lets the infallible
    // fixed-size constructor be used instead of unwrapping `new_from_slice`.
    let mut key = [0u8; SHA1_BLOCK_BYTES];
    if secret.len() > SHA1_BLOCK_BYTES {
        key[..20].copy_from_slice(&Sha1::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let mut mac = Hmac::<Sha1>::new(&key.into());
    mac.update(&step.to_be_bytes());
    let hash: [u8; 20] = mac.finalize().into_bytes().into();
    let offset = usize::from(hash[19] & 0x0f);
    let word = u32::from_be_bytes([
        hash[offset],
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    (word & 0x7fff_ffff) % 10u32.pow(DIGITS)
}

/// Checks a code typed at `now_s` (Unix seconds) against the steps within [`SKEW_STEPS`] of
/// now. Returns the matched step, which the caller must store and pass back as
/// `last_used_step`: steps at or before it are refused so an observed code cannot be replayed.
/// Only exactly six ASCII digits (surrounding whitespace trimmed) can match.
pub fn verify(secret: &[u8], code: &str, now_s: u64, last_used_step: Option<u64>) -> Option<u64> {
    let code = code.trim().as_bytes();
    if code.len() != DIGITS as usize || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let now = now_s / STEP_S;
    let first = now.saturating_sub(SKEW_STEPS);
    let last = now.saturating_add(SKEW_STEPS);
    // Keep the latest match rather than the first: if a code happened to be valid for two
    // steps, storing the earlier one would let the same code in again at the later one.
    let mut matched = None;
    for step in first..=last {
        let fresh = last_used_step.is_none_or(|used| step > used);
        if fresh && digits_equal(code, code_at(secret, step)) {
            matched = Some(step);
        }
    }
    matched
}

/// Compares typed digits with a code without stopping at the first difference, so response
/// times say nothing about how many leading digits were right.
fn digits_equal(typed: &[u8], code: u32) -> bool {
    let mut expected = [b'0'; DIGITS as usize];
    let mut rest = code;
    for digit in expected.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    typed.len() == expected.len()
        && typed
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The `otpauth://` key URI that authenticator apps read from a QR code (Google Authenticator
/// key URI format), with the issuer both in the label and as a parameter, as it recommends.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1\
         &digits={DIGITS}&period={STEP_S}",
        account = percent_encode(account),
        secret = base32_encode(secret),
    )
}

/// Percent-encodes everything but the RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn code_str(secret: &[u8], step: u64) -> String {
        format!("{:06}", code_at(secret, step))
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time_s, code8) in vectors {
            assert_eq!(code_at(RFC_SECRET, time_s / STEP_S), code8 % 1_000_000);
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let codes = [755224, 287082, 359152, 969429, 338314];
        for (counter, code) in codes.into_iter().enumerate() {
            assert_eq!(code_at(RFC_SECRET, counter as u64), code);
        }
    }

    #[test]
    fn long_keys_are_hashed_like_hmac_does() {
        let long = [7u8; 100];
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&long).unwrap();
        mac.update(&5u64.to_be_bytes());
        let hash = mac.finalize().into_bytes();
        let offset = usize::from(hash[19] & 0x0f);
        let word = u32::from_be_bytes(hash[offset..offset + 4].try_into().unwrap());
        assert_eq!(code_at(&long, 5), (word & 0x7fff_ffff) % 1_000_000);
    }

    #[test]
    fn rfc4648_base32_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base32_round_trip_and_lenient_input() {
        let secret = new_secret();
        let encoded = base32_encode(&secret);
        assert_eq!(encoded.len(), 32);
        assert_eq!(base32_decode(&encoded).unwrap(), secret);
        assert_eq!(base32_decode("mzxw 6ytb oi==").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        for bytes in (0u8..=255).collect::<Vec<_>>().chunks(7) {
            assert_eq!(base32_decode(&base32_encode(bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn base32_refuses_bad_input() {
        assert_eq!(base32_decode("MZXW1"), None);
        assert_eq!(base32_decode("MZ-XW"), None);
        assert_eq!(base32_decode("é"), None);
        assert_eq!(base32_decode("M"), None);
        assert_eq!(base32_decode("MZX"), None);
        assert_eq!(base32_decode("MZXW6Y"), None);
    }

    #[test]
    fn secrets_are_random() {
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn accepts_one_step_of_skew_each_way() {
        let now_s = 1_111_111_111;
        let now = now_s / STEP_S;
        for step in [now - 1, now, now + 1] {
            let code = code_str(RFC_SECRET, step);
            assert_eq!(verify(RFC_SECRET, &code, now_s, None), Some(step));
        }
        assert_eq!(
            verify(
                RFC_SECRET,
                &format!(" {}\n", code_str(RFC_SECRET, now)),
                now_s,
                None
            ),
            Some(now)
        );
    }

    #[test]
    fn refuses_two_steps_of_skew() {
        let now_s = 1_111_111_111;
        let now = now_s / STEP_S;
        for step in [now - 2, now + 2] {
            let code = code_str(RFC_SECRET, step);
            assert_eq!(verify(RFC_SECRET, &code, now_s, None), None);
        }
    }

    #[test]
    fn refuses_replay() {
        let now_s = 1_234_567_890;
        let code = code_str(RFC_SECRET, now_s / STEP_S);
        let used = verify(RFC_SECRET, &code, now_s, None).unwrap();
        assert_eq!(verify(RFC_SECRET, &code, now_s, Some(used)), None);
        assert_eq!(verify(RFC_SECRET, &code, now_s + STEP_S, Some(used)), None);
        let older = code_str(RFC_SECRET, now_s / STEP_S - 1);
        assert_eq!(verify(RFC_SECRET, &older, now_s, Some(used)), None);
        let next = code_str(RFC_SECRET, now_s / STEP_S + 1);
        assert_eq!(verify(RFC_SECRET, &next, now_s, Some(used)), Some(used + 1));
    }

    #[test]
    fn refuses_malformed_codes() {
        let now_s = 59;
        for code in [
            "12345",
            "abcdef",
            "1234567",
            "",
            "      ",
            "２８７０８２",
            "287 082",
        ] {
            assert_eq!(verify(RFC_SECRET, code, now_s, None), None, "{code:?}");
        }
        assert_eq!(verify(RFC_SECRET, "287082", now_s, None), Some(1));
    }

    #[test]
    fn never_panics_at_the_ends_of_time() {
        assert_eq!(verify(RFC_SECRET, "000000", 0, None), None);
        let _ = verify(RFC_SECRET, "000000", u64::MAX, Some(u64::MAX));
        let _ = verify(&[], "000000", u64::MAX, None);
        let _ = code_at(&[], u64::MAX);
    }

    #[test]
    fn otpauth_uri_format() {
        let uri = otpauth_uri("Campus Hub", "ana.lee+1@uni.example", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Campus%20Hub:ana.lee%2B1%40uni.example?secret=MZXW6YTBOI\
             &issuer=Campus%20Hub&algorithm=SHA1&digits=6&period=30"
        );
    }
}
