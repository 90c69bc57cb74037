//! Random key policies for the tests that try to break the analysis: the rendered model policy
//! plus a few statements using every operator family, IfExists, set operators, NotAction,
//! NotPrincipal, Deny, principals inside and outside the organization, services, keys the caller
//! chooses and keys the environment sets. Deterministic (xorshift), so a failure replays.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use idc_guard_core::config::Config;
use idc_guard_core::model::render::model_policy;
use idc_guard_policy::document::{KeyPolicy, parse_key_policy};
use serde_json::{Value, json};

/// The organization of the base configuration.
pub const ORG: &str = "o-a1b2c3d4e5";

/// A small deterministic generator (xorshift), so a failure replays.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A generator's seed: `default`, or `IDC_GUARD_SEED` to explore other policies.
pub fn seed(default: u64) -> u64 {
    std::env::var("IDC_GUARD_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(default, |s| s ^ default)
}

/// Condition keys the generator uses, with values a policy might compare them with.
pub fn key_pool() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "aws:PrincipalOrgID",
            vec![ORG, "o-zzzzzzzzzz", "o-*", "o-a1b2*"],
        ),
        (
            "aws:PrincipalAccount",
            vec!["111122223333", "999988887777", "9999*"],
        ),
        ("kms:CallerAccount", vec!["111122223333", "777788889999"]),
        (
            "aws:PrincipalArn",
            vec![
                "arn:aws:iam::*:role/app-*",
                "arn:aws:iam::999988887777:root",
                "arn:aws:iam::111122223333:*",
            ],
        ),
        (
            "aws:PrincipalOrgPaths",
            vec![
                "o-zzzzzzzzzz/r-ab12/ou-ab12-11111111/*",
                "*/ou-ab12-11111111/*",
                "o-zzzzzzzzzz/*",
            ],
        ),
        ("aws:SourceAccount", vec!["111122223333", "999988887777"]),
        (
            "aws:SourceOrgPaths",
            vec!["o-zzzzzzzzzz/r-ab12/*", "*/ou-ab12-11111111/*"],
        ),
        ("aws:SourceOrgID", vec![ORG, "o-zzzzzzzzzz"]),
        ("aws:PrincipalIsAWSService", vec!["true", "false"]),
        (
            "kms:ViaService",
            vec![
                "s3.us-east-1.amazonaws.com",
                "ec2.*.amazonaws.com",
                "sso.*.amazonaws.com",
                "*.amazonaws.com",
            ],
        ),
        (
            "kms:EncryptionContext:purpose",
            vec!["backup", "back*", "x"],
        ),
        (
            "kms:EncryptionContextKeys",
            vec!["purpose", "aws:sso:instance-arn", "p*"],
        ),
        (
            "aws:SourceIp",
            vec!["203.0.113.0/24", "10.0.0.0/8", "0.0.0.0/0"],
        ),
        (
            "aws:CurrentTime",
            vec!["2020-01-01T00:00:00Z", "2099-12-31T23:59:59Z"],
        ),
        ("aws:EpochTime", vec!["1577836800", "4102444800"]),
        ("aws:MultiFactorAuthPresent", vec!["true", "false"]),
        ("aws:MultiFactorAuthAge", vec!["3600", "0"]),
        ("aws:PrincipalTag/team", vec!["blue", "b*"]),
        ("aws:userid", vec!["AROA*:alice", "*"]),
        ("aws:SourceVpce", vec!["vpce-1a2b3c4d"]),
        ("aws:CalledVia", vec!["athena.amazonaws.com"]),
    ]
}

const OPERATORS: [&str; 22] = [
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "StringEqualsIgnoreCase",
    "StringEqualsIfExists",
    "StringNotEqualsIfExists",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringEquals",
    "ForAnyValue:StringLike",
    "ForAllValues:StringNotLike",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "DateGreaterThan",
    "DateLessThan",
    "Bool",
    "BoolIfExists",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "ArnNotLike",
    "Null",
];

