//! Demo and load-test data: a deterministic campus (`--seed N` gives the same ids every time).
//!
//! Today it builds the institution and its departments; each data issue extends it with the
//! tables it adds.

use std::fmt;
use std::time::Instant;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};
use uuid::Uuid;

/// What to build.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Seed for every generated id and value.
    pub seed: u64,
    /// Wipe the campus tables first.
    pub reset: bool,
}

/// Why seeding stopped.
#[derive(Debug)]
pub enum SeedError {
    /// The database already holds campus data and `--reset` was not given.
    NotEmpty(i64),
    /// PostgreSQL refused something.
    Db(String),
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedError::NotEmpty(n) => write!(
                f,
                "the database already holds {n} orgs; pass --reset to replace them"
            ),
            SeedError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SeedError {}

impl From<tokio_postgres::Error> for SeedError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SeedError::Db(format!("{}: {}", db.code().code(), db.message())),
            None => SeedError::Db(e.to_string()),
        }
    }
}

/// Rows written per table, and the time taken.
#[derive(Debug, Default)]
pub struct SeedSummary {
    /// (table, rows).
    pub tables: Vec<(&'static str, u64)>,
    /// Wall time.
    pub seconds: f64,
}

/// The departments of the demo university: (identifier, name).
pub const DEPARTMENTS: &[(&str, &str)] = &[
    ("ACC", "Accounting and Finance"),
    ("AERO", "Aerospace Engineering"),
    ("ARCH", "Architecture"),
    ("BIO", "Biological Sciences"),
    ("BME", "Biomedical Engineering"),
    ("CHEM", "Chemistry"),
    ("CHE", "Chemical Engineering"),
    ("CIV", "Civil Engineering"),
    ("CSE", "Computer Science and Engineering"),
    ("ECO", "Economics"),
    ("EDU", "Education"),
    ("EEE", "Electrical and Electronic Engineering"),
    ("ENG", "English Literature"),
    ("ENV", "Environmental Science"),
    ("HIS", "History"),
    ("LAW", "Law"),
    ("MATH", "Mathematics"),
    ("MECH", "Mechanical Engineering"),
    ("MED", "Medicine"),
    ("MGT", "Management Studies"),
    ("MUS", "Music"),
    ("NUR", "Nursing"),
    ("PHIL", "Philosophy"),
    ("PHY", "Physics"),
    ("POL", "Political Science"),
    ("PSY", "Psychology"),
    ("SOC", "Sociology"),
    ("STAT", "Statistics"),
];

/// Identifier of the demo institution.
pub const INSTITUTION: (&str, &str) = ("CDU", "Campushub Demo University");

/// A stable public id for `(seed, kind, key)`: the same inputs always give the same UUID (v4
/// layout), so demo ids in docs and benchmarks survive a re-seed.
pub fn stable_id(seed: u64, kind: &str, key: &str) -> Uuid {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let mut h2: u64 = 0x8422_2325_cbf2_9ce4 ^ seed.rotate_left(32);
    for b in kind.bytes().chain([0u8]).chain(key.bytes()) {
        h1 = (h1 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        h2 = (h2 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x9e37);
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&h1.to_be_bytes());
    bytes[8..].copy_from_slice(&h2.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

async fn count_orgs(client: &Client) -> Result<i64, SeedError> {
    for m in client.simple_query("SELECT count(*) FROM orgs").await? {
        if let SimpleQueryMessage::Row(r) = m {
            return Ok(r.get(0).and_then(|v| v.parse().ok()).unwrap_or(0));
        }
    }
    Ok(0)
}

/// Whether the campus tables are empty.
pub async fn is_empty(client: &Client) -> Result<bool, SeedError> {
    Ok(count_orgs(client).await? == 0)
}

/// Builds the campus. Refuses a non-empty database unless `reset` is set.
pub async fn run(client: &Client, opts: &SeedOptions) -> Result<SeedSummary, SeedError> {
    let started = Instant::now();
    let existing = count_orgs(client).await?;
    if existing > 0 && !opts.reset {
        return Err(SeedError::NotEmpty(existing));
    }
    client.batch_execute("BEGIN").await?;
    let result = fill(client, opts).await;
    match result {
        Ok(tables) => {
            client.batch_execute("COMMIT").await?;
            Ok(SeedSummary {
                tables,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn fill(client: &Client, opts: &SeedOptions) -> Result<Vec<(&'static str, u64)>, SeedError> {
    if opts.reset {
        client
            .batch_execute(
                "TRUNCATE orgs, users, roles, permissions, api_keys, audit_events RESTART IDENTITY CASCADE",
            )
            .await?;
    }
    let inst = stable_id(opts.seed, "org", INSTITUTION.0);
    client
        .query_typed(
            "INSERT INTO orgs (sourced_id, name, type, identifier) VALUES ($1, $2, 'institution', $3)",
            &[
                (&inst, Type::UUID),
                (&INSTITUTION.1, Type::TEXT),
                (&INSTITUTION.0, Type::TEXT),
            ],
        )
        .await?;
    let ids: Vec<Uuid> = DEPARTMENTS
        .iter()
        .map(|(code, _)| stable_id(opts.seed, "org", code))
        .collect();
    let codes: Vec<&str> = DEPARTMENTS.iter().map(|(c, _)| *c).collect();
    let names: Vec<&str> = DEPARTMENTS.iter().map(|(_, n)| *n).collect();
    client
        .query_typed(
            "INSERT INTO orgs (sourced_id, name, type, identifier, parent_id) \
             SELECT u.id, u.name, 'department', u.code, (SELECT id FROM orgs WHERE sourced_id = $4) \
             FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, name, code)",
            &[
                (&ids, Type::UUID_ARRAY),
                (&names, Type::TEXT_ARRAY),
                (&codes, Type::TEXT_ARRAY),
                (&inst, Type::UUID),
            ],
        )
        .await?;
    Ok(vec![("orgs", 1 + DEPARTMENTS.len() as u64)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        assert_eq!(stable_id(1, "org", "CSE"), stable_id(1, "org", "CSE"));
        assert_ne!(stable_id(1, "org", "CSE"), stable_id(2, "org", "CSE"));
        assert_ne!(stable_id(1, "org", "CSE"), stable_id(1, "org", "EEE"));
        assert_eq!(stable_id(1, "org", "CSE").get_version_num(), 4);
    }
}
