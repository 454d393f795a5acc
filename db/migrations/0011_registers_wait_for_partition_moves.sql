-- Register writes wait while partition maintenance moves a month out of the default partition.
--
-- `campushub db maintain` (and the server's daily run) creates a month's partition by moving
-- that month's rows out of attendance_registers_default and attaching the new table, in one
-- transaction that holds the maintainer's advisory lock and the default partition locked. A
-- statement whose snapshot was taken before that commit but which was planned after it (it
-- waited on the default partition's lock) prunes to the new partition, where the moved rows
-- are not yet visible to it: attendance_mark_batch then read an existing register as absent
-- and its upsert replaced the register with the new PUT's marks alone, losing the others.
-- (Found by scripts/faults, whose check of acknowledged registers missed 4,016 of them in one
-- run by the same effect.) Each batch now takes the maintainer's lock in shared mode first:
-- batches run side by side as before, maintenance waits for the batches in flight, a batch
-- that comes during maintenance waits for its commit, and every statement of the batch takes
-- its snapshot after that.

ALTER FUNCTION attendance_mark_batch(bigint[], inet[], bigint[], text[], int[], bigint[], text[], int2[])
    RENAME TO attendance_mark_batch_unguarded;

CREATE FUNCTION attendance_mark_batch(
    p_actors bigint[], p_ips inet[], p_sessions bigint[], p_sources text[], p_owner int[],
    p_students bigint[], p_codes text[], p_minutes int2[]
) RETURNS TABLE (idx int, outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
BEGIN
    -- The partition maintainer's lock (db/src/partitions.rs, LOCK_KEY), shared.
    PERFORM pg_advisory_xact_lock_shared(109270099062881);
    RETURN QUERY SELECT * FROM attendance_mark_batch_unguarded(
        p_actors, p_ips, p_sessions, p_sources, p_owner, p_students, p_codes, p_minutes);
END
$$;
