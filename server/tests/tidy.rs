//! Architecture rules as tests (rust-analyzer's `xtask/src/tidy.rs` is the model): what no test
//! checks drifts, as the import circle of `server/src` did (16 files on 30 Nov, 27 a week
//! later, unseen).
//!
//! - No import circle among the files of `server/src`, `db/src` or `cache/src`: a file reaches
//!   another when it names `crate::path::to::it` (in a `use`, groups expanded, or inline) or
//!   `super::it`; a circle is a group of two or more files that reach each other.
//! - Every source file opens with a `//!` line saying what it owns.
//! - Every path ARCHITECTURE.md's code map and request line name exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A file's module path in its crate: `auth/caller.rs` -> `auth::caller`, `auth/mod.rs` ->
/// `auth`, `lib.rs` -> `` (the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// Whether `b` may continue an identifier.
fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The module paths after each occurrence of `prefix` (`crate::` or `super::`): the longest
/// run of `name::name::...`.
fn paths_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    text.match_indices(prefix).filter_map(move |(i, _)| {
        if i > 0 && ident_byte(text.as_bytes()[i - 1]) {
            return None; // `$crate::`, `my_crate::`
        }
        let rest = &text[i + prefix.len()..];
        let end = rest
            .bytes()
            .position(|b| !(ident_byte(b) || b == b':'))
            .unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(':');
        (!path.is_empty()).then(|| path.to_string())
    })
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` -> `a`, `a::b`, `a::c`, `a::c::d`,
/// `a::c::e`.
fn expand_use(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, ch) in tree.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tree[start..]);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match item.find('{') {
            None => {
                let name = item.split(" as ").next().unwrap_or(item).trim();
                out.push(format!("{prefix}{name}"));
            }
            Some(b) => {
                let head = item[..b].trim().trim_end_matches("::");
                let inner = &item[b + 1..item.rfind('}').unwrap_or(item.len())];
                if head.is_empty() {
                    // `use crate::{a, b::c}`: the group is the whole tree.
                    expand_use(inner, prefix, out);
                } else {
                    out.push(format!("{prefix}{head}"));
                    expand_use(inner, &format!("{prefix}{head}::"), out);
                }
            }
        }
    }
}

/// The module paths `super::...` names in the file of module `module`: each `super` is one
/// step up from the module (for `a/mod.rs` as for `a/b.rs`), so `super::super::x` in
/// `net::conn` is `x`.
fn super_paths(text: &str, module: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("super::") {
        let before = &text[..i];
        if before.ends_with("super::") || before.bytes().last().is_some_and(ident_byte) {
            continue; // the middle of a chain, or `not_super::`
        }
        let mut rest = &text[i..];
        let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let end = rest
            .bytes()
            .position(|b| !(ident_byte(b) || b == b':'))
            .unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(':');
        if !path.is_empty() {
            base.push(path);
            out.push(base.join("::"));
        }
    }
    out
}

/// The files each file of the crate at `src` reaches (module path -> module paths).
fn reaches(
    src: &Path,
) -> (
    BTreeMap<String, PathBuf>,
    BTreeMap<String, BTreeSet<String>>,
) {
    let files: BTreeMap<String, PathBuf> = rust_files(src)
        .into_iter()
        .map(|f| (module_of(src, &f), f))
        .collect();
    let resolve = |path: &str| -> Option<String> {
        let mut parts: Vec<&str> = path.split("::").collect();
        while !parts.is_empty() {
            let key = parts.join("::");
            if files.contains_key(&key) {
                return Some(key);
            }
            parts.pop();
        }
        None
    };
    let mut edges = BTreeMap::new();
    for (module, file) in &files {
        let mut text = std::fs::read_to_string(file).unwrap();
        // Unit tests at the end of a file may reach anything.
        if let Some(i) = text.find("#[cfg(test)]\nmod tests {") {
            text.truncate(i);
        }
        let mut targets: Vec<String> = paths_after(&text, "crate::").collect();
        for (i, _) in text.match_indices("use crate::") {
            let tree = &text[i + "use crate::".len()..];
            let tree = &tree[..tree.find(';').unwrap_or(tree.len())];
            expand_use(tree, "", &mut targets);
        }
        targets.extend(super_paths(&text, module));
        let reached: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| resolve(t))
            .filter(|r| r != module && !r.is_empty())
            .collect();
        edges.insert(module.clone(), reached);
    }
    (files, edges)
}

/// The circles among the files of the crate at `src` (each a sorted list of its files,
/// relative to `src`), by Tarjan's strongly connected components.
fn circles(src: &Path) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn strong(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in &self.edges[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.strong(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.out.push(group);
                }
            }
        }
    }
    let (files, edges) = reaches(src);
    let mut t = Tarjan {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.strong(v);
        }
    }
    t.out
        .into_iter()
        .map(|group| {
            group
                .iter()
                .map(|m| {
                    files[m]
                        .strip_prefix(src)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        })
        .collect()
}

#[test]
fn no_import_circle_in_any_crate() {
    let repo = common::repo();
    for krate in ["server/src", "db/src", "cache/src"] {
        let found = circles(&repo.join(krate));
        let listed: Vec<String> = found
            .iter()
            .map(|c| format!("{} files: {}", c.len(), c.join(", ")))
            .collect();
        assert!(
            found.is_empty(),
            "{krate}: {} import circle(s):\n{}",
            found.len(),
            listed.join("\n")
        );
    }
}

/// The checker finds a circle made on purpose (and the files in it), through a `use` group,
/// an inline path and `super::`, and none where the reach goes one way.
#[test]
fn a_circle_made_on_purpose_is_found() {
    let dir = std::env::temp_dir().join(format!("campushub-tidy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("net")).unwrap();
    let write = |f: &str, text: &str| std::fs::write(dir.join(f), text).unwrap();
    write(
        "lib.rs",
        "//! root\npub mod a;\npub mod b;\npub mod net;\npub mod leaf;\n",
    );
    write("leaf.rs", "//! nothing\n");
    write("a.rs", "//! a\nuse crate::{b::Thing, leaf};\n");
    write("b.rs", "//! b\nfn f() { crate::net::conn::serve(); }\n");
    write("net/mod.rs", "//! net\npub mod conn;\n");
    write("net/conn.rs", "//! conn\nuse super::super::a;\n");
    let found = circles(&dir);
    assert_eq!(found, [vec!["a.rs", "b.rs", "net/conn.rs"]], "{found:?}");
    // Cut one reach: no circle.
    write("net/conn.rs", "//! conn\nuse crate::leaf;\n");
    assert!(circles(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_source_file_says_what_it_owns() {
    let repo = common::repo();
    let mut missing = Vec::new();
    for dir in [
        "server/src",
        "server/tests",
        "db/src",
        "cache/src",
        "bench/src",
        "bench/benches",
    ] {
        for f in rust_files(&repo.join(dir)) {
            let text = std::fs::read_to_string(&f).unwrap();
            if !text.starts_with("//!") {
                missing.push(f.strip_prefix(&repo).unwrap().display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` header: {missing:?}"
    );
}

/// Every path the code map and the request line of ARCHITECTURE.md name (in backquotes,
/// starting with a top-level folder of the repository) exists; `*` stands for any file.
#[test]
fn the_code_map_names_only_paths_that_exist() {
    let repo = common::repo();
    let text = std::fs::read_to_string(repo.join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find("## The request line")
        .expect("a request line section");
    let end = text.find("## Adding a route").unwrap_or(text.len());
    let roots = [
        "server/", "db/", "cache/", "bench/", "scripts/", "fuzz/", "deploy/", "tuning/",
    ];
    let mut named = 0;
    let mut absent = Vec::new();
    for quoted in text[start..end].split('`').skip(1).step_by(2) {
        if !roots.iter().any(|r| quoted.starts_with(r)) || quoted.contains(' ') {
            continue;
        }
        named += 1;
        // `server/src/auth/*`, `db/migrations/*.sql`: the folder part must exist.
        let path = quoted.split('*').next().unwrap_or(quoted);
        if !repo.join(path).exists() {
            absent.push(quoted.to_string());
        }
    }
    assert!(
        named > 20,
        "only {named} paths found: is the code map still there?"
    );
    assert!(
        absent.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {absent:?}"
    );
}
