//! Differential test: our key-policy evaluator against `iam-rs` (an independent IAM evaluator).
//!
//! `generated_policies_agree_with_iam_rs` generates random key policies and requests inside the
//! space where `iam-rs` 0.8.0 follows AWS's documented logic, and requires both evaluators to
//! reach the same allow / deny answer. Where our evaluator's two readings disagree (AWS has not
//! documented the answer) the case is skipped: only documented answers are compared.
//!
//! `known_disagreements_with_iam_rs` lists, one concrete case each, the classes where `iam-rs`
//! departs from AWS's documentation. Each case asserts that we give the documented answer and
//! that `iam-rs` still does not, so the test notices when `iam-rs` is fixed (then the class can
//! move into the generated space).
//!
//! The generated space: 1-4 statements (Allow / Deny; Principal `*`, `{"AWS": "*"}`, role ARNs,
//! an account in both forms, or service principals; Action / NotAction from kms patterns with
//! wildcards and odd case; Resource / NotResource from key ARN patterns; 0-2 conditions from the
//! String, Arn, Numeric, Date, Bool, IpAddress and Null families with `IfExists`,
//! `ForAnyValue:` and `ForAllValues:`, on odd-case keys now and then) against requests from a
//! small pool of callers, actions, key ARNs and context keys (each present or not), so that
//! matches happen. The run also checks that the generator stays useful: most cases compared,
//! both outcomes common, and at least a tenth decided by the conditions.
//!
//! What the generator avoids, and why (read from iam-rs 0.8.0's `evaluation/engine.rs` and
//! `evaluation/operator_eval.rs`):
//! - Principals: `iam-rs` matches an `AWS` principal against the request principal's string: `*`,
//!   equality, a wildcard ARN match, or a bare account id / `:root` ARN against the root ARN only.
//!   It has no notion of a role belonging to an account. So role callers live only in accounts
//!   that no account principal names (111122223333 and 999988887777); the account principals
//!   name 444455556666, whose only caller is its root. A role caller is given to `iam-rs` as the
//!   role ARN (not the session ARN), which a role principal matches exactly.
//! - No `Principal` mixing `AWS` and `Service` (refused by `iam-rs`), no anonymous caller
//!   (`iam-rs` has none: its `*` request principal matches every policy principal), no
//!   `NotPrincipal`.
//! - Always `"Version": "2012-10-17"`, no policy variables, no `ArnEquals`.
//! - Resource patterns always have six ARN segments (`iam-rs` fails on shorter ones) and no
//!   wildcard in the service segment.
//! - Condition values are typed as `iam-rs` needs: strings for string, ARN and IP operators;
//!   `true`/`false` (string or JSON boolean) for `Bool` and `Null`; a number (string or JSON
//!   number) for numeric operators; RFC 3339 or integer epoch seconds for date operators
//!   (`iam-rs` refuses date-only values; AWS does not say whether fractional epochs are valid);
//!   arrays only of strings; one value for `Null` (`iam-rs` looks only at the first). Bool
//!   context keys are given to `iam-rs` as booleans.
//! - Set qualifiers only on string and ARN operators and never with `IfExists` (`iam-rs` has no
//!   such operators). Single-valued operators never on the multivalued key
//!   `kms:EncryptionContextKeys`: AWS says "Multivalued context keys require a condition set
//!   operator" and documents no result without one (there iam-rs reads a negated operator as
//!   "for every policy value some request value differs", neither the any- nor the all-values
//!   reading, so `StringNotEquals` with request `[a, b]` and policy `[a, b]` is true for it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A test may be a long table of cases.
#![allow(clippy::too_many_lines)]

use std::cell::Cell;
use std::fmt;

use iam_rs::{
    Arn, Context as IamContext, ContextValue, Decision as IamDecision, IAMPolicy, IAMRequest,
    Principal as IamPrincipal, PrincipalId, evaluate_policy,
};
use idc_guard_policy::document::parse_key_policy;
use idc_guard_policy::eval::{Reading, evaluate};
use idc_guard_policy::request::{AccessRequest, Caller, Context};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};
use serde_json::{Map, Value, json};

/// The key's account: roles live here, but no account principal names it.
const ACCOUNT_A: &str = "111122223333";
/// Named by account principals; its only caller is its root.
const ACCOUNT_B: &str = "444455556666";
/// An outside account with roles.
const ACCOUNT_C: &str = "999988887777";

