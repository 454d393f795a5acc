-- Attendance stored one register per row: a session's marks by one source (the teacher's, or
-- the office's overrides) in parallel arrays, ordered by student id.
--
-- Why: a register is written whole (a class in one PUT) and read whole (the session, the class
-- report). Stored one record per row, every mark cost PostgreSQL a heap tuple, three index
-- entries and their WAL, a users lookup by public id and an enrollment lookup: about 16 us of
-- PostgreSQL CPU per record before the audit event, which capped marking near 20,000 records/s
-- on two cores. As one row per register, a 37-student register is one tuple and one index
-- entry, the class's roster is read once (an index range scan of its enrollments) instead of
-- one lookup per student, and a PUT that changes nothing writes nothing.
--
-- Per record the arrays keep what attendance_records kept: the code, minutes present, who
-- recorded it and when (a mark that does not change keeps its recorded_by and recorded_at).
-- An office mark overrides the teacher's mark of the same student in the same session; that
-- link is no longer stored (overrides_id) but read: the office register and the teacher's
-- register of one session hold the same student. Partitioned by month on the session date,
-- like attendance_records was; `campushub db maintain` creates the months and moves rows out
-- of the default partition.
--
-- Invariants (checked here or by the only writer, attendance_mark_one):
--   * the five arrays have the same length; students is ascending with no repeats;
--   * every student was an active student enrollment of the session's class when marked;
--   * every code was active and enterable by the source when marked.
-- No foreign keys, as attendance_records had none since 0008: ids in arrays cannot carry them.

CREATE TABLE attendance_registers (
    session_id         bigint NOT NULL,
    session_date       date NOT NULL,
    source             text NOT NULL CHECK (source IN ('teacher', 'office')),
    students           bigint[] NOT NULL,
    codes              bigint[] NOT NULL,
    minutes            int2[] NOT NULL,
    recorded_by        bigint[] NOT NULL,
    recorded_at        timestamptz[] NOT NULL,
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, source, session_date),
    CHECK (cardinality(codes) = cardinality(students)
       AND cardinality(minutes) = cardinality(students)
       AND cardinality(recorded_by) = cardinality(students)
       AND cardinality(recorded_at) = cardinality(students))
) PARTITION BY RANGE (session_date);
CREATE TABLE attendance_registers_default PARTITION OF attendance_registers DEFAULT;

-- Existing records become registers (into the default partition; maintain moves them).
INSERT INTO attendance_registers (session_id, session_date, source, students, codes, minutes,
                                  recorded_by, recorded_at, date_last_modified)
SELECT r.session_id, r.session_date, r.source,
       array_agg(r.student_id ORDER BY r.student_id),
       array_agg(r.code_id ORDER BY r.student_id),
       array_agg(r.minutes_present ORDER BY r.student_id),
       array_agg(r.recorded_by ORDER BY r.student_id),
       array_agg(r.recorded_at ORDER BY r.student_id),
       max(r.recorded_at)
FROM (SELECT DISTINCT ON (session_id, session_date, source, student_id) *
      FROM attendance_records ORDER BY session_id, session_date, source, student_id, recorded_at DESC) r
GROUP BY r.session_id, r.session_date, r.source;

DROP TABLE attendance_records;

-- The writers change shape with the storage. The server resolves a register's students to
-- their row ids from its cached class roster (read again from PostgreSQL when a student is
-- not in it), and a batch is checked and written set-wise: a handful of statements per batch
-- instead of a dozen per register (in a per-register loop, planning and executor start-up
-- cost PostgreSQL more than the writes).
DROP FUNCTION attendance_mark_batch(bigint[], inet[], uuid[], text[], int[], uuid[], text[], int2[]);
DROP FUNCTION attendance_mark_one(bigint, inet, uuid, text, uuid[], text[], int2[]);

