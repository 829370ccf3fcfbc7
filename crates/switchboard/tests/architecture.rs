//! The allowed dependency picture (docs/ARCHITECTURE.md, issue #15), checked from the source:
//! every `crate::<module>` path in `src/` (comments and test modules aside) is an edge between
//! two top-level modules.
//!
//! - machinery (db, entities, error, events, metrics, …) imports no feature and nothing above;
//! - each feature's HTTP edge (its `routes.rs`, and `auth/extract.rs`, the extractors) sits on
//!   top with the web layer: it may call any feature, and no feature's logic imports it;
//! - no feature imports the web layer, the webhook endpoint, start-up or the CLI;
//! - features' logic forms no import cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The bottom layer: no feature, no top module.
const MACHINERY: &[&str] = &[
    "config",
    "db",
    "entities",
    "error",
    "events",
    "ids",
    "json",
    "metrics",
    "pagination",
    "ratelimit",
    "secrets",
    "telemetry",
];

/// The top: composition (the router, the CLI, the application state) and the edges (the web
/// app, Meta's webhook endpoint and its processing orchestration).
const TOP: &[&str] = &["cli", "lib", "main", "startup", "state", "web", "webhooks", "openapi", "http_guard"];

/// A feature's HTTP edge: handlers and extractors, above every feature's logic.
fn is_edge(src: &Path, file: &Path) -> bool {
    let rel = file.strip_prefix(src).unwrap_or(file);
    rel.file_name().is_some_and(|n| n == "routes.rs")
        || rel.components().any(|c| c.as_os_str() == "routes")
        || rel == Path::new("auth/extract.rs")
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

/// `crate::x` references of a file, comments and `#[cfg(test)] mod tests` left out.
fn references(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
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

/// Imports of every module's logic (HTTP edge files left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src();
    graph_of(|f| !is_edge(&src, f))
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
    g.keys().filter(|m| !MACHINERY.contains(&m.as_str()) && !TOP.contains(&m.as_str())).cloned().collect()
}

#[test]
fn machinery_imports_no_feature_and_nothing_above() {
    let g = graph();
    for m in MACHINERY {
        let bad: Vec<&String> = g.get(*m).into_iter().flatten().filter(|d| !MACHINERY.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "machinery `{m}` imports {bad:?}");
    }
}

#[test]
fn no_feature_imports_the_web_layer_or_the_webhook_endpoint() {
    // Neither a feature's logic nor its HTTP edge.
    let g = graph_of(|_| true);
    for f in features(&g) {
        let bad: Vec<&String> = g[&f]
            .iter()
            .filter(|d| ["web", "webhooks", "startup", "cli", "openapi", "http_guard"].contains(&d.as_str()))
            .collect();
        assert!(bad.is_empty(), "feature `{f}` imports {bad:?}");
    }
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
                let edge = ["::routes::", "::extract::"].iter().any(|e| {
                    line.match_indices(e).any(|(i, _)| {
                        let before = &line[..i];
                        // `crate::x::routes::…`, `super::routes::…`; not axum's `extract`.
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

#[test]
fn features_form_no_import_cycle() {
    let g = graph();
    let found = cycles(&features(&g), &g);
    let shown: Vec<String> = found.iter().map(|c| format!("{c:?} (edges: {:?})", edges_within(&g, c))).collect();
    assert!(found.is_empty(), "import cycles between features:\n{}", shown.join("\n"));
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
    let found = cycles(&features(&g), &g);
    assert!(
        found.iter().any(|c| c.contains("usage") && c.contains("messages")),
        "the added cycle was not detected: {found:?}"
    );
}
