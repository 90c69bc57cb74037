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

    /// Whether policy variables are substituted in this operator's values. IAM does not
    /// substitute them for the Date and Null operators.
    pub fn takes_variables(&self) -> bool {
        !matches!(
            self.family,
            Family::DateEquals
                | Family::DateLessThan
                | Family::DateLessThanEquals
                | Family::DateGreaterThan
                | Family::DateGreaterThanEquals
                | Family::Null
        )
    }
}

/// One `"Operator": {"key": values}` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// The condition key as written.
    pub key: String,
    /// The key in lower case (keys are case-insensitive).
    pub key_lc: String,
    /// The values, OR-ed.
    pub values: Vec<Template>,
}

/// Context keys that are multivalued by definition, even when a request carries one value.
fn is_multivalued_key(key_lc: &str) -> bool {
    matches!(
        key_lc,
        "kms:encryptioncontextkeys"
            | "aws:tagkeys"
            | "aws:principalorgpaths"
            | "aws:sourceorgpaths"
            | "aws:resourceorgpaths"
            | "aws:calledvia"
            | "kms:grantoperations"
    ) || key_lc.starts_with("aws:principalservicenameslist")
}

impl Condition {
    /// Evaluates the condition against a request context.
    pub fn evaluate(&self, ctx: &Context) -> Truth {
        let op = &self.operator;
        if ctx.is_undecided(&self.key_lc) {
            return Truth::Unknown;
        }
        let request_values = ctx.get(&self.key_lc).filter(|v| !v.is_empty());
        if op.family == Family::Null {
            // `Null: true` holds when the key is absent; several values are OR-ed.
            let absent = request_values.is_none();
            return self.values.iter().fold(Truth::False, |acc, v| {
                let want = match v.raw.to_ascii_lowercase().as_str() {
                    "true" => Truth::from(absent),
                    "false" => Truth::from(!absent),
                    _ => Truth::False,
                };
                acc.or(want)
            });
        }
        let Some(request_values) = request_values else {
            // A missing key: IfExists and ForAllValues hold, negated operators hold, the rest fail.
            return Truth::from(match op.set {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => op.if_exists,
                SetQualifier::Single => op.if_exists || op.negated,
            });
        };
        // Whether one request value satisfies the operator (for negated operators: matches no
        // policy value).
        let one = |rv: &str| {
            let any = self
                .values
                .iter()
                .fold(Truth::False, |acc, pv| acc.or(self.matches(pv, rv, ctx)));
            if op.negated { any.negate() } else { any }
        };
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
                [single] if !is_multivalued_key(&self.key_lc) => one(single),
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

    /// Whether request value `rv` matches policy value `pv` (before negation).
    fn matches(&self, pv: &Template, rv: &str, ctx: &Context) -> Truth {
        use Family::*;
        let family = self.operator.family;
        if matches!(family, StringLike) {
            return match pv.resolve_pattern(ctx) {
                Some(p) => Truth::from(p.matches(rv)),
                None => Truth::False,
            };
        }
        let resolved;
        let pv_text: &str = if self.operator.takes_variables() {
            match pv.resolve(ctx) {
                Some(t) => {
                    resolved = t;
                    &resolved
                }
                // A variable without a value "matches nothing" (IAM user guide, policy variables).
                None => return Truth::False,
            }
        } else {
            &pv.raw
        };
        Truth::from(match family {
            StringEquals => pv_text == rv,
            StringEqualsIgnoreCase => pv_text.to_lowercase() == rv.to_lowercase(),
            NumericEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => match (parse_number(rv), parse_number(pv_text)) {
                (Some(r), Some(p)) => compare(family, r, p),
                _ => false,
            },
            DateEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => match (parse_date(rv), parse_date(pv_text)) {
                (Some(r), Some(p)) => compare(family, r, p),
                _ => false,
            },
            Bool => {
                let norm = |s: &str| s.to_ascii_lowercase();
                let (r, p) = (norm(rv), norm(pv_text));
                (r == "true" || r == "false") && r == p
            }
            BinaryEquals => pv_text == rv,
            IpAddress => ip_in_cidr(rv, pv_text),
            // AWS documents ArnEquals and ArnLike as behaving identically.
            ArnEquals | ArnLike => return arn_like(pv_text, rv),
            StringLike | Null => false,
        })
    }
}

fn compare(family: Family, r: f64, p: f64) -> bool {
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

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    ok.then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

/// Parses an ISO 8601 date / date-time (W3C profile) or epoch seconds into epoch seconds.
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
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) as f64 * 86_400.0;
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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether `ip` lies in `cidr` (`203.0.113.0/24`, `2001:db8::/32`, or a bare address).
fn ip_in_cidr(ip: &str, cidr: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, len) = match cidr.trim().split_once('/') {
        Some((n, l)) => (n, l.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(i), IpAddr::V4(n)) => {
            let len = len.unwrap_or(32);
            len <= 32 && prefix_eq(u128::from(u32::from(i)), u128::from(u32::from(n)), len, 32)
        }
        (IpAddr::V6(i), IpAddr::V6(n)) => {
            let len = len.unwrap_or(128);
            len <= 128 && prefix_eq(u128::from(i), u128::from(n), len, 128)
        }
        _ => false,
    }
}

fn prefix_eq(a: u128, b: u128, len: u32, width: u32) -> bool {
    if len == 0 {
        return true;
    }
    let shift = width - len;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(op).unwrap(),
            key: key.to_owned(),
            key_lc: key.to_ascii_lowercase(),
            values: values.iter().map(|v| Template::parse(v, true)).collect(),
        }
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
        // No value for the variable: equal-style operators fail, negated ones hold.
        assert_eq!(
            cond(
                "StringEquals",
                "aws:SourceAccount",
                &["${aws:ResourceOrgID}"]
            )
            .evaluate(&c),
            False
        );
        assert_eq!(
            cond(
                "StringNotEquals",
                "aws:SourceAccount",
                &["${aws:ResourceOrgID}"]
            )
            .evaluate(&c),
            True
        );
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
        assert_eq!(cond("NumericEquals", "n", &["ten"]).evaluate(&c), False);
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
    }
}
