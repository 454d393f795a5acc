-- The audit chain: each event's hash covers the previous event's hash and the event itself,
-- so changing or removing a row breaks the chain from that row on. Appends go through
-- audit_append(), which serialises writers with a transaction-scoped advisory lock (so it also
-- works through PgBouncer in transaction mode).

CREATE FUNCTION audit_event_digest(
    prev bytea, id bigint, occurred_at timestamptz, actor_id bigint, action text,
    target_type text, target_id text, ip inet, details jsonb
) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(concat_ws('|',
        id,
        to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(actor_id::text, ''),
        action,
        coalesce(target_type, ''),
        coalesce(target_id, ''),
        coalesce(host(ip), ''),
        details::text), 'UTF8'))
$$;

CREATE FUNCTION audit_append(
    p_actor bigint, p_action text, p_target_type text, p_target_id text, p_ip inet, p_details jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    prev   bytea;
    new_id bigint;
    at     timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_advisory_xact_lock(7233738203611001);
    SELECT hash INTO prev FROM audit_events ORDER BY id DESC LIMIT 1;
    new_id := nextval(pg_get_serial_sequence('audit_events', 'id'));
    INSERT INTO audit_events (id, occurred_at, actor_id, action, target_type, target_id, ip, details, prev_hash, hash)
    OVERRIDING SYSTEM VALUE
    VALUES (new_id, at, p_actor, p_action, p_target_type, p_target_id, p_ip, coalesce(p_details, '{}'), prev,
            audit_event_digest(prev, new_id, at, p_actor, p_action, p_target_type, p_target_id, p_ip, coalesce(p_details, '{}')));
    RETURN new_id;
END
$$;
