-- Built-in roles and permissions come with the schema, so a database that is migrated but not
-- demo-seeded has them (and `campushub admin create` can bind the first administrator). The
-- demo seed uses these rows; it no longer writes its own. Existing databases keep theirs
-- (ON CONFLICT DO NOTHING): the names and permissions are the ones the seed always wrote.

INSERT INTO permissions (name, description) VALUES
    ('api_keys.manage', 'api_keys: manage'),
    ('attendance.mark', 'attendance: mark'),
    ('attendance.override', 'attendance: override'),
    ('attendance.read', 'attendance: read'),
    ('audit.read', 'audit: read'),
    ('classes.read', 'classes: read'),
    ('classes.write', 'classes: write'),
    ('enrollments.read', 'enrollments: read'),
    ('enrollments.write', 'enrollments: write'),
    ('exams.grade', 'exams: grade'),
    ('exams.publish', 'exams: publish'),
    ('exams.read', 'exams: read'),
    ('roles.manage', 'roles: manage'),
    ('students.read', 'students: read'),
    ('students.write', 'students: write'),
    ('users.manage', 'users: manage')
ON CONFLICT (name) DO NOTHING;

INSERT INTO roles (name, description, builtin) VALUES
    ('admin', 'Everything, everywhere', true),
    ('registrar', 'Student records, classes and enrollments', true),
    ('head_of_department', 'Oversight of one department', true),
    ('faculty', 'Teaching: attendance and grading in own classes', true),
    ('staff', 'Office work: attendance corrections', true),
    ('student', 'Own records', true),
    ('guardian', 'Records of linked students', true)
ON CONFLICT (name) DO NOTHING;

INSERT INTO role_permissions (role_id, permission)
SELECT r.id, p.permission FROM roles r JOIN (VALUES
    ('admin', 'students.read'),
    ('admin', 'students.write'),
    ('admin', 'attendance.read'),
    ('admin', 'attendance.mark'),
    ('admin', 'attendance.override'),
    ('admin', 'exams.read'),
    ('admin', 'exams.grade'),
    ('admin', 'exams.publish'),
    ('admin', 'roles.manage'),
    ('admin', 'audit.read'),
    ('admin', 'users.manage'),
    ('admin', 'classes.read'),
    ('admin', 'classes.write'),
    ('admin', 'enrollments.read'),
    ('admin', 'enrollments.write'),
    ('admin', 'api_keys.manage'),
    ('registrar', 'students.read'),
    ('registrar', 'students.write'),
    ('registrar', 'attendance.read'),
    ('registrar', 'attendance.override'),
    ('registrar', 'exams.read'),
    ('registrar', 'exams.publish'),
    ('registrar', 'classes.read'),
    ('registrar', 'classes.write'),
    ('registrar', 'enrollments.read'),
    ('registrar', 'enrollments.write'),
    ('head_of_department', 'students.read'),
    ('head_of_department', 'attendance.read'),
    ('head_of_department', 'attendance.override'),
    ('head_of_department', 'exams.read'),
    ('head_of_department', 'exams.publish'),
    ('head_of_department', 'classes.read'),
    ('head_of_department', 'enrollments.read'),
    ('faculty', 'students.read'),
    ('faculty', 'attendance.read'),
    ('faculty', 'attendance.mark'),
    ('faculty', 'exams.read'),
    ('faculty', 'exams.grade'),
    ('faculty', 'classes.read'),
    ('faculty', 'enrollments.read'),
    ('staff', 'students.read'),
    ('staff', 'attendance.read'),
    ('staff', 'attendance.override'),
    ('staff', 'classes.read'),
    ('staff', 'enrollments.read'),
    ('student', 'students.read'),
    ('student', 'attendance.read'),
    ('student', 'exams.read'),
    ('student', 'classes.read'),
    ('guardian', 'students.read'),
    ('guardian', 'attendance.read'),
    ('guardian', 'exams.read')
) AS p (role, permission) ON p.role = r.name AND r.builtin
ON CONFLICT (role_id, permission) DO NOTHING;

-- The first administrator of a deployment (`campushub admin create`): a user bound to the
-- built-in admin role for the whole institution, which is made (named p_institution, identifier
-- 'institution') when the database has none yet; with its audit event, in one statement.
-- Outcomes: ok, exists (the username or email is taken), no_institution (none exists and no
-- name was given).
CREATE FUNCTION admin_create(
    p_username text, p_email text, p_given text, p_family text, p_hash text, p_institution text
) RETURNS TABLE (outcome text, admin_id uuid, institution_name text) LANGUAGE plpgsql AS $$
DECLARE
    inst_id   bigint;
    inst_name text;
    uid       bigint;
    usid      uuid;
BEGIN
    SELECT o.id, o.name INTO inst_id, inst_name FROM orgs o
        WHERE o.type = 'institution' ORDER BY o.id LIMIT 1;
    IF inst_id IS NULL THEN
        IF p_institution IS NULL THEN
            RETURN QUERY SELECT 'no_institution'::text, NULL::uuid, NULL::text;
            RETURN;
        END IF;
        INSERT INTO orgs (name, type, identifier) VALUES (p_institution, 'institution', 'institution')
            RETURNING id, name INTO inst_id, inst_name;
    END IF;
    IF EXISTS (SELECT 1 FROM users u WHERE lower(u.username) = lower(p_username)
               OR (p_email IS NOT NULL AND lower(u.email) = lower(p_email))) THEN
        RETURN QUERY SELECT 'exists'::text, NULL::uuid, inst_name;
        RETURN;
    END IF;
    INSERT INTO users (username, email, given_name, family_name, role, password_hash)
        VALUES (p_username, p_email, p_given, p_family, 'administrator', p_hash)
        RETURNING id, sourced_id INTO uid, usid;
    INSERT INTO role_bindings (user_id, role_id, scope_type, scope_id)
        SELECT uid, r.id, 'institution', inst_id FROM roles r WHERE r.name = 'admin' AND r.builtin;
    PERFORM audit_append(NULL, 'users.admin_created', 'user', uid::text, NULL,
                         jsonb_build_object('username', p_username, 'via', 'campushub admin create'));
    RETURN QUERY SELECT 'ok'::text, usid, inst_name;
END
$$;
