//! Cheap, sound tests that settle most questions before any value is split: a statement that
//! cannot apply to the question's requests is left out of the search, and a required request
//! that a statement allows outright, whatever the open keys hold, needs no search at all. Each
//! test can only say "certainly"; when it cannot, the full analysis runs.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::actions::ActionSet;
use crate::document::condition::{Condition, Family, SetQualifier};
use crate::document::principal::{AwsPrincipal, PrincipalSet};
use crate::document::{PrincipalClause, ResourceClause, Statement};
use crate::eval::{Reading, resource_applies};
use crate::logic::Truth;
use crate::request::{Caller, Context};

use super::{Kind, Principals, Question};

/// Whether `s` may apply to some request of the question from a principal of `kind`; false only
/// when it certainly cannot: no action in common, a principal element that cannot name the
/// kind, a resource or a condition on a fixed key that does not hold, or a statement every
/// request of which the question excludes.
pub fn may_apply(
    s: &Statement,
    q: &Question<'_>,
    kind: Kind,
    actions: ActionSet,
    fixed: &Context,
) -> bool {
    if s.key_actions.intersect(actions).is_empty() {
        return false;
    }
    if !principal_may_match(&s.principal, kind, q.principals) {
        return false;
    }
    if resource_applies(&s.resource, q.resource, fixed) == Truth::False {
        return false;
    }
    for c in &s.conditions {
        if decided_by(&c.key_lc, q, kind) && c.evaluate(fixed) == Truth::False {
            return false;
        }
        if c.key_lc == "kms:viaservice" && !via_service_possible(c, q.region, fixed) {
            return false;
        }
    }
    !excluded(s, q, actions, fixed)
}

/// Whether a `kms:ViaService` condition can hold for a request to the key in `region`. A
/// request through a service carries that service's endpoint in the key's Region
/// (`<service>.<Region>.amazonaws.com[.cn]`), so a positive comparison whose every value
/// names another Region never holds. Anything this test cannot read counts as possible.
fn via_service_possible(c: &Condition, region: &str, fixed: &Context) -> bool {
    let op = &c.operator;
    let plain = op.set == SetQualifier::Single && !op.if_exists && !op.negated;
    if !plain || !matches!(op.family, Family::StringEquals | Family::StringLike) {
        return true;
    }
    c.values.iter().any(|v| {
        if v.raw.contains("${") {
            return true;
        }
        let text = v.resolve(fixed);
        let Some(text) = text.as_deref() else {
            return true;
        };
        let wild = op.family == Family::StringLike && text.contains(['*', '?']);
        let mut parts = text.splitn(3, '.');
        let (Some(service), Some(in_region), Some(suffix)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return wild;
        };
        let service_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        };
        if !wild {
            return service_ok(service)
                && in_region == region
                && matches!(suffix, "amazonaws.com" | "amazonaws.com.cn");
        }
        // A pattern: only its Region part can be told apart, and only when the service and
        // suffix parts are plain text.
        if service.contains(['*', '?']) || suffix.contains(['*', '?']) {
            return true;
        }
        service_ok(service)
            && crate::pattern::wildcard_match(in_region, region)
            && matches!(suffix, "amazonaws.com" | "amazonaws.com.cn")
    })
}

/// Whether every request `s` applies to is outside the question: one exclusion takes them all,
/// or, split by the literal values of one of `s`'s conditions, each part falls to some
/// exclusion (a statement for `sso.R` or `identitystore.R`, against one exclusion each).
fn excluded(s: &Statement, q: &Question<'_>, actions: ActionSet, fixed: &Context) -> bool {
    if q.exclusions
        .iter()
        .any(|x| implies(s, x, q, actions, fixed, None))
    {
        return true;
    }
    s.conditions.iter().enumerate().any(|(i, c)| {
        let plain = c.operator.set == SetQualifier::Single
            && !c.operator.if_exists
            && !c.operator.negated
            && matches!(c.operator.family, Family::StringEquals | Family::StringLike);
        if !plain {
            return false;
        }
        let Some(values) = literal_values(c, q, fixed) else {
            return false;
        };
        values.iter().all(|v| {
            q.exclusions
                .iter()
                .any(|x| implies(s, x, q, actions, fixed, Some((i, v))))
        })
    })
}

/// The keys the question (and the kind) decide: fixed values, fixed absences, and the kind's
/// own constants; for a concrete IAM caller, its ARN and account.
pub fn fixed_context(q: &Question<'_>, kind: Kind) -> Context {
    let mut ctx = q.fixed.clone();
    ctx.merge(kind_constants(kind));
    if let Principals::Caller { caller, .. } = q.principals
        && let Caller::Aws(a) = caller
    {
        ctx.set("aws:principalarn", &a.arn)
            .set("aws:principalaccount", &a.account)
            .set("kms:calleraccount", &a.account);
    }
    ctx
}

