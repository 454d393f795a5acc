-- Accounts people can use (issue #21): invitations that set a first password, password
-- resets by email, and bounced addresses recorded on the person.
--
-- A link's token is never stored: the row keeps its public id (sourced_id, chosen by whoever
-- makes the row) and the SHA-256 of the token. The token itself is HMAC-SHA-256 of the
-- purpose and that id under CAMPUSHUB_LINK_KEY, a key the server and the workers hold and the
-- database does not: the worker that sends the message derives the link again, so neither
-- the jobs table nor this one holds anything that opens an account.

CREATE TABLE account_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id  uuid NOT NULL UNIQUE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('invitation', 'reset')),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    -- A newer link of the same purpose for the same person replaced this one.
    replaced_at timestamptz
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose, created_at);

-- The last address that bounced, and why; cleared when the address changes.
ALTER TABLE users ADD COLUMN email_bounced_at timestamptz;
ALTER TABLE users ADD COLUMN email_bounce text;

CREATE FUNCTION users_email_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email IS DISTINCT FROM OLD.email THEN
        NEW.email_bounced_at := NULL;
        NEW.email_bounce := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_email_changed BEFORE UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_changed();

-- Registrars invite the people they admit and hire.
INSERT INTO role_permissions (role_id, permission)
    SELECT r.id, 'users.manage' FROM roles r WHERE r.name = 'registrar' AND r.builtin
    ON CONFLICT DO NOTHING;

-- The departments a person belongs to (orgs.id): a student's or staff member's own, a
-- guardian's linked students'. Invitations are scoped by them.
CREATE FUNCTION user_departments(p_user bigint) RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    SELECT department_id FROM student_profiles WHERE user_id = p_user
    UNION SELECT department_id FROM staff_profiles WHERE user_id = p_user
    UNION SELECT sp.department_id FROM guardianships g JOIN student_profiles sp ON sp.user_id = g.student_id
          WHERE g.guardian_id = p_user
$$;

-- Invites user p_user: a new invitation link (replacing any open one), its email job and the
-- audit event, in one transaction. Outcomes: ok, not_found, gone (disabled or withdrawn),
-- no_email, has_password (the person can already log in: a reset is what they need).
CREATE FUNCTION account_invite(p_actor bigint, p_ip inet, p_user bigint, p_token uuid,
                               p_hash bytea, p_ttl_s integer)
