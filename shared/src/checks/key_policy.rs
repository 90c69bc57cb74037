//! The KP-* checks: what a key policy grants, judged against the Identity Center model in
//! every enabled Region. Each check is a question about every request of a space
//! ([`crate::model`]), answered exactly by the policy analysis; a failure carries a concrete
//! request that shows it, as an `idc-guard simulate` command line. Every finding is collected;
//! nothing stops at the first.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use idc_guard_policy::actions::ActionSet;
use idc_guard_policy::analysis::{Analysis, Answer, Limits, Witness};
use idc_guard_policy::document::condition::{Condition, Family};
use idc_guard_policy::document::template::Template;
use idc_guard_policy::document::{
    KeyPolicy, ParsedPolicy, ResourceClause, StatementRef, parse_key_policy,
};
use idc_guard_policy::logic::Truth;
use idc_guard_policy::pattern::{Pattern, resource_match};
use idc_guard_policy::request::{AccessRequest, Caller, Context};

use crate::checks::{At, CheckId};
use crate::config::Config;
use crate::domain::regions::dns_suffix;
use crate::finding::{Finding, Status};
use crate::model::{
    ModelQuestion, REGIONAL_KEYS, RegionModel, caller_context, caller_context_from,
};

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
    /// Whether a required request is refused (as opposed to a request being allowed).
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
/// Compiles the model for the one call; [`KeyPolicyChecker`] keeps it for many.
pub fn check_parsed(config: &Config, parsed: &ParsedPolicy, regions: &[String]) -> KeyPolicyReport {
    KeyPolicyChecker::new(config).check(parsed, regions)
}

/// The KP checks for one configuration, compiled once: for each Region, the model's questions
/// and the findings its passing checks report. Both depend on the configuration alone, so a
/// process that checks many policies (a guard Lambda across invocations, a sweep across
/// replicas) builds them once; each check then only reads the policy and answers the
/// questions. A Region's part is built the first time a check needs it.
#[derive(Debug)]
pub struct KeyPolicyChecker {
    config: Config,
    plans: Vec<(String, OnceLock<RegionPlan>)>,
}

/// What one Region's checks need from the configuration.
#[derive(Debug, Clone)]
struct RegionPlan {
    /// The keys every request to the key in the Region carries.
    base: Context,
    /// Built when the Region represents a class.
    questions: OnceLock<Vec<ModelQuestion>>,
    /// The pass finding of each check, in [`CheckId::KEY_POLICY`] order.
    passes: Vec<Finding>,
}

impl RegionPlan {
    fn new(config: &Config, region: &str) -> RegionPlan {
        let at = At::new(config, region);
        let passes = CheckId::KEY_POLICY
            .iter()
            .map(|&check| {
                let message = if check == CheckId::KpInvalid {
                    format!("{check} holds in {region}: the document is a valid key policy")
                } else {
                    format!("{check} holds in {region}")
                };
                at.finding(check, Status::Pass, message, None, "pass")
            })
            .collect();
        RegionPlan {
            base: RegionModel::new(config, region).base_context(),
            questions: OnceLock::new(),
            passes,
        }
    }

    fn questions(&self, config: &Config, region: &str) -> &[ModelQuestion] {
        self.questions
            .get_or_init(|| RegionModel::new(config, region).questions())
    }

    fn pass(&self, check: CheckId) -> Option<Finding> {
        let i = CheckId::KEY_POLICY.iter().position(|c| *c == check)?;
        self.passes.get(i).cloned()
    }
}

impl KeyPolicyChecker {
    /// The checker for `config`'s enabled Regions (others are compiled when asked for).
    pub fn new(config: &Config) -> KeyPolicyChecker {
        KeyPolicyChecker {
            config: config.clone(),
            plans: config
                .regions
                .iter()
                .map(|r| (r.clone(), OnceLock::new()))
                .collect(),
        }
    }

    /// The configuration it checks against.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks policy text in every enabled Region.
    pub fn check_text(&self, policy_text: &str) -> KeyPolicyReport {
        self.check(&parse_key_policy(policy_text), &self.config.regions)
    }

