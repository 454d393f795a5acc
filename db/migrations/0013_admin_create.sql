-- `campushub admin create` records its audit event with the new user's public id, as every
-- campus write does (students.created, staff.created: 'user', sourced_id), not the row id,
-- which the API never shows (0007 passed uid::text). It also takes the lock the API's person
-- creation takes on the username, so the two cannot race into a unique violation, and refuses
-- a username or email that equals another account's email or username: log-in takes either,
-- and would pick whichever row comes first. The CLI checks the values themselves (the API's
-- rules: server/src/cli.rs).

CREATE OR REPLACE FUNCTION admin_create(
    p_username text, p_email text, p_given text, p_family text, p_hash text, p_institution text
) RETURNS TABLE (outcome text, admin_id uuid, institution_name text) LANGUAGE plpgsql AS $$
DECLARE
    inst_id   bigint;
    inst_name text;
    uid       bigint;
    usid      uuid;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('campus.person:' || lower(p_username)));
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
    IF EXISTS (SELECT 1 FROM users u
               WHERE lower(u.username) = lower(p_username)
                  OR lower(u.email) = lower(p_username)
                  OR (p_email IS NOT NULL AND (lower(u.email) = lower(p_email)
                                               OR lower(u.username) = lower(p_email)))) THEN
        RETURN QUERY SELECT 'exists'::text, NULL::uuid, inst_name;
        RETURN;
    END IF;
    INSERT INTO users (username, email, given_name, family_name, role, password_hash)
        VALUES (p_username, p_email, p_given, p_family, 'administrator', p_hash)
        RETURNING id, sourced_id INTO uid, usid;
    INSERT INTO role_bindings (user_id, role_id, scope_type, scope_id)
        SELECT uid, r.id, 'institution', inst_id FROM roles r WHERE r.name = 'admin' AND r.builtin;
    PERFORM audit_append(NULL, 'users.admin_created', 'user', usid::text, NULL,
                         jsonb_build_object('username', p_username, 'via', 'campushub admin create'));
    RETURN QUERY SELECT 'ok'::text, usid, inst_name;
END
$$;
