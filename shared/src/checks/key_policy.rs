//! The KP-* checks: what a key policy grants, judged against the Identity Center model in
//! every enabled Region. Every finding is collected; nothing stops at the first.

use std::collections::BTreeMap;

use crate::checks::{At, CheckId};
use crate::config::Config;
use crate::finding::{Finding, Status};
use crate::model::{ModelBuilder, REGIONAL_KEYS, Via, Who, named_in};
use idc_guard_policy::actions::ActionSet;
use idc_guard_policy::document::{
    KeyPolicy, ParsedPolicy, ResourceClause, StatementRef, parse_key_policy,
};
use idc_guard_policy::eval::{Reading, allowed_actions, evaluate};
use idc_guard_policy::logic::Truth;
use idc_guard_policy::pattern::resource_match;
use idc_guard_policy::request::{AccessRequest, Context};

/// The outcome of checking one policy: a finding per failing cause and a pass per check that
/// holds, for each Region.
#[derive(Debug, Clone, Default)]
pub struct KeyPolicyReport {
    /// Every finding, passes included, in Region then check order.
    pub findings: Vec<Finding>,
    /// Why each failing finding fails, for remediation planning.
    pub causes: Vec<Cause>,
}

/// The cause of one failing finding, as the evaluation names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The failing check.
    pub check: CheckId,
    /// The Region.
    pub region: String,
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// The statement that decides: the Allow that grants too much, or the Deny that blocks a
    /// required request. `None` when no statement allows a required request.
    pub statement: Option<StatementRef>,
    /// Whether a required request is refused (as opposed to a probe being allowed).
    pub must_allow: bool,
}

impl KeyPolicyReport {
    /// Whether no finding fails or errs.
    pub fn compliant(&self) -> bool {
        self.findings
            .iter()
            .all(|f| matches!(f.status, Status::Pass | Status::Warn))
    }

    /// The findings that are not passes.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status != Status::Pass)
    }
}

/// Checks policy text (a document) in every enabled Region of `config`.
pub fn check_key_policy(config: &Config, policy_text: &str) -> KeyPolicyReport {
    check_parsed(config, &parse_key_policy(policy_text), &config.regions)
}

/// Checks a parsed policy in the given Regions (a replica's policy is checked in its Region).
pub fn check_parsed(config: &Config, parsed: &ParsedPolicy, regions: &[String]) -> KeyPolicyReport {
    let mut report = KeyPolicyReport::default();
    let Some(policy) = &parsed.policy else {
        for region in regions {
            let at = At::new(config, region);
            invalid_findings(&at, parsed, &mut report.findings);
        }
        return report;
    };
    let named = named_in(policy);
    // Each class of Regions is evaluated once; its Regions share the result.
    let mut class_failures: Vec<Vec<Failure>> = Vec::new();
    let mut class_of: BTreeMap<&str, usize> = BTreeMap::new();
    for class in region_classes(config, policy, regions) {
        let Some(representative) = class.first() else {
            continue;
        };
        class_failures.push(evaluate_model(config, policy, representative, &named));
        for region in class {
            class_of.insert(region, class_failures.len() - 1);
        }
    }
    for region in regions {
        let at = At::new(config, region);
        invalid_findings(&at, parsed, &mut report.findings);
        let failures = class_of
            .get(region.as_str())
            .and_then(|i| class_failures.get(*i))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for check in CheckId::KEY_POLICY {
            if check == CheckId::KpInvalid {
                continue;
            }
            region_findings(&at, check, failures, &mut report);
        }
    }
    report
}

/// One modelled request the policy gets wrong.
#[derive(Debug)]
struct Failure {
    check: CheckId,
    who: Who,
    must_allow: bool,
    actions: ActionSet,
    cause: Vec<StatementRef>,
    by_reading: bool,
}

fn evaluate_model(
    config: &Config,
    policy: &KeyPolicy,
    region: &str,
    named: &crate::model::Named,
) -> Vec<Failure> {
    let resource = config.key_arn_in(region);
    let mut failures = Vec::new();
    for r in ModelBuilder::new(config, region, named).build() {
        let reading = if r.must_allow {
            Reading::GrantsLeast
        } else {
            Reading::GrantsMost
        };
        let allowed = allowed_actions(policy, &r.caller, &resource, &r.context, r.actions, reading);
        let wrong = if r.must_allow {
            r.actions.minus(allowed)
        } else {
            r.actions.intersect(allowed)
        };
        let Some(first) = wrong.names().next() else {
            continue;
        };
        // Attribute the failure: which statements decide the first wrong action.
        let request = AccessRequest {
            caller: r.caller.clone(),
            action: first.to_owned(),
            resource: resource.clone(),
            context: r.context.clone(),
        };
        let decision = evaluate(policy, &request, reading);
        failures.push(Failure {
            check: r.check,
            who: r.who,
            must_allow: r.must_allow,
            actions: wrong,
            cause: decision.statements,
            by_reading: decision.by_reading,
        });
    }
    failures
}

