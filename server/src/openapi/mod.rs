//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the route table. Paths,
//! methods, path and query parameters, request bodies, success and problem+json answers and
//! the security each needs all come from [`crate::router::SPECS`]; the body shapes are the
//! [`schemas`] (utoipa `ToSchema`), registered by the names the table uses. A route added to
//! the table is documented; nothing is documented that the table does not route.

pub mod schemas;

use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use utoipa::openapi::ComponentsBuilder;
use utoipa::ToSchema;

use crate::api_error::{self, ApiError};
use crate::auth::rule::Access;
use crate::handlers;
use crate::http::{Method, Response};
use crate::request::Request;
use crate::router::{Endpoint, Route, RouteSpec, SPECS};
use crate::shard::Shard;

macro_rules! register {
    ($builder:expr, $($t:ident),+ $(,)?) => {
        $builder$(.schema_from::<schemas::$t>())+
    };
}

/// Each type's schema and those it names (`with`), in order.
macro_rules! with_types {
    ($builder:expr, $($t:ty),+ $(,)?) => {{
        let b = $builder;
        $( let b = with::<$t>(b); )+
        b
    }};
}

/// `T`'s schema and those it names, registered under their type names.
fn with<T: ToSchema>(builder: ComponentsBuilder) -> ComponentsBuilder {
    let mut named = Vec::new();
    T::schemas(&mut named);
    builder.schema_from::<T>().schemas_from_iter(named)
}

/// Every schema the document names, by name.
fn components() -> Value {
    let c = register!(
        ComponentsBuilder::new(),
        Empty,
        Status,
        PrometheusText,
        FlamegraphSvg,
        NewDepartment,
        DepartmentPatch,
        LoginRequest,
        RefreshRequest,
        MfaVerifyRequest,
        MfaCodeRequest,
        PasswordChangeRequest,
        NewRole,
        RolePatch,
        NewBinding,
        ExplainRequest,
        Student,
        StudentPage,
        NewStudent,
        StudentPatch,
        StudentAttendance,
        StaffMember,
        StaffPage,
        NewStaff,
        StaffPatch,
        StaffChanged,
        ClassList,
        LessonTeacher,
        Lesson,
        Timetable,
        OwnResult,
        StudentLineItem,
        StudentLineItemList,
        Guardian,
        GuardianList,
        GuardianLink,
        NewGuardian,
        InstitutionSettings,
        InstitutionPatch,
        NewClosure,
        Closure,
        CalendarTerm,
        Calendar,
        RolloverRequest,
        RolloverReport,
        AttendanceCodeIn,
        Term,
        TermPage,
        NewTerm,
        TermPatch,
        Course,
        CoursePage,
        NewCourse,
        CoursePatch,
        Class,
        ClassPage,
        NewClass,
        ClassPatch,
        Roster,
        Enrollment,
        EnrollmentList,
        EnrollmentPage,
        NewEnrollments,
        NewSession,
        AttendanceRecord,
        AttendanceSession,
        SessionList,
        MarkResult,
        Mark,
        AttendanceMarks,
        ReportRow,
        AttendanceReport,
        NotTaken,
        AttendanceCode,
        AttendanceCodeList,
        LineItem,
        LineItemList,
        NewLineItem,
        LineItemPatch,
        ExamResult,
        ResultList,
        ResultPage,
        ResultIn,
        ResultSheet,
        OpenApiDocument,
        Job,
        JobPage,
        Report,
    );
    // The types the server itself encodes and decodes.
    let c = with_types!(
        c,
        handlers::ObjectRef,
        handlers::ScopeIn,
        handlers::departments::Page<'static>,
        handlers::departments::SummaryDto<'static>,
        handlers::auth::TokenResponse<'static>,
        handlers::auth::MeDto<'static>,
        handlers::auth::PermissionsDto<'static>,
        handlers::credentials::Enrolment,
        handlers::credentials::MfaState,
        handlers::roles::RolesDto<'static>,
        handlers::roles::BindingsDto<'static>,
        handlers::roles::ExplainDto<'static>,
        handlers::api_keys::CreatedDto<'static>,
        handlers::api_keys::ListDto<'static>,
        handlers::api_keys::NewKey,
        handlers::audit::PageDto<'static>,
        api_error::Problem<'static>,
        api_error::FieldError,
        handlers::health::Readiness,
        handlers::admin::CacheCleared,
        handlers::accounts::InvitationDto,
        handlers::accounts::LinkPasswordBody,
        handlers::accounts::ResetBody,
        handlers::accounts::ResetAccepted,
        handlers::notifications::Preferences,
        handlers::notifications::PreferencesPatch,
        handlers::notifications::UnsubscribeBody,
        handlers::notifications::Unsubscribed,
        handlers::notifications::Settings,
        handlers::notifications::SettingsPatch,
        handlers::reports::NewReport,
        handlers::reports::Accepted,
    )
    .build();
    let mut v = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
    partial_items(&mut v);
    // Request bodies are read strictly: a member the schema does not name is refused (422).
    for spec in SPECS {
        for name in spec.endpoints.iter().filter_map(|e| e.request) {
            if let Some(schema) = v["schemas"].get_mut(name) {
                schema["additionalProperties"] = json!(false);
            }
        }
    }
    v["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from POST /api/v1/auth/login."},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "An API key (also accepted as a Bearer credential)."},
        "opsToken": {"type": "http", "scheme": "bearer",
                     "description": "The operators' token (CAMPUSHUB_OPS_TOKEN); loopback clients while none is set."}
    });
    v
}

