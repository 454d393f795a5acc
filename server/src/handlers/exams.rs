//! Exams and assignments (line items) and their results. A class's teachers create line items
//! and enter results (`exams.grade`); publishing (students and guardians then see the
//! results) and locking (results final) need `exams.publish`. Status only moves forward:
//! draft, published, locked; a locked line item takes no more changes.

use campushub_db::pgtypes::Timestamp;
use campushub_db::queries::access;
use campushub_db::queries::campus::{self, Param, Record, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{
    CLASS_LINE_ITEMS, LINE_ITEM_BY_ID, LINE_ITEM_RESULTS, LINE_ITEM_SAVE, RESULTS_PUT,
    STUDENT_RESULTS,
};

use super::campus::{
    allow_in_class, allow_in_class_or_member, apply, array_response, campus_caches, created,
    may_in_class, page_response, parse_query, path_id, read_through, record_response, refused,
    write, written, MAX_BULK,
};
use super::catalog::class_for;
use super::fields::Fields;
use super::students::{load, parse_id};
use super::Request;
use crate::api_error::ApiError;
use crate::auth::access::{student_access, Reason};
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

const CATEGORIES: &[&str] = &["exam", "midterm", "quiz", "assignment", "project", "lab"];
const SCORE_STATUSES: &[&str] = &[
    "exempt",
    "fully graded",
    "not submitted",
    "partially graded",
    "submitted",
];

const ITEM_REFUSALS: &[(Word, &str, &str)] = &[
    (
        Word::Locked,
        "",
        "This line item is locked: its results are final.",
    ),
    (
        Word::Backwards,
        "status",
        "only moves forward: draft, published, locked",
    ),
];

async fn item(shard: &Shard, req: &Request<'_>) -> Result<Record, ApiError> {
    let id = path_id(req, "line item")?;
    campus::record(shard.db.primary(), &LINE_ITEM_BY_ID, Shape::LineItem, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A due date (a day) as the last second of that day, UTC.
fn due(d: Option<campushub_db::pgtypes::Date>) -> Option<Timestamp> {
    d.map(|d| Timestamp::at(d, 86_399))
}

/// What a line item's body may say, read strictly.
pub(super) struct LineItemIn {
    title: Option<String>,
    category: Option<&'static str>,
    max: Option<f64>,
    due_date: Option<Timestamp>,
    status: Option<&'static str>,
}

/// Reads a line item's body: a new one (`create`: title, category and max_score required, no
/// status) or a change (anything, at least one member).
pub(super) fn line_item_in(req: &Request<'_>, create: bool) -> Result<LineItemIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let title = f.text("title", create, 200);
    let category = f.one_of("category", create, CATEGORIES);
    let max = f.number("max_score", create, 0.01, 99_999.99, 2);
    let due_date = due(f.date("due_date", false));
    let status = if create {
        None
    } else {
        f.one_of("status", false, &["draft", "published", "locked"])
    };
    let item = LineItemIn {
        title,
        category,
        max,
        due_date,
        status,
    };
    if !create && f.ok() && !item.edits() && item.status.is_none() {
        f.bad("body", "names nothing to change");
    }
    f.finish()?;
    Ok(item)
}

impl LineItemIn {
    /// Whether it changes anything but the status (what `exams.grade` covers).
    fn edits(&self) -> bool {
        self.title.is_some()
            || self.category.is_some()
            || self.max.is_some()
            || self.due_date.is_some()
    }
}

/// `POST /api/v1/classes/{id}/line-items`: `title`, `category`, `max_score`, `due_date`.
pub async fn create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let LineItemIn {
        title,
        category,
        max,
        due_date,
        status: _,
    } = line_item_in(req, true)?;
    class_for(shard, req, req.permission()?).await?;
    let class = path_id(req, "class")?;
    let (none, no_version, no_status) = (None::<uuid::Uuid>, None::<i64>, None::<&str>);
    let params: [Param<'_>; 8] = [
        &none,
        &no_version,
        &class,
        &title,
        &category,
        &max,
        &due_date,
        &no_status,
    ];
    let o = apply(shard, req, &LINE_ITEM_SAVE, &params, ITEM_REFUSALS).await?;
    let id = o.id.ok_or(ApiError::Internal)?;
    let line_item = (&LINE_ITEM_BY_ID, Shape::LineItem);
    created(shard, line_item, "/api/v1/line-items", id).await
}

/// `GET /api/v1/classes/{id}/line-items`: staff under the class rule, and the class's
/// members (its students, their guardians), who see what is due; results stay behind
/// publication.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = super::catalog::class_or_member(shard, req).await?;
    let doc = campus::document(shard.db.primary(), &CLASS_LINE_ITEMS, &[&rec.id, &false]).await?;
    Ok(array_response("line_items", doc))
}

/// `GET /api/v1/line-items/{id}`: staff under the class rule, and the class's members.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = item(shard, req).await?;
    allow_in_class_or_member(shard, req, req.permission()?, rec.class_scope()).await?;
    Ok(record_response(req, rec))
}

