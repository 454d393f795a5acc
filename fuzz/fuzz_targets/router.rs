//! The router: `route` on any UTF-8 path.
//!
//! Checks: the `{id}` parameter is a sub-slice of the path (the handlers rely on it pointing
//! into the request buffer), never empty and never holding a `/`; a route without a parameter
//! has none; a matched path is exactly its template with the parameter filled in (so the
//! metrics label names what was asked for); nothing else matches; a route answers some method
//! and its body limit never exceeds the configured default.
#![no_main]

use campushub::router::{route, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let m = route(path);
    let template = m.route.template();
    let (start, end) = (path.as_ptr() as usize, path.as_ptr() as usize + path.len());
    let p = m.param.as_ptr() as usize;
    if m.route == Route::NotFound {
        assert_eq!(m.param, "");
        assert_eq!(m.route.allow(), "");
        return;
    }
    assert!(m.route.max_body(1000) <= 1000);
    assert!(!m.route.allow().is_empty());
    match template.split_once('{') {
        Some((before, rest)) => {
            let after = &rest[rest.find('}').expect("template") + 1..];
            assert!(
                start <= p && p + m.param.len() <= end,
                "param outside the path"
            );
            assert!(!m.param.is_empty() && !m.param.contains('/'));
            assert_eq!(format!("{before}{}{after}", m.param), path);
        }
        None => {
            assert_eq!(m.param, "");
            assert_eq!(template, path);
        }
    }
});
