//! Condition operators and their evaluation, after the IAM user guide's "Condition operators"
//! and "Single-valued vs. multivalued context keys" pages.

use std::net::IpAddr;

use crate::logic::Truth;
use crate::pattern::arn_like;
use crate::request::Context;

use super::template::Template;

/// The operator families IAM documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// No qualifier: a single-valued comparison.
    Single,
    /// `ForAnyValue:`
    ForAnyValue,
    /// `ForAllValues:`
    ForAllValues,
}

/// A parsed condition operator such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The operator as written.
    pub name: String,
    /// Its family.
    pub family: Family,
    /// `...Not...`: true when no policy value matches.
    pub negated: bool,
    /// `...IfExists`: a missing key makes the condition true.
    pub if_exists: bool,
    /// The set qualifier.
    pub set: SetQualifier,
}

impl Operator {
    /// Parses an operator name; `None` for an operator IAM does not know. Operator names are
    /// case-sensitive in IAM.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::Single, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        use Family::*;
        let (family, negated) = match base {
            "StringEquals" => (StringEquals, false),
            "StringNotEquals" => (StringEquals, true),
            "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
            "StringLike" => (StringLike, false),
            "StringNotLike" => (StringLike, true),
            "NumericEquals" => (NumericEquals, false),
            "NumericNotEquals" => (NumericEquals, true),
            "NumericLessThan" => (NumericLessThan, false),
            "NumericLessThanEquals" => (NumericLessThanEquals, false),
            "NumericGreaterThan" => (NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
            "DateEquals" => (DateEquals, false),
            "DateNotEquals" => (DateEquals, true),
            "DateLessThan" => (DateLessThan, false),
            "DateLessThanEquals" => (DateLessThanEquals, false),
            "DateGreaterThan" => (DateGreaterThan, false),
            "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
            "Bool" => (Bool, false),
            "BinaryEquals" => (BinaryEquals, false),
            "IpAddress" => (IpAddress, false),
            "NotIpAddress" => (IpAddress, true),
            "ArnEquals" => (ArnEquals, false),
            "ArnNotEquals" => (ArnEquals, true),
            "ArnLike" => (ArnLike, false),
            "ArnNotLike" => (ArnLike, true),
            "Null" if !if_exists => (Null, false),
            _ => return None,
        };
        Some(Operator {
            name: name.to_owned(),
            family,
            negated,
            if_exists,
            set,
        })
    }

    /// Whether policy variables are substituted in this operator's values: only for the String
    /// and Arn operators. The policy variables page: "You can't use a policy variable with ...
    /// Numeric, Date, Boolean, Binary, IP Address, or Null" operators; there `${...}` is text.
    pub fn takes_variables(&self) -> bool {
        use Family::*;
        matches!(
            self.family,
            StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike
        )
    }
}

/// One `"Operator": {"key": values}` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// The condition key as written.
    pub key: String,
    /// The key in lower case (keys are case-insensitive).
    pub key_lc: String,
    /// The values, OR-ed.
    pub values: Vec<Template>,
    /// The values read for the operator's family (numbers, dates, CIDR blocks, booleans).
    pub typed: Vec<Typed>,
    /// What AWS documents about the key ([`crate::keys::info`]).
    pub info: crate::keys::KeyInfo,
    /// The key actions whose requests carry the key ([`crate::keys::applies_to`]).
    pub scope: crate::actions::ActionSet,
}