/// `PATCH /api/v1/line-items/{id}`: `title`, `category`, `max_score`, `due_date` (grading:
/// `exams.grade`) and `status` (`published` or `locked`: `exams.publish`). `If-Match`
/// honoured.
pub async fn update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let change = line_item_in(req, false)?;
    let edits = change.edits();
    let LineItemIn {
        title,
        category,
        max,
        due_date,
        status,
    } = change;
    let rec = item(shard, req).await?;
    if edits {
        allow_in_class(shard, req, Permission::ExamsGrade, rec.class_scope()).await?;
    }
    if status.is_some() {
        allow_in_class(shard, req, Permission::ExamsPublish, rec.class_scope()).await?;
    }
    let id = Some(path_id(req, "line item")?);
    let if_match = req.if_match_at(Some(rec.version))?;
    let class: Option<uuid::Uuid> = None;
    let params: [Param<'_>; 8] = [
        &id, &if_match, &class, &title, &category, &max, &due_date, &status,
    ];
    let o = write(shard, req, &LINE_ITEM_SAVE, &params).await?;
    if !o.applied() {
        return Err(match o.outcome {
            Word::OverMax => ApiError::Invalid(vec![crate::api_error::FieldError::new(
                "max_score",
                format!(
                    "is below scores already entered (students {})",
                    o.bad.join(", ")
                ),
            )]),
            _ => refused(&o, ITEM_REFUSALS, |_| None),
        });
    }
    publish_results(shard, rec.class_scope().0).await;
    Ok(written(200, item(shard, req).await?))
}

/// A result sheet, read strictly: per student, a score and/or a status, and a comment.
pub(super) struct ResultsIn {
    students: Vec<uuid::Uuid>,
    scores: Vec<Option<f64>>,
    statuses: Vec<String>,
    comments: Vec<Option<String>>,
}

/// Reads a result sheet's body (`results`).
pub(super) fn results_in(req: &Request<'_>) -> Result<ResultsIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let (mut students, mut scores, mut statuses, mut comments) = (
        Vec::new(),
        Vec::<Option<f64>>::new(),
        Vec::new(),
        Vec::<Option<String>>::new(),
    );
    f.each_object("results", MAX_BULK, |r| {
        let student = r.uuid("student", true);
        let score = r.number("score", false, 0.0, 99_999.99, 2);
        let status = r.one_of("score_status", score.is_none(), SCORE_STATUSES);
        let comment = r.text("comment", false, 2000);
        if student.is_some_and(|s| students.contains(&s)) {
            r.bad("student", "is listed twice");
        }
        if let (true, Some(s)) = (r.ok(), student) {
            students.push(s);
            scores.push(score);
            statuses.push(status.unwrap_or("fully graded").to_string());
            comments.push(comment);
        }
    });
    f.finish()?;
    Ok(ResultsIn {
        students,
        scores,
        statuses,
        comments,
    })
}

