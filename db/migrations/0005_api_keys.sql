-- API keys: created with their scoped bindings and audit event in one statement, revoked the
-- same way. A key may carry only roles whose every permission its creator holds at the
-- institution or at the binding's own scope, so a key never grants more than its creator has.

-- Creates a key. p_bindings: [{"role": name, "scope_type": ..., "scope": uuid}, ...].
-- Outcomes: ok, no_role, no_scope, exceeds_creator, no_bindings.
CREATE FUNCTION api_key_create(
    p_actor bigint, p_ip inet, p_prefix text, p_secret_hash bytea, p_name text,
    p_expires_days integer, p_bindings jsonb
) RETURNS TABLE (outcome text, key_id bigint, key uuid, detail text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    b          jsonb;
    rid        bigint;
    sid        bigint;
    stype      text;
    new_id     bigint;
    new_uuid   uuid;
    missing    text;
BEGIN
    IF p_bindings IS NULL OR jsonb_typeof(p_bindings) <> 'array' OR jsonb_array_length(p_bindings) = 0 THEN
        RETURN QUERY SELECT 'no_bindings'::text, NULL::bigint, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    INSERT INTO api_keys (prefix, secret_hash, name, owner_id, expires_at)
        VALUES (p_prefix, p_secret_hash, p_name, p_actor,
                CASE WHEN p_expires_days IS NULL THEN NULL ELSE now() + make_interval(days => p_expires_days) END)
        RETURNING id, sourced_id INTO new_id, new_uuid;
    FOR b IN SELECT * FROM jsonb_array_elements(p_bindings) LOOP
        SELECT id INTO rid FROM roles WHERE name = b->>'role';
        IF rid IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'no_role:' || coalesce(b->>'role', '');
        END IF;
        stype := b->>'scope_type';
        sid := NULL;
        IF stype = 'class' THEN
            SELECT id INTO sid FROM classes WHERE sourced_id = (b->>'scope')::uuid;
        ELSIF stype IN ('department', 'institution') THEN
            SELECT id INTO sid FROM orgs WHERE sourced_id = (b->>'scope')::uuid AND type = stype;
        END IF;
        IF sid IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'no_scope:' || coalesce(b->>'scope', '');
        END IF;
        SELECT rp.permission INTO missing FROM role_permissions rp
            WHERE rp.role_id = rid AND NOT EXISTS (
                SELECT 1 FROM role_bindings ob JOIN role_permissions op ON op.role_id = ob.role_id
                WHERE ob.user_id = p_actor AND op.permission = rp.permission
                  AND (ob.scope_type = 'institution' OR (ob.scope_type = stype AND ob.scope_id = sid)))
            LIMIT 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'exceeds_creator:' || missing;
        END IF;
        INSERT INTO role_bindings (api_key_id, role_id, scope_type, scope_id, created_by)
            VALUES (new_id, rid, stype, sid, p_actor) ON CONFLICT DO NOTHING;
    END LOOP;
    PERFORM audit_append(p_actor, 'api_keys.created', 'api_key', new_uuid::text, p_ip,
        jsonb_build_object('name', p_name, 'prefix', p_prefix, 'bindings', p_bindings,
                           'expires_days', p_expires_days));
    RETURN QUERY SELECT 'ok'::text, new_id, new_uuid, NULL::text;
EXCEPTION WHEN SQLSTATE 'P0001' THEN
    -- The key row and any bindings made so far roll back with this block.
    RETURN QUERY SELECT split_part(SQLERRM, ':', 1), NULL::bigint, NULL::uuid,
                        substr(SQLERRM, length(split_part(SQLERRM, ':', 1)) + 2);
END
$$;

-- Revokes a key: the creator's own, or any when p_any (holders of api_keys.manage).
-- Outcomes: ok, not_found.
CREATE FUNCTION api_key_revoke(p_actor bigint, p_ip inet, p_key uuid, p_any boolean)
RETURNS TABLE (outcome text, key_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    kid bigint;
BEGIN
    UPDATE api_keys SET revoked_at = now()
        WHERE sourced_id = p_key AND revoked_at IS NULL AND (p_any OR owner_id = p_actor)
        RETURNING id INTO kid;
    IF kid IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    PERFORM audit_append(p_actor, 'api_keys.revoked', 'api_key', p_key::text, p_ip, '{}'::jsonb);
    RETURN QUERY SELECT 'ok'::text, kid, nextval('authz_version');
END
$$;

CREATE INDEX role_bindings_api_key_idx ON role_bindings (api_key_id) WHERE api_key_id IS NOT NULL;