/// Keys with the operators that compare them as AWS types them: what a policy written in good
/// faith uses, and where the old probe list and the analysis read a request the same way.
fn typed_pool() -> Vec<(&'static str, Vec<&'static str>, &'static [&'static str])> {
    const TEXT: &[&str] = &[
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "StringEqualsIfExists",
        "StringNotEqualsIfExists",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringLike",
        "Null",
    ];
    const IP: &[&str] = &["IpAddress", "NotIpAddress", "NotIpAddressIfExists", "Null"];
    const BOOL: &[&str] = &["Bool", "BoolIfExists", "Null"];
    const NUMBER: &[&str] = &[
        "NumericLessThan",
        "NumericGreaterThanEquals",
        "NumericEquals",
    ];
    const ARN: &[&str] = &["ArnLike", "ArnNotLike", "ArnEquals"];
    vec![
        ("aws:PrincipalOrgID", vec![ORG, "o-zzzzzzzzzz", "o-*"], TEXT),
        (
            "aws:PrincipalAccount",
            vec!["111122223333", "999988887777"],
            TEXT,
        ),
        (
            "aws:PrincipalArn",
            vec!["arn:aws:iam::*:role/app-*", "arn:aws:iam::111122223333:*"],
            ARN,
        ),
        (
            "aws:SourceAccount",
            vec!["111122223333", "999988887777"],
            TEXT,
        ),
        ("aws:SourceOrgID", vec![ORG, "o-zzzzzzzzzz"], TEXT),
        ("aws:PrincipalIsAWSService", vec!["true", "false"], BOOL),
        (
            "kms:EncryptionContext:purpose",
            vec!["backup", "back*"],
            TEXT,
        ),
        (
            "kms:EncryptionContextKeys",
            vec!["purpose", "aws:sso:instance-arn"],
            TEXT,
        ),
        ("aws:SourceIp", vec!["203.0.113.0/24", "10.0.0.0/8"], IP),
        ("aws:MultiFactorAuthPresent", vec!["true", "false"], BOOL),
        ("aws:MultiFactorAuthAge", vec!["3600", "60"], NUMBER),
        ("aws:userid", vec!["AROA*:alice", "x"], TEXT),
    ]
}

fn random_condition(rng: &mut Rng, typed: bool) -> (String, String, Value) {
    if typed {
        let pool = typed_pool();
        let (key, values, ops) = rng.pick(&pool).clone();
        let op = *rng.pick(ops);
        let value = if op == "Null" {
            json!(if rng.chance(50) { "true" } else { "false" })
        } else {
            json!(rng.pick(&values))
        };
        return (op.to_owned(), key.to_owned(), value);
    }
    let pool = key_pool();
    let (key, values) = rng.pick(&pool).clone();
    let op = *rng.pick(&OPERATORS);
    let value = if op == "Null" {
        json!(if rng.chance(50) { "true" } else { "false" })
    } else if rng.chance(30) && values.len() > 1 {
        json!([values[0], values[1]])
    } else {
        json!(rng.pick(&values))
    };
    (op.to_owned(), key.to_owned(), value)
}

fn random_statement(rng: &mut Rng, i: usize, typed: bool) -> Value {
    let principal = match rng.below(8) {
        0 => json!("*"),
        1 => json!({"AWS": "*"}),
        2 => json!({"AWS": "999988887777"}),
        3 => json!({"AWS": "arn:aws:iam::999988887777:role/app-1"}),
        4 => json!({"Service": ["logs.amazonaws.com", "sso.amazonaws.com"]}),
        5 => json!({"AWS": "arn:aws:iam::111122223333:root"}),
        6 => json!({"AWS": ["arn:aws:sts::999988887777:assumed-role/app-1/session-1"]}),
        _ => json!("*"),
    };
    let mut s = json!({
        "Sid": format!("R{i}"),
        "Effect": if rng.chance(75) { "Allow" } else { "Deny" },
        "Resource": "*",
    });
    if rng.chance(10) && s["Effect"] == "Deny" {
        s["NotPrincipal"] = json!({"AWS": ["arn:aws:iam::111122223333:root"]});
    } else {
        s["Principal"] = principal;
    }
    if rng.chance(20) {
        s["NotAction"] = json!(["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]);
    } else {
        s["Action"] = json!(rng.pick(&[
            "kms:*",
            "kms:Decrypt",
            "kms:GenerateDataKey*",
            "kms:Create*"
        ]));
    }
    let n = rng.below(4);
    let mut condition = serde_json::Map::new();
    for _ in 0..n {
        let (op, key, value) = random_condition(rng, typed);
        let block = condition
            .entry(op)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap();
        block.insert(key, value);
    }
    if !condition.is_empty() {
        s["Condition"] = Value::Object(condition);
    }
    s
}

/// A random policy with conditions of any operator on any key.
pub fn random_policy(rng: &mut Rng, config: &Config) -> (String, KeyPolicy) {
    generate(rng, config, false)
}

/// A random policy whose conditions compare each key as AWS types it.
pub fn random_typed_policy(rng: &mut Rng, config: &Config) -> (String, KeyPolicy) {
    generate(rng, config, true)
}

fn generate(rng: &mut Rng, config: &Config, typed: bool) -> (String, KeyPolicy) {
    let mut doc = model_policy(config);
    let extra = 1 + rng.below(3);
    for i in 0..extra {
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(random_statement(rng, i, typed));
    }
    let text = doc.to_string();
    let parsed = parse_key_policy(&text);
    let policy = parsed
        .policy
        .unwrap_or_else(|| panic!("{:?}\n{text}", parsed.problems));
    (text, policy)
}
