//! The route table: the whole API on one screen. Each route is declared once, below, with its
//! path, its methods and their handlers, the access rule each needs, the body limit, the
//! rate-limit group and what documents it. Everything else is derived from the table: the path
//! matcher, `Allow` and 405, body limits, rate-limit groups, metrics labels, the handler
//! dispatch and the OpenAPI document.
//!
//! Adding a route is one entry in [`route_table!`]'s invocation: a name, the template, the
//! template's segments as a slice pattern (an identifier binds the `{id}` segment), the body
//! limit and rate-limit group, then one line per method: the handler, its [`Access`] rule, the
//! request and response schema names and a one-line summary. A unit test checks that every
//! template routes to its own entry.

pub use crate::auth::rule::{Access, Permission};
use crate::http::Method;

/// Which rate limit a route's requests count against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitGroup {
    /// Liveness probes: never limited (limiting them would fail balancers' checks; they do
    /// no I/O).
    Probe,
    /// Readiness: operators never limited; anyone else per client address, under the
    /// `anonymous` policy (a balancer polls a few times a second; a flood of anonymous
    /// readiness checks once pinged PostgreSQL, the replica and Redis on every call).
    Readiness,
    /// Log-in and credential routes: per client address (`auth`).
    Auth,
    /// Everything else: per principal when authenticated, per address when anonymous.
    Caller,
}

/// How large a body a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// Read-only routes: a body is pointless, but a small one (64 KiB) is tolerated and ignored.
    Read,
    /// Credentials (4 KiB): anything bigger is not a log-in.
    Credentials,
    /// Administrative writes (16 KiB): a role with 64 permissions and a description fits.
    Admin,
    /// Bulk writes (256 KiB): a register or result sheet of 500 entries with comments fits.
    Bulk,
}

impl BodyLimit {
    /// Bytes, given the configured default (a route never accepts more than the default).
    pub fn bytes(self, default: u64) -> u64 {
        default.min(match self {
            BodyLimit::Read => 64 * 1024,
            BodyLimit::Credentials => 4 * 1024,
            BodyLimit::Admin => 16 * 1024,
            BodyLimit::Bulk => 256 * 1024,
        })
    }
}

/// One method of a route.
#[derive(Debug)]
pub struct Endpoint {
    /// The method (`GET` also answers `HEAD`).
    pub method: Method,
    /// What the caller needs.
    pub access: Access,
    /// The request body's schema, if it takes one.
    pub request: Option<&'static str>,
    /// The success status (200, 201 or 204).
    pub status: u16,
    /// The success response's schema.
    pub response: &'static str,
    /// Whether the success answer carries an `ETag` (and a `GET` answers `If-None-Match` with
    /// 304): documented from this, never from the summary's words.
    pub etag: bool,
    /// Query parameters it takes, as `name:type` (`uuid`, `string`, `integer`, `date`,
    /// `datetime`, `boolean`).
    pub query: &'static [&'static str],
    /// One line for the documentation.
    pub summary: &'static str,
}

/// One route: its template, limits and methods.
#[derive(Debug)]
pub struct RouteSpec {
    /// The template, as logs, metrics and documentation show it.
    pub template: &'static str,
    /// The largest body it accepts.
    pub body: BodyLimit,
    /// The rate limit its requests count against.
    pub limit: LimitGroup,
    /// Its methods.
    pub endpoints: &'static [Endpoint],
    /// `Allow`: its methods, `HEAD` with `GET`, and `OPTIONS`.
    pub allow: &'static str,
}

/// A matched route and its path parameter, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The route.
    pub route: Route,
    /// The `{id}` segment for routes that have one.
    pub param: &'a str,
}

macro_rules! method_of {
    (GET) => {
        Method::Get
    };
    (POST) => {
        Method::Post
    };
    (PUT) => {
        Method::Put
    };
    (PATCH) => {
        Method::Patch
    };
    (DELETE) => {
        Method::Delete
    };
}

macro_rules! allow_part {
    (GET) => {
        "GET, HEAD, "
    };
    (POST) => {
        "POST, "
    };
    (PUT) => {
        "PUT, "
    };
    (PATCH) => {
        "PATCH, "
    };
    (DELETE) => {
        "DELETE, "
    };
}

/// Whether every bound segment of a pattern is non-empty (`/api/v1/students/` is no student).
macro_rules! segments_nonempty {
    () => { true };
    ($lit:literal $(, $($rest:tt)*)?) => { segments_nonempty!($($($rest)*)?) };
    ($id:ident $(, $($rest:tt)*)?) => { !$id.is_empty() && segments_nonempty!($($($rest)*)?) };
}

/// The bound segment of a pattern, or `""`.
macro_rules! segment_param {
    () => { "" };
    ($lit:literal $(, $($rest:tt)*)?) => { segment_param!($($($rest)*)?) };
    ($id:ident $(, $($rest:tt)*)?) => { *$id };
}

/// Whether a table line marks its answer as carrying an `ETag` (`-> 200 "Student" etag`).
macro_rules! etag {
    () => {
        false
    };
    (etag) => {
        true
    };
}

macro_rules! optional {
    () => {
        None
    };
    ($s:literal) => {
        Some($s)
    };
}

