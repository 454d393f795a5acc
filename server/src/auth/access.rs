//! Access decisions: who the caller is (a principal: grants plus account state, cached per
//! shard), and the object-level rule for a student's records: the student themself, their
//! guardians, staff whose institution-, department- or class-scoped role carries the
//! permission.
//!
//! Cached principals are dropped on every shard of every instance when the invalidation bus
//! says they changed; while the bus is down they live only [`FALLBACK_TTL`], so staleness
//! stays bounded without Redis.
//!
//! Roles named `student` and `guardian` only ever apply to the holder's own or linked records,
//! whatever the scope of their binding says.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use campushub_cache::LocalCache;
use campushub_db::queries::access::{self, Grant};

use campushub_db::Pool;

use crate::api_error::ApiError;
use crate::auth::rule::Permission;

/// How long a principal is trusted while the invalidation bus is down (or not configured):
/// the bound on how stale a role, binding or revocation can be without Redis.
pub const FALLBACK_TTL: Duration = Duration::from_secs(5);

/// How long a principal is trusted while the bus is up: changes arrive by message, so this is
/// only a backstop against a message lost without the subscription noticing.
pub const LIVE_TTL: Duration = Duration::from_secs(60);

/// Roles that grant only on the holder's own (student) or linked (guardian) records.
const SELF_ONLY: [&str; 2] = ["student", "guardian"];

/// An authenticated user as access checks see them.
#[derive(Debug)]
pub struct Principal {
    /// users.id.
    pub user_id: i64,
    /// Every (permission, scope, role).
    pub grants: Vec<Grant>,
    /// Enabled and active.
    pub usable: bool,
    /// Access tokens issued before this (ms since the epoch) are refused.
    pub revoked_before_ms: u64,
}

/// An authenticated caller, as the authentication stage (`auth::caller`) admits it and the
/// request carries it forward: what the token says, and who that is now.
#[derive(Debug)]
pub struct Caller {
    /// The verified claims (`None` for an API key).
    pub claims: Option<Rc<crate::auth::tokens::Claims>>,
    /// Grants and account state (cached per shard, dropped on change).
    pub principal: Rc<Principal>,
    /// The API key used, if the caller came with one (api_keys.id).
    pub api_key: Option<i64>,
}

impl Caller {
    /// Who makes a change, for the audit trail: this caller, from `ip`.
    pub fn actor<'a>(&self, ip: &'a str) -> campushub_db::queries::access::Actor<'a> {
        campushub_db::queries::access::Actor {
            user_id: self.principal.user_id,
            ip,
        }
    }
}

/// Why access was allowed (borrowing the deciding grant: checks on the hot path allocate
/// nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason<'a> {
    /// The caller's own record, through their `student` role.
    Own,
    /// A linked student, through the `guardian` role.
    Guardian,
    /// A role binding at a scope covering the object.
    Binding(&'a Grant),
}

/// Whether `g` grants `permission` through a role that is not self-only.
fn scoped(g: &Grant, permission: Permission) -> bool {
    scoped_name(g, permission.as_str())
}

/// [`scoped`] for a permission named by another grant.
fn scoped_name(g: &Grant, permission: &str) -> bool {
    g.permission == permission && !SELF_ONLY.contains(&g.role.as_str())
}

impl Principal {
    /// The grant of `permission` through the role named `role`, if held (the self-only roles
    /// `student` and `guardian` apply only to the holder's own or linked records).
    pub fn via_role(&self, permission: Permission, role: &str) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| g.permission == permission && g.role == role)
    }

    /// The grant of `permission` for the whole institution or for the department with public
    /// id `department`, if held through a role that is not self-only.
    pub fn department_grant(
        &self,
        permission: Permission,
        department: uuid::Uuid,
    ) -> Option<&Grant> {
        self.institution_grant(permission).or_else(|| {
            self.grants.iter().find(|g| {
                scoped(g, permission)
                    && g.scope_type == "department"
                    && g.scope_sourced_id == Some(department)
            })
        })
    }

    /// Whether the principal holds `permission` anywhere through a role that is not
    /// self-only: some right on that kind of record beyond their own or their children's.
    pub fn holds_scoped(&self, permission: Permission) -> bool {
        self.grants.iter().any(|g| scoped(g, permission))
    }

    /// The institution-wide grant of `permission`, if held (function-level checks: admin
    /// routes need the permission for the whole institution).
    pub fn institution_grant(&self, permission: Permission) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| scoped(g, permission) && g.scope_type == "institution")
    }
}

/// The shard's cache of principals by user id.
pub struct PrincipalCache {
    cache: LocalCache<i64, Rc<Principal>>,
}

impl PrincipalCache {
    /// A cache of at most `capacity` users.
    pub fn new(capacity: usize) -> PrincipalCache {
        PrincipalCache {
            cache: LocalCache::new(capacity),
        }
    }

    /// Drops one user.
    pub fn forget(&mut self, user: i64) {
        self.cache.remove(&user);
    }

    /// Drops everyone (a role changed, or messages may have been missed).
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

impl campushub_cache::ShardCache for PrincipalCache {
    fn figures(&self) -> (usize, u64, u64) {
        self.cache.figures()
    }