/// Answers a route gives beyond those its access, parameters and body imply, each with why.
const ALSO: &[(Route, Method, u16, &str)] = &[
    (Route::Login, Method::Post, 401,
     "Wrong username or password; or the account has MFA on (`mfa-required`): `challenge` is the second step's ticket."),
    (Route::Login, Method::Post, 423,
     "The account is locked after repeated failures: retry after Retry-After seconds."),
    (Route::Refresh, Method::Post, 401,
     "The refresh token is unknown, expired, revoked, or was used before (its session then ends)."),
    (Route::MfaVerify, Method::Post, 401, "The challenge or the code is wrong, expired or used."),
    (Route::SessionSubmit, Method::Post, 422,
     "The register is incomplete: `errors` names every enrolled student not marked."),
    (Route::Profile, Method::Get, 404, "Profiling is off on this server (CAMPUSHUB_PROFILING)."),
    (Route::Docs, Method::Get, 404, "The renderer is not installed on this server (CAMPUSHUB_DOCS_DIR)."),
    (Route::DocsScript, Method::Get, 404, "The renderer is not installed on this server (CAMPUSHUB_DOCS_DIR)."),
    (Route::UserInvitation, Method::Post, 409,
     "The person can already log in (a reset is what they need), has no email address, or is disabled."),
    (Route::UserInvitation, Method::Post, 503,
     "Email links are not configured on this server (CAMPUSHUB_LINK_KEY)."),
    (Route::PasswordReset, Method::Post, 503,
     "Email links are not configured on this server (CAMPUSHUB_LINK_KEY)."),
    (Route::ReportFile, Method::Get, 409, "The report is not done yet (or failed): its state says which."),
    (Route::Unsubscribe, Method::Post, 422,
     "The link's token is not this person's for this kind."),
    (Route::Unsubscribe, Method::Post, 503,
     "Email links are not configured on this server (CAMPUSHUB_LINK_KEY)."),
    (Route::InvitationAccept, Method::Post, 422,
     "The token is not a live link's (unknown, used, expired or replaced: `errors` says which), or the password breaks the rules."),
    (Route::PasswordResetConfirm, Method::Post, 422,
     "The token is not a live link's (unknown, used, expired or replaced: `errors` says which), or the password breaks the rules."),
];

