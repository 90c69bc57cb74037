//! A finding as the findings bus carries it: the EventBridge envelope (`source` `idc-guard`,
//! `detail-type` `IdC Guard Finding`) around the finding. Read by every consumer of the bus
//! (the evidence collector, the Security Hub exporter).

use serde_json::Value;

use crate::domain::arn::account_from_arn;
use crate::domain::time::Timestamp;
use crate::finding::{FINDING_DETAIL_TYPE, FINDING_SOURCE, Finding};

/// One finding event, read from the EventBridge envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingEvent {
    /// The EventBridge event id.
    pub id: String,
    /// The event's time (now when the envelope has none or an unreadable one).
    pub time: Timestamp,
    /// The account the event came from.
    pub account: Option<String>,
    /// The finding.
    pub finding: Finding,
}

/// Why an event is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Not a finding event (another source or detail-type): skipped.
    Skip(String),
    /// A finding event that cannot be read: logged and acknowledged.
    Malformed(String),
}

impl FindingEvent {
    /// Reads an EventBridge event; `now` stands in for a missing event time.
    pub fn parse(event: &Value, now: Timestamp) -> Result<FindingEvent, Unusable> {
        let field = |name: &str| event.get(name).and_then(Value::as_str);
        let source = field("source").unwrap_or_default();
        let detail_type = field("detail-type").unwrap_or_default();
        if source != FINDING_SOURCE || detail_type != FINDING_DETAIL_TYPE {
            return Err(Unusable::Skip(format!(
                "not a finding event (source \"{source}\", detail-type \"{detail_type}\")"
            )));
        }
        let id = field("id")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Unusable::Malformed("the event has no \"id\"".to_owned()))?
            .to_owned();
        let detail = event
            .get("detail")
            .ok_or_else(|| Unusable::Malformed(format!("event {id}: no \"detail\"")))?;
        let finding: Finding = serde_json::from_value(detail.clone()).map_err(|e| {
            Unusable::Malformed(format!("event {id}: \"detail\" is not a finding: {e}"))
        })?;
        if finding.fingerprint.is_empty() {
            return Err(Unusable::Malformed(format!(
                "event {id}: the finding has no fingerprint"
            )));
        }
        Ok(FindingEvent {
            time: field("time").and_then(Timestamp::parse).unwrap_or(now),
            account: field("account")
                .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
                .or_else(|| account_from_arn(&finding.resource)),
            id,
            finding,
        })
    }
}
