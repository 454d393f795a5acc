//! What a route needs from its caller, as the route table declares it: a plain value the table
//! (`router.rs`) holds and the authentication stage (`auth::caller::admit`) enforces. A leaf:
//! it names nothing else in the crate.

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
    Institution(&'static str),
    /// A person's own log-in holding the permission for the whole institution.
    PersonInstitution(&'static str),
    /// A caller; the handler applies the object-level rule of the record (a student's, a
    /// department's) with this permission.
    Record(&'static str),
    /// A caller; the handler applies the object-level rule with the first permission, or
    /// with the second for what only it allows (an office override of a submitted register,
    /// publishing a line item).
    RecordEither(&'static str, &'static str),
}

impl Access {
    /// The permission the rule names first, if it names one.
    pub fn permission(self) -> Option<&'static str> {
        match self {
            Access::Institution(p)
            | Access::PersonInstitution(p)
            | Access::Record(p)
            | Access::RecordEither(p, _) => Some(p),
            _ => None,
        }
    }

    /// Every permission the rule accepts (for the documentation).
    pub fn permissions(self) -> Vec<&'static str> {
        match self {
            Access::RecordEither(a, b) => vec![a, b],
            other => other.permission().into_iter().collect(),
        }
    }
}
