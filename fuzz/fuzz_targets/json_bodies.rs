//! Every JSON request body type, decoded as the handlers decode it
//! (`handlers::fuzz_decode_body`: `json_body` with sonic-rs after the NUL check, then the
//! scope check; for the eighteen campus writes, the handler's own strict reader over
//! `handlers::fields`: duplicate members, dates, numbers, nested records, the capped list of
//! bad fields). The first byte picks the type, the rest is the body.
//!
//! Checks: a refusal is 422 (never a 500 or a panic); a body the server accepts is JSON to an
//! independent parser (serde_json), members it skips included, and holds no NUL character in
//! any string, key or value (PostgreSQL cannot store one in text, and the NUL check is the
//! only guard).
#![no_main]

use campushub::handlers::{fuzz_decode_body, FUZZ_BODY_KINDS};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let [kind, body @ ..] = data else { return };
    match fuzz_decode_body(*kind, body) {
        Err(e) => assert_eq!(e.status(), 422, "kind {}: {e:?}", kind % FUZZ_BODY_KINDS),
        Ok(()) => {
            // The grammar (IgnoredAny: RFC 8259 lets a lone surrogate through, Value not).
            match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => {}
                // Its own nesting limit (128) is not a disagreement.
                Err(e) if e.to_string().contains("recursion limit") => return,
                Err(e) => panic!("the server accepted what serde_json refuses: {e}"),
            }
            if let Ok(v) = serde_json::from_slice::<Value>(body) {
                assert!(!has_nul(&v), "a NUL got through: {v:?}");
            }
        }
    }
});

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
