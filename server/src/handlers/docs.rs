//! `/docs`: the API reference for people, rendered in the browser by Redoc from
//! `/openapi.json`. The renderer (`redoc.standalone.js`, npm's `redoc` package) is installed
//! by the scripts, never committed, and read once from `docs_dir` (CAMPUSHUB_DOCS_DIR) at
//! start-up; the page fetches nothing from anywhere else. A server without it answers 404.

use std::path::Path;
use std::sync::OnceLock;

use super::Request;
use crate::api_error::ApiError;
use crate::http::response::{HTML, JAVASCRIPT};
use crate::http::Response;
use crate::shard::Shard;

/// The renderer's file name, in `docs_dir` and under `/docs/`.
pub const BUNDLE: &str = "redoc.standalone.js";

static SCRIPT: OnceLock<Vec<u8>> = OnceLock::new();

/// Reads the renderer from `dir`, once per process, before the shards start.
pub fn load(dir: &Path) -> Result<(), String> {
    let path = dir.join(BUNDLE);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "CAMPUSHUB_DOCS_DIR: cannot read {} ({e}); scripts/up installs it",
            path.display()
        )
    })?;
    if bytes.is_empty() {
        return Err(format!("CAMPUSHUB_DOCS_DIR: {} is empty", path.display()));
    }
    let _ = SCRIPT.set(bytes);
    Ok(())
}

const PAGE: &[u8] = br#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>campushub API reference</title>
</head>
<body>
<redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// What `/docs` may load: scripts, styles and workers from this server (Redoc injects styles
/// and starts a worker from a blob) and `/openapi.json`; nothing from elsewhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'";

fn answer(content_type: &'static str, body: &'static [u8]) -> Response {
    Response::static_file(content_type, body).with_header("Cache-Control", "public, max-age=300")
}

/// `GET /docs`: the page; 404 when the renderer is not installed on this server.
pub async fn page(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    SCRIPT.get().ok_or(ApiError::NotFound)?;
    Ok(answer(HTML, PAGE).with_header("Content-Security-Policy", PAGE_CSP))
}

/// `GET /docs/redoc.standalone.js`: the renderer the page loads.
pub async fn script(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    let script = SCRIPT.get().ok_or(ApiError::NotFound)?;
    Ok(answer(JAVASCRIPT, script))
}
