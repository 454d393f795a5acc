//! Monthly partitions of `attendance_registers` (one row per session register).
//!
//! `maintain` makes sure the current month and the next three have partitions, and creates a
//! partition for every month that has rows waiting in the default partition (an insert whose
//! month had no partition yet lands there and is never lost). Each new month is created as a
//! plain table, filled with that month's rows moved out of the default partition, and attached,
//! all in one transaction that holds the default partition locked, so concurrent inserts wait
//! rather than slip past. Only the simple query protocol is used, so it works through PgBouncer.

use std::fmt;

use tokio_postgres::Client;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    /// Year, e.g. 2026.
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Parses `YYYY-MM` or `YYYY-MM-DD` (the day is ignored).
    pub fn parse(s: &str) -> Option<Month> {
        let mut parts = s.split('-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        if let Some(day) = parts.next() {
            let d: u32 = day.parse().ok()?;
            if !(1..=31).contains(&d) {
                return None;
            }
        }
        if parts.next().is_some() || !(1..=12).contains(&month) || !(1900..=9999).contains(&year) {
            return None;
        }
        Some(Month { year, month })
    }

    /// The partition's table name.
    pub fn table(self) -> String {
        format!("attendance_registers_y{:04}m{:02}", self.year, self.month)
    }

    /// First day, as an SQL date literal body.
    pub fn first_day(self) -> String {
        format!("{:04}-{:02}-01", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// What `maintain` did.
#[derive(Debug, Default)]
pub struct MaintainReport {
    /// Partitions created now, with the rows moved into each from the default partition.
    pub created: Vec<(Month, u64)>,
    /// Months that already had a partition.
    pub existing: Vec<Month>,
    /// Months that need a partition but were left for a later run: at most
    /// [`MAX_CREATED_PER_RUN`] are made per run (their rows wait, safe, in the default
    /// partition).
    pub deferred: Vec<Month>,
}

/// Most partitions one run creates. Each creation holds the default partition locked while it
/// moves that month's rows, and register writes wait on it: a flood of far-off dates (the
/// server refuses them now, but rows may come from elsewhere) must not become hours of
/// locking in one night. The window the server keeps (this month and three ahead) is made
/// first.
pub const MAX_CREATED_PER_RUN: usize = 8;

/// PostgreSQL refused something.
#[derive(Debug)]
pub struct MaintainError(pub String);

impl fmt::Display for MaintainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MaintainError {}

impl From<tokio_postgres::Error> for MaintainError {
    fn from(e: tokio_postgres::Error) -> Self {
        MaintainError(crate::simple::describe(&e))
    }
}

async fn rows(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, MaintainError> {
    Ok(crate::simple::rows(client, sql).await?)
}

/// The current month according to the database's clock.
pub async fn current_month(client: &Client) -> Result<Month, MaintainError> {
    let r = rows(client, "SELECT to_char(current_date, 'YYYY-MM')").await?;
    r.first()
        .and_then(|row| row.first().cloned().flatten())
        .and_then(|s| Month::parse(&s))
        .ok_or_else(|| MaintainError("could not read current_date".into()))
}

/// Months that already have a partition.
pub async fn existing(client: &Client) -> Result<Vec<Month>, MaintainError> {
    let r = rows(
        client,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'attendance_registers'::regclass ORDER BY 1",
    )
    .await?;
    Ok(r.into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .filter_map(|name| {
            let rest = name.strip_prefix("attendance_registers_y")?;
            let (y, m) = rest.split_once('m')?;
            Some(Month {
                year: y.parse().ok()?,
                month: m.parse().ok()?,
            })
        })
        .collect())
}

/// Ensures partitions for `from` and the `ahead` months after it, and for every month with
/// rows in the default partition; each month in its own transaction.
pub async fn maintain(
    client: &Client,
    from: Month,
    ahead: u32,
) -> Result<MaintainReport, MaintainError> {
    maintain_inner(client, from, ahead, true, MAX_CREATED_PER_RUN).await
}

/// The same, inside a transaction the caller already opened (the seeder's, which makes a
/// partition for every month of the history it writes, unbounded).
pub async fn maintain_in_transaction(
    client: &Client,
    from: Month,
    ahead: u32,
) -> Result<MaintainReport, MaintainError> {
    maintain_inner(client, from, ahead, false, usize::MAX).await
}

async fn maintain_inner(
    client: &Client,
    from: Month,
    ahead: u32,
    own_transaction: bool,
    limit: usize,
) -> Result<MaintainReport, MaintainError> {
    let mut window = vec![from];
    let mut m = from;
    for _ in 0..ahead {
        m = m.next();
        window.push(m);
    }
    let mut waiting = Vec::new();
    for row in rows(
        client,
        "SELECT DISTINCT to_char(session_date, 'YYYY-MM') FROM attendance_registers_default",
    )
    .await?
    {
        if let Some(month) = row
            .first()
            .cloned()
            .flatten()
            .and_then(|s| Month::parse(&s))
        {
            if !window.contains(&month) {
                waiting.push(month);
            }
        }
    }
    waiting.sort();
    waiting.dedup();
    // The window first, in order, then the months rows wait for, oldest first.
    let wanted = window.into_iter().chain(waiting);

    let have = existing(client).await?;
    let mut report = MaintainReport::default();
    for month in wanted {
        if have.contains(&month) {
            report.existing.push(month);
            continue;
        }
        if report.created.len() >= limit {
            report.deferred.push(month);
            continue;
        }
        match create(client, month, own_transaction).await? {
            Some(moved) => report.created.push((month, moved)),
            None => report.existing.push(month),
        }
    }
    Ok(report)
}

/// Creates one month's partition, moving its rows out of the default partition. Returns
/// `None` when another process created it first.
async fn create(
    client: &Client,
    month: Month,
    own_transaction: bool,
) -> Result<Option<u64>, MaintainError> {
    let table = month.table();
    let (lo, hi) = (month.first_day(), month.next().first_day());
    let (begin, commit) = if own_transaction {
        ("BEGIN;", "COMMIT;")
    } else {
        ("", "")
    };
    let result = async {
        // One maintainer at a time across every instance (transaction-scoped, so it also works
        // through PgBouncer in transaction mode).
        client
            .batch_execute(&format!("{begin} SELECT pg_advisory_xact_lock({LOCK_KEY})"))
            .await?;
        let exists = rows(client, &format!("SELECT to_regclass('{table}') IS NOT NULL")).await?;
        if exists.first().and_then(|r| r.first().cloned().flatten()).as_deref() == Some("t") {
            if own_transaction {
                client.batch_execute("COMMIT").await?;
            }
            return Ok(None);
        }
        // Names and dates are built from validated integers, never from input text.
        client
            .batch_execute(&format!(
                "LOCK TABLE attendance_registers_default IN ACCESS EXCLUSIVE MODE;
                 CREATE TABLE {table} (LIKE attendance_registers INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
                 WITH moved AS (
                     DELETE FROM attendance_registers_default
                     WHERE session_date >= DATE '{lo}' AND session_date < DATE '{hi}'
                     RETURNING *
                 )
                 INSERT INTO {table} SELECT * FROM moved;"
            ))
            .await?;
        let moved = rows(client, &format!("SELECT count(*) FROM {table}")).await?;
        let moved = moved
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        client
            .batch_execute(&format!(
                "ALTER TABLE attendance_registers ATTACH PARTITION {table} \
                 FOR VALUES FROM ('{lo}') TO ('{hi}'); {commit}"
            ))
            .await?;
        Ok::<Option<u64>, MaintainError>(Some(moved))
    }
    .await;
    if result.is_err() && own_transaction {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

/// Arbitrary constant identifying the partition maintainer's lock. `attendance_mark_batch`
/// takes it in shared mode (migration 0011), so no register is written from a snapshot older
/// than a move: keep the two equal.
const LOCK_KEY: i64 = 0x6361_6d70_7061;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_writes_take_the_maintainers_lock() {
        let sql = include_str!("../migrations/0011_registers_wait_for_partition_moves.sql");
        assert!(sql.contains(&format!("pg_advisory_xact_lock_shared({LOCK_KEY})")));
    }

    #[test]
    fn months_roll_over_years() {
        let dec = Month::parse("2026-12-15").unwrap();
        assert_eq!(
            dec.next(),
            Month {
                year: 2027,
                month: 1
            }
        );
        assert_eq!(dec.table(), "attendance_registers_y2026m12");
        assert_eq!(dec.next().first_day(), "2027-01-01");
        assert!(Month::parse("2026-13").is_none());
        assert!(Month::parse("2026-00-01").is_none());
        assert!(Month::parse("2026-01-32").is_none());
        assert!(Month::parse("26-1x").is_none());
        assert!(Month::parse("2026-01-01-01").is_none());
    }
}
