//! What a route needs from its caller, as the route table declares it: a plain value the table
//! (`router.rs`) holds and the authentication stage (`auth::caller::admit`) enforces, and the
//! permissions it names. A leaf: it names nothing else in the crate.

/// A permission the server checks by name: the built-in set of migrations 0007 and 0008
/// (custom roles combine these; the database refuses any other). Grants read from the
/// database stay text and are compared with [`Permission::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `api_keys.manage`.
    ApiKeysManage,
    /// `attendance.mark`.
    AttendanceMark,
    /// `attendance.override`.
    AttendanceOverride,
    /// `attendance.read`.
    AttendanceRead,
    /// `audit.read`.
    AuditRead,
    /// `cache.manage`.
    CacheManage,
    /// `classes.read`.
    ClassesRead,
    /// `classes.write`.
    ClassesWrite,
    /// `departments.write`.
    DepartmentsWrite,
    /// `enrollments.read`.
    EnrollmentsRead,
    /// `enrollments.write`.
    EnrollmentsWrite,
    /// `exams.grade`.
    ExamsGrade,
    /// `exams.publish`.
    ExamsPublish,
    /// `exams.read`.
    ExamsRead,
    /// `jobs.manage`.
    JobsManage,
    /// `roles.manage`.
    RolesManage,
    /// `staff.read`.
    StaffRead,
    /// `staff.write`.
    StaffWrite,
    /// `students.read`.
    StudentsRead,
    /// `students.write`.
    StudentsWrite,
    /// `users.manage`.
    UsersManage,
}

impl Permission {
    /// The permission's name, as roles and grants carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ApiKeysManage => "api_keys.manage",
            Permission::AttendanceMark => "attendance.mark",
            Permission::AttendanceOverride => "attendance.override",
            Permission::AttendanceRead => "attendance.read",
            Permission::AuditRead => "audit.read",
            Permission::CacheManage => "cache.manage",
            Permission::ClassesRead => "classes.read",
            Permission::ClassesWrite => "classes.write",
            Permission::DepartmentsWrite => "departments.write",
            Permission::EnrollmentsRead => "enrollments.read",
            Permission::EnrollmentsWrite => "enrollments.write",
            Permission::ExamsGrade => "exams.grade",
            Permission::ExamsPublish => "exams.publish",
            Permission::ExamsRead => "exams.read",
            Permission::JobsManage => "jobs.manage",
            Permission::RolesManage => "roles.manage",
            Permission::StaffRead => "staff.read",
            Permission::StaffWrite => "staff.write",
            Permission::StudentsRead => "students.read",
            Permission::StudentsWrite => "students.write",
            Permission::UsersManage => "users.manage",
        }
    }

    /// The permission named `name`, if the server knows it.
    pub fn parse(name: &str) -> Option<Permission> {
        Some(match name {
            "api_keys.manage" => Permission::ApiKeysManage,
            "attendance.mark" => Permission::AttendanceMark,
            "attendance.override" => Permission::AttendanceOverride,
            "attendance.read" => Permission::AttendanceRead,
            "audit.read" => Permission::AuditRead,
            "cache.manage" => Permission::CacheManage,
            "classes.read" => Permission::ClassesRead,
            "classes.write" => Permission::ClassesWrite,
            "departments.write" => Permission::DepartmentsWrite,
            "enrollments.read" => Permission::EnrollmentsRead,
            "enrollments.write" => Permission::EnrollmentsWrite,
            "exams.grade" => Permission::ExamsGrade,
            "exams.publish" => Permission::ExamsPublish,
            "exams.read" => Permission::ExamsRead,
            "jobs.manage" => Permission::JobsManage,
            "roles.manage" => Permission::RolesManage,
            "staff.read" => Permission::StaffRead,
            "staff.write" => Permission::StaffWrite,
            "students.read" => Permission::StudentsRead,
            "students.write" => Permission::StudentsWrite,
            "users.manage" => Permission::UsersManage,
            _ => return None,
        })
    }
}

impl PartialEq<Permission> for String {
    fn eq(&self, p: &Permission) -> bool {
        self == p.as_str()
    }
}

impl PartialEq<Permission> for str {
    fn eq(&self, p: &Permission) -> bool {
        self == p.as_str()
    }
}

/// What a route needs from its caller, as the route table declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (credentials, if any, travel in the body: log-in, refresh, log-out, MFA verify).
    Public,
    /// An operator: the ops token, or a loopback client while none is configured.
    Operator,
    /// Any authenticated caller, by access token or API key.
    Caller,
    /// A person's own log-in (an access token), never an API key.
    Person,
    /// A caller holding the permission for the whole institution.
    Institution(Permission),
    /// A person's own log-in holding the permission for the whole institution.
    PersonInstitution(Permission),
    /// A caller; the handler applies the object-level rule of the record (a student's, a
    /// department's) with this permission.
    Record(Permission),
    /// A caller; the handler applies the object-level rule with the first permission, or
    /// with the second for what only it allows (an office override of a submitted register,
    /// publishing a line item).
    RecordEither(Permission, Permission),
}

impl Access {
    /// The permission the rule names first, if it names one.
    pub fn permission(self) -> Option<Permission> {
        match self {
            Access::Institution(p)
            | Access::PersonInstitution(p)
            | Access::Record(p)
            | Access::RecordEither(p, _) => Some(p),
            _ => None,
        }
    }

    /// Every permission the rule accepts (for the documentation).
    pub fn permissions(self) -> Vec<Permission> {
        match self {
            Access::RecordEither(a, b) => vec![a, b],
            other => other.permission().into_iter().collect(),
        }
    }
}
