//! Evaluation of a request against a key policy, by IAM's documented logic for a resource
//! policy: an explicit Deny wins, then any Allow, otherwise the request is implicitly denied.
//!
//! Where AWS's documentation leaves the answer open (see `docs/policy-semantics.md`), a match
//! is [`Truth::Unknown`] and the caller's [`Reading`] decides: checks that something must be
//! allowed use [`Reading::GrantsLeast`], checks that something must be denied use
//! [`Reading::GrantsMost`]. Either way an open question can only make a check fail, never pass.

use crate::actions::ActionSet;
use crate::document::principal::{AwsPrincipal, PrincipalSet};
use crate::document::{
    ActionClause, Effect, KeyPolicy, PrincipalClause, ResourceClause, Statement, StatementRef,
};
use crate::logic::Truth;
use crate::pattern::resource_match;
use crate::request::{AccessRequest, AwsCaller, Caller, Context};

/// How to resolve points AWS has not documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Assume the policy grants as little as it might: an undecided Allow does not apply, an
    /// undecided Deny does. For requests that must be allowed.
    GrantsLeast,
    /// Assume the policy grants as much as it might: an undecided Allow applies, an undecided
    /// Deny does not. For requests that must be denied.
    GrantsMost,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some statement allows and none denies.
    Allowed,
    /// A Deny statement applies.
    ExplicitDeny,
    /// No statement applies.
    ImplicitDeny,
}

/// A decision with the statements that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or denied, and how.
    pub outcome: Outcome,
    /// The deciding statements: the applying Deny statements for an explicit deny, the
    /// applying Allow statements for an allow, none for an implicit deny.
    pub statements: Vec<StatementRef>,
    /// Whether an undocumented point was resolved by the reading to reach this decision.
    pub by_reading: bool,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }
}

/// Evaluates one request.
pub fn evaluate(policy: &KeyPolicy, request: &AccessRequest, reading: Reading) -> Decision {
    evaluate_with_actions(policy, request, ActionSet::EMPTY, reading).0
}

/// [`evaluate`] for `request`, and in the same pass over the policy the subset of `actions`
/// (key actions; the context must be the same for each) it allows: one reading of each
/// statement serves both.
pub fn evaluate_with_actions(
    policy: &KeyPolicy,
    request: &AccessRequest,
    actions: ActionSet,
    reading: Reading,
) -> (Decision, ActionSet) {
    let mut allows = Vec::new();
    let mut denies = Vec::new();
    let mut by_reading = false;
    let (mut allowed, mut denied) = (ActionSet::EMPTY, ActionSet::EMPTY);
    // A key action is looked up once, then tested against each statement's set.
    let key_action = crate::actions::index_of(&request.action).map(ActionSet::single);
    for s in &policy.statements {
        let covered = match key_action {
            Some(a) => !s.key_actions.intersect(a).is_empty(),
            None => action_matches(&s.action, &request.action),
        };
        let relevant = s.key_actions.intersect(actions);
        if !covered && relevant.is_empty() {
            continue;
        }
        let truth = applies(s, &request.caller, &request.resource, &request.context);
        let (hit, read) = resolve(truth, s.effect, reading);
        if covered {
            by_reading |= read;
        }
        if !hit {
            continue;
        }
        match s.effect {
            Effect::Allow => {
                allowed = allowed.union(relevant);
                if covered {
                    allows.push(s.reference());
                }
            }
            Effect::Deny => {
                denied = denied.union(relevant);
                if covered {
                    denies.push(s.reference());
                }
            }
        }
    }
    let decision = if !denies.is_empty() {
        Decision {
            outcome: Outcome::ExplicitDeny,
            statements: denies,
            by_reading,
        }
    } else if !allows.is_empty() {
        Decision {
            outcome: Outcome::Allowed,
            statements: allows,
            by_reading,
        }
    } else {
        Decision {
            outcome: Outcome::ImplicitDeny,
            statements: Vec::new(),
            by_reading,
        }
    };
    (decision, allowed.minus(denied))
}

