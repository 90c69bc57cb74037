//! Notifications: Slack Block Kit messages for findings (pure rendering).
//!
//! [`slack_message`] turns one [`Finding`] into the JSON body of a Slack incoming-webhook post:
//! `text` (what mobile notifications show) and `blocks`. Every text is held to Slack's limits
//! ([`limits`]) and says so when it was cut. No I/O, no clock: the notifier Lambda
//! (`functions/notifier`) posts what this returns.

pub mod limits;

use std::fmt;

use serde_json::{Value, json};

use crate::domain::time::Timestamp;
use crate::finding::{Finding, Remediation, Severity, Status};
use limits::{
    MAX_FIELD_TEXT, MAX_FIELDS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, escape, fit_blocks, truncate,
};

/// What the message needs besides the finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageContext {
    /// The evidence bucket, when known: the context line then names `s3://<bucket>/<key>`.
    pub evidence_bucket: Option<String>,
    /// The id of the EventBridge event that carried the finding (the evidence record's id
    /// when the finding has no trigger).
    pub event_id: String,
    /// That event's time (the evidence record's date when the trigger has no readable time).
    pub event_time: Option<Timestamp>,
}

/// The lowest severity that is posted (`IDC_GUARD_MIN_SEVERITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinSeverity(pub Severity);

impl Default for MinSeverity {
    fn default() -> Self {
        MinSeverity(Severity::Low)
    }
}

/// A severity name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not critical, high, medium, low or info")]
pub struct UnknownSeverity(pub String);

impl MinSeverity {
    /// Reads `critical` | `high` | `medium` | `low` | `info` (any case, spaces trimmed).
    pub fn parse(text: &str) -> Result<MinSeverity, UnknownSeverity> {
        let severity = match text.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            "info" => Severity::Info,
            _ => return Err(UnknownSeverity(text.to_owned())),
        };
        Ok(MinSeverity(severity))
    }

    /// Whether `severity` is at least this severe. ([`Severity`] orders the most severe first.)
    pub fn admits(self, severity: Severity) -> bool {
        severity <= self.0
    }
}

/// What was done about a finding, in the words the message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionTaken {
    /// `remediate` mode applied the plan.
    Remediated,
    /// `dry-run` mode: the plan was made, nothing changed.
    Planned,
    /// `notify` mode, or no remediation at all: nothing changed.
    NotifyOnly,
    /// Nothing was (or could be) done automatically; a human must act.
    ManualActionRequired,
    /// The remediation was attempted and failed; a human must act.
    RemediationFailed,
}

impl ActionTaken {
    /// From the finding's `remediation.mode` and `remediation.outcome`. A manual item in the
    /// actions ("manual action required: ...") wins over everything but `applied`.
    pub fn of(remediation: Option<&Remediation>) -> ActionTaken {
        let Some(r) = remediation else {
            return ActionTaken::NotifyOnly;
        };
        let manual = r
            .actions
            .iter()
            .any(|a| a.to_ascii_lowercase().contains("manual action required"));
        use crate::config::Mode;
        use crate::finding::RemediationOutcome as O;
        match (r.outcome, r.mode) {
            (O::Applied, _) => ActionTaken::Remediated,
            (O::Failed, _) => ActionTaken::RemediationFailed,
            _ if manual => ActionTaken::ManualActionRequired,
            (O::Planned, _) | (O::Skipped, Mode::DryRun) => ActionTaken::Planned,
            (O::Skipped, Mode::Notify) => ActionTaken::NotifyOnly,
            // remediate mode that did not remediate (loop protection, circuit breaker, a
            // broken state table, nothing automatic to do).
            (O::Skipped, Mode::Remediate) => ActionTaken::ManualActionRequired,
        }
    }
}

impl fmt::Display for ActionTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionTaken::Remediated => "Remediated",
            ActionTaken::Planned => "Planned (dry-run): nothing was changed",
            ActionTaken::NotifyOnly => "Notify only: nothing was changed",
            ActionTaken::ManualActionRequired => "Manual action required",
            ActionTaken::RemediationFailed => "Remediation failed: manual action required",
        })
    }
}

/// Where the evidence collector stores the finding's record:
/// `evidence/YYYY/MM/DD/<fingerprint>-<event id>.json`, dated by the trigger's time (UTC).
/// The key is [`crate::evidence::evidence_key`]'s, so the message and the collector agree;
/// `None` when neither the trigger nor the carrying event has a readable time.
pub fn evidence_key(finding: &Finding, ctx: &MessageContext) -> Option<String> {
    let trigger_time = finding
        .trigger
        .as_ref()
        .and_then(|t| Timestamp::parse(&t.time));
    let time = trigger_time.or(ctx.event_time)?;
    Some(crate::evidence::evidence_key(finding, &ctx.event_id, time))
}

fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFO",
    }
}

fn severity_icon(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":rotating_light:",
        Severity::High => ":red_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::Low => ":large_yellow_circle:",
        Severity::Info => ":information_source:",
    }
}

/// The account id in an ARN (`arn:aws:kms:<region>:<account>:key/...`), if it has one.
fn account_of(resource: &str) -> Option<&str> {
    resource
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty() && resource.starts_with("arn:"))
}

fn mrkdwn(text: &str, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": truncate(text, max)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text, MAX_SECTION_TEXT)})
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": true}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [mrkdwn(text, MAX_SECTION_TEXT)]})
}

/// `*label*\nvalue`, the value escaped, as a section field.
fn field(label: &str, value: &str) -> Value {
    mrkdwn(&format!("*{label}*\n{}", escape(value)), MAX_FIELD_TEXT)
}

fn what_drifted(f: &Finding) -> String {
    let verb = match f.status {
        Status::Fail => "failed",
        Status::Warn => "needs attention",
        Status::Error => "could not be checked",
        Status::Pass => "passes again",
    };
    format!("{} {verb} in {}", f.check, f.region)
}

fn context_line(f: &Finding, ctx: &MessageContext) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &f.trigger {
        parts.push(format!("Event `{}`", escape(&t.event_id)));
    }
    match (evidence_key(f, ctx), &ctx.evidence_bucket) {
        (Some(key), Some(bucket)) => {
            parts.push(format!(
                "Evidence `s3://{}/{}`",
                escape(bucket),
                escape(&key)
            ));
        }
        (Some(key), None) => parts.push(format!("Evidence `{}`", escape(&key))),
        (None, _) => {}
    }
    parts.push(format!("Fingerprint `{}`", escape(&f.fingerprint)));
    if let Some(failure) = &f.resolves {
        parts.push(format!("Resolves `{}`", escape(failure)));
    }
    parts.join("  |  ")
}

