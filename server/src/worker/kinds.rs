//! What each job kind does. A kind is a name in `jobs.kind` and an arm of [`run`]; its payload
//! is read strictly (an unreadable payload is a permanent failure: retrying cannot mend it).
//! A new kind of background work goes here, with the SQL function that enqueues it (in the
//! transaction of the change that causes it) in a migration.

use std::time::Duration;

use campushub_db::queries::accounts::Purpose;
use serde::Deserialize;

use super::mail::{self, Mailer, Outgoing, SendError};
use super::queue::{self, Claimed, Db};
use crate::auth::links;

/// Every kind a worker runs (its figures show even when the queue holds none).
pub const KINDS: &[&str] = &[
    "noop",
    "auth.password_reset",
    "email.invitation",
    "email.password_reset",
];

/// What the kinds use: the database, the SMTP client, the templates, the link key and where
/// links point.
pub struct Tools {
    /// The worker's database.
    pub db: Db,
    /// None: CAMPUSHUB_SMTP_URL is not set, and email jobs wait (retried) until it is.
    pub mailer: Option<Mailer>,
    /// The email templates.
    pub templates: minijinja::Environment<'static>,
    /// CAMPUSHUB_LINK_KEY (none: link jobs wait until it is set).
    pub link_key: Option<Vec<u8>>,
    /// CAMPUSHUB_PUBLIC_URL.
    pub public_url: String,
}

/// How a job ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Failed in a way that may pass (a server away, a timeout): retried after the backoff.
    Retry(String),
    /// Failed in a way no retry mends (a bad payload, an address that does not exist): dead.
    Permanent(String),
}

/// Longest a `noop` job may wait.
const NOOP_MAX_SLEEP_MS: u64 = 600_000;

/// `noop`: the diagnostic job. It waits `sleep_ms` (0 to 600,000), then succeeds, or fails
/// as `fail` says (`retry` or `permanent`): operators use it to check a worker end to end and
/// the dead-job path, and the queue's benchmark uses it to measure claims without work.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Noop {
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail: Option<String>,
}

async fn noop(job: &Claimed) -> Outcome {
    let p: Noop = match serde_json::from_value(job.payload.clone()) {
        Ok(p) => p,
        Err(e) => return Outcome::Permanent(format!("noop: unreadable payload: {e}")),
    };
    if p.sleep_ms > NOOP_MAX_SLEEP_MS {
        return Outcome::Permanent(format!(
            "noop: sleep_ms is at most {NOOP_MAX_SLEEP_MS}, not {}",
            p.sleep_ms
        ));
    }
    if p.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
    }
    match p.fail.as_deref() {
        None => Outcome::Done,
        Some("retry") => Outcome::Retry("noop: asked to fail (retry)".into()),
        Some("permanent") => Outcome::Permanent("noop: asked to fail (permanent)".into()),
        Some(other) => Outcome::Permanent(format!(
            "noop: fail is \"retry\" or \"permanent\", not {other:?}"
        )),
    }
}

/// A link's job: the link's public id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkJob {
    token: uuid::Uuid,
}

/// A reset asked for: the address as given and where the request came from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetJob {
    email: String,
    #[serde(default)]
    ip: Option<String>,
}

fn payload<T: for<'de> Deserialize<'de>>(job: &Claimed) -> Result<T, Outcome> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| Outcome::Permanent(format!("{}: unreadable payload: {e}", job.kind)))
}

fn retry_on(e: queue::QueueError) -> Outcome {
    Outcome::Retry(format!("database: {e}"))
}

/// `auth.password_reset`: looks the address up, and for an account that has it (and has not
/// had three links this hour) makes a 30-minute link and enqueues its message. Unknown
/// addresses end here, done: the request that asked was answered the same way.
async fn password_reset(tools: &Tools, job: &Claimed) -> Outcome {
    let p: ResetJob = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let Some(key) = tools.link_key.as_deref() else {
        return Outcome::Retry("no link key (CAMPUSHUB_LINK_KEY) on this worker".into());
    };
    let link = uuid::Uuid::new_v4();
    let token = links::token(key, Purpose::Reset, link);
    let ip = p.ip.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    match queue::issue_reset(
        &tools.db,
        &p.email,
        link,
        &links::hash(&token),
        links::RESET_TTL_S,
        ip.as_deref(),
        links::RESETS_PER_HOUR,
    )
    .await
    {
        Ok(_) => Outcome::Done,
        Err(e) => retry_on(e),
    }
}

