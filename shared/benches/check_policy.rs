//! `check-policy` cost: the AWS baseline with a 17-Region configuration, and a 30 KB policy.
//! Run with `make bench`; medians are in target/criterion/<name>/new/estimates.json.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use idc_guard_core::checks::key_policy::check_key_policy;
use idc_guard_core::config::Config;
use idc_guard_core::regions::DEFAULT_SUPPORTED_REGIONS;
use idc_guard_core::render::{model_policy, render_policy};
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

/// The baseline padded with realistic application statements (roles of member accounts
/// decrypting via S3 with conditions) to about 30 KB.
fn policy_30kb(config: &Config) -> String {
    let mut doc = model_policy(config);
    let mut i = 0;
    while doc.to_string().len() < 30 * 1024 {
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
        i += 1;
    }
    doc.to_string()
}

fn bench(c: &mut Criterion) {
    let config = config_17_regions();
    let baseline = render_policy(&config);
    c.bench_function("check_policy/baseline_17_regions", |b| {
        b.iter(|| check_key_policy(black_box(&config), black_box(&baseline)))
    });
    let big = policy_30kb(&config);
    c.bench_function("check_policy/30kb_policy_17_regions", |b| {
        b.iter(|| check_key_policy(black_box(&config), black_box(&big)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
