//! Policy repair: the smallest change to a live key policy that makes it pass every KP check.
//!
//! Rules (docs/policy-semantics.md § 11): remove only the statements the evaluation names as the cause, add only
//! the model's statements, keep every other statement exactly as written (its original text,
//! byte for byte). The candidate is re-checked after each round; if it cannot be made to pass,
//! nothing is proposed and the reason says why a human must act. A Deny statement is never
//! removed: that widens access beyond what the model can verify.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::checks::key_policy::{Cause, KeyPolicyReport, check_parsed};
use crate::config::Config;
use crate::finding::CheckId;
use crate::model::render::{BASELINE_SIDS, model_statements};
use idc_guard_policy::document::{Effect, KeyPolicy, MAX_POLICY_BYTES, Version, parse_key_policy};

/// A repaired policy and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairedPolicy {
    /// The new policy text (kept statements as written, model statements compact JSON).
    pub text: String,
    /// The removed statements, as `"Sid (index N)"` of the live policy.
    pub removed: Vec<String>,
    /// The Sids of the model statements added.
    pub added: Vec<String>,
    /// Whether `Version` was raised to 2012-10-17 (which turns `${...}` into variables).
    pub version_raised: bool,
}

/// Where a candidate statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The live policy's statement at this index.
    Live(usize),
    /// The model statement at this index of [`model_statements`].
    Model(usize),
}

/// The model statement that grants what a must-allow check requires.
fn model_index(check: CheckId) -> Option<usize> {
    match check {
        CheckId::KpAdmin => Some(0),
        CheckId::KpServiceDescribe => Some(1),
        CheckId::KpServiceUse => Some(2),
        CheckId::KpOrgViaService => Some(3),
        CheckId::KpManagedApps => Some(4),
        _ => None,
    }
}

/// Rounds of remove-and-add before giving up; each round must make progress.
const MAX_ROUNDS: usize = 4;

/// The live document's parts as written: a key policy's top level is Version, Id and
/// Statement (anything else is KP-INVALID and never repaired).
#[derive(Debug, Deserialize)]
struct RawDocument<'a> {
    #[serde(rename = "Version", borrow, default)]
    version: Option<&'a RawValue>,
    #[serde(rename = "Id", borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(rename = "Statement", borrow)]
    statement: &'a RawValue,
}

/// Why no safe repair exists: the finding says "manual action required" with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRepair {
    /// The live policy does not parse, so its statements cannot be kept.
    #[error(
        "the live policy cannot be read ({0}), so its statements cannot be kept; restore it from the evidence or render-policy"
    )]
    Unreadable(String),
    /// Only problems no statement change fixes (non-fatal KP-INVALID).
    #[error("the policy's only problems are ones no statement change by idc-guard fixes: {0}")]
    NoStatementCause(String),
    /// The top level does not read as raw JSON.
    #[error("the live policy's top level cannot be read: {0}")]
    TopLevel(String),
    /// The parsed statements and their raw text do not line up.
    #[error("the live policy's statements could not be matched to their text")]
    Unmatched,
    /// A Deny blocks required access; a Deny is never removed.
    #[error(
        "statement {statement} is a Deny that blocks access {check} requires; idc-guard never removes a Deny, because that widens access beyond what it can verify"
    )]
    DenyBlocks {
        /// The statement, by Sid and index.
        statement: String,
        /// The check it fails.
        check: CheckId,
    },
    /// Removing the causes and adding the model does not pass.
    #[error(
        "removing the statements named as causes and adding the model's statements cannot make the policy pass {checks} in {region} (key {key})"
    )]
    Stuck {
        /// The checks still failing, comma-separated.
        checks: String,
        /// The Region.
        region: String,
        /// The key's ARN there.
        key: String,
    },
    /// The rounds ran out.
    #[error("no repair passes every check after several rounds")]
    NoConvergence,
    /// Raising the Version would turn a literal `${` into a variable.
    #[error(
        "the policy's Version is not 2012-10-17 and statement {0} contains \"${{\": raising the Version (which the model statements need) would change its meaning"
    )]
    VariablesUnderOldVersion(String),
    /// Over KMS's size limit.
    #[error("the repaired policy would be {0} bytes, over KMS's limit of {MAX_POLICY_BYTES}")]
    TooLarge(usize),
}