/// Evaluates many key actions for one caller and context in a single pass over the policy.
/// Returns the allowed subset of `actions`. Conditions are evaluated once per statement, so
/// the context must be the same for every action in the set.
pub fn allowed_actions(
    policy: &KeyPolicy,
    caller: &Caller,
    resource: &str,
    context: &Context,
    actions: ActionSet,
    reading: Reading,
) -> ActionSet {
    let mut allowed = ActionSet::EMPTY;
    let mut denied = ActionSet::EMPTY;
    for s in &policy.statements {
        let relevant = s.key_actions.intersect(actions);
        // Nothing to gain: no action of interest, or an Allow adding only what is allowed or denied.
        let useless = match s.effect {
            Effect::Allow => relevant.minus(allowed).minus(denied).is_empty(),
            Effect::Deny => relevant.minus(denied).is_empty(),
        };
        if useless {
            continue;
        }
        if resolve(applies(s, caller, resource, context), s.effect, reading).0 {
            match s.effect {
                Effect::Allow => allowed = allowed.union(relevant),
                Effect::Deny => denied = denied.union(relevant),
            }
        }
    }
    allowed.minus(denied)
}

/// Whether a statement's Principal, Resource and Condition hold (its Action aside).
pub fn applies(s: &Statement, caller: &Caller, resource: &str, ctx: &Context) -> Truth {
    let principal = match &s.principal {
        PrincipalClause::Principal(set) => principal_in(set, caller),
        PrincipalClause::NotPrincipal(set) => not_principal_excludes(set, caller).negate(),
    };
    if principal == Truth::False {
        return Truth::False;
    }
    let resource_ok = resource_applies(&s.resource, resource, ctx);
    let mut truth = principal.and(resource_ok);
    for c in &s.conditions {
        if truth == Truth::False {
            break;
        }
        truth = truth.and(c.evaluate(ctx));
    }
    truth
}

/// Whether the Resource / NotResource element covers `resource`. A pattern whose variable has
/// no value in the request is undecided (the policy variables page says such a value "will not
/// match any resource"; whether that holds under NotResource is not written down).
pub fn resource_applies(clause: &ResourceClause, resource: &str, ctx: &Context) -> Truth {
    let (ts, negated) = match clause {
        ResourceClause::Resource(ts) => (ts, false),
        ResourceClause::NotResource(ts) => (ts, true),
    };
    let any = ts.iter().fold(Truth::False, |acc, t| {
        acc.or(match t.resolve_pattern(ctx) {
            Some(p) => resource_match(&p, resource),
            None => Truth::Unknown,
        })
    });
    if negated { any.negate() } else { any }
}

fn resolve(truth: Truth, effect: Effect, reading: Reading) -> (bool, bool) {
    match truth {
        Truth::True => (true, false),
        Truth::False => (false, false),
        Truth::Unknown => {
            let hit = matches!(
                (effect, reading),
                (Effect::Allow, Reading::GrantsMost) | (Effect::Deny, Reading::GrantsLeast)
            );
            (hit, true)
        }
    }
}

/// Whether an action name matches the Action / NotAction element (case-insensitive).
pub fn action_matches(clause: &ActionClause, action: &str) -> bool {
    match clause {
        ActionClause::Action(ps) => ps.iter().any(|p| p.pattern.matches_ascii_ci(action)),
        ActionClause::NotAction(ps) => !ps.iter().any(|p| p.pattern.matches_ascii_ci(action)),
    }
}

/// Whether the caller is one of the principals in the set.
pub fn principal_in(set: &PrincipalSet, caller: &Caller) -> Truth {
    if set.any {
        return Truth::True;
    }
    let aws_any = set.aws.contains(&AwsPrincipal::Any);
    match caller {
        Caller::Aws(a) => Truth::from(aws_any || set.aws.iter().any(|p| aws_matches(p, a))),
        // The user guide states `{"AWS": "*"}` equals `"*"` for anonymous callers only.
        Caller::Anonymous => Truth::from(aws_any),
        Caller::Service(s) => {
            if set.service.iter().any(|x| x.eq_ignore_ascii_case(s)) {
                Truth::True
            } else if aws_any {
                Truth::Unknown
            } else {
                Truth::False
            }
        }
        Caller::Federated(f) => {
            if set.federated.iter().any(|x| x == f) {
                Truth::True
            } else if aws_any {
                Truth::Unknown
            } else {
                Truth::False
            }
        }
        Caller::Canonical(c) => Truth::from(set.canonical.iter().any(|x| x == c)),
    }
}

