-- Findings of the security review that the database must hold whatever the caller.
--
-- 1. An attendance session's date lies inside its class's term and inside the window the
--    partition maintainer keeps (24 months back to the end of the third month ahead): dates
--    from 1900 to 9999 were accepted, and daily maintenance made one partition per month it
--    found, each under a lock that register writes wait on.
-- 2. The institution always keeps an active administrator: deactivating or disabling the last
--    active user bound to the built-in `admin` role for the whole institution, or deleting
--    that binding, is refused with SQLSTATE CH409 (the server answers 409). An advisory lock
--    serialises the check, so two administrators removing each other at once cannot both win.

CREATE OR REPLACE FUNCTION attendance_open(p_actor bigint, p_ip inet, p_class uuid, p_date date, p_period smallint)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k      bigint;
    t_from date;
    t_to   date;
    s      attendance_sessions%ROWTYPE;
BEGIN
    SELECT x.id, t.start_date, t.end_date INTO k, t_from, t_to
        FROM classes x JOIN academic_sessions t ON t.id = x.term_id
        WHERE x.sourced_id = p_class AND x.status = 'active';
    IF k IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    -- Term end dates are inclusive.
    IF p_date < t_from OR p_date > t_to THEN
        RETURN QUERY SELECT 'outside_term'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_date < (date_trunc('month', current_date) - interval '24 months')::date
       OR p_date >= (date_trunc('month', current_date) + interval '4 months')::date THEN
        RETURN QUERY SELECT 'outside_window'::text, NULL::uuid, NULL::bigint, NULL::text[];
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

-- Raises CH409 when no active institution administrator is left. Called by the triggers below
-- after a change that may have removed one.
CREATE FUNCTION keep_an_institution_admin() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- One check at a time, each seeing the others' commits (READ COMMITTED takes a new
    -- snapshot for the query after the lock).
    PERFORM pg_advisory_xact_lock(hashtext('campushub.institution_admins'));
    IF NOT EXISTS (
        SELECT 1 FROM role_bindings b JOIN roles r ON r.id = b.role_id JOIN users x ON x.id = b.user_id
        WHERE r.name = 'admin' AND r.builtin AND b.scope_type = 'institution'
          AND x.status = 'active' AND x.enabled_user)
    THEN
        RAISE EXCEPTION 'the institution would have no active administrator left'
            USING ERRCODE = 'CH409';
    END IF;
END
$$;

CREATE FUNCTION users_keep_an_admin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status = 'active' AND OLD.enabled_user)
       AND NOT (NEW.status = 'active' AND NEW.enabled_user)
       AND EXISTS (SELECT 1 FROM role_bindings b JOIN roles r ON r.id = b.role_id
                   WHERE b.user_id = NEW.id AND r.name = 'admin' AND r.builtin
                     AND b.scope_type = 'institution') THEN
        PERFORM keep_an_institution_admin();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_keep_an_admin AFTER UPDATE OF status, enabled_user ON users
    FOR EACH ROW EXECUTE FUNCTION users_keep_an_admin();

CREATE FUNCTION bindings_keep_an_admin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.user_id IS NOT NULL AND OLD.scope_type = 'institution'
       AND EXISTS (SELECT 1 FROM roles r WHERE r.id = OLD.role_id AND r.name = 'admin' AND r.builtin)
       AND EXISTS (SELECT 1 FROM users x WHERE x.id = OLD.user_id AND x.status = 'active' AND x.enabled_user) THEN
        PERFORM keep_an_institution_admin();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bindings_keep_an_admin AFTER DELETE OR UPDATE ON role_bindings
    FOR EACH ROW EXECUTE FUNCTION bindings_keep_an_admin();

-- 3. `If-Match` on the bulk writes. A register's version is its session's (every mark moves
--    it); a result sheet's is its line item's, which a change to any of its results now moves
--    too. Each check holds the row lock the write takes, so nothing slips between the check
--    and the write. A register write with `If-Match` leaves the shard's coalescer and goes
--    alone, through this function; it takes the partition maintainer's lock (shared) before
--    the session's row, in the same order as every batch, so neither can wait on the other.
CREATE FUNCTION attendance_mark_checked(
    p_expected bigint, p_actor bigint, p_ip inet, p_session bigint, p_source text,
    p_students bigint[], p_codes text[], p_minutes int2[]
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    seen timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(109270099062881);
    SELECT x.date_last_modified INTO seen FROM attendance_sessions x WHERE x.id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_expected IS NOT NULL AND campus_version(seen) <> p_expected THEN
        RETURN QUERY SELECT 'stale'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    RETURN QUERY SELECT b.outcome, b.ref, b.row_id, b.bad FROM attendance_mark_batch(
        ARRAY[p_actor], ARRAY[p_ip], ARRAY[p_session], ARRAY[p_source],
        array_fill(1, ARRAY[coalesce(cardinality(p_students), 0)]),
        p_students, p_codes, p_minutes) b;
END
$$;

CREATE FUNCTION results_put_checked(
    p_actor bigint, p_ip inet, p_item uuid, p_students uuid[], p_scores float8[],
    p_statuses text[], p_comments text[], p_expected bigint
) RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    seen timestamptz;
    r    record;
BEGIN
    SELECT x.date_last_modified INTO seen FROM line_items x WHERE x.sourced_id = p_item FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF p_expected IS NOT NULL AND campus_version(seen) <> p_expected THEN
        RETURN QUERY SELECT 'stale'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    SELECT * INTO r FROM results_put(p_actor, p_ip, p_item, p_students, p_scores, p_statuses, p_comments);
    IF r.outcome = 'ok' AND r.row_id > 0 THEN
        UPDATE line_items x SET date_last_modified = now() WHERE x.sourced_id = p_item;
    END IF;
    RETURN QUERY SELECT r.outcome, r.ref, r.row_id, r.bad;
END
$$;
