//! Findings as a person reads them: one line per problem, whichever Regions it is found in.
//!
//! The checks run per Region, so a policy that is wrong everywhere gives the same finding once
//! per Region, different only in the Region's name. Those become one line that lists the
//! Regions. The message's long cause is cut to a summary unless `verbose`, and the
//! `idc-guard simulate` line that reproduces the finding gets a line of its own, labelled with
//! the Region it reproduces. `--format json` keeps one object per Region (the contract).

use std::fmt::Write as _;

use idc_guard_core::finding::Finding;

/// How much of a cause the summary keeps, in characters.
const SUMMARY_CHARS: usize = 200;

/// Findings that differ only in their Region.
struct Group<'a> {
    first: &'a Finding,
    regions: Vec<&'a str>,
}

/// What makes two findings the same problem: everything but the Region's name.
fn identity(f: &Finding) -> (String, String, String, Option<&str>, String) {
    let message = if f.region.is_empty() {
        f.message.clone()
    } else {
        f.message.replace(&f.region, "\u{0}")
    };
    (
        f.check.id().to_owned(),
        f.status.as_str().to_owned(),
        f.severity.as_str().to_owned(),
        f.statement.as_deref(),
        message,
    )
}

fn group<'a>(findings: &[&'a Finding]) -> Vec<Group<'a>> {
    let mut groups: Vec<(_, Group<'a>)> = Vec::new();
    for f in findings {
        let id = identity(f);
        match groups.iter_mut().find(|(other, _)| *other == id) {
            Some((_, g)) => g.regions.push(&f.region),
            None => groups.push((
                id,
                Group {
                    first: f,
                    regions: vec![&f.region],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The message without what the line already says (`<CHECK> fails in <region>: `), and the
/// reproduce command, apart.
fn parts(f: &Finding) -> (&str, Option<&str>) {
    let check = f.check.id();
    let message = f.message.as_str();
    let body = message
        .strip_prefix(check)
        .and_then(|rest| {
            rest.strip_prefix(&format!(" fails in {}: ", f.region))
                .or_else(|| rest.strip_prefix(": "))
        })
        .unwrap_or(message);
    match body.split_once(" Reproduce: ") {
        Some((cause, command)) => (cause, Some(command)),
        None => (body, None),
    }
}

/// `text` cut after about [`SUMMARY_CHARS`] characters, at a word.
fn summary(text: &str) -> String {
    if text.chars().count() <= SUMMARY_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(SUMMARY_CHARS).collect();
    let at_word = cut.rfind(' ').map_or(cut.as_str(), |i| &cut[..i]);
    format!("{at_word} … (--verbose for the whole cause)")
}

/// The problems of `findings` (passes are skipped), one paragraph per distinct problem, and
/// how many distinct problems there are.
pub fn findings_text(findings: &[&Finding], verbose: bool) -> (String, usize) {
    let mut out = String::new();
    let groups = group(findings);
    let problems = groups.len();
    for g in groups {
        let f = g.first;
        let (cause, reproduce) = parts(f);
        let regions = if g.regions.len() > 1 {
            format!("{} Regions ({})", g.regions.len(), g.regions.join(", "))
        } else {
            g.regions.concat()
        };
        let cause = if verbose {
            cause.to_owned()
        } else {
            summary(cause)
        };
        let _ = writeln!(
            out,
            "{} [{}] {} in {regions}: {cause}",
            f.status.as_str().to_uppercase(),
            f.severity.as_str(),
            f.check.id(),
        );
        if let Some(s) = &f.statement {
            let _ = writeln!(out, "    statement: {s}");
        }
        if let Some(command) = reproduce {
            let _ = writeln!(out, "    reproduce ({}): {command}", f.region);
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use idc_guard_core::finding::{CheckId, Severity, Status};

    fn finding(region: &str, message: &str) -> Finding {
        Finding {
            check: CheckId::KpOrgViaService,
            status: Status::Fail,
            severity: Severity::High,
            region: region.into(),
            resource: format!("arn:aws:kms:{region}:111122223333:key/mrk-1"),
            message: message.into(),
            statement: Some("S (index 1)".into()),
            fingerprint: region.into(),
            trigger: None,
            remediation: None,
            resolves: None,
        }
    }

    fn org(region: &str) -> Finding {
        finding(
            region,
            &format!(
                "KP-ORG-VIA-SERVICE fails in {region}: apps cannot use it. a role cannot kms:Decrypt via sso.{region}.amazonaws.com (denied by statement S (index 1)). Reproduce: idc-guard simulate --region {region}"
            ),
        )
    }

    #[test]
    fn the_same_problem_in_several_regions_is_one_line_naming_them() {
        let (a, b) = (org("eu-west-1"), org("ap-southeast-2"));
        let text = findings_text(&[&a, &b], false).0;
        assert_eq!(
            text,
            "FAIL [high] KP-ORG-VIA-SERVICE in 2 Regions (eu-west-1, ap-southeast-2): apps cannot use it. a role cannot kms:Decrypt via sso.eu-west-1.amazonaws.com (denied by statement S (index 1)).\n    statement: S (index 1)\n    reproduce (eu-west-1): idc-guard simulate --region eu-west-1\n"
        );
    }

    #[test]
    fn different_problems_stay_apart_and_each_names_its_region() {
        let a = org("eu-west-1");
        let mut b = org("ap-southeast-2");
        b.statement = Some("Other (index 2)".into());
        let c = finding(
            "us-east-1",
            "KP-INVALID: document, Statement: is an empty array",
        );
        let text = findings_text(&[&a, &b, &c], false).0;
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains(" in eu-west-1: "), "{text}");
        assert!(lines[1].contains(" in ap-southeast-2: "), "{text}");
        assert!(
            lines[2].ends_with(" in us-east-1: KP-INVALID: document, Statement: is an empty array"),
            "the prefix is another check's, so it stays: {text}"
        );
    }

    #[test]
    fn a_long_cause_is_cut_at_a_word_unless_verbose() {
        let cause = "word ".repeat(100);
        let f = finding(
            "eu-west-1",
            &format!("KP-ORG-VIA-SERVICE fails in eu-west-1: {cause}"),
        );
        let short = findings_text(&[&f], false).0;
        assert!(
            short.contains("word … (--verbose for the whole cause)"),
            "{short}"
        );
        assert!(short.lines().next().unwrap().chars().count() < SUMMARY_CHARS + 120);
        let long = findings_text(&[&f], true).0;
        assert!(long.contains(cause.trim_end()), "{long}");
        assert!(!long.contains("--verbose"));
    }
}
