//! What every kind that sends a message shares: the tools a job runs with, how a job ended,
//! and the delivery of one message with its consequences (a bounce recorded on the person).

use super::mail::{Mailer, Outgoing, SendError};
use serde::Deserialize;

use super::queue::{self, Claimed, Db};

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
    /// The reports' fonts (none: report jobs wait until the fonts are installed).
    pub fonts: Option<super::pdf::Fonts>,
}

/// Sends `message` to `address` (of person `person`): done; retried when the server is away or
/// refuses for now; dead when it refuses for good, the bounce recorded on the person (if that
/// write fails the job still ends dead with the server's answer, which operators see).
pub async fn deliver(
    tools: &Tools,
    mailer: &Mailer,
    message: Outgoing,
    person: uuid::Uuid,
    address: &str,
) -> Outcome {
    match mailer.send(message).await {
        Ok(()) => Outcome::Done,
        Err(SendError::Failed(e)) => Outcome::Retry(format!("smtp: {e}")),
        Err(SendError::Rejected(e)) => {
            let _ = queue::bounced(&tools.db, person, address, &e).await;
            Outcome::Permanent(format!("smtp refused {address}: {e}"))
        }
    }
}

/// A job's payload, read strictly: unreadable is permanent (no retry mends it).
pub fn payload<T: for<'de> Deserialize<'de>>(job: &Claimed) -> Result<T, Outcome> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| Outcome::Permanent(format!("{}: unreadable payload: {e}", job.kind)))
}

/// A database failure: it may pass, so the job is retried.
pub fn retry_on(e: queue::QueueError) -> Outcome {
    Outcome::Retry(format!("database: {e}"))
}