    /// Checks a parsed policy in the given Regions.
    pub fn check(&self, parsed: &ParsedPolicy, regions: &[String]) -> KeyPolicyReport {
        let config = &self.config;
        let mut report = KeyPolicyReport {
            findings: Vec::with_capacity(regions.len() * CheckId::KEY_POLICY.len()),
            causes: Vec::new(),
        };
        let Some(policy) = &parsed.policy else {
            for region in regions {
                invalid_findings(&At::new(config, region), parsed, &mut report.findings);
            }
            return report;
        };
        // Each class of Regions is analysed once; its Regions share the result.
        let mut class_failures: Vec<Vec<Failure>> = Vec::new();
        let mut class_of: BTreeMap<&str, usize> = BTreeMap::new();
        let mut representatives: Vec<&str> = Vec::new();
        // One analysis for every class: what it learns of the policy's values, they share.
        let analysis = Analysis::new(policy);
        for class in region_classes(config, policy, regions) {
            let Some(representative) = class.first() else {
                continue;
            };
            let plan = self.plan(representative);
            representatives.push(*representative);
            class_failures.push(analyse_region(
                config,
                &analysis,
                representative,
                plan.questions(config, representative),
            ));
            for region in class {
                class_of.insert(region, class_failures.len() - 1);
            }
        }
        // What each class's findings say, read once for all its Regions.
        let class_groups: Vec<Vec<(CheckId, Vec<FindingGroup<'_>>)>> = class_failures
            .iter()
            .map(|failures| {
                CheckId::KEY_POLICY
                    .iter()
                    .filter(|c| failures.iter().any(|f| f.check == **c))
                    .map(|&c| (c, finding_groups(c, failures)))
                    .collect()
            })
            .collect();
        for region in regions {
            let plan = self.plan(region);
            if parsed.problems.is_empty() {
                report.findings.extend(plan.pass(CheckId::KpInvalid));
            } else {
                invalid_findings(&At::new(config, region), parsed, &mut report.findings);
            }
            let class = class_of.get(region.as_str()).copied();
            let representative = class
                .and_then(|i| representatives.get(i).copied())
                .unwrap_or(region.as_str());
            let groups = class_of
                .get(region.as_str())
                .and_then(|i| class_groups.get(*i))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for &check in CheckId::KEY_POLICY {
                if check == CheckId::KpInvalid {
                    continue;
                }
                let Some((_, groups)) = groups.iter().find(|(c, _)| *c == check) else {
                    report.findings.extend(plan.pass(check));
                    continue;
                };
                let at = At::new(config, region);
                region_findings(
                    config,
                    &plan.base,
                    &at,
                    representative,
                    check,
                    groups,
                    &mut report,
                );
            }
        }
        report
    }

    /// The Region's compiled part: kept for an enabled Region, built for the call otherwise.
    fn plan(&self, region: &str) -> Cow<'_, RegionPlan> {
        match self.plans.iter().find(|(r, _)| r == region) {
            Some((_, cell)) => {
                Cow::Borrowed(cell.get_or_init(|| RegionPlan::new(&self.config, region)))
            }
            None => Cow::Owned(RegionPlan::new(&self.config, region)),
        }
    }
}

/// One way the policy fails a question of the model.
#[derive(Debug, Clone)]
struct Failure {
    check: CheckId,
    /// Who the question is about.
    label: String,
    /// How a required request arrives (empty for must-deny questions).
    way: String,
    must_allow: bool,
    /// The actions the witness stands for.
    actions: ActionSet,
    /// The deciding statement.
    statement: Option<StatementRef>,
    /// The request that shows it, in the class's representative Region.
    witness: Option<AccessRequest>,
    /// Why the question could not be decided, if it could not.
    undecided: Option<String>,
    by_reading: bool,
}

fn analyse_region(
    config: &Config,
    analysis: &Analysis<'_>,
    region: &str,
    questions: &[ModelQuestion],
) -> Vec<Failure> {
    let resource = config.key_arn_in(region);
    let mut failures = Vec::new();
    for mq in questions {
        let q = mq.question(&resource, config.partition(), region, Limits::default());
        let answer = if mq.must_allow {
            analysis.find_denied(&q)
        } else {
            analysis.find_allowed(&q)
        };
        record(mq, answer, &mut failures);
    }
    failures
}

