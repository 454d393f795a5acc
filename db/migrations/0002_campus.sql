-- The campus: calendar, catalogue, people, enrollments, attendance, exams, access control and
-- the audit trail. Names follow the OneRoster 1.2 model where it fits (sourced_id, status,
-- date_last_modified on every public row) so the rostering API maps onto these tables directly.

-- School years and terms (OneRoster academicSessions), as a tree. [start_date, end_date).
CREATE TABLE academic_sessions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    type               text NOT NULL CHECK (type IN ('schoolYear', 'semester', 'term', 'gradingPeriod')),
    start_date         date NOT NULL,
    end_date           date NOT NULL,
    school_year        smallint NOT NULL,
    parent_id          bigint REFERENCES academic_sessions (id),
    org_id             bigint NOT NULL REFERENCES orgs (id),
    CHECK (end_date > start_date)
);
CREATE INDEX academic_sessions_parent_id_idx ON academic_sessions (parent_id);
CREATE INDEX academic_sessions_org_dates_idx ON academic_sessions (org_id, start_date);

-- The catalogue: a course belongs to a department.
CREATE TABLE courses (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    course_code        text NOT NULL CHECK (length(course_code) BETWEEN 1 AND 32),
    credits            numeric(4, 1) CHECK (credits >= 0),
    org_id             bigint NOT NULL REFERENCES orgs (id),
    UNIQUE (org_id, course_code)
);

-- A class is a section: one course in one term, with its timetable and room.
CREATE TABLE classes (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    class_code         text NOT NULL CHECK (length(class_code) BETWEEN 1 AND 64),
    class_type         text NOT NULL DEFAULT 'scheduled' CHECK (class_type IN ('homeroom', 'scheduled')),
    location           text,
    -- Timetable slots, e.g. {MON-1,WED-1,FRI-1}: day and period number.
    periods            text[] NOT NULL DEFAULT '{}',
    capacity           integer CHECK (capacity > 0),
    course_id          bigint NOT NULL REFERENCES courses (id),
    term_id            bigint NOT NULL REFERENCES academic_sessions (id),
    org_id             bigint NOT NULL REFERENCES orgs (id),
    UNIQUE (term_id, class_code)
);
CREATE INDEX classes_course_id_idx ON classes (course_id);
CREATE INDEX classes_org_id_idx ON classes (org_id);

-- Everyone who signs in or is signed in for: students, faculty, staff, guardians.
CREATE TABLE users (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id            uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified    timestamptz NOT NULL DEFAULT now(),
    username              text NOT NULL CHECK (length(username) BETWEEN 1 AND 150),
    email                 text CHECK (email IS NULL OR email LIKE '%_@_%'),
    given_name            text NOT NULL CHECK (length(given_name) BETWEEN 1 AND 100),
    family_name           text NOT NULL CHECK (length(family_name) BETWEEN 1 AND 100),
    middle_name           text,
    -- OneRoster primary role; fine-grained permissions come from role_bindings.
    role                  text NOT NULL CHECK (role IN ('student', 'teacher', 'administrator', 'aide', 'guardian', 'proctor')),
    enabled_user          boolean NOT NULL DEFAULT true,
    -- argon2id PHC string, or a Django pbkdf2_sha256$ string awaiting re-hash on log-in.
    password_hash         text,
    failed_login_count    integer NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    first_failed_login_at timestamptz,
    locked_until          timestamptz,
    mfa_secret            bytea,
    mfa_enabled           boolean NOT NULL DEFAULT false,
    password_changed_at   timestamptz,
    -- Access tokens issued before this instant are refused.
    tokens_revoked_before timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;
-- Name-prefix search ("smi" finds Smith, Smithers).
CREATE INDEX users_name_prefix_idx ON users (lower(family_name) text_pattern_ops, lower(given_name) text_pattern_ops);
CREATE INDEX users_date_last_modified_idx ON users (date_last_modified);

CREATE TABLE student_profiles (
    user_id            bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    roll_number        text NOT NULL CHECK (length(roll_number) BETWEEN 1 AND 32),
    program            text NOT NULL,
    year_of_study      smallint NOT NULL CHECK (year_of_study BETWEEN 1 AND 10),
    department_id      bigint NOT NULL REFERENCES orgs (id),
    admitted_on        date,
    date_last_modified timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX student_profiles_roll_number_key ON student_profiles (roll_number text_pattern_ops);
CREATE INDEX student_profiles_department_idx ON student_profiles (department_id, year_of_study);

-- Which guardian may see which student.
CREATE TABLE guardianships (
    guardian_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    student_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    relationship text NOT NULL CHECK (relationship IN ('parent', 'guardian', 'relative', 'other')),
    PRIMARY KEY (guardian_id, student_id)
);
CREATE INDEX guardianships_student_id_idx ON guardianships (student_id);

CREATE TABLE staff_profiles (
    user_id            bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    employee_number    text NOT NULL UNIQUE CHECK (length(employee_number) BETWEEN 1 AND 32),
    designation        text NOT NULL,
    department_id      bigint NOT NULL REFERENCES orgs (id),
    date_last_modified timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_profiles_department_idx ON staff_profiles (department_id);

-- Who is in which class, as what.
CREATE TABLE enrollments (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    user_id            bigint NOT NULL REFERENCES users (id),
    class_id           bigint NOT NULL REFERENCES classes (id),
    role               text NOT NULL CHECK (role IN ('student', 'teacher', 'aide', 'administrator', 'proctor')),
    is_primary         boolean NOT NULL DEFAULT false,
    begin_date         date,
    end_date           date,
    CHECK (end_date IS NULL OR begin_date IS NULL OR end_date > begin_date),
    -- Also the index for a class's roster.
    UNIQUE (class_id, user_id, role)
);
CREATE INDEX enrollments_user_id_idx ON enrollments (user_id, class_id);

-- Attendance codes per org: what a mark means and how much presence it counts as.
CREATE TABLE attendance_codes (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id             bigint NOT NULL REFERENCES orgs (id),
    code               text NOT NULL CHECK (length(code) BETWEEN 1 AND 8),
    description        text NOT NULL,
    category           text NOT NULL CHECK (category IN ('present', 'absent', 'late', 'excused')),
    presence_fraction  numeric(3, 2) NOT NULL CHECK (presence_fraction BETWEEN 0 AND 1),
    -- Who may enter it: teachers in class, the office (e.g. medical leave), or both.
    entered_by         text NOT NULL DEFAULT 'any' CHECK (entered_by IN ('teacher', 'office', 'any')),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, code)
);

-- One meeting of a class: date and period, who took the register, when it was submitted.
CREATE TABLE attendance_sessions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    class_id           bigint NOT NULL REFERENCES classes (id),
    session_date       date NOT NULL,
    period             smallint NOT NULL CHECK (period BETWEEN 0 AND 24),
    taken_by           bigint REFERENCES users (id),
    submitted_at       timestamptz,
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    -- Also the index for a class's sessions by date.
    UNIQUE (class_id, session_date, period)
);

-- The highest-frequency write on a campus. Partitioned by month on the session date; rows for
-- a month without a partition land in the default partition and `campushub db maintain` moves
-- them once it creates that month. session_date repeats the session's date (the partition
-- key); an office record overriding a teacher's mark points at it with overrides_id. Records
-- are never edited in place (a correction is a new record), so recorded_at is also their
-- last-modified time for delta sync, and they are addressed by session and student.
CREATE TABLE attendance_records (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    session_id      bigint NOT NULL REFERENCES attendance_sessions (id),
    session_date    date NOT NULL,
    student_id      bigint NOT NULL REFERENCES users (id),
    code_id         bigint NOT NULL REFERENCES attendance_codes (id),
    minutes_present smallint CHECK (minutes_present >= 0),
    source          text NOT NULL CHECK (source IN ('teacher', 'office')),
    overrides_id    bigint,
    recorded_by     bigint REFERENCES users (id),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, session_date),
    UNIQUE (session_id, student_id, source, session_date)
) PARTITION BY RANGE (session_date);
CREATE TABLE attendance_records_default PARTITION OF attendance_records DEFAULT;
-- A student's attendance in a date range.
CREATE INDEX attendance_records_student_date_idx ON attendance_records (student_id, session_date);

