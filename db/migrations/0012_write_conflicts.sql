-- Writes of a taken unique value answer a refusal word, never a unique-violation error.
--
-- The functions of 0008 checked uniqueness before writing, but (found by an attacker's review,
-- issue 19) the check looked at what the call sent, not at the row the write would leave, and
-- nothing held the value between the check and the write:
--   * a course moved into a department that already holds its code (no course_code sent), or a
--     class moved into a term that already holds its code (no class_code sent), passed the
--     check, which only ran when a code was sent; the table's unique constraint then refused
--     the update and the client got a 500;
--   * two concurrent changes setting one email, roll number or employee number both passed the
--     check (neither saw the other's uncommitted row) and the second one's write hit the unique
--     index: a 500 again.
-- Now each check compares the resulting values (the new department with the kept code, the new
-- term with the kept code), and every function that writes a unique column catches
-- unique_violation and maps the violated constraint to its refusal word: PostgreSQL's unique
-- index is the only check that no concurrent writer can slip past. Under READ COMMITTED the
-- second writer waits on the first one's index entry; when the first commits, the second's
-- write fails, its changes (the audit event included) roll back to the block's start, and it
-- answers the refusal. A violation of any other constraint is raised again: a bug, a 500 whose
-- cause the server logs.
--
-- Signatures and outcome words are those of 0008 (db/src/statements.rs calls them unchanged).
-- The EXCEPTION clause costs a subtransaction per call, on these administrative writes only;
-- attendance marking, the hot write, is untouched.

-- The refusal word for a violated unique constraint or index, NULL for one no caller expects.
CREATE FUNCTION campus_taken(p_constraint text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_constraint
        WHEN 'users_username_key' THEN 'username_taken'
        WHEN 'users_email_key' THEN 'email_taken'
        WHEN 'student_profiles_roll_number_key' THEN 'roll_taken'
        WHEN 'staff_profiles_employee_number_key' THEN 'employee_taken'
        WHEN 'courses_org_id_course_code_key' THEN 'code_taken'
        WHEN 'classes_term_id_class_code_key' THEN 'code_taken'
        WHEN 'orgs_identifier_key' THEN 'identifier_taken'
    END
$$;

-- As in 0008, and a concurrent duplicate email or roll number (the username is serialised by
-- the advisory lock, the others only by the index) answers its refusal word.
CREATE OR REPLACE FUNCTION student_create(
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
    taken text;
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, NULL::uuid, NULL::bigint, NULL::text[];
END
$$;

-- As in 0008, and a concurrent change to the same email or roll number answers its refusal
-- word (the row lock is the student's own; nothing else held the value).
CREATE OR REPLACE FUNCTION student_update(
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
    taken text;
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, u.sourced_id, u.id, NULL::text[];
END
$$;

-- As in 0008, and a concurrent duplicate email or employee number answers its refusal word.
CREATE OR REPLACE FUNCTION staff_create(
    p_actor bigint, p_ip inet, p_username text, p_email text, p_given text, p_family text,
    p_role text, p_employee text, p_designation text, p_department uuid
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    dept  bigint;
    clash text;
    uid   bigint;
    usid  uuid;
    taken text;
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, NULL::uuid, NULL::bigint, NULL::text[];
END
$$;

-- As in 0008, and a concurrent change to the same email or employee number answers its
-- refusal word.
CREATE OR REPLACE FUNCTION staff_update(
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
    taken text;
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, u.sourced_id, u.id, NULL::text[];
END
$$;

-- As in 0008, and a violation of the identifier's constraint the check did not foresee answers
-- identifier_taken.
CREATE OR REPLACE FUNCTION department_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_name text, p_identifier text,
    p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    inst  bigint;
    d     orgs%ROWTYPE;
    taken text;
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, NULL::uuid, NULL::bigint, NULL::text[];
END
$$;

-- As in 0008, but the code is checked in the department the course will be in, whether the
-- call sends a code, a department or both.
CREATE OR REPLACE FUNCTION course_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_title text, p_code text,
    p_credits float8, p_department uuid, p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    dept  bigint;
    c     courses%ROWTYPE;
    taken text;
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
    IF EXISTS (SELECT 1 FROM courses x WHERE x.course_code = coalesce(p_code, c.course_code)
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, NULL::uuid, NULL::bigint, NULL::text[];
END
$$;

-- As in 0008, but the code is checked in the term the class will be in, whether the call
-- sends a code, a term or both.
CREATE OR REPLACE FUNCTION class_save(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_title text, p_code text,
    p_type text, p_location text, p_periods text[], p_capacity int4, p_course uuid, p_term uuid,
    p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    course courses%ROWTYPE;
    term   bigint;
    k      classes%ROWTYPE;
    taken  text;
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
    IF EXISTS (SELECT 1 FROM classes x WHERE x.class_code = coalesce(p_code, k.class_code)
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
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS taken = CONSTRAINT_NAME;
    taken := campus_taken(taken);
    IF taken IS NULL THEN
        RAISE;
    END IF;
    RETURN QUERY SELECT taken, NULL::uuid, NULL::bigint, NULL::text[];
END
$$;