/// The keys every request of a kind carries with the same value, built once.
fn kind_constants(kind: Kind) -> &'static Context {
    static KINDS: OnceLock<[Context; 6]> = OnceLock::new();
    let all = KINDS.get_or_init(|| {
        let of = |service: &str, principal_type: Option<&str>| {
            let mut ctx = Context::default();
            if !service.is_empty() {
                ctx.set("aws:principalisawsservice", service);
            }
            if let Some(t) = principal_type {
                ctx.set("aws:principaltype", t);
            }
            ctx
        };
        [
            of("false", Some("Account")),
            of("false", Some("User")),
            of("false", Some("AssumedRole")),
            of("false", Some("FederatedUser")),
            of("true", None),
            of("", Some("Anonymous")),
        ]
    });
    let [root, user, role, federated, service, anonymous] = all;
    match kind {
        Kind::Root => root,
        Kind::User => user,
        Kind::Role => role,
        Kind::FederatedUser => federated,
        Kind::Service => service,
        Kind::Anonymous => anonymous,
    }
}

fn decided_by(key_lc: &str, q: &Question<'_>, kind: Kind) -> bool {
    if q.fixed.get(key_lc).is_some() || q.absent.iter().any(|a| a == key_lc) {
        return true;
    }
    let iam_only = matches!(
        key_lc,
        "aws:principalorgid" | "aws:principalorgpaths" | "aws:principalarn" | "kms:calleraccount"
    ) || key_lc.starts_with("aws:principaltag/");
    let service_only = matches!(
        key_lc,
        "aws:sourceaccount"
            | "aws:sourceorgid"
            | "aws:sourceorgpaths"
            | "aws:principalservicename"
            | "aws:principalservicenameslist"
    );
    match kind {
        Kind::Service => iam_only || key_lc == "aws:principalisawsservice",
        Kind::Anonymous => iam_only || service_only,
        _ => service_only || key_lc == "aws:principalisawsservice",
    }
}

fn principal_may_match(clause: &PrincipalClause, kind: Kind, principals: &Principals) -> bool {
    let PrincipalClause::Principal(set) = clause else {
        return true;
    };
    if let Principals::Caller { caller, .. } = principals {
        return crate::eval::principal_in(set, caller) != Truth::False;
    }
    if set.any {
        return true;
    }
    let aws_any = set.aws.contains(&AwsPrincipal::Any);
    match kind {
        Kind::Service => !set.service.is_empty() || aws_any,
        Kind::Anonymous => aws_any,
        _ => set.aws.iter().any(|p| match p {
            AwsPrincipal::Any | AwsPrincipal::Account { .. } => true,
            AwsPrincipal::Role { .. } | AwsPrincipal::AssumedRole { .. } => kind == Kind::Role,
            AwsPrincipal::User { .. } => kind == Kind::User,
            AwsPrincipal::FederatedUser { .. } => kind == Kind::FederatedUser,
            AwsPrincipal::UniqueId(_) => false,
        }),
    }
}

