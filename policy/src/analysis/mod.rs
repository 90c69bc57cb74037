//! Who can a key policy let in? An exact answer over every request, not a sample of them.
//!
//! A [`Question`] describes a space of requests: a kind of principal (any role of any account,
//! say, or one concrete caller), a set of KMS actions, the key, the condition keys the question
//! fixes, and statements (in policy syntax) whose matching requests are outside the space.
//! Every other condition key the policy mentions is open: any value AWS could send, or absent
//! where AWS may leave it out ([`crate::keys`]).
//!
//! - [`find_allowed`]: is some request of the space allowed? (For checks that something must
//!   be denied: "no outsider can use the key".)
//! - [`find_denied`]: does some circumstance (network, time, tags, ...) deny a request of the
//!   space whatever the caller chooses for its own parameters? (For checks that something must
//!   be allowed.)
//!
//! Both answer with a [`Witness`], a concrete request that the evaluator ([`crate::eval`])
//! confirms before it is reported, or say that none exists, or say why they cannot decide (a
//! budget in [`Limits`] ran out, or a condition compares two request values). Where AWS leaves
//! the evaluation open, the search reads it the way that makes a check fail, as the evaluator's
//! [`crate::eval::Reading`] does. How it works: [`frame`] splits each open key's values into
//! classes no statement tells apart; [`solve`] searches the classes for an assignment that
//! satisfies the statements' formulas. docs/decisions/002-decide-dont-sample.md says why this
//! technique.

pub mod formula;
pub mod frame;
pub mod lang;
pub mod screen;
pub mod solve;
pub mod values;

use std::collections::BTreeSet;

use crate::actions::ActionSet;
use crate::document::{Effect, KeyPolicy, Statement};
use crate::eval::{Decision, Reading, applies, evaluate};
use crate::logic::Truth;
use crate::request::{AccessRequest, AwsCaller, Caller, Context};

use formula::{Bits, F, Lit};
use frame::{Frame, VarName};
use solve::{Dom, Solver, State};

/// A kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An account's root user.
    Root,
    /// An IAM user.
    User,
    /// A role session.
    Role,
    /// A federated user session (`GetFederationToken`).
    FederatedUser,
    /// An AWS service principal calling with its own credentials.
    Service,
    /// An unsigned request (KMS refuses them; kept so that a policy is judged on its own).
    Anonymous,
}

impl Kind {
    /// Every IAM kind.
    pub const IAM: [Kind; 4] = [Kind::Root, Kind::User, Kind::Role, Kind::FederatedUser];

    /// Whether this is an IAM identity.
    pub fn is_iam(self) -> bool {
        matches!(
            self,
            Kind::Root | Kind::User | Kind::Role | Kind::FederatedUser
        )
    }
}

/// Whether a part of the principal's identity is there, and what it may be (`None`: any value
/// of its documented shape).
#[derive(Debug, Clone)]
pub enum Presence<T> {
    /// Never (a principal in no organization).
    Never,
    /// Present or not.
    Maybe(Option<T>),
    /// Always.
    Always(Option<T>),
}

/// Who sends the requests of a question.
#[derive(Debug, Clone)]
pub enum Principals {
    /// Any principal of these kinds: any account, in any organization or none; services acting
    /// for any account or none.
    Any(Vec<Kind>),
    /// One caller, with its organization (IAM) or the account and organization it acts for
    /// (services). The rest of its organization path is open.
    Caller {
        /// The caller.
        caller: Caller,
        /// Its organization id, if it is in one (IAM callers).
        org: Option<String>,
        /// The account a service acts for.
        source_account: Option<String>,
        /// That account's organization id.
        source_org: Option<String>,
    },
}

/// Budgets that keep a pathological policy from taking unbounded time. Hitting one gives an
/// undecided answer that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Product states explored to split one variable's values into classes.
    pub split_states: usize,
    /// Search nodes per question.
    pub solver_nodes: usize,
    /// Combinations of caller-chosen values tried for one required request.
    pub choices: usize,
    /// Whether cheap tests settle what they can before the search ([`screen`]). Always on but
    /// in the test that checks them against the search alone.
    pub screening: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            split_states: 20_000,
            solver_nodes: 200_000,
            choices: 256,
            screening: true,
        }
    }
}

