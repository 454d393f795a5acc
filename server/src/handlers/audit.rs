//! `GET /api/v1/audit-events`: the audit trail, newest first, keyset-paginated, filtered by
//! action, actor, target and time. Needs `audit.read` for the whole institution.

use campushub_db::audit::{self, Filter, Record};
use campushub_db::pgtypes::Timestamp;
use serde::Serialize;

use super::fields::parse_date;
use super::{json, query_pairs, ObjectRef, Request};
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

/// Events per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;
/// Most events one page may hold.
const MAX_LIMIT: u32 = 200;
/// Longest `target_type` / `target_id` accepted: stored ones are short (`user`, a row id, a
/// role name), so a longer value could match nothing and is refused instead of queried.
const MAX_TARGET_BYTES: usize = 128;

const PARAMETERS: &str = "This route takes `action`, `actor`, `target_type`, `target_id`, \
                          `from`, `to`, `limit` and `after`.";

/// The query parameters, checked.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    action: Option<String>,
    actor: Option<uuid::Uuid>,
    target_type: Option<String>,
    target_id: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<u32>,
    after: Option<i64>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadParameter(msg.into())
}

/// Stores a parameter's value, refusing a second one: which of two would win is not obvious,
/// so neither does.
fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), ApiError> {
    if slot.is_some() {
        return Err(bad(format!("`{name}` is given more than once.")));
    }
    *slot = Some(value);
    Ok(())
}

/// `area.verb`, as the table's CHECK constraint has it: `^[a-z_]+\.[a-z_]+$`.
fn valid_action(a: &str) -> bool {
    a.split_once('.').is_some_and(|(area, verb)| {
        !area.is_empty()
            && !verb.is_empty()
            && area
                .bytes()
                .chain(verb.bytes())
                .all(|c| c.is_ascii_lowercase() || c == b'_')
    })
}

fn target(name: &str, v: String) -> Result<String, ApiError> {
    if v.is_empty() || v.len() > MAX_TARGET_BYTES {
        return Err(bad(format!(
            "`{name}` must be 1 to {MAX_TARGET_BYTES} bytes."
        )));
    }
    Ok(v)
}

/// Two ASCII digits at `at`.
fn two_digits(b: &[u8], at: usize) -> Option<i64> {
    match (b.get(at), b.get(at + 1)) {
        (Some(h @ b'0'..=b'9'), Some(l @ b'0'..=b'9')) => {
            Some(i64::from(h - b'0') * 10 + i64::from(l - b'0'))
        }
        _ => None,
    }
}

/// An RFC 3339 time (`2026-11-22T09:30:00Z`, `2026-11-22T09:30:00.25+05:30`) or a date
/// (`2026-11-22`, midnight UTC), as microseconds since the epoch. Fractions finer than a
/// microsecond are dropped, as PostgreSQL stores no finer.
fn parse_instant(name: &str, v: &str) -> Result<Timestamp, ApiError> {
    let err = || {
        bad(format!(
            "`{name}` must be an RFC 3339 time like 2026-11-22T09:30:00Z or a date like 2026-11-22."
        ))
    };
    let b = v.as_bytes();
    let date_ok = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !date_ok {
        return Err(err());
    }
    let date = parse_date(&v[..10]).ok_or_else(err)?;
    if b.len() == 10 {
        return Ok(Timestamp::at(date, 0));
    }
    // `T` (or `t`, which RFC 3339 allows), then HH:MM:SS.
    if !matches!(b[10], b'T' | b't') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return Err(err());
    }
    let (h, m, s) = (
        two_digits(b, 11).ok_or_else(err)?,
        two_digits(b, 14).ok_or_else(err)?,
        two_digits(b, 17).ok_or_else(err)?,
    );
    // 60 is a leap second; like PostgreSQL, it becomes the next minute's first second.
    if h > 23 || m > 59 || s > 60 {
        return Err(err());
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err());
        }
        for (k, c) in b[i..i + digits].iter().take(6).enumerate() {
            micros += i64::from(c - b'0') * 10i64.pow(5 - k as u32);
        }
        i += digits;
    }
    let offset_s = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let (oh, om) = (
                two_digits(b, i + 1).ok_or_else(err)?,
                two_digits(b, i + 4).ok_or_else(err)?,
            );
            if oh > 23 || om > 59 {
                return Err(err());
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err(err()),
    };
    let seconds = h * 3600 + m * 60 + s - offset_s;
    Ok(Timestamp(Timestamp::at(date, seconds).0 + micros))
}

