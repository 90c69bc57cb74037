//! The evidence report an auditor reads: one self-contained HTML page (no scripts, no external
//! resources) that opens offline. From the top: what it covers and how much of it verified;
//! the records that did not verify, counted nowhere else; the control view per check (days
//! compliant, failures open at the end, time to detect and to fix); the checks' controls; a
//! timeline of failures and resolutions (inline SVG); then every record in time order, each
//! with its integrity. Every value is escaped by the template (maud), never by hand.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::controls::{
    CheckView, FailureSpan, control_view, controls, duration_text, failure_spans,
};
use super::report::{EvidenceRow, Integrity, UNREADABLE};
use crate::domain::time::Timestamp;
use crate::finding::CheckId;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}.fail,.error,.unreadable,.unverified{color:#a00}.warn{color:#a60}.pass,.verified{color:#060}pre{white-space:pre-wrap;background:#f4f4f4;padding:8px}.cover{border:2px solid #333;padding:1em;margin-bottom:1.5em}.alarm{background:#fee;border:2px solid #a00;padding:0.5em 1em}";

const DAY: i64 = 86_400;

/// What a report says about itself: what it covers, when and by what it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    /// The title (the bucket and the period).
    pub title: String,
    /// The period and filters, in words.
    pub scope: String,
    /// The first day of the period.
    pub from: Timestamp,
    /// The last day of the period.
    pub to: Timestamp,
    /// When the report was generated.
    pub generated: Timestamp,
    /// The idc-guard version that generated it.
    pub version: String,
    /// What walking the signed digest chain of the period found, when it was walked.
    pub chain: Option<ChainStatement>,
}

/// The digest chain's verdict, for the cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatement {
    /// The verdict in one sentence (`the chain from digest X to Y: ...`).
    pub text: String,
    /// Every problem: kind, object, detail.
    pub problems: Vec<[String; 3]>,
}

