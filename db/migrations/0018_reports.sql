-- PDF reports (issue #21): a student's term report, an attendance certificate, a class's
-- register for a month. A request makes a row and its `report.render` job in one
-- transaction; a worker renders the PDF and stores it here. Bulk work: priority 200, after
-- every message.

CREATE TABLE reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id   uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    kind         text NOT NULL CHECK (kind IN ('term_report', 'attendance_certificate', 'class_register')),
    student_id   bigint REFERENCES users (id) ON DELETE CASCADE,
    class_id     bigint REFERENCES classes (id) ON DELETE CASCADE,
    range_from   date NOT NULL,
    range_to     date NOT NULL,
    requested_by bigint REFERENCES users (id) ON DELETE SET NULL,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    error        text,
    pdf          bytea,
    pages        integer CHECK (pages > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK (range_to >= range_from AND range_to - range_from <= 400),
    CHECK ((kind = 'class_register') = (class_id IS NOT NULL)),
    CHECK ((kind = 'class_register') = (student_id IS NULL)),
    CHECK ((state = 'done') = (pdf IS NOT NULL))
);
CREATE INDEX reports_created_at ON reports (created_at);

-- Asks for a report (its subject already checked by the server): the row, its job and the
-- audit event, in one transaction.
CREATE FUNCTION report_request(p_actor bigint, p_ip inet, p_kind text, p_student bigint,
                               p_class bigint, p_from date, p_to date)
RETURNS TABLE (report uuid, job uuid) LANGUAGE plpgsql AS $$
DECLARE
    rid uuid;
    jid uuid;
BEGIN
    INSERT INTO reports (kind, student_id, class_id, range_from, range_to, requested_by)
        VALUES (p_kind, p_student, p_class, p_from, p_to, p_actor)
        RETURNING sourced_id INTO rid;
    SELECT e.job_id INTO jid FROM job_enqueue('report.render', jsonb_build_object('report', rid),
                                             200, NULL, 'report.render:' || rid, 5) e;
    PERFORM audit_append(p_actor, 'reports.requested', 'report', rid::text, p_ip,
                         jsonb_build_object('kind', p_kind, 'from', p_from, 'to', p_to,
                             'subject', coalesce((SELECT sourced_id FROM users WHERE id = p_student),
                                                 (SELECT sourced_id FROM classes WHERE id = p_class))));
    RETURN QUERY SELECT rid, jid;
END
$$;

-- A student's published results in the classes of terms that overlap the range.
CREATE FUNCTION term_report_rows(p_student bigint, p_from date, p_to date)
RETURNS TABLE (class_title text, course_code text, term text, line_item text, category text,
               due date, max_score float8, score float8, score_status text)
LANGUAGE sql STABLE AS $$
    SELECT k.title, co.course_code, t.title, li.title, li.category, li.due_date::date,
           li.max_score::float8, r.score::float8, r.score_status
    FROM results r
    JOIN line_items li ON li.id = r.line_item_id AND li.status <> 'draft'
    JOIN classes k ON k.id = li.class_id
    JOIN courses co ON co.id = k.course_id
    JOIN academic_sessions t ON t.id = k.term_id
    WHERE r.student_id = p_student AND r.status = 'active'
      AND t.start_date <= p_to AND t.end_date >= p_from
    ORDER BY k.title, li.due_date NULLS LAST, li.title
$$;

-- A student's presence per class over a range, by their effective marks.
CREATE FUNCTION attendance_certificate_rows(p_student bigint, p_from date, p_to date)
RETURNS TABLE (class_title text, course_code text, sessions bigint, present bigint, late bigint,
               absent bigint, excused bigint, presence float8)
LANGUAGE sql STABLE AS $$
    SELECT k.title, co.course_code, count(*),
           count(*) FILTER (WHERE c.category = 'present'),
           count(*) FILTER (WHERE c.category = 'late'),
           count(*) FILTER (WHERE c.category = 'absent'),
           count(*) FILTER (WHERE c.category = 'excused'),
           avg(c.presence_fraction)::float8
    FROM enrollments e
    JOIN attendance_sessions s ON s.class_id = e.class_id AND s.session_date BETWEEN p_from AND p_to
    JOIN LATERAL session_effective_marks(s.id, s.session_date) m ON m.student_id = p_student
    JOIN attendance_codes c ON c.id = m.code_id
    JOIN classes k ON k.id = s.class_id
    JOIN courses co ON co.id = k.course_id
    WHERE e.user_id = p_student AND e.role = 'student'
    GROUP BY k.title, co.course_code
    ORDER BY k.title
$$;

-- A class's register over a range: every session, and each student's effective code in it.
CREATE FUNCTION class_register_marks(p_class bigint, p_from date, p_to date)
RETURNS TABLE (session_date date, period smallint, student_id bigint, code text)
LANGUAGE sql STABLE AS $$
    SELECT s.session_date, s.period, m.student_id, c.code
    FROM attendance_sessions s
    LEFT JOIN LATERAL session_effective_marks(s.id, s.session_date) m ON true
    LEFT JOIN attendance_codes c ON c.id = m.code_id
    WHERE s.class_id = p_class AND s.session_date BETWEEN p_from AND p_to
    ORDER BY s.session_date, s.period
$$;
