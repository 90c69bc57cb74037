//! The values a condition key can take, split into classes no condition tells apart.
//!
//! Text keys are split by the regular-language search in [`super::lang`]. Numbers, dates and IP
//! addresses are split at the policy's own constants: every comparison IAM offers on them
//! (`<`, `<=`, `=`, `>=`, `>`, "in this CIDR block") is constant between consecutive constants,
//! so one value per interval, plus each constant itself, realises every combination. Booleans
//! have two values. A key compared both as text and as a number (or date, or address) gets the
//! union of both kinds of candidates; such a split is not proven complete and is marked so.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::document::condition::{Condition, Family, Typed};
use crate::keys::Shape;
use crate::request::Context;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::lang::{self, ByAddress, CharSet, FxBuild, Nfa, NfaCache, Probe, Re, TextReading};

/// The classes of one variable's values: one witness each.
#[derive(Debug, Clone)]
pub struct Split {
    /// One value per class.
    pub witnesses: Vec<String>,
    /// For string splits, each class's probe results (for tracking probes).
    pub results: Vec<Vec<lang::ProbeResult>>,
    /// Whether every class is known to be found.
    pub complete: bool,
}

/// What the conditions on a variable compare it with.
#[derive(Debug, Default, Clone)]
pub struct Probes {
    /// String comparisons, as regular languages.
    pub strings: Vec<Probe>,
    /// Numeric constants.
    pub numbers: Vec<f64>,
    /// Date constants (epoch seconds).
    pub dates: Vec<f64>,
    /// CIDR blocks.
    pub ips: Vec<(u128, u128, bool)>,
    /// Literal values of any comparison, tried as candidates when the split is mixed.
    pub literals: Vec<String>,
}

impl Probes {
    /// Adds the comparisons of one condition's values (resolved against `ctx`; values that
    /// still hold a variable compare unknowably and add nothing).
    pub fn add_condition(&mut self, c: &Condition, ctx: &Context, nfas: &NfaCache) {
        for (v, t) in c.values.iter().zip(&c.typed) {
            match (c.operator.family, t) {
                (_, Typed::Malformed) | (Family::Null, _) => {}
                (_, Typed::Number(n)) => self.numbers.push(*n),
                (_, Typed::Date(d)) => self.dates.push(*d),
                (_, Typed::Ip(net)) => {
                    let (lo, hi) = net.range();
                    self.ips.push((lo, hi, net.addr.is_ipv4()));
                }
                (_, Typed::Bool(b)) => {
                    self.strings.push(Probe::new(
                        &Re::literal_ascii_ci(if *b { "true" } else { "false" }),
                        nfas,
                    ));
                }
                (family, Typed::Text) => {
                    let Some(p) = v.resolve_pattern(ctx) else {
                        continue;
                    };
                    let text: String = p
                        .chars()
                        .iter()
                        .map(|c| match c {
                            crate::pattern::PatternChar::Lit(c) => *c,
                            crate::pattern::PatternChar::Star => '*',
                            crate::pattern::PatternChar::One => '?',
                        })
                        .collect();
                    let any = CharSet::any();
                    let nfa = match family {
                        Family::StringLike => {
                            nfas.get_text(TextReading::Glob, &glob_key(&p), || {
                                Re::glob(p.chars(), &any, &any)
                            })
                        }
                        Family::ArnEquals | Family::ArnLike => {
                            // The part-by-part reading, and the whole-string one that decides
                            // a shorter pattern's undocumented case.
                            self.strings
                                .push(Probe::new(&Re::glob(p.chars(), &any, &any), nfas));
                            nfas.get(&Re::arn_glob(p.chars()))
                        }
                        Family::StringEqualsIgnoreCase => {
                            if !text.is_ascii() {
                                // Unicode case folding is not modelled: candidates only.
                                self.literals.push(text.clone());
                                self.literals.push(text.to_uppercase());
                                self.literals.push(text.to_lowercase());
                                self.strings.push(Probe::new(&Re::Never, nfas));
                                continue;
                            }
                            nfas.get_text(TextReading::AsciiCi, &text, || {
                                Re::literal_ascii_ci(&text)
                            })
                        }
                        _ => nfas.get_text(TextReading::Literal, &text, || Re::literal(&text)),
                    };
                    self.literals.push(text);
                    self.strings.push(Probe::of(nfa));
                }
            }
        }
    }

