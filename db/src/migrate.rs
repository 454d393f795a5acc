//! Schema migrations: plain SQL files in `db/migrations/`, compiled into the binary, applied
//! in order, each in its own transaction, recorded with a checksum.
//!
//! Only the simple query protocol is used, so migrations also run through PgBouncer in
//! transaction mode. A transaction-level advisory lock serialises concurrent `migrate` runs.

use std::fmt;

use tokio_postgres::Client;

/// One migration compiled into the binary.
#[derive(Debug)]
pub struct Migration {
    /// Order and identity (from the file name prefix).
    pub version: i32,
    /// File name without the prefix, for people.
    pub name: &'static str,
    /// The SQL itself.
    pub sql: &'static str,
}

/// Every migration, in order. Add new files at the end; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "orgs",
        sql: include_str!("../migrations/0001_orgs.sql"),
    },
    Migration {
        version: 2,
        name: "campus",
        sql: include_str!("../migrations/0002_campus.sql"),
    },
    Migration {
        version: 3,
        name: "audit_chain",
        sql: include_str!("../migrations/0003_audit_chain.sql"),
    },
    Migration {
        version: 4,
        name: "authz_changes",
        sql: include_str!("../migrations/0004_authz_changes.sql"),
    },
    Migration {
        version: 5,
        name: "api_keys",
        sql: include_str!("../migrations/0005_api_keys.sql"),
    },
    Migration {
        version: 6,
        name: "security",
        sql: include_str!("../migrations/0006_security.sql"),
    },
    Migration {
        version: 7,
        name: "builtin_roles",
        sql: include_str!("../migrations/0007_builtin_roles.sql"),
    },
    Migration {
        version: 8,
        name: "campus_api",
        sql: include_str!("../migrations/0008_campus_api.sql"),
    },
    Migration {
        version: 9,
        name: "attendance_registers",
        sql: include_str!("../migrations/0009_attendance_registers.sql"),
    },
    Migration {
        version: 10,
        name: "audit_chain_head",
        sql: include_str!("../migrations/0010_audit_chain_head.sql"),
    },
    Migration {
        version: 11,
        name: "registers_wait_for_partition_moves",
        sql: include_str!("../migrations/0011_registers_wait_for_partition_moves.sql"),
    },
    Migration {
        version: 12,
        name: "write_conflicts",
        sql: include_str!("../migrations/0012_write_conflicts.sql"),
    },
    Migration {
        version: 13,
        name: "admin_create",
        sql: include_str!("../migrations/0013_admin_create.sql"),
    },
    Migration {
        version: 14,
        name: "security_review",
        sql: include_str!("../migrations/0014_security_review.sql"),
    },
    Migration {
        version: 15,
        name: "jobs",
        sql: include_str!("../migrations/0015_jobs.sql"),
    },
    Migration {
        version: 16,
        name: "accounts",
        sql: include_str!("../migrations/0016_accounts.sql"),
    },
    Migration {
        version: 17,
        name: "notifications",
        sql: include_str!("../migrations/0017_notifications.sql"),
    },
    Migration {
        version: 18,
        name: "reports",
        sql: include_str!("../migrations/0018_reports.sql"),
    },
    Migration {
        version: 19,
        name: "school_year",
        sql: include_str!("../migrations/0019_school_year.sql"),
    },
];

/// Arbitrary constant identifying campushub's migration lock.
const LOCK_KEY: i64 = 0x6361_6d70_7573;

/// Why migrating stopped.
#[derive(Debug)]
pub enum MigrateError {
    /// An applied migration's SQL changed since it was applied.
    Edited {
        /// Version number.
        version: i32,
        /// Name.
        name: &'static str,
        /// Checksum recorded when applied.
        recorded: String,
        /// Checksum of the SQL in this binary.
        current: String,
    },
    /// The database has a migration this binary does not know (a newer binary ran).
    Unknown(i32),
    /// PostgreSQL refused something.
    Db(String),
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrateError::Edited { version, name, recorded, current } => write!(
                f,
                "migration {version:04}_{name} was edited after it was applied (recorded checksum {recorded}, now {current}); add a new migration instead"
            ),
            MigrateError::Unknown(v) => write!(
                f,
                "the database has migration {v:04}, which this binary does not know; run a newer campushub"
            ),
            MigrateError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MigrateError {}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(crate::simple::describe(&e))
    }
}

