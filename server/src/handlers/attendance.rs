//! Attendance: a class's sessions (one per date and period), the register of a session marked
//! in one request, submission, office overrides, the class report and the registers not taken
//! on a day.
//!
//! Who marks what: before a register is submitted, whoever may `attendance.mark` the class
//! (its teachers; an institution-wide grant) writes teacher records. After submission, or for
//! anyone who may `attendance.override` but not mark, the records are the office's: stored
//! beside the teacher's (which they point at), never over them. Codes that only the office may
//! enter (medical leave, authorised absence) are refused in teacher records.

use campushub_db::queries::campus::{self, Record, Register, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{
    ATTENDANCE_MARK_CHECKED, ATTENDANCE_OPEN, ATTENDANCE_SUBMIT, CLASS_ATTENDANCE_CODES,
    CLASS_ATTENDANCE_REPORT, CLASS_SESSIONS, NOT_TAKEN, SESSION_BY_ID,
};

use super::campus::{
    allow_in_class, array_response, created, date_range, ip, may_in_class, page_response,
    parse_query, path_id, read_through, record_response, refused, take_param, today, write,
    written, MAX_BULK,
};
use super::catalog::{class_for, roster_ids};
use super::fields::{parse_date, Fields};
use super::Request;
use crate::api_error::{ApiError, FieldError};
use crate::auth::access::departments_with;
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

async fn session(shard: &Shard, req: &Request<'_>) -> Result<Record, ApiError> {
    let id = path_id(req, "attendance session")?;
    campus::record(shard.db.primary(), &SESSION_BY_ID, Shape::Session, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Reads a new session's body: `(date, period)`.
pub(super) fn session_in(
    req: &Request<'_>,
) -> Result<(Option<campushub_db::pgtypes::Date>, Option<i16>, bool), ApiError> {
    let mut f = Fields::parse(req)?;
    let date = f.date("date", true);
    let period = f.int("period", true, 0, 24).map(|p| p as i16);
    let unscheduled = f.boolean("unscheduled", false).unwrap_or(false);
    f.finish()?;
    Ok((date, period, unscheduled))
}

/// `POST /api/v1/classes/{id}/attendance-sessions`: `{"date": ..., "period": n}`, on a
/// teaching day in a period of the class's timetable; `"unscheduled": true` opens any other
/// (a make-up lesson: audited as such, and left out of reports if the day is not a teaching
/// day).
pub async fn open(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (date, period, unscheduled) = session_in(req)?;
    class_for(shard, req, req.permission()?).await?;
    let class = path_id(req, "class")?;
    let params: [campus::Param<'_>; 4] = [&class, &date, &period, &unscheduled];
    let o = write(shard, req, &ATTENDANCE_OPEN, &params).await?;
    if o.outcome == Word::Exists {
        let id = o.id.ok_or(ApiError::Internal)?;
        return Err(ApiError::Conflict(format!(
            "This class already has a session for that date and period: /api/v1/attendance-sessions/{id}."
        )));
    }
    if !o.applied() {
        return Err(refused(
            &o,
            &[
                (
                    Word::OutsideTerm,
                    "date",
                    "must lie within the class's term",
                ),
                (
                    Word::OutsideWindow,
                    "date",
                    "must lie between 24 months ago and the end of the third month ahead",
                ),
                (
                    Word::Closed,
                    "date",
                    "is not a teaching day (a holiday, a closure or a weekday the institution does not teach); send \"unscheduled\": true to open it anyway",
                ),
                (
                    Word::NotScheduled,
                    "period",
                    "is not in the class's timetable on that weekday; send \"unscheduled\": true to open it anyway",
                ),
            ],
            |_| None,
        ));
    }
    let id = o.id.ok_or(ApiError::Internal)?;
    let session = (&SESSION_BY_ID, Shape::Session);
    created(shard, session, "/api/v1/attendance-sessions", id).await
}

/// `GET /api/v1/classes/{id}/attendance-sessions?from=&to=`.
pub async fn sessions(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (from, to) = date_range(shard, req).await?;
    let rec = class_for(shard, req, req.permission()?).await?;
    let doc = campus::document(shard.db.primary(), &CLASS_SESSIONS, &[&rec.id, &from, &to]).await?;
    Ok(array_response("sessions", doc))
}

/// `GET /api/v1/attendance-sessions/{id}`: the register with every record.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = session(shard, req).await?;
    allow_in_class(shard, req, req.permission()?, rec.class_scope()).await?;
    Ok(record_response(req, rec))
}

/// Students, codes and minutes present.
pub(super) type Marks = (Vec<uuid::Uuid>, Vec<String>, Vec<Option<i16>>);

/// Reads a register's body: `records`, each a student, a code and perhaps minutes present.
pub(super) fn marks_in(req: &Request<'_>) -> Result<Marks, ApiError> {
    let mut f = Fields::parse(req)?;
    let (mut students, mut codes) = (Vec::new(), Vec::new());
    let mut minutes: Vec<Option<i16>> = Vec::new();
    f.each_object("records", MAX_BULK, |r| {
        let student = r.uuid("student", true);
        let code = r.text("code", true, 8);
        let mins = r.int("minutes_present", false, 0, 1440).map(|m| m as i16);
        if let Some(s) = student {
            if students.contains(&s) {
                r.bad("student", "is listed twice");
            }
        }
        if let (true, Some(s), Some(c)) = (r.ok(), student, code) {
            students.push(s);
            codes.push(c);
            minutes.push(mins);
        }
    });
    f.finish()?;
    Ok((students, codes, minutes))
}

/// `PUT /api/v1/attendance-sessions/{id}/records`: `{"records": [{"student", "code",
/// "minutes_present"}]}`, up to 500: the whole register, or part of it, in one request. The
/// same request twice leaves the same state.
pub async fn mark(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (students, codes, minutes) = marks_in(req)?;
    let caller = req.caller()?;
    let id = path_id(req, "attendance session")?;
    // Only what the access check needs: the register's document is not read on this path.
    let (session, class_id, department, submitted) = campus::session_state(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let scope = (class_id, department);
    let marks = may_in_class(shard, req, Permission::AttendanceMark, scope).await?;
    let source = if marks && !submitted {
        "teacher"
    } else if may_in_class(shard, req, Permission::AttendanceOverride, scope).await? {
        "office"
    } else if marks {
        return Err(ApiError::Conflict(
            "This register is submitted; changes now go through the office (attendance.override)."
                .into(),
        ));
    } else {
        return Err(ApiError::Forbidden);
    };
    let ids = enrolled_ids(shard, class_id, &students).await?;
    // An `If-Match` list is resolved against the register's version now (one read, only then).
    let current = if req.if_match_listed() {
        Some(self::session(shard, req).await?.version)
    } else {
        None
    };
    let o = match req.if_match_at(current)? {
        // Coalesced with the shard's other registers into one statement and one commit; the
        // answer comes once that commit is durable.
        None => {
            shard
                .registers
                .ask(Register {
                    actor: caller.principal.user_id,
                    ip: ip(req),
                    session,
                    source,
                    students: ids.clone(),
                    codes: codes.clone(),
                    minutes,
                })
                .await?
        }
        // With `If-Match`, alone: the version check and the write hold the session's lock
        // together (migration 0014); 412 when someone marked it since.
        Some(version) => {
            campus::change(
                shard.db.primary(),
                &ATTENDANCE_MARK_CHECKED,
                &[
                    &Some(version),
                    &caller.principal.user_id,
                    &ip(req),
                    &session,
                    &source,
                    &ids,
                    &codes,
                    &minutes,
                ],
            )
            .await?
        }
    };
    if !o.applied() {
        return Err(match o.outcome {
            Word::BadCode => ApiError::Invalid(
                codes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| o.bad.contains(c))
                    .map(|(i, _)| {
                        FieldError::new(
                            format!("records[{i}].code"),
                            format!("is not a code the {source} may enter"),
                        )
                    })
                    .collect(),
            ),
            Word::Submitted => ApiError::Conflict(
                "This register was submitted meanwhile; changes now go through the office.".into(),
            ),
            _ => refused(
                &o,
                &[(
                    Word::NotEnrolled,
                    "records",
                    "is not enrolled in this class",
                )],
                |bad| {
                    ids.iter()
                        .position(|s| s.to_string() == bad)
                        .map(|i| format!("records[{i}].student"))
                },
            ),
        });
    }
    // A short answer: the register itself is one GET away, and reading it back on every mark
    // would cost PostgreSQL more than the write.
    let changed = o.row_id.unwrap_or(0);
    let body = format!(
        "{{\"session\":{{\"sourced_id\":\"{id}\",\"type\":\"attendanceSession\"}},\"source\":\"{source}\",\"records\":{},\"changed\":{changed}}}",
        students.len()
    );
    Ok(Response::json(200, body.into_bytes())
        .with_header("X-Records-Changed", changed.to_string())
        .with_header("Location", format!("/api/v1/attendance-sessions/{id}")))
}

/// The users ids of `students` from class `class`'s roster: the shard's cached roster, read
/// again from PostgreSQL when a student is not in it (the cache may not have heard of an
/// enrollment yet). 422 naming each student that is not enrolled. PostgreSQL checks the
/// enrollments again when it writes (a student who left meanwhile is refused there).
async fn enrolled_ids(
    shard: &Shard,
    class: i64,
    students: &[uuid::Uuid],
) -> Result<Vec<i64>, ApiError> {
    fn resolve(roster: &[(i64, uuid::Uuid)], students: &[uuid::Uuid]) -> Vec<Option<i64>> {
        let mut by_public: Vec<(uuid::Uuid, i64)> = roster.iter().map(|(i, u)| (*u, *i)).collect();
        by_public.sort_unstable();
        students
            .iter()
            .map(|s| {
                by_public
                    .binary_search_by(|(u, _)| u.cmp(s))
                    .ok()
                    .map(|at| by_public[at].1)
            })
            .collect()
    }
    let mut found = resolve(&roster_ids(shard, class, false).await?, students);
    if found.iter().any(Option::is_none) {
        found = resolve(&roster_ids(shard, class, true).await?, students);
    }
    let missing: Vec<FieldError> = found
        .iter()
        .enumerate()
        .filter(|(_, id)| id.is_none())
        .map(|(i, _)| {
            FieldError::new(
                format!("records[{i}].student"),
                "is not enrolled in this class",
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Invalid(missing));
    }
    Ok(found.into_iter().flatten().collect())
}

/// `POST /api/v1/attendance-sessions/{id}/submit`: every enrolled student must have a mark.
pub async fn submit(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = session(shard, req).await?;
    allow_in_class(shard, req, req.permission()?, rec.class_scope()).await?;
    let id = path_id(req, "attendance session")?;
    let o = write(shard, req, &ATTENDANCE_SUBMIT, &[&id]).await?;
    if !o.applied() {
        return Err(match o.outcome {
            Word::Submitted => ApiError::Conflict("This register is already submitted.".into()),
            Word::Incomplete => ApiError::Invalid(
                o.bad
                    .iter()
                    .map(|s| FieldError::new("records", format!("student {s} has no mark")))
                    .collect(),
            ),
            _ => refused(&o, &[], |_| None),
        });
    }
    let rec = session(shard, req).await?;
    Ok(written(200, rec))
}

/// `GET /api/v1/classes/{id}/attendance-codes`: what a register of this class may say. Read on
/// every register a client opens and changed by hand a few times a year, so each shard keeps
/// them per department.
pub async fn codes(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = class_for(shard, req, req.permission()?).await?;
    let (class, department) = (rec.id, rec.department_id.unwrap_or(0));
    let doc = read_through(shard, (&shard.codes, true), department, || async {
        let doc = campus::document(shard.db.primary(), &CLASS_ATTENDANCE_CODES, &[&class]).await?;
        Ok(std::rc::Rc::<str>::from(doc))
    })
    .await?;
    Ok(array_response("codes", &doc))
}

/// `GET /api/v1/classes/{id}/attendance/report?from=&to=`: per student, marks by category and
/// the presence rate (an office override counts instead of the teacher's mark). From the
/// replica when it is fresh.
pub async fn report(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (from, to) = date_range(shard, req).await?;
    let rec = class_for(shard, req, req.permission()?).await?;
    let (pool, source) = shard.db.analytics();
    let doc = campus::document(pool, &CLASS_ATTENDANCE_REPORT, &[&rec.id, &from, &to]).await?;
    let class = path_id(req, "class")?;
    let body = format!(
        "{{\"class\":{{\"sourced_id\":\"{class}\",\"type\":\"class\"}},\"from\":\"{}\",\"to\":\"{}\",\"source\":\"{}\",\"students\":{doc}}}",
        from.iso(),
        to.iso(),
        source.as_str()
    );
    Ok(Response::json(200, body.into_bytes()).with_header("Cache-Control", "private, no-store"))
}

use super::institution::WEEKDAYS;

/// `GET /api/v1/attendance/not-taken?date=`: the classes meeting that day (by their
/// timetable, on a teaching day of a term covering the date) whose register for a period is
/// not submitted, in the departments where the caller may read attendance; teachers without
/// such a grant see their own classes. Keyset pages (`limit`, `cursor`, `fields`) by class and
/// period.
pub async fn not_taken(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let mut asked = None;
    let paging = parse_query(req, "`date`", |k, v| match k {
        "date" => take_param(
            &mut asked,
            parse_date(v).ok_or_else(|| {
                ApiError::BadParameter("`date` must be a date like 2026-11-30 that exists.".into())
            }),
        ),
        _ => Ok(false),
    })?;
    let date = match asked {
        Some(d) => d,
        None => today(shard).await?,
    };
    let scope = departments_with(&caller.principal, req.permission()?);
    let teacher: Option<i64> = match &scope {
        Some(ids) if ids.is_empty() => {
            if departments_with(&caller.principal, Permission::AttendanceMark)
                .is_some_and(|d| d.is_empty())
            {
                return Err(ApiError::Forbidden);
            }
            Some(caller.principal.user_id)
        }
        _ => None,
    };
    let scope = if teacher.is_some() { None } else { scope };
    let weekday = WEEKDAYS[(date.0 + 3).rem_euclid(7) as usize];
    let limit = paging.limit + 1;
    let params: [campus::Param<'_>; 6] = [&date, &weekday, &scope, &teacher, &paging.after, &limit];
    let rows = campus::page(shard.db.primary(), &NOT_TAKEN, &params).await?;
    let mut r = page_response("classes", rows, &paging)?;
    // `{"date": ..., "classes": [...], "next_cursor": ...}`
    if let crate::http::response::Body::Bytes(b) = &mut r.body {
        let head = format!("{{\"date\":\"{}\",", date.iso());
        b.splice(0..1, head.into_bytes());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn weekdays_line_up_with_the_calendar() {
        // 2026-11-30 is a Monday.
        let d = super::parse_date("2026-11-30").unwrap();
        assert_eq!(super::WEEKDAYS[(d.0 + 3).rem_euclid(7) as usize], "MON");
        let d = super::parse_date("1970-01-01").unwrap();
        assert_eq!(super::WEEKDAYS[(d.0 + 3).rem_euclid(7) as usize], "THU");
    }
}
