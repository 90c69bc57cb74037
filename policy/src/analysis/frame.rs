//! One frame of a question: one kind of principal and one group of actions whose requests
//! carry the same condition keys. The frame turns every condition key the policy mentions into
//! a variable (or a constant the question fixes), splits each variable's values into classes
//! no statement tells apart, and compiles each statement into a formula over those classes.
//!
//! The principal's identity is split into parts that the policy compares separately: the
//! account, the path and name, the session name, the organization id and the rest of the
//! organization path. A condition on the whole `aws:PrincipalArn` is read across the parts by
//! following its automaton from the account into the name.

use std::collections::{BTreeSet, HashMap};

use crate::actions::ActionSet;
use crate::document::condition::{Condition, Family, Typed};
use crate::document::principal::{AwsPrincipal, PrincipalSet};
use crate::document::{PrincipalClause, Statement};
use crate::eval::resource_applies;
use crate::keys::{self, Source};
use crate::logic::Truth;
use crate::request::Context;

use super::formula::{Bits, F, Lit, T3};
use super::lang::{CharSet, Probe, ProbeResult, Re, States, TextReading};
use super::values::{Probes, ValueShape};
use super::{Identity, Kind, Limits, Presence, Session};

/// A variable of the frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VarName {
    /// A condition key the question leaves open (lower case).
    Key(String),
    /// The principal's account.
    Account,
    /// The path and name after `user/`, `role/` or `federated-user/`.
    Name,
    /// A role session's name.
    Session,
    /// The principal's organization id.
    OrgId,
    /// The principal's organization path after the id: `r-.../ou-.../`.
    OrgRest,
    /// A service principal's name.
    Service,
    /// The account a service acts for (`aws:SourceAccount`).
    SourceAccount,
    /// That account's organization id.
    SourceOrgId,
    /// That account's organization path after the id.
    SourceOrgRest,
}

/// A variable and its value classes.
#[derive(Debug, Clone)]
pub struct Var {
    /// What it stands for.
    pub name: VarName,
    /// A list of values rather than one.
    pub many: bool,
    /// It may be absent.
    pub absent_ok: bool,
    /// One value per class (element classes for a list).
    pub cells: Vec<String>,
    /// Per class, what each probe said (used to follow a string across parts).
    pub results: Vec<Vec<ProbeResult>>,
    /// The caller chooses it (a request parameter).
    pub choice: bool,
    /// Every class is known to be found.
    pub complete: bool,
}

impl Var {
    /// The "absent" bit of a single-valued variable.
    pub fn absent_bit(&self) -> usize {
        self.cells.len()
    }

    /// Its whole domain.
    pub fn full(&self) -> Bits {
        let mut b = Bits::all(self.cells.len());
        if self.absent_ok && !self.many {
            b = Bits::all(self.cells.len() + 1);
        }
        b
    }
}

/// How a condition key is read in this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// The question fixes it (a value, or absent).
    Fixed,
    /// A variable.
    Var(VarName),
    /// `aws:PrincipalArn`: across account and name.
    PrincipalArn,
    /// `aws:PrincipalOrgPaths`: across organization id and the rest of the path.
    OrgPaths,
    /// `aws:SourceOrgPaths`.
    SourceOrgPaths,
}

/// A split condition: its probes over the whole string, tracked through the first part.
#[derive(Debug, Clone)]
struct Split {
    /// The probes of the condition's values over the whole string.
    probes: Vec<Probe>,
    /// Where they sit in the first part's probe list.
    first: usize,
}

/// The frame.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The principal kind.
    pub kind: Kind,
    /// The actions of this frame.
    pub actions: ActionSet,
    /// The fixed keys, for constants and variable substitution.
    pub resolve: Context,
    /// The variables.
    pub vars: Vec<Var>,
    /// Variables whose classes are not known to be complete, with the reason.
    pub incomplete: Vec<String>,
    /// Relations between variables that always hold (encryption context keys and values, a
    /// request through a service and `aws:ViaAWSService`, ...).
    pub ties: Vec<F>,
    identity: &'a Identity,
    resource: &'a str,
    partition: &'a str,
    region: &'a str,
    index: HashMap<VarName, usize>,
    probes: HashMap<VarName, Probes>,
    splits: HashMap<(usize, usize), Split>,
    limits: Limits,
    /// Where a text condition's values' probes start in its variable's probe list, by the
    /// condition's address (the frame borrows its statements, so addresses are stable and
    /// tell apart conditions that share a statement index, as exclusions do).
    value_probes: HashMap<*const Condition, usize>,
    encryption_context_fixed: bool,
    /// The question fixes `kms:ViaService` as absent: the request comes directly.
    via_fixed_absent: bool,
    session: &'a Session,
}

/// The parts of a principal ARN around the account and the name.
fn arn_frame(kind: Kind, partition: &str) -> Option<(String, &'static str, bool)> {
    match kind {
        Kind::Root => Some((format!("arn:{partition}:iam::"), ":root", false)),
        Kind::User => Some((format!("arn:{partition}:iam::"), ":user/", true)),
        Kind::Role => Some((format!("arn:{partition}:iam::"), ":role/", true)),
        Kind::FederatedUser => Some((format!("arn:{partition}:sts::"), ":federated-user/", true)),
        Kind::Service | Kind::Anonymous => None,
    }
}

