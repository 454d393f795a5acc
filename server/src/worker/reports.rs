//! `report.render`: reads what a report shows (migration 0018's functions), lays it out
//! (`pdf.rs`) and stores the PDF on its row. A report whose data cannot be read is retried; one
//! that cannot be laid out is failed with why.

use serde::Deserialize;
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::pdf::{self, Align, Block, Column, Sheet};
use super::queue::{Claimed, QueueError};
use super::send::{payload, retry_on, Outcome, Tools};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Render {
    report: uuid::Uuid,
}

/// The grading scale every term report prints: the share of the maximum score, and its letter.
pub const SCALE: [(f64, &str); 5] = [
    (90.0, "A"),
    (80.0, "B"),
    (70.0, "C"),
    (60.0, "D"),
    (0.0, "F"),
];

/// The letter of `percent` on [`SCALE`].
pub fn letter(percent: f64) -> &'static str {
    SCALE
        .iter()
        .find(|(floor, _)| percent >= *floor)
        .map_or("F", |(_, l)| l)
}

/// [`SCALE`] as the report prints it: "A: 90% and above · B: 80% to 89% · ... · F: below 60%".
pub fn scale_text() -> String {
    let mut parts = Vec::new();
    for (i, (floor, l)) in SCALE.iter().enumerate() {
        parts.push(match i {
            0 => format!("{l}: {}% and above", number(*floor)),
            _ if *floor == 0.0 => format!("{l}: below {}%", number(SCALE[i - 1].0)),
            _ => format!(
                "{l}: {}% to {}%",
                number(*floor),
                number(SCALE[i - 1].0 - 1.0)
            ),
        });
    }
    parts.join(" · ")
}

fn col(x: f32, width: f32, align: Align) -> Column {
    Column { x, width, align }
}

fn number(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

struct Head {
    kind: String,
    student: Option<i64>,
    class: Option<i64>,
    from: String,
    to: String,
    state: String,
}

async fn head(tools: &Tools, id: uuid::Uuid) -> Result<Option<Head>, QueueError> {
    let rows = tools
        .db
        .query(
            "SELECT kind, student_id, class_id, range_from::text, range_to::text, state \
             FROM reports WHERE sourced_id = $1",
            &[(&id, Type::UUID)],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Head {
        kind: r.try_get(0)?,
        student: r.try_get(1)?,
        class: r.try_get(2)?,
        from: r.try_get(3)?,
        to: r.try_get(4)?,
        state: r.try_get(5)?,
    }))
}

/// The student's lines at the top of their reports, and their name.
async fn student_lines(tools: &Tools, student: i64) -> Result<(Vec<Block>, String), QueueError> {
    let rows = tools
        .db
        .query(
            "SELECT u.given_name || ' ' || u.family_name, sp.roll_number, sp.program, \
                    sp.year_of_study::int4, d.name, coalesce(i.name, '') \
             FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
             JOIN orgs d ON d.id = sp.department_id LEFT JOIN orgs i ON i.id = d.parent_id \
             WHERE u.id = $1",
            &[(&student, Type::INT8)],
        )
        .await?;
    let r = rows
        .first()
        .ok_or_else(|| QueueError("the student no longer exists".into()))?;
    let name: String = r.try_get(0)?;
    let roll: String = r.try_get(1)?;
    let program: String = r.try_get(2)?;
    let year: i32 = r.try_get(3)?;
    let dept: String = r.try_get(4)?;
    let inst: String = r.try_get(5)?;
    Ok((
        vec![
            Block::Text(format!("{inst} · {dept}")),
            Block::Text(format!("Student: {name} (roll number {roll})")),
            Block::Text(format!("Programme: {program}, year {year}")),
        ],
        name,
    ))
}