impl<'a> RawDocument<'a> {
    fn read(text: &'a str) -> Result<(RawDocument<'a>, Vec<&'a RawValue>), NoRepair> {
        let doc: RawDocument<'a> =
            serde_json::from_str(text).map_err(|e| NoRepair::TopLevel(e.to_string()))?;
        // "Statement" is an array of statements, or one statement object.
        let statements = match serde_json::from_str::<Vec<&'a RawValue>>(doc.statement.get()) {
            Ok(list) => list,
            Err(_) => vec![doc.statement],
        };
        Ok((doc, statements))
    }
}

/// Repairs `live_text`, whose check in `region` gave `report`. `Ok(None)` when nothing fails.
pub fn repair_policy(
    config: &Config,
    region: &str,
    live_text: &str,
    report: &KeyPolicyReport,
) -> Result<Option<RepairedPolicy>, NoRepair> {
    if !report.problems().any(|f| f.region == region) {
        return Ok(None);
    }
    let (live, region_causes) = live_and_causes(region, live_text, report)?;
    let (raw, raw_statements) = RawDocument::read(live_text)?;
    if raw_statements.len() != live.statements.len() {
        return Err(NoRepair::Unmatched);
    }
    let model = model_statements(config);
    // Candidate statement i comes from origins[i]; the live policy's statement i is Live(i).
    let mut origins: Vec<Origin> = live
        .statements
        .iter()
        .map(|s| Origin::Live(s.index))
        .collect();
    let mut causes = region_causes;
    for _ in 0..MAX_ROUNDS {
        // Causes name statements by their index in the document that was checked, which is
        // the position in `origins` when that document was built.
        let mut remove: Vec<Origin> = Vec::new();
        let mut add: Vec<Origin> = Vec::new();
        for cause in &causes {
            match (&cause.statement, cause.must_allow) {
                (Some(s), _) => {
                    let Some(origin) = origins.get(s.index).copied() else {
                        continue;
                    };
                    if let Origin::Live(i) = origin
                        && live
                            .statements
                            .get(i)
                            .is_some_and(|st| st.effect == Effect::Deny)
                    {
                        return Err(NoRepair::DenyBlocks {
                            statement: s.to_string(),
                            check: cause.check,
                        });
                    }
                    remove.push(origin);
                }
                // Nothing allows a required request: the model's statement comes in.
                (None, true) => add.extend(model_index(cause.check).map(Origin::Model)),
                (None, false) => {}
            }
        }
        let progress =
            remove.iter().any(|o| origins.contains(o)) || add.iter().any(|o| !origins.contains(o));
        if remove.iter().any(|o| matches!(o, Origin::Model(_))) || !progress {
            return Err(stuck_reason(config, region, &causes));
        }
        origins.retain(|o| !remove.contains(o));
        if origins.is_empty() {
            // Every statement was a cause: what remains must be the model, whole (an empty
            // Statement array is not even a policy).
            add.extend((0..model.len()).map(Origin::Model));
        }
        for origin in add {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        let candidate = build(&live, &raw, &raw_statements, &model, &origins)?;
        let check = check_parsed(
            config,
            &parse_key_policy(&candidate.text),
            &[region.to_owned()],
        );
        if check.compliant() {
            let removed = live
                .statements
                .iter()
                .filter(|s| !origins.contains(&Origin::Live(s.index)))
                .map(|s| s.reference().to_string())
                .collect();
            return Ok(Some(RepairedPolicy {
                text: candidate.text,
                removed,
                added: candidate.added,
                version_raised: candidate.version_raised,
            }));
        }
        causes = check.causes;
    }
    Err(NoRepair::NoConvergence)
}

/// The live policy, parsed, and the causes the check named in `region`: what a repair starts
/// from. A policy that does not parse, or fails only in ways no statement change fixes, has
/// no repair.
fn live_and_causes(
    region: &str,
    live_text: &str,
    report: &KeyPolicyReport,
) -> Result<(KeyPolicy, Vec<Cause>), NoRepair> {
    let parsed = parse_key_policy(live_text);
    let Some(live) = parsed.policy else {
        let why = parsed
            .problems
            .first()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unreadable".to_owned());
        return Err(NoRepair::Unreadable(why));
    };
    let region_causes: Vec<Cause> = report
        .causes
        .iter()
        .filter(|c| c.region == region)
        .cloned()
        .collect();
    if region_causes.is_empty() {
        // Only non-fatal KP-INVALID problems: no statement is a cause to remove.
        let problems: Vec<&str> = report
            .problems()
            .filter(|f| f.region == region)
            .map(|f| f.message.as_str())
            .collect();
        return Err(NoRepair::NoStatementCause(problems.join(" ")));
    }
    Ok((live, region_causes))
}

fn stuck_reason(config: &Config, region: &str, causes: &[Cause]) -> NoRepair {
    let failing: std::collections::BTreeSet<&str> = causes
        .iter()
        .filter(|c| c.region == region)
        .map(|c| c.check.id())
        .collect();
    let failing: Vec<&str> = failing.into_iter().collect();
    NoRepair::Stuck {
        checks: failing.join(", "),
        region: region.to_owned(),
        key: config.key_arn_in(region),
    }
}

/// A candidate document.
struct Candidate {
    text: String,
    added: Vec<String>,
    version_raised: bool,
}

/// Builds the candidate: `Version` (raised to 2012-10-17 when model statements, which use
/// policy variables, are added), `Id`, then the chosen statements, kept ones as written.
#[expect(
    clippy::too_many_lines,
    reason = "the candidate document in order (Version, Id, statements) with the version check that guards it; split, the kept statements' raw text would travel through every piece"
)]
fn build(
    live: &KeyPolicy,
    raw: &RawDocument<'_>,
    raw_statements: &[&RawValue],
    model: &[Value],
    origins: &[Origin],
) -> Result<Candidate, NoRepair> {
    let kept = |i: usize| origins.contains(&Origin::Live(i));
    // A live statement as written (the raw list and the parsed one line up: checked above).
    let raw_value = |i: usize| -> Value {
        raw_statements
            .get(i)
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or(Value::Null)
    };
    // Sids of the statements that stay; an added model statement must not reuse one.
    let mut taken: Vec<String> = live
        .statements
        .iter()
        .filter(|s| kept(s.index))
        .filter_map(|s| s.sid.clone())
        .collect();
    let old_version = live.version != Version::V2012_10_17;
    let mut parts: Vec<String> = Vec::new();
    let mut added = Vec::new();
    for origin in origins {
        match origin {
            Origin::Live(i) => {
                if let Some(text) = raw_statements.get(*i) {
                    parts.push(text.get().to_owned());
                }
            }
            Origin::Model(i) => {
                let Some(mut statement) = model.get(*i).cloned() else {
                    continue;
                };
                // Under an old Version a kept copy of the model statement is inert text; once
                // the Version is raised it works, so it is not added twice.
                let present = live
                    .statements
                    .iter()
                    .any(|s| kept(s.index) && same_but_sid(&raw_value(s.index), &statement));
                if present && old_version {
                    continue;
                }
                if let Some(sid) = statement
                    .get("Sid")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                {
                    // A kept statement may already use the model's Sid: keep both, renamed.
                    let unique = unique_sid(&sid, &taken);
                    taken.push(unique.clone());
                    if let Some(obj) = statement.as_object_mut() {
                        obj.insert("Sid".to_owned(), Value::String(unique));
                    }
                }
                added.extend(BASELINE_SIDS.get(*i).map(|s| (*s).to_owned()));
                parts.push(statement.to_string());
            }
        }
    }
    let adds_model = origins.iter().any(|o| matches!(o, Origin::Model(_)));
    let version_raised = adds_model && old_version;
    if version_raised {
        // Raising the Version turns `${...}` in kept statements from text into variables.
        // A kept copy of a model statement is exempt: raising the Version is what it needs.
        if let Some(s) = live.statements.iter().find(|s| {
            let raw = raw_value(s.index);
            kept(s.index)
                && raw.to_string().contains("${")
                && !model.iter().any(|m| same_but_sid(&raw, m))
        }) {
            return Err(NoRepair::VariablesUnderOldVersion(
                s.reference().to_string(),
            ));
        }
    }
    let mut text = String::from("{");
    match (version_raised, raw.version) {
        (true, _) => text.push_str("\"Version\":\"2012-10-17\","),
        (false, Some(v)) => {
            text.push_str("\"Version\":");
            text.push_str(v.get());
            text.push(',');
        }
        (false, None) => {}
    }
    if let Some(id) = raw.id {
        text.push_str("\"Id\":");
        text.push_str(id.get());
        text.push(',');
    }
    text.push_str("\"Statement\":[");
    text.push_str(&parts.join(","));
    text.push_str("]}");
    if text.len() > MAX_POLICY_BYTES {
        return Err(NoRepair::TooLarge(text.len()));
    }
    Ok(Candidate {
        text,
        added,
        version_raised,
    })
}

