//! Access tokens as other software sees them: a token the server issues verifies with PyJWT (a
//! third-party implementation; python3 and PyJWT are required) and is refused by it under the wrong
//! key or audience; and key rotation end to end across three instances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::campus::status_as;
use common::{access_token, call, sql_one, TestServer};

/// Secrets of at least 32 bytes, as the server requires for HS256.
const SECRET_1: &[u8] = b"interop-secret-one-0123456789abcdef";
const SECRET_2: &[u8] = b"interop-secret-two-0123456789abcdef";

/// Verifies argv[1] (a token) with PyJWT under key argv[2] (base64) for audience argv[3],
/// and prints its subject. Every claim the server promises is required; the header is read
/// unverified first, as a resource server picks the key by `kid`.
const PYJWT_VERIFY: &str = r#"
import base64, sys, jwt
token, key, audience = sys.argv[1], base64.b64decode(sys.argv[2]), sys.argv[3]
header = jwt.get_unverified_header(token)
if header.get("typ") != "at+jwt" or header.get("kid") != "t1":
    sys.exit("unexpected header: %r" % (header,))
claims = jwt.decode(token, key, algorithms=["HS256"], audience=audience, issuer="campushub",
                    options={"require": ["exp", "nbf", "iss", "aud", "sub"]})
print(claims["sub"])
"#;

/// Fails unless python3 with PyJWT can run the check: a missing tool is a failure, never a
/// skip (scripts/test installs both where they are missing).
fn require_pyjwt() {
    match Command::new("python3").args(["-c", "import jwt"]).output() {
        Err(e) => panic!(
            "python3 is needed for the PyJWT interop check and could not run ({e}): install \
             python3 and PyJWT (`python3 -m pip install 'PyJWT>=2.8'`), or run scripts/test"
        ),
        Ok(out) => assert!(
            out.status.success(),
            "python3 cannot import jwt: install PyJWT with `python3 -m pip install 'PyJWT>=2.8'` \
             (scripts/test does this when it is missing): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn pyjwt_verify(token: &str, secret: &[u8], audience: &str) -> Output {
    Command::new("python3")
        .args([
            "-c",
            PYJWT_VERIFY,
            token,
            &STANDARD.encode(secret),
            audience,
        ])
        .output()
        .expect("run python3")
}

/// The token's header, decoded without verification.
fn header(token: &str) -> serde_json::Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

#[test]
fn tokens_verify_with_pyjwt() {
    require_pyjwt();
    let keys = format!("t1={}", STANDARD.encode(SECRET_1));
    let server = TestServer::spawn(&[("CAMPUSHUB_JWT_KEYS", &keys)]);
    let token = access_token(&server, "student1");
    let student = sql_one("SELECT sourced_id FROM users WHERE username = 'student1'");

    let ok = pyjwt_verify(&token, SECRET_1, "campushub-api");
    assert!(
        ok.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), student);

    let wrong_key = pyjwt_verify(&token, SECRET_2, "campushub-api");
    assert!(!wrong_key.status.success(), "accepted under another key");
    assert!(
        String::from_utf8_lossy(&wrong_key.stderr).contains("InvalidSignatureError"),
        "{}",
        String::from_utf8_lossy(&wrong_key.stderr)
    );
    let wrong_audience = pyjwt_verify(&token, SECRET_1, "campushub-mfa");
    assert!(
        !wrong_audience.status.success(),
        "accepted for another audience"
    );
    assert!(
        String::from_utf8_lossy(&wrong_audience.stderr).contains("InvalidAudienceError"),
        "{}",
        String::from_utf8_lossy(&wrong_audience.stderr)
    );
}

#[test]
fn rotated_keys_keep_old_tokens_until_their_key_is_retired() {
    let (k1, k2) = (STANDARD.encode(SECRET_1), STANDARD.encode(SECRET_2));
    let only_k1 = format!("k1={k1}");
    let both = format!("k2={k2},k1={k1}");
    let only_k2 = format!("k2={k2}");
    // Before rotation: k1 signs.
    let a = TestServer::spawn(&[
        ("CAMPUSHUB_JWT_KEYS", &only_k1),
        ("CAMPUSHUB_JWT_SIGNING_KID", "k1"),
    ]);
    // During: k2 signs, k1 is still accepted.
    let b = TestServer::spawn(&[
        ("CAMPUSHUB_JWT_KEYS", &both),
        ("CAMPUSHUB_JWT_SIGNING_KID", "k2"),
    ]);
    // After: k1 is retired.
    let c = TestServer::spawn(&[
        ("CAMPUSHUB_JWT_KEYS", &only_k2),
        ("CAMPUSHUB_JWT_SIGNING_KID", "k2"),
    ]);

    let old = access_token(&a, "student1");
    assert_eq!(header(&old)["kid"], "k1");
    let me = call(&b, "GET", "/api/v1/me", Some(&old), None);
    assert_eq!(
        me.status,
        200,
        "B refused A's token: {}",
        String::from_utf8_lossy(&me.body)
    );
    assert_eq!(me.json()["username"], "student1");

    let new = access_token(&b, "student1");
    assert_eq!(header(&new)["kid"], "k2");
    assert_eq!(status_as(&a, "GET", "/api/v1/me", &new), 401);

    let r = call(&c, "GET", "/api/v1/me", Some(&old), None);
    assert_eq!(r.status, 401, "a token of a retired key is refused");
    assert_eq!(r.json()["type"], "/problems/unauthenticated");
    let r = call(&c, "GET", "/api/v1/me", Some(&new), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["username"], "student1");
}
