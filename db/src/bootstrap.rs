//! The first administrator of a new deployment (`campushub admin create`): the built-in roles
//! come with the migrations, so a migrated database needs only this to be usable. Sent as an
//! unnamed statement with parameters, so it works through PgBouncer in transaction mode.

use tokio_postgres::types::Type;
use tokio_postgres::Client;
use uuid::Uuid;

/// Who the administrator is. The values are stored as they are: the caller holds them to the
/// API's rules for a person first (`campushub admin create` does).
#[derive(Debug, Clone)]
pub struct NewAdmin<'a> {
    /// Log-in name.
    pub username: &'a str,
    /// Email, if any.
    pub email: Option<&'a str>,
    /// Given name.
    pub given_name: &'a str,
    /// Family name.
    pub family_name: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// Name of the institution to create when the database has none.
    pub institution: Option<&'a str>,
}

/// What creating the administrator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Made: the user's public id and the institution they administer.
    Ok {
        /// users.sourced_id.
        admin: Uuid,
        /// The institution's name.
        institution: String,
    },
    /// The username or the email is taken.
    Exists,
    /// The database has no institution and no name was given for one.
    NoInstitution,
}

/// Creates the administrator (and the institution when there is none), with its audit event,
/// in one statement.
pub async fn create_admin(client: &Client, a: &NewAdmin<'_>) -> Result<Created, String> {
    let rows = client
        .query_typed(
            "SELECT outcome, admin_id, institution_name FROM admin_create($1, $2, $3, $4, $5, $6)",
            &[
                (&a.username, Type::TEXT),
                (&a.email, Type::TEXT),
                (&a.given_name, Type::TEXT),
                (&a.family_name, Type::TEXT),
                (&a.password_hash, Type::TEXT),
                (&a.institution, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| crate::simple::describe(&e))?;
    let row = rows.first().ok_or("admin_create returned no row")?;
    let outcome: String = row.try_get(0).map_err(|e| e.to_string())?;
    match outcome.as_str() {
        "ok" => Ok(Created::Ok {
            admin: row.try_get(1).map_err(|e| e.to_string())?,
            institution: row.try_get(2).map_err(|e| e.to_string())?,
        }),
        "exists" => Ok(Created::Exists),
        "no_institution" => Ok(Created::NoInstitution),
        other => Err(format!("admin_create answered {other:?}")),
    }
}
