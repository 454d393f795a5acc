//! The authentication stage: who is calling, decided once per request before the handler.
//!
//! Two steps around the rate limiter. First, cheaply and without the database, the identity a
//! limit counts against ([`rate_identity`]: a verified access token's user, or an API key this
//! shard already verified). Then, for routes whose [`Access`] rule needs one, the caller
//! ([`admit`]): the credential verified, the principal loaded (cached per shard), revocation
//! and account state checked, function-level permissions enforced. Handlers read the admitted
//! caller from the request; object-level rules (whose record is it) stay with the handler,
//! using the permission the route table names.

use std::rc::Rc;

use crate::api_error::ApiError;
pub use crate::auth::access::Caller;
use crate::auth::access::{self, require_institution};
use crate::auth::api_keys;
pub use crate::auth::rule::Access;
use crate::auth::tokens::{self, TokenError};
use crate::auth::{bearer, same_secret};
use crate::request::Request;
use crate::shard::Shard;

/// Admits a request under its route's access rule: remembers the caller on the request when
/// the rule needs one, or refuses (401, 403).
pub async fn admit(shard: &Shard, req: &Request<'_>, access: Access) -> Result<(), ApiError> {
    let caller = match access {
        Access::Public => return Ok(()),
        Access::Operator => {
            return if operator(shard, req) {
                Ok(())
            } else {
                Err(ApiError::Unauthenticated(
                    "This is for operators: send Authorization: Bearer <the ops token>.",
                ))
            }
        }
        Access::Caller | Access::Record(_) | Access::RecordEither(..) => {
            authenticate(shard, req).await?
        }
        Access::Person => person(authenticate(shard, req).await?)?,
        Access::Institution(p) => {
            let c = authenticate(shard, req).await?;
            require_institution(&c.principal, p)?;
            c
        }
        Access::PersonInstitution(p) => {
            let c = person(authenticate(shard, req).await?)?;
            require_institution(&c.principal, p)?;
            c
        }
    };
    let _ = req.caller.set(caller);
    Ok(())
}

fn person(caller: Caller) -> Result<Caller, ApiError> {
    if caller.api_key.is_some() {
        return Err(ApiError::ForbiddenBecause(
            "API keys cannot do this; log in as a person.",
        ));
    }
    Ok(caller)
}

/// Whether the request comes from an operator: the configured ops token as a Bearer
/// credential (compared in constant time), or, when none is configured, a connection from
/// loopback. The connection's own peer decides, never `X-Forwarded-For`: a client inside a
/// trusted proxy network could write `127.0.0.1` there.
pub fn operator(shard: &Shard, req: &Request<'_>) -> bool {
    match &shard.config.ops_token {
        Some(token) => bearer(req.authorization)
            .is_some_and(|presented| same_secret(presented, token.expose().as_bytes())),
        None => req.socket_peer.is_loopback(),
    }
}

/// The claims of the request's access token if it verifies (signature, expiry; not yet
/// revocation), remembered on the request for the handler.
pub fn verified_claims(shard: &Shard, req: &Request<'_>) -> Option<Rc<tokens::Claims>> {
    if let Some(c) = req.claims.get() {
        return Some(Rc::clone(c));
    }
    let token = bearer(req.authorization)?;
    let claims = shard.tokens.borrow_mut().verify(&shard.keys, token).ok()?;
    let _ = req.claims.set(Rc::clone(&claims));
    Some(claims)
}

/// The API key a request presents: `X-API-Key`, or a Bearer credential that is a key.
pub fn presented_key<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    req.api_key.map(<[u8]>::trim_ascii).or_else(|| {
        bearer(req.authorization).filter(|t| t.starts_with(api_keys::KEY_MARK.as_bytes()))
    })
}

/// Whom the rate limit counts a request against, decided without touching the database: a
/// verified access token's user, or a key already verified on this shard (negative ids, so
/// keys and users never share a budget). Anything else is limited as anonymous, by address.
pub fn rate_identity(shard: &Shard, req: &Request<'_>) -> Option<i64> {
    if req.authorization.is_none() && req.api_key.is_none() {
        return None;
    }
    match presented_key(req) {
        Some(key) => {
            let k = shard.api_keys.borrow_mut().get(key)?;
            let id = k.key_id.saturating_neg();
            let _ = req.key.set(k);
            Some(id)
        }
        None => verified_claims(shard, req).map(|c| c.uid),
    }
}

/// The caller, from a verified access token whose account is still usable and whose tokens
/// were not revoked after it was issued. The caller is always taken from the credential,
/// never from a request parameter.
pub async fn authenticate(shard: &Shard, req: &Request<'_>) -> Result<Caller, ApiError> {
    if let Some(key) = presented_key(req) {
        let k = match req.key.get() {
            Some(k) => Rc::clone(k),
            None => {
                api_keys::resolve(&shard.api_keys, shard.db.primary(), shard.cache_ttl(), key)
                    .await?
            }
        };
        // The creator's principal as it is now (cached, dropped on every change to them): a
        // key is checked against its creator's account and rights on every use.
        let creator = access::principal(
            &shard.principals,
            shard.db.primary(),
            shard.cache_ttl(),
            k.owner_id,
        )
        .await?
        .ok_or(ApiError::Unauthenticated(
            "The account that made this API key no longer exists.",
        ))?;
        if !creator.usable {
            return Err(ApiError::Unauthenticated(
                "The account that made this API key is disabled.",
            ));
        }
        return Ok(Caller {
            claims: None,
            principal: k.acting_as(&creator),
            api_key: Some(k.key_id),
        });
    }
    let claims = match req.claims.get() {
        Some(c) => Rc::clone(c),
        None => {
            let token = bearer(req.authorization).ok_or(ApiError::Unauthenticated(
                "Send an access token: Authorization: Bearer <token>.",
            ))?;
            shard
                .tokens
                .borrow_mut()
                .verify(&shard.keys, token)
                .map_err(|e| match e {
                    TokenError::Expired => {
                        ApiError::Unauthenticated("The access token has expired; refresh it.")
                    }
                    TokenError::Invalid => {
                        ApiError::Unauthenticated("The access token is not valid.")
                    }
                })?
        }
    };
    let principal = access::principal(
        &shard.principals,
        shard.db.primary(),
        shard.cache_ttl(),
        claims.uid,
    )
    .await?
    .ok_or(ApiError::Unauthenticated(
        "The account behind this token no longer exists.",
    ))?;
    if !principal.usable || claims.issued_ms() < principal.revoked_before_ms {
        return Err(ApiError::Unauthenticated("This token has been revoked."));
    }
    Ok(Caller {
        claims: Some(claims),
        principal,
        api_key: None,
    })
}