    fn drop_all(&mut self) {
        self.cache.drop_all();
    }
}

/// How long a shard may keep what it just loaded, given whether its invalidation bus is live.
pub fn cache_ttl(bus_live: bool) -> Duration {
    if bus_live {
        LIVE_TTL
    } else {
        FALLBACK_TTL
    }
}

/// The principal of `user`, from the shard's cache (`cache`) or the database (`None`: no such
/// user); kept for `ttl`.
pub async fn principal(
    cache: &RefCell<PrincipalCache>,
    db: &Pool,
    ttl: Duration,
    user: i64,
) -> Result<Option<Rc<Principal>>, ApiError> {
    let now = Instant::now();
    if let Some(p) = cache.borrow_mut().cache.get(&user, now) {
        return Ok(Some(Rc::clone(p)));
    }
    // Both statements go out pipelined on the shard's connections.
    let (grants, state) =
        futures_util::future::try_join(access::grants(db, user), access::auth_state(db, user))
            .await?;
    let Some(state) = state else {
        return Ok(None);
    };
    let p = Rc::new(Principal {
        user_id: user,
        grants,
        usable: state.usable,
        revoked_before_ms: state.revoked_before_ms,
    });
    cache
        .borrow_mut()
        .cache
        .insert(user, Rc::clone(&p), now + ttl);
    Ok(Some(p))
}

/// Why `principal` may use `permission` on the records of student `student` (row id) of
/// department `department` (orgs.id), or `None` when it may not.
pub async fn student_access<'p>(
    db: &Pool,
    principal: &'p Principal,
    permission: Permission,
    student: i64,
    department: i64,
) -> Result<Option<Reason<'p>>, ApiError> {
    let caller = principal.user_id;
    if caller == student && principal.via_role(permission, "student").is_some() {
        return Ok(Some(Reason::Own));
    }
    if let Some(g) = principal.institution_grant(permission) {
        return Ok(Some(Reason::Binding(g)));
    }
    if let Some(g) = principal
        .grants
        .iter()
        .find(|x| scoped(x, permission) && x.scope_type == "department" && x.scope_id == department)
    {
        return Ok(Some(Reason::Binding(g)));
    }
    let classes: Vec<&Grant> = principal
        .grants
        .iter()
        .filter(|x| scoped(x, permission) && x.scope_type == "class")
        .collect();
    if !classes.is_empty() {
        let ids: Vec<i64> = classes.iter().map(|g| g.scope_id).collect();
        if access::enrolled_in_any(db, student, &ids).await? {
            // Which class decides is a detail for `explain`; the first grant stands for them.
            return Ok(Some(Reason::Binding(classes[0])));
        }
    }
    if principal.via_role(permission, "guardian").is_some()
        && access::is_guardian_of(db, caller, student).await?
    {
        return Ok(Some(Reason::Guardian));
    }
    Ok(None)
}

/// Those of `key_grants` (an API key's own) that `creator` holds now through a role that is
/// not self-only, at the institution or at the grant's own scope: a key never acts with more
/// than its creator has at the moment of use, and self and guardian rights never transfer.
pub fn within(key_grants: &[Grant], creator: &Principal) -> Vec<Grant> {
    key_grants
        .iter()
        .filter(|k| {
            !SELF_ONLY.contains(&k.role.as_str())
                && creator.grants.iter().any(|c| {
                    scoped_name(c, &k.permission)
                        && (c.scope_type == "institution"
                            || (c.scope_type == k.scope_type && c.scope_id == k.scope_id))
                })
        })
        .cloned()
        .collect()
}

/// Whether `caller` covers every grant in `target` (a person's own, through roles that are not
/// self-only): for each, the caller holds the same permission, not through a self-only role,
/// for the whole institution, at the same scope, or for the department of the class it is
/// scoped to. Someone who does not may not change or deactivate that person: a department's
/// administrator cannot disable an administrator of the whole institution, as they cannot
/// bind one.
pub fn covers(caller: &Principal, target: &[access::TargetGrant]) -> bool {
    target
        .iter()
        .filter(|t| !SELF_ONLY.contains(&t.role.as_str()))
        .all(|t| {
            caller.grants.iter().any(|c| {
                scoped_name(c, &t.permission)
                    && (c.scope_type == "institution"
                        || (c.scope_type == t.scope_type && c.scope_id == t.scope_id)
                        || (t.scope_type == "class"
                            && c.scope_type == "department"
                            && t.class_department == Some(c.scope_id)))
            })
        })
}

