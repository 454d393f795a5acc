//! Benchmark support for campushub: representative payloads and stage fixtures shared by the
//! criterion benches and the callgrind harness (`src/bin/callgrind-harness.rs`), and the load
//! generator (`load`, run by the `campushub-load` binary).
#![deny(missing_docs)]

pub mod fixtures;
pub mod load;

use serde::{Deserialize, Serialize};

/// A student profile as the API will return it (the shape of the hot read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentPayload {
    /// Public id.
    pub sourced_id: String,
    /// Status.
    pub status: String,
    /// Last change, RFC 3339.
    pub date_last_modified: String,
    /// Login name.
    pub username: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email.
    pub email: String,
    /// Roll number.
    pub roll_number: String,
    /// Programme.
    pub program: String,
    /// Year of study.
    pub year_of_study: u8,
    /// Department public id.
    pub department_id: String,
    /// Enabled.
    pub enabled_user: bool,
}

/// A class roster: the class and its students.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RosterPayload {
    /// Class public id.
    pub class_id: String,
    /// Class code.
    pub class_code: String,
    /// Title.
    pub title: String,
    /// Students.
    pub students: Vec<StudentPayload>,
}

/// A deterministic student.
pub fn student(i: u32) -> StudentPayload {
    StudentPayload {
        sourced_id: format!("5b1f{i:04x}-7d2c-4a8e-9f10-{:012x}", u64::from(i) * 7919),
        status: "active".into(),
        date_last_modified: "2026-11-22T09:15:42.123Z".into(),
        username: format!("s{i:06}"),
        given_name: ["Aditi", "Bilal", "Chen", "Dara", "Emeka"][(i % 5) as usize].into(),
        family_name: ["Rao", "Okafor", "Nguyen", "Silva", "Müller"][(i % 5) as usize].into(),
        email: format!("s{i:06}@students.example.edu"),
        roll_number: format!("2026CSE{i:05}"),
        program: "B.Tech Computer Science and Engineering".into(),
        year_of_study: (i % 4 + 1) as u8,
        department_id: "1eb15c51-8506-4793-8849-a95d956d24dc".into(),
        enabled_user: true,
    }
}

/// A roster of `n` students.
pub fn roster(n: u32) -> RosterPayload {
    RosterPayload {
        class_id: "0c8e5e3a-1f4b-4c7e-9a51-3b2d7f6e8a90".into(),
        class_code: "CSE301-A".into(),
        title: "Operating Systems, section A".into(),
        students: (0..n).map(student).collect(),
    }
}
