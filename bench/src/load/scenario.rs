//! Scenario files: weighted requests, their path and body templates, and the seeded users they
//! run as. The TOML shape (see bench/README.md):
//!
//! ```toml
//! [users]
//! registrar = ["registrar"]                       # these user names, logged in at start
//! students = { prefix = "student", count = 100 }  # student1..student100
//!
//! [[request]]
//! name = "student profile"
//! weight = 70
//! path = "/api/v1/students/{student_id}"
//! as = "registrar"
//! ```

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;

use super::rng::Rng;

/// The password of every seeded user (`campushub seed`).
pub const DEMO_PASSWORD: &str = "campushub-demo";

/// A scenario, checked: every request's group exists and its templates are known.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name, for reports.
    pub name: String,
    /// What it models.
    pub description: String,
    /// User groups, in file order of their names.
    pub groups: Vec<Group>,
    /// The requests.
    pub requests: Vec<RequestSpec>,
    /// Cumulative weights, one per request, for [`Scenario::pick`].
    cumulative: Vec<u64>,
    /// The offered rates of `--sweep`, when the file names them.
    pub sweep: Option<Sweep>,
}

/// A group of seeded users a request can run as.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's name in the file.
    pub name: String,
    /// User names.
    pub users: Vec<String>,
    /// Their password.
    pub password: String,
    /// Log them in at start (false for groups only used to send log-ins).
    pub login: bool,
    /// Some request uses `{own_student_id}` with this group: look the ids up at start.
    pub needs_own_id: bool,
}

/// One kind of request.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Name, for reports.
    pub name: String,
    /// Relative weight.
    pub weight: u32,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: Template,
    /// JSON body.
    pub body: Option<Template>,
    /// Index into [`Scenario::groups`].
    pub group: Option<usize>,
    /// Send the user's access token as `Authorization: Bearer`.
    pub send_token: bool,
}

/// Geometric offered rates for `--sweep`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// First rate, requests per second.
    pub start: f64,
    /// Each step is this many times the one before.
    pub factor: f64,
    /// Last rate at most.
    pub max: f64,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text as written.
    Literal(String),
    /// `{student_id}`: a student id drawn at random from the id list.
    StudentId,
    /// `{own_student_id}`: the id of the logged-in student the request runs as.
    OwnStudentId,
    /// `{username}`: the user the request runs as.
    Username,
    /// `{password}`: that user's password.
    Password,
    /// `{row1}`..`{row9}`: that column (tab-separated) of the request's row of `--rows FILE`;
    /// each request takes the next row, so fixtures such as registers are each used once.
    Row(usize),
}

/// A path or body with `{variables}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(pub Vec<Part>);

/// What a template is expanded with.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// The drawn student id.
    pub student_id: &'a str,
    /// The user's own student id.
    pub own_student_id: &'a str,
    /// The user name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// The request's row of `--rows` (empty when the scenario uses none).
    pub row: &'a [String],
}

impl Template {
    /// Parses `text`; `{{` and `}}` stand for literal braces (JSON bodies need them).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some(r) = rest.strip_prefix("{{") {
                lit.push('{');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("}}") {
                lit.push('}');
                rest = r;
            } else if c == '{' {
                let end = rest
                    .find('}')
                    .ok_or_else(|| anyhow!("unclosed `{{` in template `{text}`"))?;
                let part = match &rest[1..end] {
                    "student_id" => Part::StudentId,
                    "own_student_id" => Part::OwnStudentId,
                    "username" => Part::Username,
                    "password" => Part::Password,
                    r if r.len() == 4
                        && r.starts_with("row")
                        && (b'1'..=b'9').contains(&r.as_bytes()[3]) =>
                    {
                        Part::Row(usize::from(r.as_bytes()[3] - b'1'))
                    }
                    other => bail!(
                        "unknown variable `{{{other}}}` in `{text}` (known: student_id, \
                         own_student_id, username, password, row1..row9; write {{{{ and }}}} for braces)"
                    ),
                };
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                parts.push(part);
                rest = &rest[end + 1..];
            } else if c == '}' {
                bail!("stray `}}` in template `{text}` (write }}}} for a brace)");
            } else {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Ok(Self(parts))
    }

    /// True when the template uses `part`.
    pub fn uses(&self, part: &Part) -> bool {
        self.0.iter().any(|p| p == part)
    }

