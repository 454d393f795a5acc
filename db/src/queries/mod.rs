//! Typed queries, one module per resource. Each decodes rows into plain structs; the server
//! turns those into JSON.

pub mod access;
pub mod accounts;
pub mod api_keys;
pub mod campus;
pub mod departments;
pub mod jobs;
pub mod notifications;
pub mod reports;
pub mod students;
pub mod users;
pub mod word;
