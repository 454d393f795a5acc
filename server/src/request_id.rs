//! Request ids: accept a well-formed `X-Request-Id`, else make one; W3C `traceparent` is
//! checked for shape and passed through into the log.

/// Longest accepted incoming id.
pub const MAX_LEN: usize = 128;

/// Whether a client-supplied id may be used as is (safe to echo in headers and logs).
pub fn is_well_formed(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Whether `v` looks like `00-<32 hex>-<16 hex>-<2 hex>`.
pub fn is_traceparent(v: &[u8]) -> bool {
    v.len() == 55
        && v[2] == b'-'
        && v[35] == b'-'
        && v[52] == b'-'
        && v.iter().enumerate().all(|(i, b)| {
            matches!(i, 2 | 35 | 52) || b.is_ascii_digit() || (b'a'..=b'f').contains(b)
        })
}

/// Per-shard id generator: a random 64-bit prefix chosen at start plus a counter, as 32 hex
/// digits (the shape of a W3C trace id). No syscalls per request; the prefix is formatted
/// once and only the counter per request.
#[derive(Debug)]
pub struct RequestIds {
    current: [u8; 32],
    counter: u64,
}

impl RequestIds {
    /// A generator with a random prefix.
    pub fn new() -> Self {
        let mut current = [b'0'; 32];
        hex_u64(uuid::Uuid::new_v4().as_u64_pair().0, &mut current[..16]);
        RequestIds {
            current,
            counter: 0,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> [u8; 32] {
        self.counter = self.counter.wrapping_add(1);
        hex_u64(self.counter, &mut self.current[16..]);
        self.current
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

/// Two hex digits per byte, from a table.
fn hex_u64(v: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in v.to_be_bytes().iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_hex() {
        let mut g = RequestIds::new();
        let a = g.next_id();
        let b = g.next_id();
        assert_ne!(a, b);
        assert!(is_well_formed(&a));
        assert!(a.iter().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(&a[..16], &b[..16], "same shard prefix");
        assert_eq!(&b[16..], b"0000000000000002");
    }

    #[test]
    fn validation() {
        assert!(is_well_formed(b"abc-123_x.y:z"));
        assert!(!is_well_formed(b""));
        assert!(!is_well_formed(b"a b"));
        assert!(!is_well_formed(b"a\"b"));
        assert!(!is_well_formed(&[b'a'; 129]));
        assert!(is_traceparent(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"
        ));
        assert!(!is_traceparent(
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
    }
}
