//! CORS: only origins on the configured allowlist get `Access-Control-Allow-Origin`;
//! preflights from other origins are refused with 403.

use crate::api_error::ApiError;
use crate::http::Response;

/// Request headers a browser may send cross-origin.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Request-Id, X-API-Key";

/// The origin to echo, if `origin` is allowed.
pub fn allowed<'a>(allowlist: &[String], origin: &'a [u8]) -> Option<&'a [u8]> {
    allowlist
        .iter()
        .any(|o| o.as_bytes() == origin)
        .then_some(origin)
}

/// Answer to `OPTIONS` on a route that exists (`allow` lists its methods).
pub fn options(
    allowlist: &[String],
    allow: &'static str,
    origin: Option<&[u8]>,
    request_method: Option<&[u8]>,
) -> Result<Response, ApiError> {
    let (Some(origin), Some(method)) = (origin, request_method) else {
        // Not a preflight: say what the resource supports.
        return Ok(Response::empty(204).with_header("Allow", allow));
    };
    if allowed(allowlist, origin).is_none() {
        return Err(ApiError::CorsOriginDenied);
    }
    let method_ok = allow
        .split(", ")
        .any(|m| m.as_bytes().eq_ignore_ascii_case(method.trim_ascii()));
    if !method_ok {
        return Err(ApiError::MethodNotAllowed(allow));
    }
    // The allowed origin is echoed by the encoder (it sees the same allowlist).
    Ok(Response::empty(204)
        .with_header("Access-Control-Allow-Methods", allow)
        .with_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        .with_header("Access-Control-Max-Age", "600"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_rules() {
        let list = vec!["https://app.example.edu".to_string()];
        let ok = options(
            &list,
            "GET, HEAD, OPTIONS",
            Some(b"https://app.example.edu"),
            Some(b"GET"),
        )
        .unwrap();
        assert_eq!(ok.status, 204);
        assert!(ok
            .headers
            .iter()
            .any(|(k, _)| *k == "Access-Control-Allow-Methods"));
        let denied = options(
            &list,
            "GET, HEAD, OPTIONS",
            Some(b"https://evil.example"),
            Some(b"GET"),
        );
        assert!(matches!(denied, Err(ApiError::CorsOriginDenied)));
        let bad_method = options(
            &list,
            "GET, HEAD, OPTIONS",
            Some(b"https://app.example.edu"),
            Some(b"DELETE"),
        );
        assert!(matches!(bad_method, Err(ApiError::MethodNotAllowed(_))));
        let plain = options(&list, "GET, HEAD, OPTIONS", None, None).unwrap();
        assert!(plain
            .headers
            .iter()
            .any(|(k, v)| *k == "Allow" && v.contains("GET")));
    }
}
