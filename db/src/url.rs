//! Database URLs (validated at start-up) and the statement mode.

use std::fmt;
use std::str::FromStr;

use tokio_postgres::config::Host;

/// How statements are sent to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementMode {
    /// Named statements prepared once per connection (direct PostgreSQL, PgBouncer 1.21+).
    Prepared,
    /// Unnamed statements via `query_typed`, one round trip each (PgBouncer before 1.21 in
    /// transaction mode, which cannot keep named statements).
    Unnamed,
}

impl StatementMode {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementMode::Prepared => "prepared",
            StatementMode::Unnamed => "unnamed",
        }
    }
}

/// A parsed, checked PostgreSQL URL with one host.
#[derive(Clone)]
pub struct DbUrl {
    raw: String,
    config: tokio_postgres::Config,
}

/// Why a URL was refused.
#[derive(Debug)]
pub struct UrlError(String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

impl DbUrl {
    /// Parses `postgres://user[:password]@host:port/db` (or a Unix socket directory as host).
    pub fn parse(s: &str) -> Result<DbUrl, UrlError> {
        let config = tokio_postgres::Config::from_str(s).map_err(|e| {
            UrlError(format!(
                "not a PostgreSQL URL like postgres://user@127.0.0.1:5432/db ({e})"
            ))
        })?;
        if config.get_hosts().len() != 1 {
            return Err(UrlError("exactly one host is supported".into()));
        }
        if config.get_user().is_none() {
            return Err(UrlError("the URL names no user".into()));
        }
        Ok(DbUrl {
            raw: s.to_string(),
            config,
        })
    }

    /// The connection settings.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Where the server is: `host:port` or a socket path, for log lines.
    pub fn endpoint(&self) -> String {
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => format!("{h}:{port}"),
            Some(Host::Unix(p)) => format!("{}/.s.PGSQL.{port}", p.display()),
            None => String::from("?"),
        }
    }

    /// The URL with any password replaced, safe to print.
    pub fn redacted(&self) -> String {
        if self.config.get_password().is_none() {
            return self.raw.clone();
        }
        let r = redact_url(&self.raw);
        // A password given some other way (a query parameter): print nothing of the URL.
        if r == self.raw {
            String::from("[redacted]")
        } else {
            r
        }
    }
}

/// `scheme://user:pw@host/...` -> `scheme://user:[redacted]@host/...`; other URLs unchanged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!(
                    "{}{}:[redacted]{}",
                    &url[..s + 3],
                    &userinfo[..c],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password() {
        let u = DbUrl::parse("postgres://app:s3cret@127.0.0.1:5432/campus").unwrap();
        assert_eq!(
            u.redacted(),
            "postgres://app:[redacted]@127.0.0.1:5432/campus"
        );
        assert_eq!(u.endpoint(), "127.0.0.1:5432");
        assert!(!format!("{u:?}").contains("s3cret"));
    }

    #[test]
    fn refuses_garbage() {
        assert!(DbUrl::parse("mysql:/nope").is_err());
        assert!(DbUrl::parse("postgres://127.0.0.1:5432/campus").is_err());
    }
}
