//! Access decisions: a user's grants (cached per shard for a few seconds), and the
//! object-level rule for a student's records: the student themself, their guardians, staff
//! whose institution-, department- or class-scoped role carries the permission.
//!
//! Roles named `student` and `guardian` only ever apply to the holder's own or linked records,
//! whatever the scope of their binding says.

use std::rc::Rc;
use std::time::{Duration, Instant};

use campushub_cache::LocalCache;
use campushub_db::queries::access::{self, Grant};

use crate::api_error::ApiError;
use crate::shard::Shard;

/// How long a shard trusts cached grants; a role or binding change is enforced everywhere
/// within this bound.
pub const GRANTS_TTL: Duration = Duration::from_secs(5);

/// Roles that grant only on the holder's own (student) or linked (guardian) records.
const SELF_ONLY: [&str; 2] = ["student", "guardian"];

/// One user's grants.
#[derive(Debug, Default)]
pub struct Grants {
    /// Every (permission, scope, role).
    pub list: Vec<Grant>,
}

impl Grants {
    fn scoped<'a>(&'a self, permission: &'a str) -> impl Iterator<Item = &'a Grant> + 'a {
        self.list
            .iter()
            .filter(move |g| g.permission == permission && !SELF_ONLY.contains(&g.role.as_str()))
    }

    /// Held through a self-only role (`student` or `guardian`).
    fn via_role(&self, permission: &str, role: &str) -> bool {
        self.list
            .iter()
            .any(|g| g.permission == permission && g.role == role)
    }
}

/// The shard's cache of grants by user id.
pub struct GrantCache {
    cache: LocalCache<i64, Rc<Grants>>,
}

impl GrantCache {
    /// A cache of at most `capacity` users.
    pub fn new(capacity: usize) -> GrantCache {
        GrantCache {
            cache: LocalCache::new(capacity),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// The grants of `user`, from the shard's cache or the database.
pub async fn grants(shard: &Shard, user: i64) -> Result<Rc<Grants>, ApiError> {
    let now = Instant::now();
    if let Some(g) = shard.grants.borrow_mut().cache.get(&user, now) {
        return Ok(Rc::clone(g));
    }
    let list = access::grants(shard.db.primary(), user).await?;
    let g = Rc::new(Grants { list });
    shard
        .grants
        .borrow_mut()
        .cache
        .insert(user, Rc::clone(&g), now + GRANTS_TTL);
    Ok(g)
}

/// May `caller` use `permission` on the records of student `student` (row id) of department
/// `department` (orgs.id)?
pub async fn may_access_student(
    shard: &Shard,
    caller: i64,
    permission: &str,
    student: i64,
    department: i64,
) -> Result<bool, ApiError> {
    let g = grants(shard, caller).await?;
    if caller == student && g.via_role(permission, "student") {
        return Ok(true);
    }
    if g.scoped(permission).any(|x| x.scope_type == "institution") {
        return Ok(true);
    }
    if g.scoped(permission)
        .any(|x| x.scope_type == "department" && x.scope_id == department)
    {
        return Ok(true);
    }
    let classes: Vec<i64> = g
        .scoped(permission)
        .filter(|x| x.scope_type == "class")
        .map(|x| x.scope_id)
        .collect();
    let db = shard.db.primary();
    if !classes.is_empty() && access::enrolled_in_any(db, student, &classes).await? {
        return Ok(true);
    }
    if g.via_role(permission, "guardian") && access::is_guardian_of(db, caller, student).await? {
        return Ok(true);
    }
    Ok(false)
}
