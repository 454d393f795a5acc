//! The pages the links in campushub's messages open: `/account/invitation` (set a first
//! password), `/account/reset` (set a new one) and `/account/unsubscribe` (stop one kind of
//! notice), with their script and stylesheet. Small,
//! accessible HTML forms, compiled into the binary: no third-party script, style or font, and
//! a policy (`PAGE_CSP`) that lets the page load only those two files from this server and
//! send only to its own API. The token stays in the URL's fragment, which the browser never
//! sends; the script moves it into the request body and out of the address bar.

use std::sync::OnceLock;

use super::Request;
use crate::api_error::ApiError;
use crate::http::response::{CSS, HTML, JAVASCRIPT};
use crate::http::Response;
use crate::shard::Shard;

/// Only this server's script and stylesheet, only its API, no frames, no forms elsewhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const TEMPLATE: &str = include_str!("../../assets/account/page.html");
const UNSUBSCRIBE: &[u8] = include_bytes!("../../assets/account/unsubscribe.html");
const SCRIPT: &[u8] = include_bytes!("../../assets/account/account.js");
const STYLE: &[u8] = include_bytes!("../../assets/account/account.css");

/// One page: its title, first paragraph, button and purpose.
fn render(title: &str, intro: &str, button: &str, purpose: &str) -> Vec<u8> {
    TEMPLATE
        .replace("{{TITLE}}", title)
        .replace("{{INTRO}}", intro)
        .replace("{{BUTTON}}", button)
        .replace("{{PURPOSE}}", purpose)
        .into_bytes()
}

fn page(body: &'static [u8]) -> Response {
    Response::static_file(HTML, body)
        .with_header("Content-Security-Policy", PAGE_CSP)
        // The page is the same for everyone, but what the browser keeps of it should not be.
        .with_header("Cache-Control", "no-store")
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    Response::static_file(content_type, body).with_header("Cache-Control", "public, max-age=300")
}

/// `GET /account/invitation`: set a first password from an invitation.
pub async fn invitation(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    static PAGE: OnceLock<Vec<u8>> = OnceLock::new();
    let body = PAGE.get_or_init(|| {
        render(
            "Set your password",
            "Welcome to campushub. Choose the password you will log in with.",
            "Set my password",
            "invitation",
        )
    });
    Ok(page(body))
}

/// `GET /account/reset`: set a new password from a reset link.
pub async fn reset(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    static PAGE: OnceLock<Vec<u8>> = OnceLock::new();
    let body = PAGE.get_or_init(|| {
        render(
            "Choose a new password",
            "Choose a new password for your campushub account. Every device signed in to it will be signed out.",
            "Set my new password",
            "reset",
        )
    });
    Ok(page(body))
}

/// `GET /account/unsubscribe`: stop one kind of notice, from the link at the end of one.
pub async fn unsubscribe(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    Ok(page(UNSUBSCRIBE))
}

/// `GET /account/account.js`.
pub async fn script(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    Ok(asset(JAVASCRIPT, SCRIPT))
}

/// `GET /account/account.css`.
pub async fn style(_shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    Ok(asset(CSS, STYLE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_fill_every_slot_and_load_nothing_from_elsewhere() {
        let page = String::from_utf8(super::render("T", "I", "B", "reset")).unwrap();
        assert!(!page.contains("{{"), "{page}");
        assert!(page.contains("data-purpose=\"reset\""));
        for line in page.lines() {
            assert!(!line.contains("http"), "{line}");
            assert!(
                !line.contains("<script>") && !line.contains("style="),
                "{line}"
            );
        }
    }
}