fn record(mq: &ModelQuestion, answer: Answer, out: &mut Vec<Failure>) {
    for w in answer.witnesses {
        out.push(failure_of(mq, &w));
    }
    if let Some(reason) = answer.undecided {
        out.push(Failure {
            check: mq.check,
            label: mq.label.clone(),
            way: mq.way.clone(),
            must_allow: mq.must_allow,
            actions: ActionSet::EMPTY,
            statement: None,
            witness: None,
            undecided: Some(reason),
            by_reading: true,
        });
    }
}

fn failure_of(mq: &ModelQuestion, w: &Witness) -> Failure {
    Failure {
        check: mq.check,
        label: mq.label.clone(),
        way: mq.way.clone(),
        must_allow: mq.must_allow,
        actions: w.actions,
        statement: w.decision.statements.first().cloned(),
        witness: Some(w.request.clone()),
        undecided: None,
        by_reading: w.by_reading,
    }
}

/// One finding's worth of failures of a check (those one statement decides, or that no
/// statement decides), read once per class of Regions: what a Region's finding says about
/// them only needs its own Region's words for the few it shows.
struct FindingGroup<'f> {
    statement: Option<StatementRef>,
    must_allow: bool,
    /// The fingerprint's cause: the statement and every failure, field by field.
    cause: String,
    /// The first failures with different descriptions, up to [`SHOWN`], each with its
    /// description in the class's own Region.
    shown: Vec<(&'f Failure, String)>,
    /// How many more different descriptions there are.
    more: usize,
    undecided_only: bool,
    by_reading: bool,
}

/// How many failures a finding describes.
const SHOWN: usize = 3;

fn finding_groups(check: CheckId, failures: &[Failure]) -> Vec<FindingGroup<'_>> {
    let mut groups: BTreeMap<Option<StatementRef>, Vec<&Failure>> = BTreeMap::new();
    for f in failures.iter().filter(|f| f.check == check) {
        groups.entry(f.statement.clone()).or_default().push(f);
    }
    groups
        .into_iter()
        .map(|(statement, items)| {
            let mut cause_key: Vec<String> = Vec::new();
            let mut lines: Vec<String> = Vec::new();
            let mut shown: Vec<(&Failure, String)> = Vec::new();
            for f in &items {
                let names: Vec<&str> = f.actions.names().collect();
                // Written out field by field (not Debug) so the fingerprint survives refactoring.
                cause_key.push(format!(
                    "{}/{}/{}/{}/{}",
                    f.label,
                    f.way,
                    names.join(","),
                    f.must_allow,
                    f.undecided.as_deref().unwrap_or_default()
                ));
                // Told apart as the class's own Region reads them; moving a witness to another
                // Region changes its Region's words alike in all of them.
                let line = match (&f.witness, &f.undecided) {
                    (_, Some(reason)) => format!("for {}, it cannot be decided: {reason}", f.label),
                    (Some(w), None) => describe(f, &f.way, w, &names),
                    (None, None) => continue,
                };
                if !lines.contains(&line) {
                    if shown.len() < SHOWN {
                        shown.push((f, line.clone()));
                    }
                    lines.push(line);
                }
            }
            cause_key.sort();
            let statement_text = statement.as_ref().map(ToString::to_string);
            FindingGroup {
                must_allow: items.iter().any(|f| f.must_allow),
                cause: format!(
                    "{}|{}",
                    statement_text.unwrap_or_default(),
                    cause_key.join(";")
                ),
                shown,
                more: lines.len().saturating_sub(SHOWN),
                undecided_only: items.iter().all(|f| f.undecided.is_some()),
                by_reading: items.iter().any(|f| f.by_reading),
                statement,
            }
        })
        .collect()
}

