//! Monthly attendance partitions: rows for a month without a partition are kept in the default
//! partition and moved when `campushub db maintain` creates the month, across month and year
//! boundaries, without losing or duplicating a row.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{psql, ScratchDb};

fn campushub(url: &str, args: &[&str]) -> (i32, String, String) {
    common::cli(url, args)
}

/// One class with one student and sessions on the given dates, each with a register of one mark.
fn insert_records(url: &str, dates: &[&str]) {
    let values: Vec<String> = dates.iter().map(|d| format!("(DATE '{d}')")).collect();
    psql(
        url,
        &format!(
            "WITH s AS (
                 INSERT INTO attendance_sessions (class_id, session_date, period)
                 SELECT (SELECT id FROM classes LIMIT 1), d, 1 FROM (VALUES {}) AS v(d)
                 ON CONFLICT (class_id, session_date, period) DO UPDATE SET period = 1
                 RETURNING id, session_date
             )
             INSERT INTO attendance_registers (session_id, session_date, source, students, codes,
                                               minutes, recorded_by, recorded_at)
             SELECT s.id, s.session_date, 'teacher',
                    ARRAY[(SELECT id FROM users WHERE username = 'p-student')],
                    ARRAY[(SELECT id FROM attendance_codes LIMIT 1)], ARRAY[NULL::int2],
                    ARRAY[NULL::int8], ARRAY[now()]
             FROM s",
            values.join(", ")
        ),
    );
}