impl<'a> Frame<'a> {
    /// Builds the frame for `statements` (the policy's and the question's exclusions).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        statements: &[&Statement],
        kind: Kind,
        identity: &'a Identity,
        actions: ActionSet,
        fixed: &Context,
        absent: &[String],
        resource: &'a str,
        partition: &'a str,
        region: &'a str,
        limits: Limits,
        session: &'a Session,
    ) -> Frame<'a> {
        let representative = actions.names().next().unwrap_or("kms:Decrypt");
        let mut resolve = Context::default();
        for (k, v) in fixed.iter() {
            let k_lc = k.to_ascii_lowercase();
            if keys::applies_to(&k_lc).contains(representative) {
                resolve.set_values(&k_lc, v.to_vec());
            }
        }
        let encryption_context_fixed = fixed.get("kms:encryptioncontextkeys").is_some()
            || absent.iter().any(|k| k == "kms:encryptioncontextkeys");
        let mut frame = Frame {
            kind,
            actions,
            resolve,
            vars: Vec::new(),
            incomplete: Vec::new(),
            ties: Vec::new(),
            identity,
            resource,
            partition,
            region,
            index: HashMap::new(),
            probes: HashMap::new(),
            splits: HashMap::new(),
            limits,
            value_probes: HashMap::new(),
            encryption_context_fixed,
            via_fixed_absent: absent.iter().any(|k| k == "kms:viaservice"),
            session,
        };
        frame.identity_constants();
        frame.derived_constants(absent);
        let absent_keys: BTreeSet<&str> = absent.iter().map(String::as_str).collect();
        frame.collect(statements, &absent_keys);
        frame.build_vars();
        frame.build_ties();
        frame
    }

    /// Keys the kind (or the concrete caller) decides outright.
    fn identity_constants(&mut self) {
        let id = self.identity;
        let ctx = &mut self.resolve;
        match self.kind {
            Kind::Root | Kind::User | Kind::Role | Kind::FederatedUser => {
                ctx.set("aws:principalisawsservice", "false");
                ctx.set(
                    "aws:principaltype",
                    match self.kind {
                        Kind::Root => "Account",
                        Kind::User => "User",
                        Kind::Role => "AssumedRole",
                        _ => "FederatedUser",
                    },
                );
                if let Some(c) = &id.concrete {
                    for (k, v) in c.iter() {
                        ctx.set_values(k, v.to_vec());
                    }
                }
            }
            Kind::Service => {
                ctx.set("aws:principalisawsservice", "true");
                if let Some(c) = &id.concrete {
                    for (k, v) in c.iter() {
                        ctx.set_values(k, v.to_vec());
                    }
                }
            }
            Kind::Anonymous => {
                ctx.set("aws:principaltype", "Anonymous");
                ctx.set("aws:principalaccount", "anonymous");
                ctx.set("aws:userid", "anonymous");
            }
        }
    }

    /// Keys that follow from fixed ones: a request through a service is a forward access
    /// session for an IAM principal (`aws:ViaAWSService`), and a grant call through a service is
    /// for an AWS resource (`kms:GrantIsForAWSResource`).
    fn derived_constants(&mut self, absent: &[String]) {
        let via_fixed = self.resolve.get("kms:viaservice").is_some()
            || absent.iter().any(|k| k == "kms:viaservice");
        if !via_fixed {
            return;
        }
        let via = self.resolve.get("kms:viaservice").is_some();
        if self.kind.is_iam() && self.resolve.get("aws:viaawsservice").is_none() {
            self.resolve
                .set("aws:viaawsservice", if via { "true" } else { "false" });
        }
        if via && self.resolve.get("kms:grantisforawsresource").is_none() {
            let grant = ActionSet::of(&["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]);
            if !self.actions.intersect(grant).is_empty() {
                self.resolve.set("kms:grantisforawsresource", "true");
            }
        }
    }

    /// How `key_lc` is read in this frame.
    fn target(&self, key_lc: &str, absent: &BTreeSet<&str>) -> Target {
        let info = keys::info(key_lc);
        let representative = self.actions.names().next().unwrap_or("kms:Decrypt");
        let applicable = keys::applies_to(key_lc).contains(representative);
        let encryption_context =
            key_lc == "kms:encryptioncontextkeys" || key_lc.starts_with("kms:encryptioncontext:");
        if self.resolve.get(key_lc).is_some()
            || absent.contains(key_lc)
            || !applicable
            || info.source == Source::Never
            || (encryption_context && self.encryption_context_fixed)
        {
            return Target::Fixed;
        }
        let iam = self.kind.is_iam();
        let service = self.kind == Kind::Service;
        let concrete = self.identity.concrete.is_some();
        let var = |v: VarName| Target::Var(v);
        match key_lc {
            "aws:principalarn" if iam && !concrete => Target::PrincipalArn,
            "aws:principalaccount" | "kms:calleraccount" if iam && !concrete => {
                var(VarName::Account)
            }
            "aws:principalorgid" if iam && self.identity.org.is_open() => var(VarName::OrgId),
            "aws:principalorgpaths" if iam && self.identity.org.is_open() => Target::OrgPaths,
            "aws:principalservicename" if service && !concrete => var(VarName::Service),
            "aws:principalservicenameslist" if service => var(VarName::Key(key_lc.to_owned())),
            "aws:principaltype" if service => var(VarName::Key(key_lc.to_owned())),
            "aws:sourceaccount" if service && self.identity.source_account.is_open() => {
                var(VarName::SourceAccount)
            }
            "aws:sourceorgid" if service && self.identity.source_org.is_open() => {
                var(VarName::SourceOrgId)
            }
            "aws:sourceorgpaths" if service && self.identity.source_org.is_open() => {
                Target::SourceOrgPaths
            }
            "aws:username" if self.kind == Kind::User => var(VarName::Key(key_lc.to_owned())),
            "aws:sourcearn" if service => var(VarName::Key(key_lc.to_owned())),
            k if k.starts_with("aws:principaltag/") && iam => var(VarName::Key(key_lc.to_owned())),
            "aws:principalarn"
            | "aws:principalaccount"
            | "kms:calleraccount"
            | "aws:principalorgid"
            | "aws:principalorgpaths"
            | "aws:principalservicename"
            | "aws:principalservicenameslist"
            | "aws:principaltype"
            | "aws:principalisawsservice"
            | "aws:sourceaccount"
            | "aws:sourceorgid"
            | "aws:sourceorgpaths"
            | "aws:username"
            | "aws:sourcearn" => Target::Fixed,
            k if k.starts_with("aws:principaltag/") => Target::Fixed,
            _ => var(VarName::Key(key_lc.to_owned())),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Pass 1: what the statements compare each variable with.

    fn probes_of(&mut self, v: VarName) -> &mut Probes {
        self.probes.entry(v).or_default()
    }

    fn add_string_probe(&mut self, v: VarName, re: Re) {
        let probe = Probe::new(&re, &self.session.nfas);
        self.probes_of(v).strings.push(probe);
    }

    /// A probe for exactly `text` (an account, a name), built once per session.
    fn add_literal_probe(&mut self, v: VarName, text: &str) {
        let nfa = self
            .session
            .nfas
            .get_text(TextReading::Literal, text, || Re::literal(text));
        self.probes_of(v).strings.push(Probe::of(nfa));
    }

    fn collect(&mut self, statements: &[&Statement], absent: &BTreeSet<&str>) {
        // The identity parts always exist for the kind, compared or not (a concrete caller's
        // are constants).
        let open = self.identity.caller.is_none();
        if let Some((_, _, named)) = arn_frame(self.kind, self.partition).filter(|_| open) {
            self.probes_of(VarName::Account);
            if named {
                self.probes_of(VarName::Name);
            }
            if self.kind == Kind::Role {
                self.probes_of(VarName::Session);
            }
        }
        if self.kind == Kind::Service && open {
            self.probes_of(VarName::Service);
        }
        for s in statements {
            self.collect_principal(&s.principal);
            for (ci, c) in s.conditions.iter().enumerate() {
                let target = self.target(&c.key_lc, absent);
                self.collect_condition(s.index, ci, c, &target);
            }
        }
        // The encryption context's keys and values hang together: the keys list must say
        // which values are present.
        let ec_values: Vec<String> = self
            .probes
            .keys()
            .filter_map(|v| match v {
                VarName::Key(k) if k.starts_with("kms:encryptioncontext:") => Some(k.clone()),
                _ => None,
            })
            .collect();
        if !ec_values.is_empty() {
            for k in ec_values {
                let name = k.trim_start_matches("kms:encryptioncontext:").to_owned();
                self.add_string_probe(
                    VarName::Key("kms:encryptioncontextkeys".to_owned()),
                    Re::literal_ascii_ci(&name),
                );
            }
        }
        // A request through a service ties two keys for IAM callers.
        let via = VarName::Key("kms:viaservice".to_owned());
        for derived in ["aws:viaawsservice", "kms:grantisforawsresource"] {
            if self.probes.contains_key(&VarName::Key(derived.to_owned()))
                && !self.probes.contains_key(&via)
                && self.target("kms:viaservice", absent) == Target::Var(via.clone())
            {
                self.probes_of(via.clone());
            }
        }
    }

    fn collect_principal(&mut self, clause: &PrincipalClause) {
        let set = match clause {
            PrincipalClause::Principal(s) | PrincipalClause::NotPrincipal(s) => s,
        };
        if self.identity.caller.is_some() {
            return;
        }
        if self.kind == Kind::Service {
            for svc in &set.service {
                self.add_string_probe(VarName::Service, Re::literal_ascii_ci(svc));
            }
            return;
        }
        if !self.kind.is_iam() {
            return;
        }
        for p in &set.aws {
            if let Some((account, name, session)) = self.aws_principal_parts(p) {
                self.add_literal_probe(VarName::Account, &account);
                match name {
                    Some(NamePart::Exact(n)) => self.add_literal_probe(VarName::Name, &n),
                    Some(NamePart::EndsWith(n)) => {
                        self.add_string_probe(VarName::Name, ends_with_role(&n));
                    }
                    None => {}
                }
                if let Some(s) = session {
                    self.add_literal_probe(VarName::Session, &s);
                }
            }
        }
    }

    fn collect_condition(
        &mut self,
        statement: usize,
        index: usize,
        c: &Condition,
        target: &Target,
    ) {
        let resolve = self.resolve.clone();
        match target {
            Target::Fixed => {}
            Target::Var(v) => {
                let nfas = &self.session.nfas;
                let probes = self.probes.entry(v.clone()).or_default();
                let start = probes.strings.len();
                probes.add_condition(c, &resolve, nfas);
                // Text comparisons give one probe per value, in order: the cells' probe
                // results then say whether each value matches, with nothing to match again.
                let exact = matches!(c.operator.family, Family::StringEquals | Family::StringLike)
                    && probes.strings.len() - start == c.values.len()
                    && c.typed.iter().all(|t| *t == Typed::Text);
                if exact {
                    self.value_probes.insert(std::ptr::from_ref(c), start);
                }
            }
            Target::PrincipalArn | Target::OrgPaths | Target::SourceOrgPaths => {
                let (first, prefix) = match target {
                    Target::PrincipalArn => {
                        let Some((prefix, _, _)) = arn_frame(self.kind, self.partition) else {
                            return;
                        };
                        (VarName::Account, prefix)
                    }
                    Target::OrgPaths => (VarName::OrgId, String::new()),
                    _ => (VarName::SourceOrgId, String::new()),
                };
                let mut whole = Probes::default();
                whole.add_condition(c, &resolve, &self.session.nfas);
                let list = &mut self.probes_of(first).strings;
                let start_index = list.len();
                for p in &whole.strings {
                    let start = p.nfa.run(&p.start, &prefix);
                    list.push(Probe {
                        nfa: std::rc::Rc::clone(&p.nfa),
                        start,
                        track_states: true,
                    });
                }
                self.splits.insert(
                    (statement, index),
                    Split {
                        probes: whole.strings,
                        first: start_index,
                    },
                );
                // The path after the organization id exists once a path is compared (the
                // principal's name part is registered with its kind).
                match target {
                    Target::OrgPaths => {
                        self.probes_of(VarName::OrgRest);
                    }
                    Target::SourceOrgPaths => {
                        self.probes_of(VarName::SourceOrgRest);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The account, the name part (exact, or a role name at the end of a path) and the session
    /// name a principal element names, when this kind can be it.
    fn aws_principal_parts(
        &self,
        p: &AwsPrincipal,
    ) -> Option<(String, Option<NamePart>, Option<String>)> {
        let (_, mid, _) = arn_frame(self.kind, self.partition)?;
        match p {
            AwsPrincipal::Account { account, partition } => partition
                .as_deref()
                .is_none_or(|part| part == self.partition)
                .then(|| (account.clone(), None, None)),
            AwsPrincipal::Role { account, arn } if self.kind == Kind::Role => {
                exact_name(arn, self.partition, "iam", mid)
                    .map(|n| (account.clone(), Some(NamePart::Exact(n)), None))
            }
            AwsPrincipal::User { account, arn } if self.kind == Kind::User => {
                exact_name(arn, self.partition, "iam", mid)
                    .map(|n| (account.clone(), Some(NamePart::Exact(n)), None))
            }
            AwsPrincipal::FederatedUser { account, arn } if self.kind == Kind::FederatedUser => {
                exact_name(arn, self.partition, "sts", mid)
                    .map(|n| (account.clone(), Some(NamePart::Exact(n)), None))
            }
            AwsPrincipal::AssumedRole { account, arn } if self.kind == Kind::Role => {
                let rest = arn.strip_prefix(&format!(
                    "arn:{}:sts::{account}:assumed-role/",
                    self.partition
                ))?;
                let (role, session) = rest.split_once('/')?;
                Some((
                    account.clone(),
                    Some(NamePart::EndsWith(role.to_owned())),
                    Some(session.to_owned()),
                ))
            }
            _ => None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Pass 2: the variables and their classes.

    fn build_vars(&mut self) {
        let mut names: Vec<VarName> = self.probes.keys().cloned().collect();
        // The first part of a split before the second; everything else in a stable order.
        names.sort();
        for name in names {
            self.build_var(name);
        }
    }

    fn shape_of(&self, name: &VarName) -> Option<(ValueShape, bool, bool, bool)> {
        // (shape, many, absent_ok, choice)
        let id = self.identity;
        let d12 = || Re::repeat(CharSet::range('0', '9'), 12, 12);
        let nfas = &self.session.nfas;
        let regular = |re: Re| {
            let nfa = nfas.get(&re);
            ValueShape::Regular(re, nfa)
        };
        Some(match name {
            VarName::Account => (regular(d12()), false, false, false),
            VarName::Name => (regular(name_shape(self.kind)), false, false, false),
            VarName::Session => (regular(session_shape()), false, false, false),
            VarName::Service => (regular(service_shape()), false, false, false),
            VarName::OrgId => (
                regular(id.org.shape(org_id_shape)),
                false,
                id.org.may_be_absent(),
                false,
            ),
            VarName::OrgRest | VarName::SourceOrgRest => {
                (regular(org_rest_shape()), false, false, false)
            }
            VarName::SourceAccount => (
                regular(id.source_account.shape(d12)),
                false,
                id.source_account.may_be_absent(),
                false,
            ),
            VarName::SourceOrgId => (
                regular(id.source_org.shape(org_id_shape)),
                false,
                id.source_org.may_be_absent(),
                false,
            ),
            VarName::Key(k) => {
                let info = keys::info(k);
                let shape = if k == "kms:viaservice" {
                    regular(via_service_shape(self.region))
                } else {
                    ValueShape::of_key(info.shape, nfas)
                };
                (
                    shape,
                    info.multivalued,
                    !info.always_present,
                    info.source == Source::Choice,
                )
            }
        })
    }

    fn build_var(&mut self, name: VarName) {
        let Some((shape, many, absent_ok, choice)) = self.shape_of(&name) else {
            return;
        };
        // The second part of a split string follows the first part's end states.
        if matches!(
            name,
            VarName::Name | VarName::OrgRest | VarName::SourceOrgRest
        ) {
            self.second_part_probes(&name);
        }
        let probes = self.probes.get(&name).cloned().unwrap_or_default();
        let split = self
            .session
            .splits
            .get(&shape, &probes, self.limits.split_states);
        if !split.complete {
            self.incomplete.push(describe(&name));
        }
        let index = self.vars.len();
        self.vars.push(Var {
            name: name.clone(),
            many,
            absent_ok,
            cells: split.witnesses.clone(),
            results: split.results.clone(),
            choice,
            complete: split.complete,
        });
        self.index.insert(name, index);
    }

    /// Adds to the second part's probes: for every split condition, the automaton started
    /// where each class of the first part left it, after the text between the parts.
    fn second_part_probes(&mut self, name: &VarName) {
        let (first, mid): (VarName, String) = match name {
            VarName::Name => {
                let Some((_, mid, _)) = arn_frame(self.kind, self.partition) else {
                    return;
                };
                (VarName::Account, mid.to_owned())
            }
            VarName::OrgRest => (VarName::OrgId, "/".to_owned()),
            _ => (VarName::SourceOrgId, "/".to_owned()),
        };
        let Some(&fi) = self.index.get(&first) else {
            return;
        };
        let Some(first_var) = self.vars.get(fi) else {
            return;
        };
        let mut added = Vec::new();
        for split in self.splits.values() {
            if self.split_first(split) != Some(first.clone()) {
                continue;
            }
            for (j, p) in split.probes.iter().enumerate() {
                let mut seen: BTreeSet<States> = BTreeSet::new();
                for results in &first_var.results {
                    if let Some(ProbeResult::Ends(s)) = results.get(split.first + j)
                        && seen.insert(s.clone())
                    {
                        added.push(Probe {
                            nfa: std::rc::Rc::clone(&p.nfa),
                            start: p.nfa.run(s, &mid),
                            track_states: false,
                        });
                    }
                }
            }
        }
        self.probes_of(name.clone()).strings.extend(added);
    }

    fn split_first(&self, split: &Split) -> Option<VarName> {
        // A split's first part is the variable whose probe list holds its tracking probes; the
        // three kinds of split use three different first parts.
        for first in [VarName::Account, VarName::OrgId, VarName::SourceOrgId] {
            if let Some(p) = self.probes.get(&first)
                && p.strings.get(split.first).is_some_and(|x| x.track_states)
                && split.probes.first().is_some_and(|sp| {
                    p.strings
                        .get(split.first)
                        .is_some_and(|x| x.nfa.len() == sp.nfa.len())
                })
            {
                return Some(first);
            }
        }
        None
    }

    fn var(&self, name: &VarName) -> Option<(usize, &Var)> {
        let i = *self.index.get(name)?;
        self.vars.get(i).map(|v| (i, v))
    }

    // ---------------------------------------------------------------------------------------
    // Relations between variables.

    #[expect(
        clippy::too_many_lines,
        reason = "one block per relation between condition keys (the encryption context and its keys list, organization ids and paths, principal and account, ...), each a few lines over the shared variable table: the list of ties reads best as one list"
    )]
    fn build_ties(&mut self) {
        // Each encryption-context value is present exactly when the keys list names its key.
        if let Some((eck, keys_var)) =
            self.var(&VarName::Key("kms:encryptioncontextkeys".to_owned()))
        {
            let keys_cells = keys_var.cells.clone();
            let values: Vec<(usize, String, usize)> = self
                .vars
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match &v.name {
                    VarName::Key(k) if k.starts_with("kms:encryptioncontext:") => Some((
                        i,
                        k.trim_start_matches("kms:encryptioncontext:").to_owned(),
                        v.cells.len(),
                    )),
                    _ => None,
                })
                .collect();
            for (vi, name, n) in values {
                let mut named = Bits::none(keys_cells.len());
                let mut other = Bits::none(keys_cells.len());
                for (ci, w) in keys_cells.iter().enumerate() {
                    if w.eq_ignore_ascii_case(&name) {
                        named.insert(ci);
                    } else {
                        other.insert(ci);
                    }
                }
                let mut absent = Bits::none(n + 1);
                absent.insert(n);
                let present = Bits::all(n);
                self.ties.push(F::or(vec![
                    F::and(vec![
                        F::Lit(Lit::In(vi, absent)),
                        F::Lit(Lit::AllIn(eck, other)),
                    ]),
                    F::and(vec![
                        F::Lit(Lit::In(vi, present)),
                        F::Lit(Lit::SomeIn(eck, named)),
                    ]),
                ]));
            }
        }
        // Through a service: an IAM principal's forward access session, and a grant for an
        // AWS resource. Directly: neither (the grant key may then be false or absent: AWS does
        // not say which).
        if let Some((via, via_var)) = self.var(&VarName::Key("kms:viaservice".to_owned())) {
            let n = via_var.cells.len();
            let mut absent = Bits::none(n + 1);
            absent.insert(n);
            let present = Bits::all(n);
            for (key, applies) in [
                ("aws:viaawsservice", self.kind.is_iam()),
                ("kms:grantisforawsresource", true),
            ] {
                if !applies {
                    continue;
                }
                let Some((d, dv)) = self.var(&VarName::Key(key.to_owned())) else {
                    continue;
                };
                let pick = |want: &str, or_absent: bool| {
                    let mut b = Bits::none(dv.cells.len() + 1);
                    for (i, w) in dv.cells.iter().enumerate() {
                        if w == want {
                            b.insert(i);
                        }
                    }
                    if or_absent && dv.absent_ok {
                        b.insert(dv.cells.len());
                    }
                    b
                };
                let direct = pick("false", key == "kms:grantisforawsresource");
                self.ties.push(F::or(vec![
                    F::and(vec![
                        F::Lit(Lit::In(via, absent.clone())),
                        F::Lit(Lit::In(d, direct)),
                    ]),
                    F::and(vec![
                        F::Lit(Lit::In(via, present.clone())),
                        F::Lit(Lit::In(d, pick("true", false))),
                    ]),
                ]));
            }
        }
        // Sent directly (the question says so): a grant call is not for an AWS resource.
        if self.via_fixed_absent
            && let Some((d, dv)) = self.var(&VarName::Key("kms:grantisforawsresource".to_owned()))
        {
            let mut b = Bits::none(dv.cells.len() + 1);
            for (i, w) in dv.cells.iter().enumerate() {
                if w == "false" {
                    b.insert(i);
                }
            }
            if dv.absent_ok {
                b.insert(dv.cells.len());
            }
            self.ties.push(F::Lit(Lit::In(d, b)));
        }
        // A service acts for an organization's account only if it names the account.
        if let (Some((org, org_var)), Some((acct, acct_var))) = (
            self.var(&VarName::SourceOrgId),
            self.var(&VarName::SourceAccount),
        ) {
            let mut org_absent = Bits::none(org_var.cells.len() + 1);
            org_absent.insert(org_var.cells.len());
            let acct_present = Bits::all(acct_var.cells.len());
            self.ties.push(F::or(vec![
                F::Lit(Lit::In(org, org_absent)),
                F::Lit(Lit::In(acct, acct_present)),
            ]));
        }
    }

    // ---------------------------------------------------------------------------------------
    // Pass 3: statements as formulas.

    /// Whether the statement applies, as a three-valued formula.
    pub fn statement(&self, s: &Statement, absent: &BTreeSet<&str>) -> T3 {
        let covered = s.key_actions.intersect(self.actions);
        let action = if covered.is_empty() {
            T3::Const(Truth::False)
        } else if covered == self.actions {
            T3::Const(Truth::True)
        } else {
            T3::Leaf(
                F::Lit(Lit::Action(covered)),
                F::Lit(Lit::Action(self.actions.minus(covered))),
            )
        };
        let mut parts = vec![action, self.principal(&s.principal)];
        parts.push(T3::Const(resource_applies(
            &s.resource,
            self.resource,
            &self.resolve,
        )));
        for (ci, c) in s.conditions.iter().enumerate() {
            parts.push(self.condition(s.index, ci, c, absent));
        }
        T3::And(parts)
    }

    fn principal(&self, clause: &PrincipalClause) -> T3 {
        match clause {
            PrincipalClause::Principal(set) => self.principal_in(set),
            PrincipalClause::NotPrincipal(set) => {
                T3::Not(Box::new(self.not_principal_excludes(set)))
            }
        }
    }

    fn principal_in(&self, set: &PrincipalSet) -> T3 {
        if set.any {
            return T3::Const(Truth::True);
        }
        let aws_any = set.aws.contains(&AwsPrincipal::Any);
        match self.kind {
            Kind::Anonymous => T3::Const(Truth::from(aws_any)),
            Kind::Service => {
                let mut alts: Vec<T3> = set.service.iter().map(|s| self.service_is(s)).collect();
                if aws_any {
                    alts.push(T3::Const(Truth::Unknown));
                }
                T3::Or(alts)
            }
            _ => {
                if aws_any {
                    return T3::Const(Truth::True);
                }
                T3::Or(set.aws.iter().map(|p| self.aws_principal_is(p)).collect())
            }
        }
    }

    /// The user guide: AWS "might validate the account first, then the role, and then the
    /// assumed-role user", so a role session is certainly excluded only when its account and
    /// its role (or session) are both listed; the root only needs its account.
    fn not_principal_excludes(&self, set: &PrincipalSet) -> T3 {
        let loose = self.principal_in(set);
        if !self.kind.is_iam() {
            return loose;
        }
        if set.any || set.aws.contains(&AwsPrincipal::Any) {
            return T3::Const(Truth::True);
        }
        let account_listed = T3::Or(
            set.aws
                .iter()
                .filter(|p| matches!(p, AwsPrincipal::Account { .. }))
                .map(|p| self.aws_principal_is(p))
                .collect(),
        );
        let identity_listed = T3::Or(
            set.aws
                .iter()
                .filter(|p| !matches!(p, AwsPrincipal::Account { .. }))
                .map(|p| self.aws_principal_is(p))
                .collect(),
        );
        let root = T3::Const(Truth::from(self.kind == Kind::Root));
        let certain = T3::And(vec![account_listed, T3::Or(vec![root, identity_listed])]);
        T3::Or(vec![
            certain,
            T3::And(vec![loose, T3::Const(Truth::Unknown)]),
        ])
    }

    fn aws_principal_is(&self, p: &AwsPrincipal) -> T3 {
        if let Some(caller) = &self.identity.caller {
            return T3::Const(crate::eval::principal_in(
                &PrincipalSet {
                    aws: vec![p.clone()],
                    ..PrincipalSet::default()
                },
                caller,
            ));
        }
        let Some((account, name, session)) = self.aws_principal_parts(p) else {
            return T3::Const(Truth::False);
        };
        let mut parts = vec![self.leaf_eq(&VarName::Account, &account)];
        match name {
            Some(NamePart::Exact(n)) => parts.push(self.leaf_eq(&VarName::Name, &n)),
            Some(NamePart::EndsWith(n)) => parts
                .push(self.leaf_by(&VarName::Name, |w| w == n || w.ends_with(&format!("/{n}")))),
            None => {}
        }
        if let Some(s) = session {
            parts.push(self.leaf_eq(&VarName::Session, &s));
        }
        T3::And(parts)
    }

    fn service_is(&self, svc: &str) -> T3 {
        if let Some(caller) = &self.identity.caller {
            return T3::Const(crate::eval::principal_in(
                &PrincipalSet {
                    service: vec![svc.to_owned()],
                    ..PrincipalSet::default()
                },
                caller,
            ));
        }
        self.leaf_by(&VarName::Service, |w| w.eq_ignore_ascii_case(svc))
    }

    fn leaf_eq(&self, v: &VarName, value: &str) -> T3 {
        self.leaf_by(v, |w| w == value)
    }

    /// A two-valued leaf on a single-valued identity variable.
    fn leaf_by(&self, v: &VarName, holds: impl Fn(&str) -> bool) -> T3 {
        let Some((i, var)) = self.var(v) else {
            return T3::Const(Truth::False);
        };
        let truths: Vec<Truth> = var.cells.iter().map(|w| Truth::from(holds(w))).collect();
        T3::per_class(i, &truths, var.absent_ok.then_some(Truth::False))
    }

    fn condition(
        &self,
        statement: usize,
        index: usize,
        c: &Condition,
        absent: &BTreeSet<&str>,
    ) -> T3 {
        match self.target(&c.key_lc, absent) {
            Target::Fixed => T3::Const(c.evaluate(&self.resolve)),
            Target::Var(v) => self.condition_on_var(c, &v),
            Target::PrincipalArn => {
                self.split_condition(statement, index, c, VarName::Account, Some(VarName::Name))
            }
            Target::OrgPaths => {
                self.split_condition(statement, index, c, VarName::OrgId, Some(VarName::OrgRest))
            }
            Target::SourceOrgPaths => self.split_condition(
                statement,
                index,
                c,
                VarName::SourceOrgId,
                Some(VarName::SourceOrgRest),
            ),
        }
    }

    fn condition_on_var(&self, c: &Condition, v: &VarName) -> T3 {
        let Some((i, var)) = self.var(v) else {
            return T3::Const(c.when_absent());
        };
        // `aws:PrincipalOrgID` is the organization id; `aws:PrincipalOrgPaths` would be the
        // whole path (handled by the split). Everything else is the variable's value itself.
        if !var.many {
            let from_probes = self
                .value_probes
                .get(&std::ptr::from_ref(c))
                .filter(|_| var.results.len() == var.cells.len());
            let truths: Vec<Truth> = match from_probes {
                // One value: some policy value matches it (none, when negated).
                Some(&start) => var
                    .results
                    .iter()
                    .map(|results| {
                        let any = results
                            .iter()
                            .skip(start)
                            .take(c.values.len())
                            .any(|r| *r == ProbeResult::Accepts(true));
                        Truth::from(any != c.operator.negated)
                    })
                    .collect(),
                None => var
                    .cells
                    .iter()
                    .map(|w| c.when_present(std::slice::from_ref(w), &self.resolve))
                    .collect(),
            };
            return T3::per_class(i, &truths, var.absent_ok.then(|| c.when_absent()));
        }
        set_condition(i, var, c, &self.resolve)
    }

    /// A condition on a string made of two parts (the account and name of a principal ARN, or
    /// an organization id and the rest of its path): for each group of first-part classes that
    /// leave the condition's automata in the same states, which second-part classes complete a
    /// match.
    fn split_condition(
        &self,
        statement: usize,
        index: usize,
        c: &Condition,
        first: VarName,
        second: Option<VarName>,
    ) -> T3 {
        let Some((fi, fv)) = self.var(&first) else {
            return T3::Const(c.when_absent());
        };
        let Some(split) = self.splits.get(&(statement, index)) else {
            return T3::Const(Truth::Unknown);
        };
        let width = split.probes.len();
        // Group the first part's classes by where they leave the condition's automata.
        let mut groups: Vec<(Vec<ProbeResult>, Vec<usize>)> = Vec::new();
        for (ci, results) in fv.results.iter().enumerate() {
            let key: Vec<ProbeResult> = results
                .get(split.first..split.first + width)
                .map(<[ProbeResult]>::to_vec)
                .unwrap_or_default();
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(ci),
                None => groups.push((key, vec![ci])),
            }
        }
        if fv.results.len() != fv.cells.len() {
            // No per-class results (a literal part): one group of everything.
            groups = vec![(Vec::new(), (0..fv.cells.len()).collect())];
        }
        let second = second.and_then(|s| self.var(&s));
        let has_second = arn_frame(self.kind, self.partition).is_some_and(|(_, _, named)| named)
            || first != VarName::Account;
        let mut alternatives = Vec::new();
        if fv.absent_ok {
            let mut b = Bits::none(fv.cells.len() + 1);
            b.insert(fv.cells.len());
            let absent_truth = c.when_absent();
            let rest = fv.full().minus(&b);
            alternatives.push(T3::And(vec![
                T3::Leaf(F::Lit(Lit::In(fi, b)), F::Lit(Lit::In(fi, rest))),
                T3::Const(absent_truth),
            ]));
        }
        for (_, members) in &groups {
            let Some(rep) = members.first().and_then(|m| fv.cells.get(*m)) else {
                continue;
            };
            let mut in_group = Bits::none(fv.cells.len() + 1);
            for m in members {
                in_group.insert(*m);
            }
            let out_group = fv.full().minus(&in_group);
            let membership = T3::Leaf(
                F::Lit(Lit::In(fi, in_group)),
                F::Lit(Lit::In(fi, out_group)),
            );
            let value = |rest: &str| self.joined(&first, rep, rest);
            let tail = match (&second, has_second) {
                (Some((si, sv)), true) => {
                    let truths: Vec<Truth> = sv
                        .cells
                        .iter()
                        .map(|w| c.when_present(&[value(w)], &self.resolve))
                        .collect();
                    T3::per_class(*si, &truths, None)
                }
                _ => T3::Const(c.when_present(&[value("")], &self.resolve)),
            };
            alternatives.push(T3::And(vec![membership, tail]));
        }
        // The groups (and absence) partition the first part: exactly one alternative's
        // membership holds, so the disjunction reads the condition right in both directions.
        T3::Or(alternatives)
    }

    /// The whole string of a split: principal ARN or organization path.
    fn joined(&self, first: &VarName, a: &str, b: &str) -> String {
        match first {
            VarName::Account => match arn_frame(self.kind, self.partition) {
                Some((prefix, mid, true)) => format!("{prefix}{a}{mid}{b}"),
                Some((prefix, mid, false)) => format!("{prefix}{a}{mid}"),
                None => String::new(),
            },
            _ => format!("{a}/{b}"),
        }
    }

    /// The identity of the frame's principals.
    pub fn identity(&self) -> &Identity {
        self.identity
    }

    /// The variables' index by name, for building witnesses.
    pub fn index_of(&self, name: &VarName) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// A condition on a multivalued variable, by its set operator.
fn set_condition(i: usize, var: &Var, c: &Condition, resolve: &Context) -> T3 {
    use crate::document::condition::{Family, SetQualifier};
    let n = var.cells.len();
    let (mut hold, mut fail) = (Bits::none(n), Bits::none(n));
    for (ci, w) in var.cells.iter().enumerate() {
        let t = c.holds_for_value(w, resolve);
        if t != Truth::False {
            hold.insert(ci);
        }
        if t != Truth::True {
            fail.insert(ci);
        }
    }
    let some = |b: &Bits| F::Lit(Lit::SomeIn(i, b.clone()));
    let all = |b: &Bits| F::Lit(Lit::AllIn(i, b.clone()));
    let nonempty = F::Lit(Lit::NonEmpty(i));
    let (present_hold, present_fail) = if c.operator.family == Family::Null {
        let t = c.when_present(&[String::new()], resolve);
        (
            F::from_bool(t != Truth::False),
            F::from_bool(t != Truth::True),
        )
    } else {
        match c.operator.set {
            SetQualifier::ForAnyValue => (some(&hold), F::and(vec![nonempty.clone(), all(&fail)])),
            SetQualifier::ForAllValues => (F::and(vec![nonempty.clone(), all(&hold)]), some(&fail)),
            // A single-valued operator on a list: true-or-unknown when some value satisfies
            // it; false-or-unknown when some value does not (several values are undecided
            // unless all agree).
            SetQualifier::Single => (some(&hold), some(&fail)),
        }
    };
    let absent = c.when_absent();
    let empty = F::Lit(Lit::Empty(i));
    // Absent first: the simplest request comes out of the search.
    let mk = |present: F, absent_ok: bool| {
        let mut alts = Vec::new();
        if var.absent_ok && absent_ok {
            alts.push(empty.clone());
        }
        alts.push(F::and(vec![nonempty.clone(), present]));
        F::or(alts)
    };
    T3::Leaf(
        mk(present_hold, absent != Truth::False),
        mk(present_fail, absent != Truth::True),
    )
}

/// The name part of a principal element.
#[derive(Debug, Clone)]
enum NamePart {
    /// Exactly this path and name.
    Exact(String),
    /// A role of this name, with any path (an assumed-role session ARN carries no path).
    EndsWith(String),
}

fn exact_name(arn: &str, partition: &str, service: &str, mid: &str) -> Option<String> {
    // arn:<partition>:<service>::<account><mid><name>
    let rest = arn.strip_prefix(&format!("arn:{partition}:{service}::"))?;
    let (_, after) = rest.split_at_checked(12)?;
    after.strip_prefix(mid).map(str::to_owned)
}

fn ends_with_role(name: &str) -> Re {
    Re::Cat(vec![
        Re::Alt(vec![
            Re::Empty,
            Re::Cat(vec![Re::any_string(), Re::Set(CharSet::one('/'))]),
        ]),
        Re::literal(name),
    ])
}

/// IAM names: letters, digits and `+=,.@_-`.
fn name_chars() -> CharSet {
    CharSet::from_ranges([
        ('a', 'z'),
        ('A', 'Z'),
        ('0', '9'),
        ('+', '+'),
        ('=', '='),
        (',', '.'),
        ('@', '@'),
        ('_', '_'),
    ])
}

/// A path (printable characters, ending in `/`) and a name.
/// IAM bounds the lengths; the shapes here do not (a longer name can only add requests, and
/// the search returns the shortest).
fn name_shape(kind: Kind) -> Re {
    let name = Re::at_least(name_chars(), 1);
    if kind == Kind::FederatedUser {
        return Re::at_least(name_chars(), 2);
    }
    Re::Cat(vec![
        Re::Alt(vec![
            Re::Empty,
            Re::Cat(vec![
                Re::star_of(CharSet::range('!', '~')),
                Re::Set(CharSet::one('/')),
            ]),
        ]),
        name,
    ])
}

fn session_shape() -> Re {
    Re::at_least(name_chars(), 2)
}

/// `<name>.amazonaws.com` (`.amazonaws.com.cn` in China), the name in dot-separated parts.
fn service_shape() -> Re {
    let c = CharSet::from_ranges([('a', 'z'), ('0', '9'), ('-', '-')]);
    let part = Re::at_least(c, 1);
    Re::Cat(vec![
        part.clone(),
        Re::Star(Box::new(Re::Cat(vec![Re::literal("."), part]))),
        Re::literal(".amazonaws.com"),
        Re::Alt(vec![Re::Empty, Re::literal(".cn")]),
    ])
}

fn org_id_shape() -> Re {
    Re::Cat(vec![
        Re::literal("o-"),
        Re::at_least(CharSet::from_ranges([('a', 'z'), ('0', '9')]), 10),
    ])
}

fn org_rest_shape() -> Re {
    let id = CharSet::from_ranges([('a', 'z'), ('0', '9')]);
    Re::Cat(vec![
        Re::literal("r-"),
        Re::at_least(id.clone(), 4),
        Re::literal("/"),
        Re::Star(Box::new(Re::Cat(vec![
            Re::literal("ou-"),
            Re::at_least(id.clone(), 4),
            Re::literal("-"),
            Re::at_least(id, 8),
            Re::literal("/"),
        ]))),
    ])
}

/// `<service>.<region>.amazonaws.com`; China Regions may also use `.amazonaws.com.cn`.
fn via_service_shape(region: &str) -> Re {
    let c = CharSet::from_ranges([('a', 'z'), ('0', '9'), ('-', '-')]);
    Re::Cat(vec![
        Re::Set(c.clone()),
        Re::star_of(c),
        Re::literal(&format!(".{region}.amazonaws.com")),
        Re::Alt(vec![Re::Empty, Re::literal(".cn")]),
    ])
}

fn describe(name: &VarName) -> String {
    match name {
        VarName::Key(k) => k.clone(),
        VarName::Account => "the principal's account".to_owned(),
        VarName::Name => "the principal's name".to_owned(),
        VarName::Session => "the session name".to_owned(),
        VarName::OrgId => "aws:PrincipalOrgID".to_owned(),
        VarName::OrgRest => "aws:PrincipalOrgPaths".to_owned(),
        VarName::Service => "the service principal".to_owned(),
        VarName::SourceAccount => "aws:SourceAccount".to_owned(),
        VarName::SourceOrgId => "aws:SourceOrgID".to_owned(),
        VarName::SourceOrgRest => "aws:SourceOrgPaths".to_owned(),
    }
}

impl Presence<String> {
    fn is_open(&self) -> bool {
        !matches!(self, Presence::Never)
    }

    fn may_be_absent(&self) -> bool {
        matches!(self, Presence::Maybe(_))
    }

    fn shape(&self, default: impl Fn() -> Re) -> Re {
        match self {
            Presence::Never => Re::Never,
            Presence::Maybe(None) | Presence::Always(None) => default(),
            Presence::Maybe(Some(value)) | Presence::Always(Some(value)) => Re::literal(value),
        }
    }
}