-- Marks many registers in one statement, so one transaction and one commit: a shard
-- coalesces the registers that arrive together and acknowledges each after this commits.
-- Register i is (p_actors[i], p_ips[i], p_sessions[i] (row id), p_sources[i]); record j
-- belongs to register p_owner[j] and marks users id p_students[j] with p_codes[j] and
-- p_minutes[j]. The caller sends at most one register per (session, source) in a batch.
-- Each register is checked on its own (one refused register changes nothing, and nothing of
-- the others); the answer is one row per register, in order. Outcomes: ok (row_id: how many
-- records changed; a register that changes nothing writes nothing), not_found, submitted (a
-- teacher after submission), not_enrolled (bad: users ids, as text, that are not active
-- student enrollments of the class), bad_code (bad: codes that do not exist or this source
-- may not enter).
CREATE FUNCTION attendance_mark_batch(
    p_actors bigint[], p_ips inet[], p_sessions bigint[], p_sources text[], p_owner int[],
    p_students bigint[], p_codes text[], p_minutes int2[]
) RETURNS TABLE (idx int, outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    o_idx     int[];
    o_outcome text[];
    o_ref     uuid[];
    o_row     bigint[];
    o_records int[];
    o_bad     jsonb[];
BEGIN
    -- Every writer of a session's registers holds the session's row lock first, in id order
    -- (so batches cannot deadlock); the statement below then starts after the lock, and sees
    -- every register committed before it.
    PERFORM 1 FROM attendance_sessions x WHERE x.id = ANY (p_sessions) ORDER BY x.id FOR UPDATE;
    WITH reg AS (
        SELECT r.i::int AS i, r.actor, r.source, s.id AS session, s.sourced_id, s.class_id,
               s.session_date, s.submitted_at, k.org_id AS dept, o.parent_id AS inst,
               -- The class's active students: one range scan of its enrollments per register.
               ARRAY(SELECT e.user_id FROM enrollments e WHERE e.class_id = s.class_id
                       AND e.role = 'student' AND e.status = 'active') AS roster
        FROM unnest(p_actors, p_sessions, p_sources) WITH ORDINALITY AS r (actor, session, source, i)
        LEFT JOIN attendance_sessions s ON s.id = r.session
        LEFT JOIN classes k ON k.id = s.class_id
        LEFT JOIN orgs o ON o.id = k.org_id
    ), rec AS MATERIALIZED (
        SELECT m.owner AS i, m.uid, m.code, m.minutes, a.id AS code_id, m.uid = ANY (g.roster) AS enrolled
        FROM unnest(p_owner, p_students, p_codes, p_minutes) AS m (owner, uid, code, minutes)
        JOIN reg g ON g.i = m.owner
        LEFT JOIN attendance_codes a ON a.code = m.code AND a.status = 'active'
            AND a.org_id IN (g.inst, g.dept) AND a.entered_by IN ('any', g.source)
    ), verdict AS MATERIALIZED (
        SELECT g.i, g.actor, g.source, g.session, g.sourced_id, g.session_date,
               count(c.uid)::int AS records,
               CASE WHEN g.session IS NULL THEN 'not_found'
                    WHEN g.source = 'teacher' AND g.submitted_at IS NOT NULL THEN 'submitted'
                    WHEN bool_or(NOT c.enrolled) THEN 'not_enrolled'
                    WHEN bool_or(c.uid IS NOT NULL AND c.code_id IS NULL) THEN 'bad_code'
                    ELSE 'ok' END AS outcome,
               array_agg(c.uid::text) FILTER (WHERE NOT c.enrolled) AS missing,
               array_agg(DISTINCT c.code) FILTER (WHERE c.uid IS NOT NULL AND c.code_id IS NULL) AS badcodes,
               -- (a register with no records joins one row of NULLs: it marks nothing)
               array_agg(c.uid ORDER BY c.uid) FILTER (WHERE c.uid IS NOT NULL) AS uids,
               array_agg(c.code_id ORDER BY c.uid) FILTER (WHERE c.uid IS NOT NULL) AS code_ids,
               array_agg(c.minutes ORDER BY c.uid) FILTER (WHERE c.uid IS NOT NULL) AS mins
        FROM reg g LEFT JOIN rec c ON c.i = g.i
        GROUP BY g.i, g.actor, g.source, g.session, g.sourced_id, g.session_date, g.submitted_at
    ), merged AS MATERIALIZED (
        -- The register after this PUT: every earlier mark, replaced where this PUT marks the
        -- same student; a changed mark takes this actor and this instant.
        SELECT v.i, v.actor, v.source, v.session, v.session_date,
               array_agg(y.uid ORDER BY y.uid) AS students, array_agg(y.code ORDER BY y.uid) AS codes,
               array_agg(y.mn ORDER BY y.uid) AS minutes,
               array_agg(CASE WHEN y.changed THEN v.actor ELSE y.oby END ORDER BY y.uid) AS recorded_by,
               array_agg(CASE WHEN y.changed THEN now() ELSE y.oat END ORDER BY y.uid) AS recorded_at,
               count(*) FILTER (WHERE y.changed) AS n
        FROM verdict v
        LEFT JOIN attendance_registers cur ON cur.session_id = v.session AND cur.source = v.source
                                          AND cur.session_date = v.session_date
        CROSS JOIN LATERAL (
            SELECT coalesce(w.uid, o.ouid) AS uid,
                   CASE WHEN w.uid IS NULL THEN o.ocode ELSE w.code_id END AS code,
                   CASE WHEN w.uid IS NULL THEN o.omins ELSE w.minutes END AS mn,
                   o.oby, o.oat,
                   w.uid IS NOT NULL AND (o.ouid IS NULL OR o.ocode <> w.code_id
                                          OR o.omins IS DISTINCT FROM w.minutes) AS changed
            FROM unnest(cur.students, cur.codes, cur.minutes, cur.recorded_by, cur.recorded_at)
                     AS o (ouid, ocode, omins, oby, oat)
            FULL JOIN unnest(v.uids, v.code_ids, v.mins) AS w (uid, code_id, minutes) ON w.uid = o.ouid
        ) y
        WHERE v.outcome = 'ok'
        GROUP BY v.i, v.actor, v.source, v.session, v.session_date
    ), written AS (
        INSERT INTO attendance_registers AS r (session_id, session_date, source, students, codes, minutes,
                                               recorded_by, recorded_at)
        SELECT m.session, m.session_date, m.source, m.students, m.codes, m.minutes, m.recorded_by, m.recorded_at
        FROM merged m WHERE m.n > 0
        ON CONFLICT (session_id, source, session_date) DO UPDATE
            SET students = excluded.students, codes = excluded.codes, minutes = excluded.minutes,
                recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at,
                date_last_modified = now()
        RETURNING 1
    ), touched AS (
        UPDATE attendance_sessions x
        SET taken_by = coalesce(t.teacher, x.taken_by), date_last_modified = now()
        FROM (SELECT m.session, max(m.actor) FILTER (WHERE m.source = 'teacher') AS teacher
              FROM merged m WHERE m.n > 0 GROUP BY m.session) t
        WHERE x.id = t.session
        RETURNING 1
    )
    SELECT array_agg(v.i ORDER BY v.i), array_agg(v.outcome ORDER BY v.i), array_agg(v.sourced_id ORDER BY v.i),
           array_agg(CASE WHEN v.outcome = 'ok' THEN coalesce(m.n, 0) ELSE v.session END ORDER BY v.i),
           array_agg(v.records ORDER BY v.i),
           array_agg(CASE v.outcome WHEN 'not_enrolled' THEN to_jsonb(v.missing)
                                    WHEN 'bad_code' THEN to_jsonb(v.badcodes) END ORDER BY v.i)
        INTO o_idx, o_outcome, o_ref, o_row, o_records, o_bad
        FROM verdict v LEFT JOIN merged m ON m.i = v.i;
    -- (written and touched run to completion whether or not anything reads them.)
    FOR j IN 1 .. coalesce(cardinality(o_idx), 0) LOOP
        idx := o_idx[j];
        outcome := o_outcome[j];
        ref := o_ref[j];
        row_id := o_row[j];
        bad := CASE WHEN o_bad[j] IS NULL THEN NULL
                    ELSE ARRAY(SELECT jsonb_array_elements_text(o_bad[j])) END;
        RETURN NEXT;
    END LOOP;
    -- The audit events last: audit_append holds the audit chain's lock until the commit, so
    -- other shards' batches wait for it only during the commit, not during this batch's writes.
    FOR j IN 1 .. coalesce(cardinality(o_idx), 0) LOOP
        CONTINUE WHEN o_outcome[j] <> 'ok';
        PERFORM audit_append(p_actors[o_idx[j]], 'attendance.marked', 'attendance_session', o_ref[j]::text,
            p_ips[o_idx[j]], jsonb_build_object('source', p_sources[o_idx[j]], 'records', o_records[j],
                                                'changed', o_row[j]));
    END LOOP;
END
$$;

-- Submits a register: teachers can no longer change it. Every enrolled student must have a
-- mark (the teacher's or the office's). Outcomes: ok, not_found, submitted (already),
-- incomplete (bad: unmarked students).
CREATE OR REPLACE FUNCTION attendance_submit(p_actor bigint, p_ip inet, p_session uuid)
RETURNS TABLE (outcome text, ref uuid, row_id bigint, bad text[]) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s       attendance_sessions%ROWTYPE;
    marked  bigint[];
    missing text[];
BEGIN
    SELECT * INTO s FROM attendance_sessions x WHERE x.sourced_id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::bigint, NULL::text[];
        RETURN;
    END IF;
    IF s.submitted_at IS NOT NULL THEN
        RETURN QUERY SELECT 'submitted'::text, s.sourced_id, s.id, NULL::text[];
        RETURN;
    END IF;
    SELECT coalesce(array_agg(x.uid), '{}') INTO marked
        FROM attendance_registers r CROSS JOIN unnest(r.students) AS x (uid)
        WHERE r.session_id = s.id AND r.session_date = s.session_date;
    SELECT array_agg(u.sourced_id::text ORDER BY u.id) INTO missing
        FROM enrollments e JOIN users u ON u.id = e.user_id
        WHERE e.class_id = s.class_id AND e.role = 'student' AND e.status = 'active'
          AND e.user_id <> ALL (marked);
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT 'incomplete'::text, s.sourced_id, s.id, missing;
        RETURN;
    END IF;
    UPDATE attendance_sessions x SET submitted_at = now(), date_last_modified = now() WHERE x.id = s.id;
    PERFORM audit_append(p_actor, 'attendance.submitted', 'attendance_session', s.sourced_id::text, p_ip, '{}');
    RETURN QUERY SELECT 'ok'::text, s.sourced_id, s.id, NULL::text[];
END
$$;
