//! Request bodies: Content-Length and a strict, incremental chunked decoder.
//!
//! The decoder refuses chunk sizes with signs, `0x`, underscores, spaces inside the digits or
//! more digits than fit in 64 bits, and lines that do not end in CRLF, so a front proxy and
//! this server can never disagree about where a body ends.

use super::error::ProtoError;

/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;
/// Largest trailer section accepted.
const MAX_TRAILERS: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decodes a chunked body from bytes that arrive in pieces.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    decoded: u64,
    trailer_bytes: usize,
    limit: u64,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies over `limit` decoded bytes.
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            decoded: 0,
            trailer_bytes: 0,
            limit,
        }
    }

    /// Whether the terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes what it can from `input`, appending data to `out`. Returns bytes consumed;
    /// call again with more input until [`is_done`](Self::is_done).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ProtoError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Size => {
                    let Some(nl) = memchr::memchr(b'\n', rest) else {
                        if rest.len() > MAX_CHUNK_LINE {
                            return Err(ProtoError::BadChunk);
                        }
                        return Ok(pos);
                    };
                    if nl > MAX_CHUNK_LINE || nl == 0 || rest[nl - 1] != b'\r' {
                        return Err(ProtoError::BadChunk);
                    }
                    let size = parse_chunk_size(&rest[..nl - 1])?;
                    pos += nl + 1;
                    if size == 0 {
                        self.state = State::Trailers;
                    } else {
                        if self.decoded.saturating_add(size) > self.limit {
                            return Err(ProtoError::BodyTooLarge);
                        }
                        self.state = State::Data(size);
                    }
                }
                State::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = (remaining.min(rest.len() as u64)) as usize;
                    out.extend_from_slice(&rest[..take]);
                    self.decoded += take as u64;
                    pos += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|b| *b != b'\r') {
                            return Err(ProtoError::BadChunk);
                        }
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ProtoError::BadChunk);
                    }
                    pos += 2;
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(nl) = memchr::memchr(b'\n', rest) else {
                        if self.trailer_bytes + rest.len() > MAX_TRAILERS {
                            return Err(ProtoError::HeadersTooLarge);
                        }
                        return Ok(pos);
                    };
                    if nl == 0 || rest[nl - 1] != b'\r' {
                        return Err(ProtoError::BareLf);
                    }
                    self.trailer_bytes += nl + 1;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(ProtoError::HeadersTooLarge);
                    }
                    let line = &rest[..nl - 1];
                    pos += nl + 1;
                    if line.is_empty() {
                        self.state = State::Done;
                    } else if !is_field_line(line) {
                        return Err(ProtoError::BadHeader);
                    }
                }
            }
        }
    }
}

/// `1*HEXDIG [ BWS ";" chunk-ext ]`, strictly.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ProtoError> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits_end == 0 || digits_end > 16 {
        return Err(ProtoError::BadChunk);
    }
    let mut size: u64 = 0;
    for b in &line[..digits_end] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ProtoError::BadChunk),
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or(ProtoError::BadChunk)?;
    }
    // Extensions are ignored (RFC 9112 §7.1.1), but only well-formed ones: no trailing
    // whitespace without a ';', no bare CR, no empty names.
    if !is_chunk_ext(&line[digits_end..]) {
        return Err(ProtoError::BadChunk);
    }
    Ok(size)
}

/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, with
/// `chunk-ext-name = token` and `chunk-ext-val = token / quoted-string` (RFC 9112 §7.1.1).
fn is_chunk_ext(mut ext: &[u8]) -> bool {
    while !ext.is_empty() {
        let [b';', rest @ ..] = skip_bws(ext) else {
            return false;
        };
        let rest = skip_bws(rest);
        let name = token_len(rest);
        if name == 0 {
            return false;
        }
        ext = &rest[name..];
        if let [b'=', value @ ..] = skip_bws(ext) {
            let value = skip_bws(value);
            let n = if value.first() == Some(&b'"') {
                quoted_string_len(value)
            } else {
                token_len(value)
            };
            if n == 0 {
                return false;
            }
            ext = &value[n..];
        }
    }
    true
}