macro_rules! route_data {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $template:literal [$($seg:tt),*] $body:ident $limit:ident {
            $( $method:ident => $handler:path, $access:expr, ($($req:literal)?) -> $status:literal $resp:literal $($etag:ident)?, $summary:literal $([$($q:literal),* $(,)?])?; )+
        }
    )+) => {
        /// Every route template the server knows. Also the `route` label in metrics and logs,
        /// so it never carries ids or other per-request values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Route {
            $( $(#[doc = $doc])* $name, )+
            /// Anything else.
            NotFound,
        }

        /// Every route's specification, indexed by [`Route::index`] (`NotFound` last).
        pub static SPECS: &[RouteSpec] = &[
            $( RouteSpec {
                template: $template,
                body: BodyLimit::$body,
                limit: LimitGroup::$limit,
                endpoints: &[ $( Endpoint {
                    method: method_of!($method),
                    access: $access,
                    request: optional!($($req)?),
                    status: $status,
                    response: $resp,
                    etag: etag!($($etag)?),
                    query: &[$($($q),*)?],
                    summary: $summary,
                }, )+ ],
                allow: concat!($( allow_part!($method), )+ "OPTIONS"),
            }, )+
            RouteSpec {
                template: "unmatched",
                body: BodyLimit::Read,
                limit: LimitGroup::Caller,
                endpoints: &[],
                allow: "",
            },
        ];

        impl Route {
            /// Every route, in index order.
            pub const ALL: &'static [Route] = &[ $( Route::$name, )+ Route::NotFound ];
        }

        /// Matches a path (without the query) to a route.
        pub fn route(path: &str) -> Matched<'_> {
            let mut segs = [""; 6];
            let mut n = 0;
            if let Some(rest) = path.strip_prefix('/') {
                // memchr for the separators: cheaper than the generic `str::split` searcher and
                // than a byte loop on ids (measured with callgrind on /api/v1/students/{id}).
                let mut from = 0;
                for i in memchr::memchr_iter(b'/', rest.as_bytes()).chain([rest.len()]) {
                    if n == segs.len() {
                        return not_found();
                    }
                    segs[n] = &rest[from..i];
                    n += 1;
                    from = i + 1;
                }
            }
            match &segs[..n] {
                $( [$($seg),*] if segments_nonempty!($($seg),*) => Matched {
                    route: Route::$name,
                    param: segment_param!($($seg),*),
                }, )+
                _ => not_found(),
            }
        }
    };
}

use crate::auth::rule::Access::{
    Caller, Institution, Operator, Person, PersonInstitution, Public, Record, RecordEither,
};
use crate::auth::rule::Permission::*;