fn region_findings(
    config: &Config,
    base: &Context,
    at: &At<'_>,
    representative: &str,
    check: CheckId,
    groups: &[FindingGroup<'_>],
    report: &mut KeyPolicyReport,
) {
    let region = at.region;
    for group in groups {
        let mut lines: Vec<String> = Vec::new();
        let mut reproduce: Option<String> = None;
        for (f, own_line) in &group.shown {
            let line = match (&f.witness, &f.undecided) {
                (Some(w), None) => {
                    let w = in_region(w, representative, region, base);
                    if reproduce.is_none() {
                        let defaults = caller_context_from(base, config, &w.caller);
                        reproduce = Some(simulate_line_from(region, &w, &defaults));
                    }
                    if region == representative {
                        own_line.clone()
                    } else {
                        let names: Vec<&str> = f.actions.names().collect();
                        describe(f, &moved(&f.way, representative, region), &w, &names)
                    }
                }
                _ => own_line.clone(),
            };
            lines.push(line);
        }
        let mut listed = lines.join("; ");
        if group.more > 0 {
            listed.push_str(&format!("; and {} more", group.more));
        }
        let reason = match (&group.statement, group.must_allow) {
            (Some(s), true) => format!("denied by statement {s}"),
            (None, true) if group.undecided_only => "undecided".to_owned(),
            (None, true) => "no statement allows it".to_owned(),
            (Some(s), false) => format!("allowed by statement {s}"),
            (None, false) => "undecided".to_owned(),
        };
        let mut message = format!(
            "{check} fails in {region}: {}. {listed} ({reason}).",
            check.consequence()
        );
        if group.undecided_only {
            message.push_str(
                " idc-guard cannot show a request either way, so it takes the safe reading: the check fails (docs/policy-semantics.md).",
            );
        } else if group.by_reading {
            message.push_str(
                " Part of this decision rests on behaviour AWS does not document; idc-guard takes the safe reading (docs/policy-semantics.md).",
            );
        }
        // Last, so that the command line is the message's tail and can be copied whole.
        if let Some(line) = reproduce {
            message.push_str(&format!(" Reproduce: {line}"));
        }
        let statement_text = group.statement.as_ref().map(ToString::to_string);
        let finding = at.finding(check, Status::Fail, message, statement_text, &group.cause);
        report.causes.push(Cause {
            check,
            region: region.to_owned(),
            fingerprint: finding.fingerprint.clone(),
            statement: group.statement.clone(),
            must_allow: group.must_allow,
        });
        report.findings.push(finding);
    }
}

/// The witness of the class's representative Region, moved to `to`: the key's ARN and the
/// Region-specific values (the key type comes from `to`'s base context: the primary Region's key
/// is the `PRIMARY`).
fn in_region(w: &AccessRequest, from: &str, to: &str, base: &Context) -> AccessRequest {
    if from == to {
        return w.clone();
    }
    let mut r = w.clone();
    r.resource = r
        .resource
        .replacen(&format!(":{from}:"), &format!(":{to}:"), 1);
    let mut ctx = Context::default();
    for (k, values) in w.context.iter() {
        let k_lc = k.to_ascii_lowercase();
        let moved: Vec<String> = if k_lc == "kms:multiregionkeytype" {
            base.get(&k_lc)
                .map_or_else(|| values.to_vec(), <[String]>::to_vec)
        } else if REGIONAL_KEYS.contains(&k_lc.as_str()) {
            values
                .iter()
                .map(|v| {
                    if v == from {
                        to.to_owned()
                    } else {
                        v.replacen(&format!(".{from}."), &format!(".{to}."), 1)
                    }
                })
                .collect()
        } else {
            values.to_vec()
        };
        ctx.set_values(k, moved);
    }
    r.context = ctx;
    r
}

/// A Region's name in a text written for another Region (`via sso.<Region>.amazonaws.com`).
fn moved(text: &str, from: &str, to: &str) -> String {
    if from == to {
        text.to_owned()
    } else {
        text.replace(&format!(".{from}."), &format!(".{to}."))
    }
}

/// "a role in account 000000000000 in no organization can kms:Decrypt via
/// ec2.us-east-1.amazonaws.com with encryption context {purpose=backup}".
fn describe(f: &Failure, required_way: &str, w: &AccessRequest, actions: &[&str]) -> String {
    let who = describe_caller(w);
    let mut context = String::new();
    let via = w.context.get("kms:viaservice").and_then(|v| v.first());
    let way = match via {
        Some(v) => format!("via {v}"),
        None => "directly".to_owned(),
    };
    if let (false, Some(keys)) = (f.must_allow, w.context.get("kms:encryptioncontextkeys")) {
        let pairs: Vec<String> = keys
            .iter()
            .map(|k| {
                let v = w
                    .context
                    .get(&format!("kms:encryptioncontext:{}", k.to_ascii_lowercase()))
                    .and_then(|v| v.first())
                    .map_or("", String::as_str);
                format!("{k}={v}")
            })
            .collect();
        context = format!(" with encryption context {{{}}}", pairs.join(", "));
    }
    let mut conditions: Vec<String> = Vec::new();
    for (k, values) in w.context.iter() {
        let k_lc = k.to_ascii_lowercase();
        // Every key `simulate` assumes for the caller is one of these, so only the keys the
        // witness chose are listed.
        if is_identity_or_base(&k_lc) {
            continue;
        }
        conditions.push(format!("{k}={}", values.join(",")));
    }
    let when = if conditions.is_empty() {
        context
    } else {
        format!("{context} when {}", conditions.join(", "))
    };
    if f.must_allow {
        format!(
            "{} cannot {} ({required_way}){when}",
            f.label,
            actions.join(", "),
        )
    } else {
        format!("{who} can {} {way}{when}", actions.join(", "))
    }
}

fn is_identity_or_base(k: &str) -> bool {
    matches!(
        k,
        "aws:principalarn"
            | "aws:principalaccount"
            | "kms:calleraccount"
            | "aws:principaltype"
            | "aws:principalisawsservice"
            | "aws:principalservicename"
            | "aws:principalorgid"
            | "aws:principalorgpaths"
            | "aws:sourceaccount"
            | "aws:sourceorgid"
            | "aws:sourceorgpaths"
            | "aws:resourceaccount"
            | "aws:resourceorgid"
            | "aws:requestedregion"
            | "aws:securetransport"
            | "kms:keyspec"
            | "kms:keyusage"
            | "kms:keyorigin"
            | "kms:multiregion"
            | "kms:multiregionkeytype"
            | "kms:encryptionalgorithm"
            | "kms:viaservice"
            | "kms:encryptioncontextkeys"
            | "aws:viaawsservice"
            | "kms:grantisforawsresource"
    ) || k.starts_with("kms:encryptioncontext:")
}

fn describe_caller(w: &AccessRequest) -> String {
    let ctx = &w.context;
    let first = |k: &str| ctx.get(k).and_then(|v| v.first()).cloned();
    match &w.caller {
        Caller::Aws(a) => {
            let org = match first("aws:principalorgid") {
                Some(o) => format!("in organization {o}"),
                None => "in no organization".to_owned(),
            };
            let who = if a.arn.ends_with(":root") {
                format!("the root of account {}", a.account)
            } else if let Some(s) = &a.session_arn {
                format!("session {s} of role {}", a.arn)
            } else {
                a.arn.clone()
            };
            format!("{who} ({org})")
        }
        Caller::Service(s) => match (first("aws:sourceaccount"), first("aws:sourceorgid")) {
            (Some(acct), Some(org)) => {
                format!("service principal {s} acting for account {acct} of organization {org}")
            }
            (Some(acct), None) => {
                format!("service principal {s} acting for account {acct}, in no organization")
            }
            (None, _) => format!("service principal {s} acting for no named account"),
        },
        Caller::Anonymous => "an anonymous caller".to_owned(),
        other => other.to_string(),
    }
}

/// The `idc-guard simulate` command line that reproduces a witness: the caller, the action,
/// and every key that differs from what `simulate` assumes for that caller; `--closed-world`
/// makes every other key absent.
pub fn simulate_line(config: &Config, region: &str, w: &AccessRequest) -> String {
    simulate_line_from(region, w, &caller_context(config, region, &w.caller))
}

/// [`simulate_line`] given what `simulate` assumes for the witness's caller.
fn simulate_line_from(region: &str, w: &AccessRequest, defaults: &Context) -> String {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(512);
    line.push_str("idc-guard simulate ");
    line.push_str(REPRODUCE_FILES);
    let (principal, role_arn) = match &w.caller {
        Caller::Aws(a) => match &a.session_arn {
            Some(s) if !s.ends_with("/idc-guard-probe") || a.arn.matches('/').count() > 1 => {
                (s.clone(), Some(a.arn.as_str()))
            }
            _ => (a.arn.clone(), None),
        },
        Caller::Service(s) => (s.clone(), None),
        Caller::Anonymous => ("anonymous".to_owned(), None),
        other => (other.to_string(), None),
    };
    let _ = write!(
        line,
        " --principal {principal} --action {} --region {region}",
        w.action
    );
    if let Some(arn) = role_arn {
        let _ = write!(line, " --role-arn {arn}");
    }
    for (k, k_lc, values) in w.context.iter_lc() {
        if defaults.get(k_lc) == Some(values) {
            continue;
        }
        for v in values {
            let _ = write!(line, " --context {}", shell_word(&format!("{k}={v}")));
        }
    }
    for (k, k_lc, _) in defaults.iter_lc() {
        if w.context.get(k_lc).is_none() {
            let _ = write!(line, " --absent {k}");
        }
    }
    line.push_str(" --closed-world");
    line
}

/// Where a reproduce line names the configuration and the policy: placeholders, since a
/// finding is written before anyone knows where the files live.
pub const REPRODUCE_FILES: &str = "--config <config.toml> <policy.json>";

/// `message` with the reproduce line's placeholders replaced by these files (shell-quoted),
/// for a caller that knows them (`check-policy` reading files).
pub fn with_files(message: &str, config_path: &str, policy_path: &str) -> String {
    message.replace(
        REPRODUCE_FILES,
        &format!(
            "--config {} {}",
            shell_word(config_path),
            shell_word(policy_path)
        ),
    )
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/=,@+%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// KP-INVALID's failures, one per problem (the pass is compiled with the Region's plan).
fn invalid_findings(at: &At<'_>, parsed: &ParsedPolicy, out: &mut Vec<Finding>) {
    let check = CheckId::KpInvalid;
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

/// Groups Regions the policy cannot tell apart, so the model is analysed once per group.
/// Requests differ between Regions only in the key ARN and the Region-dependent keys
/// ([`REGIONAL_KEYS`]); two Regions fall in one group when every Resource element and every
/// condition on those keys reads the same for both. A `kms:ViaService` value is
/// `<service>.<Region>.<suffix>`; a pattern with as many literal dots as that value has can
/// only match it part by part, so it reads the same for two Regions when its Region part
/// does. A pattern of another form, or a policy variable in a Region-dependent place, gives
/// each Region its own group.
fn region_classes<'r>(
    config: &Config,
    policy: &KeyPolicy,
    regions: &'r [String],
) -> Vec<Vec<&'r str>> {
    let Some(reads) = regional_reads(policy) else {
        // A Region-dependent place the comparison cannot read: each Region on its own.
        return regions.iter().map(|r| vec![r.as_str()]).collect();
    };
    let mut classes: Vec<(Option<Vec<Truth>>, Vec<&str>)> = Vec::new();
    for region in regions {
        let signature = region_signature(config, &reads, region);
        match classes
            .iter_mut()
            .find(|(sig, _)| signature.is_some() && *sig == signature)
        {
            Some((_, members)) => members.push(region),
            None => classes.push((signature, vec![region])),
        }
    }
    classes.into_iter().map(|(_, members)| members).collect()
}

/// The parts of a policy that may read differently in two Regions: every Resource element
/// (compiled once) and every condition on a Region-dependent key.
struct RegionalReads<'p> {
    resources: Vec<Pattern>,
    conditions: Vec<&'p Condition>,
}

