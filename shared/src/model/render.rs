//! The model key policy: the AWS baseline for an Identity Center customer managed key
//! (user guide `baseline-KMS-key-policy.html`), built from the configuration.

use serde_json::{Value, json};

use crate::config::Config;
use idc_guard_policy::document::principal::{AwsPrincipal, parse_aws_principal};

/// Sids of the five baseline statements, in order.
pub const BASELINE_SIDS: [&str; 5] = [
    "AllowIdentityCenterAdminAccounts",
    "AllowIdentityCenterAndIdentityStoreToDescribeKey",
    "AllowIdentityCenterAndIdentityStoreToUseKey",
    "AllowOrgPrincipalsViaIdentityCenterAndIdentityStore",
    "AllowManagedApps",
];

/// The model policy as a JSON document.
pub fn model_policy(config: &Config) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": model_statements(config),
    })
}

/// The model policy as the pretty-printed text `render-policy` prints.
pub fn render_policy(config: &Config) -> String {
    serde_json::to_string_pretty(&model_policy(config)).unwrap_or_default()
}

/// The five model statements, in baseline order.
#[expect(
    clippy::too_many_lines,
    reason = "the five baseline statements as data, in AWS's order: a literal policy reads best whole"
)]
pub fn model_statements(config: &Config) -> Vec<Value> {
    let p = config.partition();
    let services = json!(["identitystore.amazonaws.com", "sso.amazonaws.com"]);
    let context_keys = json!([
        "aws:sso:instance-arn",
        "aws:identitystore:identitystore-arn"
    ]);
    let via = json!(["sso.*.amazonaws.com", "identitystore.*.amazonaws.com"]);
    let via = match crate::domain::regions::dns_suffix(&config.primary_region) {
        "amazonaws.com" => via,
        suffix => json!([
            format!("sso.*.{suffix}"),
            format!("identitystore.*.{suffix}")
        ]),
    };

    let mut admins: Vec<String> = config
        .admin_accounts()
        .map(|a| format!("arn:{p}:iam::{a}:root"))
        .collect();
    // Configured key administrators outside the admin accounts need naming on their own.
    for arn in &config.key_admin_principals {
        let covered = parse_aws_principal(arn)
            .ok()
            .and_then(|pr| pr.account().map(str::to_owned))
            .is_some_and(|acct| config.admin_accounts().any(|a| a == acct));
        let is_account = matches!(parse_aws_principal(arn), Ok(AwsPrincipal::Account { .. }));
        if !covered && !is_account && !admins.contains(arn) {
            admins.push(arn.clone());
        }
    }

    let mut org_conditions = json!({
        "StringEquals": {"aws:PrincipalOrgID": "${aws:ResourceOrgID}"},
        "StringLike": {"kms:ViaService": via.clone()},
        "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": context_keys.clone()},
    });
    let mut app_conditions = json!({
        "Bool": {"aws:PrincipalIsAWSService": "true"},
        "StringEquals": {"aws:SourceOrgID": "${aws:ResourceOrgID}"},
        "StringLike": {"kms:ViaService": via},
        "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": context_keys.clone()},
    });
    if config.pin_encryption_context {
        // The advanced policy pins the context to this instance and identity store. Each request
        // carries only one of the two keys, so each is compared only where present (IfExists);
        // the ForAnyValue condition above still requires one of them.
        let pin = json!({
            "kms:EncryptionContext:aws:sso:instance-arn": config.instance_arn,
            "kms:EncryptionContext:aws:identitystore:identitystore-arn": config.identity_store_arn(),
        });
        for c in [&mut org_conditions, &mut app_conditions] {
            if let Some(obj) = c.as_object_mut() {
                obj.insert("StringEqualsIfExists".to_owned(), pin.clone());
            }
        }
    }

    vec![
        json!({
            "Sid": BASELINE_SIDS[0],
            "Effect": "Allow",
            "Principal": {"AWS": admins},
            "Action": "kms:*",
            "Resource": "*",
        }),
        json!({
            "Sid": BASELINE_SIDS[1],
            "Effect": "Allow",
            "Principal": {"Service": services.clone()},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "${aws:ResourceAccount}"}},
        }),
        json!({
            "Sid": BASELINE_SIDS[2],
            "Effect": "Allow",
            "Principal": {"Service": services},
            "Action": ["kms:Decrypt", "kms:ReEncryptTo", "kms:ReEncryptFrom", "kms:GenerateDataKeyWithoutPlaintext"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": "${aws:ResourceAccount}"},
                "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": context_keys},
            },
        }),
        json!({
            "Sid": BASELINE_SIDS[3],
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": org_conditions,
        }),
        json!({
            "Sid": BASELINE_SIDS[4],
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": app_conditions,
        }),
    ]
}
