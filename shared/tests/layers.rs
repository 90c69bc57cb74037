//! The module layers of docs/architecture.md, enforced: a module of `idc-guard-core` may use
//! modules of its own layer or of a lower one, never of a higher one. Test code (`#[cfg(test)]`
//! modules) is not counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer, lowest first (docs/architecture.md).
const LAYERS: &[(&str, u8)] = &[
    // vocabulary
    ("finding", 0),
    ("time", 0),
    ("regions", 0),
    ("config", 0),
    ("arn", 0),
    // intake and the model
    ("event", 1),
    ("key_event", 1),
    ("instance_event", 1),
    ("model", 1),
    ("render", 1),
    ("urls", 1),
    ("saml", 1),
    // checks and the ports they read
    ("checks", 2),
    ("ports", 2),
    ("live", 2),
    // decisions and delivery
    ("repair", 3),
    ("plan", 3),
    ("notify", 3),
    ("evidence", 3),
    // orchestration
    ("guard", 4),
    ("change", 4),
    ("region_guard", 4),
    ("idp_guard", 4),
    ("audit", 4),
    ("sweep", 4),
    // adapters and test doubles
    ("aws", 5),
    ("local", 5),
    ("memory", 5),
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
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `idc_guard_core::...` and `$crate::` are not this crate's paths.
        let before = &code[..i];
        if before.ends_with("_core::") || before.ends_with('$') || before.ends_with("idc_guard_") {
            continue;
        }
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
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
        "use crate::guard::KeyGuard;\nfn f() { crate::aws::x(); }\n#[cfg(test)]\nmod tests { use crate::memory::M; }",
    );
    assert_eq!(
        found,
        BTreeSet::from(["aws".to_owned(), "guard".to_owned()])
    );
    assert!(layer("guard") > layer("checks"));
}
