//! Notices: absence alerts and published results. A `notify.*` job (enqueued by the change
//! that causes it, in its transaction: migration 0017's triggers; a submitted register's
//! `notify.session` first makes one `notify.absence` per absent student and day) fans out one
//! `email.*` job per recipient in one SQL call; each `email.*` job reads what it says when it runs, so a mark
//! corrected to present, a preference turned off or an address that bounced meanwhile sends
//! nothing. Every message carries the recipient's unsubscribe link, and `List-Unsubscribe` with
//! one-click (RFC 8058).

use serde::Deserialize;
use tokio_postgres::types::{ToSql, Type};

use super::mail::{self, Outgoing};
use super::queue::QueueError;
use super::send::{deliver, payload, retry_on, Outcome, Tools};
use crate::auth::links;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsenceDay {
    student: uuid::Uuid,
    date: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submitted {
    session: uuid::Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Published {
    line_item: uuid::Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsenceEmail {
    student: uuid::Uuid,
    date: String,
    to: uuid::Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultsEmail {
    line_item: uuid::Uuid,
    student: uuid::Uuid,
    to: uuid::Uuid,
}

fn date_of(text: &str) -> Result<String, Outcome> {
    match crate::handlers::fields::parse_date(text) {
        Some(_) => Ok(text.to_string()),
        None => Err(Outcome::Permanent(format!(
            "{text:?} is not a date (YYYY-MM-DD)"
        ))),
    }
}

/// Runs a fan-out function (it enqueues one job per recipient or student in one statement):
/// done, or retried when the database is away.
async fn fan_out(tools: &Tools, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Outcome {
    let n: Result<i32, QueueError> = tools.db.one(sql, params).await;
    match n {
        Ok(_) => Outcome::Done,
        Err(e) => retry_on(e),
    }
}

/// `notify.session`: a submitted register's absent students, one `notify.absence` job each
/// (one per student per day: a day of registers makes one alert).
pub async fn session_fanout(tools: &Tools, job: &super::queue::Claimed) -> Outcome {
    let p: Submitted = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    fan_out(
        tools,
        "SELECT notify_session_fanout($1)",
        &[(&p.session, Type::UUID)],
    )
    .await
}

/// `notify.absence`: the student's recipients for the day, one email job each (none when the
/// student is no longer absent that day).
pub async fn absence_fanout(tools: &Tools, job: &super::queue::Claimed) -> Outcome {
    let p: AbsenceDay = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let date = match date_of(&p.date) {
        Ok(d) => d,
        Err(o) => return o,
    };
    fan_out(
        tools,
        "SELECT notify_absence_fanout($1, $2::text::date)",
        &[(&p.student, Type::UUID), (&date, Type::TEXT)],
    )
    .await
}

/// `notify.results`: every student with a result in the line item, and their guardians, one
/// email job each.
pub async fn results_fanout(tools: &Tools, job: &super::queue::Claimed) -> Outcome {
    let p: Published = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    fan_out(
        tools,
        "SELECT notify_results_fanout($1)",
        &[(&p.line_item, Type::UUID)],
    )
    .await
}

/// A notice's recipient: address, names, whether to send.
struct Recipient {
    email: Option<String>,
    given_name: String,
    family_name: String,
    send: bool,
}

async fn recipient(
    tools: &Tools,
    to: uuid::Uuid,
    kind: &str,
) -> Result<Option<Recipient>, QueueError> {
    let rows = tools
        .db
        .query(
            "SELECT email, given_name, family_name, send FROM notice_recipient($1, $2)",
            &[(&to, Type::UUID), (&kind, Type::TEXT)],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Recipient {
        email: r.try_get(0)?,
        given_name: r.try_get(1)?,
        family_name: r.try_get(2)?,
        send: r.try_get(3)?,
    }))
}

/// Renders `template` for `to` and sends it, with `to`'s unsubscribe link for `kind`.
#[allow(clippy::too_many_arguments)]
async fn notice(
    tools: &Tools,
    job: &super::queue::Claimed,
    to: uuid::Uuid,
    who: Recipient,
    kind: &str,
    template: &str,
    subject: String,
    mut values: serde_json::Value,
) -> Outcome {
    let Some(mailer) = &tools.mailer else {
        return Outcome::Retry("no SMTP server (CAMPUSHUB_SMTP_URL) on this worker".into());
    };
    let Some(key) = tools.link_key.as_deref() else {
        return Outcome::Retry("no link key (CAMPUSHUB_LINK_KEY) on this worker".into());
    };
    let Some(address) = who.email else {
        return Outcome::Done;
    };
    let (page, one_click) = links::unsubscribe_urls(&tools.public_url, key, to, kind);
    if let Some(map) = values.as_object_mut() {
        map.insert("given_name".into(), who.given_name.clone().into());
        map.insert("unsubscribe".into(), page.into());
    }
    let (text, html) = match mail::render(&tools.templates, template, &subject, &values) {
        Ok(b) => b,
        Err(e) => return Outcome::Permanent(e),
    };
    let message = Outgoing {
        to: match mail::mailbox(&who.given_name, &who.family_name, &address) {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(e),
        },
        subject,
        text,
        html,
        id: job.sourced_id.to_string(),
        unsubscribe: Some(one_click),
    };
    deliver(tools, mailer, message, to, &address).await
}

/// `email.absence`: one recipient's alert, listing every period the student missed that day
/// (as the marks stand now: none left, nothing sent).
pub async fn absence_email(tools: &Tools, job: &super::queue::Claimed) -> Outcome {
    let p: AbsenceEmail = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let date = match date_of(&p.date) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let who = match recipient(tools, p.to, "absence").await {
        Ok(Some(w)) if w.send => w,
        Ok(_) => return Outcome::Done,
        Err(e) => return retry_on(e),
    };
    let rows = match tools
        .db
        .query(
            "SELECT a.period::int4, a.class_title, a.course_code, a.description, s.given_name, s.family_name, \
                    to_char($2::text::date, 'FMDay FMDD FMMonth YYYY') \
             FROM users s CROSS JOIN LATERAL student_absences(s.id, $2::text::date) a WHERE s.sourced_id = $1",
            &[(&p.student, Type::UUID), (&date, Type::TEXT)],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return retry_on(e),
    };
    let mut absences = Vec::new();
    let mut student = (String::new(), String::new(), String::new());
    for r in &rows {
        let row = (|| -> Result<serde_json::Value, tokio_postgres::Error> {
            student = (r.try_get(4)?, r.try_get(5)?, r.try_get(6)?);
            Ok(serde_json::json!({
                "period": r.try_get::<_, i32>(0)?,
                "class_title": r.try_get::<_, String>(1)?,
                "course_code": r.try_get::<_, Option<String>>(2)?,
                "description": r.try_get::<_, String>(3)?,
            }))
        })();
        match row {
            Ok(v) => absences.push(v),
            Err(e) => return retry_on(e.into()),
        }
    }
    if absences.is_empty() {
        return Outcome::Done;
    }
    let relation = if p.to == p.student {
        "self"
    } else {
        "guardian"
    };
    let subject = if relation == "self" {
        format!("Attendance: you were absent on {}", student.2)
    } else {
        format!(
            "Attendance: {} {} was absent on {}",
            student.0, student.1, student.2
        )
    };
    let values = serde_json::json!({
        "relation": relation,
        "student_given_name": student.0,
        "student_family_name": student.1,
        "date": student.2,
        "absences": absences,
    });
    notice(tools, job, p.to, who, "absence", "absence", subject, values).await
}

/// `email.results`: one recipient's message about one student's published result.
pub async fn results_email(tools: &Tools, job: &super::queue::Claimed) -> Outcome {
    let p: ResultsEmail = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let who = match recipient(tools, p.to, "results").await {
        Ok(Some(w)) if w.send => w,
        Ok(_) => return Outcome::Done,
        Err(e) => return retry_on(e),
    };
    let rows = match tools
        .db
        .query(
            "SELECT title, category, max_score, class_title, published, score, score_status, comment, \
                    given_name, family_name FROM results_notice($1, $2)",
            &[(&p.line_item, Type::UUID), (&p.student, Type::UUID)],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return retry_on(e),
    };
    let Some(r) = rows.first() else {
        return Outcome::Done;
    };
    let read = || -> Result<(serde_json::Value, bool, String), tokio_postgres::Error> {
        let title: String = r.try_get(0)?;
        let published: bool = r.try_get(4)?;
        let score: Option<f64> = r.try_get(5)?;
        let max: f64 = r.try_get(2)?;
        let v = serde_json::json!({
            "title": title,
            "category": r.try_get::<_, String>(1)?,
            "max_score": trim(max),
            "class_title": r.try_get::<_, String>(3)?,
            "score": score.map(trim),
            "score_status": r.try_get::<_, String>(6)?,
            "comment": r.try_get::<_, Option<String>>(7)?,
            "student_given_name": r.try_get::<_, String>(8)?,
            "student_family_name": r.try_get::<_, String>(9)?,
        });
        Ok((v, published, title))
    };
    let (mut values, published, title) = match read() {
        Ok(x) => x,
        Err(e) => return retry_on(e.into()),
    };
    if !published {
        return Outcome::Done;
    }
    let relation = if p.to == p.student {
        "self"
    } else {
        "guardian"
    };
    if let Some(map) = values.as_object_mut() {
        map.insert("relation".into(), relation.into());
    }
    let subject = format!("Results published: {title}");
    notice(tools, job, p.to, who, "results", "results", subject, values).await
}

/// A score as people write it: 17 rather than 17.0, 17.5 as it is.
fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_scores_read_as_people_write_them() {
        assert!(date_of("2026-12-07").is_ok());
        for bad in ["2026-12-7", "20261207xx", "2026/12/07", "'; DROP", ""] {
            assert!(date_of(bad).is_err(), "{bad}");
        }
        assert_eq!(trim(17.0), "17");
        assert_eq!(trim(17.5), "17.5");
        assert_eq!(trim(0.25), "0.25");
    }
}