/// Whether two statements are equal apart from their Sids.
fn same_but_sid(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("Sid");
        }
        v
    };
    strip(a) == strip(b)
}

fn unique_sid(sid: &str, taken: &[String]) -> String {
    let free = |candidate: &str| !taken.iter().any(|t| t == candidate);
    if free(sid) {
        return sid.to_owned();
    }
    (1..=taken.len() + 1)
        .map(|n| match n {
            1 => format!("{sid}Restored"),
            n => format!("{sid}Restored{n}"),
        })
        .find(|c| free(c))
        .unwrap_or_else(|| sid.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::key_policy::check_key_policy;
    use crate::config::tests::example_with;
    use crate::model::render::render_policy;
    use proptest::prelude::*;
    use serde_json::json;

    fn config() -> Config {
        Config::from_toml(
            &example_with(r#"["us-east-1", "eu-west-1"]"#, ""),
            "test.toml",
        )
        .unwrap()
    }

    fn statements(text: &str) -> Vec<Value> {
        let v: Value = serde_json::from_str(text).unwrap();
        match &v["Statement"] {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        }
    }

    fn repair(c: &Config, region: &str, doc: &Value) -> Result<Option<RepairedPolicy>, NoRepair> {
        let text = doc.to_string();
        let report = check_key_policy(c, &text);
        repair_policy(c, region, &text, &report)
    }

    fn assert_passes(c: &Config, region: &str, text: &str) {
        let report = check_parsed(c, &parse_key_policy(text), &[region.to_owned()]);
        assert!(
            report.compliant(),
            "{:#?}",
            report.problems().collect::<Vec<_>>()
        );
    }

    fn baseline(c: &Config) -> Value {
        serde_json::from_str(&render_policy(c)).unwrap()
    }

    #[test]
    fn a_compliant_policy_needs_no_repair() {
        let c = config();
        assert_eq!(repair(&c, "us-east-1", &baseline(&c)), Ok(None));
    }

    #[test]
    fn a_removed_statement_is_restored_and_the_rest_kept() {
        let c = config();
        let mut doc = baseline(&c);
        let app = json!({"Sid": "App", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
            "Action": "kms:DescribeKey", "Resource": "*"});
        let list = doc["Statement"].as_array_mut().unwrap();
        list.remove(3);
        list.push(app.clone());
        let fixed = repair(&c, "eu-west-1", &doc).unwrap().unwrap();
        assert_eq!(fixed.removed, Vec::<String>::new());
        assert_eq!(fixed.added, [BASELINE_SIDS[3]]);
        assert_passes(&c, "eu-west-1", &fixed.text);
        let after = statements(&fixed.text);
        // Every kept statement is unchanged, in order, and the model statement comes last.
        assert_eq!(&after[..5], &doc["Statement"].as_array().unwrap()[..]);
        assert_eq!(after[5]["Sid"], BASELINE_SIDS[3]);
        assert!(after.contains(&app));
    }

    #[test]
    fn an_outsider_grant_is_removed_and_nothing_else() {
        let c = config();
        let mut doc = baseline(&c);
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid": "Oops",
            "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}));
        let fixed = repair(&c, "us-east-1", &doc).unwrap().unwrap();
        assert_eq!(fixed.removed, ["Oops (index 5)"]);
        assert!(fixed.added.is_empty());
        assert_eq!(fixed.text, baseline(&c).to_string());
    }

    #[test]
    fn a_pinned_via_service_gets_the_model_statement_beside_it() {
        let c = config();
        let text = render_policy(&c)
            .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com")
            .replace(
                "identitystore.*.amazonaws.com",
                "identitystore.us-east-1.amazonaws.com",
            );
        let doc: Value = serde_json::from_str(&text).unwrap();
        let fixed = repair(&c, "eu-west-1", &doc).unwrap().unwrap();
        assert!(fixed.removed.is_empty(), "{:?}", fixed.removed);
        assert_passes(&c, "eu-west-1", &fixed.text);
        let sids: Vec<String> = statements(&fixed.text)
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_owned())
            .collect();
        let unique: std::collections::BTreeSet<&String> = sids.iter().collect();
        assert_eq!(unique.len(), sids.len(), "Sids stay unique: {sids:?}");
        assert!(sids.iter().any(|s| s.ends_with("Restored")), "{sids:?}");
    }

    #[test]
    fn a_hijacked_admin_statement_is_replaced_without_lockout() {
        let c = config();
        let mut doc = baseline(&c);
        doc["Statement"][0]["Principal"] = json!({"AWS": "*"});
        let fixed = repair(&c, "us-east-1", &doc).unwrap().unwrap();
        assert_eq!(fixed.removed, [format!("{} (index 0)", BASELINE_SIDS[0])]);
        assert_eq!(fixed.added, [BASELINE_SIDS[0]]);
        assert_passes(&c, "us-east-1", &fixed.text);
    }

    #[test]
    fn a_deny_that_blocks_required_access_is_left_for_a_human() {
        // Removing a Deny widens access for every request, not only the modelled ones.
        let c = config();
        let mut doc = baseline(&c);
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid": "Freeze",
            "Effect": "Deny", "Principal": "*", "Action": "kms:PutKeyPolicy", "Resource": "*"}));
        let err = repair(&c, "us-east-1", &doc).unwrap_err().to_string();
        assert!(err.contains("Freeze (index 5) is a Deny"), "{err}");
        assert!(err.contains("KP-ADMIN"), "{err}");
    }

    #[test]
    fn kept_statements_keep_their_text_byte_for_byte() {
        let c = config();
        let model = render_policy(&c);
        let kept = r#"{ "Sid" : "App",  "Effect":"Allow", "Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},
            "Action":"kms:DescribeKey","Resource":"*",
            "Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":1.50e3},"StringEquals":{"aws:PrincipalTag/n":"O\u2019Brien"}}}"#;
        let outsider = r#"{"Sid":"Oops","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#;
        let list: Vec<String> = statements(&model).iter().map(Value::to_string).collect();
        let base = list.join(",");
        let text = format!(
            "{{\"Version\":\"2012-10-17\",\"Id\":\"key-consolepolicy-3\",\"Statement\":[{base},{kept},{outsider}]}}"
        );
        let report = check_key_policy(&c, &text);
        let fixed = repair_policy(&c, "us-east-1", &text, &report)
            .unwrap()
            .unwrap();
        assert_eq!(fixed.removed, ["Oops (index 6)"]);
        assert!(fixed.text.contains(kept), "{}", fixed.text);
        assert!(fixed.text.contains(&base));
        assert!(fixed.text.contains("\"Id\":\"key-consolepolicy-3\""));
        assert!(!fixed.version_raised);
        assert_passes(&c, "us-east-1", &fixed.text);
    }

    #[test]
    fn raising_the_version_under_a_literal_variable_is_manual() {
        let c = config();
        let mut doc = baseline(&c);
        doc["Version"] = json!("2008-10-17");
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid": "Lit", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:DescribeKey",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/x": "${literal}"}}}));
        let err = repair(&c, "us-east-1", &doc).unwrap_err().to_string();
        assert!(err.contains("Lit (index 5)"), "{err}");
    }

    #[test]
    fn an_old_version_baseline_gets_the_version_raised_and_nothing_duplicated() {
        let c = config();
        let mut doc = baseline(&c);
        doc["Version"] = json!("2008-10-17");
        let fixed = repair(&c, "eu-west-1", &doc).unwrap().unwrap();
        assert_passes(&c, "eu-west-1", &fixed.text);
        assert_eq!(fixed.text, baseline(&c).to_string());
        assert!(fixed.version_raised);
        assert!(fixed.added.is_empty(), "{:?}", fixed.added);
    }

    #[test]
    fn a_policy_that_is_only_too_large_is_manual_and_says_why() {
        let c = config();
        let mut doc = baseline(&c);
        let tags: Vec<String> = (0..2600).map(|i| format!("team-{i:05}")).collect();
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid": "Big", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"}, "Action": "kms:DescribeKey",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": tags}}}));
        let err = repair(&c, "us-east-1", &doc).unwrap_err().to_string();
        assert!(
            err.contains("no statement change") && err.contains("bytes"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_policy_is_manual() {
        let c = config();
        let report = check_key_policy(&c, "{not json");
        let err = repair_policy(&c, "us-east-1", "{not json", &report)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be read"), "{err}");
    }

    fn outsider_statement() -> impl Strategy<Value = Value> {
        let principal = prop_oneof![
            Just(json!("*")),
            Just(json!({"AWS": "*"})),
            Just(json!({"AWS": "999988887777"})),
            Just(json!({"AWS": "arn:aws:iam::999988887777:role/X"})),
        ];
        let action = prop_oneof![
            Just(json!("kms:*")),
            Just(json!("kms:Decrypt")),
            Just(json!(["kms:PutKeyPolicy", "kms:Encrypt"])),
            Just(json!("kms:Create*")),
        ];
        let effect = prop_oneof![Just("Allow"), Just("Deny")];
        (principal, action, effect).prop_map(
            |(p, a, e)| json!({"Effect": e, "Principal": p, "Action": a, "Resource": "*"}),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever the drift, a repair either passes every KP check (KP-ADMIN included) and
        /// keeps every statement it does not name as removed, or proposes nothing.
        #[test]
        fn repairs_pass_every_check_and_keep_the_rest(
            keep in proptest::collection::vec(any::<bool>(), 5),
            extra in proptest::collection::vec(outsider_statement(), 0..3),
            region in prop_oneof![Just("us-east-1"), Just("eu-west-1")],
        ) {
            let c = config();
            let base = statements(&render_policy(&c));
            let mut list: Vec<Value> = base
                .into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(s, _)| s)
                .collect();
            list.extend(extra);
            let doc = json!({"Version": "2012-10-17", "Statement": list.clone()});
            match repair(&c, region, &doc) {
                Ok(Some(fixed)) => {
                    assert_passes(&c, region, &fixed.text);
                    let after = statements(&fixed.text);
                    for (i, s) in list.iter().enumerate() {
                        let removed = fixed.removed.iter().any(|r| r.ends_with(&format!("(index {i})")) || *r == format!("index {i}"));
                        prop_assert!(removed || after.contains(s), "statement {i} lost: {s}");
                    }
                }
                Ok(None) => assert_passes(&c, region, &doc.to_string()),
                // Every drift generated here has a safe repair (an empty Statement array
                // excepted: KMS cannot store one, so there is nothing to keep).
                Err(reason) => prop_assert!(
                    list.is_empty()
                        || (matches!(reason, NoRepair::DenyBlocks { .. }) && list.iter().any(|s| s["Effect"] == "Deny")),
                    "no repair: {reason}"
                ),
            }
        }
    }
}
