//! Key policy documents: parsing and validation in every form IAM accepts.
//!
//! Parsing never stops at the first problem: every problem is collected with its place
//! (statement index and Sid, element). Problems that make the document's meaning unknowable are
//! fatal (nothing is evaluated); others (a variable under an old Version, an over-size document)
//! are reported while the document is still evaluated as KMS would read it.

pub mod condition;
pub mod principal;
pub mod template;

use std::collections::HashMap;
use std::fmt;

use crate::actions::ActionSet;
use crate::json::Json;
use crate::pattern::Pattern;

use condition::{Condition, Operator};
use principal::{PrincipalSet, parse_aws_principal};
use template::Template;

/// KMS's limit on a key policy: 32 KB.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// Documents larger than this are not even parsed.
const PARSE_LIMIT_BYTES: usize = 1024 * 1024;

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17`: `${...}` is literal text.
    V2008_10_17,
    /// No Version element: as 2008-10-17.
    Absent,
}

impl Version {
    /// Whether `${...}` is substituted.
    pub fn substitutes_variables(self) -> bool {
        self == Version::V2012_10_17
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Denies, overriding any Allow.
    Deny,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalClause {
    /// Applies to the listed principals.
    Principal(PrincipalSet),
    /// Applies to everyone but the listed principals.
    NotPrincipal(PrincipalSet),
}

/// One action pattern (`kms:Gen*`), matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPattern {
    /// As written.
    pub raw: String,
    /// Compiled.
    pub pattern: Pattern,
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionClause {
    /// The listed actions.
    Action(Vec<ActionPattern>),
    /// Every action but the listed ones.
    NotAction(Vec<ActionPattern>),
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceClause {
    /// The listed resources.
    Resource(Vec<Template>),
    /// Every resource but the listed ones.
    NotResource(Vec<Template>),
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Position in the document, from 0.
    pub index: usize,
    /// The Sid, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// Who.
    pub principal: PrincipalClause,
    /// What.
    pub action: ActionClause,
    /// On what.
    pub resource: ResourceClause,
    /// When (AND of all conditions).
    pub conditions: Vec<Condition>,
    /// The key actions this statement's Action / NotAction covers.
    pub key_actions: ActionSet,
}

/// A condition operator IAM does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown condition operator {0}")]
pub struct UnknownOperator(pub String);

impl Statement {
    /// A Deny of every action on every resource for `principal` when every condition holds
    /// (operator, key, values): how a question of the analysis marks requests as outside its
    /// space, built without a round trip through JSON. Errors name an unknown operator.
    pub fn exclusion(
        principal: PrincipalSet,
        conditions: &[(&str, &str, Vec<String>)],
    ) -> Result<Statement, UnknownOperator> {
        let conditions = conditions
            .iter()
            .map(|(op, key, values)| {
                let operator =
                    Operator::parse(op).ok_or_else(|| UnknownOperator((*op).to_owned()))?;
                let variables = operator.takes_variables();
                let values = values
                    .iter()
                    .map(|v| Template::parse(v, variables))
                    .collect();
                Ok(Condition::new(operator, key, values))
            })
            .collect::<Result<Vec<_>, UnknownOperator>>()?;
        Ok(Statement {
            index: 0,
            sid: None,
            effect: Effect::Deny,
            principal: PrincipalClause::Principal(principal),
            action: ActionClause::Action(vec![ActionPattern {
                raw: "*".to_owned(),
                pattern: Pattern::compile("*"),
            }]),
            resource: ResourceClause::Resource(vec![Template::parse("*", false)]),
            conditions,
            key_actions: ActionSet::all(),
        })
    }

    /// A reference naming this statement in messages.
    pub fn reference(&self) -> StatementRef {
        StatementRef {
            index: self.index,
            sid: self.sid.clone(),
        }
    }
}

/// Names a statement: `"AllowOrgPrincipals (index 3)"` in findings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatementRef {
    /// Position from 0.
    pub index: usize,
    /// Sid, if any.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) if !sid.is_empty() => write!(f, "{sid} (index {})", self.index),
            _ => write!(f, "index {}", self.index),
        }
    }
}

/// A parsed key policy.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPolicy {
    /// The Version element.
    pub version: Version,
    /// The Id element.
    pub id: Option<String>,
    /// The statements in order.
    pub statements: Vec<Statement>,
    /// The document's size in bytes as given.
    pub size_bytes: usize,
}

/// One problem with a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// The statement, when the problem is inside one.
    pub statement: Option<StatementRef>,
    /// The element (`Principal`, `Condition.StringEquals`, ...), when known.
    pub element: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Whether the document cannot be evaluated because of it.
    pub fatal: bool,
}

impl PolicyProblem {
    /// Where the problem is, as `statement 2 (Sid "X"), Condition` or `document`.
    pub fn place(&self) -> String {
        let mut place = match &self.statement {
            Some(s) => match &s.sid {
                Some(sid) => format!("statement {} (Sid \"{sid}\")", s.index),
                None => format!("statement {}", s.index),
            },
            None => "document".to_owned(),
        };
        if let Some(e) = &self.element {
            place.push_str(", ");
            place.push_str(e);
        }
        place
    }
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.message)
    }
}

/// The result of parsing: the policy, unless a fatal problem prevents it, and every problem.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPolicy {
    /// The policy as KMS would read it; `None` when a fatal problem makes that unknowable.
    pub policy: Option<KeyPolicy>,
    /// Every problem found.
    pub problems: Vec<PolicyProblem>,
}

/// The policy text from user input: a JSON document, or a JSON string that contains one (as
/// CloudTrail carries `requestParameters.policy`). Returns `None` when the input is not JSON.
pub fn unwrap_policy_text(input: &str) -> Result<String, serde_json::Error> {
    match serde_json::from_str::<serde_json::Value>(input)? {
        serde_json::Value::String(inner) => Ok(inner),
        _ => Ok(input.to_owned()),
    }
}

/// Parses a key policy document, collecting every problem.
pub fn parse_key_policy(text: &str) -> ParsedPolicy {
    let mut p = Parser::default();
    let size_bytes = text.len();
    if size_bytes > PARSE_LIMIT_BYTES {
        p.problem(
            None,
            None,
            format!("is {size_bytes} bytes; KMS accepts at most {MAX_POLICY_BYTES} (not parsed)"),
            true,
        );
        return p.finish(None);
    }
    if size_bytes > MAX_POLICY_BYTES {
        p.problem(
            None,
            None,
            format!("is {size_bytes} bytes; KMS accepts at most {MAX_POLICY_BYTES} bytes"),
            false,
        );
    }
    // Most documents are plain ASCII: one pass over the bytes settles it.
    let plain = text
        .bytes()
        .all(|b| matches!(b, b'\t' | b'\n' | b'\r' | b' '..=b'~'));
    let outside = if plain {
        None
    } else {
        text.chars().find(|c| !is_policy_char(*c))
    };
    if let Some(c) = outside {
        p.problem(
            None,
            None,
            format!(
                "contains the character U+{:04X}, which KMS does not accept in a key policy",
                u32::from(c)
            ),
            false,
        );
    }
    let json = match Json::parse(text) {
        Ok(j) => j,
        Err(e) => {
            p.problem(None, None, format!("is not valid JSON: {e}"), true);
            return p.finish(None);
        }
    };
    let policy = p.document(&json, size_bytes);
    p.finish(policy)
}

/// Printable ASCII, Latin-1 Supplement, tab, line feed and carriage return.
fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A1}'..='\u{FF}')
}

#[derive(Default)]
struct Parser {
    problems: Vec<PolicyProblem>,
    /// The key actions of each action pattern seen, by its text: a policy repeats a few
    /// patterns across many statements.
    action_sets: HashMap<String, ActionSet>,
}

impl Parser {
    /// Every key action the patterns cover.
    fn key_actions(&mut self, patterns: &[ActionPattern]) -> ActionSet {
        patterns.iter().fold(ActionSet::EMPTY, |set, p| {
            let one = match self.action_sets.get(&p.raw) {
                Some(one) => *one,
                None => {
                    let one = ActionSet::matching(std::slice::from_ref(&p.pattern));
                    self.action_sets.insert(p.raw.clone(), one);
                    one
                }
            };
            set.union(one)
        })
    }

    fn problem(
        &mut self,
        statement: Option<&StatementRef>,
        element: Option<&str>,
        message: String,
        fatal: bool,
    ) {
        self.problems.push(PolicyProblem {
            statement: statement.cloned(),
            element: element.map(str::to_owned),
            message,
            fatal,
        });
    }

    fn finish(self, policy: Option<KeyPolicy>) -> ParsedPolicy {
        let fatal = self.problems.iter().any(|p| p.fatal);
        ParsedPolicy {
            policy: if fatal { None } else { policy },
            problems: self.problems,
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one check per top-level element (size, Version, Id, Statement, unknown elements), each reporting with its place"
    )]
    fn document(&mut self, json: &Json, size_bytes: usize) -> Option<KeyPolicy> {
        let Json::Object(members) = json else {
            self.problem(
                None,
                None,
                format!("is {}, not a JSON object", json.type_name()),
                true,
            );
            return None;
        };
        let mut version = Version::Absent;
        let mut id = None;
        let mut statement_json = None;
        for (name, value) in members {
            match (name.as_str(), value) {
                ("Version", Json::String(v)) if v == "2012-10-17" => version = Version::V2012_10_17,
                ("Version", Json::String(v)) if v == "2008-10-17" => version = Version::V2008_10_17,
                ("Version", other) => self.problem(
                    None,
                    Some("Version"),
                    format!(
                        "must be \"2012-10-17\" or \"2008-10-17\", not {}",
                        describe(other)
                    ),
                    true,
                ),
                ("Id", Json::String(v)) => id = Some(v.clone()),
                ("Id", other) => self.problem(
                    None,
                    Some("Id"),
                    format!("must be a string, not {}", other.type_name()),
                    true,
                ),
                ("Statement", v) => statement_json = Some(v),
                (other, _) => self.problem(
                    None,
                    Some(other),
                    unknown_element(other, &["Version", "Id", "Statement"]),
                    true,
                ),
            }
        }
        let items: Vec<&Json> = match statement_json {
            None => {
                self.problem(None, Some("Statement"), "is missing".to_owned(), true);
                return None;
            }
            Some(Json::Array(items)) if items.is_empty() => {
                self.problem(
                    None,
                    Some("Statement"),
                    "is an empty array".to_owned(),
                    true,
                );
                return None;
            }
            Some(Json::Array(items)) => items.iter().collect(),
            Some(obj @ Json::Object(_)) => vec![obj],
            Some(other) => {
                self.problem(
                    None,
                    Some("Statement"),
                    format!(
                        "must be an object or an array of objects, not {}",
                        other.type_name()
                    ),
                    true,
                );
                return None;
            }
        };
        let statements: Vec<Statement> = items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.statement(i, s, version))
            .collect();
        Some(KeyPolicy {
            version,
            id,
            statements,
            size_bytes,
        })
    }

    fn statement(&mut self, index: usize, json: &Json, version: Version) -> Option<Statement> {
        let Json::Object(members) = json else {
            let r = StatementRef { index, sid: None };
            self.problem(
                Some(&r),
                None,
                format!("must be an object, not {}", json.type_name()),
                true,
            );
            return None;
        };
        let sid = match json.get("Sid") {
            Some(Json::String(s)) => Some(s.clone()),
            _ => None,
        };
        let r = StatementRef { index, sid };
        let before = self.problems.len();
        self.check_elements(&r, members);
        let effect = self.effect(&r, json);
        let principal = self.principal_clause(&r, json, effect);
        let action = self.action_clause(&r, json);
        let resource = self.resource_clause(&r, json, version);
        let conditions = match json.get("Condition") {
            None => Some(Vec::new()),
            Some(c) => self.conditions(&r, c, version),
        };
        let fatal_here = self
            .problems
            .get(before..)
            .is_some_and(|ps| ps.iter().any(|p| p.fatal));
        match (effect, principal, action, resource, conditions) {
            (Some(effect), Some(principal), Some(action), Some(resource), Some(conditions))
                if !fatal_here =>
            {
                let key_actions = match &action {
                    ActionClause::Action(a) => self.key_actions(a),
                    ActionClause::NotAction(a) => self.key_actions(a).complement(),
                };
                Some(Statement {
                    index,
                    sid: r.sid,
                    effect,
                    principal,
                    action,
                    resource,
                    conditions,
                    key_actions,
                })
            }
            _ => None,
        }
    }

    /// Unknown elements and a `Sid` that is not a string, each named.
    fn check_elements(&mut self, r: &StatementRef, members: &[(String, Json)]) {
        const ELEMENTS: [&str; 9] = [
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ];
        for (name, value) in members {
            if !ELEMENTS.contains(&name.as_str()) {
                self.problem(Some(r), Some(name), unknown_element(name, &ELEMENTS), true);
            }
            if name == "Sid" && !matches!(value, Json::String(_)) {
                self.problem(
                    Some(r),
                    Some("Sid"),
                    format!("must be a string, not {}", value.type_name()),
                    true,
                );
            }
        }
    }

    /// `Effect`: `Allow` or `Deny`.
    fn effect(&mut self, r: &StatementRef, json: &Json) -> Option<Effect> {
        match json.get("Effect") {
            Some(Json::String(e)) if e == "Allow" => Some(Effect::Allow),
            Some(Json::String(e)) if e == "Deny" => Some(Effect::Deny),
            Some(other) => {
                self.problem(
                    Some(r),
                    Some("Effect"),
                    format!("must be \"Allow\" or \"Deny\", not {}", describe(other)),
                    true,
                );
                None
            }
            None => {
                self.problem(Some(r), Some("Effect"), "is missing".to_owned(), true);
                None
            }
        }
    }

    /// `Principal` or `NotPrincipal` (exactly one); `NotPrincipal` with `Allow` is reported.
    fn principal_clause(
        &mut self,
        r: &StatementRef,
        json: &Json,
        effect: Option<Effect>,
    ) -> Option<PrincipalClause> {
        let principal = match self.pair(
            r,
            json,
            "Principal",
            "NotPrincipal",
            "a key policy statement needs a Principal",
        ) {
            Some((negated, v)) => self
                .principal_set(r, if negated { "NotPrincipal" } else { "Principal" }, v)
                .map(|set| {
                    if negated {
                        PrincipalClause::NotPrincipal(set)
                    } else {
                        PrincipalClause::Principal(set)
                    }
                }),
            None => None,
        };
        if matches!(
            (&principal, effect),
            (Some(PrincipalClause::NotPrincipal(_)), Some(Effect::Allow))
        ) {
            self.problem(
                Some(r),
                Some("NotPrincipal"),
                "NotPrincipal with \"Effect\": \"Allow\" is not supported by IAM; it would grant to every principal not listed (evaluated that way here)".to_owned(),
                false,
            );
        }
        principal
    }

    /// `Action` or `NotAction` (exactly one).
    fn action_clause(&mut self, r: &StatementRef, json: &Json) -> Option<ActionClause> {
        match self.pair(
            r,
            json,
            "Action",
            "NotAction",
            "every statement needs an Action or NotAction",
        ) {
            Some((negated, v)) => {
                let element = if negated { "NotAction" } else { "Action" };
                self.actions(r, element, v).map(|a| {
                    if negated {
                        ActionClause::NotAction(a)
                    } else {
                        ActionClause::Action(a)
                    }
                })
            }
            None => None,
        }
    }

    /// `Resource` or `NotResource` (exactly one), with policy variables per `version`.
    fn resource_clause(
        &mut self,
        r: &StatementRef,
        json: &Json,
        version: Version,
    ) -> Option<ResourceClause> {
        match self.pair(
            r,
            json,
            "Resource",
            "NotResource",
            "every statement needs a Resource or NotResource",
        ) {
            Some((negated, v)) => {
                let element = if negated { "NotResource" } else { "Resource" };
                self.strings(r, element, v).map(|vals| {
                    let t = vals
                        .iter()
                        .map(|s| self.template(r, element, s, version))
                        .collect();
                    if negated {
                        ResourceClause::NotResource(t)
                    } else {
                        ResourceClause::Resource(t)
                    }
                })
            }
            None => None,
        }
    }

    /// Exactly one of `a` / `b`; returns whether it was `b` and its value.
    fn pair<'j>(
        &mut self,
        r: &StatementRef,
        json: &'j Json,
        a: &str,
        b: &str,
        missing: &str,
    ) -> Option<(bool, &'j Json)> {
        match (json.get(a), json.get(b)) {
            (Some(v), None) => Some((false, v)),
            (None, Some(v)) => Some((true, v)),
            (Some(_), Some(_)) => {
                self.problem(
                    Some(r),
                    Some(a),
                    format!("{a} and {b} cannot both be present"),
                    true,
                );
                None
            }
            (None, None) => {
                self.problem(Some(r), Some(a), format!("is missing: {missing}"), true);
                None
            }
        }
    }

    fn strings(&mut self, r: &StatementRef, element: &str, v: &Json) -> Option<Vec<String>> {
        match v {
            Json::String(s) => Some(vec![s.clone()]),
            Json::Array(items) if items.is_empty() => {
                self.problem(Some(r), Some(element), "is an empty array".to_owned(), true);
                None
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Json::String(s) => out.push(s.clone()),
                        other => {
                            self.problem(
                                Some(r),
                                Some(&format!("{element}[{i}]")),
                                format!("must be a string, not {}", other.type_name()),
                                true,
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.problem(
                    Some(r),
                    Some(element),
                    format!(
                        "must be a string or an array of strings, not {}",
                        other.type_name()
                    ),
                    true,
                );
                None
            }
        }
    }

    fn principal_set(&mut self, r: &StatementRef, element: &str, v: &Json) -> Option<PrincipalSet> {
        let mut set = PrincipalSet::default();
        match v {
            Json::String(s) if s == "*" => {
                set.any = true;
                return Some(set);
            }
            Json::Object(members) if !members.is_empty() => {
                let mut ok = true;
                for (kind, values) in members {
                    let place = format!("{element}.{kind}");
                    let Some(values) = self.strings(r, &place, values) else {
                        ok = false;
                        continue;
                    };
                    match kind.as_str() {
                        "AWS" => {
                            for value in values {
                                match parse_aws_principal(&value) {
                                    Ok(p) => set.aws.push(p),
                                    Err(e) => {
                                        self.problem(Some(r), Some(&place), e.to_string(), true);
                                        ok = false;
                                    }
                                }
                            }
                        }
                        "Service" => {
                            for value in values {
                                if value.is_empty() || value.contains(['*', '?', ' ']) {
                                    self.problem(
                                        Some(r),
                                        Some(&place),
                                        format!("\"{value}\" is not a service principal"),
                                        true,
                                    );
                                    ok = false;
                                } else {
                                    set.service.push(value);
                                }
                            }
                        }
                        "Federated" => set.federated.extend(values),
                        "CanonicalUser" => set.canonical.extend(values),
                        other => {
                            self.problem(
                                Some(r),
                                Some(&place),
                                format!("unknown principal type \"{other}\" (expected AWS, Service, Federated or CanonicalUser)"),
                                true,
                            );
                            ok = false;
                        }
                    }
                }
                if ok {
                    return Some(set);
                }
            }
            other => self.problem(
                Some(r),
                Some(element),
                format!(
                    "must be \"*\" or an object such as {{\"AWS\": ...}}, not {}",
                    describe(other)
                ),
                true,
            ),
        }
        None
    }

    fn actions(&mut self, r: &StatementRef, element: &str, v: &Json) -> Option<Vec<ActionPattern>> {
        let values = self.strings(r, element, v)?;
        let mut out = Vec::with_capacity(values.len());
        let mut ok = true;
        for value in values {
            let valid = value == "*"
                || value.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty()
                        && service
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
                });
            if valid {
                out.push(ActionPattern {
                    pattern: Pattern::compile(&value),
                    raw: value,
                });
            } else {
                self.problem(
                    Some(r),
                    Some(element),
                    format!(
                        "\"{value}\" is not an action (expected \"kms:Name\", wildcards allowed)"
                    ),
                    true,
                );
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn template(
        &mut self,
        r: &StatementRef,
        element: &str,
        value: &str,
        version: Version,
    ) -> Template {
        if !version.substitutes_variables() && Template::parse(value, true).has_variables() {
            let v = match version {
                Version::Absent => "no Version element".to_owned(),
                _ => "Version 2008-10-17".to_owned(),
            };
            self.problem(
                Some(r),
                Some(element),
                format!("\"{value}\" uses a policy variable, which is literal text under {v}; policy variables need \"Version\": \"2012-10-17\""),
                false,
            );
        }
        Template::parse(value, version.substitutes_variables())
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one check per level of a Condition block (operator, key, values), each naming its own place in the error"
    )]
    fn conditions(
        &mut self,
        r: &StatementRef,
        v: &Json,
        version: Version,
    ) -> Option<Vec<Condition>> {
        let Json::Object(operators) = v else {
            self.problem(
                Some(r),
                Some("Condition"),
                format!("must be an object, not {}", v.type_name()),
                true,
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (op_name, block) in operators {
            let place = format!("Condition.{op_name}");
            let Some(operator) = Operator::parse(op_name) else {
                self.problem(
                    Some(r),
                    Some(&place),
                    format!("unknown condition operator \"{op_name}\""),
                    true,
                );
                ok = false;
                continue;
            };
            let Json::Object(keys) = block else {
                self.problem(
                    Some(r),
                    Some(&place),
                    format!(
                        "must be an object of condition keys, not {}",
                        block.type_name()
                    ),
                    true,
                );
                ok = false;
                continue;
            };
            if keys.is_empty() {
                self.problem(
                    Some(r),
                    Some(&place),
                    "has no condition keys".to_owned(),
                    true,
                );
                ok = false;
            }
            for (key, values) in keys {
                let key_place = format!("{place}.{key}");
                let Some(values) = self.condition_values(r, &key_place, values) else {
                    ok = false;
                    continue;
                };
                let substitutes = version.substitutes_variables() && operator.takes_variables();
                let values = values
                    .iter()
                    .map(|s| {
                        if operator.takes_variables() {
                            self.template(r, &key_place, s, version)
                        } else {
                            Template::parse(s, substitutes)
                        }
                    })
                    .collect();
                let condition = Condition::new(operator.clone(), key, values);
                for bad in condition.malformed_values() {
                    let note = if bad.contains("${") && !operator.takes_variables() {
                        " (policy variables are not substituted in this operator's values)"
                    } else {
                        ""
                    };
                    self.problem(
                        Some(r),
                        Some(&key_place),
                        format!(
                            "\"{bad}\" is not {}{note}; AWS does not document how {op_name} compares with it, so idc-guard leaves that comparison undecided",
                            condition::expected_value(operator.family)
                        ),
                        false,
                    );
                }
                out.push(condition);
            }
        }
        ok.then_some(out)
    }

    fn condition_values(&mut self, r: &StatementRef, place: &str, v: &Json) -> Option<Vec<String>> {
        let scalar = |j: &Json| match j {
            Json::String(s) => Some(s.clone()),
            Json::Bool(b) => Some(b.to_string()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let values: Option<Vec<String>> = match v {
            Json::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
            Json::Array(_) => None,
            other => scalar(other).map(|s| vec![s]),
        };
        if values.is_none() {
            self.problem(
                Some(r),
                Some(place),
                format!(
                    "must be a string, number, boolean or a non-empty array of them, not {}",
                    v.type_name()
                ),
                true,
            );
        }
        values
    }
}

fn describe(j: &Json) -> String {
    match j {
        Json::String(s) => format!("\"{s}\""),
        other => other.type_name().to_owned(),
    }
}

fn unknown_element(name: &str, known: &[&str]) -> String {
    let hint = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name) || edit_distance(k, name) <= 2)
        .map(|k| format!("; did you mean \"{k}\"?"))
        .unwrap_or_default();
    format!("unknown element \"{name}\"{hint}")
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cur = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let best = (prev + usize::from(ca != *cb)).min(cur + 1).min(left + 1);
            if let Some(slot) = row.get_mut(j + 1) {
                *slot = best;
            }
            prev = cur;
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse_key_policy(text)
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn accepts_every_shape() {
        let text = r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "111122223333", "Service": ["sso.amazonaws.com"]},
            "NotAction": "kms:Put*", "NotResource": ["arn:aws:kms:*:*:key/other"],
            "Condition": {"Bool": {"aws:SecureTransport": true}, "NumericLessThan": {"x": [1, 2.5]}}}}"#;
        let parsed = parse_key_policy(text);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let p = parsed.policy.unwrap();
        assert_eq!(p.version, Version::Absent);
        assert_eq!(p.statements.len(), 1);
        assert!(!p.statements[0].key_actions.contains("kms:PutKeyPolicy"));
        assert!(p.statements[0].key_actions.contains("kms:Decrypt"));
    }

    #[test]
    fn names_statement_sid_and_element() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Ok","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
            {"Sid":"Typo","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Conditon":{}},
            {"Effect":"allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"Decrypt","Resource":"*",
             "Condition":{"StringEqual":{"k":"v"}}}]}"#;
        let ps = problems(text);
        assert!(ps.iter().any(|p| p == "statement 1 (Sid \"Typo\"), Conditon: unknown element \"Conditon\"; did you mean \"Condition\"?"), "{ps:#?}");
        assert!(
            ps.iter()
                .any(|p| p.starts_with("statement 2, Effect: must be \"Allow\" or \"Deny\"")),
            "{ps:#?}"
        );
        assert!(
            ps.iter()
                .any(|p| p.starts_with("statement 2, Principal.AWS: \"arn:aws:iam::1:root\"")),
            "{ps:#?}"
        );
        assert!(
            ps.iter()
                .any(|p| p.starts_with("statement 2, Action: \"Decrypt\" is not an action")),
            "{ps:#?}"
        );
        assert!(ps.iter().any(|p| p == "statement 2, Condition.StringEqual: unknown condition operator \"StringEqual\""), "{ps:#?}");
        assert!(parse_key_policy(text).policy.is_none());
    }

    #[test]
    fn variables_under_old_version_are_literal_and_reported() {
        let text = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sso.amazonaws.com"},
            "Action":"kms:DescribeKey","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"${aws:ResourceAccount}"}}}]}"#;
        let parsed = parse_key_policy(text);
        assert!(parsed.policy.is_some());
        assert_eq!(parsed.problems.len(), 1);
        assert!(!parsed.problems[0].fatal);
        assert!(
            parsed.problems[0]
                .message
                .contains("literal text under Version 2008-10-17")
        );
    }

    #[test]
    fn structural_errors() {
        assert!(problems("[]")[0].contains("is an array, not a JSON object"));
        assert!(problems("{\"Statement\": []}")[0].contains("empty array"));
        assert!(problems("{\"Version\":\"2012-10-17\"}")[0].contains("Statement: is missing"));
        assert!(problems("not json")[0].contains("is not valid JSON"));
        assert!(
            problems(r#"{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}"#)[0]
                .contains("duplicate member name")
        );
        let both = r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}]}"#;
        assert!(problems(both)[0].contains("cannot both be present"));
        let no_principal = r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
        assert!(problems(no_principal)[0].contains("needs a Principal"));
    }

    #[test]
    fn oversize_is_reported_but_still_read() {
        let pad = "x".repeat(MAX_POLICY_BYTES);
        let text = format!(
            r#"{{"Id":"{pad}","Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}}}"#
        );
        let parsed = parse_key_policy(&text);
        assert!(parsed.policy.is_some());
        assert!(
            parsed.problems[0]
                .message
                .contains("KMS accepts at most 32768 bytes")
        );
    }

    #[test]
    fn json_string_input_is_unwrapped() {
        let inner = r#"{"Statement":[]}"#;
        let wrapped = serde_json::to_string(inner).unwrap();
        assert_eq!(unwrap_policy_text(&wrapped).unwrap(), inner);
        assert_eq!(unwrap_policy_text(inner).unwrap(), inner);
        assert!(unwrap_policy_text("{").is_err());
    }
}
