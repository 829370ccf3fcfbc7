//! The allowed dependency picture (docs/ARCHITECTURE.md, issue #15), checked from the source.
//! An edge is every `crate::<module>` path (and every name in a `use crate::{…}` group) in any
//! file of a top-level module of `src/`, comments aside: handlers, extractors, `state` and test
//! modules count like everything else (the same definition as `shared/hooks/module_cycles.py`).
//!
//! - no import cycle between top-level modules;
//! - machinery (db, entities, error, events, state, …) imports only machinery;
//! - the platform (access, jobs, health) imports only machinery and itself;
//! - no feature imports the top: the web app, start-up, the CLI, the OpenAPI document, the
//!   HTTP guard;
//! - no feature's logic imports an HTTP edge (another module's `routes`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The bottom layer: process-wide handles and shared plumbing, no feature.
const MACHINERY: &[&str] = &[
    "config",
    "db",
    "directory",
    "domain",
    "entities",
    "error",
    "events",
    "ids",
    "json",
    "metrics",
    "pagination",
    "ratelimit",
    "secrets",
    "state",
    "telemetry",
];

/// Above machinery, below every feature: who is calling, the job queue, health.
const PLATFORM: &[&str] = &["access", "health", "jobs"];

/// The top: composition (the router, the CLI, start-up) and the web app.
const TOP: &[&str] = &["cli", "http_guard", "lib", "main", "openapi", "startup", "web"];

/// A feature's HTTP edge: its handlers.
fn is_edge(src: &Path, file: &Path) -> bool {
    let rel = file.strip_prefix(src).unwrap_or(file);
    rel.file_name().is_some_and(|n| n == "routes.rs") || rel.components().any(|c| c.as_os_str() == "routes")
}

fn modules(src: &Path) -> BTreeMap<String, Vec<std::path::PathBuf>> {
    let mut out: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            let mut files = Vec::new();
            let mut stack = vec![p];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let f = e.unwrap().path();
                    if f.is_dir() {
                        stack.push(f);
                    } else if f.extension().is_some_and(|x| x == "rs") {
                        files.push(f);
                    }
                }
            }
            out.entry(name).or_default().extend(files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.entry(name).or_default().push(p);
        }
    }
    out
}

/// `crate::x` references of a file, comments left out; `use crate::{a, b::c}` counts `a` and `b`.
fn references(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: the first segment of each top-level item.
            let body = &group[..group.find("};").unwrap_or(group.len())];
            let (mut depth, mut at_item) = (0usize, true);
            for (j, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth = depth.saturating_sub(1),
                    ',' if depth == 0 => at_item = true,
                    c if at_item && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&body[j..]));
                        at_item = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module-level imports of the files `which` selects (logic or edge files).
fn graph_of(which: impl Fn(&Path) -> bool) -> BTreeMap<String, BTreeSet<String>> {
    let src = src();
    let mods = modules(&src);
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, files) in &mods {
        let e = g.entry(m.clone()).or_default();
        for f in files.iter().filter(|f| which(f)) {
            for r in references(&std::fs::read_to_string(f).unwrap()) {
                if r != *m && names.contains(&r) {
                    e.insert(r);
                }
            }
        }
    }
    g
}

/// Imports of every top-level module, all its files.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    graph_of(|_| true)
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(nodes: &BTreeSet<String>, g: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        nodes: &'a BTreeSet<String>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    fn visit(t: &mut T<'_>, v: &str) {
        t.index.insert(v.into(), t.next);
        t.low.insert(v.into(), t.next);
        t.next += 1;
        t.stack.push(v.into());
        t.on.insert(v.into());
        let succ: Vec<String> =
            t.g.get(v).map(|s| s.iter().filter(|w| t.nodes.contains(*w)).cloned().collect()).unwrap_or_default();
        for w in succ {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let l = t.low[&w].min(t.low[v]);
                t.low.insert(v.into(), l);
            } else if t.on.contains(&w) {
                let l = t.index[&w].min(t.low[v]);
                t.low.insert(v.into(), l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut c = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                let done = w == v;
                c.insert(w);
                if done {
                    break;
                }
            }
            if c.len() > 1 {
                t.out.push(c);
            }
        }
    }
    let mut t = T {
        g,
        nodes,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for n in nodes {
        if !t.index.contains_key(n) {
            visit(&mut t, n);
        }
    }
    t.out
}

