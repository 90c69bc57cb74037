//! Tests that can break the analysis's claims.
//!
//! Random statements (every operator family, IfExists, set operators, NotAction, NotPrincipal,
//! Deny, principals inside and outside the organization, services, keys the caller chooses and
//! keys the environment sets) are added to the rendered model policy. For each policy, the
//! KP-EXTERNAL-ACCESS question is asked of the analysis:
//! - where it answers "no outsider can use the key", 100,000 random outsider requests, drawn
//!   from the whole space (random kinds, accounts, organizations, services, actions, and values
//!   for every condition key the policy mentions, from its own constants, mutations of them and
//!   random text, or absent), must find no Allow;
//! - where it answers "yes", every witness is a request from outside the organization that the
//!   evaluator allows.
//!
//! The same for KP-ADMIN: where the analysis says the administrators keep the key in every
//! circumstance, random circumstances (network, time, MFA, tags, ...) never deny them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A test may be a long table of cases.
#![allow(clippy::too_many_lines)]

use idc_guard_core::config::Config;
use idc_guard_core::model::{ModelQuestion, RegionModel};
use idc_guard_policy::actions::{self, ActionSet};
use idc_guard_policy::analysis::{Answer, Limits, Question, find_allowed, find_denied};
use idc_guard_policy::document::KeyPolicy;
use idc_guard_policy::eval::{Reading, allowed_actions, applies, evaluate, evaluate_with_actions};
use idc_guard_policy::logic::Truth;
use idc_guard_policy::request::{AccessRequest, AwsCaller, Caller, Context};
use idc_guard_tests::BASE_CONFIG;
use idc_guard_tests::policy_gen::{ORG, Rng, random_policy, seed};

const REGION: &str = "us-east-1";

fn config() -> Config {
    Config::from_toml(BASE_CONFIG, "base").unwrap()
}

fn question<'a>(mq: &'a ModelQuestion, resource: &'a str) -> Question<'a> {
    mq.question(resource, "aws", REGION, Limits::default())
}

/// Values for one key, of the key's documented type: its policy constants, values next to them,
/// mutations of them, random ones.
fn random_values(rng: &mut Rng, key: &str, constants: &[String]) -> Vec<String> {
    use idc_guard_policy::keys::{Shape, info};
    if key.eq_ignore_ascii_case("kms:ViaService") {
        let svc = rng
            .pick(&["s3", "ec2", "sso", "identitystore", "rds", "x"])
            .to_owned();
        return vec![format!("{svc}.{REGION}.amazonaws.com")];
    }
    let constant = |rng: &mut Rng| -> String {
        if constants.is_empty() {
            "x".to_owned()
        } else {
            rng.pick(constants).clone()
        }
    };
    let number = |rng: &mut Rng, c: &str| -> i64 {
        let base: i64 = c.parse().unwrap_or(0);
        base + [-1, 0, 1, 1000, -1000][rng.below(5)]
    };
    let one = |rng: &mut Rng| -> String {
        match info(&key.to_ascii_lowercase()).shape {
            Shape::Ip => {
                let c = constant(rng);
                let base: Vec<u8> = c
                    .split(['.', '/'])
                    .take(4)
                    .map(|p| p.parse().unwrap_or(0))
                    .collect();
                let mut octets = [0u8; 4];
                for (k, o) in octets.iter_mut().enumerate() {
                    *o = if rng.chance(60) {
                        *base.get(k).unwrap_or(&0)
                    } else {
                        rng.below(256) as u8
                    };
                }
                format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3])
            }
            Shape::Date => {
                if rng.chance(50) {
                    constant(rng)
                } else {
                    format!(
                        "{}-{:02}-{:02}T{:02}:00:00Z",
                        2000 + rng.below(120),
                        1 + rng.below(12),
                        1 + rng.below(28),
                        rng.below(24)
                    )
                }
            }
            Shape::Epoch | Shape::Number | Shape::Range(..) => {
                let c = constant(rng);
                number(rng, &c).max(0).to_string()
            }
            Shape::Bool => ["true", "false"][rng.below(2)].to_owned(),
            Shape::Text => {
                let plain: String = constant(rng).replace(['*', '?'], "q");
                match rng.below(6) {
                    0 | 1 => plain,
                    2 => format!("{plain}x"),
                    3 => plain.to_uppercase(),
                    4 => plain.get(..plain.len() / 2).unwrap_or("").to_owned(),
                    _ => ["x", "", "athena.amazonaws.com", "AROAEXAMPLE:alice"][rng.below(4)]
                        .to_owned(),
                }
            }
        }
    };
    let n = if rng.chance(80) { 1 } else { 2 };
    (0..n).map(|_| one(rng)).collect()
}

