//! Handlers: they see a parsed [`Request`] (with its admitted caller) and the shard, never bytes
//! or sockets, and return a `Response` or an [`ApiError`]. Which handler answers which route
//! and method, and what each needs from its caller, is the route table's (`router.rs`);
//! `pipeline::handle` runs the stages in order and dispatches here. This module holds what the
//! handlers share: bodies, query strings, references.

pub mod account_pages;
pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod campus;
pub mod catalog;
pub mod codes;
pub mod credentials;
pub mod debug;
pub mod departments;
pub mod docs;
pub mod exams;
pub mod fields;
pub mod guardians;
pub mod health;
pub mod institution;
pub mod jobs;
pub mod notifications;
pub mod people;
pub mod reports;
pub mod roles;
pub mod rollover;
pub mod schedule;
pub mod students;

pub use crate::request::Request;

use crate::api_error::ApiError;
use crate::http::Method;
use crate::router::Route;

/// A reference to another object, OneRoster style: `{"sourced_id": ..., "type": "org"}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ObjectRef {
    /// Public id.
    pub sourced_id: String,
    /// `org`, `user`, ...
    #[serde(rename = "type")]
    pub type_: &'static str,
}

impl ObjectRef {
    /// A reference to `id` of kind `type_`.
    pub fn new(id: uuid::Uuid, type_: &'static str) -> ObjectRef {
        ObjectRef {
            sourced_id: id.hyphenated().to_string(),
            type_,
        }
    }
}

/// Where a role applies, as a request names it: `{"type": "department", "sourced_id": ...}`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeIn {
    /// `institution`, `department` or `class`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Public id of the org or class.
    pub sourced_id: String,
}

impl ScopeIn {
    /// The checked scope type and public id (422 when malformed; whether the id names an org
    /// or class of that type is the database's to say).
    pub fn parse(&self) -> Result<(&str, uuid::Uuid), ApiError> {
        let id = uuid::Uuid::try_parse(&self.sourced_id)
            .map_err(|_| ApiError::Unprocessable("`scope.sourced_id` must be a UUID.".into()))?;
        match self.type_.as_str() {
            t @ ("institution" | "department" | "class") => Ok((t, id)),
            _ => Err(ApiError::Unprocessable(
                "`scope.type` is institution, department or class.".into(),
            )),
        }
    }
}

/// Where a grant or binding applies, as responses show it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Scope)]
pub struct ScopeDto<'a> {
    /// `institution`, `department` or `class`.
    #[serde(rename = "type")]
    pub type_: &'a str,
    /// Public id of the org or class.
    pub sourced_id: Option<String>,
}

impl<'a> ScopeDto<'a> {
    /// A scope of `type_` with the public id `id`.
    pub fn new(type_: &'a str, id: Option<uuid::Uuid>) -> ScopeDto<'a> {
        ScopeDto {
            type_,
            sourced_id: id.map(|u| u.hyphenated().to_string()),
        }
    }
}

/// Encodes a response body; a failure is a bug, answered 500.
pub fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    sonic_rs::to_vec(v).map_err(|_| ApiError::Internal)
}

/// The JSON body of a request, or 415 (not JSON) / 422 (not the expected shape: wrong types,
/// missing members, or members the caller may not set, which the DTOs refuse by name; or a
/// NUL character, which PostgreSQL cannot store in text).
pub fn json_body<'a, T: serde::Deserialize<'a>>(req: &Request<'a>) -> Result<T, ApiError> {
    let json = req.content_type.is_some_and(|ct| {
        let ct = ct.split(|b| *b == b';').next().unwrap_or(b"").trim_ascii();
        ct.eq_ignore_ascii_case(b"application/json")
    });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if has_nul_escape(req.body) {
        return Err(ApiError::Unprocessable(
            "The body contains a NUL character (\\u0000), which no field accepts.".into(),
        ));
    }
    if has_bad_unicode_escape(req.body) {
        return Err(ApiError::Unprocessable(
            "The body is not JSON: a \\u escape without four hex digits.".into(),
        ));
    }
    sonic_rs::from_slice(req.body).map_err(|e| {
        ApiError::Unprocessable(format!(
            "The body is not a JSON object of the expected shape: {}.",
            first_line(&e.to_string())
        ))
    })
}

/// The (up to) four bytes after each `\u` escape of a JSON text: `\\u` is a backslash and the
/// text `u`, not an escape, so only a `\u` after an even run of backslashes counts.
fn unicode_escapes(body: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    memchr::memmem::find_iter(body, b"\\u").filter_map(move |i| {
        let before = body[..i].iter().rev().take_while(|b| **b == b'\\').count();
        (before % 2 == 0).then(|| &body[i + 2..(i + 6).min(body.len())])
    })
}

