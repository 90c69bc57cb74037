//! Replays the fuzz targets' inputs on every test run, without libFuzzer: every input a
//! target ever crashed on (`fuzz/regressions/<target>/`, kept once fixed) and the seeds
//! (`fuzz/seeds/<target>/`, the key-policy fixtures, the SAML fixtures, the example config,
//! the event corpus).
//! Each target asserts its own invariants; here a panic fails the test and names the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use idc_guard_core::fuzzing;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("README.md"))
        .collect();
    found.sort();
    found
}

/// Runs `target` on every input, naming the file that fails; returns the count.
fn replay(target: fn(&[u8]), inputs: &[(PathBuf, Vec<u8>)]) -> usize {
    for (path, data) in inputs {
        let result = std::panic::catch_unwind(|| target(data));
        assert!(result.is_ok(), "{} fails its target", path.display());
    }
    inputs.len()
}

fn read_all(dirs: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    dirs.iter()
        .flat_map(|d| files(d))
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn key_policy_inputs() {
    let mut inputs = read_all(&["fuzz/regressions/key_policy"]);
    // The fixtures as the fuzz corpus starts from them: a selector byte, then the policy.
    for path in files("tests/fixtures/key-policy") {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let text = match &doc["policy"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for selector in [0u8, 1] {
            let mut data = vec![selector];
            data.extend_from_slice(text.as_bytes());
            inputs.push((path.clone(), data));
        }
    }
    assert!(replay(fuzzing::key_policy, &inputs) >= 200);
}

#[test]
fn cloudtrail_event_inputs() {
    let inputs = read_all(&[
        "fuzz/seeds/cloudtrail_event",
        "fuzz/regressions/cloudtrail_event",
    ]);
    assert!(replay(fuzzing::cloudtrail_event, &inputs) >= 10);
}

#[test]
fn cloudtrail_records_inputs() {
    let inputs = read_all(&[
        "fuzz/seeds/cloudtrail_records",
        "fuzz/seeds/cloudtrail_event",
        "tests/fixtures/events",
        "fuzz/regressions/cloudtrail_records",
    ]);
    assert!(replay(fuzzing::cloudtrail_records, &inputs) >= 40);
}

#[test]
fn evidence_digest_inputs() {
    let inputs = read_all(&[
        "fuzz/seeds/evidence_digest",
        "fuzz/regressions/evidence_digest",
    ]);
    assert!(replay(fuzzing::evidence_digest, &inputs) >= 4);
}

#[test]
fn finding_message_inputs() {
    let inputs = read_all(&[
        "fuzz/seeds/finding_message",
        "fuzz/regressions/finding_message",
    ]);
    assert!(replay(fuzzing::finding_message, &inputs) >= 5);
}

#[test]
fn saml_metadata_inputs() {
    let inputs = read_all(&[
        "shared/tests/fixtures/saml",
        "fuzz/regressions/saml_metadata",
    ]);
    assert!(replay(fuzzing::saml_metadata, &inputs) >= 4);
}

#[test]
fn config_inputs() {
    let mut inputs = read_all(&["fuzz/regressions/config"]);
    inputs.push((
        root().join("examples/config.toml"),
        std::fs::read(root().join("examples/config.toml")).unwrap(),
    ));
    assert!(replay(fuzzing::config, &inputs) >= 1);
}

#[test]
fn idp_responses_inputs() {
    let inputs = read_all(&["fuzz/seeds/idp_responses", "fuzz/regressions/idp_responses"]);
    assert!(replay(fuzzing::idp_responses, &inputs) >= 6);
}