/// A policy value read for its operator's family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Typed {
    /// Compared as text (String, Arn and Binary operators).
    Text,
    /// A number (Numeric operators).
    Number(f64),
    /// Seconds since the epoch (Date operators).
    Date(f64),
    /// A CIDR block (IpAddress operators).
    Ip(IpNet),
    /// `true` / `false` (Bool, and Null's "absent?").
    Bool(bool),
    /// A value the family cannot read: AWS does not say how it compares, so it is undecided.
    Malformed,
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The address as written (host bits may be set).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// Reads `203.0.113.0/24`, `2001:db8::/32`, or a bare address (a /32 or /128).
    pub fn parse(text: &str) -> Option<IpNet> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => {
                let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
                if !digits {
                    return None;
                }
                (a, Some(p.parse::<u8>().ok()?))
            }
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in the network (IPv4 never matches IPv6).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (lo, hi) = self.range();
        match (ip, self.addr) {
            (IpAddr::V4(i), IpAddr::V4(_)) => (lo..=hi).contains(&u128::from(u32::from(i))),
            (IpAddr::V6(i), IpAddr::V6(_)) => (lo..=hi).contains(&u128::from(i)),
            _ => false,
        }
    }

    /// The first and last address of the network, as integers of its family's width.
    pub fn range(&self) -> (u128, u128) {
        let (value, width) = match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
            IpAddr::V6(a) => (u128::from(a), 128u32),
        };
        let host_bits = width.saturating_sub(u32::from(self.prefix));
        let mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        (value & !mask, value | mask)
    }
}

/// Reads a policy value for an operator family; `None` when the family cannot read it.
pub fn read_value(family: Family, text: &str) -> Option<Typed> {
    use Family::*;
    Some(match family {
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => Typed::Number(parse_number(text)?),
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => Typed::Date(parse_date(text)?),
        IpAddress => Typed::Ip(IpNet::parse(text)?),
        Bool | Null => Typed::Bool(parse_bool(text)?),
        ArnEquals | ArnLike => {
            if text != "*" && text.split(':').count() < 6 {
                return None;
            }
            Typed::Text
        }
        StringEquals | StringEqualsIgnoreCase | StringLike | BinaryEquals => Typed::Text,
    })
}

/// `true` / `false`, ignoring case.
pub fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// What a family expects, for messages about values it cannot read.
pub fn expected_value(family: Family) -> &'static str {
    use Family::*;
    match family {
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => "a number",
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => "an ISO 8601 date or epoch seconds",
        IpAddress => "an IP address or CIDR block",
        Bool | Null => "true or false",
        ArnEquals | ArnLike => "\"*\" or an ARN of six colon-separated parts",
        StringEquals | StringEqualsIgnoreCase | StringLike | BinaryEquals => "text",
    }
}

impl Condition {
    /// Builds a condition, reading each value for the operator's family. A value the family
    /// cannot read is kept as [`Typed::Malformed`]; a value with a policy variable (String and
    /// Arn operators only) is read when it is resolved.
    pub fn new(operator: Operator, key: &str, values: Vec<Template>) -> Condition {
        let typed = values
            .iter()
            .map(|v| {
                if v.has_variables() {
                    Typed::Text
                } else {
                    read_value(operator.family, &v.raw).unwrap_or(Typed::Malformed)
                }
            })
            .collect();
        let key_lc = key.to_ascii_lowercase();
        let (info, scope) = crate::keys::lookup(&key_lc);
        Condition {
            operator,
            key: key.to_owned(),
            key_lc,
            values,
            typed,
            info,
            scope,
        }
    }

    /// The values the operator's family cannot read, as written.
    pub fn malformed_values(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .zip(&self.typed)
            .filter(|(_, t)| **t == Typed::Malformed)
            .map(|(v, _)| v.raw.as_str())
    }

    /// Evaluates the condition against a request context.
    pub fn evaluate(&self, ctx: &Context) -> Truth {
        if ctx.is_undecided_from(&self.key_lc, self.info.source) {
            return Truth::Unknown;
        }
        match ctx.get(&self.key_lc).filter(|v| !v.is_empty()) {
            None => self.when_absent(),
            Some(values) => self.when_present(values, ctx),
        }
    }

    /// The condition's value when the key is absent (or an empty list): IfExists and
    /// ForAllValues hold, negated operators hold, the rest fail; `Null` holds for `true`.
    /// `ForAnyValue:...IfExists` on an absent key is not documented (the set operator says false,
    /// IfExists says true): unknown.
    pub fn when_absent(&self) -> Truth {
        let op = &self.operator;
        match (op.family, op.set) {
            (Family::Null, _) => self.null_holds(true),
            (_, SetQualifier::ForAllValues) => Truth::True,
            (_, SetQualifier::ForAnyValue) if op.if_exists => Truth::Unknown,
            (_, SetQualifier::ForAnyValue) => Truth::False,
            (_, SetQualifier::Single) => Truth::from(op.if_exists || op.negated),
        }
    }