/// A space of requests to one key.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// The key's ARN (in its Region).
    pub resource: &'a str,
    /// The partition (`aws`).
    pub partition: &'a str,
    /// The Region (for `kms:ViaService`'s values).
    pub region: &'a str,
    /// The actions.
    pub actions: ActionSet,
    /// Who sends them.
    pub principals: &'a Principals,
    /// Condition keys the question fixes, with their values.
    pub fixed: &'a Context,
    /// Condition keys the question fixes as absent (lower case).
    pub absent: &'a [String],
    /// Requests these statements match are outside the space (written as Deny statements).
    pub exclusions: &'a [Statement],
    /// Budgets.
    pub limits: Limits,
}

/// A concrete request the search found, confirmed by the evaluator.
#[derive(Debug, Clone)]
pub struct Witness {
    /// The request.
    pub request: AccessRequest,
    /// Every action of the question this request gets the same answer for (its own included).
    pub actions: ActionSet,
    /// The evaluator's decision on the request, with the deciding statements.
    pub decision: Decision,
    /// Whether the decision rests on a point AWS does not document.
    pub by_reading: bool,
}

/// The answer to a question.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Requests found, each with the actions it stands for; empty when none exists.
    pub witnesses: Vec<Witness>,
    /// Why the search could not decide (part of) the question, if it could not.
    pub undecided: Option<String>,
}

impl Witness {
    /// The witness's own action, as a set.
    pub fn action_set(&self) -> ActionSet {
        ActionSet::of(&[self.request.action.as_str()])
    }
}

impl Answer {
    /// Every action a witness stands for.
    pub fn actions(&self) -> ActionSet {
        self.witnesses
            .iter()
            .fold(ActionSet::EMPTY, |a, w| a.union(w.actions))
    }
}

/// Work shared by the questions asked about one policy: automata and value splits.
#[derive(Debug, Default)]
pub struct Session {
    /// Automata by language.
    pub nfas: lang::NfaCache,
    /// Value splits by shape and comparisons.
    pub splits: values::SplitCache,
}

/// Questions about one policy; what one question learns about the policy's values, the next
/// reuses.
#[derive(Debug)]
pub struct Analysis<'p> {
    policy: &'p KeyPolicy,
    session: Session,
}

impl<'p> Analysis<'p> {
    /// Starts the analysis of `policy`.
    pub fn new(policy: &'p KeyPolicy) -> Analysis<'p> {
        Analysis {
            policy,
            session: Session::default(),
        }
    }

    /// Is some request of the question allowed (reading undocumented points as granting)?
    /// Collects a witness for every action that has one.
    pub fn find_allowed(&self, q: &Question<'_>) -> Answer {
        search(self.policy, q, Direction::Allowed, &self.session)
    }

    /// Is some request of the question denied whatever the caller chooses for its own request
    /// parameters (reading undocumented points as denying)? Collects a witness for every
    /// action that has one.
    pub fn find_denied(&self, q: &Question<'_>) -> Answer {
        search(self.policy, q, Direction::Denied, &self.session)
    }
}

/// [`Analysis::find_allowed`] for one question.
pub fn find_allowed(policy: &KeyPolicy, q: &Question<'_>) -> Answer {
    Analysis::new(policy).find_allowed(q)
}

/// [`Analysis::find_denied`] for one question.
pub fn find_denied(policy: &KeyPolicy, q: &Question<'_>) -> Answer {
    Analysis::new(policy).find_denied(q)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Allowed,
    Denied,
}

/// What one principal kind contributes: its identity's shape.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The concrete caller, if the question has one.
    pub caller: Option<Caller>,
    /// The concrete caller's identity keys.
    pub concrete: Option<Context>,
    /// Its organization (IAM kinds).
    pub org: Presence<String>,
    /// The account a service acts for.
    pub source_account: Presence<String>,
    /// That account's organization.
    pub source_org: Presence<String>,
}