async fn term_report(tools: &Tools, h: &Head, student: i64) -> Result<Vec<Block>, QueueError> {
    let (mut blocks, _) = student_lines(tools, student).await?;
    blocks.insert(0, Block::Title("Term report".into()));
    blocks.push(Block::Text(format!(
        "Results of the terms between {} and {}",
        h.from, h.to
    )));
    blocks.push(Block::Gap(8.0));
    let rows = tools
        .db
        .query(
            "SELECT class_title, course_code, term, line_item, category, due::text, max_score, \
                    score, score_status FROM term_report_rows($1, $2::text::date, $3::text::date)",
            &[
                (&student, Type::INT8),
                (&h.from, Type::TEXT),
                (&h.to, Type::TEXT),
            ],
        )
        .await?;
    let cols = vec![
        col(0.0, 190.0, Align::Left),
        col(195.0, 70.0, Align::Left),
        col(270.0, 65.0, Align::Left),
        col(340.0, 50.0, Align::Right),
        col(395.0, 50.0, Align::Right),
        col(450.0, 49.0, Align::Right),
    ];
    let header = || {
        Block::Header(
            cols.clone(),
            ["Line item", "Category", "Due", "Score", "Out of", "%"]
                .map(String::from)
                .to_vec(),
        )
    };
    if rows.is_empty() {
        blocks.push(Block::Text("No published results in this range.".into()));
    }
    let mut current: Option<String> = None;
    let mut totals = (0.0f64, 0.0f64);
    let close = |blocks: &mut Vec<Block>, totals: (f64, f64)| {
        if totals.1 > 0.0 {
            let pct = 100.0 * totals.0 / totals.1;
            blocks.push(Block::Row(
                cols.clone(),
                vec![
                    "Class total".into(),
                    String::new(),
                    String::new(),
                    number(totals.0),
                    number(totals.1),
                    format!("{} {}", number(pct.round()), letter(pct)),
                ],
                true,
            ));
        }
        blocks.push(Block::EndTable);
        blocks.push(Block::Gap(8.0));
    };
    for r in &rows {
        let class: String = r.try_get(0)?;
        let code: String = r.try_get(1)?;
        let term: String = r.try_get(2)?;
        if current.as_deref() != Some(&class) {
            if current.is_some() {
                close(&mut blocks, totals);
            }
            totals = (0.0, 0.0);
            blocks.push(Block::Heading(format!("{class} ({code}), {term}")));
            blocks.push(header());
            current = Some(class);
        }
        let max: f64 = r.try_get(6)?;
        let score: Option<f64> = r.try_get(7)?;
        let status: String = r.try_get(8)?;
        let (shown, pct) = match score {
            Some(s) => {
                totals.0 += s;
                totals.1 += max;
                (number(s), number((100.0 * s / max).round()))
            }
            None => (status, String::new()),
        };
        blocks.push(Block::Row(
            cols.clone(),
            vec![
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get::<_, Option<String>>(5)?.unwrap_or_default(),
                shown,
                number(max),
                pct,
            ],
            false,
        ));
    }
    if current.is_some() {
        close(&mut blocks, totals);
    }
    blocks.push(Block::Heading("Grading scale".into()));
    blocks.push(Block::Text(scale_text()));
    blocks.push(Block::Small(
        "Percentages are of each line item's maximum score; a class total adds the scores of its graded items.".into(),
    ));
    Ok(blocks)
}

async fn certificate(tools: &Tools, h: &Head, student: i64) -> Result<Vec<Block>, QueueError> {
    let (mut blocks, name) = student_lines(tools, student).await?;
    blocks.insert(0, Block::Title("Attendance certificate".into()));
    blocks.push(Block::Gap(8.0));
    blocks.push(Block::Text(format!(
        "This certifies the attendance of {name} from {} to {}, by class:",
        h.from, h.to
    )));
    blocks.push(Block::Gap(6.0));
    let rows = tools
        .db
        .query(
            "SELECT class_title, course_code, sessions, present, late, absent, excused, presence \
             FROM attendance_certificate_rows($1, $2::text::date, $3::text::date)",
            &[
                (&student, Type::INT8),
                (&h.from, Type::TEXT),
                (&h.to, Type::TEXT),
            ],
        )
        .await?;
    let cols = vec![
        col(0.0, 150.0, Align::Left),
        col(152.0, 86.0, Align::Left),
        col(240.0, 45.0, Align::Right),
        col(290.0, 45.0, Align::Right),
        col(340.0, 35.0, Align::Right),
        col(380.0, 45.0, Align::Right),
        col(430.0, 45.0, Align::Right),
        col(475.0, 24.0, Align::Right),
    ];
    blocks.push(Block::Header(
        cols.clone(),
        [
            "Class", "Course", "Sessions", "Present", "Late", "Absent", "Excused", "%",
        ]
        .map(String::from)
        .to_vec(),
    ));
    let mut all = (0i64, 0.0f64);
    for r in &rows {
        let sessions: i64 = r.try_get(2)?;
        let presence: f64 = r.try_get(7)?;
        all.0 += sessions;
        all.1 += presence * sessions as f64;
        blocks.push(Block::Row(
            cols.clone(),
            vec![
                r.try_get(0)?,
                r.try_get(1)?,
                sessions.to_string(),
                r.try_get::<_, i64>(3)?.to_string(),
                r.try_get::<_, i64>(4)?.to_string(),
                r.try_get::<_, i64>(5)?.to_string(),
                r.try_get::<_, i64>(6)?.to_string(),
                number((100.0 * presence).round()),
            ],
            false,
        ));
    }
    blocks.push(Block::EndTable);
    blocks.push(Block::Gap(8.0));
    if all.0 > 0 {
        blocks.push(Block::Text(format!(
            "Overall presence: {}% of {} sessions.",
            number((100.0 * all.1 / all.0 as f64).round()),
            all.0
        )));
    } else {
        blocks.push(Block::Text(
            "No register in this range marks this student.".into(),
        ));
    }
    blocks.push(Block::Small(
        "Presence counts each session by its code's share (a late arrival counts in part); an office correction replaces the teacher's mark.".into(),
    ));
    Ok(blocks)
}