-- Exams and assignments as OneRoster line items, and their results.
CREATE TABLE line_items (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    class_id           bigint NOT NULL REFERENCES classes (id),
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    category           text NOT NULL CHECK (category IN ('exam', 'midterm', 'quiz', 'assignment', 'project', 'lab')),
    max_score          numeric(7, 2) NOT NULL CHECK (max_score > 0),
    due_date           timestamptz,
    status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'locked'))
);
CREATE INDEX line_items_class_id_idx ON line_items (class_id, due_date);

CREATE TABLE results (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    line_item_id       bigint NOT NULL REFERENCES line_items (id),
    student_id         bigint NOT NULL REFERENCES users (id),
    score              numeric(7, 2) CHECK (score >= 0),
    score_status       text NOT NULL DEFAULT 'not submitted'
        CHECK (score_status IN ('exempt', 'fully graded', 'not submitted', 'partially graded', 'submitted')),
    comment            text,
    graded_by          bigint REFERENCES users (id),
    UNIQUE (line_item_id, student_id)
);
CREATE INDEX results_student_id_idx ON results (student_id, line_item_id);

-- Access control: permissions are strings; roles group them; bindings give a role to a user
-- (or an API key) within a scope: the whole institution, one department or one class.
CREATE TABLE permissions (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z_]+\.[a-z_]+$'),
    description text NOT NULL
);

CREATE TABLE roles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_permissions (
    role_id    bigint NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission text NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id    uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    -- Shown in listings; the secret itself is only ever stored hashed.
    prefix        text NOT NULL UNIQUE CHECK (length(prefix) BETWEEN 6 AND 16),
    secret_hash   bytea NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    owner_id      bigint NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_owner_id_idx ON api_keys (owner_id);

CREATE TABLE role_bindings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id  uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    api_key_id  bigint REFERENCES api_keys (id) ON DELETE CASCADE,
    role_id     bigint NOT NULL REFERENCES roles (id),
    scope_type  text NOT NULL CHECK (scope_type IN ('institution', 'department', 'class')),
    -- orgs.id for institution and department scopes, classes.id for class scope.
    scope_id    bigint NOT NULL,
    created_by  bigint REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (api_key_id IS NULL))
);
CREATE UNIQUE INDEX role_bindings_user_key ON role_bindings (user_id, role_id, scope_type, scope_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX role_bindings_api_key_key ON role_bindings (api_key_id, role_id, scope_type, scope_id) WHERE api_key_id IS NOT NULL;

-- Refresh tokens rotate within a family; presenting a rotated one revokes the family.
CREATE TABLE refresh_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    uuid NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    rotated_from bigint REFERENCES refresh_tokens (id),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    rotated_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Append-only audit trail. Each row carries the hash of the previous one, so editing or
-- deleting a row breaks the chain at that point (`campushub audit verify` names it).
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint REFERENCES users (id),
    action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_type text,
    target_id   text,
    ip          inet,
    details     jsonb NOT NULL DEFAULT '{}',
    prev_hash   bytea,
    hash        bytea NOT NULL UNIQUE
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