/// `PUT /api/v1/line-items/{id}/results`: `{"results": [{"student", "score", "score_status",
/// "comment"}]}`, up to 500, all or nothing; the same request twice leaves the same state.
pub async fn put_results(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let ResultsIn {
        students,
        scores,
        statuses,
        comments,
    } = results_in(req)?;
    let rec = item(shard, req).await?;
    allow_in_class(shard, req, req.permission()?, rec.class_scope()).await?;
    let id = path_id(req, "line item")?;
    let if_match = req.if_match_at(Some(rec.version))?;
    let params: [Param<'_>; 6] = [&id, &students, &scores, &statuses, &comments, &if_match];
    let o = write(shard, req, &RESULTS_PUT, &params).await?;
    if !o.applied() {
        let at = |bad: &str| {
            students
                .iter()
                .position(|s| s.hyphenated().to_string() == bad)
        };
        return Err(match o.outcome {
            Word::OverMax => refused(
                &o,
                &[(
                    Word::OverMax,
                    "results",
                    "is above the line item's max_score",
                )],
                |bad| at(bad).map(|i| format!("results[{i}].score")),
            ),
            _ => refused(
                &o,
                &[
                    (
                        Word::NotEnrolled,
                        "results",
                        "is not enrolled in this class",
                    ),
                    (
                        Word::Locked,
                        "",
                        "This line item is locked: its results are final.",
                    ),
                ],
                |bad| at(bad).map(|i| format!("results[{i}].student")),
            ),
        });
    }
    publish_results(shard, rec.class_scope().0).await;
    let doc = campus::document(shard.db.primary(), &LINE_ITEM_RESULTS, &[&rec.id]).await?;
    Ok(array_response("results", doc)
        .with_header("X-Results-Changed", o.row_id.unwrap_or(0).to_string()))
}

/// `GET /api/v1/line-items/{id}/results`.
pub async fn results(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = item(shard, req).await?;
    allow_in_class(shard, req, req.permission()?, rec.class_scope()).await?;
    if rec.state.as_deref() == Some("draft")
        && !may_see_drafts(shard, req, rec.class_scope()).await?
    {
        return Err(ApiError::Forbidden);
    }
    let doc = campus::document(shard.db.primary(), &LINE_ITEM_RESULTS, &[&rec.id]).await?;
    // The sheet's version is its line item's (a change to any result moves it): what
    // `If-Match` on the sheet's PUT compares.
    Ok(array_response("results", doc).with_header("ETag", crate::request::etag(rec.version)))
}

/// Whether the caller may see the unpublished results of class `scope`'s line items: only
/// those who may grade or publish them.
async fn may_see_drafts(
    shard: &Shard,
    req: &Request<'_>,
    scope: (i64, i64),
) -> Result<bool, ApiError> {
    Ok(
        may_in_class(shard, req, Permission::ExamsGrade, scope).await?
            || may_in_class(shard, req, Permission::ExamsPublish, scope).await?,
    )
}

/// `GET /api/v1/students/{id}/results`: students and guardians see published (and locked)
/// results only; staff who may read the student's exams see drafts too.
pub async fn student_results(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let paging = parse_query(req, "nothing else", |_, _| Ok(false))?;
    let caller = req.caller()?;
    let s = load(shard, parse_id(req.param)?).await?;
    let reason = student_access(
        shard.db.primary(),
        &caller.principal,
        req.permission()?,
        s.id,
        s.department_id,
    )
    .await?
    .ok_or(ApiError::Forbidden)?;
    let published_only = matches!(reason, Reason::Own | Reason::Guardian);
    // What students and guardians read (published results) is cached per shard, every row of
    // the student's; staff, who see drafts too, read PostgreSQL. Pages are cut from the rows.
    let cache = (&shard.results, published_only && campus_caches(shard));
    let rows = read_through(shard, cache, s.id, || async {
        // Drafts: every class's for those who may grade or publish for the whole institution,
        // else those of the classes where the caller may (the student's home department's
        // staff no longer see other departments' drafts).
        let principal = &caller.principal;
        let all_drafts = !published_only
            && (principal
                .institution_grant(Permission::ExamsGrade)
                .is_some()
                || principal
                    .institution_grant(Permission::ExamsPublish)
                    .is_some());
        let mut draft_classes: Vec<i64> = Vec::new();
        if !published_only && !all_drafts {
            for scope in access::student_draft_classes(shard.db.primary(), s.id).await? {
                if may_see_drafts(shard, req, scope).await? {
                    draft_classes.push(scope.0);
                }
            }
        }
        let params: [Param<'_>; 3] = [&s.id, &all_drafts, &draft_classes];
        let rows = campus::page(shard.db.primary(), &STUDENT_RESULTS, &params).await?;
        Ok(std::rc::Rc::<[(i64, String)]>::from(rows))
    })
    .await?;
    let page: Vec<(i64, &[u8])> = rows
        .iter()
        .filter(|(id, _)| *id > paging.after)
        .take(paging.limit as usize + 1)
        .map(|(id, d)| (*id, d.as_bytes()))
        .collect();
    page_response("results", page, &paging)
}

/// Tells every shard of every instance that class `class`'s results or line items changed.
async fn publish_results(shard: &Shard, class: i64) {
    super::campus::publish(shard, campushub_cache::Invalidation::Results(class)).await;
}
