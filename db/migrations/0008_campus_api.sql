-- The campus API's writes: people, departments, terms, courses, classes, enrollments,
-- attendance and exam results. Each change is one function call (one statement, so one
-- transaction even through PgBouncer in transaction mode) that checks what only the database
-- can check (uniqueness, references, the state of a register or a line item), applies the
-- change and appends its audit event, or changes nothing and says why.
--
-- Every function answers one row: (outcome, ref, row_id, bad)
--   outcome  'ok' or a word saying why nothing changed;
--   ref      the public id of the created or changed row;
--   row_id   users.id of the person whose cached records went stale (people), else the row id;
--   bad      for bulk changes, the offending entries (public ids, codes), so the client learns
--            every one of them at once.
-- A NULL argument to an update leaves that column as it is.

INSERT INTO permissions (name, description) VALUES
    ('staff.read', 'staff: read'),
    ('staff.write', 'staff: write'),
    ('departments.write', 'departments: write'),
    ('cache.manage', 'cache: manage')
ON CONFLICT (name) DO NOTHING;

INSERT INTO role_permissions (role_id, permission)
SELECT r.id, p.permission FROM roles r JOIN (VALUES
    ('admin', 'staff.read'),
    ('admin', 'staff.write'),
    ('admin', 'departments.write'),
    ('admin', 'cache.manage'),
    ('registrar', 'staff.read'),
    ('head_of_department', 'staff.read'),
    ('staff', 'staff.read')
) AS p (role, permission) ON p.role = r.name AND r.builtin
ON CONFLICT (role_id, permission) DO NOTHING;

-- attendance_records carries no foreign keys. Its only writer, attendance_mark_one below,
-- checks every reference in the same transaction, under the session's row lock: the session
-- exists, each student is actively enrolled in its class (enrollments keep their own foreign
-- keys), each code exists and may be entered by that source, and the recorder is the caller.
-- Sessions, users and codes are never deleted (they are deactivated). The four foreign-key
-- checks cost more than the rest of the insert: measured on the seeded campus, a 45-record
-- register took 4.1 ms to insert with them and 1.0 to 1.7 ms without, on the highest-frequency
-- write of the campus.
ALTER TABLE attendance_records
    DROP CONSTRAINT IF EXISTS attendance_records_session_id_fkey,
    DROP CONSTRAINT IF EXISTS attendance_records_student_id_fkey,
    DROP CONSTRAINT IF EXISTS attendance_records_code_id_fkey,
    DROP CONSTRAINT IF EXISTS attendance_records_recorded_by_fkey;

-- Keyset pages of people by row id, with the filters the lists offer.
CREATE INDEX IF NOT EXISTS student_profiles_program_idx ON student_profiles (program, user_id);
CREATE INDEX IF NOT EXISTS users_email_prefix_idx ON users (lower(email) text_pattern_ops);
CREATE INDEX IF NOT EXISTS users_given_prefix_idx ON users (lower(given_name) text_pattern_ops);
CREATE INDEX IF NOT EXISTS classes_term_id_idx ON classes (term_id);
CREATE INDEX IF NOT EXISTS line_items_status_idx ON line_items (class_id, status);

-- The version a client sees in an ETag: microseconds since the epoch of the last change.
CREATE FUNCTION campus_version(t timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM t) * 1000000)::bigint
$$;

