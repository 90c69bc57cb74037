//! Policy variables (`${aws:ResourceAccount}`, `${aws:username, 'default'}`, `${*}`).
//!
//! IAM substitutes variables only in policies with `"Version": "2012-10-17"`; under
//! `2008-10-17` or without a Version, `${...}` is literal text. The parser is told which.

use std::borrow::Cow;

use crate::pattern::Pattern;
use crate::request::Context;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Text as written; `*` and `?` in it are wildcards where the operator takes them.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: a literal character, never a wildcard.
    Char(char),
    /// `${key}` or `${key, 'default'}`.
    Var {
        key_lc: String,
        default: Option<String>,
    },
}

/// A policy string that may contain variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The value as written in the policy.
    pub raw: String,
    segments: Vec<Segment>,
    /// Precompiled when there are no variables.
    fixed: Option<(String, Pattern)>,
}

impl Template {
    /// Parses `raw`; with `variables` false every `${...}` stays literal text.
    pub fn parse(raw: &str, variables: bool) -> Template {
        let segments = if variables {
            split(raw)
        } else {
            vec![Segment::Text(raw.to_owned())]
        };
        let fixed = if segments.iter().all(|s| !matches!(s, Segment::Var { .. })) {
            let mut text = String::new();
            let mut pattern = Pattern::default();
            for s in &segments {
                match s {
                    Segment::Text(t) => {
                        text.push_str(t);
                        pattern.push_wild(t);
                    }
                    Segment::Char(c) => {
                        text.push(*c);
                        pattern.push_literal(c.encode_utf8(&mut [0; 4]));
                    }
                    Segment::Var { .. } => {}
                }
            }
            Some((text, pattern))
        } else {
            None
        };
        Template {
            raw: raw.to_owned(),
            segments,
            fixed,
        }
    }

    /// Whether the value uses a policy variable (not counting `${*}` and friends).
    pub fn has_variables(&self) -> bool {
        self.fixed.is_none()
    }

    /// The value with variables substituted from `ctx`; `None` when a variable has no value in
    /// the request and no default (IAM then treats the value as matching nothing).
    pub fn resolve(&self, ctx: &Context) -> Option<Cow<'_, str>> {
        if let Some((text, _)) = &self.fixed {
            return Some(Cow::Borrowed(text));
        }
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Char(c) => out.push(*c),
                Segment::Var { key_lc, default } => {
                    out.push_str(var_value(ctx, key_lc, default.as_deref())?)
                }
            }
        }
        Some(Cow::Owned(out))
    }

    /// The value as a wildcard pattern: `*`/`?` written in the policy are wildcards, substituted
    /// values and `${*}` are literal.
    pub fn resolve_pattern(&self, ctx: &Context) -> Option<Cow<'_, Pattern>> {
        if let Some((_, pattern)) = &self.fixed {
            return Some(Cow::Borrowed(pattern));
        }
        let mut p = Pattern::default();
        for s in &self.segments {
            match s {
                Segment::Text(t) => p.push_wild(t),
                Segment::Char(c) => p.push_literal(c.encode_utf8(&mut [0; 4])),
                Segment::Var { key_lc, default } => {
                    p.push_literal(var_value(ctx, key_lc, default.as_deref())?)
                }
            }
        }
        Some(Cow::Owned(p))
    }
}

fn var_value<'a>(ctx: &'a Context, key_lc: &str, default: Option<&'a str>) -> Option<&'a str> {
    // A multi-valued key cannot be substituted; IAM documents variables for single values.
    match ctx.get(key_lc) {
        Some([one]) => Some(one.as_str()),
        _ => default,
    }
}

fn split(raw: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        let Some(end) = after.find('}') else { break };
        let inner = after.get(2..end).unwrap_or("").trim();
        let segment = match inner {
            "*" => Some(Segment::Char('*')),
            "?" => Some(Segment::Char('?')),
            "$" => Some(Segment::Char('$')),
            _ => parse_var(inner),
        };
        match segment {
            Some(seg) => {
                if !before.is_empty() {
                    segments.push(Segment::Text(before.to_owned()));
                }
                segments.push(seg);
            }
            // Not a variable: keep the text as written.
            None => segments.push(Segment::Text(
                after
                    .get(..=end)
                    .map_or_else(String::new, |t| format!("{before}{t}")),
            )),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    segments
}

fn parse_var(inner: &str) -> Option<Segment> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''))?;
            (k.trim(), Some(d.to_owned()))
        }
        None => (inner, None),
    };
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/_-.@".contains(&b));
    valid.then(|| Segment::Var {
        key_lc: key.to_ascii_lowercase(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Context;

    fn ctx() -> Context {
        let mut c = Context::default();
        c.set("aws:ResourceAccount", "111122223333");
        c.set("aws:username", "al*ce");
        c
    }

    #[test]
    fn substitutes_only_when_enabled() {
        let t = Template::parse("${aws:ResourceAccount}", true);
        assert!(t.has_variables());
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("111122223333"));
        let t = Template::parse("${aws:ResourceAccount}", false);
        assert!(!t.has_variables());
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("${aws:ResourceAccount}"));
    }

    #[test]
    fn missing_key_uses_default_or_matches_nothing() {
        assert_eq!(
            Template::parse("x-${aws:nope, 'dflt'}", true)
                .resolve(&ctx())
                .as_deref(),
            Some("x-dflt")
        );
        assert_eq!(Template::parse("${aws:nope}", true).resolve(&ctx()), None);
    }

    #[test]
    fn special_characters_and_literal_values() {
        let t = Template::parse("a${*}b*", true);
        let p = t.resolve_pattern(&ctx()).unwrap();
        assert!(p.matches("a*bzzz"));
        assert!(!p.matches("axbzzz"));
        // A substituted value is literal even when it contains a wildcard character.
        let t = Template::parse("home/${aws:username}/*", true);
        let p = t.resolve_pattern(&ctx()).unwrap();
        assert!(p.matches("home/al*ce/x"));
        assert!(!p.matches("home/alice/x"));
    }

    #[test]
    fn malformed_variables_stay_literal() {
        assert_eq!(
            Template::parse("${unclosed", true)
                .resolve(&ctx())
                .as_deref(),
            Some("${unclosed")
        );
        assert_eq!(
            Template::parse("a${}b", true).resolve(&ctx()).as_deref(),
            Some("a${}b")
        );
    }
}
