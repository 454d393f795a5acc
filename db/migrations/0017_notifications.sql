-- Notifications (issue #21): absence alerts to guardians (and students, where the institution
-- says so) and results to students and their guardians, by email, each person choosing which
-- kinds they get.
--
-- The change that causes a notice enqueues it in its own transaction, by trigger: a register's
-- submission enqueues one `notify.session` job, which enqueues one `notify.absence` job per
-- absent student per day (run after a delay, so that a mark corrected meanwhile cancels it:
-- the job reads the marks again when it runs, and a student no longer absent that day gets
-- nothing), and a line item's publication one `notify.results` job. Those jobs fan out one `email.*` job per recipient, so that a message
-- that fails is retried alone and no recipient gets one twice.

-- Who gets what, per institution (one row each; made on first use with the defaults).
CREATE TABLE notification_settings (
    org_id                     bigint PRIMARY KEY REFERENCES orgs (id),
    -- Seconds between a register's submission and its absence alerts: marks corrected within
    -- it cancel the alert.
    absence_delay_s            integer NOT NULL DEFAULT 900 CHECK (absence_delay_s BETWEEN 0 AND 86400),
    -- Whether students themselves get their absence alerts (guardians always may).
    absence_to_students        boolean NOT NULL DEFAULT false,
    date_last_modified         timestamptz NOT NULL DEFAULT now()
);

-- A person's choices; no row: every kind by email.
CREATE TABLE notification_preferences (
    user_id            bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind IN ('absence', 'results')),
    email              boolean NOT NULL,
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

-- Whether user p_user takes kind p_kind by email.
CREATE FUNCTION notification_wanted(p_user bigint, p_kind text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT email FROM notification_preferences
                     WHERE user_id = p_user AND kind = p_kind), true)
$$;

-- The institution's settings (defaults when none were saved).
CREATE FUNCTION notification_settings_of(p_org bigint)
RETURNS TABLE (absence_delay_s integer, absence_to_students boolean) LANGUAGE sql STABLE AS $$
    SELECT coalesce(s.absence_delay_s, 900), coalesce(s.absence_to_students, false)
    FROM (SELECT 1) one
    LEFT JOIN notification_settings s ON s.org_id = (
        SELECT CASE WHEN o.type = 'institution' THEN o.id ELSE o.parent_id END
        FROM orgs o WHERE o.id = p_org)
$$;

-- A session's effective marks: the office's where it marked the student, else the teacher's.
CREATE FUNCTION session_effective_marks(p_session bigint, p_date date)
RETURNS TABLE (student_id bigint, code_id bigint) LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (m.uid) m.uid, m.code
    FROM attendance_registers r
    CROSS JOIN LATERAL unnest(r.students, r.codes) AS m (uid, code)
    WHERE r.session_id = p_session AND r.session_date = p_date
    ORDER BY m.uid, (r.source = 'office') DESC
$$;

-- On submission: one `notify.session` job, whatever the marks (reading them here would cost
-- every submission more than the one insert); the worker finds the absent students and
-- enqueues their `notify.absence` jobs, keyed by student and day, so a day of registers makes
-- one alert each.
CREATE FUNCTION attendance_submitted_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM job_enqueue('notify.session', jsonb_build_object('session', NEW.sourced_id),
                        100, NULL, 'notify.session:' || NEW.id, 5);
    RETURN NULL;
END
$$;
CREATE TRIGGER attendance_submitted_notify AFTER UPDATE OF submitted_at ON attendance_sessions
    FOR EACH ROW WHEN (OLD.submitted_at IS NULL AND NEW.submitted_at IS NOT NULL)
    EXECUTE FUNCTION attendance_submitted_notify();