fn parse_params(query: &str) -> Result<Params, ApiError> {
    let mut p = Params::default();
    for pair in query_pairs(query) {
        let (k, v) = pair?;
        match k.as_str() {
            "action" => {
                if !valid_action(&v) {
                    return Err(bad(
                        "`action` is an action name like auth.login (lower-case letters and _, one dot).",
                    ));
                }
                once(&mut p.action, "action", v)?;
            }
            "actor" => {
                let id = uuid::Uuid::try_parse(&v)
                    .map_err(|_| bad("`actor` must be a user's id (UUID)."))?;
                once(&mut p.actor, "actor", id)?;
            }
            "target_type" => once(&mut p.target_type, "target_type", target("target_type", v)?)?,
            "target_id" => once(&mut p.target_id, "target_id", target("target_id", v)?)?,
            "from" => once(&mut p.from, "from", parse_instant("from", &v)?)?,
            "to" => once(&mut p.to, "to", parse_instant("to", &v)?)?,
            "limit" => {
                let n = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}."
                        ))
                    })?;
                once(&mut p.limit, "limit", n)?;
            }
            "after" => {
                let id =
                    v.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(|| {
                        bad("`after` must be the `next` value of a previous page.")
                    })?;
                once(&mut p.after, "after", id)?;
            }
            _ => return Err(bad(PARAMETERS)),
        }
    }
    if p.target_id.is_some() && p.target_type.is_none() {
        return Err(bad(
            "`target_id` needs `target_type`: ids mean nothing without their kind.",
        ));
    }
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if from >= to {
            return Err(bad("`from` must be before `to`."));
        }
    }
    Ok(p)
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
pub(crate) struct EventDto<'a> {
    id: i64,
    occurred_at: &'a str,
    actor: Option<ObjectRef>,
    action: &'a str,
    target_type: Option<&'a str>,
    target_id: Option<&'a str>,
    ip: Option<&'a str>,
    /// Embedded as stored: already JSON, so not parsed into a tree and written out again.
    #[schema(value_type = Object)]
    details: sonic_rs::LazyValue<'a>,
    hash: &'a str,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub(crate) struct PageDto<'a> {
    events: Vec<EventDto<'a>>,
    next: Option<String>,
}

fn event_dto(r: &Record) -> Result<EventDto<'_>, ApiError> {
    Ok(EventDto {
        id: r.id,
        occurred_at: &r.occurred_at,
        actor: r.actor.map(|id| ObjectRef::new(id, "user")),
        action: &r.action,
        target_type: r.target_type.as_deref(),
        target_id: r.target_id.as_deref(),
        ip: r.ip.as_deref(),
        // jsonb text is always valid JSON; a failure here is a bug, answered 500.
        details: sonic_rs::from_str(&r.details).map_err(|_| ApiError::Internal)?,
        hash: &r.hash,
    })
}