/// The policy's constants for a key (resolved variables left out).
fn constants(policy: &KeyPolicy, key_lc: &str) -> Vec<String> {
    policy
        .statements
        .iter()
        .flat_map(|s| s.conditions.iter())
        .filter(|c| c.key_lc == key_lc)
        .flat_map(|c| c.values.iter().map(|v| v.raw.clone()))
        .collect()
}

/// The free keys a policy mentions, each with the policy's constants for it.
fn free_keys(policy: &KeyPolicy, base: &Context) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<String> = policy
        .statements
        .iter()
        .flat_map(|s| s.conditions.iter().map(|c| c.key_lc.clone()))
        .filter(|k| {
            !(k.starts_with("aws:principal")
                || k.starts_with("aws:source")
                || k == "kms:calleraccount"
                || base.get(k).is_some())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let c = constants(policy, &k);
            (k, c)
        })
        .collect()
}

/// An organization path of `org`: the root alone, or an OU below it.
fn org_path(rng: &mut Rng, org: &str) -> String {
    let rest = *rng.pick(&[
        "r-ab12/",
        "r-ab12/ou-ab12-11111111/",
        "r-cd34/ou-cd34-22222222/",
    ]);
    format!("{org}/{rest}")
}

/// The values a key holds in a request: one for a single-valued key.
fn fit(key: &str, mut values: Vec<String>) -> Vec<String> {
    if !idc_guard_policy::keys::info(key).multivalued {
        values.truncate(1);
    }
    values
}

/// A random request from outside the organization, anywhere in the space.
fn random_outsider(
    rng: &mut Rng,
    free: &[(String, Vec<String>)],
    base: &Context,
    resource: &str,
) -> AccessRequest {
    let mut ctx = base.clone();
    let accounts = [
        "999988887777",
        "777788889999",
        "000000000001",
        "210987654321",
    ];
    let kind = rng.below(6);
    let account = (*rng.pick(&accounts)).to_owned();
    let caller = match kind {
        0 => Caller::root(&account, "aws"),
        1 => {
            const ROLES: [&str; 4] = ["app-1", "x", "path/app-1", "Outsider"];
            let role = ROLES[rng.below(ROLES.len())];
            Caller::role(&account, role, "aws")
        }
        2 => Caller::Aws(AwsCaller {
            arn: format!("arn:aws:iam::{account}:user/alice"),
            account: account.clone(),
            session_arn: None,
        }),
        3 => Caller::Aws(AwsCaller {
            arn: format!("arn:aws:sts::{account}:federated-user/bob"),
            account: account.clone(),
            session_arn: None,
        }),
        4 => Caller::Service(
            (*rng.pick(&["logs.amazonaws.com", "sso.amazonaws.com", "x.amazonaws.com"])).to_owned(),
        ),
        _ => Caller::Anonymous,
    };
    match &caller {
        Caller::Aws(a) => {
            ctx.set("aws:PrincipalArn", &a.arn)
                .set("aws:PrincipalAccount", &a.account)
                .set("kms:CallerAccount", &a.account)
                .set("aws:PrincipalIsAWSService", "false");
            if rng.chance(50) {
                let org = *rng.pick(&["o-zzzzzzzzzz", "o-bbbbbbbbbb"]);
                ctx.set("aws:PrincipalOrgID", org);
                ctx.set_values("aws:PrincipalOrgPaths", vec![org_path(rng, org)]);
            }
        }
        Caller::Service(s) => {
            ctx.set("aws:PrincipalIsAWSService", "true")
                .set("aws:PrincipalServiceName", s);
            if rng.chance(70) {
                ctx.set("aws:SourceAccount", &account);
                if rng.chance(50) {
                    ctx.set("aws:SourceOrgID", "o-zzzzzzzzzz");
                    ctx.set_values("aws:SourceOrgPaths", vec![org_path(rng, "o-zzzzzzzzzz")]);
                }
            }
        }
        _ => {}
    }
    // Every free key the policy mentions: absent, or random values.
    for (k, constants) in free {
        if rng.chance(30) {
            continue;
        }
        let values = random_values(rng, k, constants);
        if k == "kms:encryptioncontextkeys" {
            for name in &values {
                ctx.set(&format!("kms:EncryptionContext:{name}"), "v");
            }
        }
        if let Some(name) = k.strip_prefix("kms:encryptioncontext:") {
            ctx.add("kms:EncryptionContextKeys", name);
        }
        ctx.set_values(k, fit(k, values));
    }
    let uses: Vec<&str> = actions::use_of_key().names().collect();
    AccessRequest {
        caller,
        action: (*rng.pick(&uses)).to_owned(),
        resource: resource.to_owned(),
        context: ctx,
    }
}

