//! Snapshot of `render-policy` for the design's example configuration, with and without a
//! delegated administrator and with encryption-context pinning.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use idc_guard_core::config::Config;
use idc_guard_core::model::render::render_policy;
use idc_guard_tests::BASE_CONFIG;

#[test]
fn model_policy_for_the_design_example() {
    let config = Config::from_toml(BASE_CONFIG, "base").unwrap();
    insta::assert_snapshot!("baseline", render_policy(&config));
}

#[test]
fn model_policy_without_delegated_admin_and_with_pinning() {
    let text = BASE_CONFIG.replace(
        "delegated_admin_account_ids = [\"444455556666\"]",
        "delegated_admin_account_ids = []",
    ) + "[policy]\npin_encryption_context = true\n";
    let config = Config::from_toml(&text, "base").unwrap();
    let rendered = render_policy(&config);
    assert!(!rendered.contains("444455556666"));
    insta::assert_snapshot!("pinned_no_delegated_admin", rendered);
}