/// Whether every request `s` applies to (within the question's actions) is one the exclusion
/// `x` takes out of the question.
fn implies(
    s: &Statement,
    x: &Statement,
    q: &Question<'_>,
    actions: ActionSet,
    fixed: &Context,
    narrowed: Option<(usize, &Literal<'_>)>,
) -> bool {
    if !s
        .key_actions
        .intersect(actions)
        .minus(x.key_actions)
        .is_empty()
    {
        return false;
    }
    if !matches!(&x.resource, ResourceClause::Resource(ts) if ts.iter().any(|t| t.raw == "*")) {
        return false;
    }
    let principal_ok = match (&x.principal, &s.principal) {
        (PrincipalClause::Principal(xs), _) if xs.any => true,
        (PrincipalClause::Principal(xs), PrincipalClause::Principal(ss)) => covers(xs, ss),
        _ => false,
    };
    principal_ok
        && x.conditions.iter().all(|xc| {
            s.conditions
                .iter()
                .enumerate()
                .any(|(i, sc)| match narrowed {
                    // The statement's condition `i` narrowed to one of its values.
                    Some((n, value)) if n == i => {
                        sc.key_lc == xc.key_lc && value_implies(value, xc, fixed)
                    }
                    _ => condition_implies(sc, xc, q, fixed),
                })
        })
}

/// Whether a key holding exactly `value` satisfies the exclusion's condition `x`.
fn value_implies(value: &Literal<'_>, x: &Condition, fixed: &Context) -> bool {
    let Some(listed): Option<Vec<Cow<'_, str>>> =
        x.values.iter().map(|v| v.resolve(fixed)).collect()
    else {
        return false;
    };
    match (x.operator.family, x.operator.negated, x.operator.set) {
        (Family::StringEquals, false, SetQualifier::Single) => listed.iter().any(|l| value.is(l)),
        (Family::StringEquals, true, _) => listed.iter().all(|l| !value.is(l)),
        _ => false,
    }
}

/// Whether every principal `inner` names is one `outer` names (accounts cover their principals).
fn covers(outer: &PrincipalSet, inner: &PrincipalSet) -> bool {
    if inner.any || !inner.federated.is_empty() || !inner.canonical.is_empty() {
        return false;
    }
    let aws_ok = inner.aws.iter().all(|p| {
        outer.aws.contains(p)
            || p.account().is_some_and(|acct| {
                outer.aws.iter().any(|o| {
                    matches!(o, AwsPrincipal::Account { account, partition: None } if account == acct)
                })
            })
    });
    let service_ok = inner
        .service
        .iter()
        .all(|s| outer.service.iter().any(|o| o.eq_ignore_ascii_case(s)));
    aws_ok && service_ok
}

/// Whether condition `s` (of a statement) implies condition `x` (of an exclusion).
fn condition_implies(s: &Condition, x: &Condition, q: &Question<'_>, fixed: &Context) -> bool {
    if s.key_lc != x.key_lc {
        return false;
    }
    if s.operator == x.operator && s.values == x.values {
        return true;
    }
    let plain = |c: &Condition| c.operator.set == SetQualifier::Single && !c.operator.if_exists;
    if !plain(s)
        || s.operator.family != Family::StringEquals && s.operator.family != Family::StringLike
    {
        return false;
    }
    if s.operator.negated {
        return false;
    }
    // The values `s` allows, as literals; `None` when a value is not one (or not known).
    let Some(allowed) = literal_values(s, q, fixed) else {
        return false;
    };
    let Some(listed): Option<Vec<Cow<'_, str>>> =
        x.values.iter().map(|v| v.resolve(fixed)).collect()
    else {
        return false;
    };
    match (x.operator.family, x.operator.negated) {
        (Family::StringEquals, false) if x.operator.set == SetQualifier::Single => {
            allowed.iter().all(|a| listed.iter().any(|l| a.is(l)))
        }
        (Family::StringEquals, true) => allowed.iter().all(|a| !listed.iter().any(|l| a.is(l))),
        _ => false,
    }
}

/// One value a positive String condition can match.
#[derive(Debug)]
enum Literal<'c> {
    /// The value itself.
    Text(Cow<'c, str>),
    /// `<service>.<Region>.<suffix>` in the question's Region (read from a `kms:ViaService`
    /// pattern), kept in parts so nothing is formatted.
    InRegion {
        service: &'c str,
        region: &'c str,
        suffix: &'c str,
    },
}

impl Literal<'_> {
    /// Whether the value is exactly `text`.
    fn is(&self, text: &str) -> bool {
        match self {
            Literal::Text(t) => t == text,
            Literal::InRegion {
                service,
                region,
                suffix,
            } => {
                let mut parts = text.splitn(3, '.');
                parts.next() == Some(service)
                    && parts.next() == Some(region)
                    && parts.next() == Some(suffix)
            }
        }
    }
}

/// The literal values a positive String condition can match: its values, or for a
/// `kms:ViaService` pattern of the value's shape (`<service>.<Region>.<suffix>`, a literal
/// service), the one value of that shape in the question's Region.
fn literal_values<'c>(
    s: &'c Condition,
    q: &Question<'c>,
    fixed: &Context,
) -> Option<Vec<Literal<'c>>> {
    let mut out = Vec::with_capacity(s.values.len());
    for v in &s.values {
        let text = v.resolve(fixed)?;
        if s.operator.family == Family::StringEquals || !text.contains(['*', '?']) {
            out.push(Literal::Text(text));
            continue;
        }
        // Only plain text, where every `*` and `?` is a wildcard (no `${*}` or variable).
        if s.key_lc != "kms:viaservice" || v.raw.contains("${") {
            return None;
        }
        let text: &'c str = &v.raw;
        let mut parts = text.splitn(3, '.');
        let (Some(service), Some(region), Some(suffix)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if service.contains(['*', '?']) || suffix.contains(['*', '?']) {
            return None;
        }
        if suffix.matches('.').count() != 1 && suffix != "amazonaws.com.cn" {
            return None;
        }
        if crate::pattern::wildcard_match(region, q.region) {
            out.push(Literal::InRegion {
                service,
                region: q.region,
                suffix,
            });
        }
    }
    Some(out)
}

/// The actions of `actions` a required request is allowed whatever its open keys hold: the
/// evaluator allows them with every key the question does not fix undecided, read the way that
/// grants least. One pass over the policy for all of them. `fixed` is [`fixed_context`] for
/// the caller's kind.
pub fn allowed_in_every_case(
    policy: &crate::document::KeyPolicy,
    q: &Question<'_>,
    caller: &Caller,
    actions: ActionSet,
    fixed: &Context,
    identity: &Context,
) -> ActionSet {
    let mut ctx = fixed.clone();
    ctx.merge(identity);
    ctx.set_open_except(q.absent);
    crate::eval::allowed_actions(
        policy,
        caller,
        q.resource,
        &ctx,
        actions,
        Reading::GrantsLeast,
    )
}
