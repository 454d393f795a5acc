//! What the campus routes share: path ids, keyset pages with opaque cursors, record
//! responses with ETags, the mapping of a write's outcome to an answer, and publishing what a
//! write made stale.

use base64::Engine as _;
use campushub_cache::{Invalidation, Message};
use campushub_db::pgtypes::Date;
use campushub_db::queries::campus::{self, Outcome, Params, Record, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{Stmt, CAMPUS_TODAY};

use super::fields::{parse_date, Fields};
use super::{query_pairs, Request};
use crate::api_error::{ApiError, FieldError};
use crate::auth::access::class_access;
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::request::etag;
use crate::shard::Shard;

/// Largest page of a list.
pub const MAX_LIMIT: i64 = 200;
/// Page size when the client names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most entries of one bulk request (a class register, a result sheet, enrollments).
pub const MAX_BULK: usize = 500;

/// Record states a write may set.
pub const STATUSES: &[&str] = &["active", "tobedeleted"];

/// Longest date range one request may ask for (attendance histories, reports, sessions).
pub const MAX_RANGE_DAYS: i32 = 366;

/// Today where the institution is (its time zone, migration 0019), as PostgreSQL says, which
/// the shard keeps for `TODAY_TTL`: every default date of the API starts here.
pub async fn today(shard: &Shard) -> Result<Date, ApiError> {
    let now = std::time::Instant::now();
    if let Some((at, day)) = shard.today.get() {
        if now.duration_since(at) < crate::shard::TODAY_TTL {
            return Ok(Date(day));
        }
    }
    let row = shard
        .db
        .primary()
        .query_opt(&CAMPUS_TODAY, &[])
        .await?
        .ok_or_else(|| campushub_db::DbError::undecodable(&CAMPUS_TODAY, "no row"))?;
    let day: i32 = row
        .try_get(0)
        .map_err(|e| campushub_db::DbError::undecodable(&CAMPUS_TODAY, e))?;
    shard.today.set(Some((now, day)));
    Ok(Date(day))
}

/// `from` and `to` of the query, each if given; any other parameter is refused (400).
pub fn from_to(req: &Request<'_>) -> Result<(Option<Date>, Option<Date>), ApiError> {
    let (mut from, mut to) = (None, None);
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        let d = || {
            parse_date(&v).ok_or_else(|| {
                ApiError::BadParameter(format!("`{k}` must be a date like 2026-11-30 that exists."))
            })
        };
        match k.as_str() {
            "from" => from = Some(d()?),
            "to" => to = Some(d()?),
            _ => {
                return Err(ApiError::BadParameter(
                    "This route takes `from` and `to` (dates).".into(),
                ))
            }
        }
    }
    Ok((from, to))
}

/// `from` and `to` of the query (default: the 30 days up to today where the institution is), at
/// most a year apart; any other parameter is refused.
pub async fn date_range(shard: &Shard, req: &Request<'_>) -> Result<(Date, Date), ApiError> {
    let (from, to) = from_to(req)?;
    let t = today(shard).await?;
    let (from, to) = (from.unwrap_or(Date(t.0 - 30)), to.unwrap_or(t));
    if to < from || to.0 - from.0 > MAX_RANGE_DAYS {
        return Err(ApiError::BadParameter(format!(
            "`from` must not be after `to`, and the range at most {MAX_RANGE_DAYS} days."
        )));
    }
    Ok((from, to))
}

/// The record status a change may set (`create`: none, a new record is active).
pub fn status_in(f: &mut Fields, create: bool) -> Option<&'static str> {
    if create {
        None
    } else {
        f.one_of("status", false, STATUSES)
    }
}

/// The verdict on a body: a change that names nothing (`unchanged`) is refused too.
pub fn finish_body(mut f: Fields, create: bool, unchanged: bool) -> Result<(), ApiError> {
    if !create && f.ok() && unchanged {
        f.bad("body", "names nothing to change");
    }
    f.finish()
}

/// The route's `{id}` as a public id (400 when it is not a UUID).
pub fn path_id(req: &Request<'_>, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(req.param)
        .map_err(|_| ApiError::BadParameter(format!("The {what} id must be a UUID.")))
}

/// A query parameter that is a public id.
pub fn query_uuid(name: &str, v: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(v)
        .map_err(|_| ApiError::BadParameter(format!("`{name}` must be a UUID.")))
}

/// A query parameter that must be one of `allowed` (400 saying `message` otherwise).
pub fn query_one_of(
    v: &str,
    allowed: &[&'static str],
    message: &str,
) -> Result<&'static str, ApiError> {
    allowed
        .iter()
        .find(|s| **s == v)
        .copied()
        .ok_or_else(|| ApiError::BadParameter(message.into()))
}

