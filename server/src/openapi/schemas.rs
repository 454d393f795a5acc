//! The shapes of request and response bodies, for the OpenAPI document only: each type is
//! named as the route table names it, and mirrors what the handler reads (strictly: unknown
//! members are refused) or what it (or PostgreSQL's document) writes. Nothing on the request
//! path uses them.
#![allow(dead_code)]

use utoipa::ToSchema;

use crate::handlers::{ObjectRef, ScopeIn};

/// A body-less answer (204).
#[derive(ToSchema)]
pub struct Empty {}

/// `/healthz`.
#[derive(ToSchema)]
pub struct Status {
    status: String,
}

/// Prometheus text exposition (text/plain).
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct PrometheusText(String);

/// An SVG flamegraph (image/svg+xml).
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct FlamegraphSvg(String);

/// `POST /api/v1/departments`.
#[derive(ToSchema)]
pub struct NewDepartment {
    name: String,
    identifier: String,
}

/// `PATCH /api/v1/departments/{id}`.
#[derive(ToSchema)]
pub struct DepartmentPatch {
    name: Option<String>,
    identifier: Option<String>,
    status: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    username: String,
    password: String,
}

/// `POST /api/v1/auth/refresh` and `/logout`.
#[derive(ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// `POST /api/v1/auth/mfa/verify`.
#[derive(ToSchema)]
pub struct MfaVerifyRequest {
    challenge: String,
    code: String,
}

/// A one-time code (absent: start enrolment).
#[derive(ToSchema)]
pub struct MfaCodeRequest {
    code: Option<String>,
}