-- `notify.session`: one `notify.absence` job per student absent in the session (by the
-- category of their effective code), run after the institution's delay, keyed by student and
-- day. Answers how many the session named (those already enqueued that day included).
CREATE FUNCTION notify_session_fanout(p_session uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    s     attendance_sessions%ROWTYPE;
    delay integer;
    n     integer;
BEGIN
    SELECT * INTO s FROM attendance_sessions x WHERE x.sourced_id = p_session;
    IF s.id IS NULL THEN
        RETURN 0;
    END IF;
    SELECT st.absence_delay_s INTO delay
        FROM classes k CROSS JOIN LATERAL notification_settings_of(k.org_id) st
        WHERE k.id = s.class_id;
    SELECT count(e.job_id) INTO n
    FROM session_effective_marks(s.id, s.session_date) m
    JOIN attendance_codes c ON c.id = m.code_id AND c.category = 'absent'
    JOIN users u ON u.id = m.student_id
    CROSS JOIN LATERAL job_enqueue('notify.absence',
        jsonb_build_object('student', u.sourced_id, 'date', s.session_date),
        100, now() + make_interval(secs => coalesce(delay, 900)),
        'notify.absence:' || u.id || ':' || s.session_date, 5) e;
    RETURN n;
END
$$;

-- On publication (draft to published or locked): one results job for the line item.
CREATE FUNCTION line_item_published_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM job_enqueue('notify.results', jsonb_build_object('line_item', NEW.sourced_id),
                        100, NULL, 'notify.results:' || NEW.id, 5);
    RETURN NULL;
END
$$;
CREATE TRIGGER line_item_published_notify AFTER UPDATE OF status ON line_items
    FOR EACH ROW WHEN (OLD.status = 'draft' AND NEW.status <> 'draft')
    EXECUTE FUNCTION line_item_published_notify();
CREATE TRIGGER line_item_created_published_notify AFTER INSERT ON line_items
    FOR EACH ROW WHEN (NEW.status <> 'draft')
    EXECUTE FUNCTION line_item_published_notify();

-- A student's absences on a day, by their effective marks: period, class and code.
CREATE FUNCTION student_absences(p_student bigint, p_date date)
RETURNS TABLE (period smallint, class_title text, course_code text, code text, description text)
LANGUAGE sql STABLE AS $$
    SELECT s.period, k.title, co.course_code, c.code, c.description
    FROM enrollments e
    JOIN attendance_sessions s ON s.class_id = e.class_id AND s.session_date = p_date
    JOIN LATERAL session_effective_marks(s.id, s.session_date) m ON m.student_id = p_student
    JOIN attendance_codes c ON c.id = m.code_id AND c.category = 'absent'
    JOIN classes k ON k.id = s.class_id
    LEFT JOIN courses co ON co.id = k.course_id
    WHERE e.user_id = p_student AND e.role = 'student'
    ORDER BY s.period, k.title
$$;

-- Who hears of student p_student for kind p_kind: their guardians, and the student where
-- p_self; each with an address that did not bounce, in an active account, who wants the kind.
CREATE FUNCTION notice_recipients(p_student bigint, p_kind text, p_self boolean)
RETURNS TABLE (recipient bigint, recipient_id uuid, relation text) LANGUAGE sql STABLE AS $$
    SELECT u.id, u.sourced_id, r.relation
    FROM (SELECT g.guardian_id AS uid, 'guardian'::text AS relation FROM guardianships g
          WHERE g.student_id = p_student
          UNION ALL SELECT p_student, 'self' WHERE p_self) r
    JOIN users u ON u.id = r.uid
    WHERE u.email IS NOT NULL AND u.email_bounced_at IS NULL
      AND u.status = 'active' AND u.enabled_user
      AND notification_wanted(u.id, p_kind)
    ORDER BY u.id
$$;

-- `notify.absence`: one `email.absence` job per recipient, when the student is still absent
-- that day (else none: the marks were corrected). Answers how many.
CREATE FUNCTION notify_absence_fanout(p_student uuid, p_date date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    sid  bigint;
    dept bigint;
    self boolean;
    n    integer;
BEGIN
    SELECT u.id, sp.department_id INTO sid, dept
        FROM users u JOIN student_profiles sp ON sp.user_id = u.id WHERE u.sourced_id = p_student;
    IF sid IS NULL OR NOT EXISTS (SELECT 1 FROM student_absences(sid, p_date)) THEN
        RETURN 0;
    END IF;
    SELECT st.absence_to_students INTO self FROM notification_settings_of(dept) st;
    SELECT count(*) INTO n
    FROM notice_recipients(sid, 'absence', coalesce(self, false)) r
    CROSS JOIN LATERAL job_enqueue('email.absence',
        jsonb_build_object('student', p_student, 'date', p_date, 'to', r.recipient_id),
        100, NULL, 'email.absence:' || sid || ':' || p_date || ':' || r.recipient, 10) e;
    RETURN n;
END
$$;

-- `notify.results`: one `email.results` job per student with a result in the line item and
-- per recipient (the student, their guardians). Answers how many.
CREATE FUNCTION notify_results_fanout(p_line_item uuid) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::integer
    FROM line_items li
    JOIN results r ON r.line_item_id = li.id AND r.status = 'active'
    JOIN users s ON s.id = r.student_id
    CROSS JOIN LATERAL notice_recipients(r.student_id, 'results', true) nr
    CROSS JOIN LATERAL job_enqueue('email.results',
        jsonb_build_object('line_item', p_line_item, 'student', s.sourced_id, 'to', nr.recipient_id),
        100, NULL, 'email.results:' || li.id || ':' || r.student_id || ':' || nr.recipient, 10) e
    WHERE li.sourced_id = p_line_item AND li.status <> 'draft'
$$;

-- A notice's recipient, as the message needs them: address and names, and whether to send
-- (an active account that still wants the kind, with an address that did not bounce).
CREATE FUNCTION notice_recipient(p_to uuid, p_kind text)
RETURNS TABLE (email text, given_name text, family_name text, send boolean)
LANGUAGE sql STABLE AS $$
    SELECT u.email, u.given_name, u.family_name,
           u.email IS NOT NULL AND u.email_bounced_at IS NULL AND u.status = 'active'
           AND u.enabled_user AND notification_wanted(u.id, p_kind)
    FROM users u WHERE u.sourced_id = p_to
$$;

-- A published line item's result for one student, as the message shows it.
CREATE FUNCTION results_notice(p_line_item uuid, p_student uuid)
RETURNS TABLE (title text, category text, max_score float8, class_title text, published boolean,
               score float8, score_status text, comment text, given_name text, family_name text)
LANGUAGE sql STABLE AS $$
    SELECT li.title, li.category, li.max_score::float8, k.title, li.status <> 'draft',
           r.score::float8, r.score_status, r.comment, s.given_name, s.family_name
    FROM line_items li
    JOIN classes k ON k.id = li.class_id
    JOIN users s ON s.sourced_id = p_student
    JOIN results r ON r.line_item_id = li.id AND r.student_id = s.id AND r.status = 'active'
    WHERE li.sourced_id = p_line_item
$$;

-- Turns kind p_kind off (p_on false) or on for user p_user; a change is audited (p_via: how it
-- came: the API, or an unsubscribe link). Answers whether anything changed.
CREATE FUNCTION notification_choose(p_user bigint, p_kind text, p_on boolean, p_ip inet, p_via text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_preferences (user_id, kind, email) VALUES (p_user, p_kind, p_on)
        ON CONFLICT (user_id, kind) DO UPDATE SET email = EXCLUDED.email, date_last_modified = now()
        WHERE notification_preferences.email IS DISTINCT FROM EXCLUDED.email;
    IF FOUND THEN
        PERFORM audit_append(p_user, 'notifications.changed', 'user',
                             (SELECT sourced_id::text FROM users WHERE id = p_user), p_ip,
                             jsonb_build_object('kind', p_kind, 'email', p_on, 'via', p_via));
    END IF;
    RETURN FOUND;
END
$$;

-- Changes the institution's settings (NULL: keep), audited: the settings after.
CREATE FUNCTION notification_settings_save(p_actor bigint, p_ip inet, p_delay_s integer,
                                           p_to_students boolean)
RETURNS TABLE (absence_delay_s integer, absence_to_students boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    inst bigint;
BEGIN
    SELECT id INTO inst FROM orgs WHERE type = 'institution' ORDER BY id LIMIT 1;
    INSERT INTO notification_settings (org_id) VALUES (inst) ON CONFLICT (org_id) DO NOTHING;
    UPDATE notification_settings s SET
        absence_delay_s = coalesce(p_delay_s, s.absence_delay_s),
        absence_to_students = coalesce(p_to_students, s.absence_to_students),
        date_last_modified = now()
    WHERE s.org_id = inst;
    PERFORM audit_append(p_actor, 'notifications.settings_changed', 'org',
                         (SELECT sourced_id::text FROM orgs WHERE id = inst), p_ip,
                         jsonb_strip_nulls(jsonb_build_object('absence_delay_s', p_delay_s,
                                                              'absence_to_students', p_to_students)));
    RETURN QUERY SELECT s.absence_delay_s, s.absence_to_students FROM notification_settings s
        WHERE s.org_id = inst;
END
$$;