    /// `Null`: several values are OR-ed; a value other than true/false is unknown.
    fn null_holds(&self, absent: bool) -> Truth {
        self.typed.iter().fold(Truth::False, |acc, t| {
            acc.or(match t {
                Typed::Bool(want_absent) => Truth::from(*want_absent == absent),
                _ => Truth::Unknown,
            })
        })
    }

    /// The condition's value when the key holds `request_values` (at least one).
    pub fn when_present(&self, request_values: &[String], ctx: &Context) -> Truth {
        let op = &self.operator;
        if op.family == Family::Null {
            return self.null_holds(false);
        }
        let one = |rv: &str| self.holds_for_value(rv, ctx);
        let any_value = || {
            request_values
                .iter()
                .fold(Truth::False, |acc, rv| acc.or(one(rv)))
        };
        let all_values = || {
            request_values
                .iter()
                .fold(Truth::True, |acc, rv| acc.and(one(rv)))
        };
        match op.set {
            SetQualifier::ForAnyValue => any_value(),
            SetQualifier::ForAllValues => all_values(),
            SetQualifier::Single => match request_values {
                [single] if !self.info.multivalued => one(single),
                // A single-valued operator on a multivalued key: AWS says a set operator is
                // required and does not document the result. Where "any" and "all" agree the
                // answer is clear; otherwise it is unknown and the caller's safe reading decides.
                _ => {
                    let (any, all) = (any_value(), all_values());
                    if any == all { any } else { Truth::Unknown }
                }
            },
        }
    }

    /// Whether one request value satisfies the operator: matches some policy value, or for a
    /// negated operator matches none.
    pub fn holds_for_value(&self, rv: &str, ctx: &Context) -> Truth {
        let any = self
            .values
            .iter()
            .zip(&self.typed)
            .fold(Truth::False, |acc, (pv, t)| {
                acc.or(self.matches(pv, *t, rv, ctx))
            });
        if self.operator.negated {
            any.negate()
        } else {
            any
        }
    }

    /// Whether request value `rv` matches policy value `pv` (before negation). A policy value
    /// the family cannot read, or one whose variable has no value in the request, is unknown.
    pub fn matches(&self, pv: &Template, typed: Typed, rv: &str, ctx: &Context) -> Truth {
        use Family::*;
        let family = self.operator.family;
        match (family, typed) {
            (_, Typed::Malformed) => Truth::Unknown,
            (StringLike | ArnEquals | ArnLike, _) => match pv.resolve_pattern(ctx) {
                // AWS documents ArnEquals and ArnLike as behaving identically.
                Some(p) if family != StringLike => arn_like(&p, rv),
                Some(p) => Truth::from(p.matches(rv)),
                None => Truth::Unknown,
            },
            (StringEquals | StringEqualsIgnoreCase, _) => match pv.resolve(ctx) {
                Some(t) if family == StringEquals => Truth::from(t == rv),
                Some(t) => Truth::from(
                    t.chars()
                        .flat_map(char::to_lowercase)
                        .eq(rv.chars().flat_map(char::to_lowercase)),
                ),
                None => Truth::Unknown,
            },
            (BinaryEquals, _) => Truth::from(pv.raw == rv),
            (_, Typed::Number(p)) => {
                Truth::from(parse_number(rv).is_some_and(|r| compare(family, r, p)))
            }
            (_, Typed::Date(p)) => {
                Truth::from(parse_date(rv).is_some_and(|r| compare(family, r, p)))
            }
            (_, Typed::Ip(net)) => {
                Truth::from(rv.trim().parse::<IpAddr>().is_ok_and(|ip| net.contains(ip)))
            }
            (_, Typed::Bool(p)) => Truth::from(parse_bool(rv) == Some(p)),
            (_, Typed::Text) => Truth::False,
        }
    }
}

