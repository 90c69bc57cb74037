//! Wildcard matching as IAM does it: `*` matches any run of characters (also none), `?` exactly
//! one character. Used for actions, resources, `StringLike` and `ArnLike`.

use crate::logic::Truth;

/// One element of a compiled wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternChar {
    /// A character that must match itself (also a `*` written as `${*}`).
    Lit(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A wildcard pattern compiled once, matched many times.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pattern(Vec<PatternChar>);

impl Pattern {
    /// Compiles `text`, reading `*` and `?` as wildcards.
    pub fn compile(text: &str) -> Pattern {
        let mut p = Pattern::default();
        p.push_wild(text);
        p
    }

    /// Appends `text`, reading `*` and `?` as wildcards.
    pub fn push_wild(&mut self, text: &str) {
        self.0.extend(text.chars().map(|c| match c {
            '*' => PatternChar::Star,
            '?' => PatternChar::One,
            c => PatternChar::Lit(c),
        }));
    }

    /// Appends `text` literally (substituted variable values, `${*}`).
    pub fn push_literal(&mut self, text: &str) {
        self.0.extend(text.chars().map(PatternChar::Lit));
    }

    /// Case-sensitive match.
    pub fn matches(&self, text: &str) -> bool {
        glob(self.0.as_slice(), text, |a, b| a == b)
    }

    /// Match ignoring ASCII case.
    pub fn matches_ascii_ci(&self, text: &str) -> bool {
        glob(self.0.as_slice(), text, |a, b| a.eq_ignore_ascii_case(&b))
    }

    /// The compiled characters.
    pub fn chars(&self) -> &[PatternChar] {
        &self.0
    }

    /// Whether the pattern is a lone `*` written as a wildcard.
    pub fn is_any(&self) -> bool {
        self.0 == [PatternChar::Star]
    }

    /// The number of colon-separated parts (every colon counts, written or substituted).
    pub fn parts(&self) -> usize {
        1 + self
            .0
            .iter()
            .filter(|c| **c == PatternChar::Lit(':'))
            .count()
    }

    /// Splits at colons into at most `n` parts; the last part keeps the rest.
    fn split_parts(&self, n: usize) -> impl Iterator<Item = &[PatternChar]> {
        self.0.splitn(n, |c| *c == PatternChar::Lit(':'))
    }
}

/// Whether `text` matches `pattern`, where `*` and `?` in the pattern are wildcards.
///
/// Case-sensitive. Runs in O(len(pattern) * len(text)) at worst, with no recursion, so a hostile
/// pattern such as `*a*a*a*a*b` cannot blow the stack or take exponential time.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern {
        "*" => true,
        p if !has_wildcard(p) => p == text,
        p => glob(p, text, |a, b| a == b),
    }
}

/// As [`wildcard_match`], ignoring ASCII case (action names, service prefixes).
pub fn wildcard_match_ascii_ci(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |a, b| a.eq_ignore_ascii_case(&b))
}

/// Whether `pattern` contains a wildcard character.
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// A pattern as [`glob`] reads it: the character at a position and the next position.
trait Glob {
    fn at(&self, i: usize) -> Option<(PatternChar, usize)>;
}

impl Glob for [PatternChar] {
    fn at(&self, i: usize) -> Option<(PatternChar, usize)> {
        self.get(i).map(|c| (*c, i + 1))
    }
}

/// Pattern text read on the fly (`*` and `?` are wildcards), so a one-off match compiles
/// nothing.
impl Glob for str {
    fn at(&self, i: usize) -> Option<(PatternChar, usize)> {
        let c = char_at(self, i)?;
        let pc = match c {
            '*' => PatternChar::Star,
            '?' => PatternChar::One,
            c => PatternChar::Lit(c),
        };
        Some((pc, i + c.len_utf8()))
    }
}

/// The character at byte offset `i` (a character boundary): ASCII without decoding.
fn char_at(s: &str, i: usize) -> Option<char> {
    let b = *s.as_bytes().get(i)?;
    if b.is_ascii() {
        Some(char::from(b))
    } else {
        s.get(i..)?.chars().next()
    }
}

/// Greedy matching with one backtrack point (the last `*`); positions are byte offsets, so
/// nothing is allocated.
fn glob<P: Glob + ?Sized>(p: &P, text: &str, eq: impl Fn(char, char) -> bool) -> bool {
    let next_char = |ti: usize| char_at(text, ti);
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = next_char(ti) {
        match p.at(pi) {
            Some((PatternChar::Star, after)) => {
                star = Some((after, ti));
                pi = after;
            }
            Some((PatternChar::One, after)) => {
                pi = after;
                ti += tc.len_utf8();
            }
            Some((PatternChar::Lit(pc), after)) if eq(pc, tc) => {
                pi = after;
                ti += tc.len_utf8();
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry from there.
                Some((after_star, st)) => {
                    let swallowed = st + next_char(st).map_or(1, char::len_utf8);
                    pi = after_star;
                    ti = swallowed;
                    star = Some((after_star, swallowed));
                }
                None => return false,
            },
        }
    }
    while let Some((c, after)) = p.at(pi) {
        if c != PatternChar::Star {
            return false;
        }
        pi = after;
    }
    true
}

