//! The simple query protocol for maintenance work (migrations, partitions, seeding, audit
//! verification): text rows, and PostgreSQL errors as one line. It works through PgBouncer in
//! transaction mode because it never prepares a named statement.

use tokio_postgres::{Client, SimpleQueryMessage};

/// `SQLSTATE: message` for a server error, else the client's own text.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Every row of `sql` as text columns (`None` for NULL).
pub async fn rows(
    client: &Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for m in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(r) = m {
            out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    Ok(out)
}

/// The first column of the first row of `sql`, if any.
pub async fn scalar(client: &Client, sql: &str) -> Result<Option<String>, tokio_postgres::Error> {
    Ok(rows(client, sql)
        .await?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten()))
}