/// The report.
pub fn to_html(rows: &[EvidenceRow], header: &ReportHeader) -> String {
    let mut sorted: Vec<&EvidenceRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.time, &a.key).cmp(&(&b.time, &b.key)));
    let unverified: Vec<&EvidenceRow> = sorted.iter().copied().filter(|r| !r.verified()).collect();
    let views = control_view(rows, header.from, header.to);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (header.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (cover(rows, &unverified, header))
                @if let Some(chain) = header.chain.as_ref().filter(|c| !c.problems.is_empty()) {
                    (chain_problems(chain))
                }
                @if !unverified.is_empty() { (unverified_section(&unverified)) }
                (control_section(&views))
                (mapping_section(&views))
                h2 { "Timeline of failures and resolutions" }
                (svg_timeline(&failure_spans(rows), header.from, header.to))
                (records_table(&sorted))
                h2 { "Records" }
                @for (i, r) in sorted.iter().enumerate() {
                    (record_section(i, r))
                }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

/// What the report covers, and the integrity of the set.
fn cover(rows: &[EvidenceRow], unverified: &[&EvidenceRow], header: &ReportHeader) -> Markup {
    // Each unverified record once: not a record at all, else why its checksum failed.
    let unreadable = unverified.iter().filter(|r| r.status == UNREADABLE).count();
    let count = |i: Integrity| {
        unverified
            .iter()
            .filter(|r| r.status != UNREADABLE && r.integrity == i)
            .count()
    };
    html! {
        div class="cover" {
            h1 { (header.title) }
            p {
                "Scope: " (header.scope) ". Generated " (header.generated)
                " by idc-guard " (header.version) "."
            }
            p {
                (rows.len()) " record(s): " (rows.len() - unverified.len()) " verified (stored checksums match the body), "
                (unverified.len()) " not."
            }
            @if !unverified.is_empty() {
                p class="alarm" {
                    "Not verified, and counted in no figure below: "
                    (count(Integrity::Altered)) " with a checksum that does not match, "
                    (count(Integrity::NoChecksum)) " with no checksum stored, "
                    (count(Integrity::NotInChain)) " that do not match the signed digest chain, "
                    (unreadable) " that are not evidence records. They are listed first."
                }
            }
            (scope_line(rows))
            @match &header.chain {
                Some(chain) => {
                    p class=(if chain.problems.is_empty() { "verified" } else { "alarm" }) {
                        "Signed digest chain: " (chain.text)
                    }
                }
                None => {
                    p {
                        "The signed digest chain was not walked for this report (export with --signing-key "
                        "or --public-key to include it): a record deleted, hidden by a delete marker or "
                        "replaced by a new version is found by it, not by checksums."
                    }
                }
            }
        }
    }
}

/// The accounts, instances and Regions the verified records are about.
fn scope_line(rows: &[EvidenceRow]) -> Markup {
    let verified = || rows.iter().filter(|r| r.verified());
    let set = |f: &dyn Fn(&EvidenceRow) -> Option<String>| {
        verified()
            .filter_map(f)
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let accounts = set(&|r| (!r.account.is_empty()).then(|| r.account.clone()));
    let regions = set(&|r| (!r.region.is_empty()).then(|| r.region.clone()));
    let instances = set(&|r| {
        r.resource
            .contains(":instance/")
            .then(|| r.resource.clone())
    });
    html! {
        p {
            "Accounts: " (if accounts.is_empty() { "-" } else { &accounts }) ". "
            "Instances: " (if instances.is_empty() { "-" } else { &instances }) ". "
            "Regions: " (if regions.is_empty() { "-" } else { &regions }) "."
        }
    }
}

/// The chain's problems, each with its object.
fn chain_problems(chain: &ChainStatement) -> Markup {
    html! {
        h2 class="unverified" { "Digest chain problems (" (chain.problems.len()) ")" }
        table {
            tr { th { "Problem" } th { "Object" } th { "Detail" } }
            @for [kind, object, detail] in &chain.problems {
                tr { td class="unverified" { (kind) } td { (object) } td { (detail) } }
            }
        }
    }
}

/// The records that did not verify, with the reason.
fn unverified_section(unverified: &[&EvidenceRow]) -> Markup {
    html! {
        h2 class="unverified" { "UNVERIFIED records (" (unverified.len()) ")" }
        table {
            tr { th { "Object" } th { "Time" } th { "Check" } th { "Reason" } }
            @for r in unverified {
                tr {
                    td { (r.key) }
                    td { (r.time) }
                    td { (r.check) }
                    td class="unverified" {
                        @if r.status == UNREADABLE { (r.message) } @else { (r.integrity.label()) }
                    }
                }
            }
        }
    }
}

/// Per check: days compliant, failures open at the end, each failure's times.
fn control_section(views: &[CheckView]) -> Markup {
    html! {
        h2 { "Control view by check" }
        table {
            tr {
                th { "Check" } th { "What it guards" } th { "Days compliant" } th { "Open at end" }
                th { "Failures: Region, first seen, time to detect, time to fix" }
            }
            @for v in views {
                tr {
                    td { (v.check) }
                    td { (CheckId::from_id(&v.check).map(CheckId::title).unwrap_or_default()) }
                    td class=(if v.days_compliant == v.days { "pass" } else { "fail" }) {
                        (v.days_compliant) " of " (v.days)
                    }
                    td class=(if v.open_at_end() == 0 { "pass" } else { "fail" }) { (v.open_at_end()) }
                    td {
                        @for f in &v.failures {
                            (f.region) ", " (f.first) ", "
                            (f.time_to_detect().map_or_else(|| "?".to_owned(), duration_text)) ", "
                            @match f.time_to_fix() {
                                Some(t) => { (duration_text(t)) }
                                None => { span class="fail" { "open" } }
                            }
                            br;
                        }
                    }
                }
            }
        }
    }
}

/// The controls each reported check supports (guidance, not certification).
fn mapping_section(views: &[CheckView]) -> Markup {
    let reported: Vec<&str> = views.iter().map(|v| v.check.as_str()).collect();
    html! {
        h2 { "Controls the checks support" }
        p {
            "Guidance, not certification: a passing check is evidence for part of a control, "
            "never the control itself (shared/data/control-mapping.toml, docs/evidence.md)."
        }
        table {
            tr { th { "Framework" } th { "Control" } th { "Checks in this report" } }
            @for c in controls() {
                @let here: Vec<&str> = c.checks.iter().map(String::as_str).filter(|x| reported.contains(x)).collect();
                @if !here.is_empty() {
                    tr { td { (c.framework) } td { (c.id) " " (c.title) } td { (here.join(", ")) } }
                }
            }
        }
    }
}

/// Failures (red bars) and resolutions (green dots) per check and Region over the period.
fn svg_timeline(spans: &[FailureSpan], from: Timestamp, to: Timestamp) -> Markup {
    const WIDTH: i64 = 1000;
    const GUTTER: i64 = 260;
    const LANE: i64 = 22;
    let start = from.0.div_euclid(DAY) * DAY;
    let end = (to.0.div_euclid(DAY) + 1) * DAY;
    let span = (end - start).max(1);
    let x = |t: i64| GUTTER + (t.clamp(start, end) - start) * (WIDTH - GUTTER - 30) / span;
    let mut lanes: BTreeMap<(&str, &str), Vec<&FailureSpan>> = BTreeMap::new();
    for s in spans {
        lanes.entry((&s.check, &s.region)).or_default().push(s);
    }
    let height = LANE * i64::try_from(lanes.len()).unwrap_or_default() + 30;
    let days = (end - start) / DAY;
    let step = (days / 10).max(1);
    html! {
        @if lanes.is_empty() {
            p { "No failure in the period." }
        } @else {
            svg xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(height) role="img" {
                title { "Failures and resolutions per check and Region" }
                @for d in (0..=days).step_by(usize::try_from(step).unwrap_or(1)) {
                    line x1=(x(start + d * DAY)) x2=(x(start + d * DAY)) y1="0" y2=(height - 20) stroke="#ddd" {}
                    text x=(x(start + d * DAY)) y=(height - 5) font-size="10" text-anchor="middle" {
                        (Timestamp(start + d * DAY).to_string().get(5..10).unwrap_or_default())
                    }
                }
                @for (i, ((check, region), lane)) in lanes.iter().enumerate() {
                    @let y = i64::try_from(i).unwrap_or_default() * LANE;
                    text x="4" y=(y + 15) font-size="12" { (check) " " (region) }
                    @for s in lane {
                        @let x2 = x(s.resolved.map_or(end, |r| r.0));
                        rect x=(x(s.first.0)) y=(y + 4) width=((x2 - x(s.first.0)).max(2)) height="14" fill="#c33" {
                            title { (s.check) " " (s.region) " from " (s.first) }
                        }
                        @if let Some(r) = s.resolved {
                            circle cx=(x(r.0)) cy=(y + 11) r="5" fill="#2a2" {
                                title { "resolved " (r) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every record in time order, with its integrity; an unverified one shows no status.
fn records_table(sorted: &[&EvidenceRow]) -> Markup {
    html! {
        h2 { "All records in time order" }
        table {
            tr {
                th { "Time" } th { "Check" } th { "Status" } th { "Region" } th { "Event" }
                th { "Outcome" } th { "Integrity" }
            }
            @for (i, r) in sorted.iter().enumerate() {
                tr {
                    td { (r.time) }
                    td { a href={ "#f" (i) } { (r.check) } }
                    @if r.verified() {
                        td class=(r.status) { (r.status) @if !r.resolves.is_empty() { " (resolution)" } }
                    } @else {
                        td class="unverified" { "UNVERIFIED" }
                    }
                    td { (r.region) }
                    td { (r.event) }
                    td { (r.outcome) }
                    td class=(if r.verified() { "verified" } else { "unverified" }) { (r.integrity.word()) }
                }
            }
        }
    }
}

/// One record's section: what, where, why, and what was done.
fn record_section(i: usize, r: &EvidenceRow) -> Markup {
    let before = r.previous_policy.as_ref().map(|before| {
        serde_json::from_str::<Value>(before)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| before.clone())
    });
    let status = if r.verified() {
        r.status.as_str()
    } else {
        "UNVERIFIED"
    };
    html! {
        h3 id={ "f" (i) } {
            (r.check) " " span class=(if r.verified() { r.status.as_str() } else { "unverified" }) { (status) }
            " in " (r.region) ", " (r.time)
        }
        p { (r.message) }
        p {
            "Severity: " (r.severity) br;
            "Resource: " (r.resource)
            @if !r.account.is_empty() { " (account " (r.account) ")" }
            br;
            @if !r.statement.is_empty() { "Statement: " (r.statement) br; }
            @if !r.event.is_empty() { "Event: " (r.event) br; }
            @if !r.actor.is_empty() { "Actor: " (r.actor) br; }
            @if !r.resolves.is_empty() { "Resolves the failure " (r.resolves) br; }
            @if !r.fingerprint.is_empty() { "Fingerprint: " (r.fingerprint) br; }
            "Object: " (r.key) " (" (r.integrity.label()) ")"
            @if !r.sha256.is_empty() { br; "SHA-256: " (r.sha256) }
            @if !r.version_id.is_empty() { br; "Version: " (r.version_id) }
            @if !r.retain_until.is_empty() { br; "Retained until: " (r.retain_until) }
        }
        @if !r.actions.is_empty() || !r.outcome.is_empty() {
            p {
                "Remediation: " (r.outcome)
                @if !r.mode.is_empty() { " (mode " (r.mode) ")" }
            }
            ul { @for a in &r.actions { li { (a) } } }
        }
        @if let Some(before) = before {
            p { "Policy before the remediation (after: the live policy, which the finding verified):" }
            pre { (before) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::report::fixtures::record;
    use crate::finding::Status;

    fn header(title: &str) -> ReportHeader {
        ReportHeader {
            title: title.to_owned(),
            scope: "2026-11-27 to 2026-11-28".to_owned(),
            from: Timestamp(1_795_737_600),
            to: Timestamp(1_795_824_000),
            generated: Timestamp(1_795_824_000),
            version: "0.1.0".to_owned(),
            chain: None,
        }
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let rows = [
            EvidenceRow::from_body(
                "k1",
                &record(Status::Fail, 1_795_774_530, "<script>alert(1)</script>"),
                Integrity::Verified,
            ),
            EvidenceRow::from_body(
                "k2",
                &record(Status::Pass, 1_795_774_000, "ok"),
                Integrity::Verified,
            ),
        ];
        let html = to_html(&rows, &header("Evidence & report"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<title>Evidence &amp; report</title>"));
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(!html.contains("https://") && !html.contains("src=") && !html.contains("<script"));
        // Records in time order: the pass (earlier) before the fail.
        let (pass, fail) = (
            html.find("class=\"pass\">pass").unwrap(),
            html.find("class=\"fail\">fail").unwrap(),
        );
        assert!(pass < fail);
    }

    #[test]
    fn an_unverified_record_is_listed_first_and_counted_nowhere() {
        let forged = EvidenceRow::from_body(
            "k-forged",
            &record(Status::Pass, 1_795_774_000, "ok"),
            Integrity::Altered,
        );
        let bare = EvidenceRow::from_body("k-bare", b"{}", Integrity::NoChecksum);
        let failure = EvidenceRow::from_body(
            "k-fail",
            &record(Status::Fail, 1_795_774_530, "m"),
            Integrity::Verified,
        );
        let html = to_html(&[forged, bare, failure], &header("t"));
        let first = html.find("UNVERIFIED records (2)").unwrap();
        assert!(
            first < html.find("Control view by check").unwrap(),
            "listed first"
        );
        assert!(html.contains("1 with a checksum that does not match, 0 with no checksum stored, 0 that do not match the signed digest chain, 1 that are not evidence records"), "{html}");
        assert!(
            html.contains("NO CHECKSUM STORED")
                || html.contains("not an idc-guard evidence record"),
            "{html}"
        );
        // The altered pass is not a pass anywhere: the failure stays open and the day failing.
        assert!(!html.contains("class=\"pass\">pass"), "{html}");
        assert!(html.contains(">open<"), "{html}");
    }

    #[test]
    fn the_report_says_what_it_is_and_each_record_its_context() {
        let rows = [
            EvidenceRow::from_body("k1", &record(Status::Fail, 2, "m"), Integrity::Verified),
            EvidenceRow::from_body("k2", b"{}", Integrity::Verified),
        ];
        let html = to_html(&rows, &header("t"));
        assert!(
            html.contains(
                "Scope: 2026-11-27 to 2026-11-28. Generated 2026-11-28T00:00:00Z by idc-guard 0.1.0."
            ),
            "{html}"
        );
        assert!(html.contains("Severity: critical"), "{html}");
        assert!(
            html.contains("Remediation: applied (mode remediate)"),
            "{html}"
        );
        assert!(html.contains("Event: PutKeyPolicy e1"), "{html}");
        // The unreadable row has no event or actor: no empty lines for them.
        assert_eq!(html.matches("Event: ").count(), 1, "{html}");
        assert_eq!(html.matches("Actor: ").count(), 1, "{html}");
    }

    /// A period with a failure that was resolved, one still open, and a forged record: the
    /// page as an auditor gets it (docs/images/evidence-report.png is its screenshot).
    pub(crate) fn sample_rows() -> Vec<EvidenceRow> {
        let mut rows = Vec::new();
        let mut add = |time: &str,
                       status: Status,
                       fingerprint: &str,
                       resolves: &str,
                       region: &str,
                       integrity: Integrity| {
            let t = Timestamp::parse(time).unwrap_or(Timestamp(0));
            let mut r = EvidenceRow::from_body(
                &format!("evidence/{time}-{fingerprint}.json"),
                &record(
                    status,
                    t.0,
                    "the management account cannot administer the key",
                ),
                integrity,
            );
            r.fingerprint = fingerprint.to_owned();
            r.resolves = resolves.to_owned();
            r.region = region.to_owned();
            r.detected = Timestamp(t.0 + 42).to_string();
            rows.push(r);
        };
        add(
            "2026-11-02T10:00:00Z",
            Status::Fail,
            "f-1",
            "",
            "eu-west-1",
            Integrity::Verified,
        );
        add(
            "2026-11-03T16:20:00Z",
            Status::Pass,
            "r-1",
            "f-1",
            "eu-west-1",
            Integrity::Verified,
        );
        add(
            "2026-11-05T08:00:00Z",
            Status::Fail,
            "f-2",
            "",
            "us-east-1",
            Integrity::Verified,
        );
        add(
            "2026-11-05T09:00:00Z",
            Status::Pass,
            "r-2",
            "f-2",
            "us-east-1",
            Integrity::Altered,
        );
        rows
    }

    #[test]
    fn report_snapshot() {
        let mut h = header("idc-guard evidence, s3://example-evidence, 2026-11-01 to 2026-11-07");
        h.scope =
            "s3://example-evidence, evidence/ keys of the days 2026-11-01 to 2026-11-07".into();
        h.from = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
        h.to = Timestamp::parse("2026-11-07T00:00:00Z").unwrap();
        h.chain = Some(ChainStatement {
            text: "NOT VERIFIED: 1 problem(s) in the chain from digest/2026/11/01/00.json to digest/2026/11/07/23.json (168 digest(s), 4 record(s))".into(),
            problems: vec![[
                "MISSING".into(),
                "evidence/2026/11/04/f-9-e9.json".into(),
                "hidden by a delete marker (its versions are still stored)".into(),
            ]],
        });
        let html = to_html(&sample_rows(), &h);
        assert!(html.contains("Digest chain problems (1)"), "{html}");
        // The forged resolution does not close the us-east-1 failure.
        assert!(html.contains("2 of 7"), "{html}");
        insta::assert_snapshot!(html);
    }
}