    /// Appends the expansion to `out`.
    pub fn expand_into(&self, vars: &Vars<'_>, out: &mut Vec<u8>) {
        for p in &self.0 {
            let s = match p {
                Part::Literal(s) => s.as_str(),
                Part::StudentId => vars.student_id,
                Part::OwnStudentId => vars.own_student_id,
                Part::Username => vars.username,
                Part::Password => vars.password,
                Part::Row(i) => vars.row.get(*i).map_or("", String::as_str),
            };
            out.extend_from_slice(s.as_bytes());
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    users: BTreeMap<String, FileGroup>,
    #[serde(default)]
    request: Vec<FileRequest>,
    sweep: Option<Sweep>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileGroup {
    Names(Vec<String>),
    Table(FileGroupTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroupTable {
    #[serde(default)]
    names: Vec<String>,
    prefix: Option<String>,
    #[serde(default)]
    count: u32,
    #[serde(default = "one")]
    first: u32,
    password: Option<String>,
    #[serde(default = "yes")]
    login: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRequest {
    name: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default = "get")]
    method: String,
    path: String,
    body: Option<String>,
    #[serde(rename = "as")]
    user: Option<String>,
    #[serde(default = "yes")]
    token: bool,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn get() -> String {
    "GET".into()
}

impl RequestSpec {
    /// Whether its path or body takes a `{rowN}` (the request then takes the next row).
    pub fn uses_rows(&self) -> bool {
        let uses = |t: &Template| t.0.iter().any(|p| matches!(p, Part::Row(_)));
        uses(&self.path) || self.body.as_ref().is_some_and(uses)
    }
}

impl Scenario {
    /// Parses and checks a scenario file's text; `fallback_name` names it when the file does not.
    pub fn parse(text: &str, fallback_name: &str) -> anyhow::Result<Self> {
        let file: FileScenario = toml::from_str(text).map_err(|e| {
            // One line: the message and where, without toml's multi-line snippet.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let msg = e.message().trim().replace('\n', " ");
            match line {
                Some(l) => anyhow!("line {l}: {msg}"),
                None => anyhow!("{msg}"),
            }
        })?;
        let mut groups = Vec::new();
        for (name, g) in file.users {
            let g = match g {
                FileGroup::Names(names) => FileGroupTable {
                    names,
                    prefix: None,
                    count: 0,
                    first: 1,
                    password: None,
                    login: true,
                },
                FileGroup::Table(t) => t,
            };
            let mut users = g.names;
            if let Some(prefix) = &g.prefix {
                users.extend(
                    (g.first..g.first.saturating_add(g.count)).map(|i| format!("{prefix}{i}")),
                );
            } else if g.count > 0 {
                bail!("user group `{name}`: `count` needs a `prefix`");
            }
            if users.is_empty() {
                bail!("user group `{name}` has no users (give a list of names or a prefix and a count)");
            }
            groups.push(Group {
                name,
                users,
                password: g.password.unwrap_or_else(|| DEMO_PASSWORD.into()),
                login: g.login,
                needs_own_id: false,
            });
        }
        if file.request.is_empty() {
            bail!("the scenario has no [[request]]");
        }
        let mut requests = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for r in file.request {
            let name = r.name.unwrap_or_else(|| format!("{} {}", r.method, r.path));
            let ctx = || format!("request `{name}`");
            if r.weight == 0 {
                bail!("{}: weight must be at least 1", ctx());
            }
            if !r.method.bytes().all(|b| b.is_ascii_uppercase()) || r.method.is_empty() {
                bail!("{}: method `{}` is not an HTTP method", ctx(), r.method);
            }
            if !r.path.starts_with('/') || r.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
                bail!(
                    "{}: path must start with `/` and hold no spaces or control bytes",
                    ctx()
                );
            }
            let path = Template::parse(&r.path).with_context(ctx)?;
            let body = r
                .body
                .as_deref()
                .map(Template::parse)
                .transpose()
                .with_context(ctx)?;
            let group = match &r.user {
                Some(u) => Some(
                    groups
                        .iter()
                        .position(|g| &g.name == u)
                        .ok_or_else(|| anyhow!("{}: no user group `{u}` in [users]", ctx()))?,
                ),
                None => None,
            };
            let uses = |p: &Part| path.uses(p) || body.as_ref().is_some_and(|b| b.uses(p));
            let per_user = [Part::OwnStudentId, Part::Username, Part::Password];
            if group.is_none() && per_user.iter().any(uses) {
                bail!(
                    "{}: {{own_student_id}}, {{username}} and {{password}} need `as`",
                    ctx()
                );
            }
            let mut send_token = r.token && group.is_some();
            if let Some(g) = group {
                if !groups[g].login {
                    if uses(&Part::OwnStudentId) {
                        bail!("{}: {{own_student_id}} needs a group that logs in", ctx());
                    }
                    send_token = false;
                }
                if uses(&Part::OwnStudentId) {
                    groups[g].needs_own_id = true;
                }
            }
            total += u64::from(r.weight);
            cumulative.push(total);
            requests.push(RequestSpec {
                name,
                weight: r.weight,
                method: r.method,
                path,
                body,
                group,
                send_token,
            });
        }
        if let Some(s) = &file.sweep {
            if !(s.start > 0.0 && s.factor > 1.0 && s.max >= s.start) {
                bail!("[sweep]: needs start > 0, factor > 1 and max >= start");
            }
        }
        Ok(Self {
            name: file.name.unwrap_or_else(|| fallback_name.into()),
            description: file.description,
            groups,
            requests,
            cumulative,
            sweep: file.sweep,
        })
    }

    /// True when some request draws `{student_id}` (an id list is needed).
    pub fn needs_student_ids(&self) -> bool {
        self.requests.iter().any(|r| {
            r.path.uses(&Part::StudentId)
                || r.body.as_ref().is_some_and(|b| b.uses(&Part::StudentId))
        })
    }

    /// True when some request uses a `{rowN}` (a `--rows` file is needed).
    pub fn needs_rows(&self) -> bool {
        self.requests.iter().any(RequestSpec::uses_rows)
    }

    /// A request index, drawn by weight.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = rng.below(total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIX: &str = r#"
name = "t"
[users]
registrar = ["registrar"]
students = { prefix = "student", count = 3 }
logins = { prefix = "student", first = 10, count = 2, login = false }

[sweep]
start = 10.0
factor = 2.0
max = 100.0

[[request]]
weight = 3
path = "/api/v1/students/{student_id}"
as = "registrar"

[[request]]
path = "/api/v1/students/{own_student_id}/attendance"
as = "students"

[[request]]
name = "login"
method = "POST"
path = "/api/v1/auth/login"
body = '{{"username":"{username}","password":"{password}"}}'
as = "logins"
"#;

    #[test]
    fn parses_groups_requests_and_sweep() {
        let s = Scenario::parse(MIX, "fallback").unwrap();
        assert_eq!(s.name, "t");
        let names: Vec<_> = s.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["logins", "registrar", "students"]);
        assert_eq!(s.groups[0].users, ["student10", "student11"]);
        assert!(!s.groups[0].login);
        assert_eq!(s.groups[2].users, ["student1", "student2", "student3"]);
        assert!(s.groups[2].needs_own_id && !s.groups[1].needs_own_id);
        assert_eq!(s.requests[0].name, "GET /api/v1/students/{student_id}");
        assert!(s.requests[0].send_token);
        assert!(
            !s.requests[2].send_token,
            "a group that does not log in has no token"
        );
        assert_eq!(s.requests[2].method, "POST");
        assert!(s.needs_student_ids());
        assert_eq!(
            s.sweep,
            Some(Sweep {
                start: 10.0,
                factor: 2.0,
                max: 100.0
            })
        );
    }

    #[test]
    fn weighted_choice_follows_the_weights() {
        let s = Scenario::parse(MIX, "t").unwrap();
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 3];
        for _ in 0..50_000 {
            counts[s.pick(&mut rng)] += 1;
        }
        // weights 3:1:1
        assert!((29_000..31_000).contains(&counts[0]), "{counts:?}");
        assert!((9_300..10_700).contains(&counts[1]), "{counts:?}");
        assert!((9_300..10_700).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn templates_expand_and_escape_braces() {
        let t = Template::parse(
            r#"{{"u":"{username}","p":"{password}"}}/{student_id}/{own_student_id}"#,
        )
        .unwrap();
        let row = ["r1".to_string(), "{\"x\":1}".to_string()];
        let vars = Vars {
            student_id: "S",
            own_student_id: "O",
            username: "alice",
            password: "pw",
            row: &row,
        };
        let mut out = Vec::new();
        t.expand_into(&vars, &mut out);
        assert_eq!(out, br#"{"u":"alice","p":"pw"}/S/O"#);
        let t = Template::parse("/s/{row1}/x").unwrap();
        assert_eq!(t.0[1], Part::Row(0));
        let mut out = Vec::new();
        t.expand_into(&vars, &mut out);
        assert_eq!(out, b"/s/r1/x");
        let mut out = Vec::new();
        Template::parse("{row2}")
            .unwrap()
            .expand_into(&vars, &mut out);
        assert_eq!(out, br#"{"x":1}"#);
        assert!(Template::parse("{row0}").is_err());
        assert!(Template::parse("{row10}").is_err());
        assert_eq!(
            Template::parse("/plain").unwrap().0,
            vec![Part::Literal("/plain".into())]
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(Template::parse("/x/{nope}")
            .unwrap_err()
            .to_string()
            .contains("unknown variable"));
        assert!(Template::parse("/x/{student_id").is_err());
        assert!(Template::parse("/x/}").is_err());
    }

    #[test]
    fn bad_scenarios_are_refused_with_a_reason() {
        let err = |s: &str| Scenario::parse(s, "t").unwrap_err().to_string();
        assert!(err("").contains("no [[request]]"));
        assert!(err("[[request]]\npath = \"/a\"\nas = \"x\"").contains("no user group `x`"));
        assert!(err("[[request]]\npath = \"/{username}\"").contains("need `as`"));
        assert!(err("[[request]]\npath = \"/a\"\nweight = 0").contains("weight"));
        assert!(err("[[request]]\npath = \"a\"").contains("must start with"));
        assert!(err("[[request]]\npath = \"/a\"\nmethod = \"get\"").contains("not an HTTP method"));
        assert!(err("[[request]]\npath = \"/a\"\nbogus = 1").contains("bogus"));
        assert!(err("[users]\nx = { count = 3 }\n[[request]]\npath = \"/a\"").contains("prefix"));
        let own = "[users]\ns = { prefix = \"s\", count = 1, login = false }\n\
                   [[request]]\npath = \"/{own_student_id}\"\nas = \"s\"";
        assert!(err(own).contains("logs in"));
    }
}
