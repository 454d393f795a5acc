//! The stages of a request after parsing, in order (`handle`): `OPTIONS`, the route's rate
//! limit, 404 and 405, the authentication stage under the route's access rule, and the
//! handler the route table names (`dispatch`, a static `match` generated from the table by
//! expanding `router::routes!` here, above the handlers, so that the table itself stays data).

use crate::api_error::ApiError;
use crate::auth::caller;
use crate::handlers::{
    account_pages, accounts, admin, api_keys, attendance, audit, auth, calendar, catalog, codes,
    credentials, debug, departments, docs, exams, guardians, health, institution, jobs,
    notifications, people, reports, roles, rollover, schedule, students,
};
use crate::http::{Method, Response};
use crate::openapi;
use crate::request::Request;
use crate::router::{LimitGroup, Route};
use crate::shard::Shard;

/// Every method that some route of this server answers (for `OPTIONS *`).
const SERVER_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Answers a request, stage by stage: `OPTIONS`, then the route's rate limit (counted against
/// the identity the authentication stage finds without the database), 404 and 405, the
/// authentication stage under the route's access rule, and the handler the route table names.
/// Errors become problem+json; the applied limit is reported in `RateLimit` /
/// `RateLimit-Policy`.
pub async fn handle(shard: &Shard, req: &Request<'_>) -> Response {
    let request_id = std::str::from_utf8(req.request_id).unwrap_or("");
    if req.method == Method::Options {
        let r = if req.path == "*" {
            Ok(Response::empty(204).with_header("Allow", SERVER_METHODS))
        } else if req.route == Route::NotFound {
            Err(ApiError::NotFound)
        } else {
            crate::cors::options(
                &shard.config.cors_origins,
                req.route.allow(),
                req.origin,
                req.acr_method,
            )
        };
        return r.unwrap_or_else(|e| e.to_response(request_id));
    }
    // Stage: who the limit counts against (no database), only where it counts per principal.
    let group = match req.route.spec().limit {
        // Readiness: operators are never limited; anyone else counts as an anonymous call.
        LimitGroup::Readiness if caller::operator(shard, req) => LimitGroup::Probe,
        g => g,
    };
    let user = match group {
        LimitGroup::Caller => caller::rate_identity(shard, req),
        LimitGroup::Probe | LimitGroup::Readiness | LimitGroup::Auth => None,
    };
    let applied = match shard
        .limiters
        .check_request(
            &shard.config.rate_limits,
            shard.redis.as_deref(),
            group,
            req.peer,
            user,
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return e.to_response(request_id),
    };
    let result = match req.endpoint {
        Some(endpoint) => match caller::admit(shard, req, endpoint.access).await {
            Ok(()) => dispatch(shard, req).await,
            Err(e) => Err(e),
        },
        // Not found, or the method is not allowed: dispatch says which.
        None => dispatch(shard, req).await,
    };
    let result = match result {
        Err(ApiError::NotFound) if hides_existence(req) => Err(ApiError::Forbidden),
        r => r,
    };
    let mut resp = result.unwrap_or_else(|e| e.to_response(request_id));
    if let Some(a) = applied {
        resp.headers.push(("RateLimit-Policy", a.policy.into()));
        resp.headers.push(("RateLimit", a.state().into()));
    }
    resp
}

/// Whether a 404 from this record route would tell the caller something a 403 would not: a
/// caller who holds the route's permissions nowhere, or only for their own or their
/// children's records, gets 403 for an id they may not see, so an id that does not exist must
/// answer the same (a student once told real ids from random ones by 403 against 404).
fn hides_existence(req: &Request<'_>) -> bool {
    let (Some(endpoint), Some(caller)) = (req.endpoint, req.caller.get()) else {
        return false;
    };
    let permissions = endpoint.access.permissions();
    !req.param.is_empty()
        && matches!(
            endpoint.access,
            crate::router::Access::Record(_) | crate::router::Access::RecordEither(..)
        )
        && !permissions
            .iter()
            .any(|p| caller.principal.holds_scoped(*p))
}

/// The methods a table line names, as a pattern (`GET` also answers `HEAD`).
macro_rules! method_arm {
    (GET) => {
        Method::Get | Method::Head
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

/// Expands the route table into `dispatch`.
macro_rules! route_dispatch {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $template:literal [$($seg:tt),*] $body:ident $limit:ident {
            $( $method:ident => $handler:path, $access:expr, ($($req:literal)?) -> $status:literal $resp:literal $($etag:ident)?, $summary:literal $([$($q:literal),* $(,)?])?; )+
        }
    )+) => {
        /// Runs the handler of the request's route and method (404 and 405 included).
        pub async fn dispatch(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
            match req.route {
                $( Route::$name => match req.method {
                    $( method_arm!($method) => $handler(shard, req).await, )+
                    _ => Err(ApiError::MethodNotAllowed(req.route.spec().allow)),
                }, )+
                Route::NotFound => Err(ApiError::NotFound),
            }
        }
    };
}

crate::router::routes!(route_dispatch);