fn partition_of(url: &str) -> Vec<String> {
    psql(
        url,
        "SELECT session_date || ' ' || tableoid::regclass FROM attendance_registers ORDER BY session_date",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// A migrated scratch database holding one institution, a school year starting in August of
/// `year`, one course and one class, and the code `P`.
fn one_class_campus(tag: &str, year: i32) -> ScratchDb {
    let db = ScratchDb::new(tag);
    let (code, _, err) = campushub(&db.url, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    psql(
        &db.url,
        &format!(
            "INSERT INTO orgs (name, type, identifier) VALUES ('U', 'institution', 'U');
             INSERT INTO academic_sessions (title, type, start_date, end_date, school_year, org_id)
                 SELECT 'Y', 'schoolYear', DATE '{year}-08-01', DATE '{next}-08-01', {next}, id FROM orgs;
             INSERT INTO courses (title, course_code, org_id) SELECT 'C', 'C1', id FROM orgs;
             INSERT INTO classes (title, class_code, course_id, term_id, org_id)
                 SELECT 'C', 'C1-A', c.id, a.id, o.id FROM courses c, academic_sessions a, orgs o;
             INSERT INTO attendance_codes (org_id, code, description, category, presence_fraction)
                 SELECT id, 'P', 'Present', 'present', 1 FROM orgs;",
            next = year + 1
        ),
    );
    db
}

/// Security review: rows dated across many far months (a teacher could once open sessions
/// from 1900 to 9999) made one run create a partition for each, every one under a lock that
/// register writes wait on. A run creates at most `MAX_CREATED_PER_RUN`, says which months
/// it left, and loses no row.
#[test]
fn maintain_creates_a_bounded_number_of_partitions_per_run_and_says_so() {
    let db = one_class_campus("partitions_bound", 2026);
    psql(
        &db.url,
        "INSERT INTO users (username, given_name, family_name, role) VALUES ('p-student', 'P', 'S', 'student')",
    );
    let far: Vec<String> = (0..12).map(|i| format!("{}-01-15", 1950 + i)).collect();
    let dates: Vec<&str> = far.iter().map(String::as_str).collect();
    insert_records(&db.url, &dates);
    let bound = campushub_db::partitions::MAX_CREATED_PER_RUN;
    let (code, out, err) = campushub(
        &db.url,
        &["db", "maintain", "--from", "2026-11", "--ahead", "1"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{bound} partitions created")),
        "{out}"
    );
    // The window first (2026-11, 2026-12), then the oldest waiting months.
    assert!(
        out.contains("created attendance_registers_y2026m11"),
        "{out}"
    );
    assert!(
        out.contains("created attendance_registers_y1950m01"),
        "{out}"
    );
    let deferred = 14 - bound;
    assert!(
        out.contains(&format!("{deferred} months deferred to the next run")),
        "{out}"
    );
    assert!(out.contains("1961-01"), "{out}");
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM attendance_registers").trim(),
        "12"
    );
    // The next run finishes the job.
    let (code, out, _) = campushub(
        &db.url,
        &["db", "maintain", "--from", "2026-11", "--ahead", "1"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("{deferred} partitions created")),
        "{out}"
    );
    assert!(!out.contains("deferred"), "{out}");
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM attendance_registers_default").trim(),
        "0"
    );
}

#[test]
fn maintain_moves_waiting_rows_across_month_and_year_boundaries() {
    let db = one_class_campus("partitions", 2026);
    psql(
        &db.url,
        "INSERT INTO users (username, given_name, family_name, role) VALUES ('p-student', 'P', 'S', 'student')",
    );

    // No monthly partitions yet: everything waits in the default partition.
    insert_records(
        &db.url,
        &[
            "2026-11-30",
            "2026-12-01",
            "2026-12-31",
            "2027-01-01",
            "2027-01-15",
        ],
    );
    assert!(partition_of(&db.url)
        .iter()
        .all(|l| l.ends_with("attendance_registers_default")));

    // November plus one month ahead; January 2027 is created because rows wait for it.
    let (code, out, err) = campushub(
        &db.url,
        &["db", "maintain", "--from", "2026-11", "--ahead", "1"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("created attendance_registers_y2026m11 (2026-11); moved 1 rows"),
        "{out}"
    );
    assert!(
        out.contains("created attendance_registers_y2026m12 (2026-12); moved 2 rows"),
        "{out}"
    );
    assert!(
        out.contains("created attendance_registers_y2027m01 (2027-01); moved 2 rows"),
        "{out}"
    );
    assert_eq!(
        partition_of(&db.url),
        vec![
            "2026-11-30 attendance_registers_y2026m11",
            "2026-12-01 attendance_registers_y2026m12",
            "2026-12-31 attendance_registers_y2026m12",
            "2027-01-01 attendance_registers_y2027m01",
            "2027-01-15 attendance_registers_y2027m01",
        ]
    );
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM attendance_registers_default").trim(),
        "0"
    );

    // Running it again changes nothing.
    let (code, out, _) = campushub(
        &db.url,
        &["db", "maintain", "--from", "2026-11", "--ahead", "1"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("0 partitions created"), "{out}");

    // New rows route straight to their partition; a month still missing waits, then moves.
    insert_records(&db.url, &["2026-12-15", "2027-03-03"]);
    let rows = partition_of(&db.url);
    assert!(rows.contains(&"2026-12-15 attendance_registers_y2026m12".to_string()));
    assert!(rows.contains(&"2027-03-03 attendance_registers_default".to_string()));
    let (code, out, _) = campushub(
        &db.url,
        &["db", "maintain", "--from", "2026-11", "--ahead", "1"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("created attendance_registers_y2027m03 (2027-03); moved 1 rows"),
        "{out}"
    );
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM attendance_registers").trim(),
        "7"
    );

    // The partitions carry the parent's primary key (a session's registers by source).
    let idx = psql(
        &db.url,
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'attendance_registers_y2027m03' AND indexdef LIKE '%(session_id, source, session_date)%'",
    );
    assert_eq!(idx.trim(), "1");
}

#[test]
fn maintain_refuses_bad_arguments_in_one_line() {
    let db = ScratchDb::new("partitions_args");
    for args in [
        &["db", "maintain", "--from", "2026-13"][..],
        &["db", "maintain", "--ahead", "x"][..],
    ] {
        let (code, _, err) = campushub(&db.url, args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// A register marked while maintenance moves its month out of the default partition keeps
/// every mark: the second PUT, which waits for the move, must not read the register as absent
/// (its snapshot older than the move) and replace it with its own marks alone.
#[test]
fn a_register_marked_during_a_partition_move_keeps_every_mark() {
    let db = one_class_campus("partitions_race", 2030);
    psql(
        &db.url,
        "INSERT INTO users (username, given_name, family_name, role) VALUES
             ('r-teacher', 'T', 'T', 'teacher'), ('r-a', 'A', 'S', 'student'), ('r-b', 'B', 'S', 'student');
         INSERT INTO enrollments (user_id, class_id, role)
             SELECT u.id, k.id, 'student' FROM users u, classes k WHERE u.role = 'student';
         INSERT INTO attendance_sessions (class_id, session_date, period)
             SELECT id, DATE '2031-05-12', 1 FROM classes;",
    );
    let id = |sql: &str| psql(&db.url, sql).trim().to_string();
    let (teacher, a, b, session) = (
        id("SELECT id FROM users WHERE username = 'r-teacher'"),
        id("SELECT id FROM users WHERE username = 'r-a'"),
        id("SELECT id FROM users WHERE username = 'r-b'"),
        id("SELECT id FROM attendance_sessions"),
    );
    // What the server sends for one register of one mark.
    let mark = |student: &str| {
        format!(
            "SELECT outcome FROM attendance_mark_batch(ARRAY[{teacher}]::bigint[], ARRAY['127.0.0.1']::inet[],
                 ARRAY[{session}]::bigint[], ARRAY['teacher'], ARRAY[1], ARRAY[{student}]::bigint[],
                 ARRAY['P'], ARRAY[NULL]::int2[])"
        )
    };
    assert_eq!(psql(&db.url, &mark(&a)).trim(), "ok");
    assert!(partition_of(&db.url)[0].ends_with("attendance_registers_default"));

    // The move, as `campushub db maintain` makes it, held open for a while before its commit.
    let url = db.url.clone();
    let mover = std::thread::spawn(move || {
        psql(
            &url,
            "BEGIN;
             SELECT pg_advisory_xact_lock(109270099062881);
             LOCK TABLE attendance_registers_default IN ACCESS EXCLUSIVE MODE;
             CREATE TABLE attendance_registers_y2031m05 (LIKE attendance_registers INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
             WITH moved AS (DELETE FROM attendance_registers_default
                            WHERE session_date >= DATE '2031-05-01' AND session_date < DATE '2031-06-01' RETURNING *)
             INSERT INTO attendance_registers_y2031m05 SELECT * FROM moved;
             ALTER TABLE attendance_registers ATTACH PARTITION attendance_registers_y2031m05
                 FOR VALUES FROM ('2031-05-01') TO ('2031-06-01');
             SELECT pg_sleep(1.5);
             COMMIT;",
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Marks student B while the move is in flight: it waits, then adds to the register.
    assert_eq!(psql(&db.url, &mark(&b)).trim(), "ok");
    mover.join().unwrap();
    let marked = psql(
        &db.url,
        "SELECT tableoid::regclass || ' ' || cardinality(students) FROM attendance_registers",
    );
    assert_eq!(marked.trim(), "attendance_registers_y2031m05 2", "{marked}");
}