fn features(g: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    g.keys().filter(|m| ![MACHINERY, PLATFORM, TOP].iter().any(|layer| layer.contains(&m.as_str()))).cloned().collect()
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph();
    let all: BTreeSet<String> = g.keys().cloned().collect();
    let found = cycles(&all, &g);
    let shown: Vec<String> = found.iter().map(|c| format!("{c:?} (edges: {:?})", edges_within(&g, c))).collect();
    assert!(found.is_empty(), "import cycles between top-level modules:\n{}", shown.join("\n"));
}

#[test]
fn every_module_is_placed_in_a_layer_and_the_lists_name_real_modules() {
    let g = graph();
    for m in MACHINERY.iter().chain(PLATFORM).chain(TOP) {
        assert!(g.contains_key(*m) || ["lib", "main"].contains(m), "`{m}` is listed but is not a module");
    }
    // The features are what is left; a new machinery module has to be listed to count as one.
    assert!(features(&g).len() >= 20, "features: {:?}", features(&g));
}

#[test]
fn machinery_imports_only_machinery() {
    let g = graph();
    for m in MACHINERY {
        let bad: Vec<&String> = g.get(*m).into_iter().flatten().filter(|d| !MACHINERY.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "machinery `{m}` imports {bad:?}");
    }
}

#[test]
fn the_platform_imports_only_machinery_and_itself() {
    let g = graph();
    for m in PLATFORM {
        let bad: Vec<&String> =
            g[*m].iter().filter(|d| !MACHINERY.contains(&d.as_str()) && !PLATFORM.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "platform `{m}` imports {bad:?}");
    }
}

#[test]
fn no_feature_imports_the_top() {
    let g = graph();
    for f in features(&g) {
        let bad: Vec<&String> = g[&f].iter().filter(|d| TOP.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "feature `{f}` imports {bad:?}");
    }
}

#[test]
fn the_reference_reader_sees_paths_and_groups_but_not_comments() {
    let r = references("use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h(); // crate::nope\n");
    assert_eq!(r, ["a", "c", "d", "g"].into_iter().map(String::from).collect());
}

#[test]
fn no_feature_logic_imports_an_http_edge() {
    let src = src();
    let mut bad = Vec::new();
    for (m, files) in modules(&src) {
        if TOP.contains(&m.as_str()) {
            continue;
        }
        for f in files.iter().filter(|f| !is_edge(&src, f)) {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            for line in code.lines().map(|l| l.split("//").next().unwrap_or("")) {
                let edge = ["::routes::"].iter().any(|e| {
                    line.match_indices(e).any(|(i, _)| {
                        let before = &line[..i];
                        // `crate::x::routes::…`, `super::routes::…`.
                        before.ends_with("super")
                            || before
                                .rsplit("crate::")
                                .next()
                                .is_some_and(|p| line[..i].contains("crate::") && !p.contains(' ') && !p.contains('('))
                    })
                });
                if edge {
                    bad.push(format!("{}: {}", f.strip_prefix(&src).unwrap().display(), line.trim()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "feature logic importing an HTTP edge (handlers, extractors):\n{}", bad.join("\n"));
}

fn edges_within(g: &BTreeMap<String, BTreeSet<String>>, c: &BTreeSet<String>) -> Vec<String> {
    c.iter().flat_map(|m| g[m].iter().filter(|d| c.contains(*d)).map(move |d| format!("{m}->{d}"))).collect()
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    // The detector itself: a deliberately added back edge (usage -> messages, while messages
    // records usage) is found as a cycle in the real graph.
    let mut g = graph();
    assert!(g["messages"].contains("usage"), "the premise: messages imports usage");
    g.entry("usage".into()).or_default().insert("messages".into());
    let all: BTreeSet<String> = g.keys().cloned().collect();
    let found = cycles(&all, &g);
    assert!(
        found.iter().any(|c| c.contains("usage") && c.contains("messages")),
        "the added cycle was not detected: {found:?}"
    );
}