/// Compares request value `r` with policy value `p` by a Numeric or Date family.
pub fn compare(family: Family, r: f64, p: f64) -> bool {
    use Family::*;
    match family {
        NumericEquals | DateEquals => r == p,
        NumericLessThan | DateLessThan => r < p,
        NumericLessThanEquals | DateLessThanEquals => r <= p,
        NumericGreaterThan | DateGreaterThan => r > p,
        NumericGreaterThanEquals | DateGreaterThanEquals => r >= p,
        _ => false,
    }
}

/// Reads a decimal number (sign, digits, point, exponent); `None` for anything else.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    ok.then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

/// Parses an ISO 8601 date / date-time (W3C profile) or epoch seconds into epoch seconds.
/// Calendar dates that do not exist (`2026-02-31`) are refused.
pub fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<f64>().ok();
    }
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let year = num(d.next()?)?;
    let month = d.next().map_or(Some(1), num)?;
    let day = d.next().map_or(Some(1), num)?;
    if d.next().is_some() {
        return None;
    }
    let mut seconds = days_since_epoch(year, month, day)? as f64 * 86_400.0;
    if let Some(t) = time {
        let (clock, offset) = split_offset(t)?;
        let mut c = clock.split(':');
        let h = num(c.next()?)?;
        let m = c.next().map_or(Some(0), num)?;
        let sec: f64 = match c.next() {
            Some(x) => {
                let ok = !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                if !ok {
                    return None;
                }
                x.parse().ok()?
            }
            None => 0.0,
        };
        if c.next().is_some() || h > 24 || m > 59 || sec >= 61.0 {
            return None;
        }
        seconds += (h * 3600 + m * 60) as f64 + sec - offset as f64;
    }
    Some(seconds)
}