/// The Slack incoming-webhook payload for `finding`: `text` for notifications and `blocks`.
/// A passing finding gets a short "resolved" message.
pub fn slack_message(finding: &Finding, ctx: &MessageContext) -> Value {
    let f = finding;
    let sev = severity_label(f.severity);
    if f.status == Status::Pass {
        let title = format!(":white_check_mark: Resolved: {}", what_drifted(f));
        let mut body = format!("*{}* passes again.", f.check);
        if !f.message.is_empty() {
            body.push('\n');
            body.push_str(&escape(&f.message));
        }
        let blocks = vec![
            header(&title),
            section(&body),
            json!({"type": "section", "fields": [field("Resource", &f.resource), field("Region", &f.region)]}),
            context(&context_line(f, ctx)),
        ];
        return json!({
            "text": truncate(&escape(&format!("Resolved: {}: {}", what_drifted(f), f.resource)), MAX_SECTION_TEXT),
            "blocks": fit_blocks(blocks),
        });
    }

    let title = format!("{} {sev}: {}", severity_icon(f.severity), what_drifted(f));
    let mut blocks = vec![header(&title)];

    // What is wrong: the check, what it guards, the finding's message and statement.
    let mut what = format!("*{}* ({})", f.check, f.check.title());
    what.push('\n');
    what.push_str(&escape(&f.message));
    blocks.push(section(&what));

    let na = "n/a";
    let t = f.trigger.as_ref();
    let mut fields = vec![
        field("Account", account_of(&f.resource).unwrap_or(na)),
        field("Region", &f.region),
        field("Resource", &f.resource),
        field("Event", t.map_or(na, |t| t.event_name.as_str())),
        field("Actor", t.map_or(na, |t| t.actor.as_str())),
        field("Time", t.map_or(na, |t| t.time.as_str())),
    ];
    fields.truncate(MAX_FIELDS);
    blocks.push(json!({"type": "section", "fields": fields}));

    if let Some(statement) = &f.statement {
        blocks.push(section(&format!("*Statement*\n{}", escape(statement))));
    }

    let action = ActionTaken::of(f.remediation.as_ref());
    if let Some(r) = f.remediation.as_ref().filter(|r| !r.actions.is_empty()) {
        let heading = match action {
            ActionTaken::Remediated => "Changes made",
            ActionTaken::RemediationFailed => "Changes attempted",
            _ => "Changes needed",
        };
        let list: Vec<String> = r
            .actions
            .iter()
            .map(|a| format!("• {}", escape(a)))
            .collect();
        blocks.push(section(&format!("*{heading}*\n{}", list.join("\n"))));
    }
    let mode = f
        .remediation
        .as_ref()
        .map_or(String::new(), |r| format!(" (mode `{}`)", r.mode));
    blocks.push(section(&format!("*Action taken:* {action}{mode}")));
    blocks.push(context(&context_line(f, ctx)));

    let text = format!("[{sev}] {}: {}", what_drifted(f), f.message);
    json!({
        "text": truncate(&escape(&text), MAX_SECTION_TEXT),
        "blocks": fit_blocks(blocks),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Trigger;

    fn finding() -> Finding {
        Finding {
            check: crate::finding::CheckId::KpOrgViaService,
            status: Status::Fail,
            severity: Severity::High,
            region: "us-west-2".into(),
            resource: "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
                .into(),
            message: "org principals cannot Decrypt via sso.us-west-2.amazonaws.com: statement AllowOrgPrincipalsViaService is missing".into(),
            statement: Some("AllowOrgPrincipalsViaService (index 3)".into()),
            fingerprint: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            trigger: Some(Trigger {
                event_id: "8d2c7a4e-1111-2222-3333-444455556666".into(),
                event_name: "PutKeyPolicy".into(),
                actor: "arn:aws:sts::111122223333:assumed-role/Admin/alice".into(),
                time: "2026-11-27T10:15:30Z".into(),
            }),
            remediation: Some(Remediation {
                mode: crate::config::Mode::Remediate,
                actions: vec!["kms:PutKeyPolicy in us-west-2: add model statement AllowOrgPrincipalsViaService".into()],
                outcome: crate::finding::RemediationOutcome::Applied,
                previous_policy: Some("{\"Version\":\"2012-10-17\"}".into()),
            }),
            resolves: None,
        }
    }

    fn blocks(v: &Value) -> &Vec<Value> {
        v["blocks"].as_array().unwrap()
    }

    #[test]
    fn snapshot_of_a_remediated_finding() {
        let ctx = MessageContext {
            evidence_bucket: Some("idc-guard-evidence-111122223333".into()),
            ..MessageContext::default()
        };
        insta::assert_json_snapshot!(slack_message(&finding(), &ctx));
    }

    #[test]
    fn the_message_carries_every_field_and_the_evidence_location() {
        let msg = slack_message(&finding(), &MessageContext::default());
        let all = msg.to_string();
        for needle in [
            "111122223333",
            "us-west-2",
            "PutKeyPolicy",
            "assumed-role/Admin/alice",
            "2026-11-27T10:15:30Z",
            "AllowOrgPrincipalsViaService (index 3)",
            "add model statement AllowOrgPrincipalsViaService",
            "*Action taken:* Remediated",
            "evidence/2026/11/27/0f1e2d3c4b5a69788796a5b4c3d2e1f0-8d2c7a4e-1111-2222-3333-444455556666.json",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
        assert!(!all.contains("s3://"), "no bucket configured: {all}");
        assert!(
            msg["text"]
                .as_str()
                .unwrap()
                .starts_with("[HIGH] KP-ORG-VIA-SERVICE failed")
        );
        assert_eq!(blocks(&msg)[0]["type"], "header");
    }

    #[test]
    fn evidence_key_is_dated_by_the_trigger_in_utc() {
        let mut f = finding();
        let mut ctx = MessageContext {
            event_id: "eb-9".into(),
            ..MessageContext::default()
        };
        f.trigger.as_mut().unwrap().time = "2026-12-31T23:30:00-02:00".into();
        assert_eq!(
            evidence_key(&f, &ctx).unwrap(),
            "evidence/2027/01/01/0f1e2d3c4b5a69788796a5b4c3d2e1f0-8d2c7a4e-1111-2222-3333-444455556666.json"
        );
        f.trigger.as_mut().unwrap().time = "yesterday".into();
        assert_eq!(evidence_key(&f, &ctx), None);
        // Without a trigger: the carrying event's id and time.
        f.trigger = None;
        assert_eq!(evidence_key(&f, &ctx), None);
        ctx.event_time = Timestamp::parse("2026-11-28T00:00:01Z");
        assert_eq!(
            evidence_key(&f, &ctx).unwrap(),
            "evidence/2026/11/28/0f1e2d3c4b5a69788796a5b4c3d2e1f0-eb-9.json"
        );
    }

    #[test]
    fn action_taken_follows_mode_and_outcome() {
        // Mode and outcome as the finding's JSON spells them.
        let r = |mode: &str, outcome: &str, actions: &[&str]| Remediation {
            mode: serde_json::from_value(json!(mode)).unwrap(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            outcome: serde_json::from_value(json!(outcome)).unwrap(),
            previous_policy: None,
        };
        let cases = [
            (r("remediate", "applied", &[]), ActionTaken::Remediated),
            (r("dry-run", "planned", &["x"]), ActionTaken::Planned),
            (r("notify", "skipped", &["x"]), ActionTaken::NotifyOnly),
            (
                r("remediate", "skipped", &["x"]),
                ActionTaken::ManualActionRequired,
            ),
            (
                r("remediate", "failed", &["x"]),
                ActionTaken::RemediationFailed,
            ),
            (
                r(
                    "notify",
                    "skipped",
                    &["manual action required: a Deny blocks it"],
                ),
                ActionTaken::ManualActionRequired,
            ),
        ];
        for (rem, want) in cases {
            assert_eq!(ActionTaken::of(Some(&rem)), want, "{rem:?}");
        }
        // An outcome the guards do not write is refused when the finding is read, not guessed.
        assert!(
            serde_json::from_value::<crate::finding::RemediationOutcome>(json!("whatever"))
                .is_err()
        );
        assert_eq!(ActionTaken::of(None), ActionTaken::NotifyOnly);
    }

    #[test]
    fn a_pass_is_a_short_resolved_message() {
        let mut f = finding();
        f.status = Status::Pass;
        f.remediation = None;
        let msg = slack_message(&f, &MessageContext::default());
        assert!(
            msg["text"]
                .as_str()
                .unwrap()
                .starts_with("Resolved: KP-ORG-VIA-SERVICE passes again in us-west-2")
        );
        assert!(blocks(&msg).len() <= 4);
        assert!(!msg.to_string().contains("Action taken"));
        // A resolution names the failure it ends.
        f.resolves = Some("0123abcd".into());
        let msg = slack_message(&f, &MessageContext::default());
        assert!(msg.to_string().contains("Resolves `0123abcd`"), "{msg}");
    }

    /// Every check's failure names what the check guards (IDP-CERTIFICATE and SWEEP-SUMMARY
    /// went out without it while the titles lived in a table here).
    #[test]
    fn every_check_is_shown_with_its_title() {
        for check in crate::finding::CheckId::ALL {
            let mut f = finding();
            f.check = check;
            let msg = slack_message(&f, &MessageContext::default());
            let text = msg.to_string();
            assert!(
                text.contains(&format!("*{check}* ({})", check.title())),
                "{check}: {text}"
            );
        }
    }

    #[test]
    fn long_texts_are_cut_to_slacks_limits_with_a_note() {
        let mut f = finding();
        f.message = "x".repeat(10_000);
        f.region = "r".repeat(400);
        f.remediation.as_mut().unwrap().actions = (0..500)
            .map(|i| format!("action {i} {}", "y".repeat(50)))
            .collect();
        let msg = slack_message(&f, &MessageContext::default());
        let bs = blocks(&msg);
        assert!(bs.len() <= limits::MAX_BLOCKS);
        let header = bs[0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= MAX_HEADER_TEXT);
        assert!(header.ends_with(limits::TRUNCATED));
        for b in bs {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION_TEXT);
            }
            for field in b["fields"].as_array().into_iter().flatten() {
                assert!(field["text"].as_str().unwrap().chars().count() <= MAX_FIELD_TEXT);
            }
        }
        let changes = bs
            .iter()
            .find(|b| {
                b["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("*Changes made*"))
            })
            .unwrap();
        assert!(
            changes["text"]["text"]
                .as_str()
                .unwrap()
                .ends_with(limits::TRUNCATED)
        );
        assert!(msg["text"].as_str().unwrap().ends_with(limits::TRUNCATED));
    }

    #[test]
    fn user_text_is_escaped() {
        let mut f = finding();
        f.message = "see <!channel> & <https://evil>".into();
        let all = slack_message(&f, &MessageContext::default()).to_string();
        assert!(!all.contains("<!channel>"), "{all}");
        assert!(all.contains("&lt;!channel&gt; &amp; &lt;https://evil&gt;"));
    }

    #[test]
    fn min_severity_parses_and_admits() {
        assert_eq!(MinSeverity::default(), MinSeverity(Severity::Low));
        let high = MinSeverity::parse(" High ").unwrap();
        assert!(high.admits(Severity::Critical));
        assert!(high.admits(Severity::High));
        assert!(!high.admits(Severity::Medium));
        assert!(!MinSeverity::default().admits(Severity::Info));
        assert!(MinSeverity::parse("info").unwrap().admits(Severity::Info));
        let err = MinSeverity::parse("urgent").unwrap_err();
        assert!(err.to_string().contains("\"urgent\""), "{err}");
    }

    #[test]
    fn account_comes_from_the_arn() {
        assert_eq!(
            account_of("arn:aws:kms:us-east-1:111122223333:key/x"),
            Some("111122223333")
        );
        assert_eq!(account_of("arn:aws:sso:::instance/ssoins-1"), None);
        assert_eq!(account_of("not:an:arn:at:all"), None);
    }
}
