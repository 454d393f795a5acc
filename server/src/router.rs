//! The whole API on one screen: one `match` on the path segments gives a [`Route`]; the
//! handler `match` on (method, route) lives in `handlers::dispatch`.

/// Every route template the server knows. Also the `route` label in metrics and logs, so it
/// never carries ids or other per-request values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/healthz`: liveness, no I/O.
    Healthz,
    /// `/readyz`: readiness with details.
    Readyz,
    /// `/metrics`: Prometheus text.
    Metrics,
    /// `/api/v1/departments`: the public department directory.
    Departments,
    /// `/api/v1/departments/{id}`.
    Department,
    /// `/api/v1/departments/{id}/summary` (analytics).
    DepartmentSummary,
    /// `/api/v1/auth/login`.
    Login,
    /// `/api/v1/auth/refresh`.
    Refresh,
    /// `/api/v1/auth/logout`.
    Logout,
    /// `/api/v1/auth/mfa/verify`: the second step of an MFA log-in.
    MfaVerify,
    /// `/api/v1/auth/mfa/enroll`: start (no code) or confirm (code) MFA enrolment.
    MfaEnroll,
    /// `/api/v1/auth/mfa/disable`.
    MfaDisable,
    /// `/api/v1/auth/password`: change one's password.
    Password,
    /// `/api/v1/me`.
    Me,
    /// `/api/v1/me/permissions`.
    MyPermissions,
    /// `/api/v1/students/{id}`.
    Student,
    /// `/api/v1/students/{id}/attendance`.
    StudentAttendance,
    /// `/api/v1/roles`.
    Roles,
    /// `/api/v1/roles/{name}`.
    Role,
    /// `/api/v1/role-bindings`.
    RoleBindings,
    /// `/api/v1/role-bindings/{id}`.
    RoleBinding,
    /// `/api/v1/authz/explain`.
    AuthzExplain,
    /// `/api/v1/api-keys`.
    ApiKeys,
    /// `/api/v1/api-keys/{id}`.
    ApiKey,
    /// `/api/v1/audit-events`: the audit trail.
    AuditEvents,
    /// `/debug/pprof/profile`: a CPU flamegraph of the running server (admins, when enabled).
    Profile,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Every route, in index order.
    pub const ALL: [Route; 27] = [
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Departments,
        Route::Department,
        Route::DepartmentSummary,
        Route::Login,
        Route::Refresh,
        Route::Logout,
        Route::MfaVerify,
        Route::MfaEnroll,
        Route::MfaDisable,
        Route::Password,
        Route::Me,
        Route::MyPermissions,
        Route::Student,
        Route::StudentAttendance,
        Route::Roles,
        Route::Role,
        Route::RoleBindings,
        Route::RoleBinding,
        Route::AuthzExplain,
        Route::ApiKeys,
        Route::ApiKey,
        Route::AuditEvents,
        Route::Profile,
        Route::NotFound,
    ];

    /// Dense index for metrics tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The template, as logs and metrics show it.
    pub fn template(self) -> &'static str {
        match self {
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Departments => "/api/v1/departments",
            Route::Department => "/api/v1/departments/{id}",
            Route::DepartmentSummary => "/api/v1/departments/{id}/summary",
            Route::Login => "/api/v1/auth/login",
            Route::Refresh => "/api/v1/auth/refresh",
            Route::Logout => "/api/v1/auth/logout",
            Route::MfaVerify => "/api/v1/auth/mfa/verify",
            Route::MfaEnroll => "/api/v1/auth/mfa/enroll",
            Route::MfaDisable => "/api/v1/auth/mfa/disable",
            Route::Password => "/api/v1/auth/password",
            Route::Me => "/api/v1/me",
            Route::MyPermissions => "/api/v1/me/permissions",
            Route::Student => "/api/v1/students/{id}",
            Route::StudentAttendance => "/api/v1/students/{id}/attendance",
            Route::Roles => "/api/v1/roles",
            Route::Role => "/api/v1/roles/{name}",
            Route::RoleBindings => "/api/v1/role-bindings",
            Route::RoleBinding => "/api/v1/role-bindings/{id}",
            Route::AuthzExplain => "/api/v1/authz/explain",
            Route::ApiKeys => "/api/v1/api-keys",
            Route::ApiKey => "/api/v1/api-keys/{id}",
            Route::AuditEvents => "/api/v1/audit-events",
            Route::Profile => "/debug/pprof/profile",
            Route::NotFound => "unmatched",
        }
    }

    /// Methods the route answers (for `Allow` and CORS).
    pub fn allow(self) -> &'static str {
        match self {
            Route::Healthz
            | Route::Readyz
            | Route::Metrics
            | Route::Departments
            | Route::Department
            | Route::DepartmentSummary
            | Route::Me
            | Route::MyPermissions
            | Route::Student
            | Route::StudentAttendance
            | Route::AuditEvents
            | Route::Profile => "GET, HEAD, OPTIONS",
            Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::MfaVerify
            | Route::MfaEnroll
            | Route::MfaDisable
            | Route::Password
            | Route::AuthzExplain => "POST, OPTIONS",
            Route::Roles | Route::RoleBindings | Route::ApiKeys => "GET, HEAD, POST, OPTIONS",
            Route::Role => "GET, HEAD, PATCH, DELETE, OPTIONS",
            Route::RoleBinding | Route::ApiKey => "DELETE, OPTIONS",
            Route::NotFound => "",
        }
    }

    /// Largest request body the route accepts (bytes), given the configured default.
    pub fn max_body(self, default: u64) -> u64 {
        match self {
            // Read-only routes: a body is pointless, but a small one is tolerated and ignored.
            Route::Healthz
            | Route::Readyz
            | Route::Metrics
            | Route::Departments
            | Route::Department
            | Route::DepartmentSummary
            | Route::Me
            | Route::MyPermissions
            | Route::Student
            | Route::StudentAttendance
            | Route::AuditEvents
            | Route::Profile
            | Route::NotFound => default.min(64 * 1024),
            // Credentials are small; anything bigger is not a log-in.
            Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::MfaVerify
            | Route::MfaEnroll
            | Route::MfaDisable
            | Route::Password => default.min(4 * 1024),
            // A role with 64 permissions and a description fits easily.
            Route::Roles
            | Route::Role
            | Route::RoleBindings
            | Route::RoleBinding
            | Route::AuthzExplain
            | Route::ApiKeys
            | Route::ApiKey => default.min(16 * 1024),
        }
    }
}

