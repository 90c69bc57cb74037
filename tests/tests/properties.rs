//! Property tests of the model and checks: the rendered policy always passes, any grant to an
//! outsider is always caught, any missing baseline statement is always caught, and the parser
//! never panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use idc_guard_core::checks::key_policy::check_key_policy;
use idc_guard_core::config::Config;
use idc_guard_core::domain::regions::DEFAULT_SUPPORTED_REGIONS;
use idc_guard_core::finding::Status;
use idc_guard_core::model::render::{model_policy, render_policy};
use idc_guard_policy::document::parse_key_policy;
use proptest::prelude::*;
use serde_json::{Value, json};

fn account() -> impl Strategy<Value = String> {
    "[1-9][0-9]{11}"
}

prop_compose! {
    fn config()(
        mgmt in account(),
        delegated in prop::collection::vec(account(), 0..3),
        org in "o-[a-z0-9]{10,12}",
        ins in "[0-9a-f]{16}",
        store in "[0-9a-f]{10}",
        regions in prop::sample::subsequence(DEFAULT_SUPPORTED_REGIONS.to_vec(), 1..=17),
        primary_pick in any::<prop::sample::Index>(),
        pin in any::<bool>(),
        key_admins in prop::collection::vec((account(), "[A-Za-z][A-Za-z0-9_]{0,20}"), 0..3),
        key in "[0-9a-f]{32}",
    ) -> Config {
        let primary = regions[primary_pick.index(regions.len())];
        let delegated: Vec<String> = delegated.into_iter().filter(|d| *d != mgmt).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let admins: Vec<String> = key_admins.iter().map(|(a, n)| format!("arn:aws:iam::{a}:role/{n}")).collect();
        let text = format!(
            r#"instance_arn = "arn:aws:sso:::instance/ssoins-{ins}"
identity_store_id = "d-{store}"
management_account_id = "{mgmt}"
delegated_admin_account_ids = {delegated:?}
organization_id = "{org}"
primary_region = "{primary}"
regions = {regions:?}
key_arn = "arn:aws:kms:{primary}:{mgmt}:key/mrk-{key}"
identity_source = "external-idp"
[policy]
pin_encryption_context = {pin}
key_admin_principals = {admins:?}
"#
        );
        Config::from_toml(&text, "generated").unwrap()
    }
}

