//! Email: messages rendered from the templates kept in `server/templates/email/` (minijinja;
//! the HTML ones escape what they insert) and sent through the SMTP server of
//! `CAMPUSHUB_SMTP_URL` with lettre: STARTTLS required (or TLS from the first byte for
//! `smtps://`), AUTH when the URL names a user, a pool of connections kept open between jobs.
//!
//! Each message is multipart/alternative (text, then HTML), carries a `Message-ID` derived from
//! its job (a retried send is recognisable as the same message) and a `Date`. The server's
//! answer decides what happens next: a 5xx is permanent (the address does not exist: a
//! bounce), anything else (4xx, a refused connection, a timeout) is tried again later.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::Environment;

use crate::config::SmtpConfig;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../templates/email/layout.html"),
    ),
    (
        "invitation.html",
        include_str!("../../templates/email/invitation.html"),
    ),
    (
        "invitation.txt",
        include_str!("../../templates/email/invitation.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/email/password_reset.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/email/password_reset.txt"),
    ),
    (
        "absence.html",
        include_str!("../../templates/email/absence.html"),
    ),
    (
        "absence.txt",
        include_str!("../../templates/email/absence.txt"),
    ),
    (
        "results.html",
        include_str!("../../templates/email/results.html"),
    ),
    (
        "results.txt",
        include_str!("../../templates/email/results.txt"),
    ),
];

/// The templates, parsed once.
pub fn templates() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| format!("email template {name}: {e}"))?;
    }
    Ok(env)
}

/// A message's text and HTML bodies, from the templates `{name}.txt` and `{name}.html`.
pub fn render(
    env: &Environment<'_>,
    name: &str,
    subject: &str,
    values: &serde_json::Value,
) -> Result<(String, String), String> {
    let mut ctx = values.clone();
    if let Some(map) = ctx.as_object_mut() {
        map.insert("subject".into(), subject.into());
    }
    let one = |ext: &str| -> Result<String, String> {
        let file = format!("{name}.{ext}");
        env.get_template(&file)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| format!("email template {file}: {e}"))
    };
    Ok((one("txt")?, one("html")?))
}

/// The recipient `given family <address>`, or the bare address when the names do not fit a
/// mailbox.
pub fn mailbox(given: &str, family: &str, address: &str) -> Result<Mailbox, String> {
    let address: lettre::Address = address
        .parse()
        .map_err(|e| format!("{address:?} is not an address: {e}"))?;
    Ok(Mailbox::new(Some(format!("{given} {family}")), address))
}

/// One message to send.
#[derive(Debug)]
pub struct Outgoing {
    /// The recipient.
    pub to: Mailbox,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// The local part of the Message-ID (the job's public id): `<{id}@{sender's domain}>`.
    pub id: String,
    /// The one-click unsubscribe address (RFC 8058), for messages a person can opt out of.
    pub unsubscribe: Option<String>,
}

/// Why a message did not leave.
#[derive(Debug, PartialEq)]
pub enum SendError {
    /// The server refused it for good (5xx): for one recipient, their address.
    Rejected(String),
    /// It may pass later: the server away, slow, or refusing for now (4xx).
    Failed(String),
}

/// The SMTP client of one worker.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A client for the server of `cfg` (nothing is sent until the first message).
    pub fn new(cfg: &SmtpConfig, concurrency: u32) -> Result<Mailer, String> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("CAMPUSHUB_SMTP_FROM: {e}"))?;
        let mut tls = TlsParameters::builder(cfg.host.clone());
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("CAMPUSHUB_SMTP_CA: {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("CAMPUSHUB_SMTP_CA: {}: {e}", ca.display()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build()
            .map_err(|e| format!("CAMPUSHUB_SMTP_URL: TLS for {}: {e}", cfg.host))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .tls(if cfg.implicit_tls {
                Tls::Wrapper(tls)
            } else {
                Tls::Required(tls)
            })
            .timeout(Some(cfg.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(concurrency.max(1))
                    .idle_timeout(Duration::from_secs(60)),
            );
        if let Some((user, password)) = &cfg.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// The domain of the sender's address (Message-IDs end with it).
    fn domain(&self) -> &str {
        self.from.email.domain()
    }

    /// Builds and sends `m`.
    pub async fn send(&self, m: Outgoing) -> Result<(), SendError> {
        let mut builder = Message::builder();
        if let Some(url) = &m.unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let message = builder
            .from(self.from.clone())
            .to(m.to)
            .subject(m.subject)
            .message_id(Some(format!("<{}@{}>", m.id, self.domain())))
            .date_now()
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(m.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(m.html),
                    ),
            )
            .map_err(|e| SendError::Rejected(format!("the message could not be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Rejected(e.to_string())),
            Err(e) => Err(SendError::Failed(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_escape_what_they_insert() {
        let env = templates().unwrap();
        let values = serde_json::json!({
            "given_name": "<Ada>", "username": "ada", "link": "http://x/account/invitation#token=t",
            "expires": "9 Dec 2026 12:00 UTC",
        });
        let (text, html) = render(&env, "invitation", "Your account", &values).unwrap();
        assert!(text.contains("Hello <Ada>,"), "{text}");
        assert!(html.contains("Hello &lt;Ada&gt;,"), "{html}");
        assert!(html.contains("<title>Your account</title>"), "{html}");
        assert!(text.contains("#token=t") && html.contains("#token=t"));
        let (text, _) = render(&env, "password_reset", "Reset", &values).unwrap();
        assert!(text.contains("30 minutes"), "{text}");
        assert!(render(&env, "nope", "x", &values).is_err());
    }
}