/// `None` when a policy variable sits in a Region-dependent place.
fn regional_reads(policy: &KeyPolicy) -> Option<RegionalReads<'_>> {
    let mut reads = RegionalReads {
        resources: Vec::new(),
        conditions: Vec::new(),
    };
    for s in &policy.statements {
        let (ResourceClause::Resource(ts) | ResourceClause::NotResource(ts)) = &s.resource;
        for t in ts {
            if t.has_variables() {
                return None;
            }
            reads.resources.push(literal_pattern(t)?);
        }
        for c in s
            .conditions
            .iter()
            .filter(|c| REGIONAL_KEYS.contains(&c.key_lc.as_str()))
        {
            if c.values.iter().any(Template::has_variables) {
                return None;
            }
            reads.conditions.push(c);
        }
    }
    Some(reads)
}

/// How the policy reads one Region; `None` when it cannot be compared with another's.
fn region_signature(
    config: &Config,
    reads: &RegionalReads<'_>,
    region: &str,
) -> Option<Vec<Truth>> {
    let key_arn = config.key_arn_in(region);
    let kind = if region == config.primary_region {
        "PRIMARY"
    } else {
        "REPLICA"
    };
    let mut sig: Vec<Truth> = reads
        .resources
        .iter()
        .map(|p| resource_match(p, &key_arn))
        .collect();
    for c in &reads.conditions {
        if c.key_lc == "kms:viaservice" {
            for v in &c.values {
                sig.push(via_service_part(c, &v.raw, region)?);
            }
            continue;
        }
        let value = if c.key_lc == "aws:requestedregion" {
            region
        } else {
            kind
        };
        let mut ctx = Context::default();
        ctx.set(&c.key_lc, value);
        sig.push(c.evaluate(&ctx));
    }
    Some(sig)
}