impl Identity {
    fn for_kind(principals: &Principals, kind: Kind, partition: &str) -> Identity {
        let presence = |v: &Option<String>| match v {
            Some(s) => Presence::Always(Some(s.clone())),
            None => Presence::Never,
        };
        match principals {
            Principals::Any(_) => Identity {
                caller: None,
                concrete: None,
                org: if kind.is_iam() {
                    Presence::Maybe(None)
                } else {
                    Presence::Never
                },
                source_account: if kind == Kind::Service {
                    Presence::Maybe(None)
                } else {
                    Presence::Never
                },
                source_org: if kind == Kind::Service {
                    Presence::Maybe(None)
                } else {
                    Presence::Never
                },
            },
            Principals::Caller {
                caller,
                org,
                source_account,
                source_org,
            } => {
                let mut ctx = Context::default();
                match caller {
                    Caller::Aws(a) => {
                        ctx.set("aws:principalarn", &a.arn)
                            .set("aws:principalaccount", &a.account)
                            .set("kms:calleraccount", &a.account);
                        if let Some(o) = org {
                            ctx.set("aws:principalorgid", o);
                        }
                    }
                    Caller::Service(s) => {
                        ctx.set("aws:principalservicename", s);
                        if let Some(a) = source_account {
                            ctx.set("aws:sourceaccount", a);
                        }
                        if let Some(o) = source_org {
                            ctx.set("aws:sourceorgid", o);
                        }
                    }
                    _ => {}
                }
                let _ = partition;
                Identity {
                    caller: Some(caller.clone()),
                    concrete: Some(ctx),
                    org: presence(org),
                    source_account: presence(source_account),
                    source_org: presence(source_org),
                }
            }
        }
    }
}

/// The kind of a concrete caller.
pub fn kind_of(caller: &Caller) -> Kind {
    match caller {
        Caller::Anonymous => Kind::Anonymous,
        Caller::Service(_) => Kind::Service,
        Caller::Aws(a) if a.arn.ends_with(":root") => Kind::Root,
        Caller::Aws(a) if a.session_arn.is_some() => Kind::Role,
        Caller::Aws(a) if a.arn.contains(":federated-user/") => Kind::FederatedUser,
        Caller::Aws(_) => Kind::User,
        Caller::Federated(_) | Caller::Canonical(_) => Kind::Anonymous,
    }
}

/// Groups the question's actions so that within a group every condition key the statements or
/// the question mention is carried by all of its actions or by none.
fn action_groups(statements: &[&Statement], q: &Question<'_>) -> Vec<ActionSet> {
    let mut scopes: Vec<ActionSet> = Vec::new();
    let mut add = |s: ActionSet| {
        if s != ActionSet::all() && !scopes.contains(&s) {
            scopes.push(s);
        }
    };
    for s in statements {
        for c in &s.conditions {
            add(c.scope);
        }
    }
    for k in q.fixed.keys_lc() {
        add(crate::keys::applies_to(k));
    }
    // An action's signature: which scopes carry it, one bit each. The scopes come from the
    // key catalogue's few action sets; were there ever more than 128, each action would be
    // its own group (still exact, only slower).
    let mut groups: Vec<(u128, ActionSet)> = Vec::new();
    for i in q.actions.indices() {
        let one = ActionSet::single(i);
        let sig = if scopes.len() > 128 {
            i as u128
        } else {
            scopes
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.intersect(one).is_empty())
                .fold(0u128, |sig, (b, _)| sig | 1u128 << b)
        };
        match groups.iter_mut().find(|(g, _)| *g == sig) {
            Some((_, set)) => *set = set.union(one),
            None => groups.push((sig, one)),
        }
    }
    groups.into_iter().map(|(_, s)| s).collect()
}

