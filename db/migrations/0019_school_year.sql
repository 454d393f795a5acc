-- A school year that stays right (issue #22): the institution's time zone and its "today",
-- withdrawals that end enrollments, staff moves that move the built-in binding, guardian links
-- managed by registrars.

-- 1. The institution's time zone: every default date ("today", the last 30 days, a new
--    enrollment's first day) is the date there, not in UTC. An IANA name PostgreSQL knows.
ALTER TABLE orgs ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

-- Today where the institution is.
CREATE FUNCTION campus_today() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT (now() AT TIME ZONE coalesce(
        (SELECT o.time_zone FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1), 'UTC'))::date
$$;

-- The institution's settings: its time zone (NULL: unchanged). Outcomes: ok, no_institution,
-- invalid (bad: the name PostgreSQL does not know as a time zone).
CREATE FUNCTION institution_settings_save(p_actor bigint, p_ip inet, p_time_zone text)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    inst orgs%ROWTYPE;
BEGIN
    SELECT * INTO inst FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_institution'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    -- Abbreviations and POSIX strings ('EST5EDT', '+03') are refused: only names of the IANA
    -- database, which carry their own daylight-saving rules.
    IF p_time_zone IS NOT NULL AND (p_time_zone !~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$'
            OR NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = p_time_zone)) THEN
        RETURN QUERY SELECT 'invalid'::text, inst.sourced_id, inst.id, ARRAY[p_time_zone];
        RETURN;
    END IF;
    UPDATE orgs o SET time_zone = coalesce(p_time_zone, o.time_zone),
        date_last_modified = greatest(now(), o.date_last_modified + interval '1 microsecond')
        WHERE o.id = inst.id;
    PERFORM audit_append(p_actor, 'institution.updated', 'org', inst.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('time_zone', p_time_zone)));
    RETURN QUERY SELECT 'ok'::text, inst.sourced_id, inst.id, NULL::text[];
END
$$;