/// `GET /api/v1/audit-events`.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    // `audit.read` for the whole institution: the route table's rule, checked before this.
    let p = parse_params(req.query)?;
    let filter = Filter {
        action: p.action.as_deref(),
        actor: p.actor,
        target_type: p.target_type.as_deref(),
        target_id: p.target_id.as_deref(),
        from: p.from,
        to: p.to,
        before_id: p.after,
    };
    let page = audit::page(
        shard.db.primary(),
        &filter,
        p.limit.unwrap_or(DEFAULT_LIMIT),
    )
    .await?;
    let next = match page.events.last() {
        Some(last) if page.more => Some(last.id.to_string()),
        _ => None,
    };
    let body = json(&PageDto {
        events: page
            .events
            .iter()
            .map(event_dto)
            .collect::<Result<_, _>>()?,
        next,
    })?;
    Ok(Response::json(200, body).with_header("Cache-Control", "private, no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use campushub_db::pgtypes::days_from_civil;

    fn at(y: i32, mo: u32, d: u32, secs: i64, micros: i64) -> Timestamp {
        let date = campushub_db::pgtypes::Date(days_from_civil(y, mo, d));
        Timestamp(Timestamp::at(date, secs).0 + micros)
    }

    #[test]
    fn parses_rfc3339_times_and_dates() {
        let ok = |v: &str| parse_instant("from", v).unwrap();
        assert_eq!(ok("2026-11-22"), at(2026, 11, 22, 0, 0));
        assert_eq!(ok("2026-11-22T09:30:00Z"), at(2026, 11, 22, 34_200, 0));
        assert_eq!(ok("2026-11-22t09:30:00z"), at(2026, 11, 22, 34_200, 0));
        assert_eq!(
            ok("2026-11-22T09:30:00.25+05:30"),
            at(2026, 11, 22, 34_200 - 19_800, 250_000)
        );
        assert_eq!(
            ok("2026-11-22T00:00:00.1234567-01:00"),
            at(2026, 11, 22, 3_600, 123_456)
        );
        assert_eq!(ok("2026-12-31T23:59:60Z"), at(2027, 1, 1, 0, 0));
        for bad in [
            "",
            "notadate",
            "2026-11-22T",
            "2026-11-22 09:30:00Z",
            "2026-11-22T09:30:00",
            "2026-11-22T09:30Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T09:30:00.Z",
            "2026-11-22T09:30:00+0530",
            "2026-11-22T09:30:00+05:30x",
            "2026-02-30",
            "2026-1-22",
            "+026-11-22",
            "2026-11-22T09:30:00Zé",
        ] {
            assert!(parse_instant("from", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn details_are_embedded_as_json() {
        let r = Record {
            id: 7,
            occurred_at: "2026-11-22T09:30:00.123456Z".into(),
            actor: None,
            action: "auth.login".into(),
            target_type: Some("user".into()),
            target_id: Some("3".into()),
            ip: None,
            details: r#"{"mfa": false, "login": "a\"b"}"#.into(),
            hash: "ab".into(),
        };
        let body = json(&PageDto {
            events: vec![event_dto(&r).unwrap()],
            next: None,
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["events"][0]["details"]["login"], "a\"b");
        assert_eq!(v["events"][0]["details"]["mfa"], false);
        assert_eq!(v["events"][0]["actor"], serde_json::Value::Null);
        assert_eq!(v["next"], serde_json::Value::Null);
        let broken = Record {
            details: "{".into(),
            ..r
        };
        assert!(event_dto(&broken).is_err());
    }

    #[test]
    fn checks_parameters() {
        let p = parse_params(
            "action=auth.login&actor=6f1c2a4e-0000-4000-8000-000000000001&limit=2&after=10\
             &target_type=user&target_id=7&from=2026-01-01&to=2026-02-01",
        )
        .unwrap();
        assert_eq!(p.action.as_deref(), Some("auth.login"));
        assert_eq!(p.limit, Some(2));
        assert_eq!(p.after, Some(10));
        assert_eq!(p.target_id.as_deref(), Some("7"));
        assert_eq!(parse_params("").unwrap(), Params::default());
        for bad in [
            "limit=0",
            "limit=201",
            "limit=-1",
            "limit=x",
            "after=0",
            "after=x",
            "from=notadate",
            "action=DROP%20TABLE",
            "action=auth",
            "action=auth.login.x",
            "action=Auth.login",
            "actor=admin",
            "target_id=7",
            "target_type=",
            "from=2026-02-01&to=2026-01-01",
            "from=2026-01-01&to=2026-01-01",
            "limit=1&limit=2",
            "sort=id",
        ] {
            let e = parse_params(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
    }
}
