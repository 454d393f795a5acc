//! A realistic, deterministic campus for demos and load tests: departments, a term, courses,
//! classes with timetables, faculty, students and guardians, enrollments, an attendance history,
//! exams with results, roles and role bindings, and the demo log-ins.
//!
//! The same `--seed` gives the same ids, names and marks (dates follow the day it runs: the
//! attendance history ends yesterday). Bulk tables go in with binary COPY inside one
//! transaction, so a failed seed leaves nothing behind. Ids are assigned here (COPY may write
//! identity columns) and the identity sequences are moved past them at the end.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::partitions::{self, Month};
use crate::pgtypes::{civil_from_days, days_from_civil, weekday, Date, Timestamp};

/// What to build.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Seed for every generated id and value.
    pub seed: u64,
    /// Wipe the campus tables first.
    pub reset: bool,
    /// Students (at least 2: student1 and student2 are demo log-ins).
    pub students: u32,
    /// Faculty (at least 1: faculty1 is a demo log-in).
    pub faculty: u32,
    /// Teaching days (Monday to Friday) of attendance history, ending yesterday.
    pub attendance_days: u32,
    /// Password of the demo log-ins (and, for load tests, of every seeded user).
    pub demo_password: String,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            seed: 1,
            reset: false,
            students: 10_000,
            faculty: 3_000,
            attendance_days: 120,
            demo_password: "campushub-demo".into(),
        }
    }
}

