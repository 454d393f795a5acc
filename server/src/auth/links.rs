//! The tokens of links that open an account (invitations, password resets). A link's token is
//! HMAC-SHA-256 of its purpose and public id under the link key (CAMPUSHUB_LINK_KEY): 256
//! bits, base64url. The database keeps only the token's SHA-256 (migration 0016), so a copy of
//! the database opens nothing; the worker that writes the message derives the token again from
//! the id in its job, so no job payload holds one either.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use campushub_db::queries::accounts::Purpose;

/// How long an invitation link works.
pub const INVITATION_TTL_S: i32 = 72 * 3600;

/// How long a reset link works.
pub const RESET_TTL_S: i32 = 30 * 60;

/// Reset links one account gets per hour, however often they are asked for.
pub const RESETS_PER_HOUR: i32 = 3;

/// Characters in a token: 32 bytes, base64url without padding.
pub const TOKEN_CHARS: usize = 43;

/// HMAC-SHA-256 under `key` of `label`, `name` and `id`, base64url: a token of
/// [`TOKEN_CHARS`] characters.
fn mac(key: &[u8], label: &[u8], name: &str, id: uuid::Uuid) -> String {
    // new_from_slice fails only for key lengths HMAC cannot take; SHA-256's takes any.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(label);
    mac.update(name.as_bytes());
    mac.update(b"\0");
    mac.update(id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The token of link `id` for `purpose` under `key`.
pub fn token(key: &[u8], purpose: Purpose, id: uuid::Uuid) -> String {
    mac(key, b"campushub link v1\0", purpose.as_str(), id)
}

/// The kinds of notice a person can turn off, as preferences and unsubscribe links name them.
pub const NOTICE_KINDS: [&str; 2] = ["absence", "results"];

/// The token of the unsubscribe link of `person` (public id) for notice `kind`: it never
/// expires and does one thing (turn that kind off), so it is derived, not stored.
pub fn unsubscribe_token(key: &[u8], person: uuid::Uuid, kind: &str) -> String {
    mac(key, b"campushub unsubscribe v1\0", kind, person)
}

/// Whether `token` is the unsubscribe token of `person` for `kind` (compared in constant time).
pub fn unsubscribe_token_ok(key: &[u8], person: uuid::Uuid, kind: &str, token: &str) -> bool {
    well_formed(token)
        && crate::auth::same_secret(
            unsubscribe_token(key, person, kind).as_bytes(),
            token.as_bytes(),
        )
}

/// The unsubscribe page of `person` for `kind`, and the one-click address (RFC 8058) that
/// `List-Unsubscribe` names.
pub fn unsubscribe_urls(
    public_url: &str,
    key: &[u8],
    person: uuid::Uuid,
    kind: &str,
) -> (String, String) {
    let token = unsubscribe_token(key, person, kind);
    let query = format!("u={person}&k={kind}&t={token}");
    (
        format!("{public_url}/account/unsubscribe#{query}"),
        format!("{public_url}/api/v1/notifications/unsubscribe?{query}"),
    )
}

/// What the database keeps of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` has a token's shape (43 base64url characters). Anything else cannot be a
/// link's token and is refused without a database lookup.
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The address a link opens: `{public_url}/account/{page}#token={token}`. The token rides in
/// the fragment, which browsers never send: it stays out of request lines, access logs and
/// `Referer` headers.
pub fn url(public_url: &str, purpose: Purpose, token: &str) -> String {
    let page = match purpose {
        Purpose::Invitation => "invitation",
        Purpose::Reset => "reset",
    };
    format!("{public_url}/account/{page}#token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_key_purpose_and_id_and_have_their_shape() {
        let id = uuid::Uuid::from_u128(7);
        let a = token(&[1; 32], Purpose::Invitation, id);
        assert!(well_formed(&a), "{a}");
        assert_eq!(a, token(&[1; 32], Purpose::Invitation, id));
        assert_ne!(a, token(&[2; 32], Purpose::Invitation, id));
        assert_ne!(a, token(&[1; 32], Purpose::Reset, id));
        assert_ne!(
            a,
            token(&[1; 32], Purpose::Invitation, uuid::Uuid::from_u128(8))
        );
        assert_ne!(hash(&a), hash(&token(&[1; 32], Purpose::Reset, id)));
        assert!(!well_formed(""));
        assert!(!well_formed(&format!("{a}A")));
        assert!(!well_formed(&a.replacen(
            |c: char| c.is_alphanumeric(),
            "+",
            1
        )));
        assert!(!well_formed(&"\0".repeat(TOKEN_CHARS)));
        assert_eq!(
            url("https://campus.example", Purpose::Reset, "t"),
            "https://campus.example/account/reset#token=t"
        );
    }
}