fn is_outsider(r: &AccessRequest, exclusions: &[idc_guard_policy::document::Statement]) -> bool {
    !exclusions
        .iter()
        .any(|x| applies(x, &r.caller, &r.resource, &r.context) == Truth::True)
}

#[test]
fn no_outsider_means_no_sampled_request_gets_in_and_yes_comes_with_a_real_one() {
    let config = config();
    let model = RegionModel::new(&config, REGION);
    let questions = model.questions();
    let external = questions
        .iter()
        .find(|q| q.check == idc_guard_core::checks::CheckId::KpExternalAccess)
        .unwrap();
    let resource = config.key_arn_in(REGION);
    let mut rng = Rng(seed(0x5eed_0001));
    let (mut no, mut yes, mut undecided, mut sampled_in) = (0, 0, 0, 0);
    for case in 0..48 {
        let (text, policy) = random_policy(&mut rng, &config);
        let answer: Answer = find_allowed(&policy, &question(external, &resource));
        if !answer.witnesses.is_empty() {
            yes += 1;
            for w in &answer.witnesses {
                assert!(
                    evaluate(&policy, &w.request, Reading::GrantsMost).is_allowed(),
                    "case {case}: the witness is not allowed: {w:?}\n{text}"
                );
                assert!(
                    is_outsider(&w.request, &external.exclusions),
                    "case {case}: {w:?}"
                );
            }
            // The sampler has teeth: where a way in exists, it finds one now and then.
            let free = free_keys(&policy, &external.fixed);
            let found = (0..5_000).any(|_| {
                let r = random_outsider(&mut rng, &free, &external.fixed, &resource);
                is_outsider(&r, &external.exclusions)
                    && evaluate(&policy, &r, Reading::GrantsMost).is_allowed()
            });
            sampled_in += usize::from(found);
            continue;
        }
        if answer.undecided.is_some() {
            undecided += 1;
            continue;
        }
        no += 1;
        let free = free_keys(&policy, &external.fixed);
        for i in 0..100_000 {
            let r = random_outsider(&mut rng, &free, &external.fixed, &resource);
            if !is_outsider(&r, &external.exclusions) {
                continue;
            }
            let d = evaluate(&policy, &r, Reading::GrantsMost);
            assert!(
                !d.is_allowed(),
                "case {case}, sample {i}: the analysis says no outsider gets in, but {r:?} is allowed by {:?}\n{text}",
                d.statements
            );
        }
    }
    eprintln!(
        "{no} cases without an outsider (100,000 samples each), {yes} with ({sampled_in} of them also found by sampling), {undecided} undecided"
    );
    assert!(
        no >= 8 && yes >= 8,
        "the generator must give both answers: {no} no, {yes} yes"
    );
    assert!(
        sampled_in * 2 >= yes,
        "the sampler finds too few of the ways in the analysis shows ({sampled_in} of {yes}): it would not catch a wrong \"no\" either"
    );
}

