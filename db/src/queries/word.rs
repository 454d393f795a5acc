//! The word a write function answers (`ok`, or why nothing changed), decoded once from its
//! text into [`Word`]: handlers match variants, never strings, and a word the server does not
//! know is a decode error (logged with its statement), not a silent 500 further up.

use std::error::Error;

use tokio_postgres::types::{FromSql, Type};

macro_rules! words {
    ($( $(#[doc = $doc:literal])* $variant:ident = $text:literal, )+) => {
        /// What a write did: `Ok`, or the reason it changed nothing (each function's comment in
        /// its migration says which it answers).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Word {
            $( $(#[doc = $doc])* $variant, )+
        }

        impl Word {
            /// The word as the SQL functions write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Word::$variant => $text, )+
                }
            }

            /// The word for `text`, if it is one.
            pub fn parse(text: &str) -> Option<Word> {
                match text {
                    $( $text => Some(Word::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

words! {
    /// Applied.
    Ok = "ok",
    /// Not a teaching day (a holiday, a closure, a weekday the institution does not teach).
    Closed = "closed",
    /// The period is not in the class's timetable on that weekday.
    NotScheduled = "not_scheduled",
    /// The target does not exist.
    NotFound = "not_found",
    /// A job that is not dead or cancelled cannot be retried.
    NotRetryable = "not_retryable",
    /// A job that is not ready or running cannot be cancelled.
    NotCancellable = "not_cancellable",
    /// `If-Match` named an older version.
    Stale = "stale",
    /// Already there (a session for that date and period, a role or binding).
    Exists = "exists",
    /// The department named does not exist.
    NoDepartment = "no_department",
    /// No institution yet (`campushub admin create --institution`).
    NoInstitution = "no_institution",
    /// The term named does not exist.
    NoTerm = "no_term",
    /// The course named does not exist.
    NoCourse = "no_course",
    /// The parent academic session named does not exist.
    NoParent = "no_parent",
    /// The user named does not exist.
    NoUser = "no_user",
    /// The scope named does not exist.
    NoScope = "no_scope",
    /// The role named does not exist.
    NoRole = "no_role",
    /// An API key without bindings.
    NoBindings = "no_bindings",
    /// Another account holds the username.
    UsernameTaken = "username_taken",
    /// Another account holds the email.
    EmailTaken = "email_taken",
    /// Another student holds the roll number.
    RollTaken = "roll_taken",
    /// Another staff member holds the employee number.
    EmployeeTaken = "employee_taken",
    /// The department (course) or term (class) holds the code.
    CodeTaken = "code_taken",
    /// Another department holds the identifier.
    IdentifierTaken = "identifier_taken",
    /// The register is submitted.
    Submitted = "submitted",
    /// A built-in role, which cannot change.
    Builtin = "builtin",
    /// A permission that does not exist.
    UnknownPermission = "unknown_permission",
    /// The role is still bound.
    InUse = "in_use",
    /// A score above the line item's maximum.
    OverMax = "over_max",
    /// A student not actively enrolled in the class.
    NotEnrolled = "not_enrolled",
    /// A register with students unmarked.
    Incomplete = "incomplete",
    /// The line item is locked.
    Locked = "locked",
    /// A line item's status may only move forward.
    Backwards = "backwards",
    /// End before start.
    BadDates = "bad_dates",
    /// A person who is not an active student or staff member.
    Unknown = "unknown",
    /// The class is at its capacity.
    Full = "full",
    /// A code that does not exist or this source may not enter.
    BadCode = "bad_code",
    /// A session date outside the class's term.
    OutsideTerm = "outside_term",
    /// A session date outside the partition window.
    OutsideWindow = "outside_window",
    /// A self-only role (student, guardian) asked of an API key.
    SelfOnly = "self_only",
    /// An API key would grant more than its creator holds.
    ExceedsCreator = "exceeds_creator",
    /// The person's account is disabled or withdrawn.
    Gone = "gone",
    /// The person has no email address to send to.
    NoEmail = "no_email",
    /// The person can already log in (an invitation sets a first password only).
    HasPassword = "has_password",
    /// No link has that token.
    Invalid = "invalid",
    /// The link was spent already.
    Used = "used",
    /// The link's time ran out.
    Expired = "expired",
    /// A newer link of the same kind replaced this one.
    Replaced = "replaced",
    /// Too many links for one account within the hour.
    Throttled = "throttled",
}

impl Word {
    /// A value another record holds (answered 409, naming the field).
    pub fn is_taken(self) -> bool {
        matches!(
            self,
            Word::UsernameTaken
                | Word::EmailTaken
                | Word::RollTaken
                | Word::EmployeeTaken
                | Word::CodeTaken
                | Word::IdentifierTaken
        )
    }
}

impl<'a> FromSql<'a> for Word {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Word, Box<dyn Error + Sync + Send>> {
        let text = <&str as FromSql>::from_sql(ty, raw)?;
        Word::parse(text).ok_or_else(|| "an outcome word the server does not know".into())
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_and_strangers_are_refused() {
        for w in [
            "ok",
            "not_found",
            "email_taken",
            "outside_window",
            "bad_code",
        ] {
            assert_eq!(Word::parse(w).map(Word::as_str), Some(w));
        }
        assert_eq!(Word::parse("OK"), None);
        assert!(Word::EmailTaken.is_taken() && !Word::Exists.is_taken());
    }

    /// Every word a migration answers first in a row (`RETURN QUERY SELECT '<word>'::text`) is
    /// one the server knows.
    #[test]
    fn the_migrations_answer_only_known_words() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                let Some(rest) = line.split("RETURN QUERY SELECT '").nth(1) else {
                    continue;
                };
                let Some(word) = rest.split("'::text").next() else {
                    continue;
                };
                seen += 1;
                assert!(Word::parse(word).is_some(), "a migration answers {word:?}");
            }
        }
        assert!(seen > 50, "only {seen} answers found");
    }
}