#[expect(
    clippy::too_many_lines,
    reason = "the backtracking search: one loop over its stack, with the budgets and early exits that make it complete; split, its invariants would spread over helpers that each see part of the state"
)]
fn search(policy: &KeyPolicy, q: &Question<'_>, direction: Direction, session: &Session) -> Answer {
    let all: Vec<&Statement> = policy
        .statements
        .iter()
        .chain(q.exclusions.iter())
        .collect();
    let kinds: Vec<Kind> = match q.principals {
        Principals::Any(kinds) => kinds.clone(),
        Principals::Caller { caller, .. } => vec![kind_of(caller)],
    };
    let absent: BTreeSet<&str> = q.absent.iter().map(String::as_str).collect();
    let mut answer = Answer::default();
    let mut solver = Solver::new(q.limits.solver_nodes);
    let groups = action_groups(&all, q);
    let effect = |e: Effect| policy.statements.iter().filter(move |s| s.effect == e);
    // Per Allow, the actions a witness already shows.
    let mut shown: Vec<ActionSet> = vec![ActionSet::EMPTY; policy.statements.len()];
    let mut proven = ActionSet::EMPTY;
    for kind in kinds {
        let identity = Identity::for_kind(q.principals, kind, q.partition);
        let fixed = screen::fixed_context(q, kind);
        for &group in &groups {
            let (targets, open) = match direction {
                Direction::Allowed => {
                    let targets: Vec<&Statement> = effect(Effect::Allow)
                        .filter(|a| {
                            let todo = group
                                .intersect(a.key_actions)
                                .minus(shown.get(a.index).copied().unwrap_or(ActionSet::EMPTY));
                            !todo.is_empty()
                                && (!q.limits.screening
                                    || screen::may_apply(a, q, kind, todo, &fixed))
                        })
                        .collect();
                    if targets.is_empty() {
                        continue;
                    }
                    (targets, group)
                }
                Direction::Denied => {
                    // Required actions an Allow grants outright need no search.
                    let open = if q.limits.screening {
                        required_open(policy, q, group.minus(proven), &identity, &fixed)
                    } else {
                        group.minus(proven)
                    };
                    if open.is_empty() {
                        continue;
                    }
                    (Vec::new(), open)
                }
            };
            let fixed = &fixed;
            let screened = |actions: ActionSet| {
                move |s: &&Statement| {
                    !q.limits.screening || screen::may_apply(s, q, kind, actions, fixed)
                }
            };
            let frame_of = |statements: &[&Statement]| {
                Frame::new(
                    statements,
                    kind,
                    &identity,
                    open,
                    q.fixed,
                    q.absent,
                    q.resource,
                    q.partition,
                    q.region,
                    q.limits,
                    session,
                )
            };
            match direction {
                Direction::Allowed => {
                    // Each Allow is searched in a frame of its own with the Denies and the
                    // exclusions: the other Allows cannot change whether it grants, and
                    // leaving them out keeps the value splits to what this one compares.
                    let mut statements: Vec<&Statement> = targets.clone();
                    statements.extend(effect(Effect::Deny).filter(screened(open)));
                    statements.extend(q.exclusions.iter());
                    let frame = frame_of(&statements);
                    // What the Denies and exclusions leave, compiled once for every Allow.
                    let denies: Vec<F> = statements
                        .iter()
                        .filter(|s| s.effect == Effect::Deny)
                        .map(|s| frame.statement(s, &absent).may_fail())
                        .collect();
                    for allow in targets {
                        let mut todo = open.intersect(allow.key_actions);
                        let holds = frame.statement(allow, &absent).may_hold();
                        loop {
                            let seen = shown.get(allow.index).copied().unwrap_or(ActionSet::EMPTY);
                            todo = todo.minus(seen);
                            if todo.is_empty() {
                                break;
                            }
                            match allowed_in(
                                policy,
                                q,
                                &frame,
                                &denies,
                                (allow, &holds),
                                todo,
                                &mut solver,
                            ) {
                                Outcome::Found(w) => {
                                    if let Some(s) = shown.get_mut(allow.index) {
                                        *s = s
                                            .union(w.actions.intersect(allow.key_actions))
                                            .union(w.action_set());
                                    }
                                    answer.witnesses.push(w);
                                }
                                Outcome::None => break,
                                Outcome::Undecided(why) => {
                                    answer.undecided.get_or_insert(why);
                                    break;
                                }
                            }
                        }
                    }
                }
                Direction::Denied => {
                    let mut statements: Vec<&Statement> =
                        effect(Effect::Allow).filter(screened(open)).collect();
                    statements.extend(effect(Effect::Deny).filter(screened(open)));
                    statements.extend(q.exclusions.iter());
                    let frame = frame_of(&statements);
                    let mut todo = open;
                    while !todo.is_empty() {
                        match denied_in(policy, q, &frame, &statements, todo, &absent, &mut solver)
                        {
                            Outcome::Found(w) => {
                                todo = todo.minus(w.actions).minus(w.action_set());
                                proven = proven.union(w.actions);
                                answer.witnesses.push(w);
                            }
                            Outcome::None => break,
                            Outcome::Undecided(why) => {
                                answer.undecided.get_or_insert(why);
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    answer
}

/// The actions of `group` the policy does not allow outright for the question's caller.
fn required_open(
    policy: &KeyPolicy,
    q: &Question<'_>,
    group: ActionSet,
    identity: &Identity,
    fixed: &Context,
) -> ActionSet {
    let (Some(caller), Some(keys)) = (&identity.caller, &identity.concrete) else {
        return group;
    };
    group.minus(screen::allowed_in_every_case(
        policy, q, caller, group, fixed, keys,
    ))
}

enum Outcome {
    Found(Witness),
    None,
    Undecided(String),
}

fn initial_state(frame: &Frame<'_>) -> State {
    State {
        action: frame.actions,
        doms: frame
            .vars
            .iter()
            .map(|v| {
                if v.many {
                    Dom::Many {
                        empty_ok: v.absent_ok,
                        nonempty_ok: !v.cells.is_empty(),
                        all: Bits::all(v.cells.len()),
                        some: Vec::new(),
                    }
                } else {
                    Dom::One(v.full())
                }
            })
            .collect(),
    }
}

/// `allow` may apply to an action of `actions` while every Deny (and every exclusion) may not.
#[allow(clippy::too_many_arguments)]
fn allowed_in(
    policy: &KeyPolicy,
    q: &Question<'_>,
    frame: &Frame<'_>,
    denies: &[F],
    (allow, holds): (&Statement, &F),
    actions: ActionSet,
    solver: &mut Solver,
) -> Outcome {
    if *holds == F::False {
        return none_or_incomplete(frame);
    }
    let within = F::Lit(Lit::Action(actions));
    let mut goals: Vec<&F> = vec![&within, holds];
    goals.extend(denies.iter());
    goals.extend(frame.ties.iter());
    match solver.solve(initial_state(frame), goals) {
        Err(solve::Exhausted) => Outcome::Undecided(format!(
            "the search stopped at its budget of {} steps",
            q.limits.solver_nodes
        )),
        Ok(None) => none_or_incomplete(frame),
        Ok(Some(state)) => {
            let request = materialize(frame, &state, q);
            match confirm_allowed(policy, q, frame, request) {
                Some(w) => Outcome::Found(w),
                None => Outcome::Undecided(format!(
                    "statement {} may grant this, but through a condition that compares two request values, which idc-guard does not decide",
                    allow.reference()
                )),
            }
        }
    }
}

/// No request: unless a variable's values could not be split exactly, then undecided.
fn none_or_incomplete(frame: &Frame<'_>) -> Outcome {
    match frame.incomplete.first() {
        Some(var) => Outcome::Undecided(format!(
            "the values of {var} could not be split exactly (compared both as text and as a number, date or address, or too many patterns)"
        )),
        None => Outcome::None,
    }
}

/// A Deny may apply, or every Allow may not: for some circumstance, whatever the caller
/// chooses for its own request parameters.
#[allow(clippy::too_many_arguments)]
fn denied_in(
    policy: &KeyPolicy,
    q: &Question<'_>,
    frame: &Frame<'_>,
    statements: &[&Statement],
    actions: ActionSet,
    absent: &BTreeSet<&str>,
    solver: &mut Solver,
) -> Outcome {
    let mut alternatives: Vec<F> = statements
        .iter()
        .filter(|s| s.effect == Effect::Deny)
        .map(|s| frame.statement(s, absent).may_hold())
        .collect();
    let allows: Vec<F> = statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .map(|s| frame.statement(s, absent).may_fail())
        .collect();
    alternatives.push(F::and(allows));
    let denied = F::and(vec![F::Lit(Lit::Action(actions)), F::or(alternatives)]);
    // Every combination of the caller's own choices must be denied.
    let choices = match choice_assignments(frame, q.limits.choices) {
        Some(c) => c,
        None => {
            return Outcome::Undecided(format!(
                "more than {} combinations of caller-chosen values to try",
                q.limits.choices
            ));
        }
    };
    let mut goals_owned: Vec<F> = Vec::new();
    let mut used_choices = Vec::new();
    for choice in &choices {
        let fixed_choice = |lit: &Lit| choice_holds(frame, choice, lit);
        // A combination the ties rule out is not a request anyone can send.
        if frame
            .ties
            .iter()
            .any(|t| specialize(t, &fixed_choice) == F::False)
        {
            continue;
        }
        goals_owned.push(specialize(&denied, &fixed_choice));
        used_choices.push(choice.clone());
    }
    for t in &frame.ties {
        goals_owned.push(t.clone());
    }
    let goals: Vec<&F> = goals_owned.iter().collect();
    match solver.solve(initial_state(frame), goals) {
        Err(solve::Exhausted) => Outcome::Undecided(format!(
            "the search stopped at its budget of {} steps",
            q.limits.solver_nodes
        )),
        Ok(None) => none_or_incomplete(frame),
        Ok(Some(state)) => {
            let base = materialize(frame, &state, q);
            match confirm_denied(policy, frame, base, &used_choices) {
                Some(w) => Outcome::Found(w),
                None => Outcome::Undecided(
                    "a denial the analysis found is not confirmed by the evaluator: a condition compares two request values, which idc-guard does not decide".to_owned(),
                ),
            }
        }
    }
}

/// One combination of caller-chosen values: per choice variable, a class (or absence) for a
/// single-valued one, a set of classes for a list.
type Choice = Vec<(usize, Vec<usize>)>;

/// Parameters whose omission means a default value, not an absent key (the KMS API
/// reference): a caller cannot rely on leaving them out.
const DEFAULTED: [&str; 2] = [
    "kms:schedulekeydeletionpendingwindowindays",
    "kms:rotationperiodindays",
];

fn choice_assignments(frame: &Frame<'_>, limit: usize) -> Option<Vec<Choice>> {
    let mut out: Vec<Choice> = vec![Vec::new()];
    for (i, v) in frame.vars.iter().enumerate() {
        if !v.choice {
            continue;
        }
        let defaulted = matches!(&v.name, VarName::Key(k) if DEFAULTED.contains(&k.as_str()));
        let options: Vec<Vec<usize>> = if v.many {
            let n = v.cells.len();
            let mut subsets = Vec::new();
            if n <= 4 {
                for mask in 0u32..(1 << n) {
                    let set: Vec<usize> = (0..n).filter(|b| mask & (1 << b) != 0).collect();
                    if set.is_empty() && !v.absent_ok {
                        continue;
                    }
                    subsets.push(set);
                }
            } else {
                // Too many subsets: each single class, and none. Fewer choices can only make
                // a required request look denied, never allowed.
                if v.absent_ok {
                    subsets.push(Vec::new());
                }
                subsets.extend((0..n).map(|c| vec![c]));
            }
            subsets
        } else {
            let mut o: Vec<Vec<usize>> = (0..v.cells.len()).map(|c| vec![c]).collect();
            if v.absent_ok && !defaulted {
                o.push(vec![v.absent_bit()]);
            }
            o
        };
        let mut next = Vec::new();
        for base in &out {
            for opt in &options {
                let mut c = base.clone();
                c.push((i, opt.clone()));
                next.push(c);
                if next.len() > limit {
                    return None;
                }
            }
        }
        out = next;
    }
    Some(out)
}

/// Whether a literal on a chosen variable holds for the choice; `None` for other variables.
fn choice_holds(frame: &Frame<'_>, choice: &Choice, lit: &Lit) -> Option<bool> {
    let (v, value) = match lit {
        Lit::In(v, _) | Lit::SomeIn(v, _) | Lit::AllIn(v, _) | Lit::Empty(v) | Lit::NonEmpty(v) => {
            (*v, choice.iter().find(|(i, _)| i == v).map(|(_, c)| c)?)
        }
        Lit::Action(_) => return None,
    };
    let var = frame.vars.get(v)?;
    Some(match lit {
        Lit::In(_, b) => value.first().is_some_and(|c| b.contains(*c)),
        Lit::SomeIn(_, b) => value.iter().any(|c| b.contains(*c)),
        Lit::AllIn(_, b) => value.iter().all(|c| b.contains(*c)),
        Lit::Empty(_) => value.is_empty(),
        Lit::NonEmpty(_) => !value.is_empty() && var.many,
        Lit::Action(_) => return None,
    })
}

/// `f` with the literals `known` decides replaced by constants.
fn specialize(f: &F, known: &impl Fn(&Lit) -> Option<bool>) -> F {
    match f {
        F::True | F::False => f.clone(),
        F::Lit(l) => match known(l) {
            Some(b) => F::from_bool(b),
            None => f.clone(),
        },
        F::And(items) => F::and(items.iter().map(|i| specialize(i, known)).collect()),
        F::Or(items) => F::or(items.iter().map(|i| specialize(i, known)).collect()),
    }
}

/// The value a solved state gives a single-valued variable: absent when it may be, else its
/// first class.
fn pick_one(var: &frame::Var, dom: &Dom) -> Option<String> {
    let Dom::One(b) = dom else { return None };
    if var.absent_ok && b.contains(var.absent_bit()) {
        return None;
    }
    b.first().and_then(|i| var.cells.get(i).cloned())
}

fn pick_many(var: &frame::Var, dom: &Dom) -> Vec<String> {
    let Dom::Many {
        empty_ok,
        all,
        some,
        ..
    } = dom
    else {
        return Vec::new();
    };
    if *empty_ok && some.is_empty() {
        return Vec::new();
    }
    let mut picked: Vec<usize> = Vec::new();
    for s in some {
        let mut both = s.clone();
        both.intersect_with(all);
        if let Some(c) = both.first()
            && !picked.contains(&c)
        {
            picked.push(c);
        }
    }
    if picked.is_empty()
        && let Some(c) = all.first()
    {
        picked.push(c);
    }
    picked
        .into_iter()
        .filter_map(|c| var.cells.get(c).cloned())
        .collect()
}

/// The concrete request a solved state stands for.
#[expect(
    clippy::too_many_lines,
    reason = "one assignment per field of the request (principal, action, each context key) from the solved state: a flat list read top to bottom"
)]
fn materialize(frame: &Frame<'_>, state: &State, q: &Question<'_>) -> AccessRequest {
    let value = |name: &VarName| -> Option<String> {
        let i = frame.index_of(name)?;
        pick_one(frame.vars.get(i)?, state.doms.get(i)?)
    };
    let mut ctx = frame.resolve.clone();
    let p = q.partition;
    let caller = match (&frame_identity_caller(frame), frame.kind) {
        (Some(c), _) => c.clone(),
        (None, Kind::Anonymous) => Caller::Anonymous,
        (None, Kind::Service) => {
            let svc =
                value(&VarName::Service).unwrap_or_else(|| "service.amazonaws.com".to_owned());
            ctx.set("aws:principalservicename", &svc);
            Caller::Service(svc)
        }
        (None, kind) => {
            let account = value(&VarName::Account).unwrap_or_else(|| "000000000000".to_owned());
            let name = value(&VarName::Name).unwrap_or_else(|| "x".to_owned());
            let (arn, session_arn) = match kind {
                Kind::Root => (format!("arn:{p}:iam::{account}:root"), None),
                Kind::User => (format!("arn:{p}:iam::{account}:user/{name}"), None),
                Kind::Role => {
                    let session = value(&VarName::Session).unwrap_or_else(|| "xx".to_owned());
                    let role = name.rsplit('/').next().unwrap_or(&name).to_owned();
                    (
                        format!("arn:{p}:iam::{account}:role/{name}"),
                        Some(format!(
                            "arn:{p}:sts::{account}:assumed-role/{role}/{session}"
                        )),
                    )
                }
                _ => (
                    format!("arn:{p}:sts::{account}:federated-user/{name}"),
                    None,
                ),
            };
            ctx.set("aws:principalarn", &arn)
                .set("aws:principalaccount", &account)
                .set("kms:calleraccount", &account);
            Caller::Aws(AwsCaller {
                account,
                arn,
                session_arn,
            })
        }
    };
    // The organization parts: an id, and the path that starts with it.
    for (id, rest, id_key, paths_key) in [
        (
            VarName::OrgId,
            VarName::OrgRest,
            "aws:principalorgid",
            "aws:principalorgpaths",
        ),
        (
            VarName::SourceOrgId,
            VarName::SourceOrgRest,
            "aws:sourceorgid",
            "aws:sourceorgpaths",
        ),
    ] {
        let fixed_id = ctx.get(id_key).and_then(|v| v.first().cloned());
        let org = match frame.index_of(&id) {
            Some(_) => value(&id),
            None => fixed_id.clone(),
        };
        if let Some(org) = org {
            ctx.set(id_key, &org);
            if frame.index_of(&rest).is_some() || frame.index_of(&id).is_some() {
                let r = value(&rest).unwrap_or_else(|| "r-ab12/".to_owned());
                ctx.set_values(paths_key, vec![format!("{org}/{r}")]);
            }
        } else if frame.index_of(&id).is_some() {
            ctx.remove(id_key);
        }
    }
    if let Some(a) = value(&VarName::SourceAccount) {
        ctx.set("aws:sourceaccount", &a);
    }
    for (i, var) in frame.vars.iter().enumerate() {
        let VarName::Key(k) = &var.name else { continue };
        let Some(dom) = state.doms.get(i) else {
            continue;
        };
        if var.many {
            let values = pick_many(var, dom);
            if values.is_empty() {
                ctx.remove(k);
            } else {
                ctx.set_values(k, values);
            }
        } else {
            match pick_one(var, dom) {
                Some(v) => {
                    ctx.set(k, &v);
                }
                None => {
                    ctx.remove(k);
                }
            }
        }
    }
    // Encryption context values are keyed by the names in the keys list, as sent.
    if let Some(names) = ctx.get("kms:encryptioncontextkeys").map(<[String]>::to_vec) {
        for name in names {
            let key = format!("kms:encryptioncontext:{}", name.to_ascii_lowercase());
            if ctx.get(&key).is_none() {
                ctx.set(&key, "x");
            }
        }
    }
    let action = state
        .action
        .names()
        .next()
        .unwrap_or("kms:Decrypt")
        .to_owned();
    AccessRequest {
        caller,
        action,
        resource: q.resource.to_owned(),
        context: ctx,
    }
}

fn frame_identity_caller(frame: &Frame<'_>) -> Option<Caller> {
    frame.identity().caller.clone()
}

/// The witness holds when the evaluator allows it and no exclusion applies; its actions are
/// every action of the frame with the same outcome.
fn confirm_allowed(
    policy: &KeyPolicy,
    q: &Question<'_>,
    frame: &Frame<'_>,
    request: AccessRequest,
) -> Option<Witness> {
    let excluded = |r: &AccessRequest| {
        q.exclusions.iter().any(|x| {
            crate::eval::action_matches(&x.action, &r.action)
                && applies(x, &r.caller, &r.resource, &r.context) == Truth::True
        })
    };
    let (decision, allowed) =
        crate::eval::evaluate_with_actions(policy, &request, frame.actions, Reading::GrantsMost);
    if !decision.is_allowed() || excluded(&request) {
        return None;
    }
    // The frame's actions carry the same keys, so the one pass read them all.
    let excluded_actions = q
        .exclusions
        .iter()
        .filter(|x| applies(x, &request.caller, &request.resource, &request.context) == Truth::True)
        .fold(ActionSet::EMPTY, |acc, x| acc.union(x.key_actions));
    let actions = allowed.minus(excluded_actions);
    Some(Witness {
        by_reading: decision.by_reading,
        request,
        actions,
        decision,
    })
}

/// The witness holds when the evaluator denies it for every combination of the caller's own
/// choices.
fn confirm_denied(
    policy: &KeyPolicy,
    frame: &Frame<'_>,
    base: AccessRequest,
    choices: &[Choice],
) -> Option<Witness> {
    let variants = |action: &str| -> Vec<AccessRequest> {
        let mut out = Vec::new();
        for choice in choices {
            let mut r = base.clone();
            r.action = action.to_owned();
            for (i, value) in choice {
                let Some(var) = frame.vars.get(*i) else {
                    continue;
                };
                let VarName::Key(k) = &var.name else { continue };
                let values: Vec<String> = value
                    .iter()
                    .filter_map(|c| var.cells.get(*c).cloned())
                    .collect();
                if values.is_empty() {
                    r.context.remove(k);
                } else {
                    r.context.set_values(k, values);
                }
            }
            out.push(r);
        }
        if out.is_empty() {
            let mut r = base.clone();
            r.action = action.to_owned();
            out.push(r);
        }
        out
    };
    let denied_always = |action: &str| {
        variants(action)
            .iter()
            .all(|r| !evaluate(policy, r, Reading::GrantsLeast).is_allowed())
    };
    if !denied_always(&base.action) {
        return None;
    }
    let first = variants(&base.action).into_iter().next()?;
    let decision = evaluate(policy, &first, Reading::GrantsLeast);
    let mut actions = ActionSet::EMPTY;
    for a in frame.actions.names() {
        if denied_always(a) {
            actions = actions.union(ActionSet::of(&[a]));
        }
    }
    Some(Witness {
        by_reading: decision.by_reading,
        request: first,
        actions,
        decision,
    })
}

#[cfg(test)]
mod tests;
