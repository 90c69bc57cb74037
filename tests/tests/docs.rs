//! The documentation explains itself: every relative link in the README and `docs/` reaches a
//! file of the repository (and, for a Markdown file, a heading of it), and no doc or comment
//! sends the reader to a document the repository does not have.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The files of the repository with one of `extensions`, build output and installs left out.
fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".venv" | ".git" | "node_modules") {
                files(&path, extensions, out);
            }
        } else if extensions
            .iter()
            .any(|e| name.ends_with(&format!(".{e}")) || name == *e)
        {
            out.push(path);
        }
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines outside fenced code blocks.
fn prose_lines(markdown: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    markdown.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    prose_lines(markdown)
        .filter(|line| line.starts_with('#'))
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// The targets of the inline links `[text](target)` outside code.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(markdown) {
        // Inline code may hold anything, `[x](y)` included.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_reaches_a_file_and_a_heading() {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    files(&root.join("docs"), &["md"], &mut docs);
    assert!(docs.len() > 10, "the scan found the docs: {docs:?}");
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = fs::read_to_string(doc).unwrap_or_default();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match link.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap_or(&root).join(path)
            };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", doc.display()));
                continue;
            }
            if let Some(fragment) = fragment
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&fs::read_to_string(&target).unwrap_or_default()).contains(fragment)
            {
                broken.push(format!("{}: {link}: no such heading", doc.display()));
            }
        }
    }
    assert!(checked > 50, "the scan found the links: {checked}");
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn nothing_points_to_a_document_outside_the_repository() {
    let root = root();
    let mut all = Vec::new();
    files(
        &root,
        &["md", "rs", "toml", "yaml", "sh", "py", "Makefile"],
        &mut all,
    );
    // Written split so this file does not name them itself.
    let outside = [
        ["design", " §"].concat(),
        ["design", ".md"].concat(),
        ["hand", "book"].concat(),
        ["aws-", "facts.md"].concat(),
        ["style", ".md"].concat(),
    ];
    let mut found = Vec::new();
    for path in &all {
        let text = fs::read_to_string(path).unwrap_or_default().to_lowercase();
        for pattern in &outside {
            if text.contains(pattern.as_str()) {
                found.push(format!("{}: {pattern}", path.display()));
            }
        }
    }
    assert!(all.len() > 100, "the scan found the sources: {}", all.len());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_link_reader_sees_links_and_headings() {
    assert_eq!(
        links("See [a](b.md#c) and `[x](y)`, then [d](#e).\n```\n[f](g)\n```"),
        ["b.md#c", "#e"]
    );
    assert!(
        anchors("# Where to start reading\n## 9. Budgets (and limits)")
            .contains("9-budgets-and-limits")
    );
    assert!(anchors("## Where to start").contains("where-to-start"));
}
