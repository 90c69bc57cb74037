//! Differential test: the analysis against the probe list it replaced
//! (`idc_guard_tests::probes`, the old model). Everything the probes find, the analysis finds
//! too: wherever a must-deny probe is allowed for certain, the check it belongs to fails in that
//! Region. It
//! runs over the fixture suite and over generated policies whose conditions compare each key as
//! AWS types it. (The old probes read some keys more loosely than AWS documents them: a tag on a
//! service principal, an address key holding any text, an always-present key absent. There the
//! analysis follows the documentation, and the sampling test in analysis_soundness.rs checks
//! it.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use idc_guard_core::checks::key_policy::check_key_policy;
use idc_guard_core::config::Config;
use idc_guard_policy::document::{KeyPolicy, parse_key_policy};
use idc_guard_policy::eval::{Reading, evaluate};
use idc_guard_policy::request::AccessRequest;
use idc_guard_tests::policy_gen::{Rng, random_typed_policy, seed};
use idc_guard_tests::probes::{ModelBuilder, named_in};
use idc_guard_tests::{BASE_CONFIG, config_with, key_policy_fixture_files};

/// (Region, check) pairs a must-deny probe shows failing, with one such probe each.
fn found_by_probes(config: &Config, policy: &KeyPolicy) -> BTreeMap<(String, String), String> {
    let named = named_in(policy);
    let mut out = BTreeMap::new();
    for region in &config.regions {
        let resource = config.key_arn_in(region);
        for probe in ModelBuilder::new(config, region, &named).build() {
            if probe.must_allow {
                continue;
            }
            let allowed = probe.actions.names().any(|a| {
                let r = AccessRequest {
                    caller: probe.caller.clone(),
                    action: a.to_owned(),
                    resource: resource.clone(),
                    context: probe.context.clone(),
                };
                // Allowed for certain: an Unknown the old probes met where a key was open is a
                // maybe, not a request that gets in (two conditions on one open key could not
                // both hold, for instance); the analysis decides those exactly.
                evaluate(policy, &r, Reading::GrantsLeast).is_allowed()
            });
            if allowed {
                out.entry((region.clone(), probe.check.id().to_owned()))
                    .or_insert_with(|| {
                        format!(
                            "{} {:?} {:?}",
                            probe.who.label, probe.actions, probe.context
                        )
                    });
            }
        }
    }
    out
}

fn found_by_analysis(config: &Config, text: &str) -> BTreeSet<(String, String)> {
    check_key_policy(config, text)
        .problems()
        .map(|f| (f.region.clone(), f.check.to_string()))
        .collect()
}

fn compare(name: &str, config: &Config, text: &str, checked: &mut usize, probe_hits: &mut usize) {
    let Some(policy) = parse_key_policy(text).policy else {
        return;
    };
    let probes = found_by_probes(config, &policy);
    let analysis = found_by_analysis(config, text);
    *checked += 1;
    *probe_hits += probes.len();
    let missed: Vec<_> = probes
        .iter()
        .filter(|(k, _)| !analysis.contains(*k))
        .collect();
    assert!(
        missed.is_empty(),
        "{name}: the probes find {missed:#?}, the analysis does not\n{}",
        text.get(text.find("AllowManagedApps").unwrap_or(0)..)
            .unwrap_or(text)
    );
}

#[test]
fn everything_the_probes_find_in_the_fixtures_the_analysis_finds_too() {
    let files = key_policy_fixture_files();
    let (mut checked, mut hits) = (0, 0);
    for path in &files {
        let case: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        let config = config_with(&case["config"]).unwrap();
        let text = match (&case.get("policy"), &case.get("policy_text")) {
            (Some(p), _) => serde_json::to_string_pretty(p).unwrap(),
            (_, Some(t)) => t.as_str().unwrap().to_owned(),
            _ => continue,
        };
        compare(
            &path.display().to_string(),
            &config,
            &text,
            &mut checked,
            &mut hits,
        );
    }
    assert!(
        checked >= 80 && hits >= 30,
        "{checked} policies, {hits} probe hits"
    );
}

#[test]
fn everything_the_probes_find_in_generated_policies_the_analysis_finds_too() {
    let config = Config::from_toml(BASE_CONFIG, "base").unwrap();
    let mut rng = Rng(seed(0x5eed_0004));
    let (mut checked, mut hits) = (0, 0);
    for case in 0..80 {
        let (text, _) = random_typed_policy(&mut rng, &config);
        compare(
            &format!("generated case {case}"),
            &config,
            &text,
            &mut checked,
            &mut hits,
        );
    }
    assert!(hits >= 40, "{checked} policies, {hits} probe hits");
}