/// 403 unless `caller` [`covers`] every grant of user `target` (users.id).
pub async fn require_covers(db: &Pool, caller: &Principal, target: i64) -> Result<(), ApiError> {
    if covers_user(db, caller, target).await? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Whether `caller` [`covers`] every grant of user `target` (users.id).
pub async fn covers_user(db: &Pool, caller: &Principal, target: i64) -> Result<bool, ApiError> {
    Ok(covers(caller, &access::target_grants(db, target).await?))
}

/// Function-level check: the caller holds `permission` for the whole institution (403 if not).
pub fn require_institution(principal: &Principal, permission: Permission) -> Result<(), ApiError> {
    principal
        .institution_grant(permission)
        .map(|_| ())
        .ok_or(ApiError::Forbidden)
}

/// Permissions that, below the whole institution, apply only to the classes their holder
/// teaches: a department's faculty read its classes, but mark and grade only their own.
const TEACHING: [Permission; 2] = [Permission::AttendanceMark, Permission::ExamsGrade];

/// Whether `principal` holds `permission` for the whole institution or for department
/// `department` (orgs.id), through a role that is not self-only.
pub fn department_access(principal: &Principal, permission: Permission, department: i64) -> bool {
    principal.institution_grant(permission).is_some()
        || principal.grants.iter().any(|g| {
            scoped(g, permission) && g.scope_type == "department" && g.scope_id == department
        })
}

/// 403 unless [`department_access`].
pub fn allow_department(
    principal: &Principal,
    permission: Permission,
    department: i64,
) -> Result<(), ApiError> {
    if department_access(principal, permission, department) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// 403 unless `principal` holds `permission` where a record is (`current`, orgs.id: `None` for
/// a record not yet created) and where it goes (`moves_to`, a department's public id: `None`
/// when it stays).
pub fn allow_move(
    principal: &Principal,
    permission: Permission,
    current: Option<i64>,
    moves_to: Option<uuid::Uuid>,
) -> Result<(), ApiError> {
    if let Some(department) = current {
        allow_department(principal, permission, department)?;
    }
    match moves_to {
        Some(department) => require_department(principal, permission, department),
        None => Ok(()),
    }
}

/// 403 unless `principal` holds `permission` for the whole institution or for the department
/// with public id `department`.
pub fn require_department(
    principal: &Principal,
    permission: Permission,
    department: uuid::Uuid,
) -> Result<(), ApiError> {
    principal
        .department_grant(permission, department)
        .map(|_| ())
        .ok_or(ApiError::Forbidden)
}

/// The departments (orgs.id) where `principal` holds `permission`: `None` for every
/// department (an institution-wide grant), else the list (empty: none).
pub fn departments_with(principal: &Principal, permission: Permission) -> Option<Vec<i64>> {
    if principal.institution_grant(permission).is_some() {
        return None;
    }
    let mut ids: Vec<i64> = principal
        .grants
        .iter()
        .filter(|g| scoped(g, permission) && g.scope_type == "department")
        .map(|g| g.scope_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// Whether `principal` may read a class `class` (row id) as a member of it: holding
/// `permission` through the `student` role and enrolled in it, or through the `guardian` role
/// and linked to a student enrolled in it. For what members see (the class, its line items),
/// never its registers or other students' results.
pub async fn class_member(
    db: &Pool,
    principal: &Principal,
    permission: Permission,
    class: i64,
) -> Result<bool, ApiError> {
    let as_student = principal.via_role(permission, "student").is_some();
    let as_guardian = principal.via_role(permission, "guardian").is_some();
    if !as_student && !as_guardian {
        return Ok(false);
    }
    Ok(campushub_db::queries::campus::class_member(
        db,
        principal.user_id,
        class,
        as_student,
        as_guardian,
    )
    .await?)
}

/// Permissions a teaching assignment carries into the class it names, wherever the class's
/// department: marking and grading, and the reads they need (the class, its roster, its
/// registers and results). The teacher must hold each through a department role somewhere
/// (their own department's faculty binding): the assignment says where, the role says what.
const ASSIGNED: [Permission; 6] = [
    Permission::AttendanceMark,
    Permission::ExamsGrade,
    Permission::ClassesRead,
    Permission::EnrollmentsRead,
    Permission::AttendanceRead,
    Permission::ExamsRead,
];

/// Whether `principal` may use `permission` on class `class` (row id) of department
/// `department`: an institution-wide grant, a grant for that class, or one for its
/// department; for the teaching permissions a department grant covers only the classes the
/// principal teaches. A teacher assigned to a class of another department may use the
/// [`ASSIGNED`] permissions they hold in their own department on that class: the assignment
/// is enough, without a binding for the class.
pub async fn class_access(
    db: &Pool,
    principal: &Principal,
    permission: Permission,
    class: i64,
    department: i64,
) -> Result<bool, ApiError> {
    if principal.institution_grant(permission).is_some()
        || principal
            .grants
            .iter()
            .any(|g| scoped(g, permission) && g.scope_type == "class" && g.scope_id == class)
    {
        return Ok(true);
    }
    let here = principal
        .grants
        .iter()
        .any(|g| scoped(g, permission) && g.scope_type == "department" && g.scope_id == department);
    if here && !TEACHING.contains(&permission) {
        return Ok(true);
    }
    let elsewhere = ASSIGNED.contains(&permission)
        && principal
            .grants
            .iter()
            .any(|g| scoped(g, permission) && g.scope_type == "department");
    if here || elsewhere {
        return Ok(campushub_db::queries::campus::teaches(db, principal.user_id, class).await?);
    }
    Ok(false)
}
