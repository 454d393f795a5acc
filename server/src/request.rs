//! A request as the stages after parsing see it: the authentication stage, the rate limiter
//! and the handlers. Never bytes or sockets; what stages learn about it (verified claims, the
//! cached key, the admitted caller) is remembered on it, so each is worked out once.

use crate::api_error::ApiError;
use crate::auth::access::Caller;
use crate::http::Method;
use crate::router::{Endpoint, Route};

/// A request as handlers see it.
#[derive(Debug)]
pub struct Request<'a> {
    /// Method.
    pub method: Method,
    /// Matched route.
    pub route: Route,
    /// The matched route's entry for this method (`None`: not found, or method not allowed).
    pub endpoint: Option<&'static Endpoint>,
    /// The route's `{id}` segment, if it has one.
    pub param: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// Query string without `?` (empty if none).
    pub query: &'a str,
    /// Decoded body.
    pub body: &'a [u8],
    /// `Origin`, if sent.
    pub origin: Option<&'a [u8]>,
    /// `Access-Control-Request-Method`, if sent.
    pub acr_method: Option<&'a [u8]>,
    /// `Content-Type`, if sent.
    pub content_type: Option<&'a [u8]>,
    /// `Authorization`, if sent.
    pub authorization: Option<&'a [u8]>,
    /// `X-API-Key`, if sent.
    pub api_key: Option<&'a [u8]>,
    /// `If-Match`, if sent.
    pub if_match: Option<&'a [u8]>,
    /// `If-None-Match`, if sent.
    pub if_none_match: Option<&'a [u8]>,
    /// The client's address: the connection's peer, or behind a trusted balancer the client
    /// it names in `X-Forwarded-For` (what rate limits, throttling and the audit trail key on).
    pub peer: std::net::IpAddr,
    /// The connection's own peer, whatever any header says: the only address that may grant
    /// anything (an operator is a loopback connection when no ops token is set).
    pub socket_peer: std::net::IpAddr,
    /// The request id echoed in the response (ASCII).
    pub request_id: &'a [u8],
    /// The access token's claims once verified (rate limiting verifies before the handler;
    /// the handler reuses them).
    pub claims: std::cell::OnceCell<std::rc::Rc<crate::auth::tokens::Claims>>,
    /// The API key once found in the shard's cache (the same: looked up once per request).
    pub key: std::cell::OnceCell<std::rc::Rc<crate::auth::api_keys::KeyPrincipal>>,
    /// The caller, once the authentication stage admitted the request (routes whose access
    /// rule needs one).
    pub caller: std::cell::OnceCell<Caller>,
}

impl Request<'_> {
    /// The caller the authentication stage admitted. Every route whose access rule needs a
    /// caller has one by the time its handler runs; `Internal` means the route table and the
    /// handler disagree (a bug).
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.get().ok_or(ApiError::Internal)
    }

    /// The version `If-Match` requires (`None`: no precondition, or `*`). 412 for a value
    /// that is not one of this server's ETags: it can never match. A list of tags needs the
    /// version the handler read ([`Request::if_match_at`]); here it is 412 unless every tag is
    /// the same.
    pub fn if_match(&self) -> Result<Option<i64>, ApiError> {
        self.if_match_at(None)
    }

    /// Whether `If-Match` lists more than one tag: a handler that has not read the record yet
    /// reads its version for [`Request::if_match_at`].
    pub fn if_match_listed(&self) -> bool {
        self.if_match.is_some_and(|v| v.contains(&b','))
    }

    /// `If-Match` against `current`, the version the handler read. RFC 9110 §13.1.1: the
    /// condition holds when any listed tag matches (strong comparison: a weak tag never does).
    /// One tag goes to the write as it is, which compares it atomically; a list resolves to
    /// `current` when it names it (the write then checks that `current` is still the version)
    /// and is 412 when it does not. `None`: no precondition, or `*`.
    pub fn if_match_at(&self, current: Option<i64>) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.if_match.map(<[u8]>::trim_ascii) else {
            return Ok(None);
        };
        if v == b"*" {
            return Ok(None);
        }
        let mut tags = v
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
            .filter(|t| !t.is_empty());
        let first = tags.next().and_then(parse_etag);
        let mut listed = vec![first];
        listed.extend(tags.map(parse_etag));
        match (listed.as_slice(), current) {
            ([Some(one)], _) => Ok(Some(*one)),
            (_, Some(c)) if listed.contains(&Some(c)) => Ok(Some(c)),
            (all, None) if all.iter().all(|t| t.is_some() && *t == all[0]) => Ok(all[0]),
            _ => Err(ApiError::PreconditionFailed),
        }
    }

    /// Whether `If-None-Match` names `version` (or `*`): the client's copy is current.
    pub fn not_modified(&self, version: i64) -> bool {
        self.if_none_match.is_some_and(|v| {
            v.split(|b| *b == b',').map(<[u8]>::trim_ascii).any(|t| {
                t == b"*" || parse_etag(t.strip_prefix(b"W/").unwrap_or(t)) == Some(version)
            })
        })
    }

    /// The permission the route's access rule names (e.g. `students.read` for a record rule),
    /// so that a handler checking an object-level rule uses the table's permission.
    pub fn permission(&self) -> Result<crate::auth::rule::Permission, ApiError> {
        self.endpoint
            .and_then(|e| e.access.permission())
            .ok_or(ApiError::Internal)
    }
}

/// The strong ETag of a record version (microseconds of its last change).
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

fn parse_etag(v: &[u8]) -> Option<i64> {
    let inner = v.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_round_trip_and_garbage_never_matches() {
        assert_eq!(
            super::parse_etag(super::etag(1_700_000_000_123_456).as_bytes()),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(super::parse_etag(b"1700"), None);
        assert_eq!(super::parse_etag(b"\"x\""), None);
        assert_eq!(super::parse_etag(b"\""), None);
    }
}
