//! The import table of `docs/architecture.md` is the rule; this test reads every
//! `crate::…` path in `src/` (in `use` lines, grouped `use crate::{a::b, c}`, and paths
//! written inside code) and fails on an edge between folders the table does not allow,
//! on a circle between folders, and on clap outside `cli/` and `commands/`. The table is
//! read from the document, so that the two cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One folder of the table: its name as written (`gateway/consumer/`, `error.rs`) and
/// the folders it may use.
struct Row {
    unit: String,
    may_use: BTreeSet<String>,
}

/// The backticked names in a table cell (`—` or no backticks: none).
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The rows of the markdown table under `heading`: each row's cells, header and
/// separator left out.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/architecture.md has no section \"## {heading}\""));
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn rows(doc: &str) -> Vec<Row> {
    table(doc, "Folders")
        .into_iter()
        .map(|cells| Row {
            unit: names(&cells[0]).remove(0),
            may_use: names(cells.last().unwrap()).into_iter().collect(),
        })
        .collect()
}

/// A module path (`["gateway", "consumer", "settle"]`) as the row that owns it: the
/// longest row name that is a prefix of it. `clap` is a row of its own (the crate).
fn unit_of(path: &[String], units: &[String]) -> Option<String> {
    units
        .iter()
        .filter(|u| {
            let segs: Vec<&str> = u
                .trim_end_matches('/')
                .trim_end_matches(".rs")
                .split('/')
                .collect();
            segs.len() <= path.len() && segs.iter().zip(path).all(|(a, b)| a == b)
        })
        .max_by_key(|u| u.len())
        .cloned()
}

/// The module path of a file under `src/`: `gateway/consumer/mod.rs` → gateway, consumer.
fn module_of(rel: &Path) -> Vec<String> {
    let mut segs: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    segs
}

/// Source text without comments (line and block), so that prose naming a module is
/// not an edge. A `//` right after `:` (a URL in a string) is kept.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            let end = src[i..].find("*/").map_or(b.len(), |e| i + e + 2);
            i = end;
        } else if b[i..].starts_with(b"//") && (i == 0 || b[i - 1] != b':') {
            i = src[i..].find('\n').map_or(b.len(), |e| i + e);
        } else {
            let c = src[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every path that starts at one of `roots` (`crate::`, `clap::`), with grouped imports
/// expanded: `crate::{a::b, c::{d, e}}` → `a::b`, `c::d`, `c::e`.
fn paths(code: &str, root: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    let needle = format!("{root}::");
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + needle.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut prefix = vec![root.to_string()];
        expand(after, &mut prefix, &mut found);
    }
    found
}

/// Reads a path tail (`a::b`, `a::{…}`) from `s`, appending each full path to `found`;
/// returns how many bytes it read.
fn expand(s: &str, prefix: &mut Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    let s_trim = s.trim_start();
    let mut i = s.len() - s_trim.len();
    let depth = prefix.len();
    loop {
        let t = &s[i..];
        if let Some(inner) = t.strip_prefix('{') {
            i += 1;
            let mut j = 0;
            loop {
                j += expand(&inner[j..], prefix, found);
                let tail = inner[j..].trim_start();
                j = inner.len() - tail.len();
                if let Some(after_comma) = tail.strip_prefix(',') {
                    j += 1;
                    if after_comma.trim_start().starts_with('}') {
                        let t2 = after_comma.trim_start();
                        j = inner.len() - t2.len() + 1;
                        break;
                    }
                } else {
                    j += usize::from(tail.starts_with('}'));
                    break;
                }
            }
            prefix.truncate(depth);
            return i + j;
        }
        let ident_len = t
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '*'))
            .unwrap_or(t.len());
        if ident_len == 0 {
            break;
        }
        prefix.push(t[..ident_len].to_string());
        i += ident_len;
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            break;
        }
    }
    // `a::b as c`: the alias is not part of the path.
    let tail = &s[i..];
    let trimmed = tail.trim_start();
    if let Some(alias) = trimmed.strip_prefix("as ") {
        let alias_trim = alias.trim_start();
        let n = alias_trim
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(alias_trim.len());
        i += tail.len() - alias_trim.len() + n;
    }
    if prefix.len() > depth {
        found.push(prefix.clone());
    }
    prefix.truncate(depth);
    i
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every edge between rows: (from, to) → the files and paths that make it.
fn edges(units: &[String]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        // The binary and the crate root only wire modules together (`mmnotify::…`).
        if rel == Path::new("main.rs") || rel == Path::new("lib.rs") {
            continue;
        }
        let from = unit_of(&module_of(rel), units)
            .unwrap_or_else(|| panic!("src/{} is in no row of the table", rel.display()));
        let code = strip_comments(&std::fs::read_to_string(&file).unwrap());
        let crate_paths = paths(&code, "crate")
            .into_iter()
            .map(|p| p[1..].to_vec())
            .filter(|p| !p.is_empty() && p[0] != "*");
        let clap_paths = paths(&code, "clap").into_iter();
        for path in crate_paths.chain(clap_paths) {
            let Some(to) = unit_of(&path, units) else {
                panic!(
                    "src/{}: crate::{} is in no row",
                    rel.display(),
                    path.join("::")
                );
            };
            if to != from {
                edges.entry((from.clone(), to)).or_default().insert(format!(
                    "src/{}: {}",
                    rel.display(),
                    path.join("::")
                ));
            }
        }
    }
    edges
}