fn region_findings(
    at: &At<'_>,
    check: CheckId,
    failures: &[Failure],
    report: &mut KeyPolicyReport,
) {
    let out = &mut report.findings;
    let region = at.region;
    // One finding per deciding statement (or lack of one).
    let mut groups: BTreeMap<Option<StatementRef>, Vec<&Failure>> = BTreeMap::new();
    for f in failures.iter().filter(|f| f.check == check) {
        groups.entry(f.cause.first().cloned()).or_default().push(f);
    }
    if groups.is_empty() {
        out.push(at.finding(
            check,
            Status::Pass,
            format!("{check} holds in {region}"),
            None,
            "pass",
        ));
        return;
    }
    for (statement, items) in groups {
        let must_allow = items.iter().any(|f| f.must_allow);
        // One line per principal: the actions, and the ways the requests arrive.
        let mut by_label: BTreeMap<&str, (ActionSet, Vec<String>)> = BTreeMap::new();
        let mut cause_key: Vec<String> = Vec::new();
        for f in &items {
            let entry = by_label.entry(&f.who.label).or_default();
            entry.0 = entry.0.union(f.actions);
            let way = f.who.way(region);
            if !entry.1.contains(&way) {
                entry.1.push(way);
            }
            // Written out field by field (not Debug) so the fingerprint survives refactoring.
            let names: Vec<&str> = f.actions.names().collect();
            cause_key.push(format!(
                "{}/{}/{}/{}",
                f.who.label,
                f.who.way(region),
                names.join(","),
                f.must_allow
            ));
        }
        cause_key.sort();
        let verb = if must_allow { "cannot" } else { "can" };
        let lines: Vec<String> = by_label
            .iter()
            .map(|(label, (actions, ways))| {
                let actions: Vec<&str> = actions.names().collect();
                let shown: Vec<&str> = ways.iter().take(3).map(String::as_str).collect();
                let more = ways.len().saturating_sub(3);
                let ways = if more > 0 {
                    format!("{}, and {more} more ways", shown.join(", "))
                } else {
                    shown.join(", ")
                };
                format!("{label} {verb} {} ({ways})", actions.join(", "))
            })
            .collect();
        const SHOWN: usize = 4;
        let more = lines.len().saturating_sub(SHOWN);
        let mut listed = lines.into_iter().take(SHOWN).collect::<Vec<_>>().join("; ");
        if more > 0 {
            listed.push_str(&format!("; and {more} more principals"));
        }
        let reason = match (&statement, must_allow) {
            (Some(s), true) => format!("denied by statement {s}"),
            (None, true) => "no statement allows it".to_owned(),
            (Some(s), false) => format!("allowed by statement {s}"),
            (None, false) => "allowed".to_owned(),
        };
        let mut message = format!(
            "{check} fails in {region}: {}. {listed} ({reason}).",
            check.consequence()
        );
        if items.iter().any(|f| f.by_reading) {
            message.push_str(
                " Part of this decision rests on behaviour AWS does not document; idc-guard takes the safe reading (docs/policy-semantics.md).",
            );
        }
        let statement_text = statement.as_ref().map(ToString::to_string);
        let cause = format!(
            "{}|{}",
            statement_text.clone().unwrap_or_default(),
            cause_key.join(";")
        );
        let finding = at.finding(check, Status::Fail, message, statement_text, &cause);
        report.causes.push(Cause {
            check,
            region: region.to_owned(),
            fingerprint: finding.fingerprint.clone(),
            statement,
            must_allow,
        });
        out.push(finding);
    }
}

fn invalid_findings(at: &At<'_>, parsed: &ParsedPolicy, out: &mut Vec<Finding>) {
    let check = CheckId::KpInvalid;
    if parsed.problems.is_empty() {
        let message = format!(
            "{check} holds in {}: the document is a valid key policy",
            at.region
        );
        out.push(at.finding(check, Status::Pass, message, None, "pass"));
        return;
    }
    for problem in &parsed.problems {
        let place = problem.place();
        let tail = if problem.fatal {
            "Nothing else was checked: the document's meaning is unknown."
        } else {
            "The other checks read the document as KMS would."
        };
        out.push(at.finding(
            check,
            Status::Fail,
            format!("{check}: {place}: {} {tail}", problem.message),
            problem.statement.as_ref().map(ToString::to_string),
            &problem.to_string(),
        ));
    }
}