/// The LIKE pattern of a prefix search: lower-cased, its wildcards escaped, 1-100 characters.
pub fn prefix_pattern(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > 100 {
        return Err(ApiError::BadParameter(
            "`q` must be 1 to 100 characters.".into(),
        ));
    }
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

/// A page's `limit`: 1 to [`MAX_LIMIT`] rows.
pub fn parse_limit(v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::BadParameter(format!(
                "`limit` must be a whole number from 1 to {MAX_LIMIT}."
            ))
        })
}

const CURSOR_MARK: &str = "k1.";

/// The opaque cursor after row `id`.
pub fn cursor(id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_MARK}{id}"))
}

/// The row id a cursor of [`cursor`] names (400 for anything else).
pub fn parse_cursor(v: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::BadParameter("`cursor` is not a cursor from this API.".into());
    if v.len() > 64 {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v)
        .map_err(|_| bad())?;
    let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
    text.strip_prefix(CURSOR_MARK)
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(bad)
}

/// The paging parameters every list takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// Rows per page.
    pub limit: i64,
    /// Row id after which the page starts.
    pub after: i64,
    /// `fields=`: the members to keep in each item (`None`: all).
    pub fields: Option<Vec<String>>,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            limit: DEFAULT_LIMIT,
            after: 0,
            fields: None,
        }
    }
}

