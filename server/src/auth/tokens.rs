//! Access tokens: HS256 JWTs with keys addressed by `kid` (several accepted, one signing, so
//! keys rotate without logging anyone out), the algorithm pinned per key, `iss`, `aud`, `exp`,
//! `nbf` and the `typ` header checked with at most 30 s of leeway. Each shard keeps a bounded
//! cache of verified tokens until they expire, so a hot token costs a hash lookup.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use campushub_cache::LocalCache;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Issuer and audience of every token this server makes.
pub const ISSUER: &str = "campushub";
/// The API audience.
pub const AUDIENCE: &str = "campushub-api";
/// Header `typ` of access tokens (RFC 9068).
pub const TYP: &str = "at+jwt";
/// Header `typ` of MFA challenges: a password was right, a one-time code is still owed.
pub const MFA_TYP: &str = "mfa+jwt";
/// Audience of MFA challenges (never accepted as an access token, and the reverse).
pub const MFA_AUDIENCE: &str = "campushub-mfa";
/// How long an MFA challenge lasts.
pub const MFA_TTL: Duration = Duration::from_secs(300);

/// What a token is for: access to the API, or finishing an MFA log-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An access token.
    Access,
    /// An MFA challenge.
    MfaChallenge,
}

impl Kind {
    fn typ_aud(self) -> (&'static str, &'static str) {
        match self {
            Kind::Access => (TYP, AUDIENCE),
            Kind::MfaChallenge => (MFA_TYP, MFA_AUDIENCE),
        }
    }
}

/// Clock skew tolerated.
pub const LEEWAY_S: u64 = 30;

/// One HS256 key.
#[derive(Clone)]
pub struct Key {
    /// Key id (`kid` header).
    pub kid: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, [redacted])", self.kid)
    }
}

/// The accepted keys and the one that signs.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Key>,
    signing: usize,
}

impl KeySet {
    /// Parses `kid=base64secret[,kid=base64secret...]`; `signing` names the signing kid (the
    /// first one when `None`). Secrets must be at least 32 bytes.
    pub fn parse(spec: &str, signing: Option<&str>) -> Result<KeySet, String> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kid, b64) = part
                .split_once('=')
                .ok_or_else(|| "each key is kid=base64secret".to_string())?;
            let kid = kid.trim();
            if kid.is_empty()
                || kid.len() > 64
                || !kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "key id {kid:?} must be 1-64 letters, digits, - or _"
                ));
            }
            let secret = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64.trim()))
                .map_err(|_| format!("key {kid}: the secret is not base64"))?;
            if secret.len() < 32 {
                return Err(format!("key {kid}: the secret must be at least 32 bytes"));
            }
            if keys.iter().any(|k: &Key| k.kid == kid) {
                return Err(format!("key id {kid} appears twice"));
            }
            keys.push(Key {
                kid: kid.to_string(),
                secret,
            });
        }
        if keys.is_empty() {
            return Err("no keys".into());
        }
        let signing = match signing {
            Some(s) => keys
                .iter()
                .position(|k| k.kid == s)
                .ok_or_else(|| format!("signing key {s:?} is not among the keys"))?,
            None => 0,
        };
        Ok(KeySet { keys, signing })
    }

    /// A single random key, for a server started without configured keys (tokens then do not
    /// survive a restart and are not accepted by other instances).
    pub fn ephemeral() -> KeySet {
        let mut secret = Vec::with_capacity(32);
        secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        KeySet {
            keys: vec![Key {
                kid: "ephemeral".into(),
                secret,
            }],
            signing: 0,
        }
    }

    /// The kids, signing one first (for `config check`).
    pub fn kids(&self) -> Vec<String> {
        let mut k: Vec<String> = vec![self.keys[self.signing].kid.clone()];
        k.extend(
            self.keys
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.signing)
                .map(|(_, k)| k.kid.clone()),
        );
        k
    }
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user's public id.
    pub sub: String,
    /// The user's row id (internal; saves a lookup).
    pub uid: i64,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires.
    pub exp: u64,
    /// Token id.
    pub jti: String,
    /// Issued at, in milliseconds (so a revocation in the same second as an issue is exact);
    /// tokens without it count from `iat`.
    #[serde(default)]
    pub iat_ms: u64,
}

impl Claims {
    /// When the token was issued, in milliseconds since the epoch.
    pub fn issued_ms(&self) -> u64 {
        if self.iat_ms > 0 {
            self.iat_ms
        } else {
            self.iat.saturating_mul(1000)
        }
    }
}

/// Why a token was refused (all answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, bad signature, wrong algorithm, wrong `typ`, unknown `kid`, wrong issuer or
    /// audience.
    Invalid,
    /// Past `exp` (or before `nbf`).
    Expired,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Signs an access token for a user.
pub fn issue(
    keys: &KeySet,
    user_id: i64,
    sourced_id: &str,
    ttl: Duration,
) -> Result<(String, Claims), String> {
    issue_kind(keys, Kind::Access, user_id, sourced_id, ttl)
}

/// Signs a token of `kind` for a user.
pub fn issue_kind(
    keys: &KeySet,
    kind: Kind,
    user_id: i64,
    sourced_id: &str,
    ttl: Duration,
) -> Result<(String, Claims), String> {
    let (typ, aud) = kind.typ_aud();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let now = now_ms / 1000;
    let claims = Claims {
        iss: ISSUER.into(),
        aud: aud.into(),
        sub: sourced_id.into(),
        uid: user_id,
        iat: now,
        nbf: now,
        exp: now + ttl.as_secs(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iat_ms: now_ms,
    };
    let key = &keys.keys[keys.signing];
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    header.typ = Some(typ.into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.secret))
        .map(|t| (t, claims))
        .map_err(|e| e.to_string())
}