async fn register(tools: &Tools, h: &Head, class: i64) -> Result<Vec<Block>, QueueError> {
    let head = tools
        .db
        .query(
            "SELECT k.title, k.class_code, d.name, coalesce(i.name, ''), \
                    coalesce((SELECT string_agg(u.given_name || ' ' || u.family_name, ', ' ORDER BY u.family_name) \
                              FROM enrollments e JOIN users u ON u.id = e.user_id \
                              WHERE e.class_id = k.id AND e.role = 'teacher' AND e.status = 'active'), '') \
             FROM classes k JOIN orgs d ON d.id = k.org_id LEFT JOIN orgs i ON i.id = d.parent_id \
             WHERE k.id = $1",
            &[(&class, Type::INT8)],
        )
        .await?;
    let r = head
        .first()
        .ok_or_else(|| QueueError("the class no longer exists".into()))?;
    let title: String = r.try_get(0)?;
    let code: String = r.try_get(1)?;
    let mut blocks = vec![
        Block::Title(format!("Attendance register: {title}")),
        Block::Text(format!(
            "{} · {} · class {code}",
            r.try_get::<_, String>(3)?,
            r.try_get::<_, String>(2)?
        )),
        Block::Text(format!("Teachers: {}", r.try_get::<_, String>(4)?)),
        Block::Text(format!("From {} to {}", h.from, h.to)),
        Block::Gap(6.0),
    ];
    let students = tools
        .db
        .query(
            "SELECT u.id, u.family_name || ', ' || u.given_name, coalesce(sp.roll_number, '') \
             FROM enrollments e JOIN users u ON u.id = e.user_id \
             LEFT JOIN student_profiles sp ON sp.user_id = u.id \
             WHERE e.class_id = $1 AND e.role = 'student' ORDER BY u.family_name, u.given_name, u.id",
            &[(&class, Type::INT8)],
        )
        .await?;
    let marks = tools
        .db
        .query(
            "SELECT session_date::text, period::int4, student_id, code \
             FROM class_register_marks($1, $2::text::date, $3::text::date)",
            &[
                (&class, Type::INT8),
                (&h.from, Type::TEXT),
                (&h.to, Type::TEXT),
            ],
        )
        .await?;
    // Sessions in order, and each (session, student)'s code.
    let mut sessions: Vec<(String, i32)> = Vec::new();
    let mut codes = std::collections::HashMap::new();
    for m in &marks {
        let key = (m.try_get::<_, String>(0)?, m.try_get::<_, i32>(1)?);
        if sessions.last() != Some(&key) {
            sessions.push(key.clone());
        }
        if let (Some(student), Some(code)) = (
            m.try_get::<_, Option<i64>>(2)?,
            m.try_get::<_, Option<String>>(3)?,
        ) {
            codes.insert((key, student), code);
        }
    }
    if sessions.is_empty() {
        blocks.push(Block::Text("No register was taken in this range.".into()));
        return Ok(blocks);
    }
    // At most 20 sessions side by side; more continue in another table.
    const PER_TABLE: usize = 20;
    for (n, chunk) in sessions.chunks(PER_TABLE).enumerate() {
        let mut cols = vec![col(0.0, 140.0, Align::Left), col(142.0, 80.0, Align::Left)];
        let mut names = vec!["Student".to_string(), "Roll".to_string()];
        for (i, (date, period)) in chunk.iter().enumerate() {
            cols.push(col(226.0 + i as f32 * 25.0, 23.0, Align::Right));
            names.push(format!("{}/{period}", date.get(8..10).unwrap_or(date)));
        }
        cols.push(col(
            206.0 + chunk.len() as f32 * 25.0 + 4.0,
            40.0,
            Align::Right,
        ));
        names.push("Absent".into());
        if n > 0 {
            blocks.push(Block::Gap(8.0));
        }
        blocks.push(Block::Small("Columns: day of the month / period.".into()));
        blocks.push(Block::Header(cols.clone(), names));
        for s in &students {
            let id: i64 = s.try_get(0)?;
            let mut cells = vec![s.try_get::<_, String>(1)?, s.try_get::<_, String>(2)?];
            let mut absent = 0;
            for key in chunk {
                let code = codes.get(&(key.clone(), id)).cloned().unwrap_or_default();
                if code == "A" {
                    absent += 1;
                }
                cells.push(code);
            }
            cells.push(absent.to_string());
            blocks.push(Block::Row(cols.clone(), cells, false));
        }
        blocks.push(Block::EndTable);
    }
    blocks.push(Block::Gap(6.0));
    blocks.push(Block::Small(
        "Codes as the register holds them, an office correction in place of the teacher's mark; blank: not marked.".into(),
    ));
    Ok(blocks)
}