impl Paging {
    /// Takes `limit`, `cursor` or `fields`; `false` when `k` is none of them.
    pub fn take(&mut self, k: &str, v: &str) -> Result<bool, ApiError> {
        match k {
            "limit" => self.limit = parse_limit(v)?,
            "cursor" => self.after = parse_cursor(v)?,
            "fields" => {
                let names: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                let ok = !names.is_empty()
                    && names.len() <= 32
                    && names.iter().all(|n| {
                        n.len() <= 64 && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    });
                if !ok {
                    return Err(ApiError::BadParameter(
                        "`fields` is a comma-separated list of member names.".into(),
                    ));
                }
                self.fields = Some(names);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Keeps the value of a query parameter `on` knows (see [`parse_query`]): its answer.
pub fn take_param<T>(slot: &mut Option<T>, value: Result<T, ApiError>) -> Result<bool, ApiError> {
    *slot = Some(value?);
    Ok(true)
}

/// Reads the query: `on` gets every pair that is not a paging parameter (and answers whether
/// it knew it); an unknown one is 400 naming `known`.
pub fn parse_query(
    req: &Request<'_>,
    known: &str,
    mut on: impl FnMut(&str, &str) -> Result<bool, ApiError>,
) -> Result<Paging, ApiError> {
    let mut paging = Paging::default();
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        if paging.take(&k, &v)? || on(&k, &v)? {
            continue;
        }
        return Err(ApiError::BadParameter(format!(
            "Unknown query parameter `{}`; this route takes {known}, `limit`, `cursor` and `fields`.",
            k.chars().take(40).collect::<String>()
        )));
    }
    Ok(paging)
}

/// Keeps only `fields` of a JSON object document.
fn project(doc: &[u8], fields: &[String]) -> Result<Vec<u8>, ApiError> {
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(doc).map_err(|_| ApiError::Internal)?;
    let kept: serde_json::Map<String, serde_json::Value> = v
        .into_iter()
        .filter(|(k, _)| fields.iter().any(|f| f == k))
        .collect();
    serde_json::to_vec(&kept).map_err(|_| ApiError::Internal)
}

/// A page: `{"<key>": [documents], "next_cursor": ...}`. `rows` holds up to `limit + 1` rows:
/// the extra one only says there is a next page. The documents (PostgreSQL's JSON, or the
/// shard's encoded profiles) are copied as they are, or projected to `fields=`.
pub fn page_response<D: AsRef<[u8]>>(
    key: &str,
    mut rows: Vec<(i64, D)>,
    paging: &Paging,
) -> Result<Response, ApiError> {
    let more = rows.len() as i64 > paging.limit;
    rows.truncate(paging.limit as usize);
    let next = rows.last().filter(|_| more).map(|(id, _)| cursor(*id));
    let docs: Vec<&[u8]> = rows.iter().map(|(_, d)| d.as_ref()).collect();
    let mut body = array_body(key, &docs, paging.fields.as_deref())?;
    body.truncate(body.len() - 1);
    body.extend_from_slice(b",\"next_cursor\":");
    match next {
        Some(c) => {
            body.push(b'"');
            body.extend_from_slice(c.as_bytes());
            body.push(b'"');
        }
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    Ok(Response::json(200, body).with_header("Cache-Control", "private, no-store"))
}

/// `{"<key>":[documents]}`, each document copied or projected to `fields`.
pub fn array_body(
    key: &str,
    docs: &[&[u8]],
    fields: Option<&[String]>,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(docs.iter().map(|d| d.len() + 1).sum::<usize>() + 64);
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(b"\":[");
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        match fields {
            Some(f) => body.extend_from_slice(&project(doc, f)?),
            None => body.extend_from_slice(doc),
        }
    }
    body.extend_from_slice(b"]}");
    Ok(body)
}

/// A list that is one JSON array document: `{"<key>": [...]}`.
pub fn array_response(key: &str, array: impl AsRef<str>) -> Response {
    let array = array.as_ref();
    let mut body = String::with_capacity(array.len() + key.len() + 6);
    body.push_str("{\"");
    body.push_str(key);
    body.push_str("\":");
    body.push_str(array);
    body.push('}');
    Response::json(200, body.into_bytes()).with_header("Cache-Control", "private, no-store")
}

/// One record with its ETag, or 304 when `If-None-Match` names its version.
pub fn record_response(req: &Request<'_>, rec: Record) -> Response {
    if req.not_modified(rec.version) {
        return Response::empty(304)
            .with_header("ETag", etag(rec.version))
            .with_header("Cache-Control", "private, no-cache");
    }
    written(200, rec)
}

/// A record just created (201) or changed (200), with its new ETag.
pub fn written(status: u16, rec: Record) -> Response {
    Response::json(status, rec.json.into_bytes())
        .with_header("ETag", etag(rec.version))
        .with_header("Cache-Control", "private, no-cache")
}

/// The answer to a write that created record `id` (read back with `by_id`, rows of `shape`):
/// 201 with the record, its ETag and its `Location` (`path/id`).
pub async fn created(
    shard: &Shard,
    (by_id, shape): (&Stmt, Shape),
    path: &str,
    id: uuid::Uuid,
) -> Result<Response, ApiError> {
    let rec = campus::record(shard.db.primary(), by_id, shape, id)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(written(201, rec).with_header("Location", format!("{path}/{id}")))
}

/// The answer to a write that changed nothing: 404, 412, 409 or 422 saying why. `fields`
/// names the request member each refusal word concerns (for `errors`: 409 for a `*_taken`
/// word, a value another record holds; 422 for the others), and `bad_field`
/// maps an offending entry of a bulk request to its member path.
pub fn refused(
    o: &Outcome,
    conflicts: &[(Word, &str, &str)],
    bad_field: impl Fn(&str) -> Option<String>,
) -> ApiError {
    match o.outcome {
        Word::NotFound => return ApiError::NotFound,
        Word::Stale => return ApiError::PreconditionFailed,
        _ => {}
    }
    // (word, field, detail): a word with a field is a 422 on that field (or on the bad
    // entries), without one a 409.
    match conflicts.iter().find(|(word, _, _)| *word == o.outcome) {
        Some((_, "", detail)) => ApiError::Conflict((*detail).to_string()),
        Some((word, field, detail)) => {
            let mut errors: Vec<FieldError> = o
                .bad
                .iter()
                .filter_map(|b| bad_field(b).map(|f| FieldError::new(f, *detail)))
                .collect();
            if errors.is_empty() {
                errors.push(FieldError::new(*field, *detail));
            }
            // A value someone else holds (a username, an email, a code) is a conflict with
            // the state, not a malformed request: 409, naming the field.
            if word.is_taken() {
                ApiError::Taken(errors)
            } else {
                ApiError::Invalid(errors)
            }
        }
        None => ApiError::Internal,
    }
}

/// Runs campus write `stmt` as the caller: the caller's users.id and address go first (for the
/// audit event), then `params`. The outcome as it is, applied or refused.
pub async fn write(
    shard: &Shard,
    req: &Request<'_>,
    stmt: &Stmt,
    params: &Params<'_>,
) -> Result<Outcome, ApiError> {
    let actor = req.caller()?.principal.user_id;
    Ok(campus::change_as(shard.db.primary(), stmt, actor, &ip(req), params).await?)
}

/// [`write`], a refusal answered by [`refused`] through `conflicts`.
pub async fn apply(
    shard: &Shard,
    req: &Request<'_>,
    stmt: &Stmt,
    params: &Params<'_>,
    conflicts: &[(Word, &str, &str)],
) -> Result<Outcome, ApiError> {
    let o = write(shard, req, stmt, params).await?;
    if !o.applied() {
        return Err(refused(&o, conflicts, |_| None));
    }
    Ok(o)
}

/// Tells every shard of every instance that what `what` names is stale (a campus write, after
/// its commit; no authorisation version).
pub async fn publish(shard: &Shard, what: Invalidation) {
    shard.invalidate(Message { version: 0, what }).await;
}

/// Whether the campus caches (profiles, rosters, list pages, results) are on: they follow the
/// profile cache's size (0: every read goes to PostgreSQL).
pub fn campus_caches(shard: &Shard) -> bool {
    shard.config.profile_cache_entries > 0
}

/// Puts what a read found in a campus cache for `cache_ttl`, unless an invalidation reached the
/// shard while the read was in flight (`epoch`: `Shard::cache_epoch` before the read).
pub fn keep<K: std::hash::Hash + Eq, V>(
    shard: &Shard,
    cache: &std::cell::RefCell<campushub_cache::LocalCache<K, V>>,
    epoch: u64,
    key: K,
    value: V,
    now: std::time::Instant,
) {
    if shard.cache_epoch.get() == epoch {
        cache
            .borrow_mut()
            .insert(key, value, now + shard.cache_ttl());
    }
}

/// Reads through a campus cache: `key`'s live entry when `cached`, else what `read` finds, kept
/// (when `cached`) as [`keep`] keeps it.
pub async fn read_through<K, V, F>(
    shard: &Shard,
    (cache, cached): (&std::cell::RefCell<campushub_cache::LocalCache<K, V>>, bool),
    key: K,
    read: impl FnOnce() -> F,
) -> Result<V, ApiError>
where
    K: std::hash::Hash + Eq,
    V: Clone,
    F: std::future::Future<Output = Result<V, ApiError>>,
{
    let now = std::time::Instant::now();
    if cached {
        if let Some(hit) = cache.borrow_mut().get(&key, now) {
            return Ok(hit.clone());
        }
    }
    let epoch = shard.cache_epoch.get();
    let value = read().await?;
    if cached {
        keep(shard, cache, epoch, key, value.clone(), now);
    }
    Ok(value)
}

/// Whether the caller may use `permission` on a record of class `class` of department
/// `department` (the rule of `auth::access::class_access`).
pub async fn may_in_class(
    shard: &Shard,
    req: &Request<'_>,
    permission: Permission,
    (class, department): (i64, i64),
) -> Result<bool, ApiError> {
    class_access(
        shard.db.primary(),
        &req.caller()?.principal,
        permission,
        class,
        department,
    )
    .await
}

/// 403 unless [`may_in_class`].
pub async fn allow_in_class(
    shard: &Shard,
    req: &Request<'_>,
    permission: Permission,
    scope: (i64, i64),
) -> Result<(), ApiError> {
    if may_in_class(shard, req, permission, scope).await? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// [`allow_in_class`], or the caller is a member of the class (a student enrolled in it, a
/// guardian of one: `auth::access::class_member`), for what members may read: the class and
/// its line items.
pub async fn allow_in_class_or_member(
    shard: &Shard,
    req: &Request<'_>,
    permission: Permission,
    scope: (i64, i64),
) -> Result<(), ApiError> {
    if may_in_class(shard, req, permission, scope).await?
        || crate::auth::access::class_member(
            shard.db.primary(),
            &req.caller()?.principal,
            permission,
            scope.0,
        )
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The caller's client address, as the audit trail records it.
pub fn ip(req: &Request<'_>) -> String {
    req.peer.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(parse_cursor(&cursor(12345)).unwrap(), 12345);
        assert!(parse_cursor("12345").is_err());
        assert!(parse_cursor("").is_err());
        assert!(parse_cursor(&"A".repeat(100)).is_err());
        let neg = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("k1.-5");
        assert!(parse_cursor(&neg).is_err());
    }

    #[test]
    fn prefix_patterns_escape_wildcards() {
        assert_eq!(prefix_pattern("Sm").unwrap(), "sm");
        assert_eq!(prefix_pattern("a%_\\").unwrap(), "a\\%\\_\\\\");
        assert!(prefix_pattern("  ").is_err());
    }

    #[test]
    fn pages_copy_documents_and_say_whether_more_follow() {
        let paging = Paging {
            limit: 2,
            ..Paging::default()
        };
        let rows = vec![
            (1, r#"{"a":1,"b":2}"#.to_string()),
            (2, r#"{"a":3,"b":4}"#.to_string()),
            (3, r#"{"a":5,"b":6}"#.to_string()),
        ];
        let r = page_response("items", rows, &paging).unwrap();
        let crate::http::response::Body::Bytes(b) = &r.body else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(parse_cursor(v["next_cursor"].as_str().unwrap()).unwrap(), 2);
        let paging = Paging {
            limit: 5,
            fields: Some(vec!["b".into()]),
            ..Paging::default()
        };
        let r = page_response("items", vec![(1, r#"{"a":1,"b":2}"#.to_string())], &paging).unwrap();
        let crate::http::response::Body::Bytes(b) = &r.body else {
            panic!()
        };
        assert_eq!(
            std::str::from_utf8(b).unwrap(),
            r#"{"items":[{"b":2}],"next_cursor":null}"#
        );
    }
}
