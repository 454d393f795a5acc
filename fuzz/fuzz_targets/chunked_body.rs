//! The strict chunked decoder, fed as the connection loop feeds it: what has arrived so far,
//! in pieces of any size.
//!
//! Input: a mode byte (bit 0: raw or encode; the rest picks the body limit), a seed byte for
//! where the pieces split, then the bytes.
//!
//! Raw mode decodes the bytes in one call and again in pieces, and checks that both agree
//! (the same body, bytes consumed and done-ness, or both an error: an answer never depends on
//! how TCP split the body); that the body is never longer than the input nor over the limit,
//! and that a finished body consumed at least its data plus the framing.
//! Encode mode frames the bytes as a chunked body (chunk sizes, hex case, extensions and
//! trailers from the seed) followed by the next pipelined request, and checks that the
//! decoder returns exactly the bytes, stops exactly at the body's end, and refuses it only
//! when it is over the limit.
#![no_main]

use campushub::http::body::ChunkedDecoder;
use campushub::http::ProtoError;
use libfuzzer_sys::fuzz_target;

const LIMITS: [u64; 8] = [0, 1, 7, 16, 64, 512, 4096, 1 << 20];
const NEXT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/// xorshift64*: deterministic pieces from the seed byte.
struct Rng(u64);

impl Rng {
    fn new(seed: u8, len: usize) -> Rng {
        Rng((u64::from(seed) << 32 | len as u64) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug)]
struct Outcome {
    result: Result<usize, ProtoError>,
    done: bool,
    out: Vec<u8>,
}

fn one_shot(limit: u64, input: &[u8]) -> Outcome {
    let mut d = ChunkedDecoder::new(limit);
    let mut out = Vec::new();
    let result = d.decode(input, &mut out);
    Outcome {
        result,
        done: d.is_done(),
        out,
    }
}

/// As net/conn.rs does: decode what has arrived from the first unconsumed byte, read more,
/// again, until done or an error.
fn in_pieces(limit: u64, input: &[u8], rng: &mut Rng) -> Outcome {
    let mut d = ChunkedDecoder::new(limit);
    let mut out = Vec::new();
    let (mut pos, mut arrived) = (0, 0);
    loop {
        arrived = (arrived + 1 + rng.below(64)).min(input.len());
        match d.decode(&input[pos..arrived], &mut out) {
            Ok(n) => pos += n,
            Err(e) => {
                return Outcome {
                    result: Err(e),
                    done: false,
                    out,
                }
            }
        }
        assert!(pos <= arrived);
        if d.is_done() || arrived == input.len() {
            return Outcome {
                result: Ok(pos),
                done: d.is_done(),
                out,
            };
        }
    }
}

fn check(limit: u64, input: &[u8], o: &Outcome) {
    assert!(o.out.len() <= input.len(), "decoded more than the input");
    if let Ok(n) = o.result {
        assert!(n <= input.len());
        assert!(o.out.len() as u64 <= limit, "over the limit");
        if o.done {
            // Data, then at least "\r\n" after each chunk and "0\r\n\r\n".
            assert!(
                o.out.len() + 5 <= n,
                "done after {n} bytes with {}",
                o.out.len()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, seed, bytes @ ..] = data else {
        return;
    };
    let limit = LIMITS[usize::from(mode >> 1) % LIMITS.len()];
    let mut rng = Rng::new(*seed, bytes.len());
    if mode & 1 == 0 {
        let whole = one_shot(limit, bytes);
        let pieces = in_pieces(limit, bytes, &mut rng);
        check(limit, bytes, &whole);
        check(limit, bytes, &pieces);
        match (&whole.result, &pieces.result) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "consumed");
                assert_eq!(whole.done, pieces.done, "done");
                assert_eq!(whole.out, pieces.out, "body");
            }
            (Err(_), Err(_)) => {}
            _ => panic!("in one piece {whole:?}, in pieces {pieces:?}"),
        }
    } else {
        let wire = encode(bytes, &mut rng);
        let mut input = wire.clone();
        input.extend_from_slice(NEXT_REQUEST);
        let o = in_pieces(limit, &input, &mut rng);
        check(limit, &input, &o);
        if bytes.len() as u64 > limit {
            assert_eq!(o.result.unwrap_err(), ProtoError::BodyTooLarge);
        } else {
            assert_eq!(o.result, Ok(wire.len()), "{wire:?}");
            assert!(o.done);
            assert_eq!(o.out, bytes);
        }
    }
});

/// A valid chunked framing of `body`.
fn encode(body: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(300));
        let size = if rng.below(2) == 0 {
            format!("{n:x}")
        } else {
            format!("{n:X}")
        };
        let zeros = "0".repeat(rng.below(3));
        wire.extend_from_slice(zeros.as_bytes());
        wire.extend_from_slice(size.as_bytes());
        extension(&mut wire, rng);
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&rest[..n]);
        wire.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    wire.extend_from_slice(b"0");
    extension(&mut wire, rng);
    wire.extend_from_slice(b"\r\n");
    for i in 0..rng.below(3) {
        wire.extend_from_slice(format!("X-Trailer-{i}: v\t{i}\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

fn extension(wire: &mut Vec<u8>, rng: &mut Rng) {
    match rng.below(5) {
        0 => wire.extend_from_slice(b";ext"),
        1 => wire.extend_from_slice(b" ; name=value"),
        2 => wire.extend_from_slice(b";q=\"a \\\" b\";x"),
        _ => {}
    }
}