/// `report.render`.
pub async fn render(tools: &Tools, job: &Claimed) -> Outcome {
    let p: Render = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let Some(fonts) = &tools.fonts else {
        return Outcome::Retry(
            "no report fonts on this worker (CAMPUSHUB_REPORT_FONTS_DIR)".into(),
        );
    };
    let h = match head(tools, p.report).await {
        Ok(Some(h)) => h,
        Ok(None) => return Outcome::Permanent(format!("report {} no longer exists", p.report)),
        Err(e) => return retry_on(e),
    };
    if h.state != "queued" {
        return Outcome::Done;
    }
    let (blocks, sheet, what): (Result<Vec<Block>, QueueError>, Sheet, &str) =
        match (h.kind.as_str(), h.student, h.class) {
            ("term_report", Some(s), _) => {
                (term_report(tools, &h, s).await, pdf::A4, "Term report")
            }
            ("attendance_certificate", Some(s), _) => (
                certificate(tools, &h, s).await,
                pdf::A4,
                "Attendance certificate",
            ),
            ("class_register", _, Some(c)) => (
                register(tools, &h, c).await,
                pdf::A4_LANDSCAPE,
                "Attendance register",
            ),
            _ => return Outcome::Permanent(format!("report {} has no subject", p.report)),
        };
    let blocks = match blocks {
        Ok(b) => b,
        Err(e) => return retry_on(e),
    };
    let footer = format!("campushub · {what} · report {}", p.report);
    let (bytes, pages) = match pdf::render(fonts, sheet, &blocks, &footer) {
        Ok(x) => x,
        Err(e) => {
            let _ = fail(tools, p.report, &e).await;
            return Outcome::Permanent(e);
        }
    };
    let pages = i32::try_from(pages).unwrap_or(i32::MAX);
    let stored: Result<Vec<Row>, QueueError> = tools
        .db
        .query(
            "UPDATE reports SET state = 'done', pdf = $2, pages = $3, finished_at = now() \
             WHERE sourced_id = $1 AND state = 'queued' RETURNING 1",
            &[
                (&p.report, Type::UUID),
                (&bytes, Type::BYTEA),
                (&pages, Type::INT4),
            ],
        )
        .await;
    match stored {
        Ok(_) => Outcome::Done,
        Err(e) => retry_on(e),
    }
}

async fn fail(tools: &Tools, report: uuid::Uuid, error: &str) -> Result<(), QueueError> {
    tools
        .db
        .query(
            "UPDATE reports SET state = 'failed', error = left($2, 2000), finished_at = now() \
             WHERE sourced_id = $1 AND state = 'queued'",
            &[(&report, Type::UUID), (&error, Type::TEXT)],
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_follow_the_printed_scale() {
        assert_eq!(letter(100.0), "A");
        assert_eq!(letter(90.0), "A");
        assert_eq!(letter(89.9), "B");
        assert_eq!(letter(60.0), "D");
        assert_eq!(letter(12.0), "F");
        assert_eq!(number(85.0), "85");
        assert_eq!(number(8.5), "8.5");
        assert_eq!(
            scale_text(),
            "A: 90% and above · B: 80% to 89% · C: 70% to 79% · D: 60% to 69% · F: below 60%"
        );
    }
}