/// Collections that take `fields` carry only the named members of each item: their items are
/// documented as the item's schema with nothing required (`Partial<Name>`).
fn partial_items(components: &mut Value) {
    let mut pages = Vec::new();
    for spec in SPECS {
        for e in spec.endpoints {
            if e.query.iter().any(|q| q.starts_with("fields:")) {
                pages.push(e.response);
            }
        }
    }
    for page in pages {
        let Some(props) = components["schemas"][page]["properties"]
            .as_object()
            .cloned()
        else {
            continue;
        };
        for (member, schema) in props {
            let Some(item) = schema["items"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(str::to_string)
            else {
                continue;
            };
            let partial = format!("Partial{item}");
            let mut copy = components["schemas"][&item].clone();
            if let Some(o) = copy.as_object_mut() {
                o.remove("required");
                o.insert(
                    "description".into(),
                    json!(format!(
                        "{item}, with only the members `fields` names (all when it is absent)."
                    )),
                );
            }
            components["schemas"][&partial] = copy;
            components["schemas"][page]["properties"][&member]["items"] = schema_ref(&partial);
        }
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get | Method::Head => "get",
        Method::Post => "post",
        Method::Put => "put",
        Method::Patch => "patch",
        Method::Delete => "delete",
        _ => "options",
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn problem(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/problem+json": {"schema": schema_ref("Problem")}}})
}

/// A query parameter's schema from its type word in the table.
fn param_schema(kind: &str) -> Value {
    match kind {
        "uuid" => json!({"type": "string", "format": "uuid"}),
        "date" => json!({"type": "string", "format": "date"}),
        "datetime" => json!({"type": "string", "format": "date-time"}),
        "integer" => json!({"type": "integer"}),
        "boolean" => json!({"type": "boolean"}),
        _ => json!({"type": "string"}),
    }
}

fn operation(spec: &RouteSpec, e: &Endpoint) -> Value {
    let mut params: Vec<Value> = Vec::new();
    for name in spec
        .template
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    {
        let schema = if name == "id" {
            param_schema("uuid")
        } else {
            param_schema("string")
        };
        params.push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
    }
    for q in e.query {
        let (name, kind) = q.split_once(':').unwrap_or((q, "string"));
        params.push(
            json!({"name": name, "in": "query", "required": false, "schema": param_schema(kind)}),
        );
    }
    let conditional_read = e.method == Method::Get && e.etag;
    if conditional_read {
        params.push(json!({"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"}}));
    }
    let conditional_write = e.summary.contains("If-Match");
    if conditional_write {
        params.push(json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"}}));
    }
    let mut responses = Map::new();
    let success = match e.response {
        "Empty" => json!({"description": "Done; no body."}),
        "PrometheusText" => {
            json!({"description": e.summary, "content": {"text/plain": {"schema": {"type": "string"}}}})
        }
        "FlamegraphSvg" => {
            json!({"description": e.summary, "content": {"image/svg+xml": {"schema": {"type": "string"}}}})
        }
        "HtmlPage" => {
            json!({"description": e.summary, "content": {"text/html": {"schema": {"type": "string"}}}})
        }
        "JavaScript" => {
            json!({"description": e.summary, "content": {"text/javascript": {"schema": {"type": "string"}}}})
        }
        "Stylesheet" => {
            json!({"description": e.summary, "content": {"text/css": {"schema": {"type": "string"}}}})
        }
        "PdfFile" => {
            json!({"description": e.summary, "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}})
        }
        name => {
            json!({"description": e.summary, "content": {"application/json": {"schema": schema_ref(name)}}})
        }
    };
    // A create-or-replace says so in its summary: 201 with the same body when it created.
    if e.method == Method::Put && e.summary.starts_with("Create (201) or replace") {
        let mut created = success.clone();
        created["description"] = json!("Created: there was nothing to replace.");
        responses.insert("201".into(), created);
    }
    responses.insert(e.status.to_string(), success);
    if conditional_read {
        responses.insert(
            "304".into(),
            json!({"description": "Not modified: the ETag named in If-None-Match is current."}),
        );
    }
    if !params.is_empty() {
        responses.insert("400".into(), problem("A parameter is malformed."));
    }
    for (_, _, status, why) in ALSO
        .iter()
        .filter(|(r, m, ..)| r.template() == spec.template && *m == e.method)
    {
        responses.insert(status.to_string(), problem(why));
    }
    if !matches!(e.access, Access::Public) {
        responses.insert("401".into(), problem("No valid credential."));
        responses.insert(
            "403".into(),
            problem("The caller's roles do not allow this here."),
        );
    }
    if spec.template.contains('{') {
        responses.insert("404".into(), problem("No such record."));
    }
    let writes = matches!(
        e.method,
        Method::Post | Method::Put | Method::Patch | Method::Delete
    );
    if writes && !matches!(e.access, Access::Public) {
        responses.insert("409".into(), problem("Conflicts with the current state."));
    }
    if conditional_write {
        responses.insert(
            "412".into(),
            problem("The record changed since the version named in If-Match."),
        );
    }
    if e.request.is_some() {
        responses.insert(
            "413".into(),
            problem("The body is larger than this route accepts."),
        );
        responses.insert("415".into(), problem("The body is not application/json."));
        responses.insert(
            "422".into(),
            problem("The body is not valid: `errors` lists every bad field."),
        );
    }
    responses.insert(
        "429".into(),
        problem("Over a rate limit: retry after Retry-After seconds."),
    );
    responses.insert(
        "503".into(),
        problem("A dependency is unavailable: retry shortly."),
    );
    let mut op = json!({
        "operationId": operation_id(spec.template, e.method),
        "summary": e.summary,
        "tags": [tag(spec.template)],
        "responses": responses,
    });
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(req) = e.request {
        op["requestBody"] = json!({"required": true,
            "content": {"application/json": {"schema": schema_ref(req)}}});
    }
    op["security"] = match e.access {
        Access::Public => json!([]),
        Access::Operator => json!([{"opsToken": []}]),
        Access::Person | Access::PersonInstitution(_) => json!([{"bearer": []}]),
        Access::Caller | Access::Institution(_) | Access::Record(_) | Access::RecordEither(..) => {
            json!([{"bearer": []}, {"apiKey": []}])
        }
    };
    if let [p] = e.access.permissions()[..] {
        op["x-permission"] = json!(p.as_str());
    } else if !e.access.permissions().is_empty() {
        // Either permission is accepted, each for what it allows (the summary says which).
        let names: Vec<&str> = e.access.permissions().iter().map(|p| p.as_str()).collect();
        op["x-permission"] = json!(names);
    }
    op
}

fn operation_id(template: &str, method: Method) -> String {
    let mut id = String::from(method_name(method));
    for seg in template
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
    {
        id.push('_');
        id.extend(seg.chars().filter(|c| *c != '{' && *c != '}').map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

fn tag(template: &str) -> String {
    let mut segs = template.split('/').filter(|s| !s.is_empty());
    match (segs.next(), segs.next(), segs.next()) {
        (Some("api"), Some("v1"), Some(t)) => t.to_string(),
        _ => "operations".into(),
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for spec in SPECS.iter().filter(|s| !s.endpoints.is_empty()) {
        let mut item = Map::new();
        for e in spec.endpoints {
            item.insert(method_name(e.method).into(), operation(spec, e));
        }
        paths.insert(spec.template.into(), Value::Object(item));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "campushub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The campus management API: people, the catalogue and timetable, enrollments, attendance, exams and results, roles and permissions. Errors are RFC 9457 problem+json.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "paths": paths,
        "components": components(),
    })
}

/// The encoded document, built once per process.
pub fn encoded() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_vec(&document()).unwrap_or_default())
}

/// `GET /openapi.json`.
pub async fn serve(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    let doc = encoded();
    if doc.is_empty() {
        return Err(ApiError::Internal);
    }
    Ok(Response::static_json(200, doc).with_header("Cache-Control", "public, max-age=300"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_schema_named_exists() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for spec in SPECS.iter().filter(|s| !s.endpoints.is_empty()) {
            for e in spec.endpoints {
                let op = &doc["paths"][spec.template][method_name(e.method)];
                assert!(op.is_object(), "{} {:?}", spec.template, e.method);
                for name in e.request.iter().chain([&e.response]) {
                    if ![
                        "Empty",
                        "PrometheusText",
                        "FlamegraphSvg",
                        "HtmlPage",
                        "JavaScript",
                        "Stylesheet",
                        "PdfFile",
                    ]
                    .contains(name)
                    {
                        assert!(
                            schemas.contains_key(*name),
                            "schema {name} is not registered"
                        );
                    }
                }
            }
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        let routed: usize = SPECS.iter().map(|s| s.endpoints.len()).sum();
        assert_eq!(documented, routed);
        let text = serde_json::to_string(&doc).unwrap();
        for r in text.match_indices("#/components/schemas/") {
            let name: String = text[r.0 + 21..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "dangling reference to {name}");
        }
    }
}