RETURNS TABLE (outcome text, job uuid, expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u record;
    replaced integer;
    jid uuid;
    until timestamptz := now() + make_interval(secs => p_ttl_s);
BEGIN
    SELECT id, sourced_id, status, enabled_user, email, password_hash INTO u
        FROM users WHERE id = p_user FOR UPDATE;
    IF u.id IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::timestamptz; RETURN;
    END IF;
    IF u.status <> 'active' OR NOT u.enabled_user THEN
        RETURN QUERY SELECT 'gone'::text, NULL::uuid, NULL::timestamptz; RETURN;
    END IF;
    IF u.email IS NULL THEN
        RETURN QUERY SELECT 'no_email'::text, NULL::uuid, NULL::timestamptz; RETURN;
    END IF;
    IF u.password_hash IS NOT NULL THEN
        RETURN QUERY SELECT 'has_password'::text, NULL::uuid, NULL::timestamptz; RETURN;
    END IF;
    UPDATE account_tokens SET replaced_at = now()
        WHERE user_id = p_user AND purpose = 'invitation' AND used_at IS NULL AND replaced_at IS NULL;
    GET DIAGNOSTICS replaced = ROW_COUNT;
    INSERT INTO account_tokens (sourced_id, user_id, purpose, token_hash, created_by, expires_at)
        VALUES (p_token, p_user, 'invitation', p_hash, p_actor, until);
    SELECT e.job_id INTO jid FROM job_enqueue('email.invitation', jsonb_build_object('token', p_token),
                                             20, NULL, 'email.invitation:' || p_token, 10) e;
    PERFORM audit_append(p_actor, 'users.invited', 'user', u.sourced_id::text, p_ip,
                         jsonb_build_object('invitation', p_token, 'replaced', replaced,
                                            'expires_at', until));
    RETURN QUERY SELECT 'ok'::text, jid, until;
END
$$;

-- A password reset asked for address p_email (run by a worker, off the request path, so the
-- request's answer and timing are the same for every address). At most p_max_per_hour links
-- per account per hour. Outcomes: ok (link made, email job enqueued), unknown (no usable
-- account has that address), throttled.
CREATE FUNCTION password_reset_issue(p_email text, p_token uuid, p_hash bytea, p_ttl_s integer,
                                     p_ip inet, p_max_per_hour integer)
RETURNS TABLE (outcome text, job uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u record;
    recent integer;
    jid uuid;
BEGIN
    SELECT id, sourced_id INTO u FROM users
        WHERE lower(email) = lower(p_email) AND status = 'active' AND enabled_user FOR UPDATE;
    IF u.id IS NULL THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::uuid; RETURN;
    END IF;
    SELECT count(*) INTO recent FROM account_tokens
        WHERE user_id = u.id AND purpose = 'reset' AND created_at > now() - interval '1 hour';
    IF recent >= p_max_per_hour THEN
        RETURN QUERY SELECT 'throttled'::text, NULL::uuid; RETURN;
    END IF;
    UPDATE account_tokens SET replaced_at = now()
        WHERE user_id = u.id AND purpose = 'reset' AND used_at IS NULL AND replaced_at IS NULL;
    INSERT INTO account_tokens (sourced_id, user_id, purpose, token_hash, expires_at)
        VALUES (p_token, u.id, 'reset', p_hash, now() + make_interval(secs => p_ttl_s));
    SELECT e.job_id INTO jid FROM job_enqueue('email.password_reset', jsonb_build_object('token', p_token),
                                             10, NULL, 'email.password_reset:' || p_token, 10) e;
    PERFORM audit_append(NULL, 'auth.password_reset_requested', 'user', u.sourced_id::text, p_ip,
                         jsonb_build_object('reset', p_token));
    RETURN QUERY SELECT 'ok'::text, jid;
END
$$;

-- Spends a link: sets the password, ends every session of the account, marks the link used
-- and audits, in one transaction; two people spending one link at once: one wins, the other
-- finds it used. Outcomes: ok, invalid (no such link), used, expired, replaced, gone.
CREATE FUNCTION account_token_spend(p_purpose text, p_hash bytea, p_password_hash text, p_ip inet)
RETURNS TABLE (outcome text, user_id bigint, version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t record;
    u record;
BEGIN
    SELECT id, sourced_id, user_id, used_at, replaced_at, expires_at INTO t FROM account_tokens
        WHERE token_hash = p_hash AND purpose = p_purpose FOR UPDATE;
    IF t.id IS NULL THEN
        RETURN QUERY SELECT 'invalid'::text, NULL::bigint, NULL::bigint; RETURN;
    END IF;
    IF t.used_at IS NOT NULL THEN
        RETURN QUERY SELECT 'used'::text, NULL::bigint, NULL::bigint; RETURN;
    END IF;
    IF t.replaced_at IS NOT NULL THEN
        RETURN QUERY SELECT 'replaced'::text, NULL::bigint, NULL::bigint; RETURN;
    END IF;
    IF t.expires_at <= now() THEN
        RETURN QUERY SELECT 'expired'::text, NULL::bigint, NULL::bigint; RETURN;
    END IF;
    SELECT id, sourced_id, status, enabled_user INTO u FROM users WHERE id = t.user_id FOR UPDATE;
    IF u.status <> 'active' OR NOT u.enabled_user THEN
        RETURN QUERY SELECT 'gone'::text, NULL::bigint, NULL::bigint; RETURN;
    END IF;
    UPDATE users SET password_hash = p_password_hash, password_changed_at = now(),
        tokens_revoked_before = now(), date_last_modified = now() WHERE id = u.id;
    UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = u.id AND revoked_at IS NULL;
    UPDATE account_tokens SET used_at = now() WHERE id = t.id;
    -- Whatever other link of either kind is open dies with this one: the password it would
    -- set is set.
    UPDATE account_tokens SET replaced_at = now()
        WHERE user_id = u.id AND id <> t.id AND used_at IS NULL AND replaced_at IS NULL;
    PERFORM audit_append(u.id,
                         CASE p_purpose WHEN 'invitation' THEN 'auth.invitation_accepted'
                                        ELSE 'auth.password_reset' END,
                         'user', u.sourced_id::text, p_ip,
                         jsonb_build_object('link', t.sourced_id, 'sessions_revoked', true));
    RETURN QUERY SELECT 'ok'::text, u.id, nextval('authz_version');
END
$$;

-- What the worker needs to write a link's message: its state now (a link used or replaced
-- before its message left is not sent) and its person.
CREATE FUNCTION account_token_mail(p_token uuid)
RETURNS TABLE (purpose text, state text, email text, given_name text, family_name text,
               username text, expires_at timestamptz, person uuid, bounced boolean)
LANGUAGE sql STABLE AS $$
    SELECT t.purpose,
           CASE WHEN t.used_at IS NOT NULL THEN 'used'
                WHEN t.replaced_at IS NOT NULL THEN 'replaced'
                WHEN t.expires_at <= now() THEN 'expired'
                WHEN u.status <> 'active' OR NOT u.enabled_user THEN 'gone'
                ELSE 'open' END,
           u.email, u.given_name, u.family_name, u.username, t.expires_at, u.sourced_id,
           u.email_bounced_at IS NOT NULL
    FROM account_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.sourced_id = p_token
$$;

-- The SMTP server refused p_address for good: recorded on the person while it is still their
-- address, and audited.
CREATE FUNCTION email_bounced(p_person uuid, p_address text, p_reason text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET email_bounced_at = now(), email_bounce = left(p_reason, 500)
        WHERE sourced_id = p_person AND lower(email) = lower(p_address);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM audit_append(NULL, 'users.email_bounced', 'user', p_person::text, NULL,
                         jsonb_build_object('reason', left(p_reason, 500)));
    RETURN true;
END
$$;
