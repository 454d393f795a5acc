//! Database errors as the request path sees them: cheap, `Copy`, mapped to HTTP in one place
//! by the server; and the log line that keeps the cause of each one that becomes a 500.
//!
//! The server answers a failed statement with a bare 500 (`DbError::Query`, `Decode`); what
//! went wrong is written here, once, as one JSON line on stderr like the pool's other events:
//! the statement (its id in `statements::ALL` and the function or table it calls), and from
//! PostgreSQL the SQLSTATE, the constraint, table and column it names, its message and the
//! PL/pgSQL function and line it came from. Never the statement's parameters, nor PostgreSQL's
//! `DETAIL` (`Key (lower(email))=(...) already exists`): both may hold personal data.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::statements::Stmt;

/// What went wrong talking to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbError {
    /// No connection is up (database down or still reconnecting): answer 503.
    Unavailable,
    /// The statement did not finish within the statement timeout: answer 503.
    Timeout,
    /// PostgreSQL refused the change with SQLSTATE `CH409`: it would break a rule the database
    /// keeps whoever writes (migration 0014: the institution keeps an active administrator).
    /// Answer 409.
    Conflict,
    /// PostgreSQL refused the statement or the connection broke mid-query (logged).
    Query,
    /// A row did not have the shape the code expects (a bug or a schema mismatch; logged).
    Decode,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbError::Unavailable => "database unavailable",
            DbError::Timeout => "database statement timed out",
            DbError::Conflict => "database refused the change: it breaks a rule the database keeps",
            DbError::Query => "database query failed",
            DbError::Decode => "database row could not be decoded",
        })
    }
}

impl std::error::Error for DbError {}

/// The SQLSTATE of [`DbError::Conflict`].
pub(crate) const CONFLICT_SQLSTATE: &str = "CH409";

impl DbError {
    /// A row of `stmt` that is not what the code expects (`why`: which column and how, or how
    /// many rows): logs it and answers [`DbError::Decode`]. `why` must not quote values.
    pub fn undecodable(stmt: &Stmt, why: impl fmt::Display) -> DbError {
        let mut line = head("database row not decoded", stmt);
        field(&mut line, "why", &why.to_string());
        emit(line);
        DbError::Decode
    }
}

/// Logs the cause of `stmt` failing with `e` on the pool `pool` (`primary` or `replica`) of
/// `application` (`campushub shard-N`). The caller answers [`DbError::Query`].
pub(crate) fn log_query_failed(
    pool: &str,
    application: &str,
    stmt: &Stmt,
    e: &tokio_postgres::Error,
) {
    let mut line = head("database statement failed", stmt);
    field(&mut line, "pool", pool);
    field(&mut line, "application", application);
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            field(&mut line, "sqlstate", code);
            for (name, value) in [
                ("constraint", db.constraint()),
                ("table", db.table()),
                ("column", db.column()),
            ] {
                if let Some(v) = value {
                    field(&mut line, name, v);
                }
            }
            field(&mut line, "message", safe_message(code, db.message()));
            if let Some(at) = db.where_().and_then(routine) {
                field(&mut line, "where", at);
            }
        }
        // No SQLSTATE: the client's own error (a parameter it could not encode, a protocol
        // surprise); its text names types and positions, not values.
        None => field(&mut line, "message", &e.to_string()),
    }
    emit(line);
}

/// PostgreSQL's message, less what may quote the input: data exceptions (class 22: `invalid
/// input syntax for type uuid: "..."`, `date/time field value out of range: "..."`) keep only
/// the text before their first colon. Other messages name objects (constraints, columns,
/// types), not values; the values are in `DETAIL`, which is never logged.
fn safe_message<'a>(sqlstate: &str, message: &'a str) -> &'a str {
    if sqlstate.starts_with("22") {
        message.split(':').next().unwrap_or_default()
    } else {
        message
    }
}

/// The innermost function of an error's context (`PL/pgSQL function student_update(bigint,
/// ...) line 62 at SQL statement`): where in the SQL it happened. The context's other lines
/// quote SQL statements, which this skips.
fn routine(context: &str) -> Option<&str> {
    context
        .lines()
        .find(|l| l.starts_with("PL/pgSQL function ") || l.starts_with("SQL function "))
}

/// What a statement calls, for people reading the log: the function or table after its first
/// `FROM` (`student_update`, `orgs`), else its first two words (`UPDATE users`).
fn statement_name(sql: &str) -> &str {
    if let Some(i) = sql.find(" FROM ") {
        let rest = &sql[i + " FROM ".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            return &rest[..end];
        }
    }
    let mut words = sql.match_indices(' ').map(|(i, _)| i);
    let end = words.nth(1).unwrap_or(sql.len());
    &sql[..end]
}

/// A line's opening members: time, level, message and the statement.
fn head(msg: &str, stmt: &Stmt) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut line = format!(
        "{{\"ts\":{ts:.6},\"level\":\"error\",\"msg\":\"{msg}\",\"statement_id\":{}",
        stmt.id
    );
    field(&mut line, "statement", statement_name(stmt.sql));
    line
}

/// Appends `,"name":"value"` with `value` escaped as a JSON string.
fn field(line: &mut String, name: &str, value: &str) {
    let _ = write!(line, ",\"{name}\":\"");
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(line, "\\u{:04x}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

fn emit(mut line: String) {
    line.push('}');
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_what_they_call() {
        assert_eq!(
            statement_name(crate::statements::STUDENT_UPDATE.sql),
            "student_update"
        );
        assert_eq!(
            statement_name(crate::statements::DEPARTMENT_BY_ID.sql),
            "orgs"
        );
        assert_eq!(statement_name("UPDATE users SET x = $1"), "UPDATE users");
        assert_eq!(statement_name("SELECT 1::int4"), "SELECT 1::int4");
        assert_eq!(statement_name(""), "");
    }

    #[test]
    fn data_exceptions_lose_the_quoted_input() {
        assert_eq!(
            safe_message(
                "22P02",
                "invalid input syntax for type uuid: \"ada@example.edu\""
            ),
            "invalid input syntax for type uuid"
        );
        assert_eq!(
            safe_message(
                "23505",
                "duplicate key value violates unique constraint \"users_email_key\""
            ),
            "duplicate key value violates unique constraint \"users_email_key\""
        );
    }

    #[test]
    fn the_innermost_function_is_where() {
        let context = "SQL statement \"UPDATE users x SET email = p_email\"\n\
                       PL/pgSQL function student_update(bigint,inet) line 62 at SQL statement";
        assert_eq!(
            routine(context),
            Some("PL/pgSQL function student_update(bigint,inet) line 62 at SQL statement")
        );
        assert_eq!(routine("SQL statement \"SELECT 1\""), None);
    }

    #[test]
    fn fields_are_json_strings() {
        let mut line = String::from("{\"a\":1");
        field(&mut line, "m", "say \"hi\"\\\n\u{1}é");
        line.push('}');
        assert_eq!(line, "{\"a\":1,\"m\":\"say \\\"hi\\\"\\\\\\n\\u0001é\"}");
    }
}