const KEY_ID: &str = "mrk-0123456789abcdef0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Requests, shared by both tests.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallerSpec {
    /// A role session: account, role path and name.
    Role(&'static str, &'static str),
    /// An account's root user.
    Root(&'static str),
    /// A service principal with its own credentials.
    Service(&'static str),
}

impl CallerSpec {
    fn ours(self) -> Caller {
        match self {
            CallerSpec::Role(account, name) => Caller::role(account, name, "aws"),
            CallerSpec::Root(account) => Caller::root(account, "aws"),
            CallerSpec::Service(s) => Caller::Service(s.to_owned()),
        }
    }

    fn theirs(self) -> IamPrincipal {
        match self {
            CallerSpec::Role(account, name) => IamPrincipal::Aws(PrincipalId::String(format!(
                "arn:aws:iam::{account}:role/{name}"
            ))),
            CallerSpec::Root(account) => {
                IamPrincipal::Aws(PrincipalId::String(format!("arn:aws:iam::{account}:root")))
            }
            CallerSpec::Service(s) => IamPrincipal::Service(PrincipalId::String(s.to_owned())),
        }
    }
}

/// A context value as each evaluator needs it typed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CtxValue {
    Str(String),
    Bool(bool),
    List(Vec<String>),
}

#[derive(Debug, Clone)]
struct Req {
    caller: CallerSpec,
    action: String,
    resource: String,
    context: Vec<(String, CtxValue)>,
}

impl Req {
    fn ours(&self) -> AccessRequest {
        let mut context = Context::default();
        for (k, v) in &self.context {
            match v {
                CtxValue::Str(s) => context.set(k, s),
                CtxValue::Bool(b) => context.set(k, &b.to_string()),
                CtxValue::List(l) => context.set_values(k, l.clone()),
            };
        }
        AccessRequest {
            caller: self.caller.ours(),
            action: self.action.clone(),
            resource: self.resource.clone(),
            context,
        }
    }

    fn theirs(&self) -> Result<IAMRequest, String> {
        let mut context = IamContext::new();
        for (k, v) in &self.context {
            let value = match v {
                CtxValue::Str(s) => ContextValue::String(s.clone()),
                CtxValue::Bool(b) => ContextValue::Boolean(*b),
                CtxValue::List(l) => ContextValue::StringList(l.clone()),
            };
            context.insert(k.clone(), value);
        }
        let resource = Arn::parse(&self.resource).map_err(|e| format!("resource: {e}"))?;
        Ok(IAMRequest::new_with_context(
            self.caller.theirs(),
            self.action.clone(),
            resource,
            context,
        ))
    }
}

impl fmt::Display for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {} on {}", self.caller, self.action, self.resource)?;
        for (k, v) in &self.context {
            write!(f, "\n    {k} = {v:?}")?;
        }
        Ok(())
    }
}

/// Our answer under both readings; `None` when our parser refuses the policy.
fn ours(text: &str, req: &Req) -> Option<(bool, bool)> {
    let policy = parse_key_policy(text).policy?;
    let r = req.ours();
    Some((
        evaluate(&policy, &r, Reading::GrantsMost).is_allowed(),
        evaluate(&policy, &r, Reading::GrantsLeast).is_allowed(),
    ))
}

/// iam-rs's answer, or why it gave none.
fn theirs(text: &str, req: &Req) -> Result<bool, String> {
    let policy =
        IAMPolicy::from_json(text).map_err(|e| format!("iam-rs refuses the policy: {e}"))?;
    let decision = evaluate_policy(&policy, &req.theirs()?)
        .map_err(|e| format!("iam-rs evaluation error: {e}"))?;
    Ok(decision == IamDecision::Allow)
}

fn key_arn(region: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT_A}:key/{KEY_ID}")
}

// ---------------------------------------------------------------------------------------------
// The generated space.

const CALLERS: &[CallerSpec] = &[
    CallerSpec::Role(ACCOUNT_A, "Admin"),
    CallerSpec::Role(
        ACCOUNT_A,
        "aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1",
    ),
    CallerSpec::Role(ACCOUNT_A, "Other"),
    CallerSpec::Role(ACCOUNT_C, "Admin"),
    CallerSpec::Root(ACCOUNT_A),
    CallerSpec::Root(ACCOUNT_B),
    CallerSpec::Service("sso.amazonaws.com"),
    CallerSpec::Service("identitystore.amazonaws.com"),
    CallerSpec::Service("cloudtrail.amazonaws.com"),
];