/// A circle among `edges`, if any, as the folders on it.
fn circle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeSet<(String, String)>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut c = stack[at..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for (_, to) in edges.iter().filter(|(f, _)| f == node) {
            if let Some(c) = visit(to, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .iter()
        .find_map(|(from, _)| visit(from, edges, &mut Vec::new(), &mut done))
}

#[test]
fn imports_follow_the_table_in_docs_architecture() {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let rows = rows(&doc);
    let units: Vec<String> = rows.iter().map(|r| r.unit.clone()).collect();
    assert!(
        units.contains(&"clap".to_string()),
        "the table has a `clap` row"
    );
    let allowed: BTreeSet<(String, String)> = rows
        .iter()
        .flat_map(|r| r.may_use.iter().map(|u| (r.unit.clone(), u.clone())))
        .collect();
    for (from, to) in &allowed {
        assert!(
            units.contains(to),
            "row `{from}` may use `{to}`, which is no row"
        );
    }
    let pending: BTreeSet<(String, String)> = table(&doc, "Edges still to remove")
        .into_iter()
        .map(|cells| (names(&cells[0]).remove(0), names(&cells[1]).remove(0)))
        .collect();
    let found = edges(&units);
    for edge in &pending {
        assert!(
            found.contains_key(edge),
            "{} → {} is listed under \"Edges still to remove\" but is gone: strike it",
            edge.0,
            edge.1
        );
    }
    let mut wrong = Vec::new();
    for ((from, to), sites) in &found {
        let edge = (from.clone(), to.clone());
        if !allowed.contains(&edge) && !pending.contains(&edge) {
            let sites: Vec<&str> = sites.iter().map(String::as_str).collect();
            wrong.push(format!("{from} → {to}:\n    {}", sites.join("\n    ")));
        }
    }
    assert!(
        wrong.is_empty(),
        "edges the table in docs/architecture.md does not allow:\n{}",
        wrong.join("\n")
    );
    // Checked on the edges found, and on the table itself, so that the table cannot
    // promise a layering that has a circle in it.
    let found: BTreeSet<(String, String)> =
        found.into_keys().filter(|e| !pending.contains(e)).collect();
    assert_eq!(circle(&found), None, "a circle between folders in src/");
    assert_eq!(circle(&allowed), None, "a circle in the table");
}

#[test]
fn grouped_and_inline_paths_are_read() {
    let code = strip_comments(
        "use crate::{a::b, c::{d, e as f}, g};\n\
         // crate::comment::x\n\
         let x = crate::h::i(\"https://x\"); fn k() -> crate::l::M {}\n\
         use mycrate::n; use crate::o::*;",
    );
    let got: Vec<String> = paths(&code, "crate").iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "crate::a::b",
            "crate::c::d",
            "crate::c::e",
            "crate::g",
            "crate::h::i",
            "crate::l::M",
            "crate::o::*"
        ]
    );
    let units = [
        "gateway/".to_string(),
        "gateway/consumer/".to_string(),
        "error.rs".to_string(),
    ];
    let path = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        unit_of(&path("gateway::consumer::x"), &units).unwrap(),
        "gateway/consumer/"
    );
    assert_eq!(
        unit_of(&path("gateway::store"), &units).unwrap(),
        "gateway/"
    );
    assert_eq!(
        unit_of(&path("error::ExitKind"), &units).unwrap(),
        "error.rs"
    );
    let set = |e: &[(&str, &str)]| {
        e.iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect()
    };
    assert!(circle(&set(&[("a", "b"), ("b", "c"), ("c", "a")])).is_some());
    assert_eq!(circle(&set(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
}