fn split_offset(t: &str) -> Option<(&str, i64)> {
    if let Some(c) = t.strip_suffix(['Z', 'z']) {
        return Some((c, 0));
    }
    match t.rfind(['+', '-']) {
        Some(pos) => {
            let (clock, off) = t.split_at(pos);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let digits: String = off.chars().skip(1).filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hh: i64 = digits.get(..2)?.parse().ok()?;
            let mm: i64 = digits.get(2..)?.parse().ok()?;
            Some((clock, sign * (hh * 3600 + mm * 60)))
        }
        // No zone: read as UTC.
        None => Some((t, 0)),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` for a date that does not
/// exist (`2026-02-31`) or is outside years -9999 to 9999.
pub fn days_since_epoch(year: i64, month: i64, day: i64) -> Option<i64> {
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    Some(i64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY))
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let operator = Operator::parse(op).unwrap();
        let variables = operator.takes_variables();
        let values = values
            .iter()
            .map(|v| Template::parse(v, variables))
            .collect();
        Condition::new(operator, key, values)
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::default();
        for (k, vs) in pairs {
            c.set_values(k, vs.iter().map(|s| (*s).to_owned()).collect());
        }
        c
    }

    use Truth::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAnyValue:StringNotLikeIfExists").unwrap();
        assert_eq!(
            (op.family, op.negated, op.if_exists, op.set),
            (Family::StringLike, true, true, SetQualifier::ForAnyValue)
        );
        assert!(Operator::parse("StringEqual").is_none());
        assert!(Operator::parse("stringequals").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("ForSomeValues:StringEquals").is_none());
    }

    #[test]
    fn missing_keys() {
        let empty = Context::default();
        assert_eq!(cond("StringEquals", "k", &["v"]).evaluate(&empty), False);
        assert_eq!(cond("StringNotEquals", "k", &["v"]).evaluate(&empty), True);
        assert_eq!(
            cond("StringEqualsIfExists", "k", &["v"]).evaluate(&empty),
            True
        );
        assert_eq!(
            cond("ForAnyValue:StringEquals", "k", &["v"]).evaluate(&empty),
            False
        );
        assert_eq!(
            cond("ForAllValues:StringEquals", "k", &["v"]).evaluate(&empty),
            True
        );
        assert_eq!(cond("Null", "k", &["true"]).evaluate(&empty), True);
        assert_eq!(cond("Null", "k", &["false"]).evaluate(&empty), False);
        assert_eq!(cond("Bool", "k", &["false"]).evaluate(&empty), False);
    }

    #[test]
    fn values_are_ored_and_negation_means_none() {
        let c = ctx(&[("aws:SourceAccount", &["2"])]);
        assert_eq!(
            cond("StringEquals", "AWS:sourceaccount", &["1", "2"]).evaluate(&c),
            True
        );
        assert_eq!(
            cond("StringNotEquals", "aws:SourceAccount", &["1", "2"]).evaluate(&c),
            False
        );
        assert_eq!(
            cond("StringNotEquals", "aws:SourceAccount", &["1", "3"]).evaluate(&c),
            True
        );
    }

    #[test]
    fn string_families_and_case() {
        let c = ctx(&[("kms:ViaService", &["sso.us-west-2.amazonaws.com"])]);
        assert_eq!(
            cond("StringLike", "kms:ViaService", &["sso.*.amazonaws.com"]).evaluate(&c),
            True
        );
        assert_eq!(
            cond("StringLike", "kms:ViaService", &["SSO.*.amazonaws.com"]).evaluate(&c),
            False
        );
        assert_eq!(
            cond(
                "StringEqualsIgnoreCase",
                "kms:ViaService",
                &["SSO.US-WEST-2.amazonaws.com"]
            )
            .evaluate(&c),
            True
        );
        assert_eq!(
            cond("StringNotLike", "kms:ViaService", &["s3.*"]).evaluate(&c),
            True
        );
    }

    #[test]
    fn set_qualifiers() {
        let c = ctx(&[(
            "kms:EncryptionContextKeys",
            &["aws:sso:instance-arn", "other"],
        )]);
        let keys = [
            "aws:sso:instance-arn",
            "aws:identitystore:identitystore-arn",
        ];
        assert_eq!(
            cond(
                "ForAnyValue:StringEquals",
                "kms:EncryptionContextKeys",
                &keys
            )
            .evaluate(&c),
            True
        );
        assert_eq!(
            cond(
                "ForAllValues:StringEquals",
                "kms:EncryptionContextKeys",
                &keys
            )
            .evaluate(&c),
            False
        );
        assert_eq!(
            cond(
                "ForAnyValue:StringNotEquals",
                "kms:EncryptionContextKeys",
                &keys
            )
            .evaluate(&c),
            True
        );
        assert_eq!(
            cond(
                "ForAllValues:StringNotEquals",
                "kms:EncryptionContextKeys",
                &keys
            )
            .evaluate(&c),
            False
        );
        // Undocumented: a single-valued operator on a multivalued key with several values.
        assert_eq!(
            cond("StringEquals", "kms:EncryptionContextKeys", &keys).evaluate(&c),
            Unknown
        );
        let one = ctx(&[("kms:EncryptionContextKeys", &["aws:sso:instance-arn"])]);
        assert_eq!(
            cond("StringEquals", "kms:EncryptionContextKeys", &keys).evaluate(&one),
            True
        );
    }

    #[test]
    fn variables_in_values() {
        let c = ctx(&[
            ("aws:SourceAccount", &["111122223333"]),
            ("aws:ResourceAccount", &["111122223333"]),
        ]);
        assert_eq!(
            cond(
                "StringEquals",
                "aws:SourceAccount",
                &["${aws:ResourceAccount}"]
            )
            .evaluate(&c),
            True
        );
        // No value for the variable: undecided either way (the safe reading decides), unless
        // another value settles it.
        assert_eq!(
            cond(
                "StringEquals",
                "aws:SourceAccount",
                &["${aws:ResourceOrgID}"]
            )
            .evaluate(&c),
            Unknown
        );
        assert_eq!(
            cond(
                "StringNotEquals",
                "aws:SourceAccount",
                &["${aws:ResourceOrgID}"]
            )
            .evaluate(&c),
            Unknown
        );
        assert_eq!(
            cond(
                "StringEquals",
                "aws:SourceAccount",
                &["${aws:ResourceOrgID}", "111122223333"]
            )
            .evaluate(&c),
            True
        );
        // Variables are text in Numeric, Bool, IP and Binary values.
        let n = ctx(&[("n", &["5"]), ("v", &["5"])]);
        let c = cond("NumericEquals", "n", &["${v}"]);
        assert_eq!(c.malformed_values().collect::<Vec<_>>(), vec!["${v}"]);
        assert_eq!(c.evaluate(&n), Unknown);
    }

    #[test]
    fn numeric_date_bool_ip_binary_arn() {
        let c = ctx(&[
            ("n", &["10"]),
            ("d", &["2026-11-27T12:00:00Z"]),
            ("b", &["true"]),
            ("ip", &["203.0.113.7"]),
            ("ip6", &["2001:db8::1"]),
            ("bin", &["QmluYXJ5"]),
            (
                "arn",
                &[
                    "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1",
                ],
            ),
        ]);
        assert_eq!(cond("NumericLessThan", "n", &["11"]).evaluate(&c), True);
        assert_eq!(
            cond("NumericGreaterThanEquals", "n", &["10.0"]).evaluate(&c),
            True
        );
        assert_eq!(cond("NumericNotEquals", "n", &["10"]).evaluate(&c), False);
        // A policy value the family cannot read is undecided, negated or not.
        assert_eq!(cond("NumericEquals", "n", &["ten"]).evaluate(&c), Unknown);
        assert_eq!(
            cond("NumericNotEquals", "n", &["ten"]).evaluate(&c),
            Unknown
        );
        assert_eq!(
            cond("NotIpAddress", "ip", &["10.0.0.0/33"]).evaluate(&c),
            Unknown
        );
        assert_eq!(
            cond("IpAddress", "ip", &["203.0.113.7/abc"]).evaluate(&c),
            Unknown
        );
        assert_eq!(cond("Bool", "b", &["yes"]).evaluate(&c), Unknown);
        // A request value the family cannot read never matches.
        assert_eq!(cond("NumericEquals", "d", &["10"]).evaluate(&c), False);
        assert_eq!(
            cond("DateGreaterThan", "d", &["2026-11-27T11:59:59Z"]).evaluate(&c),
            True
        );
        assert_eq!(
            cond("DateLessThan", "d", &["2026-11-27T13:00:00+01:00"]).evaluate(&c),
            False
        );
        assert_eq!(cond("DateEquals", "d", &["1795780800"]).evaluate(&c), True);
        assert_eq!(cond("Bool", "b", &["TRUE"]).evaluate(&c), True);
        assert_eq!(cond("BoolIfExists", "b", &["false"]).evaluate(&c), False);
        assert_eq!(
            cond("IpAddress", "ip", &["203.0.113.0/24"]).evaluate(&c),
            True
        );
        assert_eq!(
            cond("NotIpAddress", "ip", &["203.0.113.0/24"]).evaluate(&c),
            False
        );
        assert_eq!(
            cond("IpAddress", "ip6", &["2001:db8::/32"]).evaluate(&c),
            True
        );
        assert_eq!(
            cond("IpAddress", "ip6", &["203.0.113.0/24"]).evaluate(&c),
            False
        );
        assert_eq!(
            cond("BinaryEquals", "bin", &["QmluYXJ5"]).evaluate(&c),
            True
        );
        assert_eq!(
            cond(
                "ArnLike",
                "arn",
                &["arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*"]
            )
            .evaluate(&c),
            True
        );
        assert_eq!(
            cond(
                "ArnEquals",
                "arn",
                &["arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*"]
            )
            .evaluate(&c),
            True
        );
        assert_eq!(
            cond("ArnNotLike", "arn", &["arn:aws:iam::111122223333:*"]).evaluate(&c),
            False
        );
        assert_eq!(
            cond("ArnLike", "arn", &["arn:aws:iam::1111*"]).evaluate(&c),
            Unknown
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("2026-02-31"), None);
        assert_eq!(parse_date("2023-02-29"), None);
        assert!(parse_date("2024-02-29").is_some());
    }
}
