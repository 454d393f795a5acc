-- The audit chain's head (the latest event's id and hash) kept in a one-row table.
--
-- audit_append found the previous hash with `ORDER BY id DESC LIMIT 1` on audit_events. That
-- plan is cached per connection, and one cached while audit_events was small (a fresh or just
-- analyzed database) scans and sorts the whole table on every append until autovacuum
-- re-analyzes it: measured at 512 to 675 us per append instead of 38 to 80, which capped
-- attendance marking (one event per register) near 1,000 registers/s. A one-row table costs
-- the same at any size. audit_append still serialises writers with the advisory lock, and
-- updates the head in the same transaction as the event, so the two cannot disagree.
-- `campushub seed --reset` empties audit_events and the head together.

CREATE TABLE audit_chain_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id  bigint,
    hash     bytea
);
INSERT INTO audit_chain_head (last_id, hash)
SELECT (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1),
       (SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1);

CREATE OR REPLACE FUNCTION audit_append(
    p_actor bigint, p_action text, p_target_type text, p_target_id text, p_ip inet, p_details jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    prev   bytea;
    new_id bigint;
    digest bytea;
    at     timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_advisory_xact_lock(7233738203611001);
    SELECT h.hash INTO prev FROM audit_chain_head h;
    new_id := nextval(pg_get_serial_sequence('audit_events', 'id'));
    digest := audit_event_digest(prev, new_id, at, p_actor, p_action, p_target_type, p_target_id, p_ip,
                                 coalesce(p_details, '{}'));
    INSERT INTO audit_events (id, occurred_at, actor_id, action, target_type, target_id, ip, details, prev_hash, hash)
    OVERRIDING SYSTEM VALUE
    VALUES (new_id, at, p_actor, p_action, p_target_type, p_target_id, p_ip, coalesce(p_details, '{}'), prev, digest);
    UPDATE audit_chain_head SET last_id = new_id, hash = digest;
    RETURN new_id;
END
$$;
