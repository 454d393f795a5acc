//! Every SQL statement the request path runs, in one table.
//!
//! In `prepared` mode each connection prepares all of them once, right after it connects; in
//! `unnamed` mode they go out with `query_typed` and the parameter types listed here. Never
//! `Client::query(&str, ..)` on the request path: it prepares a named statement per call
//! (two round trips, and it breaks behind PgBouncer in transaction mode).

use tokio_postgres::types::Type;

/// One statement: its index in [`ALL`], SQL text and parameter types.
#[derive(Debug)]
pub struct Stmt {
    /// Position in [`ALL`] (and in each connection's prepared list).
    pub id: usize,
    /// SQL text with `$n` parameters.
    pub sql: &'static str,
    /// Parameter types, in order.
    pub params: &'static [Type],
}

/// A class's document (aliases: `k` the class, `c` its course, `t` its term, `d` its
/// department).
macro_rules! class_doc {
    () => {
        "json_build_object('sourced_id', k.sourced_id, 'status', k.status, 'date_last_modified', to_char(k.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', k.title, 'class_code', k.class_code, 'class_type', k.class_type, 'location', k.location, 'periods', k.periods, 'capacity', k.capacity, 'course', json_build_object('sourced_id', c.sourced_id, 'type', 'course'), 'term', json_build_object('sourced_id', t.sourced_id, 'type', 'academicSession'), 'department', json_build_object('sourced_id', d.sourced_id, 'type', 'org'), 'teachers', (SELECT coalesce(json_agg(json_build_object('sourced_id', u.sourced_id, 'type', 'user') ORDER BY u.id), '[]') FROM enrollments e JOIN users u ON u.id = e.user_id WHERE e.class_id = k.id AND e.role = 'teacher' AND e.status = 'active'), 'enrolled', (SELECT count(*) FROM enrollments e WHERE e.class_id = k.id AND e.role = 'student' AND e.status = 'active'))"
    };
}

/// The columns `queries::departments::decode` reads, in order.
macro_rules! department_select {
    () => {
        "SELECT d.sourced_id, d.name, d.identifier, d.status, \
         to_char(d.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
         p.sourced_id, campus_version(d.date_last_modified) \
         FROM orgs d JOIN orgs p ON p.id = d.parent_id "
    };
}

/// The columns `queries::access::decode_grants` reads, for a user's or a key's bindings.
macro_rules! grants_select {
    () => {
        "SELECT rp.permission, b.scope_type, b.scope_id, r.name, \
         CASE b.scope_type WHEN 'class' THEN (SELECT sourced_id FROM classes WHERE id = b.scope_id) \
              ELSE (SELECT sourced_id FROM orgs WHERE id = b.scope_id) END \
         FROM role_bindings b JOIN roles r ON r.id = b.role_id \
         JOIN role_permissions rp ON rp.role_id = b.role_id "
    };
}

/// The columns `queries::students::decode` reads, in order.
macro_rules! student_select {
    () => {
        "SELECT u.id, u.sourced_id, u.username, u.email, u.given_name, u.family_name, u.status, \
         greatest(u.date_last_modified, sp.date_last_modified), \
         sp.roll_number, sp.program, sp.year_of_study, sp.department_id \
         FROM users u JOIN student_profiles sp ON sp.user_id = u.id "
    };
}

/// A campus write: a call of one of migration 0008's functions, answering the columns
/// `queries::campus::change` reads.
macro_rules! outcome_of {
    ($call:literal) => {
        concat!("SELECT outcome, ref, row_id, bad FROM ", $call)
    };
}

/// Declares each statement once, in [`ALL`]'s order: `NAME(parameter types) = SQL;`. The id is
/// the statement's position, so a statement cannot be left out of `ALL` or numbered twice.
/// A job as operators see it (`j`: a row of `jobs`).
macro_rules! job_document {
    () => {
        "json_build_object('sourced_id', j.sourced_id, 'kind', j.kind, 'state', j.state, \
         'priority', j.priority, 'attempts', j.attempts, 'max_attempts', j.max_attempts, \
         'run_at', to_char(j.run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
         'created_at', to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
         'started_at', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
         'finished_at', to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
         'last_error', j.last_error, 'worker', j.worker, 'payload', j.payload)"
    };
}

macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident($($param:ident),*) = $sql:expr;)*) => {
        /// The position of each statement in [`ALL`].
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Position {
            $($name,)*
        }
        $(
            $(#[$doc])*
            pub const $name: Stmt = Stmt {
                id: Position::$name as usize,
                sql: $sql,
                params: &[$(Type::$param),*],
            };
        )*
        /// Every statement, indexed by [`Stmt::id`].
        pub const ALL: &[&Stmt] = &[$(&$name),*];
    };
}

/// The columns every report statement starts with: kind, student, department, class.
macro_rules! report_subject {
    () => {
        "SELECT r.kind, r.student_id, coalesce(sp.department_id, k.org_id), r.class_id"
    };
}

/// The tables behind a report, its student or class, and its job; `$1` is its public id.
macro_rules! report_from {
    () => {
        "FROM reports r LEFT JOIN users u ON u.id = r.student_id \
         LEFT JOIN student_profiles sp ON sp.user_id = r.student_id \
         LEFT JOIN classes k ON k.id = r.class_id \
         LEFT JOIN jobs j ON j.idempotency_key = 'report.render:' || r.sourced_id \
         WHERE r.sourced_id = $1"
    };
}