-- A student as the API shows them (also the list's rows).
CREATE FUNCTION student_doc(u users, sp student_profiles, dept uuid) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'sourced_id', u.sourced_id,
        'status', u.status,
        'date_last_modified', to_char(greatest(u.date_last_modified, sp.date_last_modified) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'username', u.username,
        'email', u.email,
        'given_name', u.given_name,
        'family_name', u.family_name,
        'roll_number', sp.roll_number,
        'program', sp.program,
        'year_of_study', sp.year_of_study,
        'department', json_build_object('sourced_id', dept, 'type', 'org'))
$$;

CREATE FUNCTION staff_doc(u users, st staff_profiles, dept uuid) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'sourced_id', u.sourced_id,
        'status', u.status,
        'date_last_modified', to_char(greatest(u.date_last_modified, st.date_last_modified) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'username', u.username,
        'email', u.email,
        'given_name', u.given_name,
        'family_name', u.family_name,
        'role', u.role,
        'employee_number', st.employee_number,
        'designation', st.designation,
        'department', json_build_object('sourced_id', dept, 'type', 'org'))
$$;

-- Which of a new person's unique names are taken: 'username_taken', 'email_taken' or NULL.
CREATE FUNCTION person_clash(p_username text, p_email text, p_except bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_username IS NOT NULL AND EXISTS (SELECT 1 FROM users u
             WHERE lower(u.username) = lower(p_username) AND u.id IS DISTINCT FROM p_except)
            THEN 'username_taken'
        WHEN p_email IS NOT NULL AND EXISTS (SELECT 1 FROM users u
             WHERE lower(u.email) = lower(p_email) AND u.id IS DISTINCT FROM p_except)
            THEN 'email_taken'
    END
$$;

-- Binds a built-in role to a new person (no authorisation version: nobody cached them yet).
CREATE FUNCTION campus_bind_builtin(p_user bigint, p_role text, p_scope_type text, p_scope bigint, p_actor bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO role_bindings (user_id, role_id, scope_type, scope_id, created_by)
    SELECT p_user, r.id, p_scope_type, p_scope, p_actor FROM roles r WHERE r.name = p_role AND r.builtin
    ON CONFLICT DO NOTHING
$$;

-- Creates a student (a user, a profile and the built-in student role). Outcomes: ok,
-- username_taken, email_taken, roll_taken, no_department.
CREATE FUNCTION student_create(
    p_actor bigint, p_ip inet, p_username text, p_email text, p_given text, p_family text,
    p_roll text, p_program text, p_year smallint, p_department uuid, p_admitted date
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    dept  bigint;
    inst  bigint;
    clash text;
    uid   bigint;
    usid  uuid;
BEGIN
    SELECT o.id, o.parent_id INTO dept, inst FROM orgs o
        WHERE o.sourced_id = p_department AND o.type = 'department';
    IF dept IS NULL THEN
        RETURN QUERY SELECT 'no_department'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    -- Serialise creations of the same name so two concurrent duplicates get one 'ok' and one
    -- clear refusal, never a unique-violation error.
    PERFORM pg_advisory_xact_lock(hashtext('campus.person:' || lower(p_username)));
    clash := person_clash(p_username, p_email, NULL);
    IF clash IS NOT NULL THEN
        RETURN QUERY SELECT clash, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('campus.roll:' || p_roll));
    IF EXISTS (SELECT 1 FROM student_profiles s WHERE s.roll_number = p_roll) THEN
        RETURN QUERY SELECT 'roll_taken'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    INSERT INTO users (username, email, given_name, family_name, role)
        VALUES (p_username, p_email, p_given, p_family, 'student')
        RETURNING id, sourced_id INTO uid, usid;
    INSERT INTO student_profiles (user_id, roll_number, program, year_of_study, department_id, admitted_on)
        VALUES (uid, p_roll, p_program, p_year, dept, p_admitted);
    PERFORM campus_bind_builtin(uid, 'student', 'institution', inst, p_actor);
    PERFORM audit_append(p_actor, 'students.created', 'user', usid::text, p_ip,
        jsonb_build_object('username', p_username, 'roll_number', p_roll, 'department', p_department));
    RETURN QUERY SELECT 'ok'::text, usid, uid, NULL::text[];
END
$$;

-- Changes a student. p_if_match: the version the client last saw (NULL: no precondition).
-- p_status 'tobedeleted' deactivates (the account is disabled and its tokens revoked),
-- 'active' reactivates. Outcomes: ok, not_found, stale, email_taken, roll_taken,
-- no_department.
CREATE FUNCTION student_update(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_email_set boolean, p_email text,
    p_given text, p_family text, p_roll text, p_program text, p_year smallint,
    p_department uuid, p_admitted date, p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u     users%ROWTYPE;
    seen  timestamptz;
    stamp timestamptz;
    dept  bigint;
    clash text;
BEGIN
    SELECT x.* INTO u FROM users x JOIN student_profiles s ON s.user_id = x.id
        WHERE x.sourced_id = p_id FOR UPDATE OF x;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    -- The version clients see (the ETag of GET /students/{id}): the later of the two rows.
    SELECT greatest(u.date_last_modified, s.date_last_modified) INTO seen
        FROM student_profiles s WHERE s.user_id = u.id;
    stamp := greatest(now(), seen + interval '1 microsecond');
    IF p_if_match IS NOT NULL AND campus_version(seen) <> p_if_match THEN
        RETURN QUERY SELECT 'stale'::text, u.sourced_id, u.id, NULL::text[];
        RETURN;
    END IF;
    IF p_department IS NOT NULL THEN
        SELECT o.id INTO dept FROM orgs o WHERE o.sourced_id = p_department AND o.type = 'department';
        IF dept IS NULL THEN
            RETURN QUERY SELECT 'no_department'::text, u.sourced_id, u.id, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_email_set AND p_email IS NOT NULL THEN
        clash := person_clash(NULL, p_email, u.id);
        IF clash IS NOT NULL THEN
            RETURN QUERY SELECT clash, u.sourced_id, u.id, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_roll IS NOT NULL AND EXISTS (SELECT 1 FROM student_profiles s
            WHERE s.roll_number = p_roll AND s.user_id <> u.id) THEN
        RETURN QUERY SELECT 'roll_taken'::text, u.sourced_id, u.id, NULL::text[];
        RETURN;
    END IF;
    UPDATE users x SET
        email = CASE WHEN p_email_set THEN p_email ELSE x.email END,
        given_name = coalesce(p_given, x.given_name),
        family_name = coalesce(p_family, x.family_name),
        status = coalesce(p_status, x.status),
        enabled_user = CASE WHEN p_status IS NULL THEN x.enabled_user ELSE p_status = 'active' END,
        tokens_revoked_before = CASE WHEN p_status = 'tobedeleted' THEN now() ELSE x.tokens_revoked_before END,
        -- Always moves forward, so two changes in one microsecond still differ in version.
        date_last_modified = stamp
        WHERE x.id = u.id;
    UPDATE student_profiles s SET
        roll_number = coalesce(p_roll, s.roll_number),
        program = coalesce(p_program, s.program),
        year_of_study = coalesce(p_year, s.year_of_study),
        department_id = coalesce(dept, s.department_id),
        admitted_on = coalesce(p_admitted, s.admitted_on),
        date_last_modified = stamp
        WHERE s.user_id = u.id;
    PERFORM audit_append(p_actor,
        CASE p_status WHEN 'tobedeleted' THEN 'students.deactivated'
                      WHEN 'active' THEN 'students.reactivated' ELSE 'students.updated' END,
        'user', u.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('email', CASE WHEN p_email_set THEN coalesce(p_email, '') END,
            'given_name', p_given, 'family_name', p_family, 'roll_number', p_roll,
            'program', p_program, 'year_of_study', p_year, 'department', p_department,
            'admitted_on', p_admitted, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, u.sourced_id, u.id, NULL::text[];
END
$$;

-- Creates a staff member. p_role is the OneRoster role (teacher, administrator, aide); a
-- teacher gets the built-in faculty role in their department, others the staff role.
-- Outcomes: ok, username_taken, email_taken, employee_taken, no_department.
CREATE FUNCTION staff_create(
    p_actor bigint, p_ip inet, p_username text, p_email text, p_given text, p_family text,
    p_role text, p_employee text, p_designation text, p_department uuid
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    dept  bigint;
    clash text;
    uid   bigint;
    usid  uuid;
BEGIN
    SELECT o.id INTO dept FROM orgs o WHERE o.sourced_id = p_department AND o.type = 'department';
    IF dept IS NULL THEN
        RETURN QUERY SELECT 'no_department'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('campus.person:' || lower(p_username)));
    clash := person_clash(p_username, p_email, NULL);
    IF clash IS NOT NULL THEN
        RETURN QUERY SELECT clash, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('campus.employee:' || p_employee));
    IF EXISTS (SELECT 1 FROM staff_profiles s WHERE s.employee_number = p_employee) THEN
        RETURN QUERY SELECT 'employee_taken'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    INSERT INTO users (username, email, given_name, family_name, role)
        VALUES (p_username, p_email, p_given, p_family, p_role)
        RETURNING id, sourced_id INTO uid, usid;
    INSERT INTO staff_profiles (user_id, employee_number, designation, department_id)
        VALUES (uid, p_employee, p_designation, dept);
    PERFORM campus_bind_builtin(uid, CASE WHEN p_role = 'teacher' THEN 'faculty' ELSE 'staff' END,
        'department', dept, p_actor);
    PERFORM audit_append(p_actor, 'staff.created', 'user', usid::text, p_ip,
        jsonb_build_object('username', p_username, 'employee_number', p_employee,
                           'role', p_role, 'department', p_department));
    RETURN QUERY SELECT 'ok'::text, usid, uid, NULL::text[];
END
$$;

-- Changes a staff member, like student_update. Outcomes: ok, not_found, stale, email_taken,
-- employee_taken, no_department.
CREATE FUNCTION staff_update(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_email_set boolean, p_email text,
    p_given text, p_family text, p_employee text, p_designation text, p_department uuid,
    p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u     users%ROWTYPE;
    seen  timestamptz;
    stamp timestamptz;
    dept  bigint;
    clash text;
BEGIN
    SELECT x.* INTO u FROM users x JOIN staff_profiles s ON s.user_id = x.id
        WHERE x.sourced_id = p_id FOR UPDATE OF x;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    SELECT greatest(u.date_last_modified, s.date_last_modified) INTO seen
        FROM staff_profiles s WHERE s.user_id = u.id;
    stamp := greatest(now(), seen + interval '1 microsecond');
    IF p_if_match IS NOT NULL AND campus_version(seen) <> p_if_match THEN
        RETURN QUERY SELECT 'stale'::text, u.sourced_id, u.id, NULL::text[];
        RETURN;
    END IF;
    IF p_department IS NOT NULL THEN
        SELECT o.id INTO dept FROM orgs o WHERE o.sourced_id = p_department AND o.type = 'department';
        IF dept IS NULL THEN
            RETURN QUERY SELECT 'no_department'::text, u.sourced_id, u.id, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_email_set AND p_email IS NOT NULL THEN
        clash := person_clash(NULL, p_email, u.id);
        IF clash IS NOT NULL THEN
            RETURN QUERY SELECT clash, u.sourced_id, u.id, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_employee IS NOT NULL AND EXISTS (SELECT 1 FROM staff_profiles s
            WHERE s.employee_number = p_employee AND s.user_id <> u.id) THEN
        RETURN QUERY SELECT 'employee_taken'::text, u.sourced_id, u.id, NULL::text[];
        RETURN;
    END IF;
    UPDATE users x SET
        email = CASE WHEN p_email_set THEN p_email ELSE x.email END,
        given_name = coalesce(p_given, x.given_name),
        family_name = coalesce(p_family, x.family_name),
        status = coalesce(p_status, x.status),
        enabled_user = CASE WHEN p_status IS NULL THEN x.enabled_user ELSE p_status = 'active' END,
        tokens_revoked_before = CASE WHEN p_status = 'tobedeleted' THEN now() ELSE x.tokens_revoked_before END,
        date_last_modified = stamp
        WHERE x.id = u.id;
    UPDATE staff_profiles s SET
        employee_number = coalesce(p_employee, s.employee_number),
        designation = coalesce(p_designation, s.designation),
        department_id = coalesce(dept, s.department_id),
        date_last_modified = stamp
        WHERE s.user_id = u.id;
    PERFORM audit_append(p_actor,
        CASE p_status WHEN 'tobedeleted' THEN 'staff.deactivated'
                      WHEN 'active' THEN 'staff.reactivated' ELSE 'staff.updated' END,
        'user', u.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('email', CASE WHEN p_email_set THEN coalesce(p_email, '') END,
            'given_name', p_given, 'family_name', p_family, 'employee_number', p_employee,
            'designation', p_designation, 'department', p_department, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, u.sourced_id, u.id, NULL::text[];
END
$$;

-- Creates or changes a department of the (first) institution. p_id NULL creates. Outcomes:
-- ok, not_found, stale, identifier_taken, no_institution.
CREATE FUNCTION department_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_name text, p_identifier text,
    p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    inst bigint;
    d    orgs%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('campus.org:' || coalesce(p_identifier, '')));
    IF p_identifier IS NOT NULL AND EXISTS (SELECT 1 FROM orgs o
            WHERE o.identifier = p_identifier AND o.sourced_id IS DISTINCT FROM p_id) THEN
        RETURN QUERY SELECT 'identifier_taken'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_id IS NULL THEN
        SELECT o.id INTO inst FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1;
        IF inst IS NULL THEN
            RETURN QUERY SELECT 'no_institution'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        INSERT INTO orgs (name, type, identifier, parent_id) VALUES (p_name, 'department', p_identifier, inst)
            RETURNING * INTO d;
        PERFORM audit_append(p_actor, 'departments.created', 'org', d.sourced_id::text, p_ip,
            jsonb_build_object('name', p_name, 'identifier', p_identifier));
        RETURN QUERY SELECT 'ok'::text, d.sourced_id, d.id, NULL::text[];
        RETURN;
    END IF;
    SELECT * INTO d FROM orgs o WHERE o.sourced_id = p_id AND o.type = 'department' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND campus_version(d.date_last_modified) <> p_if_match THEN
        RETURN QUERY SELECT 'stale'::text, d.sourced_id, d.id, NULL::text[];
        RETURN;
    END IF;
    UPDATE orgs o SET name = coalesce(p_name, o.name), identifier = coalesce(p_identifier, o.identifier),
        status = coalesce(p_status, o.status),
        date_last_modified = greatest(now(), o.date_last_modified + interval '1 microsecond')
        WHERE o.id = d.id;
    PERFORM audit_append(p_actor, 'departments.updated', 'org', d.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('name', p_name, 'identifier', p_identifier, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, d.sourced_id, d.id, NULL::text[];
END
$$;

-- Creates or changes an academic session (school year, semester, term). p_id NULL creates.
-- Outcomes: ok, not_found, stale, no_parent, bad_dates, no_institution.
CREATE FUNCTION term_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_title text, p_type text,
    p_start date, p_end date, p_school_year smallint, p_parent uuid, p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    inst   bigint;
    parent bigint;
    t      academic_sessions%ROWTYPE;
BEGIN
    IF p_parent IS NOT NULL THEN
        SELECT a.id INTO parent FROM academic_sessions a WHERE a.sourced_id = p_parent;
        IF parent IS NULL THEN
            RETURN QUERY SELECT 'no_parent'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_id IS NULL THEN
        SELECT o.id INTO inst FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1;
        IF inst IS NULL THEN
            RETURN QUERY SELECT 'no_institution'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        IF p_end <= p_start THEN
            RETURN QUERY SELECT 'bad_dates'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        INSERT INTO academic_sessions (title, type, start_date, end_date, school_year, parent_id, org_id)
            VALUES (p_title, p_type, p_start, p_end, p_school_year, parent, inst) RETURNING * INTO t;
        PERFORM audit_append(p_actor, 'terms.created', 'academic_session', t.sourced_id::text, p_ip,
            jsonb_build_object('title', p_title, 'type', p_type, 'start_date', p_start, 'end_date', p_end));
        RETURN QUERY SELECT 'ok'::text, t.sourced_id, t.id, NULL::text[];
        RETURN;
    END IF;
    SELECT * INTO t FROM academic_sessions a WHERE a.sourced_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND campus_version(t.date_last_modified) <> p_if_match THEN
        RETURN QUERY SELECT 'stale'::text, t.sourced_id, t.id, NULL::text[];
        RETURN;
    END IF;
    IF coalesce(p_end, t.end_date) <= coalesce(p_start, t.start_date) OR parent = t.id THEN
        RETURN QUERY SELECT 'bad_dates'::text, t.sourced_id, t.id, NULL::text[];
        RETURN;
    END IF;
    UPDATE academic_sessions a SET title = coalesce(p_title, a.title), type = coalesce(p_type, a.type),
        start_date = coalesce(p_start, a.start_date), end_date = coalesce(p_end, a.end_date),
        school_year = coalesce(p_school_year, a.school_year), parent_id = coalesce(parent, a.parent_id),
        status = coalesce(p_status, a.status),
        date_last_modified = greatest(now(), a.date_last_modified + interval '1 microsecond')
        WHERE a.id = t.id;
    PERFORM audit_append(p_actor, 'terms.updated', 'academic_session', t.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('title', p_title, 'type', p_type, 'start_date', p_start,
            'end_date', p_end, 'school_year', p_school_year, 'parent', p_parent, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, t.sourced_id, t.id, NULL::text[];
END
$$;

-- Creates or changes a course. p_id NULL creates. Outcomes: ok, not_found, stale,
-- code_taken, no_department.
CREATE FUNCTION course_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_title text, p_code text,
    p_credits float8, p_department uuid, p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    dept bigint;
    c    courses%ROWTYPE;
BEGIN
    IF p_department IS NOT NULL THEN
        SELECT o.id INTO dept FROM orgs o WHERE o.sourced_id = p_department AND o.type = 'department';
        IF dept IS NULL THEN
            RETURN QUERY SELECT 'no_department'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_id IS NOT NULL THEN
        SELECT * INTO c FROM courses x WHERE x.sourced_id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        IF p_if_match IS NOT NULL AND campus_version(c.date_last_modified) <> p_if_match THEN
            RETURN QUERY SELECT 'stale'::text, c.sourced_id, c.id, NULL::text[];
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('campus.course:' || coalesce(p_code, c.course_code)));
    IF p_code IS NOT NULL AND EXISTS (SELECT 1 FROM courses x WHERE x.course_code = p_code
            AND x.org_id = coalesce(dept, c.org_id) AND x.id IS DISTINCT FROM c.id) THEN
        RETURN QUERY SELECT 'code_taken'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO courses (title, course_code, credits, org_id)
            VALUES (p_title, p_code, round(p_credits::numeric, 1), dept) RETURNING * INTO c;
        PERFORM audit_append(p_actor, 'courses.created', 'course', c.sourced_id::text, p_ip,
            jsonb_build_object('title', p_title, 'course_code', p_code, 'department', p_department));
        RETURN QUERY SELECT 'ok'::text, c.sourced_id, c.id, NULL::text[];
        RETURN;
    END IF;
    UPDATE courses x SET title = coalesce(p_title, x.title), course_code = coalesce(p_code, x.course_code),
        credits = coalesce(round(p_credits::numeric, 1), x.credits), org_id = coalesce(dept, x.org_id),
        status = coalesce(p_status, x.status),
        date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = c.id;
    PERFORM audit_append(p_actor, 'courses.updated', 'course', c.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('title', p_title, 'course_code', p_code,
            'credits', p_credits, 'department', p_department, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, c.sourced_id, c.id, NULL::text[];
END
$$;

-- Creates or changes a class (a section of a course in a term, with its timetable). The class
-- belongs to its course's department. p_id NULL creates. Outcomes: ok, not_found, stale,
-- code_taken, no_course, no_term.
CREATE FUNCTION class_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_title text, p_code text,
    p_type text, p_location text, p_periods text[], p_capacity int4, p_course uuid, p_term uuid,
    p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    course courses%ROWTYPE;
    term   bigint;
    k      classes%ROWTYPE;
BEGIN
    IF p_course IS NOT NULL THEN
        SELECT * INTO course FROM courses x WHERE x.sourced_id = p_course;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'no_course'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_term IS NOT NULL THEN
        SELECT a.id INTO term FROM academic_sessions a WHERE a.sourced_id = p_term;
        IF term IS NULL THEN
            RETURN QUERY SELECT 'no_term'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
    END IF;
    IF p_id IS NOT NULL THEN
        SELECT * INTO k FROM classes x WHERE x.sourced_id = p_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        IF p_if_match IS NOT NULL AND campus_version(k.date_last_modified) <> p_if_match THEN
            RETURN QUERY SELECT 'stale'::text, k.sourced_id, k.id, NULL::text[];
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('campus.class:' || coalesce(p_code, k.class_code)));
    IF p_code IS NOT NULL AND EXISTS (SELECT 1 FROM classes x WHERE x.class_code = p_code
            AND x.term_id = coalesce(term, k.term_id) AND x.id IS DISTINCT FROM k.id) THEN
        RETURN QUERY SELECT 'code_taken'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO classes (title, class_code, class_type, location, periods, capacity, course_id, term_id, org_id)
            VALUES (p_title, p_code, coalesce(p_type, 'scheduled'), p_location, coalesce(p_periods, '{}'),
                    p_capacity, course.id, term, course.org_id)
            RETURNING * INTO k;
        PERFORM audit_append(p_actor, 'classes.created', 'class', k.sourced_id::text, p_ip,
            jsonb_build_object('title', p_title, 'class_code', p_code, 'course', p_course, 'term', p_term));
        RETURN QUERY SELECT 'ok'::text, k.sourced_id, k.id, NULL::text[];
        RETURN;
    END IF;
    UPDATE classes x SET title = coalesce(p_title, x.title), class_code = coalesce(p_code, x.class_code),
        class_type = coalesce(p_type, x.class_type), location = coalesce(p_location, x.location),
        periods = coalesce(p_periods, x.periods), capacity = coalesce(p_capacity, x.capacity),
        course_id = coalesce(course.id, x.course_id), org_id = coalesce(course.org_id, x.org_id),
        term_id = coalesce(term, x.term_id), status = coalesce(p_status, x.status),
        date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = k.id;
    PERFORM audit_append(p_actor, 'classes.updated', 'class', k.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('title', p_title, 'class_code', p_code, 'class_type', p_type,
            'location', p_location, 'periods', p_periods, 'capacity', p_capacity, 'course', p_course,
            'term', p_term, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, k.sourced_id, k.id, NULL::text[];
END
$$;

-- Enrolls people in a class, all or nothing. Students must be student accounts, teachers and
-- aides staff accounts; an existing enrollment is reactivated, so the same request twice
-- leaves the same state. Outcomes: ok, not_found (the class), unknown (bad: the ids that are
-- not active people of that kind), full (bad: the capacity).
CREATE FUNCTION enrollments_add(
    p_actor bigint, p_ip inet, p_class uuid, p_users uuid[], p_role text, p_primary boolean
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k       classes%ROWTYPE;
    missing text[];
    seats   bigint;
BEGIN
    SELECT * INTO k FROM classes x WHERE x.sourced_id = p_class FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT w::text) INTO missing FROM unnest(p_users) w
        WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.sourced_id = w AND u.status = 'active'
            AND (CASE WHEN p_role = 'student' THEN u.role = 'student'
                 ELSE u.role IN ('teacher', 'administrator', 'aide') END));
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT 'unknown'::text, k.sourced_id, k.id, missing;
        RETURN;
    END IF;
    IF p_role = 'student' AND k.capacity IS NOT NULL THEN
        SELECT count(*) INTO seats FROM (
            SELECT e.user_id FROM enrollments e WHERE e.class_id = k.id AND e.role = 'student' AND e.status = 'active'
            UNION
            SELECT u.id FROM users u WHERE u.sourced_id = ANY(p_users)) x;
        IF seats > k.capacity THEN
            RETURN QUERY SELECT 'full'::text, k.sourced_id, k.id, ARRAY[k.capacity::text];
            RETURN;
        END IF;
    END IF;
    INSERT INTO enrollments (user_id, class_id, role, is_primary, begin_date)
        SELECT u.id, k.id, p_role, coalesce(p_primary, false), current_date
        FROM users u WHERE u.sourced_id = ANY(p_users)
        ON CONFLICT (class_id, user_id, role) DO UPDATE
            SET status = 'active', end_date = NULL, is_primary = excluded.is_primary,
                date_last_modified = now()
            WHERE enrollments.status <> 'active' OR enrollments.is_primary <> excluded.is_primary;
    UPDATE classes x SET date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = k.id;
    PERFORM audit_append(p_actor, 'enrollments.created', 'class', k.sourced_id::text, p_ip,
        jsonb_build_object('role', p_role, 'users', to_jsonb(p_users)));
    RETURN QUERY SELECT 'ok'::text, k.sourced_id, k.id, NULL::text[];
END
$$;

-- Drops a person from a class: the enrollment is ended, not deleted. Outcomes: ok,
-- not_found (no such enrollment, or already ended).
CREATE FUNCTION enrollment_drop(p_actor bigint, p_ip inet, p_enrollment uuid)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    e enrollments%ROWTYPE;
BEGIN
    SELECT * INTO e FROM enrollments x WHERE x.sourced_id = p_enrollment FOR UPDATE;
    IF NOT FOUND OR e.status <> 'active' THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    UPDATE enrollments x SET status = 'tobedeleted',
        end_date = greatest(current_date, coalesce(x.begin_date, current_date) + 1),
        date_last_modified = now()
        WHERE x.id = e.id;
    UPDATE classes x SET date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = e.class_id;
    PERFORM audit_append(p_actor, 'enrollments.dropped', 'enrollment', p_enrollment::text, p_ip,
        jsonb_build_object('user', (SELECT u.sourced_id FROM users u WHERE u.id = e.user_id),
                           'class', (SELECT k.sourced_id FROM classes k WHERE k.id = e.class_id)));
    RETURN QUERY SELECT 'ok'::text, e.sourced_id, e.user_id, NULL::text[];
END
$$;

-- Opens an attendance session (one meeting of a class). Outcomes: ok, not_found (the
-- class), exists (ref: the session already open for that date and period).
CREATE FUNCTION attendance_open(p_actor bigint, p_ip inet, p_class uuid, p_date date, p_period smallint)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k  bigint;
    s  attendance_sessions%ROWTYPE;
BEGIN
    SELECT x.id INTO k FROM classes x WHERE x.sourced_id = p_class AND x.status = 'active';
    IF k IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    INSERT INTO attendance_sessions (class_id, session_date, period, taken_by)
        VALUES (k, p_date, p_period, p_actor)
        ON CONFLICT (class_id, session_date, period) DO NOTHING RETURNING * INTO s;
    IF s.id IS NULL THEN
        RETURN QUERY SELECT 'exists'::text, x.sourced_id, x.id, NULL::text[] FROM attendance_sessions x
            WHERE x.class_id = k AND x.session_date = p_date AND x.period = p_period;
        RETURN;
    END IF;
    PERFORM audit_append(p_actor, 'attendance.opened', 'attendance_session', s.sourced_id::text, p_ip,
        jsonb_build_object('class', p_class, 'date', p_date, 'period', p_period));
    RETURN QUERY SELECT 'ok'::text, s.sourced_id, s.id, NULL::text[];
END
$$;

-- Marks one register: one record per student, teacher (before submission) or office (an
-- override that keeps the teacher's record). The same call twice leaves the same state.
-- Outcomes: ok (row_id: records written or changed), not_found, submitted (a teacher after
-- submission), not_enrolled (bad: student ids not actively enrolled as students),
-- bad_code (bad: codes that do not exist or this source may not enter). Called through
-- attendance_mark_batch.
CREATE FUNCTION attendance_mark_one(
    p_actor bigint, p_ip inet, p_session uuid, p_source text, p_students uuid[], p_codes text[],
    p_minutes int2[]
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s        attendance_sessions%ROWTYPE;
    dept     bigint;
    inst     bigint;
    uids     bigint[];
    code_ids bigint[];
    mins     int2[];
    missing  text[];
    badcodes text[];
    n        bigint;
BEGIN
    SELECT * INTO s FROM attendance_sessions x WHERE x.sourced_id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_source = 'teacher' AND s.submitted_at IS NOT NULL THEN
        RETURN QUERY SELECT 'submitted'::text, s.sourced_id, s.id, NULL::text[];
        RETURN;
    END IF;
    -- Codes are the institution's or the class's department's.
    SELECT k.org_id, o.parent_id INTO dept, inst FROM classes k JOIN orgs o ON o.id = k.org_id
        WHERE k.id = s.class_id;
    -- One pass over the marks: each student's row id and active enrollment in the class, each
    -- code's id where this source may enter it.
    SELECT array_agg(u.id ORDER BY m.ord), array_agg(a.id ORDER BY m.ord), array_agg(m.minutes ORDER BY m.ord),
           array_agg(DISTINCT m.student::text) FILTER (WHERE u.id IS NULL OR NOT EXISTS (
               SELECT 1 FROM enrollments e WHERE e.class_id = s.class_id AND e.user_id = u.id
                 AND e.role = 'student' AND e.status = 'active')),
           array_agg(DISTINCT m.code) FILTER (WHERE a.id IS NULL)
        INTO uids, code_ids, mins, missing, badcodes
        FROM unnest(p_students, p_codes, p_minutes) WITH ORDINALITY AS m (student, code, minutes, ord)
        LEFT JOIN users u ON u.sourced_id = m.student
        LEFT JOIN attendance_codes a ON a.code = m.code AND a.status = 'active'
            AND a.org_id IN (inst, dept) AND a.entered_by IN ('any', p_source);
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT 'not_enrolled'::text, s.sourced_id, s.id, missing;
        RETURN;
    END IF;
    IF badcodes IS NOT NULL THEN
        RETURN QUERY SELECT 'bad_code'::text, s.sourced_id, s.id, badcodes;
        RETURN;
    END IF;
    WITH written AS (
        INSERT INTO attendance_records AS r (session_id, session_date, student_id, code_id, minutes_present,
                                             source, overrides_id, recorded_by)
        SELECT s.id, s.session_date, x.uid, x.code_id, x.minutes, p_source,
               CASE WHEN p_source = 'office' THEN (SELECT t.id FROM attendance_records t
                   WHERE t.session_id = s.id AND t.session_date = s.session_date
                     AND t.student_id = x.uid AND t.source = 'teacher') END,
               p_actor
        FROM unnest(uids, code_ids, mins) AS x (uid, code_id, minutes)
        ON CONFLICT (session_id, student_id, source, session_date) DO UPDATE
            SET code_id = excluded.code_id, minutes_present = excluded.minutes_present,
                overrides_id = excluded.overrides_id, recorded_by = excluded.recorded_by, recorded_at = now()
            WHERE r.code_id IS DISTINCT FROM excluded.code_id
               OR r.minutes_present IS DISTINCT FROM excluded.minutes_present
               OR r.overrides_id IS DISTINCT FROM excluded.overrides_id
        RETURNING 1
    )
    SELECT count(*) INTO n FROM written;
    UPDATE attendance_sessions x SET taken_by = CASE WHEN p_source = 'teacher' THEN p_actor ELSE x.taken_by END,
        date_last_modified = now() WHERE x.id = s.id;
    -- The audit event is the caller's (attendance_mark_batch) to append, last.
    RETURN QUERY SELECT 'ok'::text, s.sourced_id, n, NULL::text[];
END
$$;

-- Marks many registers in one statement, so one transaction and one commit: a shard
-- coalesces the registers that arrive together and acknowledges each after this commits.
-- Register i has p_counts[i] records, laid out one register after the other in p_students,
-- p_codes and p_minutes. Each register is checked and applied on its own (one refused
-- register changes nothing of the others); the answer is one row per register, in order.
CREATE FUNCTION attendance_mark_batch(
    p_actors bigint[], p_ips inet[], p_sessions uuid[], p_sources text[], p_counts int[],
    p_students uuid[], p_codes text[], p_minutes int2[]
) RETURNS TABLE (idx int, outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
DECLARE
    lo   int := 1;
    hi   int;
    r    record;
    done int[] := '{}';
    refs uuid[] := '{}';
    ns   bigint[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_sessions), 0) LOOP
        hi := lo + p_counts[i] - 1;
        SELECT * INTO r FROM attendance_mark_one(p_actors[i], p_ips[i], p_sessions[i], p_sources[i],
            coalesce(p_students[lo:hi], '{}'), coalesce(p_codes[lo:hi], '{}'), coalesce(p_minutes[lo:hi], '{}'));
        idx := i;
        outcome := r.outcome;
        ref := r.ref;
        row_id := r.row_id;
        bad := r.bad;
        RETURN NEXT;
        IF r.outcome = 'ok' THEN
            done := done || i;
            refs := refs || r.ref;
            ns := ns || r.row_id;
        END IF;
        lo := hi + 1;
    END LOOP;
    -- The audit events last: audit_append holds the audit chain's lock until the commit, so
    -- other shards' batches wait for it only during the commit, not during this batch's writes.
    FOR j IN 1 .. coalesce(cardinality(done), 0) LOOP
        PERFORM audit_append(p_actors[done[j]], 'attendance.marked', 'attendance_session', refs[j]::text,
            p_ips[done[j]], jsonb_build_object('source', p_sources[done[j]], 'records', p_counts[done[j]],
                                               'changed', ns[j]));
    END LOOP;
END
$$;

-- Submits a register: teachers can no longer change it. Every enrolled student must have a
-- mark. Outcomes: ok, not_found, submitted (already), incomplete (bad: unmarked students).
CREATE FUNCTION attendance_submit(p_actor bigint, p_ip inet, p_session uuid)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s       attendance_sessions%ROWTYPE;
    missing text[];
BEGIN
    SELECT * INTO s FROM attendance_sessions x WHERE x.sourced_id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF s.submitted_at IS NOT NULL THEN
        RETURN QUERY SELECT 'submitted'::text, s.sourced_id, s.id, NULL::text[];
        RETURN;
    END IF;
    SELECT array_agg(u.sourced_id::text ORDER BY u.id) INTO missing
        FROM enrollments e JOIN users u ON u.id = e.user_id
        WHERE e.class_id = s.class_id AND e.role = 'student' AND e.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM attendance_records r WHERE r.session_id = s.id
              AND r.session_date = s.session_date AND r.student_id = e.user_id);
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT 'incomplete'::text, s.sourced_id, s.id, missing;
        RETURN;
    END IF;
    UPDATE attendance_sessions x SET submitted_at = now(), date_last_modified = now() WHERE x.id = s.id;
    PERFORM audit_append(p_actor, 'attendance.submitted', 'attendance_session', s.sourced_id::text, p_ip, '{}');
    RETURN QUERY SELECT 'ok'::text, s.sourced_id, s.id, NULL::text[];
END
$$;

-- Creates or changes a line item (an exam, quiz or assignment of a class). Status moves only
-- forward: draft, published (students see results), locked (results final). p_id NULL
-- creates (p_class names the class). Outcomes: ok, not_found, stale, backwards, locked.
CREATE FUNCTION line_item_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_class uuid, p_title text,
    p_category text, p_max float8, p_due timestamptz, p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k  bigint;
    li line_items%ROWTYPE;
    over text[];
BEGIN
    IF p_id IS NULL THEN
        SELECT x.id INTO k FROM classes x WHERE x.sourced_id = p_class;
        IF k IS NULL THEN
            RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        INSERT INTO line_items (class_id, title, category, max_score, due_date)
            VALUES (k, p_title, p_category, round(p_max::numeric, 2), p_due) RETURNING * INTO li;
        PERFORM audit_append(p_actor, 'exams.created', 'line_item', li.sourced_id::text, p_ip,
            jsonb_build_object('class', p_class, 'title', p_title, 'category', p_category, 'max_score', p_max));
        RETURN QUERY SELECT 'ok'::text, li.sourced_id, li.id, NULL::text[];
        RETURN;
    END IF;
    SELECT * INTO li FROM line_items x WHERE x.sourced_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND campus_version(li.date_last_modified) <> p_if_match THEN
        RETURN QUERY SELECT 'stale'::text, li.sourced_id, li.id, NULL::text[];
        RETURN;
    END IF;
    IF li.status = 'locked' THEN
        RETURN QUERY SELECT 'locked'::text, li.sourced_id, li.id, NULL::text[];
        RETURN;
    END IF;
    IF p_status IS NOT NULL AND array_position(ARRAY['draft', 'published', 'locked'], p_status)
            < array_position(ARRAY['draft', 'published', 'locked'], li.status) THEN
        RETURN QUERY SELECT 'backwards'::text, li.sourced_id, li.id, NULL::text[];
        RETURN;
    END IF;
    IF p_max IS NOT NULL THEN
        SELECT array_agg(u.sourced_id::text) INTO over FROM results r JOIN users u ON u.id = r.student_id
            WHERE r.line_item_id = li.id AND r.score > round(p_max::numeric, 2);
        IF over IS NOT NULL THEN
            RETURN QUERY SELECT 'over_max'::text, li.sourced_id, li.id, over;
            RETURN;
        END IF;
    END IF;
    UPDATE line_items x SET title = coalesce(p_title, x.title), category = coalesce(p_category, x.category),
        max_score = coalesce(round(p_max::numeric, 2), x.max_score), due_date = coalesce(p_due, x.due_date),
        status = coalesce(p_status, x.status),
        date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = li.id;
    PERFORM audit_append(p_actor,
        CASE WHEN p_status IS DISTINCT FROM li.status AND p_status = 'published' THEN 'exams.published'
             WHEN p_status IS DISTINCT FROM li.status AND p_status = 'locked' THEN 'exams.locked'
             ELSE 'exams.updated' END,
        'line_item', li.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('title', p_title, 'category', p_category, 'max_score', p_max,
            'due_date', p_due, 'status', p_status)));
    RETURN QUERY SELECT 'ok'::text, li.sourced_id, li.id, NULL::text[];
END
$$;

-- Enters results for a line item in bulk (all or nothing; the same call twice leaves the
-- same state). Outcomes: ok (row_id: results written or changed), not_found, locked,
-- not_enrolled (bad: the student ids), over_max (bad: the student ids).
CREATE FUNCTION results_put(
    p_actor bigint, p_ip inet, p_item uuid, p_students uuid[], p_scores float8[],
    p_statuses text[], p_comments text[]
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    li      line_items%ROWTYPE;
    missing text[];
    n       bigint;
BEGIN
    SELECT * INTO li FROM line_items x WHERE x.sourced_id = p_item FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF li.status = 'locked' THEN
        RETURN QUERY SELECT 'locked'::text, li.sourced_id, li.id, NULL::text[];
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT w::text) INTO missing FROM unnest(p_students) w
        WHERE NOT EXISTS (SELECT 1 FROM enrollments e JOIN users u ON u.id = e.user_id
            WHERE u.sourced_id = w AND e.class_id = li.class_id AND e.role = 'student' AND e.status = 'active');
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT 'not_enrolled'::text, li.sourced_id, li.id, missing;
        RETURN;
    END IF;
    SELECT array_agg(m.student::text) INTO missing
        FROM unnest(p_students, p_scores) AS m (student, score)
        WHERE round(m.score::numeric, 2) > li.max_score;
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT 'over_max'::text, li.sourced_id, li.id, missing;
        RETURN;
    END IF;
    WITH written AS (
        INSERT INTO results AS r (line_item_id, student_id, score, score_status, comment, graded_by)
        SELECT li.id, u.id, round(m.score::numeric, 2), m.status, m.comment, p_actor
        FROM unnest(p_students, p_scores, p_statuses, p_comments) AS m (student, score, status, comment)
        JOIN users u ON u.sourced_id = m.student
        ON CONFLICT (line_item_id, student_id) DO UPDATE
            SET score = excluded.score, score_status = excluded.score_status, comment = excluded.comment,
                graded_by = excluded.graded_by, date_last_modified = now()
            WHERE r.score IS DISTINCT FROM excluded.score OR r.score_status IS DISTINCT FROM excluded.score_status
               OR r.comment IS DISTINCT FROM excluded.comment
        RETURNING 1
    )
    SELECT count(*) INTO n FROM written;
    PERFORM audit_append(p_actor, 'exams.graded', 'line_item', li.sourced_id::text, p_ip,
        jsonb_build_object('results', cardinality(p_students), 'changed', n));
    RETURN QUERY SELECT 'ok'::text, li.sourced_id, n, NULL::text[];
END
$$;