/// FNV-1a 64-bit over the SQL text: detects edits, not tampering (the audit chain does that).
pub fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Applied or pending, as `migrate --status` shows it.
#[derive(Debug)]
pub struct MigrationStatus {
    /// Version number.
    pub version: i32,
    /// Name.
    pub name: &'static str,
    /// When it was applied (RFC 3339), if it was.
    pub applied_at: Option<String>,
    /// Whether the recorded checksum matches the SQL in this binary.
    pub checksum_ok: bool,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

async fn applied(client: &Client) -> Result<Vec<(i32, String, String)>, MigrateError> {
    let rows = crate::simple::rows(
        client,
        "SELECT version, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
         FROM schema_migrations ORDER BY version",
    )
    .await?;
    rows.into_iter()
        .map(|mut r| {
            let text = |r: &mut Vec<Option<String>>, i: usize| r.get_mut(i).and_then(Option::take);
            let version = text(&mut r, 0)
                .and_then(|v| v.parse::<i32>().ok())
                .ok_or_else(|| MigrateError::Db("bad schema_migrations row".into()))?;
            Ok((
                version,
                text(&mut r, 1).unwrap_or_default(),
                text(&mut r, 2).unwrap_or_default(),
            ))
        })
        .collect()
}

/// Applied and pending migrations.
pub async fn status(client: &Client) -> Result<Vec<MigrationStatus>, MigrateError> {
    client.batch_execute(CREATE_TABLE).await?;
    let done = applied(client).await?;
    for (v, _, _) in &done {
        if !MIGRATIONS.iter().any(|m| m.version == *v) {
            return Err(MigrateError::Unknown(*v));
        }
    }
    Ok(MIGRATIONS
        .iter()
        .map(|m| {
            let rec = done.iter().find(|(v, _, _)| *v == m.version);
            MigrationStatus {
                version: m.version,
                name: m.name,
                applied_at: rec.map(|(_, _, at)| at.clone()),
                checksum_ok: rec.is_none_or(|(_, c, _)| *c == checksum(m.sql)),
            }
        })
        .collect())
}

/// Applies pending migrations; returns the ones applied now. Running it twice is a no-op.
pub async fn run(client: &Client) -> Result<Vec<&'static Migration>, MigrateError> {
    client.batch_execute(CREATE_TABLE).await?;
    let mut now_applied = Vec::new();
    for m in MIGRATIONS {
        client
            .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({LOCK_KEY})"))
            .await?;
        let result = apply_one(client, m).await;
        match result {
            Ok(true) => {
                client.batch_execute("COMMIT").await?;
                now_applied.push(m);
            }
            Ok(false) => client.batch_execute("COMMIT").await?,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    // Refuse a database that is ahead of this binary.
    status(client).await?;
    Ok(now_applied)
}

/// Inside an open transaction holding the lock: applies `m` unless it is there already.
async fn apply_one(client: &Client, m: &Migration) -> Result<bool, MigrateError> {
    let sum = checksum(m.sql);
    let existing = applied(client).await?;
    if let Some((_, recorded, _)) = existing.iter().find(|(v, _, _)| *v == m.version) {
        if *recorded != sum {
            return Err(MigrateError::Edited {
                version: m.version,
                name: m.name,
                recorded: recorded.clone(),
                current: sum,
            });
        }
        return Ok(false);
    }
    client.batch_execute(m.sql).await.map_err(|e| {
        let inner = MigrateError::from(e);
        MigrateError::Db(format!("migration {:04}_{}: {inner}", m.version, m.name))
    })?;
    // Name and checksum are compile-time constants of this binary (no user input).
    client
        .batch_execute(&format!(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ({}, '{}', '{}')",
            m.version,
            m.name.replace('\'', "''"),
            sum
        ))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_named_after_files() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last);
            last = m.version;
            assert!(!m.sql.trim().is_empty());
        }
    }

    #[test]
    fn checksum_changes_with_text() {
        assert_eq!(checksum("a"), checksum("a"));
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum("").len(), 16);
    }
}
