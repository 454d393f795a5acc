-- The durable job queue (issue #21): background work as rows of `jobs`, enqueued by
-- job_enqueue in the same transaction as the change that causes it (a rolled-back change
-- enqueues nothing; a committed one is never forgotten), claimed by `campushub worker`
-- processes with FOR UPDATE SKIP LOCKED under a lease they renew. Each claim counts an
-- attempt; the worker that holds a job is named by (worker, attempts), so a job taken again
-- after its lease ran out cannot be finished or failed by the worker that lost it.
--
-- States: ready (waiting for run_at), running (leased), done, dead (failed max_attempts
-- times, or permanently: the last error is kept), cancelled. A failure that may pass is
-- retried after an exponential backoff with jitter: 2 s x 2^(attempt-1), at most 1 h, times
-- a random factor in [0.5, 1) so that jobs that failed together do not return together.

CREATE TABLE jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id      uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Lower runs first: a password reset (10) before an absence alert (100) before a bulk
    -- report (200).
    priority        smallint NOT NULL DEFAULT 100 CHECK (priority BETWEEN 0 AND 1000),
    state           text NOT NULL DEFAULT 'ready'
                    CHECK (state IN ('ready', 'running', 'done', 'dead', 'cancelled')),
    run_at          timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
    last_error      text,
    -- Enqueueing the same thing twice makes one job.
    idempotency_key text UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    worker          text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'running') = (lease_until IS NOT NULL AND worker IS NOT NULL))
);

-- The claim's order, over ready jobs only.
CREATE INDEX jobs_claim ON jobs (priority, run_at, id) WHERE state = 'ready';
-- Leases to recover.
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
-- Operators' lists (by state and kind, newest first) and the figures per kind and state.
CREATE INDEX jobs_state_kind ON jobs (state, kind, id);
-- Old finished jobs to delete.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'cancelled');

-- Enqueues a job, or finds the one already enqueued under the same idempotency key. Called
-- inside the transaction of the change that causes it.
CREATE FUNCTION job_enqueue(
    p_kind text, p_payload jsonb, p_priority integer DEFAULT 100, p_run_at timestamptz DEFAULT NULL,
    p_key text DEFAULT NULL, p_max_attempts integer DEFAULT 10
) RETURNS TABLE (job_id uuid, created boolean) LANGUAGE plpgsql AS $$
DECLARE
    jid uuid;
BEGIN
    INSERT INTO jobs (kind, payload, priority, run_at, idempotency_key, max_attempts)
        VALUES (p_kind, coalesce(p_payload, '{}'::jsonb), p_priority, coalesce(p_run_at, now()),
                p_key, p_max_attempts)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING sourced_id INTO jid;
    IF jid IS NOT NULL THEN
        RETURN QUERY SELECT jid, true;
        RETURN;
    END IF;
    RETURN QUERY SELECT j.sourced_id, false FROM jobs j WHERE j.idempotency_key = p_key;
END
$$;

-- Running jobs whose lease ran out (their worker died or lost the database) become ready
-- again, or dead when that was their last attempt. Any worker calls it before claiming.
CREATE FUNCTION jobs_recover() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE jobs SET
        state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
        last_error = 'the lease of worker ' || worker || ' ran out (attempt ' || attempts || ')',
        finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
        run_at = now(), worker = NULL, lease_until = NULL, updated_at = now()
    WHERE state = 'running' AND lease_until < now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Claims up to p_limit ready jobs (of p_kinds, or any) for p_worker, highest priority and
-- longest waiting first, each under a lease of p_lease_s seconds; a job another worker is
-- claiming at the same moment is skipped, never waited for.
CREATE FUNCTION jobs_claim(p_worker text, p_limit integer, p_lease_s integer, p_kinds text[])
RETURNS TABLE (job_id bigint, sourced_id uuid, kind text, payload jsonb, attempt integer,
               max_attempts integer, created_at timestamptz)