/// `email.invitation` and `email.password_reset`: the link's message, unless the link was used,
/// replaced or ran out before it left (then nothing is sent, and the job is done).
async fn link_email(tools: &Tools, job: &Claimed, purpose: Purpose) -> Outcome {
    let p: LinkJob = match payload(job) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let Some(key) = tools.link_key.as_deref() else {
        return Outcome::Retry("no link key (CAMPUSHUB_LINK_KEY) on this worker".into());
    };
    let Some(mailer) = &tools.mailer else {
        return Outcome::Retry("no SMTP server (CAMPUSHUB_SMTP_URL) on this worker".into());
    };
    let found = match queue::link_mail(&tools.db, p.token).await {
        Ok(f) => f,
        Err(e) => return retry_on(e),
    };
    let Some(m) = found else {
        return Outcome::Permanent(format!("link {} no longer exists", p.token));
    };
    if m.purpose != purpose.as_str() {
        return Outcome::Permanent(format!(
            "link {} is not an {} link",
            p.token,
            purpose.as_str()
        ));
    }
    if m.state != "open" {
        return Outcome::Done;
    }
    let Some(address) = m.email.clone() else {
        return Outcome::Permanent("the person has no email address".into());
    };
    if m.bounced {
        return Outcome::Permanent(format!(
            "{address} bounced before; not sent again until the address changes"
        ));
    }
    let to = match format!("{} {} <{address}>", m.given_name, m.family_name)
        .parse()
        .or_else(|_| address.parse())
    {
        Ok(to) => to,
        Err(e) => return Outcome::Permanent(format!("{address:?} is not an address: {e}")),
    };
    let token = links::token(key, purpose, p.token);
    let (template, subject) = match purpose {
        Purpose::Invitation => ("invitation", "Your campushub account: choose your password"),
        Purpose::Reset => ("password_reset", "Reset your campushub password"),
    };
    let values = serde_json::json!({
        "given_name": m.given_name,
        "family_name": m.family_name,
        "username": m.username,
        "link": links::url(&tools.public_url, purpose, &token),
        "expires": m.expires,
    });
    let (text, html) = match mail::render(&tools.templates, template, subject, &values) {
        Ok(b) => b,
        Err(e) => return Outcome::Permanent(e),
    };
    let message = Outgoing {
        to,
        subject: subject.into(),
        text,
        html,
        id: job.sourced_id.to_string(),
    };
    match mailer.send(message).await {
        Ok(()) => Outcome::Done,
        Err(SendError::Failed(e)) => Outcome::Retry(format!("smtp: {e}")),
        Err(SendError::Rejected(e)) => {
            // Recorded on the person; if that write fails the job still ends dead with the
            // server's answer, which operators see.
            let _ = queue::bounced(&tools.db, m.person, &address, &e).await;
            Outcome::Permanent(format!("smtp refused {address}: {e}"))
        }
    }
}

/// Runs `job`.
pub async fn run(tools: &Tools, job: &Claimed) -> Outcome {
    match job.kind.as_str() {
        "noop" => noop(job).await,
        "auth.password_reset" => password_reset(tools, job).await,
        "email.invitation" => link_email(tools, job, Purpose::Invitation).await,
        "email.password_reset" => link_email(tools, job, Purpose::Reset).await,
        other => Outcome::Permanent(format!("no worker knows the job kind {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: &str, payload: serde_json::Value) -> Claimed {
        Claimed {
            id: 1,
            sourced_id: uuid::Uuid::nil(),
            kind: kind.into(),
            payload,
            attempt: 1,
        }
    }

    #[test]
    fn noop_and_unreadable_payloads() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                noop(&job("noop", serde_json::json!({}))).await,
                Outcome::Done
            );
            assert!(matches!(
                noop(&job("noop", serde_json::json!({"fail": "retry"}))).await,
                Outcome::Retry(_)
            ));
            assert!(matches!(
                noop(&job("noop", serde_json::json!({"fail": "permanent"}))).await,
                Outcome::Permanent(_)
            ));
            assert!(matches!(
                noop(&job("noop", serde_json::json!({"sleep_ms": 700_000}))).await,
                Outcome::Permanent(_)
            ));
            assert!(matches!(
                noop(&job("noop", serde_json::json!({"extra": 1}))).await,
                Outcome::Permanent(_)
            ));
            assert!(matches!(
                payload::<LinkJob>(&job("email.invitation", serde_json::json!({"token": "x"}))),
                Err(Outcome::Permanent(_))
            ));
        });
    }
}