/// ARN matching as `ArnLike` / `ArnEquals` do it: "each of the six colon-delimited components
/// of the ARN is checked separately", so a wildcard does not run across a colon; the last part
/// takes the rest of the ARN (resource ids may contain colons). Case-sensitive. Characters that
/// came from `${*}` or a substituted variable are literal.
///
/// AWS does not say what a pattern with fewer parts (`arn:aws:kms:*`) does. When only a
/// whole-string match would succeed the answer is [`Truth::Unknown`], and the caller decides
/// by its safe reading.
pub fn arn_like(pattern: &Pattern, arn: &str) -> Truth {
    if pattern.is_any() || arn_parts_match(pattern, arn) {
        Truth::True
    } else if pattern.parts() < 6 && pattern.matches(arn) {
        Truth::Unknown
    } else {
        Truth::False
    }
}

fn arn_parts_match(pattern: &Pattern, arn: &str) -> bool {
    let mut p_parts = pattern.split_parts(6);
    let mut a_parts = arn.splitn(6, ':');
    loop {
        match (p_parts.next(), a_parts.next()) {
            (None, None) => return true,
            (Some(p), Some(a)) if glob(p, a, |x, y| x == y) => {}
            _ => return false,
        }
    }
}

/// `Resource` element matching. The IAM user guide: wildcards work within ARN segments, and
/// "if the * wildcard is the last character of a resource ARN segment, it can expand to match
/// beyond the colon boundaries". So a `*` that ends a segment (or sits in the final resource
/// part) may cross colons; any other `*` and every `?` stay within their segment. Characters
/// that came from `${*}`, `${?}` or a substituted variable are literal.
///
/// A pattern with fewer than six parts and a wildcard (`arn:aws:kms:*:111122223333`): AWS does
/// not say whether IAM pads it with `:*`. Where only the padded pattern matches, the answer is
/// [`Truth::Unknown`].
pub fn resource_match(pattern: &Pattern, arn: &str) -> Truth {
    if pattern.is_any() || resource_match_exact(&pattern.0, arn) {
        return Truth::True;
    }
    let parts = pattern.parts();
    if parts < 6 && pattern.0.contains(&PatternChar::Star) {
        let mut padded = pattern.0.clone();
        for _ in parts..6 {
            padded.push(PatternChar::Lit(':'));
            padded.push(PatternChar::Star);
        }
        if resource_match_exact(&padded, arn) {
            return Truth::Unknown;
        }
    }
    Truth::False
}