LANGUAGE sql AS $$
    WITH c AS (
        SELECT j.id FROM jobs j
        WHERE j.state = 'ready' AND j.run_at <= now()
          AND (p_kinds IS NULL OR j.kind = ANY (p_kinds))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, worker = p_worker,
        lease_until = now() + make_interval(secs => p_lease_s),
        started_at = now(), updated_at = now()
    FROM c WHERE j.id = c.id
    RETURNING j.id, j.sourced_id, j.kind, j.payload, j.attempts, j.max_attempts, j.created_at
$$;

-- Extends the leases of the jobs p_worker still holds; answers those it holds.
CREATE FUNCTION jobs_renew(p_worker text, p_ids bigint[], p_attempts integer[], p_lease_s integer)
RETURNS TABLE (job_id bigint) LANGUAGE sql AS $$
    UPDATE jobs j SET lease_until = now() + make_interval(secs => p_lease_s), updated_at = now()
    FROM unnest(p_ids, p_attempts) AS h(id, attempt)
    WHERE j.id = h.id AND j.attempts = h.attempt AND j.worker = p_worker AND j.state = 'running'
    RETURNING j.id
$$;

-- Done: answers false when the job is no longer this worker's (lease lost, cancelled).
CREATE FUNCTION job_finish(p_id bigint, p_worker text, p_attempt integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs SET state = 'done', finished_at = now(), worker = NULL, lease_until = NULL,
        last_error = NULL, updated_at = now()
    WHERE id = p_id AND worker = p_worker AND attempts = p_attempt AND state = 'running';
    RETURN FOUND;
END
$$;

-- Failed: retried after the backoff, or dead after the last attempt or a permanent failure.
-- Answers the new state, or NULL when the job is no longer this worker's.
CREATE FUNCTION job_fail(p_id bigint, p_worker text, p_attempt integer, p_error text,
                         p_permanent boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    new_state text;
BEGIN
    UPDATE jobs SET
        state = CASE WHEN p_permanent OR attempts >= max_attempts THEN 'dead' ELSE 'ready' END,
        run_at = CASE WHEN p_permanent OR attempts >= max_attempts THEN run_at
                      ELSE now() + least(2 * power(2, attempts - 1), 3600)
                                   * (0.5 + random() / 2) * interval '1 second' END,
        finished_at = CASE WHEN p_permanent OR attempts >= max_attempts THEN now() END,
        last_error = left(p_error, 2000), worker = NULL, lease_until = NULL, updated_at = now()
    WHERE id = p_id AND worker = p_worker AND attempts = p_attempt AND state = 'running'
    RETURNING state INTO new_state;
    RETURN new_state;
END
$$;

-- A worker shutting down hands back what it did not finish: ready at once, the attempt not
-- counted.
CREATE FUNCTION job_release(p_id bigint, p_worker text, p_attempt integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs SET state = 'ready', attempts = attempts - 1, run_at = now(), worker = NULL,
        lease_until = NULL, updated_at = now()
    WHERE id = p_id AND worker = p_worker AND attempts = p_attempt AND state = 'running';
    RETURN FOUND;
END
$$;

-- Operators: `retry` runs a dead or cancelled job again (attempts from zero); `cancel` stops a
-- ready or running job (a running one's worker finds it no longer its own). Audited as
-- jobs.retried / jobs.cancelled. Answers ok, not_found, or not_retryable / not_cancellable.
CREATE FUNCTION job_operate(p_actor bigint, p_ip inet, p_job uuid, p_action text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    old_state text;
    retry boolean := p_action = 'retry';
BEGIN
    IF p_action NOT IN ('retry', 'cancel') THEN
        RAISE EXCEPTION 'job_operate: unknown action %', p_action;
    END IF;
    SELECT state INTO old_state FROM jobs WHERE sourced_id = p_job FOR UPDATE;
    IF old_state IS NULL THEN
        RETURN 'not_found';
    END IF;
    IF retry AND old_state NOT IN ('dead', 'cancelled') THEN
        RETURN 'not_retryable';
    END IF;
    IF NOT retry AND old_state NOT IN ('ready', 'running') THEN
        RETURN 'not_cancellable';
    END IF;
    IF retry THEN
        UPDATE jobs SET state = 'ready', attempts = 0, run_at = now(), finished_at = NULL,
            updated_at = now()
        WHERE sourced_id = p_job;
    ELSE
        UPDATE jobs SET state = 'cancelled', finished_at = now(), worker = NULL,
            lease_until = NULL, updated_at = now()
        WHERE sourced_id = p_job;
    END IF;
    PERFORM audit_append(p_actor, CASE WHEN retry THEN 'jobs.retried' ELSE 'jobs.cancelled' END,
                         'job', p_job::text, p_ip, jsonb_build_object('was', old_state));
    RETURN 'ok';
END
$$;

INSERT INTO permissions (name, description) VALUES ('jobs.manage', 'jobs: manage')
    ON CONFLICT DO NOTHING;
INSERT INTO role_permissions (role_id, permission)
    SELECT r.id, 'jobs.manage' FROM roles r WHERE r.name = 'admin' AND r.builtin
    ON CONFLICT DO NOTHING;