/// Why seeding stopped.
#[derive(Debug)]
pub enum SeedError {
    /// The database already holds campus data and `--reset` was not given.
    NotEmpty(i64),
    /// The options cannot build a campus.
    Options(String),
    /// PostgreSQL refused something.
    Db(String),
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedError::NotEmpty(n) => write!(
                f,
                "the database already holds {n} orgs; pass --reset to replace them"
            ),
            SeedError::Options(e) | SeedError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SeedError {}

impl From<tokio_postgres::Error> for SeedError {
    fn from(e: tokio_postgres::Error) -> Self {
        SeedError::Db(crate::simple::describe(&e))
    }
}

impl From<partitions::MaintainError> for SeedError {
    fn from(e: partitions::MaintainError) -> Self {
        SeedError::Db(e.0)
    }
}

/// Rows written per table, and the time taken.
#[derive(Debug, Default)]
pub struct SeedSummary {
    /// (table, rows), in the order written.
    pub tables: Vec<(&'static str, u64)>,
    /// Wall time.
    pub seconds: f64,
}

/// Progress of one table: (table, rows written so far, rows expected).
pub type Progress<'a> = &'a mut dyn FnMut(&'static str, u64, u64);

/// The departments of the demo university: (identifier, name).
pub const DEPARTMENTS: &[(&str, &str)] = &[
    ("ACC", "Accounting and Finance"),
    ("AERO", "Aerospace Engineering"),
    ("ARCH", "Architecture"),
    ("BIO", "Biological Sciences"),
    ("BME", "Biomedical Engineering"),
    ("CHEM", "Chemistry"),
    ("CHE", "Chemical Engineering"),
    ("CIV", "Civil Engineering"),
    ("CSE", "Computer Science and Engineering"),
    ("ECO", "Economics"),
    ("EDU", "Education"),
    ("EEE", "Electrical and Electronic Engineering"),
    ("ENG", "English Literature"),
    ("ENV", "Environmental Science"),
    ("HIS", "History"),
    ("LAW", "Law"),
    ("MATH", "Mathematics"),
    ("MECH", "Mechanical Engineering"),
    ("MED", "Medicine"),
    ("MGT", "Management Studies"),
    ("MUS", "Music"),
    ("NUR", "Nursing"),
    ("PHIL", "Philosophy"),
    ("PHY", "Physics"),
    ("POL", "Political Science"),
    ("PSY", "Psychology"),
    ("SOC", "Sociology"),
    ("STAT", "Statistics"),
];

/// Identifier of the demo institution.
pub const INSTITUTION: (&str, &str) = ("CDU", "Campushub Demo University");

/// The demo log-ins and what they are.
pub const DEMO_LOGINS: &[(&str, &str)] = &[
    ("admin", "administrator of the whole institution"),
    (
        "registrar",
        "registrar: student records for the institution",
    ),
    (
        "faculty1",
        "faculty, teaches classes in Accounting and Finance",
    ),
    ("student1", "student"),
    ("student2", "student"),
    ("guardian1", "guardian of student1 and student2"),
];

const GIVEN: &[&str] = &[
    "Aarav", "Aditi", "Amara", "Ana", "Arjun", "Ayesha", "Bilal", "Camila", "Chen", "Chloe",
    "Dara", "David", "Diego", "Elena", "Emeka", "Fatima", "Hana", "Ibrahim", "Isabel", "Jae",
    "James", "Kavya", "Kofi", "Lina", "Liam", "Maya", "Mei", "Nadia", "Noah", "Omar", "Priya",
    "Rahul", "Sara", "Sofia", "Tariq", "Thandiwe", "Wei", "Yara", "Yusuf", "Zoe",
];
const FAMILY: &[&str] = &[
    "Adeyemi",
    "Ahmed",
    "Banerjee",
    "Chen",
    "Costa",
    "Das",
    "Fernandes",
    "Garcia",
    "Gupta",
    "Haddad",
    "Hernandez",
    "Iyer",
    "Johnson",
    "Kim",
    "Kowalski",
    "Kumar",
    "Lee",
    "Mensah",
    "Müller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Patel",
    "Reddy",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Tanaka",
    "Wang",
    "Williams",
    "Yilmaz",
    "Zhang",
];
const DESIGNATIONS: &[&str] = &[
    "Professor",
    "Associate Professor",
    "Assistant Professor",
    "Lecturer",
];
const TOPICS: &[&str] = &["Foundations", "Methods", "Systems", "Theory"];

/// Courses per department: four per year of study.
const COURSES_PER_YEAR: u32 = 4;
const YEARS: u32 = 4;
/// Largest class section.
const SECTION_SIZE: u32 = 45;

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// A stable public id for `(seed, kind, key)`: the same inputs always give the same UUID (v4
/// layout), so demo ids in docs and benchmarks survive a re-seed.
pub fn stable_id(seed: u64, kind: &str, key: &str) -> Uuid {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let mut h2: u64 = 0x8422_2325_cbf2_9ce4 ^ seed.rotate_left(32);
    for b in kind.bytes().chain([0u8]).chain(key.bytes()) {
        h1 = (h1 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        h2 = (h2 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x9e37);
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&h1.to_be_bytes());
    bytes[8..].copy_from_slice(&h2.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// An argon2id (19 MiB, t=2, p=1) PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, SeedError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| SeedError::Options(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(Uuid::new_v4().as_bytes())
        .map_err(|e| SeedError::Options(format!("salt: {e}")))?;
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SeedError::Options(format!("hashing the demo password: {e}")))
}

async fn scalar(client: &Client, sql: &str) -> Result<Option<String>, SeedError> {
    Ok(crate::simple::scalar(client, sql).await?)
}

async fn count_orgs(client: &Client) -> Result<i64, SeedError> {
    Ok(scalar(client, "SELECT count(*) FROM orgs")
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Whether the campus tables are empty.
pub async fn is_empty(client: &Client) -> Result<bool, SeedError> {
    Ok(count_orgs(client).await? == 0)
}

/// Streams rows into `table` with binary COPY.
struct CopyIn<'a> {
    writer: std::pin::Pin<Box<BinaryCopyInWriter>>,
    table: &'static str,
    rows: u64,
    expected: u64,
    progress: Progress<'a>,
}

impl<'a> CopyIn<'a> {
    async fn start(
        client: &Client,
        table: &'static str,
        columns: &str,
        types: &[Type],
        expected: u64,
        progress: Progress<'a>,
    ) -> Result<CopyIn<'a>, SeedError> {
        let sink = client
            .copy_in(&format!("COPY {table} ({columns}) FROM STDIN BINARY"))
            .await?;
        progress(table, 0, expected);
        Ok(CopyIn {
            writer: Box::pin(BinaryCopyInWriter::new(sink, types)),
            table,
            rows: 0,
            expected,
            progress,
        })
    }

    async fn row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), SeedError> {
        self.writer.as_mut().write(values).await?;
        self.rows += 1;
        if self.rows.is_multiple_of(20_000) {
            (self.progress)(self.table, self.rows, self.expected);
        }
        Ok(())
    }

    async fn finish(mut self, summary: &mut SeedSummary) -> Result<(), SeedError> {
        let n = self.writer.as_mut().finish().await?;
        (self.progress)(self.table, n, n);
        summary.tables.push((self.table, n));
        Ok(())
    }
}

/// One class section, as the seeder plans it.
struct Class {
    id: i64,
    dept: usize,
    year: u32,
    course: u32,
    students: Vec<i64>,
    teacher: i64,
    /// Monday = 0.
    days: [u32; 3],
    period: i16,
}

/// Builds the campus. Refuses a non-empty database unless `reset` is set.
pub async fn run(
    client: &Client,
    opts: &SeedOptions,
    progress: Progress<'_>,
) -> Result<SeedSummary, SeedError> {
    if opts.students < 2 || opts.faculty < 1 {
        return Err(SeedError::Options(
            "--students must be at least 2 and --faculty at least 1 (the demo log-ins need them)"
                .into(),
        ));
    }
    if opts.students > 2_000_000 || opts.faculty > 500_000 || opts.attendance_days > 1_000 {
        return Err(SeedError::Options(
            "at most 2,000,000 students, 500,000 faculty and 1,000 attendance days".into(),
        ));
    }
    let started = Instant::now();
    let existing = count_orgs(client).await?;
    if existing > 0 && !opts.reset {
        return Err(SeedError::NotEmpty(existing));
    }
    // Hash before the transaction: argon2 takes a while and holds no locks.
    let demo_hash = hash_password(&opts.demo_password)?;
    let bulk_hash = hash_password(&opts.demo_password)?;
    client.batch_execute("BEGIN").await?;
    let result = fill(client, opts, &demo_hash, &bulk_hash, progress).await;
    match result {
        Ok(mut summary) => {
            client.batch_execute("COMMIT").await?;
            client.batch_execute("ANALYZE").await?;
            summary.seconds = started.elapsed().as_secs_f64();
            Ok(summary)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The id of the institution's org; its departments follow it.
const INSTITUTION_ID: i64 = 1;

/// The org of department `dept` (an index into [`DEPARTMENTS`]).
fn dept_org(dept: usize) -> i64 {
    dept as i64 + 2
}

/// What every step of the seed shares: the connection (inside the seed's transaction), the
/// options, the one generator, the progress callback and the tables written so far. The
/// generator's draws follow the order of the steps: the same seed gives the same campus only
/// while the steps keep their order.
struct Seeder<'a> {
    client: &'a Client,
    opts: &'a SeedOptions,
    seed: u64,
    rng: Rng,
    progress: Progress<'a>,
    summary: SeedSummary,
}

impl Seeder<'_> {
    /// Text COPY for small tables with numeric or array columns (tab-separated, `\N` for NULL).
    async fn copy_text(
        &mut self,
        table: &'static str,
        columns: &str,
        data: String,
        rows: u64,
    ) -> Result<(), SeedError> {
        let sink = self
            .client
            .copy_in::<_, Bytes>(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await?;
        let mut sink = Box::pin(sink);
        sink.send(Bytes::from(data)).await?;
        sink.as_mut().finish().await?;
        self.summary.tables.push((table, rows));
        Ok(())
    }
}

/// The steps of the seed, in the order they write (and draw from the generator).
async fn fill(
    client: &Client,
    opts: &SeedOptions,
    demo_hash: &str,
    bulk_hash: &str,
    progress: Progress<'_>,
) -> Result<SeedSummary, SeedError> {
    if opts.reset {
        empty_campus_tables(client).await?;
    }
    skip_foreign_key_checks(client).await?;
    let cal = Calendar::read(client, opts.attendance_days).await?;
    let mut s = Seeder {
        client,
        opts,
        seed: opts.seed,
        rng: Rng(opts.seed ^ 0x5eed),
        progress,
        summary: SeedSummary::default(),
    };

    seed_orgs(&mut s).await?;
    seed_academic_sessions(&mut s, &cal).await?;
    seed_courses(&mut s).await?;
    let people = seed_users(&mut s, &cal, demo_hash, bulk_hash).await?;
    seed_student_profiles(&mut s, &cal, &people).await?;
    seed_staff_profiles(&mut s, &people).await?;
    seed_guardianships(&mut s, &people).await?;
    let classes = plan_classes(opts, &people);
    seed_classes(&mut s, &classes).await?;
    seed_enrollments(&mut s, &cal, &classes).await?;
    seed_attendance_codes(&mut s).await?;
    create_attendance_partitions(client, &cal).await?;
    let sessions = seed_attendance_sessions(&mut s, &cal, &classes).await?;
    let habits = student_habits(s.seed, opts.students, people.student_base);
    seed_attendance_registers(&mut s, &classes, &sessions, &habits, &people).await?;
    seed_exams(&mut s, &cal, &classes, &habits, &people).await?;
    let builtin = builtin_roles(client).await?;
    seed_role_bindings(&mut s, &people, &builtin).await?;
    move_sequences_past_seeded_ids(client).await?;
    Ok(s.summary)
}

/// `--reset`: empties the campus tables, inside the seed's transaction.
async fn empty_campus_tables(client: &Client) -> Result<(), SeedError> {
    client
        .batch_execute(
            // attendance_registers has no foreign key (a partitioned table written in
            // bulk): the cascade does not reach it, and the sessions' restarted ids would
            // collide with what it kept.
            "TRUNCATE orgs, users, api_keys, audit_events, attendance_registers RESTART IDENTITY CASCADE; \
             UPDATE audit_chain_head SET last_id = NULL, hash = NULL; \
             DELETE FROM roles WHERE NOT builtin",
        )
        .await?;
    Ok(())
}

/// Foreign keys are checked per row by triggers; the seeder writes consistent data, so it
/// skips them where the role may (superuser), and keeps them otherwise.
async fn skip_foreign_key_checks(client: &Client) -> Result<(), SeedError> {
    if client
        .batch_execute("SAVEPOINT seed_fk; SET LOCAL session_replication_role = replica; RELEASE SAVEPOINT seed_fk")
        .await
        .is_err()
    {
        client
            .batch_execute("ROLLBACK TO SAVEPOINT seed_fk; RELEASE SAVEPOINT seed_fk")
            .await?;
    }
    Ok(())
}

/// The dates the campus is built around: the database's today, the attendance history before
/// it, and the term and school year around both.
struct Calendar {
    today: Date,
    /// The last N teaching days (Monday to Friday) before today, oldest first.
    teaching_days: Vec<Date>,
    /// The term: from a week before the history to eight weeks after today.
    term_start: Date,
    term_end: Date,
    /// The calendar years of the term's first and last day, which name the school year.
    first_year: i32,
    last_year: i32,
    /// The school year: from 1 January of its first year to 1 January after its last, and
    /// never shorter than the term.
    year_start: Date,
    year_end: Date,
}

impl Calendar {
    async fn read(client: &Client, attendance_days: u32) -> Result<Calendar, SeedError> {
        let today = Date(
            scalar(client, "SELECT current_date - DATE '1970-01-01'")
                .await?
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| SeedError::Db("could not read current_date".into()))?,
        );
        let mut teaching_days = Vec::with_capacity(attendance_days as usize);
        let mut d = today.0 - 1;
        while teaching_days.len() < attendance_days as usize {
            if weekday(d) < 5 {
                teaching_days.push(Date(d));
            }
            d -= 1;
        }
        teaching_days.reverse();
        let term_start = Date(teaching_days.first().map_or(today.0, |d| d.0) - 7);
        let term_end = Date(today.0 + 56);
        let (first_year, _, _) = civil_from_days(term_start.0);
        let (last_year, _, _) = civil_from_days(term_end.0);
        Ok(Calendar {
            today,
            teaching_days,
            term_start,
            term_end,
            first_year,
            last_year,
            year_start: Date(days_from_civil(first_year, 1, 1).min(term_start.0)),
            year_end: Date(days_from_civil(last_year + 1, 1, 1).max(term_end.0 + 1)),
        })
    }
}

/// Orgs: the institution 1, departments 2...
async fn seed_orgs(s: &mut Seeder<'_>) -> Result<(), SeedError> {
    let seed = s.seed;
    let inst_id = INSTITUTION_ID;
    let mut orgs = String::new();
    orgs.push_str(&format!(
        "{inst_id}\t{}\t{}\tinstitution\t{}\t\\N\n",
        stable_id(seed, "org", INSTITUTION.0),
        INSTITUTION.1,
        INSTITUTION.0
    ));
    for (i, (code, name)) in DEPARTMENTS.iter().enumerate() {
        orgs.push_str(&format!(
            "{}\t{}\t{name}\tdepartment\t{code}\t{inst_id}\n",
            dept_org(i),
            stable_id(seed, "org", code)
        ));
    }
    s.copy_text(
        "orgs",
        "id, sourced_id, name, type, identifier, parent_id",
        orgs,
        1 + DEPARTMENTS.len() as u64,
    )
    .await
}

/// Academic sessions: the school year and the current term.
async fn seed_academic_sessions(s: &mut Seeder<'_>, cal: &Calendar) -> Result<(), SeedError> {
    let seed = s.seed;
    let inst_id = INSTITUTION_ID;
    let (ys, ye) = (cal.first_year, cal.last_year);
    let sessions = format!(
        "1\t{}\tSchool year {ys}-{ye}\tschoolYear\t{}\t{}\t{ye}\t\\N\t{inst_id}\n\
         2\t{}\tTerm {}\tterm\t{}\t{}\t{ye}\t1\t{inst_id}\n",
        stable_id(seed, "session", "year"),
        cal.year_start.iso(),
        cal.year_end.iso(),
        stable_id(seed, "session", "term"),
        cal.term_start.iso(),
        cal.term_start.iso(),
        cal.term_end.iso(),
    );
    s.copy_text(
        "academic_sessions",
        "id, sourced_id, title, type, start_date, end_date, school_year, parent_id, org_id",
        sessions,
        2,
    )
    .await
}

/// Courses: four per year of study per department.
async fn seed_courses(s: &mut Seeder<'_>) -> Result<(), SeedError> {
    let mut courses = String::new();
    let mut n_courses = 0u64;
    for (di, (code, name)) in DEPARTMENTS.iter().enumerate() {
        for year in 1..=YEARS {
            for c in 1..=COURSES_PER_YEAR {
                let id = course_id(di, year, c);
                let course_code = format!("{code}{year}0{c}");
                courses.push_str(&format!(
                    "{id}\t{}\t{} {} {}\t{course_code}\t{}\t{}\n",
                    stable_id(s.seed, "course", &course_code),
                    TOPICS[(c - 1) as usize % TOPICS.len()],
                    name,
                    ["I", "II", "III", "IV"][(year - 1) as usize],
                    if c == COURSES_PER_YEAR { "2.0" } else { "4.0" },
                    dept_org(di)
                ));
                n_courses += 1;
            }
        }
    }
    s.copy_text(
        "courses",
        "id, sourced_id, title, course_code, credits, org_id",
        courses,
        n_courses,
    )
    .await
}

/// Where the seeded people are. Ids are dense by kind: admin 1, registrar 2, then faculty,
/// students, and guardians (one per student, in the students' order).
struct People {
    faculty_base: i64,
    student_base: i64,
    guardian_base: i64,
    /// Rows of `users`.
    total_users: u64,
    /// Each student's department (an index into [`DEPARTMENTS`]) and year of study.
    student_dept: Vec<usize>,
    student_year: Vec<u32>,
    /// Each faculty member's department.
    faculty_dept: Vec<usize>,
    /// The faculty of each department, by id.
    dept_faculty: Vec<Vec<i64>>,
}

/// A row of `users` before it is written: id, username, role, given name, family name, hash.
type UserRow = (i64, String, String, String, String, String);

/// Everyone who logs in, in id order, with names drawn from the generator; the demo log-ins
/// get `demo_hash`, everyone else `bulk_hash`.
fn plan_people(
    opts: &SeedOptions,
    rng: &mut Rng,
    demo_hash: &str,
    bulk_hash: &str,
) -> (Vec<UserRow>, People) {
    let faculty_base = 3i64;
    let student_base = faculty_base + i64::from(opts.faculty);
    let guardian_base = student_base + i64::from(opts.students);
    let mut student_dept = Vec::with_capacity(opts.students as usize);
    let mut student_year = Vec::with_capacity(opts.students as usize);
    let mut faculty_dept = Vec::with_capacity(opts.faculty as usize);
    let add = |id: i64, username: String, role: &str, rng: &mut Rng, hash: &str| {
        let given = rng.pick(GIVEN).to_string();
        let family = rng.pick(FAMILY).to_string();
        (
            id,
            username,
            role.to_string(),
            given,
            family,
            hash.to_string(),
        )
    };
    let mut rows = vec![
        add(1, "admin".into(), "administrator", rng, demo_hash),
        add(2, "registrar".into(), "administrator", rng, demo_hash),
    ];
    for f in 0..opts.faculty {
        let hash = if f == 0 { demo_hash } else { bulk_hash };
        let username = format!("faculty{}", f + 1);
        rows.push(add(
            faculty_base + i64::from(f),
            username,
            "teacher",
            rng,
            hash,
        ));
        faculty_dept.push(f as usize % DEPARTMENTS.len());
    }
    for s in 0..opts.students {
        let hash = if s < 2 { demo_hash } else { bulk_hash };
        let username = format!("student{}", s + 1);
        rows.push(add(
            student_base + i64::from(s),
            username,
            "student",
            rng,
            hash,
        ));
        student_dept.push(rng.below(DEPARTMENTS.len() as u64) as usize);
        student_year.push(1 + rng.below(u64::from(YEARS)) as u32);
    }
    for g in 0..opts.students {
        let hash = if g == 0 { demo_hash } else { bulk_hash };
        let username = format!("guardian{}", g + 1);
        rows.push(add(
            guardian_base + i64::from(g),
            username,
            "guardian",
            rng,
            hash,
        ));
    }
    let mut dept_faculty: Vec<Vec<i64>> = vec![Vec::new(); DEPARTMENTS.len()];
    for f in 0..opts.faculty as usize {
        dept_faculty[faculty_dept[f]].push(faculty_base + f as i64);
    }
    let people = People {
        faculty_base,
        student_base,
        guardian_base,
        total_users: u64::from(opts.faculty) + 2 * u64::from(opts.students) + 2,
        student_dept,
        student_year,
        faculty_dept,
        dept_faculty,
    };
    (rows, people)
}

/// Users: everyone [`plan_people`] plans.
async fn seed_users(
    s: &mut Seeder<'_>,
    cal: &Calendar,
    demo_hash: &str,
    bulk_hash: &str,
) -> Result<People, SeedError> {
    let (rows, people) = plan_people(s.opts, &mut s.rng, demo_hash, bulk_hash);
    let created = Timestamp::at(cal.term_start, 9 * 3600);
    let mut users = CopyIn::start(
        s.client,
        "users",
        "id, sourced_id, username, email, given_name, family_name, role, password_hash, created_at, date_last_modified",
        &[Type::INT8, Type::UUID, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
        people.total_users,
        &mut *s.progress,
    )
    .await?;
    for (id, username, role, given, family, hash) in &rows {
        let sourced = stable_id(s.seed, "user", username);
        let email = format!("{username}@campushub.example");
        users
            .row(&[
                id, &sourced, username, &email, given, family, role, hash, &created, &created,
            ])
            .await?;
    }
    users.finish(&mut s.summary).await?;
    Ok(people)
}

/// Student profiles: roll number, programme, year of study and department.
async fn seed_student_profiles(
    s: &mut Seeder<'_>,
    cal: &Calendar,
    people: &People,
) -> Result<(), SeedError> {
    let programs = |dept: usize| format!("B.Sc. {}", DEPARTMENTS[dept].1);
    let mut profiles = CopyIn::start(
        s.client,
        "student_profiles",
        "user_id, roll_number, program, year_of_study, department_id, admitted_on",
        &[
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::INT2,
            Type::INT8,
            Type::DATE,
        ],
        u64::from(s.opts.students),
        &mut *s.progress,
    )
    .await?;
    for st in 0..s.opts.students as usize {
        let dept = people.student_dept[st];
        let year = people.student_year[st];
        let admitted_year = cal.first_year - year as i32 + 1;
        let roll = format!("{admitted_year}{}{:05}", DEPARTMENTS[dept].0, st + 1);
        let admitted = Date(days_from_civil(admitted_year, 8, 1));
        profiles
            .row(&[
                &(people.student_base + st as i64),
                &roll,
                &programs(dept),
                &(year as i16),
                &dept_org(dept),
                &admitted,
            ])
            .await?;
    }
    profiles.finish(&mut s.summary).await
}

/// Staff profiles: the two administrators, then the faculty with designations drawn from the
/// generator.
async fn seed_staff_profiles(s: &mut Seeder<'_>, people: &People) -> Result<(), SeedError> {
    let inst_id = INSTITUTION_ID;
    let mut staff = CopyIn::start(
        s.client,
        "staff_profiles",
        "user_id, employee_number, designation, department_id",
        &[Type::INT8, Type::TEXT, Type::TEXT, Type::INT8],
        u64::from(s.opts.faculty) + 2,
        &mut *s.progress,
    )
    .await?;
    staff
        .row(&[&1i64, &"E00001", &"Systems Administrator", &inst_id])
        .await?;
    staff
        .row(&[&2i64, &"E00002", &"Registrar", &inst_id])
        .await?;
    for (f, dept) in people.faculty_dept.iter().enumerate() {
        let emp = format!("E{:05}", f + 3);
        let designation = s.rng.pick(DESIGNATIONS);
        staff
            .row(&[
                &(people.faculty_base + f as i64),
                &emp,
                &designation,
                &dept_org(*dept),
            ])
            .await?;
    }
    staff.finish(&mut s.summary).await
}

/// Guardianships: each guardian looks after their student; guardian1 also after student2.
async fn seed_guardianships(s: &mut Seeder<'_>, people: &People) -> Result<(), SeedError> {
    let (guardian_base, student_base) = (people.guardian_base, people.student_base);
    let mut guardianships = CopyIn::start(
        s.client,
        "guardianships",
        "guardian_id, student_id, relationship",
        &[Type::INT8, Type::INT8, Type::TEXT],
        u64::from(s.opts.students) + 1,
        &mut *s.progress,
    )
    .await?;
    for g in 0..s.opts.students as i64 {
        let relationship = if g % 5 == 4 { "guardian" } else { "parent" };
        guardianships
            .row(&[&(guardian_base + g), &(student_base + g), &relationship])
            .await?;
    }
    guardianships
        .row(&[&guardian_base, &(student_base + 1), &"parent"])
        .await?;
    guardianships.finish(&mut s.summary).await
}

/// Classes: every (department, year) cohort takes its four courses, in sections of at most
/// [`SECTION_SIZE`], each taught by the department's faculty in turn.
fn plan_classes(opts: &SeedOptions, people: &People) -> Vec<Class> {
    let mut cohorts: Vec<Vec<i64>> = vec![Vec::new(); DEPARTMENTS.len() * YEARS as usize];
    for st in 0..opts.students as usize {
        let year = people.student_year[st];
        cohorts[people.student_dept[st] * YEARS as usize + (year - 1) as usize]
            .push(people.student_base + st as i64);
    }
    let dept_faculty = &people.dept_faculty;
    let mut classes: Vec<Class> = Vec::new();
    let mut teacher_cursor = vec![0usize; DEPARTMENTS.len()];
    for dept in 0..DEPARTMENTS.len() {
        for year in 1..=YEARS {
            let cohort = &cohorts[dept * YEARS as usize + (year - 1) as usize];
            if cohort.is_empty() {
                continue;
            }
            let sections = (cohort.len() as u32).div_ceil(SECTION_SIZE).max(1);
            for course in 1..=COURSES_PER_YEAR {
                for section in 0..sections {
                    let students: Vec<i64> = cohort
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i as u32 % sections == section)
                        .map(|(_, id)| *id)
                        .collect();
                    let pool = if dept_faculty[dept].is_empty() {
                        &dept_faculty[0]
                    } else {
                        &dept_faculty[dept]
                    };
                    let pool = if pool.is_empty() {
                        &dept_faculty[0]
                    } else {
                        pool
                    };
                    let teacher = match pool.get(teacher_cursor[dept] % pool.len().max(1)) {
                        Some(t) => *t,
                        None => people.faculty_base,
                    };
                    teacher_cursor[dept] += 1;
                    let days = if (course + section) % 2 == 0 {
                        [0, 2, 4]
                    } else {
                        [1, 3, 4]
                    };
                    classes.push(Class {
                        id: classes.len() as i64 + 1,
                        dept,
                        year,
                        course,
                        students,
                        teacher,
                        days,
                        // Each course of a cohort has its own period, so a student's classes never clash.
                        period: (course + 2 * (year - 1)) as i16,
                    });
                }
            }
        }
    }
    classes
}

/// Classes as [`plan_classes`] planned them, with their timetable periods.
async fn seed_classes(s: &mut Seeder<'_>, classes: &[Class]) -> Result<(), SeedError> {
    let day_names = ["MON", "TUE", "WED", "THU", "FRI"];
    let mut text = String::new();
    for c in classes {
        let code = format!("{}{}0{}", DEPARTMENTS[c.dept].0, c.year, c.course);
        let section = (b'A' + (c.id as u8 % 26)) as char;
        let periods: Vec<String> = c
            .days
            .iter()
            .map(|d| format!("{}-{}", day_names[*d as usize], c.period))
            .collect();
        text.push_str(&format!(
            "{}\t{}\t{code} section {}\t{code}-{}-{}\tscheduled\tBlock {}-{:03}\t{{{}}}\t{SECTION_SIZE}\t{}\t2\t{}\n",
            c.id,
            stable_id(s.seed, "class", &c.id.to_string()),
            c.id,
            c.id,
            section,
            DEPARTMENTS[c.dept].0,
            100 + c.id % 300,
            periods.join(","),
            course_id(c.dept, c.year, c.course),
            dept_org(c.dept),
        ));
    }
    s.copy_text("classes", "id, sourced_id, title, class_code, class_type, location, periods, capacity, course_id, term_id, org_id", text, classes.len() as u64).await
}

/// Enrollments: the teacher (primary) and the students of every class.
async fn seed_enrollments(
    s: &mut Seeder<'_>,
    cal: &Calendar,
    classes: &[Class],
) -> Result<(), SeedError> {
    let seed = s.seed;
    let term_start = cal.term_start;
    let n_enroll: u64 = classes.iter().map(|c| c.students.len() as u64 + 1).sum();
    let mut enroll = CopyIn::start(
        s.client,
        "enrollments",
        "id, sourced_id, user_id, class_id, role, is_primary, begin_date",
        &[
            Type::INT8,
            Type::UUID,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::BOOL,
            Type::DATE,
        ],
        n_enroll,
        &mut *s.progress,
    )
    .await?;
    let mut eid = 0i64;
    for c in classes {
        eid += 1;
        enroll
            .row(&[
                &eid,
                &stable_id(seed, "enrollment", &eid.to_string()),
                &c.teacher,
                &c.id,
                &"teacher",
                &true,
                &term_start,
            ])
            .await?;
        for st in &c.students {
            eid += 1;
            enroll
                .row(&[
                    &eid,
                    &stable_id(seed, "enrollment", &eid.to_string()),
                    st,
                    &c.id,
                    &"student",
                    &false,
                    &term_start,
                ])
                .await?;
        }
    }
    enroll.finish(&mut s.summary).await
}

/// Attendance codes.
async fn seed_attendance_codes(s: &mut Seeder<'_>) -> Result<(), SeedError> {
    let codes = "1\t1\tP\tPresent\tpresent\t1.00\tany\n\
                 2\t1\tL\tLate\tlate\t0.75\tany\n\
                 3\t1\tA\tAbsent\tabsent\t0.00\tany\n\
                 4\t1\tE\tExcused (authorised by the office)\texcused\t0.00\toffice\n\
                 5\t1\tM\tMedical leave\texcused\t0.00\toffice\n";
    s.copy_text(
        "attendance_codes",
        "id, org_id, code, description, category, presence_fraction, entered_by",
        codes.to_string(),
        5,
    )
    .await
}

/// Partitions of the attendance registers for every month of the history, and the next three.
async fn create_attendance_partitions(client: &Client, cal: &Calendar) -> Result<(), SeedError> {
    if let Some(first) = cal.teaching_days.first() {
        let (fy, fm, _) = civil_from_days(first.0);
        let (ty, tm, _) = civil_from_days(cal.today.0);
        let months = ((ty - fy) * 12 + tm as i32 - fm as i32).max(0) as u32;
        partitions::maintain_in_transaction(
            client,
            Month {
                year: fy,
                month: fm,
            },
            months + 3,
        )
        .await?;
    }
    Ok(())
}

/// An attendance session as written: (id, index of its class, date, period).
type SessionRow = (i64, usize, Date, i16);

/// Attendance sessions: every class on each of its days in the history, submitted by its
/// teacher ten minutes into the period.
async fn seed_attendance_sessions(
    s: &mut Seeder<'_>,
    cal: &Calendar,
    classes: &[Class],
) -> Result<Vec<SessionRow>, SeedError> {
    let n_sessions: u64 = cal
        .teaching_days
        .iter()
        .map(|d| {
            classes
                .iter()
                .filter(|c| c.days.contains(&weekday(d.0)))
                .count() as u64
        })
        .sum();
    let mut sessions_copy = CopyIn::start(
        s.client,
        "attendance_sessions",
        "id, sourced_id, class_id, session_date, period, taken_by, submitted_at",
        &[
            Type::INT8,
            Type::UUID,
            Type::INT8,
            Type::DATE,
            Type::INT2,
            Type::INT8,
            Type::TIMESTAMPTZ,
        ],
        n_sessions,
        &mut *s.progress,
    )
    .await?;
    let mut planned: Vec<SessionRow> = Vec::with_capacity(n_sessions as usize);
    let mut sid = 0i64;
    for day in &cal.teaching_days {
        let wd = weekday(day.0);
        for (ci, c) in classes.iter().enumerate() {
            if !c.days.contains(&wd) {
                continue;
            }
            sid += 1;
            let submitted = Timestamp::at(*day, 8 * 3600 + i64::from(c.period) * 3600 + 600);
            let uuid = Uuid::from_u64_pair(s.seed ^ 0x5e55_1017, sid as u64);
            sessions_copy
                .row(&[&sid, &uuid, &c.id, day, &c.period, &c.teacher, &submitted])
                .await?;
            planned.push((sid, ci, *day, c.period));
        }
    }
    sessions_copy.finish(&mut s.summary).await?;
    Ok(planned)
}

/// A student's habits are stable: how often (0..=9) each student misses or is late,
/// deterministic per student; a few often, most rarely. Indexed by student (id - `student_base`).
fn student_habits(seed: u64, students: u32, student_base: i64) -> Vec<u64> {
    let propensity = |student: i64| -> u64 {
        let mut r = Rng(seed ^ (student as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        match r.below(100) {
            0..=69 => 1,
            70..=89 => 4,
            _ => 9,
        }
    };
    (0..students as i64)
        .map(|st| propensity(student_base + st))
        .collect()
}

/// A register being built: students (ascending), codes, minutes, recorded_by.
#[derive(Default)]
struct Marks {
    students: Vec<i64>,
    codes: Vec<i64>,
    minutes: Vec<i16>,
    by: Vec<i64>,
}

/// One session's marks, drawn from the generator by each student's habit: the teacher's, and
/// the office's (an excused absence) where it marked anyone.
fn mark_session(rng: &mut Rng, habits: &[u64], student_base: i64, c: &Class) -> (Marks, Marks) {
    let mut roster = c.students.clone();
    roster.sort_unstable();
    let (mut teacher, mut office) = (Marks::default(), Marks::default());
    for st in &roster {
        let habit = habits[(*st - student_base) as usize];
        let roll = rng.below(100);
        let (code, minutes, office_mark, by): (i64, i16, bool, i64) = if roll < habit * 2 {
            (3, 0, false, c.teacher)
        } else if roll < habit * 3 {
            (2, 40, false, c.teacher)
        } else if roll < habit * 3 + 1 {
            (4, 0, true, 2)
        } else {
            (1, 50, false, c.teacher)
        };
        let m = if office_mark {
            &mut office
        } else {
            &mut teacher
        };
        m.students.push(*st);
        m.codes.push(code);
        m.minutes.push(minutes);
        m.by.push(by);
    }
    (teacher, office)
}

/// Attendance registers: one row per register, the teacher's marks and the office's.
async fn seed_attendance_registers(
    s: &mut Seeder<'_>,
    classes: &[Class],
    sessions: &[SessionRow],
    habits: &[u64],
    people: &People,
) -> Result<(), SeedError> {
    let mut records = CopyIn::start(
        s.client,
        "attendance_registers",
        "session_id, session_date, source, students, codes, minutes, recorded_by, recorded_at, date_last_modified",
        &[
            Type::INT8,
            Type::DATE,
            Type::TEXT,
            Type::INT8_ARRAY,
            Type::INT8_ARRAY,
            Type::INT2_ARRAY,
            Type::INT8_ARRAY,
            Type::TIMESTAMPTZ_ARRAY,
            Type::TIMESTAMPTZ,
        ],
        sessions.len() as u64,
        &mut *s.progress,
    )
    .await?;
    for (session, ci, day, period) in sessions {
        let c = &classes[*ci];
        let at = Timestamp::at(*day, 8 * 3600 + i64::from(*period) * 3600 + 300);
        let (teacher, office) = mark_session(&mut s.rng, habits, people.student_base, c);
        for (source, m) in [("teacher", &teacher), ("office", &office)] {
            if m.students.is_empty() {
                continue;
            }
            let ats = vec![at; m.students.len()];
            records
                .row(&[
                    session,
                    day,
                    &source,
                    &m.students,
                    &m.codes,
                    &m.minutes,
                    &m.by,
                    &ats,
                    &at,
                ])
                .await?;
        }
    }
    records.finish(&mut s.summary).await
}

/// Exams as text COPY data: line items, the results of the published ones, and how many of
/// each.
struct Exams {
    items: String,
    results: String,
    item_count: i64,
    result_count: i64,
}

/// A quiz, a midterm and an assignment per class, and a mark for every student in the
/// published ones, drawn from the generator around the student's habit.
fn plan_exams(
    rng: &mut Rng,
    seed: u64,
    cal: &Calendar,
    classes: &[Class],
    habits: &[u64],
    student_base: i64,
) -> Exams {
    let (term_start, today) = (cal.term_start, cal.today);
    let mut items = String::new();
    let mut results = String::new();
    let mut item_id = 0i64;
    let mut result_id = 0i64;
    let mid = Date((term_start.0 + today.0) / 2);
    for c in classes {
        for (title, category, max, due, status) in [
            (
                "Quiz 1",
                "quiz",
                20u32,
                Date(term_start.0 + 21),
                "published",
            ),
            ("Midterm examination", "midterm", 50, mid, "published"),
            (
                "Assignment 1",
                "assignment",
                30,
                Date(today.0 + 14),
                "draft",
            ),
        ] {
            item_id += 1;
            items.push_str(&format!(
                "{item_id}\t{}\t{}\t{title}\t{category}\t{max}\t{} 17:00:00+00\t{status}\n",
                stable_id(seed, "line_item", &item_id.to_string()),
                c.id,
                due.iso()
            ));
            if status != "published" {
                continue;
            }
            for st in &c.students {
                result_id += 1;
                let habit = habits[(*st - student_base) as usize];
                let base = 95 - habit * 4;
                let pct = base.saturating_sub(rng.below(30)).min(100);
                let score = (u64::from(max) * pct) as f64 / 100.0;
                results.push_str(&format!(
                    "{result_id}\t{}\t{item_id}\t{st}\t{score:.2}\tfully graded\t{}\n",
                    stable_id(seed, "result", &result_id.to_string()),
                    c.teacher
                ));
            }
        }
    }
    Exams {
        items,
        results,
        item_count: item_id,
        result_count: result_id,
    }
}

/// Exams: line items and results, as [`plan_exams`] plans them.
async fn seed_exams(
    s: &mut Seeder<'_>,
    cal: &Calendar,
    classes: &[Class],
    habits: &[u64],
    people: &People,
) -> Result<(), SeedError> {
    let exams = plan_exams(
        &mut s.rng,
        s.seed,
        cal,
        classes,
        habits,
        people.student_base,
    );
    let results = exams.result_count as u64;
    s.copy_text(
        "line_items",
        "id, sourced_id, class_id, title, category, max_score, due_date, status",
        exams.items,
        exams.item_count as u64,
    )
    .await?;
    (s.progress)("results", 0, results);
    s.copy_text(
        "results",
        "id, sourced_id, line_item_id, student_id, score, score_status, graded_by",
        exams.results,
        results,
    )
    .await?;
    (s.progress)("results", results, results);
    Ok(())
}

/// The built-in roles, which come with the migrations (0007): (id, name).
async fn builtin_roles(client: &Client) -> Result<Vec<(i64, String)>, SeedError> {
    let builtin: Vec<(i64, String)> = client
        .query("SELECT id, name FROM roles WHERE builtin", &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    for needed in [
        "admin",
        "registrar",
        "head_of_department",
        "faculty",
        "student",
        "guardian",
    ] {
        if !builtin.iter().any(|(_, n)| n == needed) {
            return Err(SeedError::Options(format!(
                "the built-in role {needed:?} is missing: run `campushub migrate` first"
            )));
        }
    }
    Ok(builtin)
}

/// Bindings of the built-in roles: the administrators over the institution, each department's
/// first faculty member as its head, faculty over their department, students and guardians
/// over the institution.
async fn seed_role_bindings(
    s: &mut Seeder<'_>,
    people: &People,
    builtin: &[(i64, String)],
) -> Result<(), SeedError> {
    let (seed, inst_id) = (s.seed, INSTITUTION_ID);
    let role = |name: &str| {
        builtin
            .iter()
            .find(|(_, n)| n == name)
            .map_or(0, |(id, _)| *id)
    };
    let mut bindings = CopyIn::start(
        s.client,
        "role_bindings",
        "id, sourced_id, user_id, role_id, scope_type, scope_id",
        &[
            Type::INT8,
            Type::UUID,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::INT8,
        ],
        people.total_users + DEPARTMENTS.len() as u64,
        &mut *s.progress,
    )
    .await?;
    let mut bid = 0i64;
    let mut bind = |user: i64, role_id: i64, scope: &'static str, scope_id: i64| {
        bid += 1;
        (
            bid,
            stable_id(seed, "binding", &bid.to_string()),
            user,
            role_id,
            scope,
            scope_id,
        )
    };
    let mut all = vec![
        bind(1, role("admin"), "institution", inst_id),
        bind(2, role("registrar"), "institution", inst_id),
    ];
    for (dept, members) in people.dept_faculty.iter().enumerate() {
        if let Some(head) = members.first() {
            let hod = role("head_of_department");
            all.push(bind(*head, hod, "department", dept_org(dept)));
        }
    }
    for (f, dept) in people.faculty_dept.iter().enumerate() {
        let user = people.faculty_base + f as i64;
        all.push(bind(user, role("faculty"), "department", dept_org(*dept)));
    }
    for st in 0..i64::from(s.opts.students) {
        let (student, guardian) = (people.student_base + st, people.guardian_base + st);
        all.push(bind(student, role("student"), "institution", inst_id));
        all.push(bind(guardian, role("guardian"), "institution", inst_id));
    }
    for (id, sourced, user, role_id, scope, scope_id) in &all {
        bindings
            .row(&[id, sourced, user, role_id, scope, scope_id])
            .await?;
    }
    bindings.finish(&mut s.summary).await
}

/// Identity sequences past the ids written here.
async fn move_sequences_past_seeded_ids(client: &Client) -> Result<(), SeedError> {
    for table in [
        "orgs",
        "academic_sessions",
        "courses",
        "classes",
        "users",
        "enrollments",
        "attendance_codes",
        "attendance_sessions",
        "line_items",
        "results",
        "roles",
        "role_bindings",
    ] {
        client
            .batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), greatest((SELECT max(id) FROM {table}), 1))"
            ))
            .await?;
    }
    Ok(())
}

fn course_id(dept: usize, year: u32, course: u32) -> i64 {
    (dept as i64) * i64::from(YEARS * COURSES_PER_YEAR)
        + i64::from((year - 1) * COURSES_PER_YEAR + course)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        assert_eq!(stable_id(1, "org", "CSE"), stable_id(1, "org", "CSE"));
        assert_ne!(stable_id(1, "org", "CSE"), stable_id(2, "org", "CSE"));
        assert_ne!(stable_id(1, "org", "CSE"), stable_id(1, "org", "EEE"));
        assert_eq!(stable_id(1, "org", "CSE").get_version_num(), 4);
    }

    #[test]
    fn course_ids_are_dense_and_unique() {
        let mut ids: Vec<i64> = (0..DEPARTMENTS.len())
            .flat_map(|d| {
                (1..=YEARS)
                    .flat_map(move |y| (1..=COURSES_PER_YEAR).map(move |c| course_id(d, y, c)))
            })
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(ids[0], 1);
        assert_eq!(*ids.last().unwrap_or(&0), n as i64);
    }

    #[test]
    fn demo_password_hash_is_argon2id() {
        let h = hash_password("campushub-demo").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
}