/// Verifies an access token's header, signature and claims (no cache).
pub fn verify(keys: &KeySet, token: &str) -> Result<Claims, TokenError> {
    verify_kind(keys, Kind::Access, token)
}

/// Verifies a token of `kind`: header, signature and claims.
pub fn verify_kind(keys: &KeySet, kind: Kind, token: &str) -> Result<Claims, TokenError> {
    let (typ, aud) = kind.typ_aud();
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(typ) {
        return Err(TokenError::Invalid);
    }
    let kid = header.kid.ok_or(TokenError::Invalid)?;
    let key = keys
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(TokenError::Invalid)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_S;
    validation.validate_nbf = true;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[aud]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key.secret), &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
}

/// The shard's cache of verified tokens (claims shared, so a hit allocates nothing).
pub struct TokenCache {
    cache: LocalCache<Box<[u8]>, std::rc::Rc<Claims>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            cache: LocalCache::new(capacity),
        }
    }

    /// Verifies `token`, from the cache when it was verified before and has not expired.
    pub fn verify(
        &mut self,
        keys: &KeySet,
        token: &[u8],
    ) -> Result<std::rc::Rc<Claims>, TokenError> {
        let now = Instant::now();
        if let Some(c) = self.cache.get(token, now) {
            return Ok(std::rc::Rc::clone(c));
        }
        let text = std::str::from_utf8(token).map_err(|_| TokenError::Invalid)?;
        let claims = std::rc::Rc::new(verify(keys, text)?);
        let left = claims.exp.saturating_sub(now_s());
        if left > 0 {
            self.cache.insert(
                token.into(),
                std::rc::Rc::clone(&claims),
                now + Duration::from_secs(left),
            );
        }
        Ok(claims)
    }
}

impl campushub_cache::ShardCache for TokenCache {
    fn figures(&self) -> (usize, u64, u64) {
        self.cache.figures()
    }

    fn drop_all(&mut self) {
        self.cache.drop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeySet {
        KeySet::parse(
            "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,k2=ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
            Some("k2"),
        )
        .unwrap()
    }

    #[test]
    fn issued_tokens_verify_and_rotation_keeps_old_kids() {
        let ks = keys();
        let (t, c) = issue(&ks, 7, "abc", Duration::from_secs(900)).unwrap();
        assert_eq!(verify(&ks, &t).unwrap(), c);
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k2"));
        // After rotation (k1 signs, k2 still accepted) the old token still verifies.
        let rotated = KeySet::parse(
            "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,k2=ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
            Some("k1"),
        )
        .unwrap();
        assert_eq!(verify(&rotated, &t).unwrap().uid, 7);
        // Once k2 is retired, it does not.
        let retired =
            KeySet::parse("k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", None).unwrap();
        assert_eq!(verify(&retired, &t), Err(TokenError::Invalid));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let ks = keys();
        let (t, _) = issue(&ks, 7, "abc", Duration::from_secs(900)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        // alg: none
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"at+jwt","kid":"k2"}"#);
        assert_eq!(
            verify(&ks, &format!("{none_header}.{}.", parts[1])),
            Err(TokenError::Invalid)
        );
        // tampered payload
        let mut payload: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        payload["uid"] = 1.into();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
        assert_eq!(
            verify(&ks, &format!("{}.{forged}.{}", parts[0], parts[2])),
            Err(TokenError::Invalid)
        );
        assert_eq!(verify(&ks, "not.a.jwt"), Err(TokenError::Invalid));
        assert!(
            KeySet::parse("k=c2hvcnQ=", None).is_err(),
            "short secrets are refused"
        );
    }

    #[test]
    fn challenges_and_access_tokens_are_not_interchangeable() {
        let ks = keys();
        let (challenge, _) =
            issue_kind(&ks, Kind::MfaChallenge, 3, "u", Duration::from_secs(60)).unwrap();
        let (access, _) = issue(&ks, 3, "u", Duration::from_secs(60)).unwrap();
        assert_eq!(verify(&ks, &challenge), Err(TokenError::Invalid));
        assert_eq!(
            verify_kind(&ks, Kind::MfaChallenge, &access),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify_kind(&ks, Kind::MfaChallenge, &challenge)
                .unwrap()
                .uid,
            3
        );
    }

    #[test]
    fn the_cache_returns_verified_claims() {
        let ks = keys();
        let (t, c) = issue(&ks, 9, "x", Duration::from_secs(900)).unwrap();
        let mut cache = TokenCache::new(16);
        assert_eq!(*cache.verify(&ks, t.as_bytes()).unwrap(), c);
        use campushub_cache::ShardCache as _;
        assert_eq!(cache.figures(), (1, 0, 1));
        assert_eq!(*cache.verify(&ks, t.as_bytes()).unwrap(), c);
        assert_eq!(cache.figures(), (1, 1, 1));
        assert_eq!(cache.verify(&ks, b"garbage"), Err(TokenError::Invalid));
        assert_eq!(cache.verify(&ks, &[0xff, 0xfe]), Err(TokenError::Invalid));
    }
}
