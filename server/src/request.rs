//! A request as the stages after parsing see it: the authentication stage, the rate limiter
//! and the handlers. Never bytes or sockets; what stages learn about it (verified claims, the
//! cached key, the admitted caller) is remembered on it, so each is worked out once.

use crate::api_error::ApiError;
use crate::auth::caller::Caller;
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
    /// The client's address (the connection's peer).
    pub peer: std::net::IpAddr,
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

    /// The permission the route's access rule names (e.g. `students.read` for a record rule),
    /// so that a handler checking an object-level rule uses the table's permission.
    pub fn permission(&self) -> Result<&'static str, ApiError> {
        self.endpoint
            .and_then(|e| e.access.permission())
            .ok_or(ApiError::Internal)
    }
}