fn skip_bws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
    &s[n..]
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn token_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| is_tchar(**b)).count()
}

/// Length of the `quoted-string` at the start of `s` (RFC 9110 §5.6.4), 0 if there is none.
fn quoted_string_len(s: &[u8]) -> usize {
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return i + 1,
            b'\\' if s.get(i + 1).is_some_and(|b| is_field_vchar_or_ws(*b)) => i += 2,
            b if b != b'\\' && is_field_vchar_or_ws(b) => i += 1,
            _ => return 0,
        }
    }
    0
}

/// HTAB, SP, VCHAR or obs-text: everything but the control characters (RFC 9110 §5.5).
fn is_field_vchar_or_ws(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// A trailer line follows the head's field-line rules (RFC 9112 §7.1.2 and §5): a token name
/// right before the colon (no whitespace, §5.1; so no obs-fold either, §5.2), and a value
/// without control characters (RFC 9110 §5.5: never CR, LF or NUL).
fn is_field_line(line: &[u8]) -> bool {
    let name = token_len(line);
    name > 0
        && line.get(name) == Some(&b':')
        && line[name + 1..].iter().all(|b| is_field_vchar_or_ws(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), ProtoError> {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let n = d.decode(input, &mut out)?;
        assert!(d.is_done(), "not done");
        Ok((out, n))
    }

    #[test]
    fn decodes_chunks_and_trailers() {
        let (out, n) =
            decode_all(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT").unwrap();
        assert_eq!(out, b"Wikipedia");
        assert_eq!(
            n,
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n".len()
        );
    }

    #[test]
    fn decodes_byte_by_byte() {
        let input = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut consumed = 0;
        for b in input {
            buf.push(*b);
            consumed += d.decode(&buf[consumed..], &mut out).unwrap();
        }
        assert!(d.is_done());
        assert_eq!(out, b"0123456789");
    }

    #[test]
    fn refuses_bad_sizes() {
        for bad in [
            &b"+5\r\nhello\r\n0\r\n\r\n"[..],
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5_0\r\nhello\r\n0\r\n\r\n",
            b"1_0\r\nhello\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"\r\n",
            b"5 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5\r;a\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;=b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\r\nhello\r\n0\r\n\r\n",
            b"5;a b\r\nhello\r\n0\r\n\r\n",
            b"5;a=b c\r\nhello\r\n0\r\n\r\n",
            b"0\r\nX-T : 1\r\n\r\n",
            b"0\r\n X-T: 1\r\n\r\n",
            b"0\r\nX-T 1\r\n\r\n",
            b"0\r\nX-T: a\rb\r\n\r\n",
            b"0\r\nX-T: a\0b\r\n\r\n",
            b"0\r\n: 1\r\n\r\n",
        ] {
            let mut d = ChunkedDecoder::new(1 << 20);
            let mut out = Vec::new();
            assert!(
                d.decode(bad, &mut out).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn accepts_well_formed_extensions() {
        for ok in [
            &b"5;a\r\nhello\r\n0\r\n\r\n"[..],
            b"5 ; a = b\r\nhello\r\n0\r\n\r\n",
            b"5;a=b;c;d=\"x y\\\"z\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"\"\r\nhello\r\n0;last\r\nX-A: 1\r\nX-B:\r\n\r\n",
        ] {
            let (out, _) = decode_all(ok).unwrap_or_else(|e| {
                panic!("refused {:?}: {e:?}", String::from_utf8_lossy(ok));
            });
            assert_eq!(out, b"hello");
        }
    }

    #[test]
    fn enforces_limit() {
        let mut d = ChunkedDecoder::new(4);
        let mut out = Vec::new();
        assert_eq!(
            d.decode(b"5\r\nhello\r\n0\r\n\r\n", &mut out),
            Err(ProtoError::BodyTooLarge)
        );
    }
}