/// Whether a JSON text holds the escape `\u0000` (a NUL in a string). A raw NUL byte is not
/// valid JSON and fails to parse anyway.
fn has_nul_escape(body: &[u8]) -> bool {
    unicode_escapes(body).any(|hex| hex == b"0000")
}

/// Whether a JSON text holds a `\u` escape not followed by four hex digits. sonic-rs 0.5
/// checks them only in members it decodes: in a member it skips (an unknown one, where the
/// body type allows those) it takes any five bytes after `\u`, so `{"x":"\u000z"}` or a
/// `\u"` that swallows the closing quote passed as JSON (found by fuzz/json_bodies). No
/// parser in front of this server would read such a body as we do; refuse it.
fn has_bad_unicode_escape(body: &[u8]) -> bool {
    unicode_escapes(body).any(|hex| hex.len() < 4 || !hex.iter().all(u8::is_ascii_hexdigit))
}

/// The first line of an error message, without position noise, for problem details.
fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or("");
    line.split(" at line ").next().unwrap_or(line)
}

/// Iterates `key=value` pairs of a query string, percent-decoded (`+` is a space).
/// Malformed escapes are an error so that ids never decode to something else by accident.
pub fn query_pairs(query: &str) -> impl Iterator<Item = Result<(String, String), ApiError>> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        Ok((percent_decode(k)?, percent_decode(v)?))
    })
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let v = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::BadParameter(
                            "The query string has a malformed percent-escape.".into(),
                        )
                    })?;
                out.push(v);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    if out.contains(&0) {
        // PostgreSQL cannot store NUL in text, and no parameter has a use for it.
        return Err(ApiError::BadParameter(
            "The query string contains a NUL byte (%00).".into(),
        ));
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::BadParameter("The query string is not valid UTF-8.".into()))
}

/// How many request body types [`fuzz_decode_body`] knows.
#[doc(hidden)]
pub const FUZZ_BODY_KINDS: u8 = 30;

