//! What each job kind does. A kind is a name in `jobs.kind` and an arm of [`run`]; its payload
//! is read strictly (an unreadable payload is a permanent failure: retrying cannot mend it).
//! A new kind of background work goes here, with the SQL function that enqueues it (in the
//! transaction of the change that causes it) in a migration.

use std::time::Duration;

use campushub_db::queries::accounts::Purpose;
use serde::Deserialize;

use super::mail::{self, Outgoing};
use super::notices;
use super::queue::{self, Claimed};
use super::reports;
use super::send::{deliver, payload, retry_on, Tools};
use crate::auth::links;

/// Every kind a worker runs (its figures show even when the queue holds none).
pub const KINDS: &[&str] = &[
    "noop",
    "auth.password_reset",
    "email.invitation",
    "email.password_reset",
    "notify.session",
    "notify.absence",
    "notify.results",
    "email.absence",
    "email.results",
    "report.render",
];

pub use super::send::Outcome;

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
        to: match mail::mailbox(&m.given_name, &m.family_name, &address) {
            Ok(to) => to,
            Err(e) => return Outcome::Permanent(e),
        },
        subject: subject.into(),
        text,
        html,
        id: job.sourced_id.to_string(),
        unsubscribe: None,
    };
    deliver(tools, mailer, message, m.person, &address).await
}

/// Runs `job`.
pub async fn run(tools: &Tools, job: &Claimed) -> Outcome {
    match job.kind.as_str() {
        "noop" => noop(job).await,
        "auth.password_reset" => password_reset(tools, job).await,
        "email.invitation" => link_email(tools, job, Purpose::Invitation).await,
        "email.password_reset" => link_email(tools, job, Purpose::Reset).await,
        "notify.session" => notices::session_fanout(tools, job).await,
        "notify.absence" => notices::absence_fanout(tools, job).await,
        "notify.results" => notices::results_fanout(tools, job).await,
        "email.absence" => notices::absence_email(tools, job).await,
        "email.results" => notices::results_email(tools, job).await,
        "report.render" => reports::render(tools, job).await,
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