    fn key(&self) -> ProbesKey {
        ProbesKey {
            strings: self
                .strings
                .iter()
                .map(|p| {
                    (
                        ByAddress(Rc::clone(&p.nfa)),
                        p.start.clone(),
                        p.track_states,
                    )
                })
                .collect(),
            numbers: self.numbers.iter().map(|n| n.to_bits()).collect(),
            dates: self.dates.iter().map(|n| n.to_bits()).collect(),
            ips: self.ips.clone(),
            literals: self.literals.clone(),
        }
    }

    fn typed_kinds(&self) -> usize {
        usize::from(!self.numbers.is_empty())
            + usize::from(!self.dates.is_empty())
            + usize::from(!self.ips.is_empty())
    }
}

/// A wildcard pattern as text that keeps written wildcards apart from literal `*` and `?`
/// (from `${*}` or a substituted value): those, and `\`, are escaped.
fn glob_key(p: &crate::pattern::Pattern) -> String {
    let mut key = String::with_capacity(p.chars().len());
    for c in p.chars() {
        match c {
            crate::pattern::PatternChar::Star => key.push('*'),
            crate::pattern::PatternChar::One => key.push('?'),
            crate::pattern::PatternChar::Lit(c @ ('*' | '?' | '\\')) => {
                key.push('\\');
                key.push(*c);
            }
            crate::pattern::PatternChar::Lit(c) => key.push(*c),
        }
    }
    key
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProbesKey {
    strings: Vec<(ByAddress, lang::States, bool)>,
    numbers: Vec<u64>,
    dates: Vec<u64>,
    ips: Vec<(u128, u128, bool)>,
    literals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ShapeKey {
    Regular(ByAddress),
    Bool,
    Typed(Shape),
}

/// Splits computed once per shape and set of comparisons: the frames of one question, and the
/// questions about one policy, share most of their variables.
#[derive(Debug, Default)]
pub struct SplitCache(RefCell<HashMap<SplitKey, Rc<Split>, FxBuild>>);

/// A split's shape, its comparisons, and the budget it ran with.
type SplitKey = (ShapeKey, ProbesKey, usize);

impl SplitCache {
    /// The split of `shape` by `probes`, computed once.
    pub fn get(&self, shape: &ValueShape, probes: &Probes, budget: usize) -> Rc<Split> {
        let key = (
            match shape {
                ValueShape::Regular(_, nfa) => ShapeKey::Regular(ByAddress(Rc::clone(nfa))),
                ValueShape::Bool => ShapeKey::Bool,
                ValueShape::Typed(t) => ShapeKey::Typed(*t),
            },
            probes.key(),
            budget,
        );
        if let Some(s) = self.0.borrow().get(&key) {
            return Rc::clone(s);
        }
        let s = Rc::new(split(shape, probes, budget));
        self.0.borrow_mut().insert(key, Rc::clone(&s));
        s
    }
}

/// Splits the values of a variable of `shape` (a key's documented shape, or a regular language
/// for identifiers) by what `probes` compare.
#[expect(
    clippy::too_many_lines,
    reason = "one short arm per value shape (text, number, date, IP address, boolean, binary): the match is the table of shapes"
)]
pub fn split(shape: &ValueShape, probes: &Probes, budget: usize) -> Split {
    match shape {
        ValueShape::Regular(_, nfa) => {
            if probes.typed_kinds() == 0 {
                let out = lang::cells(nfa, &probes.strings, budget);
                return Split {
                    witnesses: out.cells.iter().map(|c| c.witness.clone()).collect(),
                    results: out.cells.into_iter().map(|c| c.results).collect(),
                    complete: out.complete,
                };
            }
            // Text compared as a number, date or address: typed candidates that the shape
            // admits, the strings' own classes, and a value no type reads.
            let mut candidates = typed_candidates(probes);
            let before = candidates.len();
            candidates.retain(|c| nfa.matches(c));
            let complete = probes.strings.is_empty()
                && probes.typed_kinds() == 1
                && candidates.len() == before;
            candidates.extend(
                lang::cells(nfa, &probes.strings, budget)
                    .cells
                    .into_iter()
                    .map(|c| c.witness),
            );
            candidates.extend(probes.literals.iter().filter(|l| nfa.matches(l)).cloned());
            let witnesses = dedup(candidates);
            // Each candidate's own probe results, so a split string is still followed exactly.
            let results = witnesses
                .iter()
                .map(|w| {
                    probes
                        .strings
                        .iter()
                        .map(|p| {
                            let end = p.nfa.run(&p.start, w);
                            if p.track_states {
                                lang::ProbeResult::Ends(end)
                            } else {
                                lang::ProbeResult::Accepts(p.nfa.accepts(&end))
                            }
                        })
                        .collect()
                })
                .collect();
            Split {
                witnesses,
                results,
                complete,
            }
        }
        ValueShape::Bool => Split {
            witnesses: vec!["true".to_owned(), "false".to_owned()],
            results: Vec::new(),
            complete: true,
        },
        ValueShape::Typed(kind) => {
            let mut candidates = match kind {
                Shape::Ip => ip_candidates(&probes.ips),
                Shape::Number => {
                    // A number in digits also reads as a date (epoch seconds).
                    let mut all = probes.numbers.clone();
                    all.extend(&probes.dates);
                    real_candidates(&all, format_number)
                }
                Shape::Date => {
                    let mut all = probes.dates.clone();
                    all.extend(&probes.numbers);
                    real_candidates(&all, format_date)
                }
                Shape::Epoch => {
                    let mut all = probes.dates.clone();
                    all.extend(&probes.numbers);
                    integer_candidates(&all)
                }
                Shape::Range(lo, hi) => {
                    let mut all = probes.numbers.clone();
                    // In range by the key's documented bounds.
                    all.extend([*lo as f64, *hi as f64]);
                    integer_candidates(&all)
                        .into_iter()
                        .filter(|c| c.parse::<i64>().is_ok_and(|n| (*lo..=*hi).contains(&n)))
                        .collect()
                }
                Shape::Text | Shape::Bool => Vec::new(),
            };
            // String comparisons on a typed key: try their classes and literals too.
            let has_strings = !probes.strings.is_empty();
            if has_strings {
                candidates.extend(probes.literals.iter().cloned());
            }
            // A number compared as a date: digits read as epoch seconds, but a fraction does
            // not, so the candidates may miss a class. (An address or an ISO date never reads
            // as a number, and an address never as a date: those comparisons are simply false.)
            let foreign = match kind {
                Shape::Number | Shape::Range(..) => !probes.dates.is_empty(),
                Shape::Ip | Shape::Date | Shape::Epoch | Shape::Text | Shape::Bool => false,
            };
            Split {
                witnesses: dedup(candidates),
                results: Vec::new(),
                complete: !has_strings && !foreign,
            }
        }
    }
}