/// `"AWS"` principal values: role ARNs (matched exactly by role callers) and account B in both
/// forms (matched by its root; no role of B ever calls).
const AWS_PRINCIPALS: &[&str] = &[
    "arn:aws:iam::111122223333:role/Admin",
    "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1",
    "arn:aws:iam::999988887777:role/Admin",
    "arn:aws:iam::999988887777:role/Other",
    "arn:aws:iam::444455556666:root",
    "444455556666",
    "*",
];

const SERVICE_PRINCIPALS: &[&str] = &[
    "sso.amazonaws.com",
    "identitystore.amazonaws.com",
    "kms.amazonaws.com",
];

const ACTION_PATTERNS: &[&str] = &[
    "kms:*",
    "*",
    "kms:Decrypt",
    "kms:decrypt",
    "KMS:DECRYPT",
    "kms:Gen*",
    "kms:GenerateDataKey*",
    "kms:*WithoutPlaintext",
    "kms:ReEncrypt*",
    "kms:ReEncrypt??om",
    "kms:Describe*",
    "kms:describekey",
    "kms:Put*",
    "kms:*Key*",
    "kms:Enc?ypt",
    "kms:CreateGrant",
];

const REQUEST_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:CreateGrant",
    "kms:DECRYPT",
];

/// Six-segment patterns only, no wildcard in the service segment.
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:*:111122223333:key/*",
    "arn:aws:kms:us-east-1:111122223333:key/*",
    "arn:aws:kms:us-west-2:111122223333:key/*",
    "arn:aws:kms:*:*:key/mrk-*",
    "arn:aws:kms:us-east-1:444455556666:key/*",
    "arn:aws:kms:us-?ast-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:*:111122223333:alias/*",
    "arn:aws:kms:us-*-1:111122223333:key/*",
    "arn:aws:kms:*:111122223333:*",
    "arn:*:kms:*:111122223333:key/mrk-*",
];

const REQUEST_RESOURCES: &[&str] = &[
    "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A single-valued string key.
    Str,
    /// The multivalued `kms:EncryptionContextKeys`.
    Multi,
    Arn,
    Num,
    Date,
    Bool,
    Ip,
}

struct Key {
    name: &'static str,
    kind: Kind,
    /// Values for conditions (patterns for the Like operators).
    policy_values: &'static [&'static str],
    /// Values a request may carry.
    request_values: &'static [&'static str],
}

const KEYS: &[Key] = &[
    Key {
        name: "aws:SourceAccount",
        kind: Kind::Str,
        policy_values: &["111122223333", "444455556666", "1111*", "*", "11112222333?"],
        request_values: &["111122223333", "444455556666", "999988887777"],
    },
    Key {
        name: "kms:ViaService",
        kind: Kind::Str,
        policy_values: &[
            "sso.us-east-1.amazonaws.com",
            "sso.*.amazonaws.com",
            "identitystore.*.amazonaws.com",
            "SSO.US-EAST-1.AMAZONAWS.COM",
            "sso.us-west-2.amazonaws.com",
        ],
        request_values: &[
            "sso.us-east-1.amazonaws.com",
            "sso.us-west-2.amazonaws.com",
            "identitystore.us-east-1.amazonaws.com",
            "SSO.us-east-1.amazonaws.com",
            "kms.us-east-1.amazonaws.com",
        ],
    },
    Key {
        name: "aws:PrincipalOrgID",
        kind: Kind::Str,
        policy_values: &["o-a1b2c3d4e5", "O-A1B2C3D4E5", "o-*"],
        request_values: &["o-a1b2c3d4e5", "o-zzzzzzzzzz", "O-a1b2c3d4e5"],
    },
    Key {
        name: "kms:EncryptionContextKeys",
        kind: Kind::Multi,
        policy_values: &[
            "aws:sso:instance-arn",
            "aws:identitystore:identitystore-arn",
            "aws:*",
            "AWS:SSO:INSTANCE-ARN",
        ],
        request_values: &[
            "aws:sso:instance-arn",
            "aws:identitystore:identitystore-arn",
            "other",
        ],
    },
    Key {
        name: "aws:PrincipalArn",
        kind: Kind::Arn,
        policy_values: &[
            "arn:aws:iam::111122223333:role/Admin",
            "arn:aws:iam::*:role/Admin",
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*",
            "arn:aws:iam::111122223333:*",
            "arn:aws:iam::?11122223333:role/*",
            "arn:*:iam::*:role/*",
            "*",
            // Five segments: AWS does not say whether this matches (our evaluator: unknown).
            "arn:aws:iam::1111*",
        ],
        request_values: &[
            "arn:aws:iam::111122223333:role/Admin",
            "arn:aws:iam::999988887777:role/Admin",
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1",
            "arn:aws:iam::111122223333:user/alice",
        ],
    },
    Key {
        name: "aws:MultiFactorAuthAge",
        kind: Kind::Num,
        policy_values: &["300", "3600", "0", "299.5"],
        request_values: &["0", "299", "299.5", "300", "86400"],
    },
    Key {
        name: "aws:CurrentTime",
        kind: Kind::Date,
        // The first three are the same instant.
        policy_values: &[
            "2026-11-27T12:00:00Z",
            "2026-11-27T13:00:00+01:00",
            "1795780800",
            "2026-01-01T00:00:00Z",
        ],
        request_values: &[
            "2026-11-27T12:00:00Z",
            "2026-11-27T11:59:59Z",
            "2026-11-27T12:00:00.500Z",
            "2027-01-01T00:00:00Z",
            "1795780800",
        ],
    },
    Key {
        name: "aws:SecureTransport",
        kind: Kind::Bool,
        policy_values: &["true", "false"],
        request_values: &["true", "false"],
    },
    Key {
        name: "aws:PrincipalIsAWSService",
        kind: Kind::Bool,
        policy_values: &["true", "false"],
        request_values: &["true", "false"],
    },
    Key {
        name: "aws:SourceIp",
        kind: Kind::Ip,
        policy_values: &[
            "203.0.113.0/24",
            "198.51.100.9",
            "2001:db8::/32",
            "0.0.0.0/0",
        ],
        request_values: &["203.0.113.7", "198.51.100.9", "2001:db8::1", "192.0.2.1"],
    },
];

fn families(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Str | Kind::Multi => &[
            "StringEquals",
            "StringNotEquals",
            "StringLike",
            "StringNotLike",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
        ],
        Kind::Arn => &["ArnLike", "ArnNotLike"],
        Kind::Num => &[
            "NumericLessThan",
            "NumericEquals",
            "NumericNotEquals",
            "NumericGreaterThanEquals",
        ],
        Kind::Date => &[
            "DateLessThan",
            "DateGreaterThanEquals",
            "DateEquals",
            "DateNotEquals",
        ],
        Kind::Bool => &["Bool"],
        Kind::Ip => &["IpAddress", "NotIpAddress"],
    }
}

/// Operator name prefix and suffix (`ForAnyValue:` ... `IfExists`) allowed for a kind.
fn qualifiers(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Str | Kind::Arn => &[
            ("", ""),
            ("", "IfExists"),
            ("ForAnyValue:", ""),
            ("ForAllValues:", ""),
        ],
        Kind::Multi => &[("ForAnyValue:", ""), ("ForAllValues:", "")],
        Kind::Num | Kind::Date | Kind::Bool | Kind::Ip => &[("", ""), ("", "IfExists")],
    }
}

fn pick<T: Copy>(items: &[T], i: usize) -> T {
    items[i % items.len()]
}

#[derive(Debug, Clone)]
struct CondSpec {
    operator: String,
    key: String,
    value: Value,
}

/// A condition from raw choices: key, odd-case key, operator, qualifier, values, JSON typing.
fn condition(
    (key, odd_case, op, qual, value_picks, typed): (usize, bool, usize, usize, Vec<usize>, bool),
) -> CondSpec {
    let k = &KEYS[key % KEYS.len()];
    let name = if odd_case {
        k.name.to_ascii_uppercase()
    } else {
        k.name.to_owned()
    };
    if op % 8 == 0 {
        // Null takes one value: iam-rs reads only the first of several.
        let want = value_picks.first().is_some_and(|v| v % 2 == 0);
        let value = if typed {
            Value::Bool(want)
        } else {
            Value::String(want.to_string())
        };
        return CondSpec {
            operator: "Null".to_owned(),
            key: name,
            value,
        };
    }
    let (prefix, suffix) = pick(qualifiers(k.kind), qual);
    let operator = format!("{prefix}{}{suffix}", pick(families(k.kind), op));
    let mut values: Vec<&str> = Vec::new();
    for v in value_picks {
        let v = pick(k.policy_values, v);
        if !values.contains(&v) {
            values.push(v);
        }
    }
    let value = match values.as_slice() {
        // A JSON number: integers as integers (AWS documents epoch time, not fractions of it).
        [one] if typed && matches!(k.kind, Kind::Num | Kind::Date) => match one.parse::<u64>() {
            Ok(n) => json!(n),
            Err(_) => one.parse::<f64>().map_or_else(|_| json!(one), |f| json!(f)),
        },
        [one] if typed && k.kind == Kind::Bool => json!(*one == "true"),
        [one] => json!(one),
        many => json!(many),
    };
    CondSpec {
        operator,
        key: name,
        value,
    }
}

fn condition_strategy() -> impl Strategy<Value = CondSpec> {
    (
        0..KEYS.len(),
        prop::bool::weighted(0.2),
        0usize..64,
        0usize..4,
        vec(0usize..8, 1..=2),
        any::<bool>(),
    )
        .prop_map(condition)
}

#[derive(Debug, Clone)]
enum PrincipalSpec {
    /// `"Principal": "*"`
    Star,
    /// `{"AWS": "*"}`
    AwsStar,
    Aws(Vec<&'static str>),
    Service(Vec<&'static str>),
}

#[derive(Debug, Clone)]
struct StatementSpec {
    allow: bool,
    principal: PrincipalSpec,
    not_action: bool,
    actions: Vec<&'static str>,
    not_resource: bool,
    resources: Vec<&'static str>,
    conditions: Vec<CondSpec>,
}

fn one_or_many(items: &[&str]) -> Value {
    match items {
        [one] => json!(one),
        many => json!(many),
    }
}

impl StatementSpec {
    fn to_json(&self) -> Value {
        let mut s = Map::new();
        s.insert(
            "Effect".into(),
            json!(if self.allow { "Allow" } else { "Deny" }),
        );
        let principal = match &self.principal {
            PrincipalSpec::Star => json!("*"),
            PrincipalSpec::AwsStar => json!({"AWS": "*"}),
            PrincipalSpec::Aws(v) => json!({"AWS": one_or_many(v)}),
            PrincipalSpec::Service(v) => json!({"Service": one_or_many(v)}),
        };
        s.insert("Principal".into(), principal);
        let action = if self.not_action {
            "NotAction"
        } else {
            "Action"
        };
        s.insert(action.into(), one_or_many(&self.actions));
        let resource = if self.not_resource {
            "NotResource"
        } else {
            "Resource"
        };
        s.insert(resource.into(), one_or_many(&self.resources));
        if !self.conditions.is_empty() {
            let mut block = Map::new();
            for c in &self.conditions {
                let entry = block
                    .entry(c.operator.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(keys) = entry {
                    keys.insert(c.key.clone(), c.value.clone());
                }
            }
            s.insert("Condition".into(), Value::Object(block));
        }
        Value::Object(s)
    }
}

fn principal_strategy() -> impl Strategy<Value = PrincipalSpec> {
    prop_oneof![
        5 => Just(PrincipalSpec::Star),
        1 => Just(PrincipalSpec::AwsStar),
        3 => vec(select(AWS_PRINCIPALS), 1..=3).prop_map(PrincipalSpec::Aws),
        2 => vec(select(SERVICE_PRINCIPALS), 1..=2).prop_map(PrincipalSpec::Service),
    ]
}

/// Broad patterns more often than narrow ones, so that statements apply and conditions decide.
fn action_pattern() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        1 => select(&["kms:*", "*", "kms:*Key*"][..]),
        2 => select(ACTION_PATTERNS),
    ]
}

fn resource_pattern() -> impl Strategy<Value = &'static str> {
    prop_oneof![1 => Just("*"), 2 => select(RESOURCE_PATTERNS)]
}

fn statement_strategy() -> impl Strategy<Value = StatementSpec> {
    (
        prop::bool::weighted(0.75),
        principal_strategy(),
        prop::bool::weighted(0.15),
        vec(action_pattern(), 1..=3),
        prop::bool::weighted(0.1),
        vec(resource_pattern(), 1..=2),
        prop_oneof![1 => Just(Vec::new()), 3 => vec(condition_strategy(), 1..=2)],
    )
        .prop_map(
            |(allow, principal, not_action, actions, not_resource, resources, conditions)| {
                StatementSpec {
                    allow,
                    principal,
                    not_action,
                    actions,
                    not_resource,
                    resources,
                    conditions,
                }
            },
        )
}

/// The policy document; a lone statement is written as an object when `bare` is set.
fn policy_text(statements: &[StatementSpec], bare: bool) -> String {
    let statement = match statements {
        [one] if bare => one.to_json(),
        many => Value::Array(many.iter().map(StatementSpec::to_json).collect()),
    };
    let doc = json!({"Version": "2012-10-17", "Statement": statement});
    serde_json::to_string_pretty(&doc).unwrap()
}

/// A request context from raw choices: per key, whether present and which values.
fn context(choices: Vec<(bool, Vec<usize>)>) -> Vec<(String, CtxValue)> {
    let mut out = Vec::new();
    for (k, (present, picks)) in KEYS.iter().zip(choices) {
        if !present {
            continue;
        }
        let value = match k.kind {
            Kind::Multi => {
                let mut list: Vec<String> = Vec::new();
                for p in picks {
                    let v = pick(k.request_values, p).to_owned();
                    if !list.contains(&v) {
                        list.push(v);
                    }
                }
                CtxValue::List(list)
            }
            Kind::Bool => CtxValue::Bool(pick(k.request_values, picks[0]) == "true"),
            _ => CtxValue::Str(pick(k.request_values, picks[0]).to_owned()),
        };
        out.push((k.name.to_owned(), value));
    }
    out
}

fn request_strategy() -> impl Strategy<Value = Req> {
    (
        select(CALLERS),
        select(REQUEST_ACTIONS),
        select(REQUEST_RESOURCES),
        vec(
            (prop::bool::weighted(0.7), vec(0usize..8, 1..=3)),
            KEYS.len(),
        ),
    )
        .prop_map(|(caller, action, resource, ctx)| Req {
            caller,
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: context(ctx),
        })
}

/// Cases per run: a few seconds in a debug build. `PROPTEST_CASES` overrides.
const CASES: u32 = 2000;
/// A fixed seed keeps the run reproducible; `PROPTEST_RNG_SEED` overrides it to explore further.
const SEED: u64 = 0x1dc9_0a2d;

#[test]
fn generated_policies_agree_with_iam_rs() {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    // Write no regression files into the source tree.
    config.failure_persistence = None;
    let cases = config.cases;
    let mut runner = TestRunner::new(config);

    let compared = Cell::new(0u32);
    let allowed = Cell::new(0u32);
    let undocumented = Cell::new(0u32);
    let by_conditions = Cell::new(0u32);
    let strategy = (
        vec(statement_strategy(), 1..=4),
        any::<bool>(),
        request_strategy(),
    );
    let result = runner.run(&strategy, |(statements, bare, req)| {
        let text = policy_text(&statements, bare);
        let context = || format!("\nrequest: {req}\npolicy: {text}");
        let parsed = parse_key_policy(&text);
        // A short ARN pattern in an Arn condition is reported (non-fatal): its comparison is
        // undocumented, and such cases are skipped below as undecided.
        prop_assert!(
            parsed
                .problems
                .iter()
                .all(|p| !p.fatal && p.message.contains("six colon-separated parts")),
            "our parser objects to a generated policy: {:?}{}",
            parsed.problems,
            context()
        );
        let (most, least) = ours(&text, &req)
            .ok_or_else(|| TestCaseError::fail(format!("our parser refused{}", context())))?;
        if most != least {
            // AWS has not documented this answer; nothing to compare.
            undocumented.set(undocumented.get() + 1);
            return Ok(());
        }
        let theirs =
            theirs(&text, &req).map_err(|e| TestCaseError::fail(format!("{e}{}", context())))?;
        compared.set(compared.get() + 1);
        if least {
            allowed.set(allowed.get() + 1);
        }
        // Whether the conditions decided this case: the answer changes without them.
        let unconditional: Vec<StatementSpec> = statements
            .iter()
            .map(|s| StatementSpec {
                conditions: Vec::new(),
                ..s.clone()
            })
            .collect();
        if ours(&policy_text(&unconditional, bare), &req).is_some_and(|(_, l)| l != least) {
            by_conditions.set(by_conditions.get() + 1);
        }
        prop_assert!(
            least == theirs,
            "we say {}, iam-rs says {}{}",
            if least { "ALLOW" } else { "DENY" },
            if theirs { "ALLOW" } else { "DENY" },
            context()
        );
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => panic!("minimal disagreement: {reason}"),
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
    let (compared, allowed, undocumented) = (compared.get(), allowed.get(), undocumented.get());
    let by_conditions = by_conditions.get();
    eprintln!(
        "{cases} cases: {compared} compared ({allowed} allowed, {} denied, \
         {by_conditions} decided by conditions), {undocumented} undocumented",
        compared - allowed
    );
    // The generator must keep producing comparable cases, with both outcomes, some of them
    // decided by the conditions.
    assert!(
        compared * 10 >= cases * 8,
        "only {compared} of {cases} cases compared"
    );
    assert!(
        allowed * 10 >= compared,
        "only {allowed} of {compared} allowed"
    );
    assert!((compared - allowed) * 10 >= compared, "too few denials");
    assert!(
        by_conditions * 10 >= compared,
        "only {by_conditions} of {compared} decided by conditions"
    );
}

// ---------------------------------------------------------------------------------------------
// Known disagreements.

/// One class where iam-rs departs from AWS's documented logic.
struct Known {
    class: &'static str,
    policy: String,
    request: Req,
    /// AWS's documented answer; `None` when AWS refuses the policy.
    documented: Option<bool>,
}

fn statement_policy(version: Option<&str>, statement: Value) -> String {
    let mut doc = Map::new();
    if let Some(v) = version {
        doc.insert("Version".into(), json!(v));
    }
    doc.insert("Statement".into(), json!([statement]));
    serde_json::to_string_pretty(&Value::Object(doc)).unwrap()
}

fn req(caller: CallerSpec, action: &str, context: &[(&str, CtxValue)]) -> Req {
    Req {
        caller,
        action: action.to_owned(),
        resource: key_arn("us-east-1"),
        context: context
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

fn s(v: &str) -> CtxValue {
    CtxValue::Str(v.to_owned())
}

fn known_cases() -> Vec<Known> {
    let admin = CallerSpec::Role(ACCOUNT_A, "Admin");
    let sso = CallerSpec::Service("sso.amazonaws.com");
    vec![
        // Policy variables in condition values are substituted. IAM user guide, "IAM policy
        // elements: Variables and tags": "When the policy is evaluated, the policy variables are
        // replaced with values that come from the conditional context keys passed in the
        // request." iam-rs never substitutes them in conditions, so it compares against the
        // literal text `${aws:ResourceAccount}` and statements 2-5 of the Identity Center
        // baseline key policy never match.
        Known {
            class: "policy variable in a condition value",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": {"Service": "sso.amazonaws.com"},
                    "Action": "kms:DescribeKey",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": "${aws:ResourceAccount}"}}
                }),
            ),
            request: req(
                sso,
                "kms:DescribeKey",
                &[
                    ("aws:SourceAccount", s(ACCOUNT_A)),
                    ("aws:ResourceAccount", s(ACCOUNT_A)),
                ],
            ),
            documented: Some(true),
        },
        // An account principal covers the account's roles. IAM user guide, "AWS JSON policy
        // elements: Principal", AWS account principals: "The account ARN and the shortened
        // account ID behave the same way. Both delegate permissions to the account. Using the
        // account ARN in the Principal element does not limit permissions to only the root user
        // of the account." iam-rs matches `:root` only against the root user's ARN.
        Known {
            class: "account :root principal and a role of that account",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": "kms:*",
                    "Resource": "*"
                }),
            ),
            request: req(admin, "kms:PutKeyPolicy", &[]),
            documented: Some(true),
        },
        // Same, with the shortened account-id form quoted above.
        Known {
            class: "bare account id principal and a role of that account",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": {"AWS": "111122223333"},
                    "Action": "kms:Decrypt",
                    "Resource": "*"
                }),
            ),
            request: req(admin, "kms:Decrypt", &[]),
            documented: Some(true),
        },
        // ArnEquals takes wildcards exactly like ArnLike. IAM user guide, "IAM JSON policy
        // elements: Condition operators", the row for `ArnEquals`, `ArnLike`: "Case-sensitive
        // matching of the ARN. Each of the six colon-delimited components of the ARN is checked
        // separately and each can include multi-character match wildcards (*) or
        // single-character match wildcards (?)." iam-rs compares ArnEquals as plain string
        // equality.
        Known {
            class: "ArnEquals with a wildcard",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}
                }),
            ),
            request: req(
                admin,
                "kms:Decrypt",
                &[(
                    "aws:PrincipalArn",
                    s("arn:aws:iam::111122223333:role/Admin"),
                )],
            ),
            documented: Some(true),
        },
        // Under 2008-10-17 `${...}` is literal text, also in Resource. IAM user guide, "IAM
        // JSON policy elements: Version", 2008-10-17: "Newer features, such as policy
        // variables, will not work with your policy. For example, variables such as
        // ${aws:username} aren't recognized as variables and are instead treated as literal
        // strings in the policy." iam-rs substitutes variables in Resource whatever the Version.
        Known {
            class: "policy variable in Resource under Version 2008-10-17",
            policy: statement_policy(
                Some("2008-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "arn:aws:kms:us-east-1:${aws:ResourceAccount}:key/*"
                }),
            ),
            request: req(
                admin,
                "kms:Decrypt",
                &[("aws:ResourceAccount", s(ACCOUNT_A))],
            ),
            documented: Some(false),
        },
        // Version is optional. IAM user guide, "Grammar of the IAM JSON policy language":
        // `policy = { <version_block?> <id_block?> <statement_block> }`; and "IAM JSON policy
        // elements: Version": "If you do not include a Version element, the value defaults to
        // 2008-10-17". iam-rs refuses such a document.
        Known {
            class: "no Version element",
            policy: statement_policy(
                None,
                json!({
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "*"
                }),
            ),
            request: req(admin, "kms:Decrypt", &[]),
            documented: Some(true),
        },
        // One Principal may name several principal types. IAM user guide, "Grammar of the IAM
        // JSON policy language": `<principal_map> = { <principal_map_entry>,
        // <principal_map_entry>, ... }` with `<principal_map_entry> = ("AWS" | "Federated" |
        // "Service" | "CanonicalUser") : [<principal_id_string>, ...]`. iam-rs refuses a
        // Principal with both an `AWS` and a `Service` entry.
        Known {
            class: "Principal mixing AWS and Service",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": "arn:aws:iam::111122223333:role/Admin",
                        "Service": "sso.amazonaws.com"
                    },
                    "Action": "kms:DescribeKey",
                    "Resource": "*"
                }),
            ),
            request: req(sso, "kms:DescribeKey", &[]),
            documented: Some(true),
        },
        // A statement with an element the grammar does not have is not a valid policy. IAM user
        // guide, "Grammar of the IAM JSON policy language": `<statement> = { <sid_block?>,
        // <principal_block?>, <effect_block>, <action_block>, <resource_block>,
        // <condition_block?> }`; KMS PutKeyPolicy answers MalformedPolicyDocumentException:
        // "The request was rejected because the specified policy is not syntactically or
        // semantically correct." iam-rs drops the misspelled `Conditon`, so the statement
        // becomes unconditional and allows everyone.
        Known {
            class: "unknown statement element (misspelled Condition)",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Conditon": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
                }),
            ),
            request: req(CallerSpec::Role(ACCOUNT_C, "Admin"), "kms:Decrypt", &[]),
            documented: None,
        },
        // A `*` ending a Resource segment may cross colons. IAM user guide, "IAM JSON policy
        // elements: Resource", using wildcards in resource ARNs: "If the * wildcard is the last
        // character of a resource ARN segment, it can expand to match beyond the colon
        // boundaries." So `arn:aws:kms:*` covers every KMS key ARN in the partition. iam-rs
        // requires six segments and fails the whole evaluation ("Invalid ARN").
        Known {
            class: "Resource pattern with fewer than six segments ending in *",
            policy: statement_policy(
                Some("2012-10-17"),
                json!({
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "arn:aws:kms:*"
                }),
            ),
            request: req(admin, "kms:Decrypt", &[]),
            documented: Some(true),
        },
    ]
}

#[test]
fn known_disagreements_with_iam_rs() {
    let mut failures = Vec::new();
    for k in known_cases() {
        let ours = ours(&k.policy, &k.request);
        let theirs = theirs(&k.policy, &k.request);
        match k.documented {
            Some(answer) => {
                if ours != Some((answer, answer)) {
                    failures.push(format!(
                        "{}: we should say {answer} under both readings, got {ours:?}",
                        k.class
                    ));
                }
                if theirs == Ok(answer) {
                    failures.push(format!(
                        "{}: iam-rs now gives the documented answer {answer}; move this class into the generated space",
                        k.class
                    ));
                }
            }
            None => {
                if ours.is_some() {
                    failures.push(format!(
                        "{}: our parser should refuse the policy, it evaluates it",
                        k.class
                    ));
                }
                if theirs.is_err() {
                    failures.push(format!(
                        "{}: iam-rs now refuses the policy too ({theirs:?}); move this class into the generated space",
                        k.class
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
