-- Access-control changes: every change to a role, a binding or a user's token revocation time
-- takes a new authorisation version (published with the change so every shard of every
-- instance drops what is stale), and is written with its audit event in one statement, so a
-- change is never applied without its audit record (works through PgBouncer in transaction
-- mode: one statement is one transaction).
--
-- The functions answer with an outcome word instead of raising, so the server can tell the
-- client exactly what was wrong (unknown permission, duplicate, in use) without parsing
-- error messages.

CREATE SEQUENCE authz_version;

-- The last one-time-code step accepted per user: a code is never accepted twice.
ALTER TABLE users ADD COLUMN mfa_last_step bigint;

-- Creates a custom role. Outcomes: ok, exists, unknown_permission.
CREATE FUNCTION authz_role_create(
    p_actor bigint, p_ip inet, p_name text, p_description text, p_permissions text[]
) RETURNS TABLE (outcome text, role_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_permissions) p WHERE p NOT IN (SELECT name FROM permissions)) THEN
        RETURN QUERY SELECT 'unknown_permission'::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO roles (name, description) VALUES (p_name, p_description)
        ON CONFLICT (name) DO NOTHING RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        RETURN QUERY SELECT 'exists'::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO role_permissions (role_id, permission)
        SELECT new_id, p FROM unnest(p_permissions) p GROUP BY p;
    PERFORM audit_append(p_actor, 'roles.created', 'role', p_name, p_ip,
        jsonb_build_object('permissions', to_jsonb(p_permissions), 'description', p_description));
    RETURN QUERY SELECT 'ok'::text, new_id, nextval('authz_version');
END
$$;

-- Replaces a custom role's description and permission set. Outcomes: ok, not_found, builtin,
-- unknown_permission.
CREATE FUNCTION authz_role_update(
    p_actor bigint, p_ip inet, p_name text, p_description text, p_permissions text[]
) RETURNS TABLE (outcome text, role_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM roles WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF r.builtin THEN
        RETURN QUERY SELECT 'builtin'::text, r.id, NULL::bigint;
        RETURN;
    END IF;
    IF p_permissions IS NOT NULL AND EXISTS (
        SELECT 1 FROM unnest(p_permissions) p WHERE p NOT IN (SELECT name FROM permissions)) THEN
        RETURN QUERY SELECT 'unknown_permission'::text, r.id, NULL::bigint;
        RETURN;
    END IF;
    IF p_description IS NOT NULL THEN
        UPDATE roles SET description = p_description WHERE id = r.id;
    END IF;
    IF p_permissions IS NOT NULL THEN
        DELETE FROM role_permissions WHERE role_permissions.role_id = r.id;
        INSERT INTO role_permissions (role_id, permission)
            SELECT r.id, p FROM unnest(p_permissions) p GROUP BY p;
    END IF;
    PERFORM audit_append(p_actor, 'roles.updated', 'role', p_name, p_ip,
        jsonb_strip_nulls(jsonb_build_object('permissions', to_jsonb(p_permissions),
                                             'description', p_description)));
    RETURN QUERY SELECT 'ok'::text, r.id, nextval('authz_version');
END
$$;

-- Deletes a custom role that nobody holds. Outcomes: ok, not_found, builtin, in_use.
CREATE FUNCTION authz_role_delete(p_actor bigint, p_ip inet, p_name text)
RETURNS TABLE (outcome text, role_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM roles WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF r.builtin THEN
        RETURN QUERY SELECT 'builtin'::text, r.id, NULL::bigint;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM role_bindings b WHERE b.role_id = r.id) THEN
        RETURN QUERY SELECT 'in_use'::text, r.id, NULL::bigint;
        RETURN;
    END IF;
    DELETE FROM roles WHERE id = r.id;
    PERFORM audit_append(p_actor, 'roles.deleted', 'role', p_name, p_ip, '{}'::jsonb);
    RETURN QUERY SELECT 'ok'::text, r.id, nextval('authz_version');
END
$$;

-- Binds a role to a user at a scope (institution or department: an org's public id; class: a
-- class's public id). Outcomes: ok, no_user, no_role, no_scope, exists.
CREATE FUNCTION authz_binding_create(
    p_actor bigint, p_ip inet, p_user uuid, p_role text, p_scope_type text, p_scope uuid
) RETURNS TABLE (outcome text, binding uuid, user_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    uid bigint;
    rid bigint;
    sid bigint;
    new_sourced uuid;
BEGIN
    SELECT id INTO uid FROM users WHERE sourced_id = p_user;
    IF uid IS NULL THEN
        RETURN QUERY SELECT 'no_user'::text, NULL::uuid, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    SELECT id INTO rid FROM roles WHERE name = p_role;
    IF rid IS NULL THEN
        RETURN QUERY SELECT 'no_role'::text, NULL::uuid, uid, NULL::bigint;
        RETURN;
    END IF;
    IF p_scope_type = 'class' THEN
        SELECT id INTO sid FROM classes WHERE sourced_id = p_scope;
    ELSIF p_scope_type = 'department' THEN
        SELECT id INTO sid FROM orgs WHERE sourced_id = p_scope AND type = 'department';
    ELSIF p_scope_type = 'institution' THEN
        SELECT id INTO sid FROM orgs WHERE sourced_id = p_scope AND type = 'institution';
    END IF;
    IF sid IS NULL THEN
        RETURN QUERY SELECT 'no_scope'::text, NULL::uuid, uid, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO role_bindings (user_id, role_id, scope_type, scope_id, created_by)
        VALUES (uid, rid, p_scope_type, sid, p_actor)
        ON CONFLICT DO NOTHING RETURNING sourced_id INTO new_sourced;
    IF new_sourced IS NULL THEN
        RETURN QUERY SELECT 'exists'::text, NULL::uuid, uid, NULL::bigint;
        RETURN;
    END IF;
    PERFORM audit_append(p_actor, 'role_bindings.created', 'user', uid::text, p_ip,
        jsonb_build_object('binding', new_sourced, 'role', p_role, 'scope_type', p_scope_type,
                           'scope', p_scope));
    RETURN QUERY SELECT 'ok'::text, new_sourced, uid, nextval('authz_version');
END
$$;

-- Removes a binding. Outcomes: ok, not_found.
CREATE FUNCTION authz_binding_delete(p_actor bigint, p_ip inet, p_binding uuid)
RETURNS TABLE (outcome text, user_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    b role_bindings%ROWTYPE;
    role_name text;
BEGIN
    DELETE FROM role_bindings WHERE sourced_id = p_binding RETURNING * INTO b;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    SELECT name INTO role_name FROM roles WHERE id = b.role_id;
    PERFORM audit_append(p_actor, 'role_bindings.deleted', 'user', b.user_id::text, p_ip,
        jsonb_build_object('binding', p_binding, 'role', role_name, 'scope_type', b.scope_type));
    RETURN QUERY SELECT 'ok'::text, b.user_id, nextval('authz_version');
END
$$;
