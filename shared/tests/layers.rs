//! The module layers of docs/architecture.md, enforced: a module of `idc-guard-core` may use
//! modules of its own layer or of a lower one, never of a higher one. Test code (`#[cfg(test)]`
//! modules) is not counted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer, lowest first (docs/architecture.md).
const LAYERS: &[(&str, u8)] = &[
    // vocabulary
    ("domain", 0),
    ("finding", 0),
    ("config", 0),
    // intake, the model, IdP metadata
    ("intake", 1),
    ("model", 1),
    ("saml", 1),
    ("idp_app", 1),
    // checks and the ports they read
    ("checks", 2),
    ("ports", 2),
    // decisions and what the findings bus feeds
    ("plan", 3),
    ("notify", 3),
    ("evidence", 3),
    ("securityhub", 3),
    // orchestration
    ("guard", 4),
    // adapters
    ("aws", 5),
    ("idp_http", 5),
    // fuzz entry points
    ("fuzzing", 6),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::<module>` names a source uses outside its test module.
fn uses(text: &str) -> BTreeSet<String> {
    module_uses(text, &BTreeSet::new())
}

#[test]
fn no_module_uses_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut unknown = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" {
            continue;
        }
        let Some(own) = layer(&top) else {
            unknown.insert(top);
            continue;
        };
        for used in uses(&fs::read_to_string(path).unwrap()) {
            match layer(&used) {
                Some(l) if l > own => violations.push(format!(
                    "{} (layer {own}) uses crate::{used} (layer {l})",
                    relative.display()
                )),
                Some(_) => {}
                None => {
                    unknown.insert(used);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules without a layer (add them to LAYERS and docs/architecture.md): {unknown:?}"
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_scan_sees_a_use_of_a_higher_layer() {
    let found = uses(
        "use crate::guard::KeyGuard;\nfn f() { crate::aws::x(); }\n#[cfg(test)]\nmod tests { use crate::ports::memory::M; }",
    );
    assert_eq!(
        found,
        BTreeSet::from(["aws".to_owned(), "guard".to_owned()])
    );
    assert!(layer("guard") > layer("checks"));
}

/// The module a file belongs to, two levels deep: `guard/key/remediate.rs` is `guard::key`,
/// `domain/time.rs` is `domain::time`, `guard/mod.rs` is `guard`.
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.truncate(2);
    parts.join("::")
}

/// The two-level modules a source uses (`crate::guard::key::X` is `guard::key` when
/// `guard/key` is one of `modules`, else `guard`), outside its test module.
fn module_uses(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = &code[..i];
        if before.ends_with("_core::") || before.ends_with('$') || before.ends_with("idc_guard_") {
            continue;
        }
        let path: Vec<&str> = code[i + "crate::".len()..]
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or_default()
            .split("::")
            .take(2)
            .collect();
        let two = path.join("::");
        if modules.contains(&two) {
            found.insert(two);
        } else if let Some(top) = path.first().filter(|t| !t.is_empty()) {
            found.insert((*top).to_owned());
        }
    }
    found
}

/// A cycle in `edges`, if there is one (depth-first search).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut done, &mut Vec::new()))
}

/// The module graph of `idc-guard-core`, two levels deep: which module uses which.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| module_of(p.strip_prefix(&src).unwrap()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let own = module_of(path.strip_prefix(&src).unwrap());
        if own == "lib" {
            continue;
        }
        let used = module_uses(&fs::read_to_string(path).unwrap(), &modules);
        let entry = edges.entry(own.clone()).or_default();
        // A module's own parent (its `mod.rs`: shared errors, re-exports) is not an edge
        // back to it; neither is the module itself.
        let parent = own.split("::").next().unwrap_or_default().to_owned();
        entry.extend(used.into_iter().filter(|u| *u != own && *u != parent));
    }
    edges
}

#[test]
fn no_module_cycle() {
    let edges = module_graph();
    // The scan sees the edges that are there: region-guard runs the key enforcer.
    assert!(edges["guard::region"].contains("guard::key"));
    assert!(edges["guard::key"].contains("domain::time"));
    assert_eq!(find_cycle(&edges), None);
}

#[test]
fn the_cycle_search_finds_a_cycle() {
    let edge = |a: &str, b: &str| (a.to_owned(), BTreeSet::from([b.to_owned()]));
    let cyclic = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(
        find_cycle(&cyclic).map(|c| c.len()),
        Some(4),
        "a -> b -> c -> a"
    );
    let acyclic = BTreeMap::from([edge("a", "b"), edge("b", "c")]);
    assert_eq!(find_cycle(&acyclic), None);
}