fn failing_checks_by_region(config: &Config, policy: &Value) -> Vec<(String, String)> {
    let report = check_key_policy(config, &policy.to_string());
    report
        .problems()
        .map(|f| (f.region.clone(), f.check.to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_rendered_policy_always_passes(config in config()) {
        let report = check_key_policy(&config, &render_policy(&config));
        let problems: Vec<String> = report.problems().map(|f| f.message.clone()).collect();
        prop_assert!(report.compliant(), "{problems:#?}");
    }

    #[test]
    fn removing_any_baseline_statement_is_caught(config in config(), index in 0usize..5) {
        let mut policy = model_policy(&config);
        policy["Statement"].as_array_mut().unwrap().remove(index);
        let failing = failing_checks_by_region(&config, &policy);
        let expected = ["KP-ADMIN", "KP-SERVICE-DESCRIBE", "KP-SERVICE-USE", "KP-ORG-VIA-SERVICE", "KP-MANAGED-APPS"][index];
        for region in &config.regions {
            prop_assert!(
                failing.iter().any(|(r, c)| r == region && c == expected),
                "removing statement {index} not caught as {expected} in {region}: {failing:?}"
            );
        }
    }

    #[test]
    fn a_grant_to_an_outsider_is_always_caught(
        config in config(),
        outsider in account(),
        principal_form in 0usize..6,
        action in prop::sample::select(vec![
            json!("kms:Decrypt"), json!("KMS:DECRYPT"), json!("kms:decrypt"), json!("kms:De*"),
            json!("kms:Encrypt"), json!("kms:encrypt"), json!("kms:GenerateDataKey"), json!("kms:generatedatakey*"),
            json!("kms:Gen*"), json!("kms:CreateGrant"), json!("kms:CreateGr?nt"), json!("kms:*"), json!("*"),
            json!(["kms:Describe*", "kms:ReEncrypt*"]),
        ]),
        not_action in any::<bool>(),
        harmless_condition in any::<bool>(),
    ) {
        prop_assume!(outsider != config.management_account_id && !config.delegated_admin_account_ids.contains(&outsider));
        let principal = match principal_form {
            0 => json!("*"),
            1 => json!({"AWS": "*"}),
            2 => json!({"AWS": outsider}),
            3 => json!({"AWS": format!("arn:aws:iam::{outsider}:root")}),
            4 => json!({"AWS": format!("arn:aws:iam::{outsider}:role/Partner")}),
            _ => json!({"AWS": [format!("arn:aws:iam::{outsider}:user/ops/alice"), format!("arn:aws:iam::{}:root", config.management_account_id)]}),
        };
        let mut statement = json!({"Sid": "Added", "Effect": "Allow", "Principal": principal, "Resource": "*"});
        if not_action {
            statement["NotAction"] = json!(["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]);
        } else {
            statement["Action"] = action;
        }
        if harmless_condition {
            statement["Condition"] = json!({"Bool": {"aws:SecureTransport": "true"}});
        }
        let mut policy = model_policy(&config);
        policy["Statement"].as_array_mut().unwrap().push(statement);
        let failing = failing_checks_by_region(&config, &policy);
        for region in &config.regions {
            prop_assert!(
                failing.iter().any(|(r, c)| r == region && c == "KP-EXTERNAL-ACCESS"),
                "not caught in {region}: {failing:?}"
            );
        }
    }

    /// Any text gives a policy, or problems that say what and where; never both nothing
    /// and no reason, never a problem without words.
    #[test]
    fn the_parser_reads_any_bytes_or_says_where_and_why(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let parsed = parse_key_policy(&text);
        if parsed.policy.is_none() {
            prop_assert!(parsed.problems.iter().any(|p| p.fatal), "no policy and no fatal problem");
        }
        for p in &parsed.problems {
            prop_assert!(!p.message.trim().is_empty(), "a problem without a message at {}", p.place());
            prop_assert!(!p.place().is_empty());
        }
    }

    #[test]
    fn the_parser_and_checks_never_panic_on_json(doc in arbitrary_policy_json()) {
        let text = doc.to_string();
        let parsed = parse_key_policy(&text);
        if parsed.policy.is_none() {
            prop_assert!(parsed.problems.iter().any(|p| p.fatal));
        }
        let config = Config::from_toml(idc_guard_tests::BASE_CONFIG, "base").unwrap();
        let report = check_key_policy(&config, &text);
        // A document that cannot be evaluated fails KP-INVALID in every Region and nothing is
        // said of what it grants; otherwise every KP check is judged in every Region: it
        // passes once, or fails at least once.
        for region in &config.regions {
            if parsed.policy.is_none() {
                prop_assert!(report.findings.iter().any(|f| &f.region == region
                    && f.check == idc_guard_core::checks::CheckId::KpInvalid
                    && f.status == Status::Fail));
                continue;
            }
            for &check in idc_guard_core::checks::CheckId::KEY_POLICY {
                let of: Vec<_> = report
                    .findings
                    .iter()
                    .filter(|f| &f.region == region && f.check == check)
                    .collect();
                let passes = of.iter().filter(|f| f.status == Status::Pass).count();
                prop_assert!(
                    (passes == 1 && of.len() == 1) || (passes == 0 && !of.is_empty()),
                    "{check} in {region}: {of:?}"
                );
            }
        }
        // A document with problems is never compliant.
        if !parsed.problems.is_empty() {
            prop_assert!(!report.compliant());
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "*",
            "kms:*",
            "Allow",
            "Deny",
            "${aws:ResourceAccount}",
            "arn:aws:iam::111122223333:root",
            "sso.amazonaws.com",
            "",
            "2012-10-17"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "Version",
                        "Statement",
                        "Effect",
                        "Principal",
                        "AWS",
                        "Service",
                        "Action",
                        "NotAction",
                        "Resource",
                        "Condition",
                        "StringEquals",
                        "ForAnyValue:StringLike",
                        "Null",
                        "Sid",
                        "x",
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn arbitrary_policy_json() -> impl Strategy<Value = Value> {
    (prop::collection::vec(arbitrary_json(), 0..4), any::<bool>()).prop_map(
        |(statements, version)| {
            let mut doc = json!({"Statement": statements});
            if version {
                doc["Version"] = json!("2012-10-17");
            }
            doc
        },
    )
}