fn literal_pattern(t: &Template) -> Option<idc_guard_policy::pattern::Pattern> {
    t.resolve_pattern(&Context::default())
        .map(|p| p.into_owned())
}

/// Whether a `kms:ViaService` value's Region part matches `region`, when the value has the
/// shape of one (`<service>.<Region>.<suffix>`, as many dots) and the operator compares text;
/// `None` otherwise.
fn via_service_part(c: &Condition, value: &str, region: &str) -> Option<Truth> {
    let suffix = dns_suffix(region);
    let value_dots = 2 + suffix.matches('.').count();
    if value.matches('.').count() != value_dots {
        return None;
    }
    let mut parts = value.splitn(3, '.');
    let (_, region_part, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let same = |a: &str, b: &str| match c.operator.family {
        Family::StringEquals => Some(a == b),
        Family::StringEqualsIgnoreCase => Some(a.eq_ignore_ascii_case(b)),
        Family::StringLike => Some(idc_guard_policy::pattern::wildcard_match(a, b)),
        _ => None,
    };
    Some(Truth::from(
        same(region_part, region)? && same(rest, suffix)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::example_with;
    use crate::model::render::render_policy;

    fn config(extra: &str) -> Config {
        let regions = r#"["us-east-1", "us-west-2", "eu-west-1"]"#;
        Config::from_toml(&example_with(regions, extra), "test.toml").unwrap()
    }

    fn failing(report: &KeyPolicyReport) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = report
            .problems()
            .map(|f| (f.region.clone(), f.check.to_string()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn descriptions_leave_out_every_key_simulate_assumes() {
        let c = config("");
        let callers = [
            Caller::root("111122223333", "aws"),
            Caller::role("111122223333", "Admin", "aws"),
            Caller::Service("sso.amazonaws.com".to_owned()),
            Caller::Anonymous,
        ];
        for region in &c.regions {
            for caller in &callers {
                for (k, _) in caller_context(&c, region, caller).iter() {
                    assert!(is_identity_or_base(&k.to_ascii_lowercase()), "{k}");
                }
            }
        }
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
    fn public_decrypt_is_external_access_with_a_reproducible_witness() {
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
            .find(|f| f.check == "KP-EXTERNAL-ACCESS" && f.region == "eu-west-1")
            .unwrap();
        assert_eq!(f.statement.as_deref(), Some("Oops (index 5)"));
        assert!(
            f.message.contains("Reproduce: idc-guard simulate"),
            "{}",
            f.message
        );
        assert!(f.message.contains("--region eu-west-1"), "{}", f.message);
    }

    #[test]
    fn via_service_patterns_split_regions_only_where_they_differ() {
        use idc_guard_policy::document::condition::Operator;
        let like = Condition::new(
            Operator::parse("StringLike").unwrap(),
            "kms:ViaService",
            vec![],
        );
        let equals = Condition::new(
            Operator::parse("StringEquals").unwrap(),
            "kms:ViaService",
            vec![],
        );
        let ci = Condition::new(
            Operator::parse("StringEqualsIgnoreCase").unwrap(),
            "kms:ViaService",
            vec![],
        );
        assert_eq!(
            via_service_part(&like, "sso.*.amazonaws.com", "us-east-1"),
            Some(Truth::True)
        );
        assert_eq!(
            via_service_part(&like, "ec2.us-east-?.amazonaws.com", "us-east-2"),
            Some(Truth::True)
        );
        assert_eq!(
            via_service_part(&like, "ec2.us-east-?.amazonaws.com", "eu-west-1"),
            Some(Truth::False)
        );
        // StringEquals reads `*` as a character.
        assert_eq!(
            via_service_part(&equals, "sso.*.amazonaws.com", "us-east-1"),
            Some(Truth::False)
        );
        assert_eq!(
            via_service_part(&ci, "SSO.US-EAST-1.AMAZONAWS.COM", "us-east-1"),
            Some(Truth::True)
        );
        // Fewer dots: a wildcard may span parts; no comparison.
        assert_eq!(
            via_service_part(&like, "*.amazonaws.com", "us-east-1"),
            None
        );
    }
}
