//! Protocol errors: cheap unit variants on the hot path. Every one of them is answered with
//! its status as problem+json and then the connection is closed, because after a framing
//! error the server can no longer tell where the next request starts (RFC 9112 11.2).

/// A request the connection cannot go on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// Malformed request line: bad method token or spacing, a version that is not
    /// `HTTP/DIGIT.DIGIT`, a target in none of origin-form, absolute-form (http/https, with a
    /// valid authority) or asterisk-form (OPTIONS only).
    BadRequestLine,
    /// Malformed header or trailer field: obs-fold, whitespace before the colon, a bad name
    /// character, a control character in a value.
    BadHeader,
    /// A line ended with LF alone.
    BareLf,
    /// `Host` missing (HTTP/1.1), repeated, or with a byte no `host[:port]` can hold.
    BadHost,
    /// `Authorization` or `X-API-Key` sent more than once.
    RepeatedCredential,
    /// `X-Forwarded-For` from a trusted proxy with an entry that is not an address.
    BadForwardedFor,
    /// Content-Length not a plain decimal, overflowing, or two different values.
    BadContentLength,
    /// Transfer-Encoding with Content-Length, in HTTP/1.0, or chunked not last/only once.
    BadTransferEncoding,
    /// A transfer coding other than chunked.
    UnsupportedTransferEncoding,
    /// Bad chunk size line (sign, `0x`, underscore, overflow, junk) or missing CRLF.
    BadChunk,
    /// `Expect` other than `100-continue`.
    ExpectationFailed,
    /// Method the server does not implement.
    UnknownMethod,
    /// HTTP version other than 1.0/1.1.
    VersionNotSupported,
    /// Request target over the limit.
    UriTooLong,
    /// Head over the size limit.
    HeadersTooLarge,
    /// More header fields than the limit.
    TooManyHeaders,
    /// Body over the route's limit.
    BodyTooLarge,
    /// Head not complete within the header timeout.
    HeaderTimeout,
    /// Body stalled past the body timeout.
    BodyTimeout,
}

impl ProtoError {
    /// HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ProtoError::BadRequestLine
            | ProtoError::BadHeader
            | ProtoError::BareLf
            | ProtoError::BadHost
            | ProtoError::RepeatedCredential
            | ProtoError::BadForwardedFor
            | ProtoError::BadContentLength
            | ProtoError::BadTransferEncoding
            | ProtoError::BadChunk => 400,
            ProtoError::HeaderTimeout | ProtoError::BodyTimeout => 408,
            ProtoError::BodyTooLarge => 413,
            ProtoError::UriTooLong => 414,
            ProtoError::ExpectationFailed => 417,
            ProtoError::HeadersTooLarge | ProtoError::TooManyHeaders => 431,
            ProtoError::UnknownMethod | ProtoError::UnsupportedTransferEncoding => 501,
            ProtoError::VersionNotSupported => 505,
        }
    }

    /// One-sentence explanation for the problem's `detail`.
    pub fn detail(self) -> &'static str {
        match self {
            ProtoError::BadRequestLine => "The request line is malformed.",
            ProtoError::BadHeader => "A header or trailer field is malformed (obs-fold, whitespace before the colon, a bad name, or a forbidden byte in the value).",
            ProtoError::BareLf => "Lines must end with CRLF; a bare LF was found.",
            ProtoError::BadHost => "HTTP/1.1 requests need exactly one Host header, a valid host[:port].",
            ProtoError::RepeatedCredential => "Authorization and X-API-Key may appear at most once each.",
            ProtoError::BadForwardedFor => "X-Forwarded-For from a trusted proxy must list addresses.",
            ProtoError::BadContentLength => "Content-Length must be one decimal number.",
            ProtoError::BadTransferEncoding => "Transfer-Encoding must be chunked, once, without Content-Length, and only in HTTP/1.1.",
            ProtoError::UnsupportedTransferEncoding => "Only the chunked transfer coding is supported.",
            ProtoError::BadChunk => "A chunk size line is malformed.",
            ProtoError::ExpectationFailed => "Only Expect: 100-continue is supported.",
            ProtoError::UnknownMethod => "The request method is not implemented.",
            ProtoError::VersionNotSupported => "Only HTTP/1.0 and HTTP/1.1 are supported.",
            ProtoError::UriTooLong => "The request target is longer than the server accepts.",
            ProtoError::HeadersTooLarge => "The request headers are larger than the server accepts.",
            ProtoError::TooManyHeaders => "The request has more header fields than the server accepts.",
            ProtoError::BodyTooLarge => "The request body is larger than this route accepts.",
            ProtoError::HeaderTimeout => "The request headers did not arrive in time.",
            ProtoError::BodyTimeout => "The request body did not arrive in time.",
        }
    }
}