#[test]
fn admins_keep_the_key_in_every_sampled_circumstance_when_the_analysis_says_so() {
    let config = config();
    let questions = RegionModel::new(&config, REGION).questions();
    let admin = questions
        .iter()
        .find(|q| {
            q.check == idc_guard_core::checks::CheckId::KpAdmin
                && q.label.contains("administrator role")
        })
        .unwrap();
    let idc_guard_policy::analysis::Principals::Caller { caller, .. } = &admin.principals else {
        panic!()
    };
    let resource = config.key_arn_in(REGION);
    // The administrator's own keys, the same in every sample.
    let Caller::Aws(a) = caller else { panic!() };
    let mut identity = admin.fixed.clone();
    identity
        .set("aws:PrincipalArn", &a.arn)
        .set("aws:PrincipalAccount", &a.account)
        .set("kms:CallerAccount", &a.account)
        .set("aws:PrincipalIsAWSService", "false")
        .set("aws:PrincipalType", "AssumedRole")
        .set("aws:ViaAWSService", "false")
        .set("aws:PrincipalOrgID", ORG)
        .set_values("aws:PrincipalOrgPaths", vec![format!("{ORG}/r-ab12/")]);
    let admin_actions: Vec<&str> = actions::admin_required()
        .minus(ActionSet::of(&["kms:CreateGrant"]))
        .names()
        .collect();
    let mut rng = Rng(seed(0x5eed_0002));
    let (mut holds, mut fails) = (0, 0);
    for case in 0..48 {
        let (text, policy) = random_policy(&mut rng, &config);
        let answer = find_denied(&policy, &question(admin, &resource));
        if !answer.witnesses.is_empty() {
            fails += 1;
            for w in &answer.witnesses {
                assert!(
                    !evaluate(&policy, &w.request, Reading::GrantsLeast).is_allowed(),
                    "case {case}: the denial is not one: {w:?}\n{text}"
                );
            }
            continue;
        }
        if answer.undecided.is_some() {
            continue;
        }
        holds += 1;
        let env: Vec<String> = policy
            .statements
            .iter()
            .flat_map(|s| s.conditions.iter().map(|c| c.key_lc.clone()))
            .filter(|k| {
                idc_guard_policy::keys::info(k).source
                    == idc_guard_policy::keys::Source::Environment
                    && *k != "kms:viaservice"
            })
            .collect();
        for i in 0..20_000 {
            let mut ctx = identity.clone();
            for k in &env {
                if rng.chance(30) {
                    continue;
                }
                let values = random_values(&mut rng, k, &constants(&policy, k));
                ctx.set_values(k, fit(k, values));
            }
            let r = AccessRequest {
                caller: caller.clone(),
                action: (*rng.pick(&admin_actions)).to_owned(),
                resource: resource.clone(),
                context: ctx,
            };
            let d = evaluate(&policy, &r, Reading::GrantsLeast);
            assert!(
                d.is_allowed(),
                "case {case}, sample {i}: the analysis says the administrators keep the key, but {r:?} is {:?} by {:?}\n{text}",
                d.outcome,
                d.statements
            );
        }
    }
    eprintln!(
        "{holds} cases where the administrators keep the key (20,000 samples each), {fails} where they lose it"
    );
    assert!(holds >= 8 && fails >= 1, "{holds} hold, {fails} fail");
}

#[test]
fn the_cheap_tests_never_change_an_answer() {
    let config = config();
    let questions = RegionModel::new(&config, REGION).questions();
    let resource = config.key_arn_in(REGION);
    let mut rng = Rng(seed(0x5eed_0003));
    let mut compared = 0;
    for case in 0..40 {
        let (text, policy) = random_policy(&mut rng, &config);
        for mq in &questions {
            let mut full = question(mq, &resource);
            full.limits.screening = false;
            let screened = question(mq, &resource);
            let (a, b) = if mq.must_allow {
                (find_denied(&policy, &screened), find_denied(&policy, &full))
            } else {
                (
                    find_allowed(&policy, &screened),
                    find_allowed(&policy, &full),
                )
            };
            if a.undecided.is_some() || b.undecided.is_some() {
                continue;
            }
            compared += 1;
            assert_eq!(
                a.actions(),
                b.actions(),
                "case {case}, {:?} {}: screened and full searches disagree\n{text}",
                mq.check,
                mq.label
            );
        }
    }
    assert!(compared > 400, "{compared}");
}

/// The one-pass evaluation the witness confirmation uses gives what its two parts give: the
/// request's decision as `evaluate` makes it, and the allowed actions as `allowed_actions`
/// finds them, under both readings, on random policies and requests from the whole space.
#[test]
fn evaluating_a_request_with_its_sibling_actions_matches_evaluating_them_apart() {
    let config = config();
    let resource = config.key_arn_in(REGION);
    let base = RegionModel::new(&config, REGION).base_context();
    let all = ActionSet::all();
    let mut rng = Rng(seed(0x5eed_0004));
    let (mut compared, mut allowed_some) = (0, 0);
    for _ in 0..64 {
        let (text, policy) = random_policy(&mut rng, &config);
        let free = free_keys(&policy, &base);
        for _ in 0..200 {
            let r = random_outsider(&mut rng, &free, &base, &resource);
            for reading in [Reading::GrantsLeast, Reading::GrantsMost] {
                let (decision, actions) = evaluate_with_actions(&policy, &r, all, reading);
                let alone = evaluate(&policy, &r, reading);
                assert_eq!(
                    (decision.outcome, &decision.statements, decision.by_reading),
                    (alone.outcome, &alone.statements, alone.by_reading),
                    "{r:?}\n{text}"
                );
                let apart =
                    allowed_actions(&policy, &r.caller, &r.resource, &r.context, all, reading);
                assert_eq!(actions, apart, "{r:?} {reading:?}\n{text}");
                allowed_some += usize::from(!actions.is_empty());
                compared += 1;
            }
        }
    }
    assert!(
        allowed_some * 10 >= compared,
        "too few requests allowed anything ({allowed_some} of {compared}): the comparison would be empty"
    );
}
