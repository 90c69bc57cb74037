//! Data-driven key-policy cases: each file in `fixtures/key-policy/` holds a policy, config
//! overrides and the exact set of failing checks expected in every enabled Region.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use idc_guard_core::checks::key_policy::check_key_policy;
use idc_guard_tests::{config_with, key_policy_fixture_files};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[allow(dead_code)]
    source: String,
    #[serde(default)]
    config: serde_json::Value,
    /// The policy as a JSON document.
    #[serde(default)]
    policy: Option<serde_json::Value>,
    /// Or the exact text (malformed documents, duplicate keys, size).
    #[serde(default)]
    policy_text: Option<String>,
    /// Region -> failing check ids. Every enabled Region must be listed.
    expect: BTreeMap<String, BTreeSet<String>>,
}

/// Cases the checks do not get right yet, each with the reason. The test fails when one of them
/// starts passing, so the list cannot go stale. It is empty: the analysis decides every case.
const KNOWN_GAPS: [(&str, &str); 0] = [];

#[test]
fn every_fixture_case_yields_exactly_the_expected_failures() {
    let files = key_policy_fixture_files();
    assert!(files.len() >= 40, "only {} fixture cases", files.len());
    let mut mismatches = Vec::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let case: Case = serde_json::from_str(&fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = config_with(&case.config).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = match (&case.policy, &case.policy_text) {
            (Some(p), None) => serde_json::to_string_pretty(p).unwrap(),
            (None, Some(t)) => t.clone(),
            _ => panic!("{name}: give exactly one of policy / policy_text"),
        };
        let expected_regions: BTreeSet<&String> = case.expect.keys().collect();
        let config_regions: BTreeSet<&String> = config.regions.iter().collect();
        assert_eq!(
            expected_regions, config_regions,
            "{name}: expect must list every enabled Region"
        );
        let report = check_key_policy(&config, &text);
        let mut got: BTreeMap<String, BTreeSet<String>> = config
            .regions
            .iter()
            .map(|r| (r.clone(), BTreeSet::new()))
            .collect();
        for f in report.problems() {
            got.entry(f.region.clone())
                .or_default()
                .insert(f.check.to_string());
        }
        for checks in case.expect.values() {
            covered.extend(checks.iter().cloned());
        }
        let known_gap = KNOWN_GAPS.iter().find(|(n, _)| *n == name);
        if let Some((_, why)) = known_gap {
            assert_ne!(
                got, case.expect,
                "{name} now passes: remove it from KNOWN_GAPS ({why})"
            );
            continue;
        }
        if got != case.expect {
            let detail: Vec<String> = report
                .problems()
                .map(|f| format!("    {} {}: {}", f.region, f.check, f.message))
                .collect();
            mismatches.push(format!(
                "{name} ({})\n  expected {:?}\n  got      {:?}\n{}",
                case.description,
                case.expect,
                got,
                detail.join("\n")
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
    for check in [
        "KP-ADMIN",
        "KP-SERVICE-DESCRIBE",
        "KP-SERVICE-USE",
        "KP-ORG-VIA-SERVICE",
        "KP-MANAGED-APPS",
        "KP-EXTERNAL-ACCESS",
        "KP-UNEXPECTED-ADMIN",
        "KP-BROADER-THAN-MODEL",
        "KP-INVALID",
    ] {
        assert!(covered.contains(check), "no fixture case fails {check}");
    }
}