/// The table itself, handed to a macro that expands it: `route_data` here (the enum, the specs,
/// the matcher), `pipeline::route_dispatch` above the handlers (the dispatch `match`). The
/// handler paths are names in `handlers`, resolved only where the dispatch is expanded.
macro_rules! routes {
    ($expand:ident) => {
        $expand! {
    /// `/healthz`: liveness, no I/O.
    Healthz "/healthz" ["healthz"] Read Probe {
        GET => health::healthz, Public, () -> 200 "Status", "Liveness: the shard's event loop answers; no I/O";
    }
    /// `/readyz`: readiness (details for operators).
    Readyz "/readyz" ["readyz"] Read Readiness {
        GET => health::readyz, Public, () -> 200 "Readiness", "Readiness: database, replica, Redis; figures for operators only";
    }
    /// `/metrics`: Prometheus text.
    Metrics "/metrics" ["metrics"] Read Probe {
        GET => health::metrics, Operator, () -> 200 "PrometheusText", "Prometheus exposition of every shard's counters";
    }
    /// `/openapi.json`: this API's OpenAPI 3.1 document, generated from this table.
    OpenApi "/openapi.json" ["openapi.json"] Read Caller {
        GET => openapi::serve, Public, () -> 200 "OpenApiDocument", "This document: OpenAPI 3.1, generated from the route table";
    }
    /// `/docs`: the reference for people (Redoc, read from `docs_dir`).
    Docs "/docs" ["docs"] Read Caller {
        GET => docs::page, Public, () -> 200 "HtmlPage", "This reference for people, rendered by Redoc (404 where the renderer is not installed)";
    }
    /// `/docs/redoc.standalone.js`: the renderer `/docs` loads.
    DocsScript "/docs/redoc.standalone.js" ["docs", "redoc.standalone.js"] Read Caller {
        GET => docs::script, Public, () -> 200 "JavaScript", "The renderer /docs loads";
    }
    /// `/api/v1/admin/cache/clear`: drop every cached entry on every shard of every instance.
    CacheClear "/api/v1/admin/cache/clear" ["api", "v1", "admin", "cache", "clear"] Read Caller {
        POST => admin::clear_cache, Institution(CacheManage), () -> 200 "CacheCleared", "Drop every cached profile, principal, key and summary, on every instance";
    }
    /// `/api/v1/admin/jobs`: the job queue, for operators.
    Jobs "/api/v1/admin/jobs" ["api", "v1", "admin", "jobs"] Read Caller {
        GET => jobs::list, Institution(JobsManage), () -> 200 "JobPage", "Background jobs, newest first, by state and kind, keyset-paginated" ["state:string", "kind:string", "limit:integer", "cursor:string"];
    }
    /// `/api/v1/admin/jobs/{id}`: one job.
    Job "/api/v1/admin/jobs/{id}" ["api", "v1", "admin", "jobs", id] Read Caller {
        GET => jobs::get, Institution(JobsManage), () -> 200 "Job", "One background job, with its last error";
    }
    /// `/api/v1/admin/jobs/{id}/retry`: run a dead or cancelled job again.
    JobRetry "/api/v1/admin/jobs/{id}/retry" ["api", "v1", "admin", "jobs", id, "retry"] Read Caller {
        POST => jobs::retry, Institution(JobsManage), () -> 200 "Job", "Run a dead or cancelled job again, attempts from zero (audited)";
    }
    /// `/api/v1/admin/jobs/{id}/cancel`: stop a ready or running job.
    JobCancel "/api/v1/admin/jobs/{id}/cancel" ["api", "v1", "admin", "jobs", id, "cancel"] Read Caller {
        POST => jobs::cancel, Institution(JobsManage), () -> 200 "Job", "Cancel a ready or running job (audited)";
    }
    /// `/api/v1/departments`: the public department directory.
    Departments "/api/v1/departments" ["api", "v1", "departments"] Admin Caller {
        GET => departments::list, Public, () -> 200 "DepartmentPage", "Active departments by identifier, keyset-paginated" ["limit:integer", "after:string"];
        POST => catalog::department_create, Institution(DepartmentsWrite), ("NewDepartment") -> 201 "Department", "Create a department";
    }
    /// `/api/v1/departments/{id}`.
    Department "/api/v1/departments/{id}" ["api", "v1", "departments", id] Admin Caller {
        GET => departments::get, Public, () -> 200 "Department", "One department";
        PATCH => catalog::department_update, Institution(DepartmentsWrite), ("DepartmentPatch") -> 200 "Department", "Rename, re-code or retire a department";
    }
    /// `/api/v1/departments/{id}/summary` (analytics).
    DepartmentSummary "/api/v1/departments/{id}/summary" ["api", "v1", "departments", id, "summary"] Read Caller {
        GET => departments::summary, Record(AttendanceRead), () -> 200 "DepartmentSummary", "People, catalogue and 30-day presence of a department";
    }
    /// `/api/v1/auth/login`.
    Login "/api/v1/auth/login" ["api", "v1", "auth", "login"] Credentials Auth {
        POST => auth::login, Public, ("LoginRequest") -> 200 "TokenPair", "Log in with a username or email and a password";
    }
    /// `/api/v1/auth/refresh`.
    Refresh "/api/v1/auth/refresh" ["api", "v1", "auth", "refresh"] Credentials Auth {
        POST => auth::refresh, Public, ("RefreshRequest") -> 200 "TokenPair", "Rotate a refresh token";
    }
    /// `/api/v1/auth/logout`.
    Logout "/api/v1/auth/logout" ["api", "v1", "auth", "logout"] Credentials Auth {
        POST => auth::logout, Public, ("RefreshRequest") -> 204 "Empty", "End a session and its access tokens";
    }
    /// `/api/v1/auth/mfa/verify`: the second step of an MFA log-in.
    MfaVerify "/api/v1/auth/mfa/verify" ["api", "v1", "auth", "mfa", "verify"] Credentials Auth {
        POST => credentials::verify, Public, ("MfaVerifyRequest") -> 200 "TokenPair", "Finish an MFA log-in with the challenge and a one-time code";
    }
    /// `/api/v1/auth/mfa/enroll`: start (no code) or confirm (code) MFA enrolment.
    MfaEnroll "/api/v1/auth/mfa/enroll" ["api", "v1", "auth", "mfa", "enroll"] Credentials Caller {
        POST => credentials::enroll, Person, ("MfaCodeRequest") -> 200 "MfaEnrolment", "Start MFA enrolment, or confirm it with a code";
    }
    /// `/api/v1/auth/mfa/disable`.
    MfaDisable "/api/v1/auth/mfa/disable" ["api", "v1", "auth", "mfa", "disable"] Credentials Auth {
        POST => credentials::disable, Person, ("MfaCodeRequest") -> 200 "MfaState", "Turn MFA off with a current code";
    }
    /// `/api/v1/auth/password`: change one's password.
    Password "/api/v1/auth/password" ["api", "v1", "auth", "password"] Credentials Auth {
        POST => credentials::change_password, Person, ("PasswordChangeRequest") -> 204 "Empty", "Change one's password and end every session";
    }
    /// `/api/v1/auth/invitation/accept`: set a first password with an invitation's token.
    InvitationAccept "/api/v1/auth/invitation/accept" ["api", "v1", "auth", "invitation", "accept"] Credentials Auth {
        POST => accounts::accept, Public, ("LinkPassword") -> 204 "Empty", "Set a first password with the token of an invitation (single use, 72 h)";
    }
    /// `/api/v1/auth/password-reset`: ask for a reset link by email.
    PasswordReset "/api/v1/auth/password-reset" ["api", "v1", "auth", "password-reset"] Credentials Auth {
        POST => accounts::request_reset, Public, ("PasswordResetRequest") -> 202 "ResetAccepted", "Ask for a password-reset link by email (the same answer for every address)";
    }
    /// `/api/v1/auth/password-reset/confirm`: set a new password with a reset link's token.
    PasswordResetConfirm "/api/v1/auth/password-reset/confirm" ["api", "v1", "auth", "password-reset", "confirm"] Credentials Auth {
        POST => accounts::confirm_reset, Public, ("LinkPassword") -> 204 "Empty", "Set a new password with the token of a reset link (single use, 30 min); every session ends";
    }
    /// `/api/v1/users/{id}/invitation`: email a person a link to set a first password.
    UserInvitation "/api/v1/users/{id}/invitation" ["api", "v1", "users", id, "invitation"] Admin Caller {
        POST => accounts::invite, Record(UsersManage), () -> 202 "Invitation", "Email a person a single-use link to set a first password (72 h; replaces any earlier one)";
    }
    /// `/account/invitation`: the page an invitation's link opens.
    AccountInvitation "/account/invitation" ["account", "invitation"] Read Caller {
        GET => account_pages::invitation, Public, () -> 200 "HtmlPage", "The page an invitation's link opens: set a first password";
    }
    /// `/account/reset`: the page a reset link opens.
    AccountReset "/account/reset" ["account", "reset"] Read Caller {
        GET => account_pages::reset, Public, () -> 200 "HtmlPage", "The page a reset link opens: set a new password";
    }
    /// `/account/unsubscribe`: the page a notice's unsubscribe link opens.
    AccountUnsubscribe "/account/unsubscribe" ["account", "unsubscribe"] Read Caller {
        GET => account_pages::unsubscribe, Public, () -> 200 "HtmlPage", "The page a notice's unsubscribe link opens: stop that kind of email";
    }
    /// `/api/v1/me/notifications`: which notices the caller gets by email.
    MyNotifications "/api/v1/me/notifications" ["api", "v1", "me", "notifications"] Credentials Caller {
        GET => notifications::mine, Person, () -> 200 "NotificationPreferences", "Which notices the caller gets by email";
        PATCH => notifications::choose, Person, ("NotificationPreferencesPatch") -> 200 "NotificationPreferences", "Turn kinds of notice on or off (audited)";
    }
    /// `/api/v1/reports`: ask for a PDF report.
    Reports "/api/v1/reports" ["api", "v1", "reports"] Admin Caller {
        POST => reports::request, Caller, ("NewReport") -> 202 "ReportAccepted", "Ask for a PDF report (a term report, an attendance certificate, a class's register), made by a worker";
    }
    /// `/api/v1/reports/{id}`: a report's state.
    Report "/api/v1/reports/{id}" ["api", "v1", "reports", id] Read Caller {
        GET => reports::get, Caller, () -> 200 "Report", "A report's state, pages and size (under the rule of the data it shows)";
    }
    /// `/api/v1/reports/{id}/file`: the PDF.
    ReportFile "/api/v1/reports/{id}/file" ["api", "v1", "reports", id, "file"] Read Caller {
        GET => reports::file, Caller, () -> 200 "PdfFile", "A rendered report's PDF";
    }
    /// `/api/v1/admin/notification-settings`: who gets absence alerts, and when.
    NotificationSettings "/api/v1/admin/notification-settings" ["api", "v1", "admin", "notification-settings"] Admin Caller {
        GET => notifications::settings, Institution(UsersManage), () -> 200 "NotificationSettings", "The institution's notice settings";
        PATCH => notifications::save_settings, Institution(UsersManage), ("NotificationSettingsPatch") -> 200 "NotificationSettings", "Change the delay of absence alerts, and whether students get their own (audited)";
    }
    /// `/api/v1/notifications/unsubscribe`: a notice's unsubscribe link, without logging in.
    Unsubscribe "/api/v1/notifications/unsubscribe" ["api", "v1", "notifications", "unsubscribe"] Credentials Auth {
        POST => notifications::unsubscribe, Public, ("UnsubscribeRequest") -> 200 "Unsubscribed", "Stop one kind of notice with the link at the end of one (JSON, or one-click: the link's u, k and t in the query)" ["u:uuid", "k:string", "t:string"];
    }
    /// `/account/account.js`: the account pages' script.
    AccountScript "/account/account.js" ["account", "account.js"] Read Caller {
        GET => account_pages::script, Public, () -> 200 "JavaScript", "The script the account pages load";
    }
    /// `/account/account.css`: the account pages' stylesheet.
    AccountStyle "/account/account.css" ["account", "account.css"] Read Caller {
        GET => account_pages::style, Public, () -> 200 "Stylesheet", "The stylesheet the account pages load";
    }
    /// `/api/v1/me`.
    Me "/api/v1/me" ["api", "v1", "me"] Read Caller {
        GET => auth::me, Caller, () -> 200 "Me", "Who the caller is";
    }
    /// `/api/v1/me/permissions`.
    MyPermissions "/api/v1/me/permissions" ["api", "v1", "me", "permissions"] Read Caller {
        GET => auth::my_permissions, Caller, () -> 200 "Permissions", "What the caller may do, and where";
    }
    /// `/api/v1/roles`.
    Roles "/api/v1/roles" ["api", "v1", "roles"] Admin Caller {
        GET => roles::list, Institution(RolesManage), () -> 200 "RoleList", "Every role with its permissions";
        POST => roles::create, Institution(RolesManage), ("NewRole") -> 201 "Role", "Create a custom role";
    }
    /// `/api/v1/roles/{name}`.
    Role "/api/v1/roles/{name}" ["api", "v1", "roles", name] Admin Caller {
        GET => roles::get, Institution(RolesManage), () -> 200 "Role", "One role";
        PATCH => roles::update, Institution(RolesManage), ("RolePatch") -> 200 "Role", "Change a custom role's description or permissions";
        DELETE => roles::delete, Institution(RolesManage), () -> 204 "Empty", "Delete a custom role nobody holds";
    }
    /// `/api/v1/role-bindings`.
    RoleBindings "/api/v1/role-bindings" ["api", "v1", "role-bindings"] Admin Caller {
        GET => roles::list_bindings, Institution(RolesManage), () -> 200 "BindingList", "A user's role bindings" ["user:uuid"];
        POST => roles::create_binding, Institution(RolesManage), ("NewBinding") -> 201 "Binding", "Bind a role to a user at a scope";
    }
    /// `/api/v1/role-bindings/{id}`.
    RoleBinding "/api/v1/role-bindings/{id}" ["api", "v1", "role-bindings", id] Admin Caller {
        DELETE => roles::delete_binding, Institution(RolesManage), () -> 204 "Empty", "Remove a binding";
    }
    /// `/api/v1/authz/explain`.
    AuthzExplain "/api/v1/authz/explain" ["api", "v1", "authz", "explain"] Admin Caller {
        POST => roles::explain, Institution(RolesManage), ("ExplainRequest") -> 200 "Explanation", "Whether a user would be allowed a permission, and why";
    }
    /// `/api/v1/api-keys`.
    ApiKeys "/api/v1/api-keys" ["api", "v1", "api-keys"] Admin Caller {
        GET => api_keys::list, Person, () -> 200 "ApiKeyList", "The caller's own API keys, by prefix";
        POST => api_keys::create, PersonInstitution(ApiKeysManage), ("NewApiKey") -> 201 "CreatedApiKey", "Create an API key (shown once)";
    }
    /// `/api/v1/api-keys/{id}`.
    ApiKey "/api/v1/api-keys/{id}" ["api", "v1", "api-keys", id] Admin Caller {
        DELETE => api_keys::revoke, Person, () -> 204 "Empty", "Revoke an API key on every instance";
    }
    /// `/api/v1/audit-events`: the audit trail.
    AuditEvents "/api/v1/audit-events" ["api", "v1", "audit-events"] Read Caller {
        GET => audit::list, Institution(AuditRead), () -> 200 "AuditPage", "The audit trail, newest first, filtered" ["action:string", "actor:uuid", "target_type:string", "target_id:string", "from:datetime", "to:datetime", "limit:integer", "after:string"];
    }
    /// `/debug/pprof/profile`: a CPU flamegraph of the running server (admins, when enabled).
    Profile "/debug/pprof/profile" ["debug", "pprof", "profile"] Read Caller {
        GET => debug::profile, Institution(RolesManage), () -> 200 "FlamegraphSvg", "A CPU flamegraph of the whole server (when profiling is on)" ["seconds:integer"];
    }
    /// `/api/v1/students/{id}`.
    Student "/api/v1/students/{id}" ["api", "v1", "students", id] Admin Caller {
        GET => students::get, Record(StudentsRead), () -> 200 "Student" etag, "A student's profile (ETag; If-None-Match answers 304)";
        PATCH => people::update, Record(StudentsWrite), ("StudentPatch") -> 200 "Student", "Change a student (If-Match honoured)";
        DELETE => people::deactivate, Record(StudentsWrite), () -> 204 "Empty", "Withdraw a student as of `on` (default today): the account is disabled and every active enrollment ends that day; the records stay" ["on:date"];
    }
    /// `/api/v1/students/{id}/guardians`: a student's guardians, managed by registrars.
    StudentGuardians "/api/v1/students/{id}/guardians" ["api", "v1", "students", id, "guardians"] Admin Caller {
        GET => guardians::list, Record(StudentsRead), () -> 200 "GuardianList", "A student's guardians";
        POST => guardians::link, Record(StudentsWrite), ("GuardianLink") -> 201 "GuardianList", "Link a guardian account, or make one and link it (audited)";
        DELETE => guardians::unlink, Record(StudentsWrite), () -> 204 "Empty", "End a guardian's link: their reads of the student are refused from then on (audited)" ["guardian:uuid"];
    }
    /// `/api/v1/admin/institution`: the institution's settings.
    InstitutionSettings "/api/v1/admin/institution" ["api", "v1", "admin", "institution"] Admin Caller {
        GET => institution::get, Institution(DepartmentsWrite), () -> 200 "InstitutionSettings", "The institution's name, time zone and today there";
        PATCH => institution::update, Institution(DepartmentsWrite), ("InstitutionPatch") -> 200 "InstitutionSettings", "Change the institution's time zone (an IANA name; audited)";
    }
    /// `/api/v1/students`.
    Students "/api/v1/students" ["api", "v1", "students"] Admin Caller {
        GET => people::list, Record(StudentsRead), () -> 200 "StudentPage", "Students, filtered and searched, keyset-paginated" ["department:uuid", "program:string", "year:integer", "status:string", "q:string", "limit:integer", "cursor:string", "fields:string"];
        POST => people::create, Record(StudentsWrite), ("NewStudent") -> 201 "Student", "Admit a student";
    }
    /// `/api/v1/students/{id}/enrollments`.
    StudentEnrollments "/api/v1/students/{id}/enrollments" ["api", "v1", "students", id, "enrollments"] Read Caller {
        GET => people::student_enrollments, Record(ClassesRead), () -> 200 "EnrollmentList", "A student's classes";
    }
    /// `/api/v1/students/{id}/classes`.
    StudentClasses "/api/v1/students/{id}/classes" ["api", "v1", "students", id, "classes"] Read Caller {
        GET => schedule::classes, Record(ClassesRead), () -> 200 "ClassList", "The classes a student is enrolled in, with meeting times, rooms and teachers (the student, their guardians, staff)";
    }
    /// `/api/v1/students/{id}/timetable`.
    StudentTimetable "/api/v1/students/{id}/timetable" ["api", "v1", "students", id, "timetable"] Read Caller {
        GET => schedule::timetable, Record(ClassesRead), () -> 200 "Timetable", "A student's lessons from `from` (default today) to `to` (default six days later), by the classes' timetables" ["from:date", "to:date"];
    }
    /// `/api/v1/students/{id}/line-items`.
    StudentLineItems "/api/v1/students/{id}/line-items" ["api", "v1", "students", id, "line-items"] Read Caller {
        GET => schedule::line_items, Record(ExamsRead), () -> 200 "StudentLineItemList", "What is due in a student's classes, with their own result once published";
    }
    /// `/api/v1/students/{id}/results`.
    StudentResults "/api/v1/students/{id}/results" ["api", "v1", "students", id, "results"] Read Caller {
        GET => exams::student_results, Record(ExamsRead), () -> 200 "ResultPage", "A student's results (students and guardians: published only), keyset-paginated" ["limit:integer", "cursor:string", "fields:string"];
    }
    /// `/api/v1/staff`.
    Staff "/api/v1/staff" ["api", "v1", "staff"] Admin Caller {
        GET => people::staff_list, Record(StaffRead), () -> 200 "StaffPage", "Staff, filtered and searched, keyset-paginated" ["department:uuid", "role:string", "status:string", "q:string", "limit:integer", "cursor:string", "fields:string"];
        POST => people::staff_create, Record(StaffWrite), ("NewStaff") -> 201 "StaffMember", "Add a staff member";
    }
    /// `/api/v1/staff/{id}`.
    StaffMember "/api/v1/staff/{id}" ["api", "v1", "staff", id] Admin Caller {
        GET => people::staff_get, Record(StaffRead), () -> 200 "StaffMember" etag, "A staff member (ETag)";
        PATCH => people::staff_update, Record(StaffWrite), ("StaffPatch") -> 200 "StaffChanged", "Change a staff member (If-Match honoured); a move or a new role moves the built-in binding, and the answer lists every binding";
        DELETE => people::staff_deactivate, Record(StaffWrite), () -> 204 "Empty", "Deactivate a staff member";
    }
    /// `/api/v1/terms`: academic sessions.
    Terms "/api/v1/terms" ["api", "v1", "terms"] Admin Caller {
        GET => catalog::terms, Caller, () -> 200 "TermPage", "School years, semesters and terms" ["type:string", "school_year:integer", "limit:integer", "cursor:string", "fields:string"];
        POST => catalog::create::<catalog::Term>, Institution(ClassesWrite), ("NewTerm") -> 201 "Term", "Create an academic session";
    }
    /// `/api/v1/terms/{id}`.
    Term "/api/v1/terms/{id}" ["api", "v1", "terms", id] Admin Caller {
        GET => catalog::get::<catalog::Term>, Caller, () -> 200 "Term" etag, "One academic session (ETag)";
        PATCH => catalog::update::<catalog::Term>, Institution(ClassesWrite), ("TermPatch") -> 200 "Term", "Change an academic session (If-Match honoured)";
    }
    /// `/api/v1/terms/{id}/rollover`: the end of a term.
    TermRollover "/api/v1/terms/{id}/rollover" ["api", "v1", "terms", id, "rollover"] Admin Caller {
        POST => rollover::rollover, Institution(ClassesWrite), ("RolloverRequest") -> 200 "RolloverReport", "Copy a term's classes and teaching assignments into the next term, end its enrollments and promote its students: one transaction, audited, idempotent; `dry_run` reports without changing anything";
    }
    /// `/api/v1/calendar`: teaching days, holidays and closures.
    Calendar "/api/v1/calendar" ["api", "v1", "calendar"] Read Caller {
        GET => calendar::get, Caller, () -> 200 "Calendar", "The teaching weekdays, holidays and closures from `from` (default today) to `to` (default 90 days later), and each term's teaching days" ["from:date", "to:date"];
    }
    /// `/api/v1/calendar/closures`.
    Closures "/api/v1/calendar/closures" ["api", "v1", "calendar", "closures"] Admin Caller {
        POST => calendar::create, Institution(ClassesWrite), ("NewClosure") -> 201 "Closure", "Add a holiday or closure: its days stop being teaching days (audited)";
    }
    /// `/api/v1/calendar/closures/{id}`.
    Closure "/api/v1/calendar/closures/{id}" ["api", "v1", "calendar", "closures", id] Admin Caller {
        DELETE => calendar::delete, Institution(ClassesWrite), () -> 204 "Empty", "Remove a holiday or closure (audited)";
    }
    /// `/api/v1/attendance-codes`.
    AttendanceCodes "/api/v1/attendance-codes" ["api", "v1", "attendance-codes"] Read Caller {
        GET => codes::list, Caller, () -> 200 "AttendanceCodeList", "The institution's attendance codes, and a department's own, retired ones included" ["department:uuid"];
    }
    /// `/api/v1/attendance-codes/{name}`.
    AttendanceCode "/api/v1/attendance-codes/{name}" ["api", "v1", "attendance-codes", name] Admin Caller {
        PUT => codes::put, Institution(DepartmentsWrite), ("AttendanceCodeIn") -> 200 "AttendanceCodeList", "Create (201) or replace an attendance code of the institution or of a department; every instance's cached codes follow (audited)" ["department:uuid"];
    }
    /// `/api/v1/courses`.
    Courses "/api/v1/courses" ["api", "v1", "courses"] Admin Caller {
        GET => catalog::courses, Caller, () -> 200 "CoursePage", "The course catalogue" ["department:uuid", "q:string", "limit:integer", "cursor:string", "fields:string"];
        POST => catalog::create::<catalog::Course>, Record(ClassesWrite), ("NewCourse") -> 201 "Course", "Create a course in a department";
    }
    /// `/api/v1/courses/{id}`.
    Course "/api/v1/courses/{id}" ["api", "v1", "courses", id] Admin Caller {
        GET => catalog::get::<catalog::Course>, Caller, () -> 200 "Course" etag, "One course (ETag)";
        PATCH => catalog::update::<catalog::Course>, Record(ClassesWrite), ("CoursePatch") -> 200 "Course", "Change a course (If-Match honoured)";
    }
    /// `/api/v1/classes`.
    Classes "/api/v1/classes" ["api", "v1", "classes"] Admin Caller {
        GET => catalog::classes, Record(ClassesRead), () -> 200 "ClassPage", "Classes (sections) with their timetable" ["term:uuid", "course:uuid", "department:uuid", "mine:boolean", "limit:integer", "cursor:string", "fields:string"];
        POST => catalog::create::<catalog::Class>, Record(ClassesWrite), ("NewClass") -> 201 "Class", "Create a class of a course in a term";
    }
    /// `/api/v1/classes/{id}`.
    Class "/api/v1/classes/{id}" ["api", "v1", "classes", id] Admin Caller {
        GET => catalog::get::<catalog::Class>, Record(ClassesRead), () -> 200 "Class" etag, "One class (ETag)";
        PATCH => catalog::update::<catalog::Class>, Record(ClassesWrite), ("ClassPatch") -> 200 "Class", "Change a class (If-Match honoured)";
    }
    /// `/api/v1/classes/{id}/students`: the roster.
    ClassStudents "/api/v1/classes/{id}/students" ["api", "v1", "classes", id, "students"] Read Caller {
        GET => catalog::roster, Record(EnrollmentsRead), () -> 200 "Roster", "The students of a class, by name";
    }
    /// `/api/v1/classes/{id}/enrollments`.
    ClassEnrollments "/api/v1/classes/{id}/enrollments" ["api", "v1", "classes", id, "enrollments"] Bulk Caller {
        GET => catalog::enrollments, Record(EnrollmentsRead), () -> 200 "EnrollmentPage", "Every enrollment of a class, ended ones included, keyset-paginated" ["limit:integer", "cursor:string", "fields:string"];
        POST => catalog::enroll, Record(EnrollmentsWrite), ("NewEnrollments") -> 201 "EnrollmentList", "Enroll one person or up to 500, all or nothing";
    }
    /// `/api/v1/enrollments/{id}`.
    Enrollment "/api/v1/enrollments/{id}" ["api", "v1", "enrollments", id] Read Caller {
        DELETE => catalog::drop_enrollment, Record(EnrollmentsWrite), () -> 204 "Empty", "End an enrollment (kept for the record)";
    }
    /// `/api/v1/classes/{id}/attendance-sessions`.
    ClassSessions "/api/v1/classes/{id}/attendance-sessions" ["api", "v1", "classes", id, "attendance-sessions"] Admin Caller {
        GET => attendance::sessions, Record(AttendanceRead), () -> 200 "SessionList", "A class's attendance sessions between two dates" ["from:date", "to:date"];
        POST => attendance::open, Record(AttendanceMark), ("NewSession") -> 201 "AttendanceSession", "Open the register of one meeting (date, period)";
    }
    /// `/api/v1/classes/{id}/attendance-codes`.
    ClassAttendanceCodes "/api/v1/classes/{id}/attendance-codes" ["api", "v1", "classes", id, "attendance-codes"] Read Caller {
        GET => attendance::codes, Record(AttendanceRead), () -> 200 "AttendanceCodeList", "The attendance codes a class's registers take, and who may enter each";
    }
    /// `/api/v1/attendance-sessions/{id}`.
    AttendanceSession "/api/v1/attendance-sessions/{id}" ["api", "v1", "attendance-sessions", id] Read Caller {
        GET => attendance::get, Record(AttendanceRead), () -> 200 "AttendanceSession" etag, "A register with every record (ETag)";
    }
    /// `/api/v1/attendance-sessions/{id}/records`.
    SessionRecords "/api/v1/attendance-sessions/{id}/records" ["api", "v1", "attendance-sessions", id, "records"] Bulk Caller {
        PUT => attendance::mark, RecordEither(AttendanceMark, AttendanceOverride), ("AttendanceMarks") -> 200 "MarkResult", "Mark a whole class in one request (idempotent; office overrides after submission)";
    }
    /// `/api/v1/attendance-sessions/{id}/submit`.
    SessionSubmit "/api/v1/attendance-sessions/{id}/submit" ["api", "v1", "attendance-sessions", id, "submit"] Read Caller {
        POST => attendance::submit, Record(AttendanceMark), () -> 200 "AttendanceSession", "Submit a complete register: teachers can no longer change it";
    }
    /// `/api/v1/classes/{id}/attendance/report`.
    ClassAttendanceReport "/api/v1/classes/{id}/attendance/report" ["api", "v1", "classes", id, "attendance", "report"] Read Caller {
        GET => attendance::report, Record(AttendanceRead), () -> 200 "AttendanceReport", "Per-student attendance of a class between two dates" ["from:date", "to:date"];
    }
    /// `/api/v1/attendance/not-taken`.
    NotTaken "/api/v1/attendance/not-taken" ["api", "v1", "attendance", "not-taken"] Read Caller {
        GET => attendance::not_taken, Record(AttendanceRead), () -> 200 "NotTaken", "Classes whose register was not submitted on a day (default today), keyset-paginated" ["date:date", "limit:integer", "cursor:string", "fields:string"];
    }
    /// `/api/v1/classes/{id}/line-items`.
    ClassLineItems "/api/v1/classes/{id}/line-items" ["api", "v1", "classes", id, "line-items"] Admin Caller {
        GET => exams::list, Record(ExamsRead), () -> 200 "LineItemList", "A class's exams and assignments";
        POST => exams::create, Record(ExamsGrade), ("NewLineItem") -> 201 "LineItem", "Create an exam or assignment";
    }
    /// `/api/v1/line-items/{id}`.
    LineItem "/api/v1/line-items/{id}" ["api", "v1", "line-items", id] Admin Caller {
        GET => exams::get, Record(ExamsRead), () -> 200 "LineItem" etag, "One line item (ETag)";
        PATCH => exams::update, RecordEither(ExamsGrade, ExamsPublish), ("LineItemPatch") -> 200 "LineItem", "Change, publish or lock a line item (If-Match honoured)";
    }
    /// `/api/v1/line-items/{id}/results`.
    LineItemResults "/api/v1/line-items/{id}/results" ["api", "v1", "line-items", id, "results"] Bulk Caller {
        GET => exams::results, Record(ExamsRead), () -> 200 "ResultList", "The results of a line item";
        PUT => exams::put_results, Record(ExamsGrade), ("ResultSheet") -> 200 "ResultList", "Enter results in bulk (all or nothing, idempotent)";
    }
    /// `/api/v1/students/{id}/attendance`.
    StudentAttendance "/api/v1/students/{id}/attendance" ["api", "v1", "students", id, "attendance"] Read Caller {
        GET => students::attendance, Record(AttendanceRead), () -> 200 "StudentAttendance", "A student's attendance between two dates" ["from:date", "to:date"];
    }
        }
    };
}
pub(crate) use routes;