/// `POST /api/v1/auth/password`.
#[derive(ToSchema)]
pub struct PasswordChangeRequest {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/roles`.
#[derive(ToSchema)]
pub struct NewRole {
    name: String,
    description: String,
    permissions: Vec<String>,
}

/// `PATCH /api/v1/roles/{name}`.
#[derive(ToSchema)]
pub struct RolePatch {
    description: Option<String>,
    permissions: Option<Vec<String>>,
}

/// `POST /api/v1/role-bindings`.
#[derive(ToSchema)]
pub struct NewBinding {
    #[schema(format = Uuid)]
    user: String,
    role: String,
    scope: ScopeIn,
}

/// `POST /api/v1/authz/explain`.
#[derive(ToSchema)]
pub struct ExplainRequest {
    #[schema(format = Uuid)]
    user: String,
    permission: String,
    #[schema(format = Uuid)]
    student: Option<String>,
}

/// A student.
#[derive(ToSchema)]
pub struct Student {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
    roll_number: String,
    program: String,
    year_of_study: i16,
    department: ObjectRef,
}

/// A page of students (`fields=` keeps only the named members).
#[derive(ToSchema)]
pub struct StudentPage {
    students: Vec<Student>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/students`.
#[derive(ToSchema)]
pub struct NewStudent {
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
    roll_number: String,
    program: String,
    year_of_study: i16,
    #[schema(format = Uuid)]
    department: String,
    #[schema(format = Date)]
    admitted_on: Option<String>,
}

/// `PATCH /api/v1/students/{id}` (null `email` clears it).
#[derive(ToSchema)]
pub struct StudentPatch {
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    roll_number: Option<String>,
    program: Option<String>,
    year_of_study: Option<i16>,
    #[schema(format = Uuid)]
    department: Option<String>,
    #[schema(format = Date)]
    admitted_on: Option<String>,
    /// `active` or `tobedeleted`.
    status: Option<String>,
}

/// A student's attendance between two dates: one record per session (the office's mark where
/// it overrode the teacher's), and per class the marks, presence rate and minutes present.
#[derive(ToSchema)]
pub struct StudentAttendance {
    student: ObjectRef,
    from: String,
    to: String,
    #[schema(value_type = Vec<Object>)]
    classes: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    records: serde_json::Value,
}

/// A staff member.
#[derive(ToSchema)]
pub struct StaffMember {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
    /// `teacher`, `administrator` or `aide`.
    role: String,
    employee_number: String,
    designation: String,
    department: ObjectRef,
}

/// A page of staff.
#[derive(ToSchema)]
pub struct StaffPage {
    staff: Vec<StaffMember>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/staff`.
#[derive(ToSchema)]
pub struct NewStaff {
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
    role: String,
    employee_number: String,
    designation: String,
    #[schema(format = Uuid)]
    department: String,
}

/// `PATCH /api/v1/staff/{id}`. A new `department` or `role` moves the built-in binding the
/// role implies (faculty for a teacher, staff otherwise); custom bindings stay.
#[derive(ToSchema)]
pub struct StaffPatch {
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    /// `teacher`, `administrator` or `aide`.
    role: Option<String>,
    employee_number: Option<String>,
    designation: Option<String>,
    #[schema(format = Uuid)]
    department: Option<String>,
    status: Option<String>,
}

/// What `PATCH /api/v1/staff/{id}` answers: the staff member, and every role binding they hold
/// after the change.
#[derive(ToSchema)]
pub struct StaffChanged {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
    role: String,
    employee_number: String,
    designation: String,
    department: ObjectRef,
    #[schema(value_type = Vec<Object>)]
    role_bindings: serde_json::Value,
}

/// A student's classes.
#[derive(ToSchema)]
pub struct ClassList {
    classes: Vec<Class>,
}

/// A teacher as a timetable names them.
#[derive(ToSchema)]
pub struct LessonTeacher {
    #[schema(format = Uuid)]
    sourced_id: String,
    r#type: String,
    given_name: String,
    family_name: String,
}

/// One lesson of a timetable.
#[derive(ToSchema)]
pub struct Lesson {
    #[schema(format = Date)]
    date: String,
    period: i16,
    class: ObjectRef,
    class_code: String,
    title: String,
    location: Option<String>,
    teachers: Vec<LessonTeacher>,
    /// The register, if one was opened for the lesson.
    #[schema(format = Uuid)]
    session: Option<String>,
}

/// A student's lessons between two dates.
#[derive(ToSchema)]
pub struct Timetable {
    student: ObjectRef,
    #[schema(format = Date)]
    from: String,
    #[schema(format = Date)]
    to: String,
    lessons: Vec<Lesson>,
}

/// A student's own result of a line item.
#[derive(ToSchema)]
pub struct OwnResult {
    score: Option<f64>,
    score_status: String,
    comment: Option<String>,
}

/// A line item of a student's class.
#[derive(ToSchema)]
pub struct StudentLineItem {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    title: String,
    category: String,
    max_score: f64,
    due_date: Option<String>,
    class: ObjectRef,
    class_title: String,
    /// Present once the line item is published and the student has a result.
    result: Option<OwnResult>,
}

/// What is due in a student's classes.
#[derive(ToSchema)]
pub struct StudentLineItemList {
    line_items: Vec<StudentLineItem>,
}

/// A guardian linked to a student.
#[derive(ToSchema)]
pub struct Guardian {
    guardian: ObjectRef,
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
    /// `active` or `tobedeleted`.
    status: String,
    /// `parent`, `guardian`, `relative` or `other`.
    relationship: String,
}

/// A student's guardians.
#[derive(ToSchema)]
pub struct GuardianList {
    guardians: Vec<Guardian>,
}

/// A guardian account made with its link.
#[derive(ToSchema)]
pub struct NewGuardian {
    username: String,
    email: Option<String>,
    given_name: String,
    family_name: String,
}

/// `POST /api/v1/students/{id}/guardians`: `guardian` (an active guardian account) or
/// `new_guardian`, not both.
#[derive(ToSchema)]
pub struct GuardianLink {
    #[schema(format = Uuid)]
    guardian: Option<String>,
    new_guardian: Option<NewGuardian>,
    /// `parent`, `guardian`, `relative` or `other`.
    relationship: String,
}

/// The institution's settings.
#[derive(ToSchema)]
pub struct InstitutionSettings {
    institution: ObjectRef,
    name: String,
    /// An IANA time zone: every default date of the API is the date there.
    time_zone: String,
    /// Today in that time zone.
    #[schema(format = Date)]
    today: String,
    /// The weekdays it teaches on (`MON` ... `SUN`).
    teaching_weekdays: Vec<String>,
}

/// `PATCH /api/v1/admin/institution`.
#[derive(ToSchema)]
pub struct InstitutionPatch {
    time_zone: Option<String>,
    teaching_weekdays: Option<Vec<String>>,
}

/// `POST /api/v1/calendar/closures`.
#[derive(ToSchema)]
pub struct NewClosure {
    /// `holiday` or `closure`.
    kind: String,
    title: String,
    #[schema(format = Date)]
    start_date: String,
    /// Inclusive; at most a year after `start_date`.
    #[schema(format = Date)]
    end_date: String,
}

/// A holiday or closure.
#[derive(ToSchema)]
pub struct Closure {
    #[schema(format = Uuid)]
    sourced_id: String,
    kind: String,
    title: String,
    #[schema(format = Date)]
    start_date: String,
    #[schema(format = Date)]
    end_date: String,
}

/// A term as the calendar shows it.
#[derive(ToSchema)]
pub struct CalendarTerm {
    #[schema(format = Uuid)]
    sourced_id: String,
    title: String,
    r#type: String,
    #[schema(format = Date)]
    start_date: String,
    #[schema(format = Date)]
    end_date: String,
    /// Its days on a teaching weekday and in no closure.
    teaching_days: i64,
}

/// The calendar of a date range.
#[derive(ToSchema)]
pub struct Calendar {
    #[schema(format = Date)]
    from: String,
    #[schema(format = Date)]
    to: String,
    teaching_weekdays: Vec<String>,
    /// Teaching days in the range.
    teaching_days: i64,
    closures: Vec<Closure>,
    terms: Vec<CalendarTerm>,
}

/// `POST /api/v1/terms/{id}/rollover`.
#[derive(ToSchema)]
pub struct RolloverRequest {
    /// The next term.
    #[schema(format = Uuid)]
    to: String,
    /// Report what it would do, change nothing.
    dry_run: Option<bool>,
    /// Raise the year of study of the students who were enrolled (default: when `to` belongs
    /// to a later school year).
    promote: Option<bool>,
}

/// What a rollover did, or would do.
#[derive(ToSchema)]
pub struct RolloverReport {
    #[schema(format = Uuid)]
    from: String,
    #[schema(format = Uuid)]
    to: String,
    dry_run: bool,
    classes_copied: i64,
    /// Classes whose code the next term already held (reused, not copied again).
    classes_already_there: i64,
    teaching_assignments_copied: i64,
    enrollments_ended: i64,
    students_promoted: i64,
    /// Whether this pair of terms had been rolled over before (nobody is promoted twice).
    repeated: bool,
}

/// An academic session.
#[derive(ToSchema)]
pub struct Term {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    title: String,
    /// `schoolYear`, `semester`, `term` or `gradingPeriod`.
    #[serde(rename = "type")]
    type_: String,
    #[schema(format = Date)]
    start_date: String,
    #[schema(format = Date)]
    end_date: String,
    school_year: i16,
    parent: Option<ObjectRef>,
}

/// A page of academic sessions.
#[derive(ToSchema)]
pub struct TermPage {
    terms: Vec<Term>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/terms`.
#[derive(ToSchema)]
pub struct NewTerm {
    title: String,
    #[serde(rename = "type")]
    type_: String,
    #[schema(format = Date)]
    start_date: String,
    #[schema(format = Date)]
    end_date: String,
    school_year: i16,
    #[schema(format = Uuid)]
    parent: Option<String>,
}

/// `PATCH /api/v1/terms/{id}`.
#[derive(ToSchema)]
pub struct TermPatch {
    title: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    #[schema(format = Date)]
    start_date: Option<String>,
    #[schema(format = Date)]
    end_date: Option<String>,
    school_year: Option<i16>,
    #[schema(format = Uuid)]
    parent: Option<String>,
    status: Option<String>,
}

/// A course.
#[derive(ToSchema)]
pub struct Course {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    title: String,
    course_code: String,
    credits: Option<f64>,
    department: ObjectRef,
}

/// A page of courses.
#[derive(ToSchema)]
pub struct CoursePage {
    courses: Vec<Course>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/courses`.
#[derive(ToSchema)]
pub struct NewCourse {
    title: String,
    course_code: String,
    credits: Option<f64>,
    #[schema(format = Uuid)]
    department: String,
}

/// `PATCH /api/v1/courses/{id}`.
#[derive(ToSchema)]
pub struct CoursePatch {
    title: Option<String>,
    course_code: Option<String>,
    credits: Option<f64>,
    #[schema(format = Uuid)]
    department: Option<String>,
    status: Option<String>,
}

/// A class: a section of a course in a term, with its timetable.
#[derive(ToSchema)]
pub struct Class {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    title: String,
    class_code: String,
    /// `homeroom` or `scheduled`.
    class_type: String,
    location: Option<String>,
    /// Timetable slots: day and period, e.g. `MON-1`.
    periods: Vec<String>,
    capacity: Option<i32>,
    course: ObjectRef,
    term: ObjectRef,
    department: ObjectRef,
    teachers: Vec<ObjectRef>,
    enrolled: i64,
}

/// A page of classes.
#[derive(ToSchema)]
pub struct ClassPage {
    classes: Vec<Class>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/classes`.
#[derive(ToSchema)]
pub struct NewClass {
    title: String,
    class_code: String,
    class_type: Option<String>,
    location: Option<String>,
    periods: Option<Vec<String>>,
    capacity: Option<i32>,
    #[schema(format = Uuid)]
    course: String,
    #[schema(format = Uuid)]
    term: String,
}

/// `PATCH /api/v1/classes/{id}`.
#[derive(ToSchema)]
pub struct ClassPatch {
    title: Option<String>,
    class_code: Option<String>,
    class_type: Option<String>,
    location: Option<String>,
    periods: Option<Vec<String>>,
    capacity: Option<i32>,
    #[schema(format = Uuid)]
    course: Option<String>,
    #[schema(format = Uuid)]
    term: Option<String>,
    status: Option<String>,
}

/// A class's students, by name.
#[derive(ToSchema)]
pub struct Roster {
    students: Vec<Student>,
}

/// An enrollment.
#[derive(ToSchema)]
pub struct Enrollment {
    #[schema(format = Uuid)]
    sourced_id: String,
    status: String,
    date_last_modified: String,
    role: String,
    is_primary: bool,
    begin_date: Option<String>,
    end_date: Option<String>,
    user: ObjectRef,
    class: ObjectRef,
    class_code: String,
    class_title: String,
}

/// Enrollments.
#[derive(ToSchema)]
pub struct EnrollmentList {
    enrollments: Vec<Enrollment>,
}

/// A page of a class's enrollments.
#[derive(ToSchema)]
pub struct EnrollmentPage {
    enrollments: Vec<Enrollment>,
    next_cursor: Option<String>,
}

/// `POST /api/v1/classes/{id}/enrollments`: `user` or `users` (up to 500).
#[derive(ToSchema)]
pub struct NewEnrollments {
    #[schema(format = Uuid)]
    user: Option<String>,
    users: Option<Vec<String>>,
    /// `student` (default), `teacher` or `aide`.
    role: Option<String>,
    is_primary: Option<bool>,
}

/// `POST /api/v1/classes/{id}/attendance-sessions`.
#[derive(ToSchema)]
pub struct NewSession {
    #[schema(format = Date)]
    date: String,
    period: i16,
    /// Open it although the day is not a teaching day or the period is not in the class's
    /// timetable (a make-up lesson; audited as such).
    unscheduled: Option<bool>,
}

/// One attendance record.
#[derive(ToSchema)]
pub struct AttendanceRecord {
    student: ObjectRef,
    code: String,
    category: String,
    minutes_present: Option<i16>,
    /// `teacher` or `office`.
    source: String,
    overrides_teacher: bool,
    recorded_at: String,
}

/// A register.
#[derive(ToSchema)]
pub struct AttendanceSession {
    #[schema(format = Uuid)]
    sourced_id: String,
    class: ObjectRef,
    #[schema(format = Date)]
    date: String,
    period: i16,
    taken_by: Option<ObjectRef>,
    submitted_at: Option<String>,
    date_last_modified: String,
    records: Vec<AttendanceRecord>,
}

/// A class's sessions (`records`: how many).
#[derive(ToSchema)]
pub struct SessionList {
    #[schema(value_type = Vec<Object>)]
    sessions: serde_json::Value,
}

/// One mark of a register.
#[derive(ToSchema)]
pub struct Mark {
    #[schema(format = Uuid)]
    student: String,
    code: String,
    minutes_present: Option<i16>,
}

/// What marking a register did (the register itself: `GET /api/v1/attendance-sessions/{id}`).
#[derive(ToSchema)]
pub struct MarkResult {
    session: ObjectRef,
    /// `teacher` or `office`.
    source: String,
    /// Records in the request.
    records: i64,
    /// Records written or changed (0: the register already said this).
    changed: i64,
}

/// `PUT /api/v1/attendance-sessions/{id}/records`: up to 500 marks.
#[derive(ToSchema)]
pub struct AttendanceMarks {
    records: Vec<Mark>,
}

/// One student's line of a report.
#[derive(ToSchema)]
pub struct ReportRow {
    student: ObjectRef,
    given_name: String,
    family_name: String,
    roll_number: String,
    marks: i64,
    present: i64,
    late: i64,
    absent: i64,
    excused: i64,
    /// Minutes present summed over the marks that recorded them (late arrivals, early leaves);
    /// the presence rate weighs each mark by its code's presence fraction.
    minutes_present: i64,
    presence_rate: Option<f64>,
}

/// A class's attendance between two dates.
#[derive(ToSchema)]
pub struct AttendanceReport {
    class: ObjectRef,
    from: String,
    to: String,
    /// `replica` or `primary`.
    source: String,
    students: Vec<ReportRow>,
}

/// One attendance code.
#[derive(ToSchema)]
pub struct AttendanceCode {
    code: String,
    description: String,
    /// `present`, `late`, `absent` or `excused`.
    category: String,
    presence_fraction: f64,
    /// `any`, `teacher` or `office`.
    entered_by: String,
    /// `institution` or `department`.
    scope: String,
    /// `active` or `tobedeleted` (retired: no new marks); in the administrators' list.
    status: Option<String>,
    /// The department of a department's own code; in the administrators' list.
    department: Option<ObjectRef>,
}

/// `PUT /api/v1/attendance-codes/{code}`.
#[derive(ToSchema)]
pub struct AttendanceCodeIn {
    description: String,
    /// `present`, `late`, `absent` or `excused`.
    category: String,
    /// 0 to 1, two decimals: how much presence a mark counts as.
    presence_fraction: f64,
    /// `any` (default), `teacher` or `office`.
    entered_by: Option<String>,
    /// `active` (default) or `tobedeleted`.
    status: Option<String>,
}

/// The codes a class's registers take.
#[derive(ToSchema)]
pub struct AttendanceCodeList {
    codes: Vec<AttendanceCode>,
}

/// Registers not taken on a day.
#[derive(ToSchema)]
pub struct NotTaken {
    #[schema(format = Date)]
    date: String,
    #[schema(value_type = Vec<Object>)]
    classes: serde_json::Value,
    next_cursor: Option<String>,
}

/// An exam or assignment.
#[derive(ToSchema)]
pub struct LineItem {
    #[schema(format = Uuid)]
    sourced_id: String,
    /// `draft`, `published` or `locked`.
    status: String,
    date_last_modified: String,
    title: String,
    category: String,
    max_score: f64,
    due_date: Option<String>,
    class: ObjectRef,
}

/// A class's line items.
#[derive(ToSchema)]
pub struct LineItemList {
    line_items: Vec<LineItem>,
}

/// `POST /api/v1/classes/{id}/line-items`.
#[derive(ToSchema)]
pub struct NewLineItem {
    title: String,
    category: String,
    max_score: f64,
    #[schema(format = Date)]
    due_date: Option<String>,
}

/// `PATCH /api/v1/line-items/{id}`.
#[derive(ToSchema)]
pub struct LineItemPatch {
    title: Option<String>,
    category: Option<String>,
    max_score: Option<f64>,
    #[schema(format = Date)]
    due_date: Option<String>,
    status: Option<String>,
}

/// One result.
#[derive(ToSchema)]
pub struct ExamResult {
    student: ObjectRef,
    score: Option<f64>,
    score_status: String,
    comment: Option<String>,
    date_last_modified: String,
    line_item: Option<LineItem>,
    class_title: Option<String>,
}

/// Results.
#[derive(ToSchema)]
pub struct ResultList {
    results: Vec<ExamResult>,
}

/// A page of a student's results.
#[derive(ToSchema)]
pub struct ResultPage {
    results: Vec<ExamResult>,
    next_cursor: Option<String>,
}

/// One line of a result sheet.
#[derive(ToSchema)]
pub struct ResultIn {
    #[schema(format = Uuid)]
    student: String,
    score: Option<f64>,
    score_status: Option<String>,
    comment: Option<String>,
}

/// `PUT /api/v1/line-items/{id}/results`: up to 500.
#[derive(ToSchema)]
pub struct ResultSheet {
    results: Vec<ResultIn>,
}

/// The OpenAPI document itself.
#[derive(ToSchema)]
pub struct OpenApiDocument {
    openapi: String,
    #[schema(value_type = Object)]
    info: serde_json::Value,
    #[schema(value_type = Object)]
    paths: serde_json::Value,
    #[schema(value_type = Object)]
    components: serde_json::Value,
}

/// A background job (built in SQL: `job_document!` in db/src/statements.rs).
#[derive(ToSchema)]
pub struct Job {
    #[schema(format = Uuid)]
    sourced_id: String,
    /// What it runs: `email.invitation`, `notify.absence`, `report.render`, `noop`, ...
    kind: String,
    /// `ready`, `running`, `done`, `dead` or `cancelled`.
    state: String,
    /// Lower runs first.
    priority: i32,
    /// Attempts made (a running job's current attempt counts).
    attempts: i32,
    max_attempts: i32,
    #[schema(format = DateTime)]
    run_at: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    started_at: Option<String>,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    /// The last failure, kept when the job is dead.
    last_error: Option<String>,
    /// The worker holding it (`host:pid`) while it runs.
    worker: Option<String>,
    /// Its input, as the kind reads it.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

/// A page of jobs.
#[derive(ToSchema)]
pub struct JobPage {
    jobs: Vec<Job>,
    /// The `cursor` of the next page; null on the last.
    next_cursor: Option<String>,
}

/// A PDF report (built in SQL: `REPORT_BY_ID` in db/src/statements.rs). Members without a
/// value are left out.
#[derive(ToSchema)]
pub struct Report {
    #[schema(format = Uuid)]
    sourced_id: String,
    /// `term_report`, `attendance_certificate` or `class_register`.
    kind: String,
    /// The student (`user`) or the class (`class`) it is about.
    subject: ObjectRef,
    #[schema(format = Date)]
    from: String,
    #[schema(format = Date)]
    to: String,
    /// `queued`, `done` (its file is ready) or `failed` (`error` says why).
    state: String,
    /// Why it failed.
    error: Option<String>,
    /// Pages of the PDF, when done.
    pages: Option<i32>,
    /// Bytes of the PDF, when done.
    bytes: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
}
