-- Security review fixes: failed log-ins counted per (account, client address) and per account,
-- API keys that always expire and never carry self-only rights, roles freed from dead keys'
-- bindings, and log-out / password change written with their audit event in one transaction.

-- Failed credential checks. `subject` is 'u:<users.id>' for an account (its username and email
-- forms share it) or 'n:<lower-cased name>' for a name that matches no account, so unknown and
-- real names are throttled alike. `source` is the client address, or '*' for all addresses
-- together. A pair (subject, address) is slowed down with growing delays (`retry_at`) and then
-- locked; the '*' row locks the subject for everyone at a higher count.
CREATE TABLE login_throttle (
    subject         text NOT NULL,
    source          text NOT NULL,
    failures        integer NOT NULL,
    window_ends_at  timestamptz NOT NULL,
    retry_at        timestamptz NOT NULL,
    locked_until    timestamptz,
    PRIMARY KEY (subject, source)
);

-- The wait before the next attempt after `n` failures in a window: none for the first two
-- (typos), then 1, 2, 4, ... seconds, at most a minute.
CREATE FUNCTION login_delay(n integer) RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN n < 3 THEN interval '0' ELSE make_interval(secs => least(power(2, n - 3), 60)) END
$$;

-- Where a subject stands, seen from one address: failures counted in the pair's window,
-- whether the pair is locked (until when, as RFC 3339), seconds to wait before the next
-- attempt (delay or lock), and the same lock figures for the subject as a whole.
CREATE FUNCTION login_throttle_state(p_subject text, p_source text)
RETURNS TABLE (failures integer, locked boolean, locked_until text, wait_s float8,
               subject_locked boolean, subject_locked_until text, subject_wait_s float8)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(CASE WHEN p.window_ends_at > now() THEN p.failures END, 0),
           coalesce(p.locked_until > now(), false),
           CASE WHEN p.locked_until > now()
                THEN to_char(p.locked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
           greatest(extract(epoch FROM greatest(p.retry_at, p.locked_until) - now())::float8, 0),
           coalesce(a.locked_until > now(), false),
           CASE WHEN a.locked_until > now()
                THEN to_char(a.locked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
           greatest(extract(epoch FROM a.locked_until - now())::float8, 0)
    FROM (SELECT 1) one
    LEFT JOIN login_throttle p ON p.subject = p_subject AND p.source = p_source
    LEFT JOIN login_throttle a ON a.subject = p_subject AND a.source = '*'
$$;

-- Counts one failure for the pair and for the subject: a new window after `p_window_s`, the
-- pair locked for a window at `p_pair_max` failures, the subject at `p_subject_max`. Returns
-- the state afterwards.
CREATE FUNCTION login_throttle_fail(
    p_subject text, p_source text, p_window_s float8, p_pair_max integer, p_subject_max integer
) RETURNS TABLE (failures integer, locked boolean, locked_until text, wait_s float8,
                 subject_locked boolean, subject_locked_until text, subject_wait_s float8)
LANGUAGE plpgsql AS $$
DECLARE
    src text;
    mx  integer;
BEGIN
    FOREACH src IN ARRAY ARRAY[p_source, '*'] LOOP
        mx := CASE WHEN src = '*' THEN p_subject_max ELSE p_pair_max END;
        INSERT INTO login_throttle AS t (subject, source, failures, window_ends_at, retry_at, locked_until)
        VALUES (p_subject, src, 1, now() + make_interval(secs => p_window_s),
                now() + login_delay(1),
                CASE WHEN mx <= 1 THEN now() + make_interval(secs => p_window_s) END)
        ON CONFLICT (subject, source) DO UPDATE SET
            failures = CASE WHEN t.window_ends_at <= now() THEN 1 ELSE t.failures + 1 END,
            window_ends_at = CASE WHEN t.window_ends_at <= now()
                                  THEN now() + make_interval(secs => p_window_s) ELSE t.window_ends_at END,
            retry_at = now() + login_delay(CASE WHEN t.window_ends_at <= now() THEN 1 ELSE t.failures + 1 END),
            locked_until = CASE WHEN (CASE WHEN t.window_ends_at <= now() THEN 1 ELSE t.failures + 1 END) >= mx
                                THEN now() + make_interval(secs => p_window_s) ELSE t.locked_until END;
    END LOOP;
    RETURN QUERY SELECT * FROM login_throttle_state(p_subject, p_source);
END
$$;

-- Every key expires. Keys made without an end get a year from their creation (the server's
-- default maximum); from now on the server always sends one.
UPDATE api_keys SET expires_at = created_at + interval '365 days' WHERE expires_at IS NULL;
ALTER TABLE api_keys ALTER COLUMN expires_at SET NOT NULL;

-- Creates a key (as in 0005), except that self-only roles (student, guardian) can be neither
-- bound to a key nor counted among the creator's rights: a student's right to read their own
-- record is not a right to read students. New outcome: self_only.
CREATE OR REPLACE FUNCTION api_key_create(
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
        VALUES (p_prefix, p_secret_hash, p_name, p_actor, now() + make_interval(days => p_expires_days))
        RETURNING id, sourced_id INTO new_id, new_uuid;
    FOR b IN SELECT * FROM jsonb_array_elements(p_bindings) LOOP
        SELECT id INTO rid FROM roles WHERE name = b->>'role';
        IF rid IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'no_role:' || coalesce(b->>'role', '');
        END IF;
        IF b->>'role' IN ('student', 'guardian') THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'self_only:' || (b->>'role');
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
                SELECT 1 FROM role_bindings ob
                JOIN roles orl ON orl.id = ob.role_id AND orl.name NOT IN ('student', 'guardian')
                JOIN role_permissions op ON op.role_id = ob.role_id
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
    RETURN QUERY SELECT split_part(SQLERRM, ':', 1), NULL::bigint, NULL::uuid,
                        substr(SQLERRM, length(split_part(SQLERRM, ':', 1)) + 2);
END
$$;

-- Deletes a custom role that nobody holds (as in 0004). Bindings of revoked or expired keys
-- hold nobody: they are removed first instead of keeping the role "in use" forever.
CREATE OR REPLACE FUNCTION authz_role_delete(p_actor bigint, p_ip inet, p_name text)
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
    DELETE FROM role_bindings b USING api_keys k
        WHERE b.role_id = r.id AND b.api_key_id = k.id
          AND (k.revoked_at IS NOT NULL OR k.expires_at <= now());
    IF EXISTS (SELECT 1 FROM role_bindings b WHERE b.role_id = r.id) THEN
        RETURN QUERY SELECT 'in_use'::text, r.id, NULL::bigint;
        RETURN;
    END IF;
    DELETE FROM roles WHERE id = r.id;
    PERFORM audit_append(p_actor, 'roles.deleted', 'role', p_name, p_ip, '{}'::jsonb);
    RETURN QUERY SELECT 'ok'::text, r.id, nextval('authz_version');
END
$$;

-- Changes a password and ends every session of the user, with its audit event, in one
-- transaction. Returns the authorisation version (no row: no such user).
CREATE FUNCTION auth_password_change(p_user bigint, p_hash text, p_ip inet)
RETURNS TABLE (version bigint) LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET password_hash = p_hash, password_changed_at = now(),
        tokens_revoked_before = now(), date_last_modified = now() WHERE id = p_user;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = p_user AND revoked_at IS NULL;
    PERFORM audit_append(p_user, 'auth.password_changed', 'user', p_user::text, p_ip,
                         '{"sessions_revoked": true}'::jsonb);
    RETURN QUERY SELECT nextval('authz_version');
END
$$;

-- Ends the session a refresh token belongs to: its family and every access token of the
-- user, with the audit event, in one transaction. No row: not one of ours.
CREATE FUNCTION auth_logout(p_token_hash bytea, p_ip inet)
RETURNS TABLE (user_id bigint, version bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    fam uuid;
    uid bigint;
BEGIN
    SELECT family_id, user_id INTO fam, uid FROM refresh_tokens WHERE token_hash = p_token_hash;
    IF uid IS NULL THEN
        RETURN;
    END IF;
    UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = fam AND revoked_at IS NULL;
    UPDATE users SET tokens_revoked_before = now() WHERE id = uid;
    PERFORM audit_append(uid, 'auth.logout', 'user', uid::text, p_ip, '{}'::jsonb);
    RETURN QUERY SELECT uid, nextval('authz_version');
END
$$;