fn resource_match_exact(pattern: &[PatternChar], arn: &str) -> bool {
    let mut compiled: Vec<ResChar> = Vec::with_capacity(pattern.len());
    let mut colons = 0usize;
    for (i, c) in pattern.iter().enumerate() {
        compiled.push(match c {
            PatternChar::Star => {
                let ends_segment = matches!(pattern.get(i + 1), None | Some(PatternChar::Lit(':')));
                if colons >= 5 || ends_segment {
                    ResChar::Star
                } else {
                    ResChar::SegStar
                }
            }
            PatternChar::One => ResChar::One,
            PatternChar::Lit(c) => {
                if *c == ':' {
                    colons += 1;
                }
                ResChar::Lit(*c)
            }
        });
    }
    dp_match(&compiled, arn)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResChar {
    Lit(char),
    /// Any run of characters, colons included.
    Star,
    /// Any run of characters without a colon.
    SegStar,
    /// One character other than a colon.
    One,
}

/// Dynamic-programming glob (two kinds of star make the greedy algorithm incorrect).
fn dp_match(p: &[ResChar], text: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    // row[j]: pattern prefix matches text prefix of length j.
    let mut row = vec![false; t.len() + 1];
    if let Some(first) = row.first_mut() {
        *first = true;
    }
    for pc in p {
        let mut next = vec![false; t.len() + 1];
        match pc {
            ResChar::Star | ResChar::SegStar => {
                let crosses = *pc == ResChar::Star;
                let mut carry = false;
                for j in 0..=t.len() {
                    let prev = row.get(j).copied().unwrap_or(false);
                    let extend = j > 0 && carry && (crosses || t.get(j - 1) != Some(&':'));
                    carry = prev || extend;
                    if let Some(n) = next.get_mut(j) {
                        *n = carry;
                    }
                }
            }
            ResChar::One | ResChar::Lit(_) => {
                for j in 1..=t.len() {
                    let ok = match (pc, t.get(j - 1)) {
                        (ResChar::One, Some(c)) => *c != ':',
                        (ResChar::Lit(l), Some(c)) => l == c,
                        _ => false,
                    };
                    if let Some(n) = next.get_mut(j) {
                        *n = ok && row.get(j - 1).copied().unwrap_or(false);
                    }
                }
            }
        }
        row = next;
    }
    row.last().copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark() {
        assert!(wildcard_match("kms:*", "kms:Decrypt"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match(
            "sso.?????????.amazonaws.com",
            "sso.us-east-1.amazonaws.com"
        ));
        assert!(!wildcard_match(
            "sso.????????.amazonaws.com",
            "sso.us-east-1.amazonaws.com"
        ));
        assert!(wildcard_match("a**", "a"));
        assert!(!wildcard_match("", "a"));
        assert!(!wildcard_match("abc", "ab"));
        assert!(!wildcard_match("ab", "abc"));
        let mut literal_star = Pattern::compile("a");
        literal_star.push_literal("*");
        assert!(literal_star.matches("a*"));
        assert!(!literal_star.matches("ab"));
        assert!(wildcard_match("", ""));
    }

    #[test]
    fn case_rules() {
        assert!(!wildcard_match("kms:decrypt", "kms:Decrypt"));
        assert!(wildcard_match_ascii_ci("KMS:decrypt", "kms:Decrypt"));
        assert!(wildcard_match_ascii_ci("kms:gen*", "kms:GenerateDataKey"));
    }

    #[test]
    fn hostile_pattern_is_fast_and_correct() {
        let text = "a".repeat(5000);
        assert!(!wildcard_match("*a*a*a*a*a*a*a*a*b", &text));
    }

    fn res(pattern: &str, arn: &str) -> Truth {
        resource_match(&Pattern::compile(pattern), arn)
    }

    fn arn(pattern: &str, arn: &str) -> Truth {
        arn_like(&Pattern::compile(pattern), arn)
    }

    #[test]
    fn resource_element_stars() {
        let key = "arn:aws:kms:us-west-2:111122223333:key/mrk-1";
        assert_eq!(res("*", key), Truth::True);
        assert_eq!(res("arn:aws:kms:*", key), Truth::True);
        assert_eq!(res("arn:aws:kms:*:111122223333:key/*", key), Truth::True);
        assert_eq!(
            res("arn:aws:kms:us-*:111122223333:key/mrk-?", key),
            Truth::True
        );
        assert_eq!(
            res(
                "arn:aws:kms:u*2:111122223333:key/mrk-?",
                "arn:aws:kms:us-west-1:1:2:key/mrk-1"
            ),
            Truth::False
        );
        assert_eq!(
            res("arn:aws:kms:us-east-1:111122223333:key/*", key),
            Truth::False
        );
        assert_eq!(
            res("arn:aws:kms:us-west-2:111122223333:key/mrk-", key),
            Truth::False
        );
        assert_eq!(
            res("arn:aws:kms:us-w?st-2:1111222233?3:key/mrk-1x", key),
            Truth::False
        );
        assert_eq!(
            res("arn:aws:kms:us-w?st-2:1111222233?3:key/mrk-1", key),
            Truth::True
        );
    }

    #[test]
    fn short_resource_patterns_are_undecided_only_where_padding_matches() {
        let key = "arn:aws:kms:us-west-2:111122223333:key/mrk-1";
        // Only the padded reading (`...:111122223333:*`) matches: AWS does not say which holds.
        assert_eq!(res("arn:aws:kms:*:111122223333", key), Truth::Unknown);
        assert_eq!(res("arn:aws:kms:*:444455556666", key), Truth::False);
        // No wildcard: nothing to pad.
        assert_eq!(res("arn:aws:kms:us-west-2:111122223333", key), Truth::False);
    }

    #[test]
    fn literal_characters_never_act_as_wildcards() {
        let key = "arn:aws:kms:us-west-2:111122223333:key/mrk-1";
        let mut p = Pattern::compile("arn:aws:kms:us-west-2:111122223333:key/");
        p.push_literal("*");
        assert_eq!(resource_match(&p, key), Truth::False);
        assert_eq!(
            resource_match(&p, "arn:aws:kms:us-west-2:111122223333:key/*"),
            Truth::True
        );
        assert_eq!(arn_like(&p, key), Truth::False);
        let mut q = Pattern::compile("arn:aws:kms:us-west-2:111122223333:key/mrk-");
        q.push_literal("?");
        assert_eq!(resource_match(&q, key), Truth::False);
        assert_eq!(arn_like(&q, key), Truth::False);
    }

    #[test]
    fn arn_parts_do_not_leak_across_colons() {
        let key = "arn:aws:kms:us-west-2:111122223333:key/mrk-1";
        assert_eq!(arn("arn:aws:kms:*:111122223333:key/*", key), Truth::True);
        assert_eq!(arn("arn:aws:kms:*:*:*", key), Truth::True);
        assert_eq!(arn("arn:aws:kms:us-*-2:1111*", key), Truth::Unknown);
        assert_eq!(arn("arn:aws:kms:us-*-2:2222*", key), Truth::False);
        assert_eq!(
            arn("arn:aws:kms:us-east-1:111122223333:key/*", key),
            Truth::False
        );
        assert_eq!(arn("*", key), Truth::True);
        // Fewer parts: only a whole-string match would succeed, which AWS does not document.
        assert_eq!(arn("arn:aws:kms:*", key), Truth::Unknown);
        assert_eq!(arn("arn:aws:kms:*:*:key/mrk-?", key), Truth::True);
        assert_eq!(arn("ARN:aws:kms:*:*:key/mrk-?", key), Truth::False);
    }
}