routes!(route_data);

impl Route {
    /// Dense index for metrics tables and [`SPECS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The route's specification.
    pub fn spec(self) -> &'static RouteSpec {
        // `SPECS` holds one entry per variant, in order (a unit test checks it).
        &SPECS[self.index()]
    }

    /// The template, as logs and metrics show it.
    pub fn template(self) -> &'static str {
        self.spec().template
    }

    /// Methods the route answers (for `Allow` and CORS).
    pub fn allow(self) -> &'static str {
        self.spec().allow
    }

    /// Largest request body the route accepts (bytes), given the configured default.
    pub fn max_body(self, default: u64) -> u64 {
        self.spec().body.bytes(default)
    }

    /// The route's entry for `method` (`GET` answers `HEAD` too).
    pub fn endpoint(self, method: Method) -> Option<&'static Endpoint> {
        let method = if method == Method::Head {
            Method::Get
        } else {
            method
        };
        self.spec().endpoints.iter().find(|e| e.method == method)
    }
}

fn not_found() -> Matched<'static> {
    Matched {
        route: Route::NotFound,
        param: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches() {
        assert_eq!(route("/healthz").route, Route::Healthz);
        assert_eq!(route("/healthz/").route, Route::NotFound);
        assert_eq!(route("/api/v1/departments").route, Route::Departments);
        let m = route("/api/v1/departments/abc");
        assert_eq!((m.route, m.param), (Route::Department, "abc"));
        assert_eq!(route("/api/v1/departments/").route, Route::NotFound);
        let m = route("/api/v1/departments/abc/summary");
        assert_eq!((m.route, m.param), (Route::DepartmentSummary, "abc"));
        assert_eq!(route("/api/v1/departments//summary").route, Route::NotFound);
        assert_eq!(route("/api/v1/audit-events").route, Route::AuditEvents);
        assert_eq!(route("/api/v1/audit-events/1").route, Route::NotFound);
        assert_eq!(route("/debug/pprof/profile").route, Route::Profile);
        assert_eq!(route("/a/b/c/d/e/f/g").route, Route::NotFound);
        let m = route("/api/v1/classes/c1/attendance/report");
        assert_eq!((m.route, m.param), (Route::ClassAttendanceReport, "c1"));
        assert_eq!(
            route("/api/v1/classes/c1/attendance/report/x").route,
            Route::NotFound
        );
        assert_eq!(route("*").route, Route::NotFound);
        assert_eq!(route("").route, Route::NotFound);
    }

    #[test]
    fn indexes_are_dense_and_specs_line_up() {
        assert_eq!(Route::ALL.len(), SPECS.len());
        for (i, r) in Route::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        assert_eq!(Route::NotFound.template(), "unmatched");
    }

    #[test]
    fn every_template_routes_to_its_own_entry() {
        for r in Route::ALL.iter().filter(|r| **r != Route::NotFound) {
            let path = r
                .template()
                .replace("{id}", "some-id")
                .replace("{name}", "some-id");
            let m = route(&path);
            assert_eq!(m.route, *r, "{path}");
            let expected = if r.template().contains('{') {
                "some-id"
            } else {
                ""
            };
            assert_eq!(m.param, expected, "{path}");
            assert!(!r.spec().endpoints.is_empty(), "{path}");
        }
    }

    #[test]
    fn allow_lists_each_method_once_with_head_and_options() {
        assert_eq!(Route::Healthz.allow(), "GET, HEAD, OPTIONS");
        assert_eq!(Route::Login.allow(), "POST, OPTIONS");
        assert_eq!(Route::Roles.allow(), "GET, HEAD, POST, OPTIONS");
        assert_eq!(Route::Role.allow(), "GET, HEAD, PATCH, DELETE, OPTIONS");
        assert_eq!(Route::SessionRecords.allow(), "PUT, OPTIONS");
        assert_eq!(Route::SessionRecords.max_body(1 << 20), 256 * 1024);
        assert_eq!(Route::ApiKey.allow(), "DELETE, OPTIONS");
        assert_eq!(Route::NotFound.allow(), "");
        assert_eq!(Route::StudentResults.max_body(1 << 20), 64 * 1024);
        assert_eq!(Route::Login.max_body(1 << 20), 4 * 1024);
        assert_eq!(Route::Login.max_body(100), 100);
        assert!(Route::Student.endpoint(Method::Head).is_some());
        assert!(Route::Student.endpoint(Method::Post).is_none());
        assert!(Route::Student.endpoint(Method::Patch).is_some());
    }
}