/// For fuzz/ only (nothing on the request path calls it): decodes `body` as request body type
/// number `kind` (modulo [`FUZZ_BODY_KINDS`]) as its handler does: through [`json_body`] and
/// the checks that follow where they need no shard (the scope's), or, for the campus writes,
/// through the handler's own strict reader (`fields::Fields`). `Err` is what the handler
/// would answer.
#[doc(hidden)]
pub fn fuzz_decode_body(kind: u8, body: &[u8]) -> Result<(), ApiError> {
    let req = Request {
        method: Method::Post,
        route: Route::NotFound,
        endpoint: None,
        param: "",
        path: "/",
        query: "",
        body,
        origin: None,
        acr_method: None,
        content_type: Some(b"application/json"),
        authorization: None,
        api_key: None,
        if_match: None,
        if_none_match: None,
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        socket_peer: std::net::IpAddr::from([127, 0, 0, 1]),
        request_id: b"fuzz",
        claims: std::cell::OnceCell::new(),
        key: std::cell::OnceCell::new(),
        caller: std::cell::OnceCell::new(),
    };
    match kind % FUZZ_BODY_KINDS {
        0 => json_body::<auth::LoginBody>(&req).map(drop),
        1 => json_body::<auth::RefreshBody>(&req).map(drop),
        2 => json_body::<credentials::VerifyBody>(&req).map(drop),
        3 => json_body::<credentials::EnrollBody>(&req).map(drop),
        4 => json_body::<credentials::DisableBody>(&req).map(drop),
        5 => json_body::<credentials::PasswordBody>(&req).map(drop),
        6 => json_body::<api_keys::NewKey>(&req).map(drop),
        7 => json_body::<roles::NewRole>(&req).map(drop),
        8 => json_body::<roles::RolePatch>(&req).map(drop),
        9 => json_body::<roles::NewBinding>(&req).map(drop),
        10 => json_body::<roles::ExplainIn>(&req).map(drop),
        11 => json_body::<ScopeIn>(&req)?.parse().map(drop),
        12 => people::student_in(&req, true).map(drop),
        13 => people::student_in(&req, false).map(drop),
        14 => people::staff_in(&req, true).map(drop),
        15 => people::staff_in(&req, false).map(drop),
        16 => catalog::DepartmentIn::parse(&req, true).map(drop),
        17 => catalog::DepartmentIn::parse(&req, false).map(drop),
        18 => catalog::TermIn::parse(&req, true).map(drop),
        19 => catalog::TermIn::parse(&req, false).map(drop),
        20 => catalog::CourseIn::parse(&req, true).map(drop),
        21 => catalog::CourseIn::parse(&req, false).map(drop),
        22 => catalog::ClassIn::parse(&req, true).map(drop),
        23 => catalog::ClassIn::parse(&req, false).map(drop),
        24 => catalog::enroll_in(&req).map(drop),
        25 => attendance::session_in(&req).map(drop),
        26 => attendance::marks_in(&req).map(drop),
        27 => exams::line_item_in(&req, true).map(drop),
        28 => exams::line_item_in(&req, false).map(drop),
        _ => exams::results_in(&req).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query() {
        let pairs: Vec<_> = query_pairs("a=1&b=x%20y+z&&c")
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(query_pairs("a=%zz").next().unwrap().is_err());
        assert!(query_pairs("a=%ff").next().unwrap().is_err());
        assert!(query_pairs("after=x%00y").next().unwrap().is_err());
    }

    #[test]
    fn finds_nul_escapes_but_not_escaped_backslashes() {
        assert!(has_nul_escape(br#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(br#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\u0001"}"#));
        assert!(!has_nul_escape(b"{}"));
    }

    /// Every campus write the fuzz target reaches takes a good body of its kind (so the
    /// fuzzer starts from bodies that get past the reader), and refuses a duplicate member.
    #[test]
    fn every_campus_body_kind_reads_a_good_body() {
        let id = "8b7e6d1c-2f3a-4b5c-9d8e-7f6a5b4c3d2e";
        let good: [(u8, String); 18] = [
            (12, format!(r#"{{"username":"ada","given_name":"A","family_name":"L","roll_number":"R1","program":"P","year_of_study":1,"department":"{id}"}}"#)),
            (13, r#"{"status":"tobedeleted"}"#.into()),
            (14, format!(r#"{{"username":"t","given_name":"T","family_name":"T","role":"teacher","employee_number":"E1","designation":"L","department":"{id}"}}"#)),
            (15, r#"{"designation":"Professor"}"#.into()),
            (16, r#"{"name":"Physics","identifier":"PHY"}"#.into()),
            (17, r#"{"status":"active"}"#.into()),
            (18, r#"{"title":"T","type":"term","start_date":"2026-09-01","end_date":"2027-01-31","school_year":2027}"#.into()),
            (19, r#"{"end_date":"2027-02-28"}"#.into()),
            (20, format!(r#"{{"title":"A","course_code":"A1","credits":3.5,"department":"{id}"}}"#)),
            (21, r#"{"credits":4}"#.into()),
            (22, format!(r#"{{"title":"A","class_code":"A1-A","periods":["MON-1"],"course":"{id}","term":"{id}"}}"#)),
            (23, r#"{"periods":["FRI-24"]}"#.into()),
            (24, format!(r#"{{"users":["{id}"]}}"#)),
            (25, r#"{"date":"2026-11-30","period":1}"#.into()),
            (26, format!(r#"{{"records":[{{"student":"{id}","code":"P"}}]}}"#)),
            (27, r#"{"title":"Q","category":"quiz","max_score":10}"#.into()),
            (28, r#"{"status":"published"}"#.into()),
            (29, format!(r#"{{"results":[{{"student":"{id}","score":9.5}}]}}"#)),
        ];
        for (kind, body) in &good {
            assert!(
                fuzz_decode_body(*kind, body.as_bytes()).is_ok(),
                "kind {kind}: {body}"
            );
            let twice = body.replacen('{', r#"{"x":1,"x":2,"#, 1);
            let e = fuzz_decode_body(*kind, twice.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 422, "kind {kind}");
        }
    }

    /// fuzz/json_bodies: sonic-rs skipped an unknown member's `\u` escape without looking at
    /// its hex digits, so a log-in body that is not JSON was taken (the crash input, verbatim).
    #[test]
    fn bad_unicode_escape_in_a_skipped_member_is_refused() {
        let crash = b"\x00{\"usernae\":\"\\u000z\",\"password\":\"x\"}";
        let e = fuzz_decode_body(crash[0], &crash[1..]).unwrap_err();
        assert_eq!(e.status(), 422);
        // The closing quote swallowed by a short escape.
        assert!(fuzz_decode_body(1, br#"{"refresh_token":"t","x":"\u"abcd"}"#).is_err());
        assert!(has_bad_unicode_escape(br#"{"x":"\u12"}"#));
        assert!(!has_bad_unicode_escape(
            br#"{"x":"\\u12","y":"\u00e9\uD83D\ude00"}"#
        ));
        let ok = br#"{"username":"\u00e9l\u00e8ve","password":"x","grant_type":"\u0070"}"#;
        assert!(fuzz_decode_body(0, ok).is_ok());
    }
}