/// The shape of a variable's values.
#[derive(Debug, Clone)]
pub enum ValueShape {
    /// A regular language (text keys, identifiers), and its automaton.
    Regular(Re, Rc<Nfa>),
    /// `true` / `false`.
    Bool,
    /// A typed key: number, date, epoch seconds or IP address.
    Typed(Shape),
}

impl ValueShape {
    /// The shape of a condition key's values.
    pub fn of_key(shape: Shape, nfas: &NfaCache) -> ValueShape {
        match shape {
            Shape::Text => {
                let re = Re::any_string();
                let nfa = nfas.get(&re);
                ValueShape::Regular(re, nfa)
            }
            Shape::Bool => ValueShape::Bool,
            other => ValueShape::Typed(other),
        }
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}

/// Typed candidates for a text key: numbers, dates and addresses at the constants, and text
/// no type reads.
fn typed_candidates(p: &Probes) -> Vec<String> {
    let mut out = Vec::new();
    if !p.numbers.is_empty() {
        out.extend(real_candidates(&p.numbers, format_number));
    }
    if !p.dates.is_empty() {
        out.extend(real_candidates(&p.dates, format_date));
        out.extend(integer_candidates(&p.dates));
    }
    if !p.ips.is_empty() {
        out.extend(ip_candidates(&p.ips));
    }
    out.push("x".to_owned());
    out
}

/// One value below, at, between and above the sorted constants.
fn real_candidates(constants: &[f64], render: impl Fn(f64) -> String) -> Vec<String> {
    let mut cs: Vec<f64> = constants
        .iter()
        .copied()
        .filter(|c| c.is_finite())
        .collect();
    cs.sort_by(f64::total_cmp);
    cs.dedup();
    let (Some(first), Some(last)) = (cs.first().copied(), cs.last().copied()) else {
        return vec![render(0.0)];
    };
    let mut out = vec![render(first - 1.0)];
    for w in cs.windows(2) {
        if let [a, b] = w {
            out.push(render(*a));
            let mid = a + (b - a) / 2.0;
            if mid > *a && mid < *b {
                out.push(render(mid));
            }
        }
    }
    out.push(render(last));
    out.push(render(last + 1.0));
    out
}

/// Integer candidates around each constant (whole epoch seconds).
fn integer_candidates(constants: &[f64]) -> Vec<String> {
    let mut ints: Vec<i64> = vec![0];
    for c in constants.iter().filter(|c| c.is_finite() && c.abs() < 1e15) {
        // In range by the filter; truncation towards the constant on purpose.
        let (f, ce) = (c.floor() as i64, c.ceil() as i64);
        ints.extend([f - 1, f, f + 1, ce - 1, ce, ce + 1]);
    }
    ints.retain(|n| *n >= 0);
    ints.sort_unstable();
    ints.dedup();
    ints.into_iter().map(|n| n.to_string()).collect()
}

/// Addresses at every network's start, just past its end, and the lowest of each family.
fn ip_candidates(nets: &[(u128, u128, bool)]) -> Vec<String> {
    let mut out = Vec::new();
    for v4 in [true, false] {
        let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
        let mut points = vec![0u128];
        for (lo, hi, _) in nets.iter().filter(|(_, _, family)| *family == v4) {
            points.push(*lo);
            if *hi < max {
                points.push(hi + 1);
            }
        }
        points.sort_unstable();
        points.dedup();
        out.extend(points.into_iter().map(|p| {
            if v4 {
                Ipv4Addr::from(u32::try_from(p).unwrap_or(u32::MAX)).to_string()
            } else {
                Ipv6Addr::from(p).to_string()
            }
        }));
    }
    out
}

fn format_number(n: f64) -> String {
    format!("{n}")
}

/// An ISO 8601 UTC date-time for epoch seconds, with a fraction when there is one.
pub fn format_date(secs: f64) -> String {
    let whole = secs.floor();
    let frac = secs - whole;
    // Dates far outside the calendar's range (years 1 to 9999) are clamped; the candidates
    // stay ordered.
    let whole = whole.clamp(-62_135_596_800.0, 253_402_300_799.0) as i64;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(whole) else {
        // Not reached: the clamp keeps `whole` inside the calendar. Epoch seconds read back.
        return format!("{whole}");
    };
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    if frac > 0.0 {
        let f = format!("{frac:.6}");
        let f = f.trim_start_matches('0').trim_end_matches('0');
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{f}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::condition::parse_date;

    #[test]
    fn dates_render_and_read_back() {
        for secs in [
            0.0,
            951_868_800.0,
            1_795_780_800.5,
            4_102_444_799.0,
            -86_400.0,
            // The calendar's ends.
            -62_135_596_800.0,
            253_402_300_799.0,
        ] {
            let text = format_date(secs);
            assert_eq!(parse_date(&text), Some(secs), "{text}");
        }
        // Beyond the calendar: clamped to its ends, and still read back.
        assert_eq!(format_date(1e13), "9999-12-31T23:59:59Z");
        assert_eq!(format_date(-1e13), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn candidates_cover_every_interval() {
        let c = real_candidates(&[10.0, 20.0], format_number);
        assert_eq!(c, vec!["9", "10", "15", "20", "21"]);
        let ten = |d: u8| u128::from(u32::from(Ipv4Addr::new(10, d, d, d)));
        let ips = ip_candidates(&[(ten(0), ten(255), true)]);
        assert!(ips.contains(&"10.0.0.0".to_owned()) && ips.contains(&"11.0.0.0".to_owned()));
        assert!(ips.contains(&"0.0.0.0".to_owned()) && ips.contains(&"::".to_owned()));
    }
}
