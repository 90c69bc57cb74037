//! Reports over evidence records for auditors: the period's days as key prefixes, a row per
//! record, CSV, and one self-contained HTML page (no scripts, no external resources) that
//! opens offline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::domain::time::Timestamp;

/// One evidence record, flattened for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRow {
    /// The object key.
    pub key: String,
    /// When the finding was made (RFC 3339).
    pub time: String,
    /// The check id.
    pub check: String,
    /// pass | fail | warn | error.
    pub status: String,
    /// critical | high | medium | low | info.
    pub severity: String,
    /// The Region.
    pub region: String,
    /// The resource (key ARN).
    pub resource: String,
    /// The triggering event's name and id, when there was one.
    pub event: String,
    /// Who made the change.
    pub actor: String,
    /// The finding's message.
    pub message: String,
    /// The remediation outcome (applied, planned, skipped, failed), if any.
    pub outcome: String,
    /// The remediation's actions, in words.
    pub actions: Vec<String>,
    /// The policy the remediation replaced, when it wrote one.
    pub previous_policy: Option<String>,
    /// Whether the object's checksum matched when it was read.
    pub intact: bool,
}

fn text(v: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl EvidenceRow {
    /// Reads a record written by the evidence collector. `None` when `record` is not one.
    pub fn from_record(key: &str, record: &Value, intact: bool) -> Option<EvidenceRow> {
        if record.get("class_uid").and_then(Value::as_u64) != Some(u64::from(super::CLASS_UID)) {
            return None;
        }
        let u = record.get("unmapped").unwrap_or(&Value::Null);
        let time = record
            .get("time")
            .and_then(Value::as_i64)
            .map(|ms| Timestamp(ms.div_euclid(1000)).to_string())
            .unwrap_or_default();
        let trigger_name = text(u, &["trigger", "event_name"]);
        let trigger_id = text(u, &["trigger", "event_id"]);
        let remediation = u.get("remediation").unwrap_or(&Value::Null);
        Some(EvidenceRow {
            key: key.to_owned(),
            time,
            check: text(record, &["compliance", "control"]),
            status: text(u, &["status"]),
            severity: text(u, &["severity"]),
            region: text(record, &["cloud", "region"]),
            resource: record
                .get("resources")
                .and_then(|r| r.get(0))
                .map(|r| text(r, &["uid"]))
                .unwrap_or_default(),
            event: if trigger_name.is_empty() {
                String::new()
            } else {
                format!("{trigger_name} {trigger_id}")
            },
            actor: text(u, &["trigger", "actor"]),
            message: text(record, &["message"]),
            outcome: text(remediation, &["outcome"]),
            actions: remediation
                .get("actions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            previous_policy: remediation
                .get("previous_policy")
                .and_then(Value::as_str)
                .map(str::to_owned),
            intact,
        })
    }
}

/// A period the evidence cannot be read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// `to` is before `from`.
    #[error("the period ends before it starts")]
    Reversed,
    /// Over a year (the listing is bounded).
    #[error("the period is longer than 366 days; export it in parts")]
    TooLong,
}

/// The key prefixes of the days from `from` to `to` (inclusive, at most 366 days), in order.
pub fn day_prefixes(from: Timestamp, to: Timestamp) -> Result<Vec<String>, PeriodError> {
    let (first, last) = (from.0.div_euclid(86_400), to.0.div_euclid(86_400));
    if last < first {
        return Err(PeriodError::Reversed);
    }
    if last - first > 365 {
        return Err(PeriodError::TooLong);
    }
    Ok((first..=last)
        .map(|day| {
            let date = Timestamp(day * 86_400).to_string();
            let ymd = date.get(..10).unwrap_or_default().replace('-', "/");
            format!("{}{ymd}/", super::KEY_PREFIX)
        })
        .collect())
}

fn csv_field(s: &str) -> String {
    // RFC 4180; a leading =, +, -, @, tab or carriage return is quoted with a ' so
    // spreadsheets do not run it (OWASP's CSV injection list: a tab or CR can precede a formula).
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The rows as CSV (RFC 4180), one line per record.
pub fn to_csv(rows: &[EvidenceRow]) -> String {
    let mut out = String::from(
        "time,check,status,severity,region,resource,event,actor,outcome,actions,intact,key,message\r\n",
    );
    for r in rows {
        let fields = [
            r.time.as_str(),
            &r.check,
            &r.status,
            &r.severity,
            &r.region,
            &r.resource,
            &r.event,
            &r.actor,
            &r.outcome,
            &r.actions.join("; "),
            if r.intact { "yes" } else { "NO" },
            &r.key,
            &r.message,
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One self-contained HTML report: a summary by check and Region, the timeline, and each
/// finding with its remediation and the policy it replaced.
pub fn to_html(rows: &[EvidenceRow], title: &str) -> String {
    let mut sorted: Vec<&EvidenceRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.time, &a.key).cmp(&(&b.time, &b.key)));
    let mut summary: BTreeMap<(&str, &str), BTreeMap<&str, usize>> = BTreeMap::new();
    for r in &sorted {
        *summary
            .entry((&r.check, &r.region))
            .or_default()
            .entry(&r.status)
            .or_default() += 1;
    }
    let altered = rows.iter().filter(|r| !r.intact).count();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}}.fail,.error{{color:#a00}}.warn{{color:#a60}}.pass{{color:#060}}pre{{white-space:pre-wrap;background:#f4f4f4;padding:8px}}</style></head><body>\n<h1>{t}</h1>\n<p>{n} record(s); {altered} with a checksum that does not match.</p>\n",
        t = html_escape(title),
        n = rows.len()
    );
    h.push_str("<h2>Summary by check and Region</h2>\n<table><tr><th>Check</th><th>Region</th><th>Results</th></tr>\n");
    for ((check, region), counts) in &summary {
        let results: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(check),
            html_escape(region),
            html_escape(&results.join(", "))
        );
    }
    h.push_str("</table>\n<h2>Timeline</h2>\n<table><tr><th>Time</th><th>Check</th><th>Status</th><th>Region</th><th>Event</th><th>Outcome</th></tr>\n");
    for (i, r) in sorted.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><a href=\"#f{i}\">{}</a></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&r.time),
            html_escape(&r.check),
            html_escape(&r.status),
            html_escape(&r.status),
            html_escape(&r.region),
            html_escape(&r.event),
            html_escape(&r.outcome)
        );
    }
    h.push_str("</table>\n<h2>Findings</h2>\n");
    for (i, r) in sorted.iter().enumerate() {
        let _ = write!(
            h,
            "<h3 id=\"f{i}\">{} <span class=\"{}\">{}</span> in {}, {}</h3>\n<p>{}</p>\n<p>Resource: {}<br>Event: {}<br>Actor: {}<br>Object: {} ({})</p>\n",
            html_escape(&r.check),
            html_escape(&r.status),
            html_escape(&r.status),
            html_escape(&r.region),
            html_escape(&r.time),
            html_escape(&r.message),
            html_escape(&r.resource),
            html_escape(&r.event),
            html_escape(&r.actor),
            html_escape(&r.key),
            if r.intact {
                "checksum verified"
            } else {
                "CHECKSUM DOES NOT MATCH"
            }
        );
        if !r.actions.is_empty() || !r.outcome.is_empty() {
            let _ = writeln!(h, "<p>Remediation: {}</p><ul>", html_escape(&r.outcome));
            for a in &r.actions {
                let _ = writeln!(h, "<li>{}</li>", html_escape(a));
            }
            h.push_str("</ul>\n");
        }
        if let Some(before) = &r.previous_policy {
            let pretty = serde_json::from_str::<Value>(before)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| before.clone());
            let _ = writeln!(
                h,
                "<p>Policy before the remediation (after: the live policy, which the finding verified):</p><pre>{}</pre>",
                html_escape(&pretty)
            );
        }
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(status: &str, time_ms: i64, message: &str) -> Value {
        json!({"class_uid": 2003, "time": time_ms, "message": message,
            "compliance": {"control": "KP-ADMIN"}, "cloud": {"region": "eu-west-1"},
            "resources": [{"uid": "arn:aws:kms:eu-west-1:111122223333:key/mrk-1"}],
            "unmapped": {"status": status, "severity": "critical",
                "trigger": {"event_name": "PutKeyPolicy", "event_id": "e1", "actor": "arn:aws:iam::1:role/A"},
                "remediation": {"outcome": "applied", "actions": ["kms:PutKeyPolicy in eu-west-1"],
                    "previous_policy": "{\"Statement\":[]}"}}})
    }

    #[test]
    fn rows_from_records() {
        let r =
            EvidenceRow::from_record("k", &record("fail", 1_795_774_530_000, "m"), true).unwrap();
        assert_eq!(r.time, "2026-11-27T10:15:30Z");
        assert_eq!((r.check.as_str(), r.status.as_str()), ("KP-ADMIN", "fail"));
        assert_eq!(r.event, "PutKeyPolicy e1");
        assert_eq!(r.previous_policy.as_deref(), Some("{\"Statement\":[]}"));
        assert_eq!(
            EvidenceRow::from_record("k", &json!({"class_uid": 1}), true),
            None
        );
    }

    #[test]
    fn days_of_a_period() {
        let d = |s: &str| Timestamp::parse(s).unwrap();
        assert_eq!(
            day_prefixes(d("2026-11-30"), d("2026-12-01T23:00:00Z")).unwrap(),
            ["evidence/2026/11/30/", "evidence/2026/12/01/"]
        );
        assert_eq!(
            day_prefixes(d("2026-12-02"), d("2026-12-01")),
            Err(PeriodError::Reversed)
        );
        assert_eq!(
            day_prefixes(d("2025-01-01"), d("2026-12-01")),
            Err(PeriodError::TooLong)
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut r =
            EvidenceRow::from_record("k", &record("fail", 0, "a, \"b\"\nc"), false).unwrap();
        r.actor = "=HYPERLINK(\"x\")".into();
        let csv = to_csv(&[r]);
        let line = csv.lines().nth(1).unwrap();
        assert!(csv.contains("\"a, \"\"b\"\"\nc\""), "{csv}");
        assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
        assert!(line.contains(",NO,"), "{line}");
        for lead in ["\t=1+1", "\r=1+1", "+1", "-1", "@SUM(A1)"] {
            assert!(
                csv_field(lead).trim_start_matches('"').starts_with('\''),
                "{lead:?} is not defused: {}",
                csv_field(lead)
            );
        }
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let rows = [
            EvidenceRow::from_record(
                "k1",
                &record("fail", 2_000, "<script>alert(1)</script>"),
                true,
            )
            .unwrap(),
            EvidenceRow::from_record("k2", &record("pass", 1_000, "ok"), false).unwrap(),
        ];
        let html = to_html(&rows, "Evidence & report");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<title>Evidence &amp; report</title>"));
        assert!(
            html.contains("1 fail, 1 pass"),
            "summary by check and Region"
        );
        assert!(html.contains("1 with a checksum that does not match"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
        // The timeline is in time order: the pass (t=1 s) before the fail (t=2 s).
        let (pass, fail) = (
            html.find("class=\"pass\">pass").unwrap(),
            html.find("class=\"fail\">fail").unwrap(),
        );
        assert!(pass < fail);
    }
}