/// Groups Regions whose requests the policy cannot tell apart, so the model is evaluated once
/// per group. Requests differ between Regions only in the key ARN and the Region-dependent
/// keys ([`REGIONAL_KEYS`]); two Regions fall in one group when every Resource element and
/// every condition on those keys gives the same answer for both Regions' values.
fn region_classes<'r>(
    config: &Config,
    policy: &KeyPolicy,
    regions: &'r [String],
) -> Vec<Vec<&'r str>> {
    let variable_on_regional_key = policy.statements.iter().any(|s| {
        let resource_vars = match &s.resource {
            ResourceClause::Resource(ts) | ResourceClause::NotResource(ts) => {
                ts.iter().any(|t| t.has_variables())
            }
        };
        resource_vars
            || s.conditions.iter().any(|c| {
                REGIONAL_KEYS.contains(&c.key_lc.as_str())
                    && c.values.iter().any(|v| v.has_variables())
            })
    });
    if variable_on_regional_key {
        return regions.iter().map(|r| vec![r.as_str()]).collect();
    }
    let mut classes: Vec<(Vec<Truth>, Vec<&str>)> = Vec::new();
    for region in regions {
        let signature = region_signature(config, policy, region);
        match classes.iter_mut().find(|(sig, _)| *sig == signature) {
            Some((_, members)) => members.push(region),
            None => classes.push((signature, vec![region])),
        }
    }
    classes.into_iter().map(|(_, members)| members).collect()
}

fn region_signature(config: &Config, policy: &KeyPolicy, region: &str) -> Vec<Truth> {
    let key_arn = config.key_arn_in(region);
    let empty = Context::default();
    let kind = if region == config.primary_region {
        "PRIMARY"
    } else {
        "REPLICA"
    };
    let mut values: Vec<(&str, String)> = vec![
        ("aws:requestedregion", region.to_owned()),
        ("kms:multiregionkeytype", kind.to_owned()),
    ];
    for via in [Via::Sso, Via::IdentityStore, Via::OtherService] {
        if let Some(s) = via.service(region) {
            values.push(("kms:viaservice", s));
        }
    }
    let mut sig = Vec::new();
    for s in &policy.statements {
        let (ResourceClause::Resource(ts) | ResourceClause::NotResource(ts)) = &s.resource;
        for t in ts {
            sig.push(Truth::from(resource_match(&t.raw, &key_arn)));
        }
        for c in s
            .conditions
            .iter()
            .filter(|c| REGIONAL_KEYS.contains(&c.key_lc.as_str()))
        {
            for (key, value) in values.iter().filter(|(k, _)| *k == c.key_lc) {
                let mut ctx = empty.clone();
                ctx.set(key, value);
                sig.push(c.evaluate(&ctx));
            }
        }
    }
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::example_with;
    use crate::render::render_policy;

    fn config(extra: &str) -> Config {
        let regions = r#"["us-east-1", "us-west-2", "eu-west-1"]"#;
        Config::from_toml(&example_with(regions, extra), "test.toml").unwrap()
    }

    fn failing(report: &KeyPolicyReport) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = report
            .problems()
            .map(|f| (f.region.clone(), f.check.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn the_rendered_baseline_passes_everywhere() {
        for extra in ["", "[policy]\npin_encryption_context = true"] {
            let c = config(extra);
            let report = check_key_policy(&c, &render_policy(&c));
            assert!(
                report.compliant(),
                "{:#?}",
                report.problems().collect::<Vec<_>>()
            );
            assert_eq!(report.findings.len(), 3 * 9);
        }
    }

    #[test]
    fn via_service_pinned_to_one_region_fails_exactly_the_others() {
        let c = config("");
        let text = render_policy(&c)
            .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com")
            .replace(
                "identitystore.*.amazonaws.com",
                "identitystore.us-east-1.amazonaws.com",
            );
        let got = failing(&check_key_policy(&c, &text));
        let want: Vec<(String, String)> = ["eu-west-1", "us-west-2"]
            .iter()
            .flat_map(|r| {
                [
                    (r.to_string(), "KP-MANAGED-APPS".to_string()),
                    (r.to_string(), "KP-ORG-VIA-SERVICE".to_string()),
                ]
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn public_decrypt_is_external_access() {
        let c = config("");
        let mut doc: serde_json::Value = serde_json::from_str(&render_policy(&c)).unwrap();
        doc["Statement"].as_array_mut().unwrap().push(serde_json::json!(
            {"Sid": "Oops", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}));
        let report = check_key_policy(&c, &doc.to_string());
        let got = failing(&report);
        assert!(
            got.contains(&("us-east-1".into(), "KP-EXTERNAL-ACCESS".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("us-east-1".into(), "KP-BROADER-THAN-MODEL".into())),
            "{got:?}"
        );
        let f = report
            .problems()
            .find(|f| f.check == "KP-EXTERNAL-ACCESS")
            .unwrap();
        assert_eq!(f.statement.as_deref(), Some("Oops (index 5)"));
    }
}