-- 2. Enrollment dates: end_date is the day the enrollment ended (a withdrawal's date), which
--    may be the day it began.
ALTER TABLE enrollments DROP CONSTRAINT enrollments_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_dates
    CHECK (end_date IS NULL OR begin_date IS NULL OR end_date >= begin_date);

-- As in 0008, with the institution's today; a reactivated enrollment begins again today (its
-- earlier span stays in the audit trail).
CREATE OR REPLACE FUNCTION enrollments_add(
    p_actor bigint, p_ip inet, p_class uuid, p_users uuid[], p_role text, p_primary boolean
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k       classes%ROWTYPE;
    missing text[];
    seats   bigint;
    today   date := campus_today();
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
        SELECT u.id, k.id, p_role, coalesce(p_primary, false), today
        FROM users u WHERE u.sourced_id = ANY(p_users)
        ON CONFLICT (class_id, user_id, role) DO UPDATE
            SET status = 'active', end_date = NULL, is_primary = excluded.is_primary,
                begin_date = CASE WHEN enrollments.status = 'active' THEN enrollments.begin_date
                                  ELSE excluded.begin_date END,
                date_last_modified = now()
            WHERE enrollments.status <> 'active' OR enrollments.is_primary <> excluded.is_primary;
    UPDATE classes x SET date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = k.id;
    PERFORM audit_append(p_actor, 'enrollments.created', 'class', k.sourced_id::text, p_ip,
        jsonb_build_object('role', p_role, 'users', to_jsonb(p_users)));
    RETURN QUERY SELECT 'ok'::text, k.sourced_id, k.id, NULL::text[];
END
$$;

-- As in 0008: the enrollment ends today (the institution's).
CREATE OR REPLACE FUNCTION enrollment_drop(p_actor bigint, p_ip inet, p_enrollment uuid)
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
        end_date = greatest(campus_today(), x.begin_date),
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

-- 3. Withdrawal: the student's account is deactivated (student_update) and every active
--    enrollment ends on p_on (NULL: today), so the student leaves every roster at once and no
--    register waits for them; the enrollments, marks and results stay. p_on may not be after
--    today, nor before the student's admission. Outcomes: those of student_update, and
--    bad_dates. On ok, bad lists the classes (classes.id) whose rosters changed.
CREATE FUNCTION student_withdraw(p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_on date)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r       record;
    on_day  date := coalesce(p_on, campus_today());
    classes bigint[];
BEGIN
    IF on_day > campus_today() OR EXISTS (SELECT 1 FROM users u JOIN student_profiles sp ON sp.user_id = u.id
            WHERE u.sourced_id = p_id AND sp.admitted_on IS NOT NULL AND on_day < sp.admitted_on) THEN
        RETURN QUERY SELECT 'bad_dates'::text, p_id, NULL::bigint, ARRAY[on_day::text];
        RETURN;
    END IF;
    SELECT * INTO r FROM student_update(p_actor, p_ip, p_id, p_if_match, false, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, 'tobedeleted');
    IF r.outcome <> 'ok' THEN
        RETURN QUERY SELECT r.outcome, r.ref, r.row_id, r.bad;
        RETURN;
    END IF;
    WITH ended AS (
        UPDATE enrollments e SET status = 'tobedeleted',
            end_date = greatest(on_day, e.begin_date), date_last_modified = now()
        WHERE e.user_id = r.row_id AND e.status = 'active'
        RETURNING e.class_id)
    SELECT coalesce(array_agg(DISTINCT class_id), '{}') INTO classes FROM ended;
    UPDATE classes x SET date_last_modified = greatest(now(), x.date_last_modified + interval '1 microsecond')
        WHERE x.id = ANY (classes);
    PERFORM audit_append(p_actor, 'students.withdrawn', 'user', r.ref::text, p_ip,
        jsonb_build_object('on', on_day, 'enrollments_ended', cardinality(classes)));
    RETURN QUERY SELECT 'ok'::text, r.ref, r.row_id, classes::text[];
END
$$;

-- 4. Staff moves. As in 0012, and: p_role changes the OneRoster role (teacher, administrator,
--    aide); a move to another department or a change of role moves the built-in binding the
--    role implies (faculty for a teacher, staff otherwise) from the old department to the new
--    one. Custom bindings stay where they are (the server lists them in its answer).
DROP FUNCTION staff_update(bigint, inet, uuid, bigint, boolean, text, text, text, text, text, uuid, text);
CREATE FUNCTION staff_update(
    p_actor bigint, p_ip inet, p_id uuid, p_if_match bigint, p_email_set boolean, p_email text,
    p_given text, p_family text, p_employee text, p_designation text, p_department uuid,
    p_role text, p_status text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u        users%ROWTYPE;
    old_dept bigint;
    seen     timestamptz;
    stamp    timestamptz;
    dept     bigint;
    clash    text;
    taken    text;
    old_bi   text;
    new_bi   text;
BEGIN
    SELECT x.* INTO u FROM users x JOIN staff_profiles s ON s.user_id = x.id
        WHERE x.sourced_id = p_id FOR UPDATE OF x;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    SELECT greatest(u.date_last_modified, s.date_last_modified), s.department_id INTO seen, old_dept
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
        role = coalesce(p_role, x.role),
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
    old_bi := CASE WHEN u.role = 'teacher' THEN 'faculty' ELSE 'staff' END;
    new_bi := CASE WHEN coalesce(p_role, u.role) = 'teacher' THEN 'faculty' ELSE 'staff' END;
    IF coalesce(dept, old_dept) <> old_dept OR new_bi <> old_bi THEN
        -- Only a binding the role implied moves: one an administrator made by hand (the same
        -- built-in role bound again elsewhere) is theirs to keep or remove.
        DELETE FROM role_bindings b USING roles r
            WHERE b.role_id = r.id AND r.builtin AND r.name = old_bi AND b.user_id = u.id
              AND b.scope_type = 'department' AND b.scope_id = old_dept;
        PERFORM campus_bind_builtin(u.id, new_bi, 'department', coalesce(dept, old_dept), p_actor);
    END IF;
    PERFORM audit_append(p_actor,
        CASE p_status WHEN 'tobedeleted' THEN 'staff.deactivated'
                      WHEN 'active' THEN 'staff.reactivated' ELSE 'staff.updated' END,
        'user', u.sourced_id::text, p_ip,
        jsonb_strip_nulls(jsonb_build_object('email', CASE WHEN p_email_set THEN coalesce(p_email, '') END,
            'given_name', p_given, 'family_name', p_family, 'employee_number', p_employee,
            'designation', p_designation, 'department', p_department, 'role', p_role,
            'status', p_status,
            'binding_moved', CASE WHEN coalesce(dept, old_dept) <> old_dept OR new_bi <> old_bi
                THEN jsonb_build_object('from', old_bi, 'to', new_bi) END)));
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

-- 5. Guardian links, managed by registrars. A link names an active guardian account, or makes
--    one (p_guardian NULL: p_username, p_email, p_given, p_family; the built-in guardian role
--    for the institution comes with it). Linking again changes the relationship. Outcomes: ok
--    (ref: the guardian), not_found (the student), no_user (p_guardian is not an active
--    guardian account), username_taken, email_taken.
CREATE FUNCTION guardian_link(
    p_actor bigint, p_ip inet, p_student uuid, p_guardian uuid, p_relationship text,
    p_username text, p_email text, p_given text, p_family text
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    sid   bigint;
    ssid  uuid;
    gid   bigint;
    gsid  uuid;
    inst  bigint;
    clash text;
    made  boolean := false;
BEGIN
    SELECT u.id, u.sourced_id INTO sid, ssid FROM users u JOIN student_profiles sp ON sp.user_id = u.id
        WHERE u.sourced_id = p_student FOR UPDATE OF u;
    IF sid IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_guardian IS NOT NULL THEN
        SELECT u.id, u.sourced_id INTO gid, gsid FROM users u
            WHERE u.sourced_id = p_guardian AND u.role = 'guardian' AND u.status = 'active';
        IF gid IS NULL THEN
            RETURN QUERY SELECT 'no_user'::text, NULL::uuid, NULL::bigint, ARRAY[p_guardian::text];
            RETURN;
        END IF;
    ELSE
        PERFORM pg_advisory_xact_lock(hashtext('campus.person:' || lower(p_username)));
        clash := person_clash(p_username, p_email, NULL);
        IF clash IS NOT NULL THEN
            RETURN QUERY SELECT clash, NULL::uuid, NULL::bigint, NULL::text[];
            RETURN;
        END IF;
        INSERT INTO users (username, email, given_name, family_name, role)
            VALUES (p_username, p_email, p_given, p_family, 'guardian')
            RETURNING id, sourced_id INTO gid, gsid;
        made := true;
    END IF;
    SELECT o.id INTO inst FROM orgs o WHERE o.type = 'institution' ORDER BY o.id LIMIT 1;
    PERFORM campus_bind_builtin(gid, 'guardian', 'institution', inst, p_actor);
    INSERT INTO guardianships (guardian_id, student_id, relationship)
        VALUES (gid, sid, p_relationship)
        ON CONFLICT (guardian_id, student_id) DO UPDATE SET relationship = excluded.relationship;
    PERFORM audit_append(p_actor, 'guardians.linked', 'user', ssid::text, p_ip,
        jsonb_build_object('guardian', gsid, 'relationship', p_relationship, 'created', made));
    RETURN QUERY SELECT 'ok'::text, gsid, gid, NULL::text[];
END
$$;

-- Ends a guardian's link to a student: from the commit on, the guardian's reads of that
-- student are refused (the check reads guardianships, never a cache). Outcomes: ok (row_id:
-- the guardian's users.id), not_found (no such student or link).
CREATE FUNCTION guardian_unlink(p_actor bigint, p_ip inet, p_student uuid, p_guardian uuid)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    gid bigint;
BEGIN
    DELETE FROM guardianships g USING users s, users w
        WHERE s.sourced_id = p_student AND w.sourced_id = p_guardian
          AND g.student_id = s.id AND g.guardian_id = w.id
        RETURNING g.guardian_id INTO gid;
    IF gid IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    PERFORM audit_append(p_actor, 'guardians.unlinked', 'user', p_student::text, p_ip,
        jsonb_build_object('guardian', p_guardian));
    RETURN QUERY SELECT 'ok'::text, p_guardian, gid, NULL::text[];
END
$$;

-- 6. Guardians read the classes of their linked students (the class, its timetable, what is
--    due), as students read their own: the guardian role is self-only, so this reaches no
--    other class.
INSERT INTO role_permissions (role_id, permission)
SELECT r.id, 'classes.read' FROM roles r WHERE r.name = 'guardian' AND r.builtin
ON CONFLICT (role_id, permission) DO NOTHING;
