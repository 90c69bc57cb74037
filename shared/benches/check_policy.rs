//! `check-policy` cost: the AWS baseline with a 17-Region configuration, and a policy with 100
//! application statements naming 100 accounts. Run with `make bench`; medians are in
//! target/criterion/<name>/new/estimates.json.
//!
//! The checker for a configuration is built once, as each Lambda builds it at init; the
//! `_cold` cases build it inside the measured call (as a one-off `check_key_policy` does).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use idc_guard_core::checks::key_policy::{KeyPolicyChecker, check_key_policy};
use idc_guard_core::config::Config;
use idc_guard_core::domain::regions::DEFAULT_SUPPORTED_REGIONS;
use idc_guard_core::model::render::{model_policy, render_policy};
use serde_json::json;

fn config_17_regions() -> Config {
    let text = format!(
        r#"instance_arn = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
identity_store_id = "d-1234567890"
management_account_id = "111122223333"
delegated_admin_account_ids = ["444455556666"]
organization_id = "o-a1b2c3d4e5"
primary_region = "us-east-1"
regions = {:?}
key_arn = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
identity_source = "external-idp"
"#,
        DEFAULT_SUPPORTED_REGIONS
    );
    match Config::from_toml(&text, "bench") {
        Ok(c) => c,
        Err(e) => unreachable!("bench config: {e}"),
    }
}

// The binaries' allocator (the Lambdas and the CLI use it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The baseline with 100 realistic application statements (a role of each of 100 member
/// accounts decrypting via S3 under its bucket's encryption context): 37 KB.
fn policy_100_apps(config: &Config) -> String {
    let mut doc = model_policy(config);
    for i in 0..100u64 {
        if let Some(statements) = doc.get_mut("Statement").and_then(|s| s.as_array_mut()) {
            statements.push(json!({
                "Sid": format!("AllowApp{i}ViaS3"),
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:role/app-{i}", 210_987_654_000u64 + i)},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5", "kms:ViaService": "s3.us-east-1.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": format!("arn:aws:s3:::app-{i}-bucket/*")}
                }
            }));
        }
    }
    doc.to_string()
}

fn bench(c: &mut Criterion) {
    let config = config_17_regions();
    let checker = KeyPolicyChecker::new(&config);
    let baseline = render_policy(&config);
    let apps = policy_100_apps(&config);
    c.bench_function("check_policy/baseline_17_regions", |b| {
        b.iter(|| checker.check_text(black_box(&baseline)))
    });
    c.bench_function("check_policy/100_app_statements_17_regions", |b| {
        b.iter(|| checker.check_text(black_box(&apps)))
    });
    c.bench_function("check_policy/baseline_17_regions_cold", |b| {
        b.iter(|| check_key_policy(black_box(&config), black_box(&baseline)))
    });
    c.bench_function("check_policy/100_app_statements_17_regions_cold", |b| {
        b.iter(|| check_key_policy(black_box(&config), black_box(&apps)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