/// A matched route and its path parameter, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The route.
    pub route: Route,
    /// The `{id}` segment for routes that have one.
    pub param: &'a str,
}

/// Matches a path (without the query) to a route.
pub fn route(path: &str) -> Matched<'_> {
    let mut segs = [""; 5];
    let mut n = 0;
    if let Some(rest) = path.strip_prefix('/') {
        // memchr for the separators: cheaper than the generic `str::split` searcher and than
        // a byte loop on ids (measured with callgrind on /api/v1/students/{id}).
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
    let (route, param) = match &segs[..n] {
        ["healthz"] => (Route::Healthz, ""),
        ["readyz"] => (Route::Readyz, ""),
        ["metrics"] => (Route::Metrics, ""),
        ["api", "v1", "departments"] => (Route::Departments, ""),
        ["api", "v1", "auth", "login"] => (Route::Login, ""),
        ["api", "v1", "auth", "refresh"] => (Route::Refresh, ""),
        ["api", "v1", "auth", "logout"] => (Route::Logout, ""),
        ["api", "v1", "auth", "password"] => (Route::Password, ""),
        ["api", "v1", "auth", "mfa", "verify"] => (Route::MfaVerify, ""),
        ["api", "v1", "auth", "mfa", "enroll"] => (Route::MfaEnroll, ""),
        ["api", "v1", "auth", "mfa", "disable"] => (Route::MfaDisable, ""),
        ["api", "v1", "me"] => (Route::Me, ""),
        ["api", "v1", "me", "permissions"] => (Route::MyPermissions, ""),
        ["api", "v1", "roles"] => (Route::Roles, ""),
        ["api", "v1", "roles", name] if !name.is_empty() => (Route::Role, *name),
        ["api", "v1", "role-bindings"] => (Route::RoleBindings, ""),
        ["api", "v1", "role-bindings", id] if !id.is_empty() => (Route::RoleBinding, *id),
        ["api", "v1", "authz", "explain"] => (Route::AuthzExplain, ""),
        ["api", "v1", "api-keys"] => (Route::ApiKeys, ""),
        ["api", "v1", "api-keys", id] if !id.is_empty() => (Route::ApiKey, *id),
        ["api", "v1", "audit-events"] => (Route::AuditEvents, ""),
        ["debug", "pprof", "profile"] => (Route::Profile, ""),
        ["api", "v1", "students", id] if !id.is_empty() => (Route::Student, *id),
        ["api", "v1", "students", id, "attendance"] if !id.is_empty() => {
            (Route::StudentAttendance, *id)
        }
        ["api", "v1", "departments", id] if !id.is_empty() => (Route::Department, *id),
        ["api", "v1", "departments", id, "summary"] if !id.is_empty() => {
            (Route::DepartmentSummary, *id)
        }
        _ => return not_found(),
    };
    Matched { route, param }
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
        assert_eq!(route("/api/v1/audit-events").route, Route::AuditEvents);
        assert_eq!(route("/api/v1/audit-events/1").route, Route::NotFound);
        assert_eq!(route("/debug/pprof/profile").route, Route::Profile);
        assert_eq!(route("/a/b/c/d/e/f").route, Route::NotFound);
        assert_eq!(route("*").route, Route::NotFound);
        assert_eq!(route("").route, Route::NotFound);
    }

    #[test]
    fn indexes_are_dense() {
        for (i, r) in Route::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