statements! {
    /// Health probe.
    PING() = "SELECT 1::int4";
    /// One department by public id.
    DEPARTMENT_BY_ID(UUID) = concat!(
        department_select!(),
        "WHERE d.sourced_id = $1 AND d.type = 'department'"
    );
    /// A page of active departments ordered by identifier, after a cursor (keyset pagination).
    DEPARTMENTS_PAGE(TEXT, INT8) = concat!(
        department_select!(),
        "WHERE d.type = 'department' AND d.status = 'active' AND d.identifier > $1 \
         ORDER BY d.identifier LIMIT $2"
    );
    /// How far a replica is behind, in seconds (0 when it has replayed all it received).
    REPLICA_LAG() = "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0::float8 \
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8 \
        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END";
    /// A department's figures: people, catalogue, and the presence rate of the last 30 days.
    /// Marked analytics: it goes to the replica when one is fresh enough.
    DEPARTMENT_SUMMARY(UUID) = "SELECT d.sourced_id, d.name, d.identifier, \
        (SELECT count(*) FROM student_profiles sp WHERE sp.department_id = d.id), \
        (SELECT count(*) FROM staff_profiles st WHERE st.department_id = d.id), \
        (SELECT count(*) FROM courses co WHERE co.org_id = d.id), \
        (SELECT count(*) FROM classes cl WHERE cl.org_id = d.id), \
        m.n, m.presence \
        FROM orgs d CROSS JOIN LATERAL (SELECT count(*)::int8 AS n, avg(ac.presence_fraction)::float8 AS presence \
           FROM attendance_sessions s \
           JOIN classes cl ON cl.id = s.class_id \
           CROSS JOIN LATERAL session_effective_marks(s.id, s.session_date) em \
           JOIN attendance_codes ac ON ac.id = em.code_id \
         WHERE cl.org_id = d.id AND s.session_date >= campus_today() - 30 \
           AND campus_teaching_day(s.session_date)) m \
        WHERE d.sourced_id = $1 AND d.type = 'department'";
    /// The account behind a log-in name (username or email, case-insensitive), if any, and where
    /// its throttle subject stands seen from the client address `$2`: the subject is
    /// `u:<users.id>` for an account and `n:<lower-cased name>` for a name that matches none, so
    /// unknown and real names are throttled alike (columns 5 to 12, see `login_throttle_state`).
    USER_FOR_LOGIN(TEXT, TEXT) = "WITH u AS (SELECT id, sourced_id, password_hash, (enabled_user AND status = 'active') AS usable, \
            mfa_enabled FROM users \
            WHERE lower(username) = lower($1) OR (email IS NOT NULL AND lower(email) = lower($1)) \
            ORDER BY id LIMIT 1), \
        s AS (SELECT coalesce((SELECT 'u:' || id FROM u), 'n:' || lower($1)) AS subject) \
        SELECT u.id, u.sourced_id, u.password_hash, u.usable, u.mfa_enabled, s.subject, t.* \
        FROM s LEFT JOIN u ON true CROSS JOIN LATERAL login_throttle_state(s.subject, $2) t";
    /// Counts a failed credential check for subject `$1` from address `$2`: a new window after
    /// `$3` seconds, the pair locked at `$4` failures, the subject at `$5`. Returns the state
    /// afterwards (the columns of `login_throttle_state`).
    LOGIN_FAILED(TEXT, TEXT, FLOAT8, INT4, INT4) = "SELECT * FROM login_throttle_fail($1, $2, $3, $4, $5)";
    /// After a good log-in of user `$1` from address `$3`: forgets that pair's and the account's
    /// failures, and stores a new hash when one is given.
    LOGIN_SUCCEEDED(INT8, TEXT, TEXT) = "WITH forget AS (DELETE FROM login_throttle WHERE subject = 'u:' || $1 AND source IN ($3, '*')) \
        UPDATE users SET failed_login_count = 0, first_failed_login_at = NULL, locked_until = NULL, \
        password_hash = coalesce($2, password_hash) WHERE id = $1";
    /// Stores a new refresh token (hashed) in a family, valid for `$4` seconds.
    INSERT_REFRESH_TOKEN(INT8, UUID, BYTEA, FLOAT8) = "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) \
        VALUES ($1, $2, $3, now() + make_interval(secs => $4))";
    /// The signed-in user, as `/me` shows them.
    USER_PROFILE(INT8) = "SELECT sourced_id, username, email, given_name, family_name, role, \
        (enabled_user AND status = 'active'), \
        coalesce(extract(epoch FROM tokens_revoked_before)::float8, 0) \
        FROM users WHERE id = $1";
    /// Rotates a refresh token: marks the presented one (`$1`, its hash) rotated if it is live
    /// and stores its successor (`$2`, valid `$3` seconds) in the same family, atomically, so two
    /// concurrent uses of one token cannot both succeed. Returns the user's id and public id,
    /// and whether the account is usable.
    ROTATE_REFRESH_TOKEN(BYTEA, BYTEA, FLOAT8) = "WITH old AS ( \
            UPDATE refresh_tokens SET rotated_at = now() \
            WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now() \
            RETURNING id, user_id, family_id), \
        new AS ( \
            INSERT INTO refresh_tokens (user_id, family_id, token_hash, rotated_from, expires_at) \
            SELECT user_id, family_id, $2, id, now() + make_interval(secs => $3) FROM old \
            RETURNING user_id) \
        SELECT u.id, u.sourced_id, (u.enabled_user AND u.status = 'active') FROM new JOIN users u ON u.id = new.user_id";
    /// A refresh token that was not live: was it one of ours that had already been used or
    /// revoked (theft signal)? Returns its family and user.
    REFRESH_TOKEN_STATE(BYTEA) = "SELECT family_id, user_id, (rotated_at IS NOT NULL OR revoked_at IS NOT NULL) \
        FROM refresh_tokens WHERE token_hash = $1";
    /// Revokes every live token of a family.
    REVOKE_REFRESH_FAMILY(UUID) = "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL";
    /// Access tokens of user `$1` issued before now stop working.
    REVOKE_ACCESS_TOKENS(INT8) = "UPDATE users SET tokens_revoked_before = now() WHERE id = $1 \
        RETURNING nextval('authz_version')";
    /// Appends an audit event to the hash chain: actor, action, target type and id, client IP,
    /// details (JSON text).
    AUDIT_APPEND(INT8, TEXT, TEXT, TEXT, TEXT, TEXT) = "SELECT audit_append($1, $2, $3, $4, $5::inet, $6::jsonb)";
    /// What a user may do, and where: each permission of each bound role with the binding's scope
    /// (scope ids are orgs.id or classes.id) and the role's name. Ordered down to the role, so that
    /// when two roles grant the same permission at the same scope the same one decides every time
    /// (`authz/explain` names it).
    USER_GRANTS(INT8) = concat!(grants_select!(), "WHERE b.user_id = $1 ORDER BY 1, 2, 3, 4");
    /// A student's profile by public id, with what access checks need (row id, department).
    /// The hottest cold read: two tables, the time in binary (formatted by the server) and the
    /// department's public id from the shard's map, which kept PostgreSQL's share of a read small
    /// (scripts/bench-auth, cold scenario).
    STUDENT_BY_ID(UUID) = concat!(student_select!(), "WHERE u.sourced_id = $1");
    /// Whether `$1` is a guardian of student `$2`.
    IS_GUARDIAN_OF(INT8, INT8) = "SELECT EXISTS (SELECT 1 FROM guardianships WHERE guardian_id = $1 AND student_id = $2)";
    /// Whether student `$1` is enrolled in any of the classes `$2`.
    ENROLLED_IN_ANY(INT8, INT8_ARRAY) = "SELECT EXISTS (SELECT 1 FROM enrollments WHERE user_id = $1 AND class_id = ANY($2) \
        AND role = 'student' AND status = 'active')";
    /// A student's effective marks between two dates (inclusive), on teaching days, with class,
    /// code, the register the mark came from and its minutes present: one per session of every
    /// class the student was ever enrolled in (`effective_marks`, migration 0019).
    STUDENT_ATTENDANCE(INT8, DATE, DATE) = "SELECT s.session_date - DATE '1970-01-01', s.period, cl.sourced_id, cl.title, \
        c.code, c.category, c.presence_fraction::float8, m.source, m.minutes \
        FROM attendance_sessions s \
        CROSS JOIN LATERAL effective_marks(s.id, s.session_date, $1) m \
        JOIN classes cl ON cl.id = s.class_id \
        JOIN attendance_codes c ON c.id = m.code_id \
        WHERE s.class_id IN (SELECT e.class_id FROM enrollments e WHERE e.user_id = $1 AND e.role = 'student') \
        AND s.session_date >= $2 AND s.session_date <= $3 AND campus_teaching_day(s.session_date) \
        ORDER BY s.session_date, s.period, s.id";
    /// What authentication needs besides grants: whether the account is usable, and the instant
    /// (milliseconds since the epoch, 0 for never) before which its access tokens are refused.
    USER_AUTH_STATE(INT8) = "SELECT (enabled_user AND status = 'active'), \
        coalesce(floor(extract(epoch FROM tokens_revoked_before) * 1000)::float8, 0) \
        FROM users WHERE id = $1";
    /// Creates a custom role with its permissions and audit event: (outcome, role id, version).
    ROLE_CREATE(INT8, TEXT, TEXT, TEXT, TEXT_ARRAY) = "SELECT outcome, role_id, version FROM authz_role_create($1, $2::inet, $3, $4, $5)";
    /// Replaces a custom role's description and/or permissions: (outcome, role id, version).
    ROLE_UPDATE(INT8, TEXT, TEXT, TEXT, TEXT_ARRAY) = "SELECT outcome, role_id, version FROM authz_role_update($1, $2::inet, $3, $4, $5)";
    /// Deletes a custom role nobody holds: (outcome, role id, version).
    ROLE_DELETE(INT8, TEXT, TEXT) = "SELECT outcome, role_id, version FROM authz_role_delete($1, $2::inet, $3)";
    /// Binds a role to a user at a scope: (outcome, binding id, user id, version).
    BINDING_CREATE(INT8, TEXT, UUID, TEXT, TEXT, UUID) = "SELECT outcome, binding, user_id, version \
        FROM authz_binding_create($1, $2::inet, $3, $4, $5, $6)";
    /// Removes a binding: (outcome, user id, version).
    BINDING_DELETE(INT8, TEXT, UUID) = "SELECT outcome, user_id, version FROM authz_binding_delete($1, $2::inet, $3)";
    /// Every role with its permissions, by name.
    ROLES_LIST() = "SELECT r.name, r.description, r.builtin, \
        coalesce(array_agg(rp.permission ORDER BY rp.permission) \
                 FILTER (WHERE rp.permission IS NOT NULL), '{}') \
        FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id \
        GROUP BY r.id ORDER BY r.name";
    /// A user's bindings (by the user's public id): binding id, role, scope type and public id,
    /// creation time.
    USER_BINDINGS(UUID) = "SELECT b.sourced_id, r.name, b.scope_type, \
        CASE b.scope_type WHEN 'class' THEN (SELECT sourced_id FROM classes WHERE id = b.scope_id) \
             ELSE (SELECT sourced_id FROM orgs WHERE id = b.scope_id) END, \
        to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
        FROM role_bindings b JOIN roles r ON r.id = b.role_id JOIN users u ON u.id = b.user_id \
        WHERE u.sourced_id = $1 ORDER BY b.id";
    /// A user's row id by public id.
    USER_ID_BY_SOURCED(UUID) = "SELECT id FROM users WHERE sourced_id = $1";
    /// A user's MFA state: secret (pending or active), enabled, last accepted step, username.
    MFA_STATE(INT8) = "SELECT mfa_secret, mfa_enabled, mfa_last_step, username FROM users WHERE id = $1";
    /// Stores a pending MFA secret (enrolment started), unless MFA is already on.
    MFA_SET_PENDING(INT8, BYTEA) = "UPDATE users SET mfa_secret = $2 WHERE id = $1 AND NOT mfa_enabled RETURNING 1";
    /// Turns MFA on with the pending secret; `$2` is the step of the code that proved it.
    MFA_ENABLE(INT8, INT8) = "UPDATE users SET mfa_enabled = true, mfa_last_step = $2 \
        WHERE id = $1 AND NOT mfa_enabled AND mfa_secret IS NOT NULL RETURNING 1";
    /// Turns MFA off and forgets the secret.
    MFA_DISABLE(INT8) = "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_last_step = NULL \
        WHERE id = $1 AND mfa_enabled RETURNING 1";
    /// Spends a one-time-code step: succeeds only for a step after the last one accepted, so a
    /// code is never accepted twice, even by two instances at once.
    MFA_USE_STEP(INT8, INT8) = "UPDATE users SET mfa_last_step = $2 \
        WHERE id = $1 AND mfa_enabled AND (mfa_last_step IS NULL OR mfa_last_step < $2) RETURNING 1";
    /// A user's stored password hash.
    PASSWORD_HASH(INT8) = "SELECT password_hash FROM users WHERE id = $1";
    /// Replaces a password and ends every session of the user (refresh tokens revoked, access
    /// tokens issued before now refused), with its audit event, in one transaction. Returns the
    /// authorisation version.
    PASSWORD_CHANGE(INT8, TEXT, TEXT) = "SELECT version FROM auth_password_change($1, $2, $3::inet)";
    /// An API key by its public prefix: id, stored hash of the whole key, owner, whether the key
    /// is live (not revoked or expired) and whether its owner's account is usable.
    API_KEY_BY_PREFIX(TEXT) = "SELECT k.id, k.secret_hash, k.owner_id, \
        (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())), \
        (u.enabled_user AND u.status = 'active') \
        FROM api_keys k JOIN users u ON u.id = k.owner_id WHERE k.prefix = $1";
    /// What an API key may do: each permission of each role bound to the key, with the scope
    /// (same columns as [`USER_GRANTS`]).
    API_KEY_GRANTS(INT8) = concat!(
        grants_select!(),
        "WHERE b.api_key_id = $1 ORDER BY 1, 2, 3, 4"
    );
    /// Creates an API key with its bindings and audit event: (outcome, key id, public id, detail).
    API_KEY_CREATE(INT8, TEXT, TEXT, BYTEA, TEXT, INT4, TEXT) = "SELECT outcome, key_id, key, detail \
        FROM api_key_create($1, $2::inet, $3, $4, $5, $6, $7::jsonb)";
    /// Revokes an API key (`$4`: any key, not only the caller's): (outcome, key id, version).
    API_KEY_REVOKE(INT8, TEXT, UUID, BOOL) = "SELECT outcome, key_id, version FROM api_key_revoke($1, $2::inet, $3, $4)";
    /// A user's API keys, newest first, with their bindings as JSON text.
    API_KEYS_OF_OWNER(INT8) = "SELECT k.sourced_id, k.prefix, k.name, \
        to_char(k.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
        to_char(k.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
        to_char(k.last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
        to_char(k.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
        coalesce((SELECT json_agg(json_build_object('role', r.name, 'scope', json_build_object( \
            'type', b.scope_type, 'sourced_id', \
            CASE b.scope_type WHEN 'class' THEN (SELECT sourced_id FROM classes WHERE id = b.scope_id) \
                 ELSE (SELECT sourced_id FROM orgs WHERE id = b.scope_id) END)) ORDER BY b.id) \
          FROM role_bindings b JOIN roles r ON r.id = b.role_id WHERE b.api_key_id = k.id), '[]')::text \
        FROM api_keys k WHERE k.owner_id = $1 ORDER BY k.id DESC LIMIT 200";
    /// Records that keys were used (batched per shard, not one write per request).
    API_KEYS_TOUCH(INT8_ARRAY) = "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1)";
    /// A page of the audit trail, newest first: every filter optional (NULL matches anything),
    /// `$7` the keyset cursor (ids below it), `$8` rows to return. The optional filters are
    /// `CASE WHEN $n IS NULL THEN true ELSE .. END` rather than `$n IS NULL OR ..` or `coalesce`d
    /// bounds: a plan made with the values folds either form away, but in the generic plan that
    /// prepared mode may switch to after five executions, the other forms looked so selective
    /// that PostgreSQL read every event (through the `occurred_at` index, or sorting them all);
    /// with `CASE` it walks the primary key backwards and stops at the limit, like the custom
    /// plans (measured with EXPLAIN on 20,000 events; tests/query_plans.rs keeps it so). Times
    /// keep the stored microseconds: one request often writes several events in a millisecond.
    AUDIT_PAGE(TEXT, UUID, TEXT, TEXT, TIMESTAMPTZ, TIMESTAMPTZ, INT8, INT8) = "SELECT e.id, \
        to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
        u.sourced_id, e.action, e.target_type, e.target_id, host(e.ip), e.details::text, \
        encode(e.hash, 'hex') \
        FROM audit_events e LEFT JOIN users u ON u.id = e.actor_id \
        WHERE e.id < coalesce($7::int8, 9223372036854775807) \
        AND CASE WHEN $1::text IS NULL THEN true ELSE e.action = $1 END \
        AND CASE WHEN $2::uuid IS NULL THEN true \
            ELSE e.actor_id = (SELECT a.id FROM users a WHERE a.sourced_id = $2) END \
        AND CASE WHEN $3::text IS NULL THEN true ELSE e.target_type = $3 END \
        AND CASE WHEN $4::text IS NULL THEN true ELSE e.target_id = $4 END \
        AND CASE WHEN $5::timestamptz IS NULL THEN true ELSE e.occurred_at >= $5 END \
        AND CASE WHEN $6::timestamptz IS NULL THEN true ELSE e.occurred_at < $6 END \
        ORDER BY e.id DESC LIMIT $8";
    /// An org's public id by row id (public ids never change, so shards keep them).
    ORG_SOURCED_ID(INT8) = "SELECT sourced_id FROM orgs WHERE id = $1";
    /// Where throttle subject `$1` stands seen from address `$2` (see `LOGIN_FAILED`).
    THROTTLE_STATE(TEXT, TEXT) = "SELECT * FROM login_throttle_state($1, $2)";
    /// Ends the session of refresh token `$1` (its hash) from address `$2`: the family and the
    /// user's access tokens, with the audit event, in one transaction: (user id, version).
    LOGOUT(BYTEA, TEXT) = "SELECT user_id, version FROM auth_logout($1, $2::inet)";
    /// Creates a student (see `student_create` in migration 0008).
    STUDENT_CREATE(INT8, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT2, UUID, DATE) = outcome_of!("student_create($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
    /// Changes or (de)activates a student.
    STUDENT_UPDATE(INT8, TEXT, UUID, INT8, BOOL, TEXT, TEXT, TEXT, TEXT, TEXT, INT2, UUID, DATE, TEXT) = outcome_of!("student_update($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)");
    /// Creates a staff member.
    STAFF_CREATE(INT8, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, UUID) = outcome_of!("staff_create($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10)");
    /// Changes or (de)activates a staff member.
    STAFF_UPDATE(INT8, TEXT, UUID, INT8, BOOL, TEXT, TEXT, TEXT, TEXT, TEXT, UUID, TEXT, TEXT) = outcome_of!("staff_update($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    /// Withdraws a student as of a date (see `student_withdraw` in migration 0019).
    STUDENT_WITHDRAW(INT8, TEXT, UUID, INT8, DATE) = outcome_of!("student_withdraw($1, $2::inet, $3, $4, $5)");
    /// Links a guardian to a student, or makes the guardian's account and links it (migration 0019).
    GUARDIAN_LINK(INT8, TEXT, UUID, UUID, TEXT, TEXT, TEXT, TEXT, TEXT) = outcome_of!("guardian_link($1, $2::inet, $3, $4, $5, $6, $7, $8, $9)");
    /// The guardians linked to student `$1`, as one JSON array.
    STUDENT_GUARDIANS(INT8) = "SELECT coalesce(json_agg(json_build_object('guardian', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'username', u.username, 'email', u.email, 'given_name', u.given_name, 'family_name', u.family_name, 'status', u.status, 'relationship', g.relationship) ORDER BY lower(u.family_name), lower(u.given_name), u.id), '[]')::text FROM guardianships g JOIN users u ON u.id = g.guardian_id WHERE g.student_id = $1";
    /// The institution's settings, as one JSON object (NULL: no institution yet).
    INSTITUTION_SETTINGS() = "SELECT json_build_object('institution', json_build_object('sourced_id', o.sourced_id, 'type', 'org'), 'name', o.name, 'time_zone', o.time_zone, 'today', campus_today(), 'teaching_weekdays', o.teaching_weekdays)::text FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1";
    /// Today where the institution is.
    CAMPUS_TODAY() = "SELECT campus_today() - DATE '1970-01-01'";
    /// Ends a guardian's link to a student.
    GUARDIAN_UNLINK(INT8, TEXT, UUID, UUID) = outcome_of!("guardian_unlink($1, $2::inet, $3, $4)");
    /// Changes the institution's settings (its time zone).
    INSTITUTION_SETTINGS_SAVE(INT8, TEXT, TEXT, TEXT_ARRAY) = outcome_of!("institution_settings_save($1, $2::inet, $3, $4)");
    /// Adds a holiday or closure to the calendar.
    CLOSURE_CREATE(INT8, TEXT, TEXT, TEXT, DATE, DATE) = outcome_of!("closure_create($1, $2::inet, $3, $4, $5, $6)");
    /// Removes one.
    CLOSURE_DELETE(INT8, TEXT, UUID) = outcome_of!("closure_delete($1, $2::inet, $3)");
    /// The calendar from `$1` to `$2`: teaching weekdays, the closures overlapping the range
    /// and each date's teaching state; as one JSON object.
    CALENDAR(DATE, DATE) = "SELECT json_build_object('from', $1, 'to', $2, \
        'teaching_weekdays', (SELECT o.teaching_weekdays FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1), \
        'teaching_days', (SELECT count(*) FROM generate_series($1, $2, interval '1 day') g WHERE campus_teaching_day(g::date)), \
        'closures', (SELECT coalesce(json_agg(json_build_object('sourced_id', c.sourced_id, 'kind', c.kind, 'title', c.title, 'start_date', c.start_date, 'end_date', c.end_date) ORDER BY c.start_date, c.id), '[]') \
            FROM calendar_closures c WHERE c.start_date <= $2 AND c.end_date >= $1), \
        'terms', (SELECT coalesce(json_agg(json_build_object('sourced_id', t.sourced_id, 'title', t.title, 'type', t.type, 'start_date', t.start_date, 'end_date', t.end_date, \
            'teaching_days', (SELECT count(*) FROM generate_series(t.start_date, t.end_date, interval '1 day') g WHERE campus_teaching_day(g::date))) ORDER BY t.start_date, t.id), '[]') \
            FROM academic_sessions t WHERE t.status = 'active' AND t.start_date <= $2 AND t.end_date >= $1))::text";
    /// Creates or changes an attendance code (see `attendance_code_save` in migration 0019).
    ATTENDANCE_CODE_SAVE(INT8, TEXT, UUID, TEXT, TEXT, TEXT, FLOAT8, TEXT, TEXT) = outcome_of!("attendance_code_save($1, $2::inet, $3, $4, $5, $6, $7::numeric, $8, $9)");
    /// The attendance codes of the institution (`$1` NULL) or of a department and the
    /// institution, retired ones included; as one JSON array.
    ATTENDANCE_CODES(UUID) = "SELECT coalesce(json_agg(json_build_object('code', a.code, 'description', a.description, 'category', a.category, 'presence_fraction', a.presence_fraction::float8, 'entered_by', a.entered_by, 'status', a.status, 'scope', CASE WHEN o.type = 'institution' THEN 'institution' ELSE 'department' END, 'department', CASE WHEN o.type = 'department' THEN json_build_object('sourced_id', o.sourced_id, 'type', 'org') END) ORDER BY o.type DESC, a.code), '[]')::text FROM attendance_codes a JOIN orgs o ON o.id = a.org_id WHERE o.type = 'institution' OR ($1::uuid IS NOT NULL AND o.sourced_id = $1)";
    /// Rolls term `$3` over into term `$4` (see `term_rollover` in migration 0019).
    TERM_ROLLOVER(INT8, TEXT, UUID, UUID, BOOL, BOOL) = outcome_of!("term_rollover($1, $2::inet, $3, $4, $5, $6)");
    /// Creates (`$3` NULL) or changes a department.
    DEPARTMENT_SAVE(INT8, TEXT, UUID, INT8, TEXT, TEXT, TEXT) = outcome_of!("department_save($1, $2::inet, $3, $4, $5, $6, $7)");
    /// Creates (`$3` NULL) or changes an academic session.
    TERM_SAVE(INT8, TEXT, UUID, INT8, TEXT, TEXT, DATE, DATE, INT2, UUID, TEXT) = outcome_of!("term_save($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
    /// Creates (`$3` NULL) or changes a course.
    COURSE_SAVE(INT8, TEXT, UUID, INT8, TEXT, TEXT, FLOAT8, UUID, TEXT) = outcome_of!("course_save($1, $2::inet, $3, $4, $5, $6, $7, $8, $9)");
    /// Creates (`$3` NULL) or changes a class.
    CLASS_SAVE(INT8, TEXT, UUID, INT8, TEXT, TEXT, TEXT, TEXT, TEXT_ARRAY, INT4, UUID, UUID, TEXT) = outcome_of!("class_save($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    /// Enrolls people in a class, all or nothing.
    ENROLLMENTS_ADD(INT8, TEXT, UUID, UUID_ARRAY, TEXT, BOOL) = outcome_of!("enrollments_add($1, $2::inet, $3, $4, $5, $6)");
    /// Ends an enrollment.
    ENROLLMENT_DROP(INT8, TEXT, UUID) = outcome_of!("enrollment_drop($1, $2::inet, $3)");
    /// Opens an attendance session.
    ATTENDANCE_OPEN(INT8, TEXT, UUID, DATE, INT2, BOOL) = outcome_of!("attendance_open($1, $2::inet, $3, $4, $5, $6)");
    /// Marks many registers in one transaction (a shard's coalesced registers), by session row id
    /// and the students' users ids: one row per register, in order.
    ATTENDANCE_MARK_BATCH(INT8_ARRAY, TEXT_ARRAY, INT8_ARRAY, TEXT_ARRAY, INT4_ARRAY, INT8_ARRAY, TEXT_ARRAY, INT2_ARRAY) = outcome_of!("attendance_mark_batch($1, $2::inet[], $3, $4, $5, $6, $7, $8) ORDER BY idx");
    /// Submits a register.
    ATTENDANCE_SUBMIT(INT8, TEXT, UUID) = outcome_of!("attendance_submit($1, $2::inet, $3)");
    /// Creates (`$3` NULL) or changes a line item.
    LINE_ITEM_SAVE(INT8, TEXT, UUID, INT8, UUID, TEXT, TEXT, FLOAT8, TIMESTAMPTZ, TEXT) = outcome_of!("line_item_save($1, $2::inet, $3, $4, $5, $6, $7, $8, $9, $10)");
    /// Enters results for a line item in bulk, if its version is still `$8` (NULL: any).
    RESULTS_PUT(INT8, TEXT, UUID, UUID_ARRAY, FLOAT8_ARRAY, TEXT_ARRAY, TEXT_ARRAY, INT8) = outcome_of!("results_put_checked($1, $2::inet, $3, $4, $5, $6, $7, $8)");
    /// Students by public ids, for a page the shard assembles from its profile cache: the columns of `STUDENT_BY_ID`.
    STUDENTS_BY_IDS(UUID_ARRAY) = concat!(student_select!(), "WHERE u.sourced_id = ANY($1)");
    /// A page of students after row id `$6`: (row id, public id); the shard fills in the profiles from its cache. Filters, each NULL for any: department `$1`, programme `$2`, year `$3`, status `$4`, a lower-case LIKE prefix `$5` (escaped) of the family or given name, roll number or email; `$8` the departments the caller may read (NULL: all). Walks student_profiles' primary key from the cursor, so generic and custom plans alike read one page's rows (plus those the filters skip).
    STUDENTS_PAGE(UUID, TEXT, INT2, TEXT, TEXT, INT8, INT8, INT8_ARRAY) = "SELECT sp.user_id, u.sourced_id FROM student_profiles sp JOIN users u ON u.id = sp.user_id WHERE sp.user_id > $6 AND ($1::uuid IS NULL OR sp.department_id = (SELECT o.id FROM orgs o WHERE o.sourced_id = $1)) AND ($2::text IS NULL OR sp.program = $2) AND ($3::int2 IS NULL OR sp.year_of_study = $3) AND ($4::text IS NULL OR u.status = $4) AND ($8::int8[] IS NULL OR sp.department_id = ANY($8)) AND ($5::text IS NULL OR lower(u.family_name) LIKE $5 || '%' OR lower(u.given_name) LIKE $5 || '%' OR lower(sp.roll_number) LIKE $5 || '%' OR lower(u.email) LIKE $5 || '%') ORDER BY sp.user_id LIMIT $7";
    /// A staff member: (row id, department, version, document).
    STAFF_BY_ID(UUID) = "SELECT u.id, st.department_id, campus_version(greatest(u.date_last_modified, st.date_last_modified)), staff_doc(u, st, d.sourced_id)::text FROM users u JOIN staff_profiles st ON st.user_id = u.id JOIN orgs d ON d.id = st.department_id WHERE u.sourced_id = $1";
    /// A page of staff after row id `$5`: department `$1`, role `$2`, status `$3`, prefix `$4` as for students; `$7` the departments the caller may read (NULL: all). Walks staff_profiles' primary key from the cursor.
    STAFF_PAGE(UUID, TEXT, TEXT, TEXT, INT8, INT8, INT8_ARRAY) = "SELECT st.user_id, staff_doc(u, st, d.sourced_id)::text FROM staff_profiles st JOIN users u ON u.id = st.user_id JOIN orgs d ON d.id = st.department_id WHERE st.user_id > $5 AND ($1::uuid IS NULL OR st.department_id = (SELECT o.id FROM orgs o WHERE o.sourced_id = $1)) AND ($2::text IS NULL OR u.role = $2) AND ($3::text IS NULL OR u.status = $3) AND ($7::int8[] IS NULL OR st.department_id = ANY($7)) AND ($4::text IS NULL OR lower(u.family_name) LIKE $4 || '%' OR lower(u.given_name) LIKE $4 || '%' OR lower(st.employee_number) LIKE $4 || '%' OR lower(u.email) LIKE $4 || '%') ORDER BY st.user_id LIMIT $6";
    /// An academic session: (row id, version, document).
    TERM_BY_ID(UUID) = "SELECT a.id, campus_version(a.date_last_modified), json_build_object('sourced_id', a.sourced_id, 'status', a.status, 'date_last_modified', to_char(a.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', a.title, 'type', a.type, 'start_date', a.start_date, 'end_date', a.end_date, 'school_year', a.school_year, 'parent', (SELECT json_build_object('sourced_id', p.sourced_id, 'type', 'academicSession') FROM academic_sessions p WHERE p.id = a.parent_id))::text FROM academic_sessions a WHERE a.sourced_id = $1";
    /// Academic sessions after row id `$1` (`$3` type, `$4` school year: NULL for any).
    TERMS_PAGE(INT8, INT8, TEXT, INT2) = "SELECT a.id, json_build_object('sourced_id', a.sourced_id, 'status', a.status, 'date_last_modified', to_char(a.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', a.title, 'type', a.type, 'start_date', a.start_date, 'end_date', a.end_date, 'school_year', a.school_year, 'parent', (SELECT json_build_object('sourced_id', p.sourced_id, 'type', 'academicSession') FROM academic_sessions p WHERE p.id = a.parent_id))::text FROM academic_sessions a WHERE a.id > $1 AND ($3::text IS NULL OR a.type = $3) AND ($4::int2 IS NULL OR a.school_year = $4) ORDER BY a.id LIMIT $2";
    /// A course: (row id, department, version, document).
    COURSE_BY_ID(UUID) = "SELECT c.id, c.org_id, campus_version(c.date_last_modified), json_build_object('sourced_id', c.sourced_id, 'status', c.status, 'date_last_modified', to_char(c.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', c.title, 'course_code', c.course_code, 'credits', c.credits::float8, 'department', json_build_object('sourced_id', d.sourced_id, 'type', 'org'))::text FROM courses c JOIN orgs d ON d.id = c.org_id WHERE c.sourced_id = $1";
    /// Courses after row id `$3`: department `$1`, LIKE prefix `$2` of the code or lower-case title (NULL for any).
    COURSES_PAGE(UUID, TEXT, INT8, INT8) = "SELECT c.id, json_build_object('sourced_id', c.sourced_id, 'status', c.status, 'date_last_modified', to_char(c.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', c.title, 'course_code', c.course_code, 'credits', c.credits::float8, 'department', json_build_object('sourced_id', d.sourced_id, 'type', 'org'))::text FROM courses c JOIN orgs d ON d.id = c.org_id WHERE c.id > $3 AND ($1::uuid IS NULL OR d.sourced_id = $1) AND ($2::text IS NULL OR lower(c.course_code) LIKE $2 || '%' OR lower(c.title) LIKE $2 || '%') ORDER BY c.id LIMIT $4";
    /// A class: (row id, department, version, document).
    CLASS_BY_ID(UUID) = concat!("SELECT k.id, k.org_id, campus_version(k.date_last_modified), ", class_doc!(), "::text FROM classes k JOIN courses c ON c.id = k.course_id JOIN academic_sessions t ON t.id = k.term_id JOIN orgs d ON d.id = k.org_id WHERE k.sourced_id = $1");
    /// Classes after row id `$4`: term `$1`, course `$2`, department `$3` (NULL for any); `$6` the departments the caller may read (NULL: all); `$7` only classes this user teaches (NULL: any).
    CLASSES_PAGE(UUID, UUID, UUID, INT8, INT8, INT8_ARRAY, INT8) = "SELECT k.id, json_build_object('sourced_id', k.sourced_id, 'status', k.status, 'date_last_modified', to_char(k.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', k.title, 'class_code', k.class_code, 'class_type', k.class_type, 'location', k.location, 'periods', k.periods, 'capacity', k.capacity, 'course', json_build_object('sourced_id', c.sourced_id, 'type', 'course'), 'term', json_build_object('sourced_id', t.sourced_id, 'type', 'academicSession'), 'department', json_build_object('sourced_id', d.sourced_id, 'type', 'org'), 'teachers', (SELECT coalesce(json_agg(json_build_object('sourced_id', u.sourced_id, 'type', 'user') ORDER BY u.id), '[]') FROM enrollments e JOIN users u ON u.id = e.user_id WHERE e.class_id = k.id AND e.role = 'teacher' AND e.status = 'active'), 'enrolled', (SELECT count(*) FROM enrollments e WHERE e.class_id = k.id AND e.role = 'student' AND e.status = 'active'))::text FROM classes k JOIN courses c ON c.id = k.course_id JOIN academic_sessions t ON t.id = k.term_id JOIN orgs d ON d.id = k.org_id WHERE k.id > $4 AND ($1::uuid IS NULL OR t.sourced_id = $1) AND ($2::uuid IS NULL OR c.sourced_id = $2) AND ($3::uuid IS NULL OR d.sourced_id = $3) AND ($6::int8[] IS NULL OR k.org_id = ANY($6)) AND ($7::int8 IS NULL OR EXISTS (SELECT 1 FROM enrollments e WHERE e.class_id = k.id AND e.user_id = $7 AND e.role IN ('teacher', 'aide') AND e.status = 'active')) ORDER BY k.id LIMIT $5";
    /// The public ids of the students actively enrolled in class `$1`, by name (the shard fills in the profiles from its cache).
    CLASS_ROSTER(INT8) = "SELECT u.id, u.sourced_id FROM enrollments e JOIN users u ON u.id = e.user_id WHERE e.class_id = $1 AND e.role = 'student' AND e.status = 'active' ORDER BY lower(u.family_name), lower(u.given_name), u.id";
    /// Every enrollment of class `$1` (ended ones included), as one JSON array.
    CLASS_ENROLLMENTS(INT8) = "SELECT coalesce(json_agg(json_build_object('sourced_id', e.sourced_id, 'status', e.status, 'date_last_modified', to_char(e.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'role', e.role, 'is_primary', e.is_primary, 'begin_date', e.begin_date, 'end_date', e.end_date, 'user', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_code', k.class_code, 'class_title', k.title) ORDER BY e.role DESC, u.id), '[]')::text FROM enrollments e JOIN users u ON u.id = e.user_id JOIN classes k ON k.id = e.class_id WHERE e.class_id = $1";
    /// A page of class `$1`'s enrollments (ended ones included) after row `$2`, at most `$3`: (row id, document).
    CLASS_ENROLLMENTS_PAGE(INT8, INT8, INT8) = "SELECT e.id, json_build_object('sourced_id', e.sourced_id, 'status', e.status, 'date_last_modified', to_char(e.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'role', e.role, 'is_primary', e.is_primary, 'begin_date', e.begin_date, 'end_date', e.end_date, 'user', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_code', k.class_code, 'class_title', k.title)::text FROM enrollments e JOIN users u ON u.id = e.user_id JOIN classes k ON k.id = e.class_id WHERE e.class_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3";
    /// An enrollment: (row id, class row id, class department, status, version, document).
    ENROLLMENT_BY_ID(UUID) = "SELECT e.id, e.class_id, k.org_id, e.status, campus_version(e.date_last_modified), json_build_object('sourced_id', e.sourced_id, 'status', e.status, 'date_last_modified', to_char(e.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'role', e.role, 'is_primary', e.is_primary, 'begin_date', e.begin_date, 'end_date', e.end_date, 'user', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_code', k.class_code, 'class_title', k.title)::text FROM enrollments e JOIN users u ON u.id = e.user_id JOIN classes k ON k.id = e.class_id WHERE e.sourced_id = $1";
    /// Every enrollment of user `$1`, as one JSON array.
    USER_ENROLLMENTS(INT8) = "SELECT coalesce(json_agg(json_build_object('sourced_id', e.sourced_id, 'status', e.status, 'date_last_modified', to_char(e.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'role', e.role, 'is_primary', e.is_primary, 'begin_date', e.begin_date, 'end_date', e.end_date, 'user', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_code', k.class_code, 'class_title', k.title) ORDER BY k.class_code, e.id), '[]')::text FROM enrollments e JOIN users u ON u.id = e.user_id JOIN classes k ON k.id = e.class_id WHERE e.user_id = $1";
    /// The classes student `$1` is actively enrolled in, as one JSON array of class documents.
    STUDENT_CLASSES(INT8) = concat!("SELECT coalesce(json_agg(", class_doc!(), " ORDER BY k.class_code, k.id), '[]')::text FROM enrollments e JOIN classes k ON k.id = e.class_id JOIN courses c ON c.id = k.course_id JOIN academic_sessions t ON t.id = k.term_id JOIN orgs d ON d.id = k.org_id WHERE e.user_id = $1 AND e.role = 'student' AND e.status = 'active'");
    /// Student `$1`'s lessons from `$2` to `$3`: each timetable slot of each class they are
    /// enrolled in on that day, inside the class's term, with the class, its room and teachers,
    /// and the register if one was opened; as one JSON array.
    STUDENT_TIMETABLE(INT8, DATE, DATE) = "SELECT coalesce(json_agg(json_build_object('date', x.day, 'period', x.period, 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_code', k.class_code, 'title', k.title, 'location', k.location, 'teachers', (SELECT coalesce(json_agg(json_build_object('sourced_id', u.sourced_id, 'type', 'user', 'given_name', u.given_name, 'family_name', u.family_name) ORDER BY u.family_name, u.id), '[]') FROM enrollments te JOIN users u ON u.id = te.user_id WHERE te.class_id = k.id AND te.role = 'teacher' AND te.status = 'active'), 'session', s.sourced_id) ORDER BY x.day, x.period, k.class_code), '[]')::text \
        FROM enrollments e JOIN classes k ON k.id = e.class_id AND k.status = 'active' \
        JOIN academic_sessions t ON t.id = k.term_id \
        CROSS JOIN LATERAL (SELECT g::date AS day, split_part(p, '-', 2)::int2 AS period \
            FROM generate_series(greatest($2, t.start_date, e.begin_date), least($3, t.end_date), interval '1 day') g \
            JOIN unnest(k.periods) p ON split_part(p, '-', 1) = upper(to_char(g, 'DY')) \
            WHERE campus_teaching_day(g::date)) x \
        LEFT JOIN attendance_sessions s ON s.class_id = k.id AND s.session_date = x.day AND s.period = x.period \
        WHERE e.user_id = $1 AND e.role = 'student' AND (e.status = 'active' OR e.end_date IS NOT NULL) \
          AND (e.end_date IS NULL OR x.day < e.end_date)";
    /// The line items of the classes student `$1` is actively enrolled in, with the student's
    /// own result where the line item is published or locked; as one JSON array.
    STUDENT_LINE_ITEMS(INT8) = "SELECT coalesce(json_agg(json_build_object('sourced_id', li.sourced_id, 'status', li.status, 'date_last_modified', to_char(li.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', li.title, 'category', li.category, 'max_score', li.max_score::float8, 'due_date', to_char(li.due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_title', k.title, 'result', (SELECT json_build_object('score', r.score::float8, 'score_status', r.score_status, 'comment', r.comment) FROM results r WHERE r.line_item_id = li.id AND r.student_id = $1 AND li.status <> 'draft')) ORDER BY li.due_date NULLS LAST, li.id), '[]')::text FROM enrollments e JOIN classes k ON k.id = e.class_id JOIN line_items li ON li.class_id = k.id WHERE e.user_id = $1 AND e.role = 'student' AND e.status = 'active'";
    /// Whether user `$1` is a member of class `$2`: actively enrolled in it as a student (`$3`),
    /// or a guardian of a student actively enrolled in it (`$4`).
    CLASS_MEMBER(INT8, INT8, BOOL, BOOL) = "SELECT EXISTS (SELECT 1 FROM enrollments e WHERE e.class_id = $2 AND e.role = 'student' AND e.status = 'active' AND (($3 AND e.user_id = $1) OR ($4 AND e.user_id IN (SELECT g.student_id FROM guardianships g WHERE g.guardian_id = $1))))";
    /// Whether user `$1` teaches (or assists in) class `$2`.
    TEACHES(INT8, INT8) = "SELECT EXISTS (SELECT 1 FROM enrollments WHERE user_id = $1 AND class_id = $2 AND role IN ('teacher', 'aide') AND status = 'active')";
    /// An attendance session: (row id, class row id, class department, submitted, version, document with its records).
    SESSION_BY_ID(UUID) = "SELECT s.id, s.class_id, k.org_id, s.submitted_at IS NOT NULL, campus_version(s.date_last_modified), (json_build_object('sourced_id', s.sourced_id, 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'date', s.session_date, 'period', s.period, 'taken_by', (SELECT json_build_object('sourced_id', u.sourced_id, 'type', 'user') FROM users u WHERE u.id = s.taken_by), 'submitted_at', to_char(s.submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'date_last_modified', to_char(s.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'records', (SELECT coalesce(json_agg(json_build_object('student', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'code', a.code, 'category', a.category, 'minutes_present', x.minutes, 'source', r.source, 'overrides_teacher', r.source = 'office' AND EXISTS (SELECT 1 FROM attendance_registers t WHERE t.session_id = s.id AND t.session_date = s.session_date AND t.source = 'teacher' AND x.uid = ANY (t.students)), 'recorded_at', to_char(x.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) ORDER BY x.uid, r.source DESC), '[]') FROM attendance_registers r CROSS JOIN unnest(r.students, r.codes, r.minutes, r.recorded_at) AS x (uid, code_id, minutes, at) JOIN users u ON u.id = x.uid JOIN attendance_codes a ON a.id = x.code_id WHERE r.session_id = s.id AND r.session_date = s.session_date)))::text FROM attendance_sessions s JOIN classes k ON k.id = s.class_id WHERE s.sourced_id = $1";
    /// What marking a register needs to know of its session: (row id, class row id, class department, submitted).
    SESSION_STATE(UUID) = "SELECT s.id, s.class_id, k.org_id, s.submitted_at IS NOT NULL FROM attendance_sessions s JOIN classes k ON k.id = s.class_id WHERE s.sourced_id = $1";
    /// The attendance sessions of class `$1` from `$2` to `$3`, as one JSON array.
    CLASS_SESSIONS(INT8, DATE, DATE) = "SELECT coalesce(json_agg(json_build_object('sourced_id', s.sourced_id, 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'date', s.session_date, 'period', s.period, 'taken_by', (SELECT json_build_object('sourced_id', u.sourced_id, 'type', 'user') FROM users u WHERE u.id = s.taken_by), 'submitted_at', to_char(s.submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'date_last_modified', to_char(s.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'records', (SELECT coalesce(sum(cardinality(r.students)), 0) FROM attendance_registers r WHERE r.session_id = s.id AND r.session_date = s.session_date)) ORDER BY s.session_date, s.period), '[]')::text FROM attendance_sessions s JOIN classes k ON k.id = s.class_id WHERE s.class_id = $1 AND s.session_date BETWEEN $2 AND $3";
    /// Per-student attendance of class `$1` from `$2` to `$3` (an office mark counts instead of the teacher's), as one JSON array. Analytics: the replica when fresh.
    CLASS_ATTENDANCE_REPORT(INT8, DATE, DATE) = "WITH marks AS (SELECT m.student_id, a.category, a.presence_fraction, m.minutes FROM attendance_sessions s CROSS JOIN LATERAL effective_marks(s.id, s.session_date) m JOIN attendance_codes a ON a.id = m.code_id WHERE s.class_id = $1 AND s.session_date BETWEEN $2 AND $3 AND campus_teaching_day(s.session_date)) SELECT coalesce(json_agg(json_build_object('student', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'given_name', u.given_name, 'family_name', u.family_name, 'roll_number', sp.roll_number, 'marks', coalesce(m.n, 0), 'present', coalesce(m.present, 0), 'late', coalesce(m.late, 0), 'absent', coalesce(m.absent, 0), 'excused', coalesce(m.excused, 0), 'minutes_present', coalesce(m.minutes, 0), 'presence_rate', CASE WHEN coalesce(m.n, 0) = 0 THEN NULL ELSE round(m.presence / m.n, 4)::float8 END) ORDER BY lower(u.family_name), lower(u.given_name), u.id), '[]')::text FROM enrollments e JOIN users u ON u.id = e.user_id JOIN student_profiles sp ON sp.user_id = u.id LEFT JOIN (SELECT student_id, count(*) AS n, count(*) FILTER (WHERE category = 'present') AS present, count(*) FILTER (WHERE category = 'late') AS late, count(*) FILTER (WHERE category = 'absent') AS absent, count(*) FILTER (WHERE category = 'excused') AS excused, sum(presence_fraction) AS presence, coalesce(sum(minutes), 0) AS minutes FROM marks GROUP BY student_id) m ON m.student_id = u.id WHERE e.class_id = $1 AND e.role = 'student' AND e.status = 'active'";
    /// Classes that meet on date `$1` (weekday `$2`, e.g. MON), a teaching day in a term covering it, whose register for a period is not submitted: (key: class row id * 32 + period, document), keyed after `$5`, at most `$6`; `$3` the departments the caller may read (NULL: all), `$4` only classes this user teaches (NULL: any).
    NOT_TAKEN(DATE, TEXT, INT8_ARRAY, INT8, INT8, INT8) = "SELECT k.id * 32 + x.period, json_build_object('class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'), 'class_code', k.class_code, 'title', k.title, 'period', x.period, 'session', s.sourced_id, 'state', CASE WHEN s.id IS NULL THEN 'not_opened' ELSE 'not_submitted' END)::text FROM academic_sessions t JOIN classes k ON k.term_id = t.id CROSS JOIN LATERAL (SELECT split_part(p, '-', 2)::int2 AS period FROM unnest(k.periods) p WHERE p LIKE $2 || '-%') x LEFT JOIN attendance_sessions s ON s.class_id = k.id AND s.session_date = $1 AND s.period = x.period WHERE $1 >= t.start_date AND $1 <= t.end_date AND campus_teaching_day($1) AND k.status = 'active' AND (s.id IS NULL OR s.submitted_at IS NULL) AND ($3::int8[] IS NULL OR k.org_id = ANY($3)) AND ($4::int8 IS NULL OR EXISTS (SELECT 1 FROM enrollments e WHERE e.class_id = k.id AND e.user_id = $4 AND e.role IN ('teacher', 'aide') AND e.status = 'active')) AND k.id * 32 + x.period > $5 ORDER BY k.id * 32 + x.period LIMIT $6";
    /// A line item: (row id, class row id, class department, status, version, document).
    LINE_ITEM_BY_ID(UUID) = "SELECT li.id, li.class_id, k.org_id, li.status, campus_version(li.date_last_modified), json_build_object('sourced_id', li.sourced_id, 'status', li.status, 'date_last_modified', to_char(li.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', li.title, 'category', li.category, 'max_score', li.max_score::float8, 'due_date', to_char(li.due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class'))::text FROM line_items li JOIN classes k ON k.id = li.class_id WHERE li.sourced_id = $1";
    /// The line items of class `$1` (`$2`: published and locked only), as one JSON array.
    CLASS_LINE_ITEMS(INT8, BOOL) = "SELECT coalesce(json_agg(json_build_object('sourced_id', li.sourced_id, 'status', li.status, 'date_last_modified', to_char(li.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', li.title, 'category', li.category, 'max_score', li.max_score::float8, 'due_date', to_char(li.due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class')) ORDER BY li.due_date NULLS LAST, li.id), '[]')::text FROM line_items li JOIN classes k ON k.id = li.class_id WHERE li.class_id = $1 AND (NOT $2 OR li.status <> 'draft')";
    /// The results of line item `$1`, as one JSON array.
    LINE_ITEM_RESULTS(INT8) = "SELECT coalesce(json_agg(json_build_object('student', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'score', r.score::float8, 'score_status', r.score_status, 'comment', r.comment, 'date_last_modified', to_char(r.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) ORDER BY u.id), '[]')::text FROM results r JOIN users u ON u.id = r.student_id WHERE r.line_item_id = $1";
    /// The results of student `$1`, one row each (line item row id, document) in line item order:
    /// those of published and locked line items,
    /// and drafts where `$2` (every class) or of the classes `$3` (those whose line items the caller
    /// may grade or publish).
    STUDENT_RESULTS(INT8, BOOL, INT8_ARRAY) = "SELECT li.id, json_build_object('student', json_build_object('sourced_id', u.sourced_id, 'type', 'user'), 'score', r.score::float8, 'score_status', r.score_status, 'comment', r.comment, 'date_last_modified', to_char(r.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'line_item', json_build_object('sourced_id', li.sourced_id, 'status', li.status, 'date_last_modified', to_char(li.date_last_modified AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'title', li.title, 'category', li.category, 'max_score', li.max_score::float8, 'due_date', to_char(li.due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'class', json_build_object('sourced_id', k.sourced_id, 'type', 'class')), 'class_title', k.title)::text FROM results r JOIN users u ON u.id = r.student_id JOIN line_items li ON li.id = r.line_item_id JOIN classes k ON k.id = li.class_id WHERE r.student_id = $1 AND (li.status <> 'draft' OR $2 OR k.id = ANY($3)) ORDER BY li.id";
    /// The active attendance codes a register of class `$1` takes (the institution's and the class's
    /// department's), as one JSON array.
    CLASS_ATTENDANCE_CODES(INT8) = "SELECT coalesce(json_agg(json_build_object('code', a.code, 'description', a.description, 'category', a.category, 'presence_fraction', a.presence_fraction::float8, 'entered_by', a.entered_by, 'scope', CASE WHEN a.org_id = k.org_id THEN 'department' ELSE 'institution' END) ORDER BY a.code), '[]')::text FROM classes k JOIN orgs o ON o.id = k.org_id JOIN attendance_codes a ON a.org_id IN (k.org_id, o.parent_id) WHERE k.id = $1 AND a.status = 'active'";
    /// Every (permission, scope type, scope id, role) of user `$1`, with the department (orgs.id)
    /// of a class scope: what a caller must cover to change or deactivate that person.
    TARGET_GRANTS(INT8) = "SELECT rp.permission, b.scope_type, b.scope_id, r.name, \
        CASE b.scope_type WHEN 'class' THEN (SELECT k.org_id FROM classes k WHERE k.id = b.scope_id) END \
        FROM role_bindings b JOIN roles r ON r.id = b.role_id \
        JOIN role_permissions rp ON rp.role_id = b.role_id WHERE b.user_id = $1";
    /// The department (orgs.id) of each person `$1` (public ids) with a student or staff profile:
    /// (public id, department).
    PEOPLE_DEPARTMENTS(UUID_ARRAY) = "SELECT u.sourced_id, coalesce(sp.department_id, st.department_id) FROM users u \
        LEFT JOIN student_profiles sp ON sp.user_id = u.id \
        LEFT JOIN staff_profiles st ON st.user_id = u.id \
        WHERE u.sourced_id = ANY($1) AND coalesce(sp.department_id, st.department_id) IS NOT NULL";
    /// The classes (row id, department) with draft line items that student `$1` has results in.
    STUDENT_DRAFT_CLASSES(INT8) = "SELECT DISTINCT k.id, k.org_id FROM results r JOIN line_items li ON li.id = r.line_item_id \
        JOIN classes k ON k.id = li.class_id WHERE r.student_id = $1 AND li.status = 'draft'";
    /// Whether making `$2` the parent of academic session `$1` (public ids) would close a circle:
    /// `$1` is `$2` or one of its ancestors.
    TERM_WOULD_CYCLE(UUID, UUID) = "WITH RECURSIVE up(id, parent_id) AS ( \
          SELECT a.id, a.parent_id FROM academic_sessions a WHERE a.sourced_id = $2 \
          UNION SELECT a.id, a.parent_id FROM academic_sessions a JOIN up ON a.id = up.parent_id) \
        SELECT EXISTS (SELECT 1 FROM up JOIN academic_sessions t ON t.id = up.id WHERE t.sourced_id = $1)";
    /// One register written alone, if its session's version is still `$1` (NULL: any): a mark
    /// with `If-Match`, which leaves the coalescer.
    ATTENDANCE_MARK_CHECKED(INT8, INT8, TEXT, INT8, TEXT, INT8_ARRAY, TEXT_ARRAY, INT2_ARRAY) = outcome_of!("attendance_mark_checked($1, $2, $3::inet, $4, $5, $6, $7, $8)");
    /// The owner (users.id) of API key `$1` (public id).
    API_KEY_OWNER(UUID) = "SELECT owner_id FROM api_keys WHERE sourced_id = $1";
    /// A page of the job queue, newest first: (row id, JSON document) of state `$1` and kind
    /// `$2` (NULL: any), after row `$3` (the previous page's cursor; NULL: the first page), at
    /// most `$4` jobs.
    JOBS_PAGE(TEXT, TEXT, INT8, INT8) = concat!(
        "SELECT j.id, ",
        job_document!(),
        "::text FROM jobs j WHERE ($1::text IS NULL OR j.state = $1) \
         AND ($2::text IS NULL OR j.kind = $2) AND ($3::int8 IS NULL OR j.id < $3) \
         ORDER BY j.id DESC LIMIT $4"
    );
    /// One job, as a JSON document.
    JOB_BY_ID(UUID) = concat!("SELECT ", job_document!(), "::text FROM jobs j WHERE j.sourced_id = $1");
    /// Runs a dead or cancelled job again (`$4` = `retry`) or cancels a ready or running one
    /// (`cancel`), as actor `$1` from address `$2`: a word.
    JOB_OPERATE(INT8, TEXT, UUID, TEXT) = "SELECT job_operate($1, $2::inet, $3, $4)";
    /// Enqueues job `$1` with payload `$2` (JSON text) at priority `$3` under idempotency key `$4`
    /// (at most `$5` attempts): (job id, whether it is new).
    JOB_ENQUEUE(TEXT, TEXT, INT4, TEXT, INT4) = "SELECT job_id, created FROM job_enqueue($1, $2::jsonb, $3, NULL, $4, $5)";
    /// The departments (orgs.id) person `$1` belongs to: their own, or their linked students'.
    USER_DEPARTMENTS(INT8) = "SELECT user_departments($1)";
    /// Invites user `$3` as actor `$1` from `$2`: link `$4` with token hash `$5`, valid `$6` s:
    /// (word, email job, expiry in RFC 3339).
    ACCOUNT_INVITE(INT8, TEXT, INT8, UUID, BYTEA, INT4) = "SELECT outcome, job, \
        to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
        FROM account_invite($1, $2::inet, $3, $4, $5, $6)";
    /// A class's row id and department, by public id.
    REPORT_CLASS(UUID) = "SELECT id, org_id FROM classes WHERE sourced_id = $1";
    /// Asks for a report: actor `$1` from `$2`, kind `$3`, student `$4` or class `$5`, dates
    /// `$6`..=`$7`: (report id, job id).
    REPORT_REQUEST(INT8, TEXT, TEXT, INT8, INT8, TEXT, TEXT) = "SELECT report, job FROM report_request($1, $2::inet, $3, $4, $5, $6::date, $7::date)";
    /// A report: (kind, student, department, class, JSON document); a report whose job died is
    /// `failed` with the job's last error.
    REPORT_BY_ID(UUID) = concat!(report_subject!(), ", json_strip_nulls(json_build_object( \
        'sourced_id', r.sourced_id, 'kind', r.kind, \
        'subject', json_build_object('sourced_id', coalesce(u.sourced_id, k.sourced_id), \
                                     'type', CASE WHEN r.class_id IS NULL THEN 'user' ELSE 'class' END), \
        'from', r.range_from, 'to', r.range_to, \
        'state', CASE WHEN r.state = 'queued' AND j.state = 'dead' THEN 'failed' ELSE r.state END, \
        'error', coalesce(r.error, CASE WHEN j.state = 'dead' THEN j.last_error END), \
        'pages', r.pages, 'bytes', length(r.pdf), \
        'created_at', to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
        'finished_at', to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))::text ",
        report_from!());
    /// A report's file: (kind, student, department, class, state, PDF, file name).
    REPORT_FILE(UUID) = concat!(report_subject!(), ", r.state, r.pdf, \
        replace(r.kind, '_', '-') || '-' || coalesce(u.username, k.class_code) || '-' || r.range_from || '.pdf' ",
        report_from!());
    /// Whether user `$1` takes absence and results notices by email.
    NOTIFICATION_PREFS(INT8) = "SELECT notification_wanted($1, 'absence'), notification_wanted($1, 'results')";
    /// Turns notice kind `$2` on (`$3`) or off for user `$1`, from `$4`, via `$5`: whether it changed.
    NOTIFICATION_CHOOSE(INT8, TEXT, BOOL, TEXT, TEXT) = "SELECT notification_choose($1, $2, $3, $4::inet, $5)";
    /// The institution's notice settings: (absence delay in seconds, alerts to students).
    NOTIFICATION_SETTINGS() = "SELECT absence_delay_s, absence_to_students FROM notification_settings_of( \
        (SELECT id FROM orgs WHERE type = 'institution' ORDER BY id LIMIT 1))";
    /// Changes them (`$3`, `$4`; NULL keeps) as actor `$1` from `$2`: the settings after.
    NOTIFICATION_SETTINGS_SAVE(INT8, TEXT, INT4, BOOL) = "SELECT absence_delay_s, absence_to_students \
        FROM notification_settings_save($1, $2::inet, $3, $4)";
    /// Spends a link of purpose `$1` with token hash `$2`, setting password hash `$3`, from `$4`:
    /// (word, users.id, authz version).
    ACCOUNT_TOKEN_SPEND(TEXT, BYTEA, TEXT, TEXT) = "SELECT outcome, user_id, version FROM account_token_spend($1, $2, $3, $4::inet)";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_positions() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(s.id, i, "{}", s.sql);
            let max_param = (1..=19)
                .rev()
                .find(|n| s.sql.contains(&format!("${n}")))
                .unwrap_or(0);
            assert_eq!(max_param, s.params.len(), "{}", s.sql);
        }
    }
}
