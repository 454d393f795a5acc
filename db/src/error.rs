//! Database errors as the request path sees them: cheap, `Copy`, mapped to HTTP in one place
//! by the server.

use std::fmt;

/// What went wrong talking to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbError {
    /// No connection is up (database down or still reconnecting): answer 503.
    Unavailable,
    /// The statement did not finish within the statement timeout: answer 503.
    Timeout,
    /// PostgreSQL refused the statement or the connection broke mid-query.
    Query,
    /// A row did not have the shape the code expects (a bug or a schema mismatch).
    Decode,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbError::Unavailable => "database unavailable",
            DbError::Timeout => "database statement timed out",
            DbError::Query => "database query failed",
            DbError::Decode => "database row could not be decoded",
        })
    }
}

impl std::error::Error for DbError {}