fn aws_matches(p: &AwsPrincipal, a: &AwsCaller) -> bool {
    match p {
        AwsPrincipal::Any => true,
        AwsPrincipal::Account { account, partition } => {
            *account == a.account
                && partition.as_deref().is_none_or(|part| {
                    a.arn
                        .strip_prefix("arn:")
                        .is_some_and(|r| r.starts_with(&format!("{part}:")))
                })
        }
        AwsPrincipal::Role { arn, .. }
        | AwsPrincipal::User { arn, .. }
        | AwsPrincipal::FederatedUser { arn, .. } => *arn == a.arn,
        AwsPrincipal::AssumedRole { arn, .. } => a.session_arn.as_deref() == Some(arn.as_str()),
        AwsPrincipal::UniqueId(_) => false,
    }
}

/// Whether a `NotPrincipal` list excludes the caller. The user guide: AWS "might validate the
/// account first, then the role, and then the assumed-role user", so a role session is
/// certainly excluded only when its account and its role (or session) are both listed. Where
/// only the usual Principal matching would exclude it, the answer is unknown.
fn not_principal_excludes(set: &PrincipalSet, caller: &Caller) -> Truth {
    let loose = principal_in(set, caller);
    let Caller::Aws(a) = caller else { return loose };
    if set.any || set.aws.contains(&AwsPrincipal::Any) {
        return Truth::True;
    }
    let account_listed = set
        .aws
        .iter()
        .any(|p| matches!(p, AwsPrincipal::Account { .. }) && aws_matches(p, a));
    let is_root = a.arn.ends_with(":root");
    let identity_listed = set
        .aws
        .iter()
        .any(|p| !matches!(p, AwsPrincipal::Account { .. }) && aws_matches(p, a));
    if account_listed && (is_root || identity_listed) {
        Truth::True
    } else if loose == Truth::True {
        Truth::Unknown
    } else {
        Truth::False
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::parse_key_policy;

    fn policy(statements: &str) -> KeyPolicy {
        let text = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
        let parsed = parse_key_policy(&text);
        parsed
            .policy
            .unwrap_or_else(|| panic!("{:?}", parsed.problems))
    }

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef";

    fn req(caller: Caller, action: &str) -> AccessRequest {
        let mut context = Context::default();
        context.set("aws:ResourceAccount", "111122223333");
        AccessRequest {
            caller,
            action: action.to_owned(),
            resource: KEY.to_owned(),
            context,
        }
    }

    fn outsider() -> Caller {
        Caller::role("999988887777", "Attacker", "aws")
    }

    #[test]
    fn deny_beats_allow_and_names_the_statement() {
        let p = policy(
            r#"{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
               {"Sid":"D","Effect":"Deny","Principal":{"AWS":"999988887777"},"Action":"kms:Decrypt","Resource":"*"}"#,
        );
        let d = evaluate(&p, &req(outsider(), "kms:Decrypt"), Reading::GrantsMost);
        assert_eq!(d.outcome, Outcome::ExplicitDeny);
        assert_eq!(d.statements[0].to_string(), "D (index 1)");
        let d = evaluate(&p, &req(outsider(), "KMS:ENCRYPT"), Reading::GrantsMost);
        assert_eq!(d.outcome, Outcome::Allowed);
        assert_eq!(
            evaluate(&p, &req(outsider(), "s3:GetObject"), Reading::GrantsMost).outcome,
            Outcome::ImplicitDeny
        );
    }

    #[test]
    fn account_principal_covers_roles_and_sessions() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#,
        );
        for c in [
            Caller::role("111122223333", "Admin", "aws"),
            Caller::root("111122223333", "aws"),
        ] {
            assert!(evaluate(&p, &req(c, "kms:PutKeyPolicy"), Reading::GrantsLeast).is_allowed());
        }
        assert!(
            !evaluate(
                &p,
                &req(outsider(), "kms:PutKeyPolicy"),
                Reading::GrantsMost
            )
            .is_allowed()
        );
        assert!(
            !evaluate(
                &p,
                &req(Caller::Service("sso.amazonaws.com".into()), "kms:Decrypt"),
                Reading::GrantsMost
            )
            .is_allowed()
        );
    }

    #[test]
    fn role_principal_covers_its_sessions_only() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":"kms:*","Resource":"*"}"#,
        );
        assert!(
            evaluate(
                &p,
                &req(Caller::role("111122223333", "Admin", "aws"), "kms:Decrypt"),
                Reading::GrantsLeast
            )
            .is_allowed()
        );
        assert!(
            !evaluate(
                &p,
                &req(Caller::role("111122223333", "Other", "aws"), "kms:Decrypt"),
                Reading::GrantsMost
            )
            .is_allowed()
        );
        assert!(
            !evaluate(
                &p,
                &req(Caller::root("111122223333", "aws"), "kms:Decrypt"),
                Reading::GrantsMost
            )
            .is_allowed()
        );
    }

    #[test]
    fn not_action_not_resource_not_principal() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":"*","NotAction":["kms:Put*","kms:Schedule*"],"NotResource":"arn:aws:kms:eu-*:*:key/*"}"#,
        );
        assert!(evaluate(&p, &req(outsider(), "kms:Decrypt"), Reading::GrantsMost).is_allowed());
        assert!(
            !evaluate(
                &p,
                &req(outsider(), "kms:PutKeyPolicy"),
                Reading::GrantsMost
            )
            .is_allowed()
        );
        let mut r = req(outsider(), "kms:Decrypt");
        r.resource = r.resource.replace("us-east-1", "eu-west-1");
        assert!(!evaluate(&p, &r, Reading::GrantsMost).is_allowed());

        let deny_all_but = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
               {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:role/Admin"]},"Action":"kms:*","Resource":"*"}"#,
        );
        assert!(
            !evaluate(
                &deny_all_but,
                &req(outsider(), "kms:Decrypt"),
                Reading::GrantsMost
            )
            .is_allowed()
        );
        assert!(
            evaluate(
                &deny_all_but,
                &req(Caller::role("111122223333", "Admin", "aws"), "kms:Decrypt"),
                Reading::GrantsLeast
            )
            .is_allowed()
        );
        // Only the account is listed: whether its other roles escape the Deny is not documented.
        let d = evaluate(
            &deny_all_but,
            &req(Caller::role("111122223333", "Other", "aws"), "kms:Decrypt"),
            Reading::GrantsLeast,
        );
        assert!(!d.is_allowed() && d.by_reading);
        let d = evaluate(
            &deny_all_but,
            &req(Caller::role("111122223333", "Other", "aws"), "kms:Decrypt"),
            Reading::GrantsMost,
        );
        assert!(d.is_allowed() && d.by_reading);
    }

    #[test]
    fn aws_star_and_services() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}"#,
        );
        let svc = req(Caller::Service("sso.amazonaws.com".into()), "kms:Decrypt");
        assert!(evaluate(&p, &svc, Reading::GrantsMost).is_allowed());
        assert!(!evaluate(&p, &svc, Reading::GrantsLeast).is_allowed());
        assert!(
            evaluate(
                &p,
                &req(Caller::Anonymous, "kms:Decrypt"),
                Reading::GrantsLeast
            )
            .is_allowed()
        );
    }

    #[test]
    fn batch_agrees_with_single_requests() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":["kms:Gen*","kms:Decrypt","kms:PutKeyPolicy"],"Resource":"*"},
               {"Effect":"Deny","Principal":"*","Action":"kms:Put*","Resource":"*"}"#,
        );
        let r = req(outsider(), "x");
        let got = allowed_actions(
            &p,
            &r.caller,
            &r.resource,
            &r.context,
            ActionSet::all(),
            Reading::GrantsMost,
        );
        for a in crate::actions::KEY_ACTIONS {
            let single = evaluate(&p, &req(outsider(), a), Reading::GrantsMost).is_allowed();
            assert_eq!(got.contains(a), single, "{a}");
        }
    }
}
