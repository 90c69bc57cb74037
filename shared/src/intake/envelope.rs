//! Event intake: the EventBridge envelope around a CloudTrail record, read tolerantly.
//!
//! Real records are messier than any library type (docs/aws-behaviour.md § 4): `userIdentity` without
//! `type`, no `requestID`, `responseElements` null or absent, `policy` as a JSON string. So
//! every field but the few a guard cannot work without is optional here, and a missing one is
//! reported by its path (`detail.eventName: missing`). Domain triggers are built from a
//! [`CloudTrailEvent`] with `TryFrom`; an event a guard does not handle is a typed [`Skip`].

use std::fmt;

use serde_json::Value;

use crate::domain::time::Timestamp;

/// The `detail-type` of CloudTrail API calls on EventBridge.
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
/// The `detail-type` of records a service writes for itself (e.g. the replica Region's
/// `CreateKey`, `invokedBy: kms.amazonaws.com`). AWS does not say which of the two such KMS
/// records arrive as, so both are read.
pub const SERVICE_EVENT_DETAIL_TYPE: &str = "AWS Service Event via CloudTrail";

/// A CloudTrail record as delivered by EventBridge, with the fields the guards use.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrailEvent {
    /// The CloudTrail `eventID` (the EventBridge `id` when the record has none).
    pub event_id: String,
    /// `PutKeyPolicy`, ...
    pub event_name: String,
    /// `kms.amazonaws.com`, ...
    pub event_source: String,
    /// The Region the call was made in (`awsRegion`).
    pub region: String,
    /// `eventTime` as written.
    pub event_time_text: String,
    /// `eventTime`, when readable.
    pub event_time: Option<Timestamp>,
    /// Who made the call.
    pub actor: Actor,
    /// `requestParameters` (`Null` when absent).
    pub request: Value,
    /// `responseElements` (`Null` when absent or null).
    pub response: Value,
    /// ARNs from the record's `resources` and the envelope's `resources`.
    pub resource_arns: Vec<String>,
    /// Set when the call failed: it changed nothing.
    pub error_code: Option<String>,
    /// `requestID`: one per API call, absent from service events.
    pub request_id: Option<String>,
}

/// The change a finding is about: what the `trigger` of a finding names, and what loop
/// protection and idempotency need (who made it, and when).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The CloudTrail event id.
    pub event_id: String,
    /// The CloudTrail `eventName`.
    pub event_name: String,
    /// Who made the call.
    pub actor: Actor,
    /// When the call was made (`None` if the record's time is unreadable).
    pub time: Option<Timestamp>,
    /// The record's `eventTime` as written.
    pub time_text: String,
}

impl Change {
    /// The finding's `trigger`.
    pub fn trigger(&self) -> crate::finding::Trigger {
        crate::finding::Trigger {
            event_id: self.event_id.clone(),
            event_name: self.event_name.clone(),
            actor: self.actor.label(),
            time: self.time_text.clone(),
        }
    }
}

/// The caller of an API call, from `userIdentity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `userIdentity.type` (`AssumedRole`, `Root`, `AWSService`, ...), absent in some records.
    pub kind: Option<String>,
    /// `userIdentity.arn` (an assumed-role session ARN for roles).
    pub arn: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn`: the role behind a session.
    pub role_arn: Option<String>,
    /// `userIdentity.invokedBy` (`kms.amazonaws.com`) for calls a service made.
    pub invoked_by: Option<String>,
    /// `userIdentity.accountId`.
    pub account: Option<String>,
}

impl Actor {
    /// How to name the actor in a finding.
    pub fn label(&self) -> String {
        self.arn
            .clone()
            .or_else(|| self.role_arn.clone())
            .or_else(|| self.invoked_by.clone())
            .or_else(|| self.kind.clone())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Whether the call was made by (a session of) the IAM role `role_arn`. A session ARN
    /// `arn:P:sts::A:assumed-role/NAME/S` loses the role's path, so it is compared by account
    /// and name; role names are unique per account without regard to case.
    pub fn is_role(&self, role_arn: &str) -> bool {
        let Some((account, name)) = role_account_and_name(role_arn) else {
            return false;
        };
        let same = |a: &str, n: &str| a == account && n.eq_ignore_ascii_case(name);
        let by_issuer = self
            .role_arn
            .as_deref()
            .and_then(role_account_and_name)
            .is_some_and(|(a, n)| same(a, n));
        let by_session = self
            .arn
            .as_deref()
            .and_then(session_account_and_role)
            .is_some_and(|(a, n)| same(a, n));
        by_issuer || by_session
    }
}

/// `arn:P:SERVICE:REGION:ACCOUNT:RESOURCE` to (SERVICE, ACCOUNT, RESOURCE).
fn arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_lit, _partition, service, _region) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (account, resource) = (parts.next()?, parts.next()?);
    (arn_lit == "arn").then_some((service, account, resource))
}

/// `arn:P:iam::ACCOUNT:role/PATH/NAME` to (ACCOUNT, NAME).
fn role_account_and_name(arn: &str) -> Option<(&str, &str)> {
    let (service, account, resource) = arn_parts(arn)?;
    let path = resource.strip_prefix("role/")?;
    (service == "iam").then_some((account, path.rsplit('/').next()?))
}

/// `arn:P:sts::ACCOUNT:assumed-role/NAME/SESSION` to (ACCOUNT, NAME).
fn session_account_and_role(arn: &str) -> Option<(&str, &str)> {
    let (service, account, resource) = arn_parts(arn)?;
    let name = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    (service == "sts").then_some((account, name))
}

/// Why an event cannot be read. Names the event and the path of the bad field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event}: {place}: {message}")]
pub struct EventError {
    /// The event's id, or `(no id)`.
    pub event: String,
    /// The JSON path (`detail.eventName`).
    pub place: String,
    /// What is wrong.
    pub message: String,
}

/// Why a well-formed event is not for this guard. Not an error: the event is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a CloudTrail API call (`detail-type` is something else).
    NotCloudTrail(String),
    /// An API call this guard does not react to.
    UnhandledEvent(String),
    /// The call failed (`errorCode` set), so nothing changed.
    FailedCall(String),
    /// The call concerns another key.
    OtherKey(String),
    /// The call concerns another Identity Center instance.
    OtherInstance(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotCloudTrail(t) => write!(f, "not a CloudTrail API call (detail-type \"{t}\")"),
            Skip::UnhandledEvent(n) => write!(f, "{n} is not an event this guard reacts to"),
            Skip::FailedCall(code) => write!(f, "the call failed ({code}), so nothing changed"),
            Skip::OtherKey(k) => write!(f, "the call concerns another key ({k})"),
            Skip::OtherInstance(i) => write!(f, "the call concerns another instance ({i})"),
        }
    }
}

/// Why an event did not become a trigger: skipped, or unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Well-formed, not for us.
    Skip(Skip),
    /// Malformed.
    Malformed(EventError),
}

impl From<EventError> for Rejection {
    fn from(e: EventError) -> Rejection {
        Rejection::Malformed(e)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Skip(s) => write!(f, "skipped: {s}"),
            Rejection::Malformed(e) => write!(f, "malformed: {e}"),
        }
    }
}

fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl TryFrom<&Value> for CloudTrailEvent {
    type Error = Rejection;

    /// Reads an EventBridge event (the envelope) or a bare CloudTrail record.
    #[expect(
        clippy::too_many_lines,
        reason = "one read per CloudTrail field, each tolerant in its own documented way and naming its place when it must fail: the list is the record's schema"
    )]
    fn try_from(input: &Value) -> Result<CloudTrailEvent, Rejection> {
        let envelope_id = text(input, "id");
        let event_label = envelope_id.unwrap_or("(no id)").to_owned();
        let bad = |place: &str, message: &str| EventError {
            event: event_label.clone(),
            place: place.to_owned(),
            message: message.to_owned(),
        };
        if !input.is_object() {
            return Err(bad("(event)", "not a JSON object").into());
        }
        // An envelope has `detail`; a bare record (CloudTrail Lake, a file) is the detail.
        let (detail, prefix) = match input.get("detail") {
            Some(d) if d.is_object() => (d, "detail."),
            Some(_) => return Err(bad("detail", "not a JSON object").into()),
            None if input.get("eventName").is_some() => (input, ""),
            None => return Err(bad("detail", "missing").into()),
        };
        if let Some(t) = text(input, "detail-type")
            && t != CLOUDTRAIL_DETAIL_TYPE
            && t != SERVICE_EVENT_DETAIL_TYPE
        {
            return Err(Rejection::Skip(Skip::NotCloudTrail(t.to_owned())));
        }
        let field = |name: &str| format!("{prefix}{name}");
        let event_name = text(detail, "eventName")
            .ok_or_else(|| bad(&field("eventName"), "missing or not a string"))?;
        let event_id = text(detail, "eventID")
            .or(envelope_id)
            .ok_or_else(|| bad(&field("eventID"), "missing, and the event has no id"))?;
        let region = text(detail, "awsRegion")
            .or_else(|| text(input, "region"))
            .ok_or_else(|| bad(&field("awsRegion"), "missing, and the event has no region"))?;
        let event_time_text = text(detail, "eventTime")
            .or_else(|| text(input, "time"))
            .unwrap_or_default()
            .to_owned();
        let identity = detail.get("userIdentity").unwrap_or(&Value::Null);
        let actor = Actor {
            kind: text(identity, "type").map(str::to_owned),
            arn: text(identity, "arn").map(str::to_owned),
            role_arn: identity
                .get("sessionContext")
                .and_then(|c| c.get("sessionIssuer"))
                .and_then(|i| text(i, "arn"))
                .map(str::to_owned),
            invoked_by: text(identity, "invokedBy").map(str::to_owned),
            account: text(identity, "accountId").map(str::to_owned),
        };
        let mut resource_arns: Vec<String> = Vec::new();
        let record_arns = detail
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| text(r, "ARN").or_else(|| text(r, "arn")));
        let envelope_arns = input
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for arn in record_arns.chain(envelope_arns) {
            if !resource_arns.iter().any(|a| a == arn) {
                resource_arns.push(arn.to_owned());
            }
        }
        Ok(CloudTrailEvent {
            event_id: event_id.to_owned(),
            event_name: event_name.to_owned(),
            event_source: text(detail, "eventSource").unwrap_or_default().to_owned(),
            region: region.to_owned(),
            event_time: Timestamp::parse(&event_time_text),
            event_time_text,
            actor,
            request: detail
                .get("requestParameters")
                .cloned()
                .unwrap_or(Value::Null),
            response: detail
                .get("responseElements")
                .cloned()
                .unwrap_or(Value::Null),
            resource_arns,
            error_code: text(detail, "errorCode").map(str::to_owned),
            request_id: text(detail, "requestID").map(str::to_owned),
        })
    }
}

impl CloudTrailEvent {
    /// An error about this event at `place`.
    pub fn error(&self, place: &str, message: &str) -> EventError {
        EventError {
            event: self.event_id.clone(),
            place: place.to_owned(),
            message: message.to_owned(),
        }
    }

    /// The change this record is about.
    pub fn change(&self) -> Change {
        Change {
            event_id: self.event_id.clone(),
            event_name: self.event_name.clone(),
            actor: self.actor.clone(),
            time: self.event_time,
            time_text: self.event_time_text.clone(),
        }
    }

    /// A string member of `requestParameters`.
    pub fn request_text(&self, name: &str) -> Option<&str> {
        text(&self.request, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(detail: Value) -> Value {
        json!({"version": "0", "id": "ev-1", "detail-type": CLOUDTRAIL_DETAIL_TYPE,
               "source": "aws.kms", "account": "111122223333", "time": "2026-11-27T10:00:00Z",
               "region": "eu-west-1", "resources": [], "detail": detail})
    }

    #[test]
    fn tolerates_the_messy_fields() {
        // SynchronizeMultiRegionKey-style: no userIdentity.type, no requestID, null response.
        let e = CloudTrailEvent::try_from(&envelope(json!({
            "eventName": "PutKeyPolicy", "eventID": "ct-1", "awsRegion": "eu-west-1",
            "eventTime": "2026-11-27T10:00:00Z", "userIdentity": {"invokedBy": "kms.amazonaws.com"},
            "responseElements": null, "resources": [{"ARN": "arn:aws:kms:eu-west-1:111122223333:key/mrk-1"}]
        })))
        .unwrap();
        assert_eq!(e.event_id, "ct-1");
        assert_eq!(e.actor.label(), "kms.amazonaws.com");
        assert_eq!(e.response, Value::Null);
        assert_eq!(
            e.resource_arns,
            ["arn:aws:kms:eu-west-1:111122223333:key/mrk-1"]
        );
        assert_eq!(e.event_time, Timestamp::parse("2026-11-27T10:00:00Z"));
    }

    #[test]
    fn names_the_missing_field() {
        let err = CloudTrailEvent::try_from(&envelope(json!({"eventID": "x"}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed: event ev-1: detail.eventName: missing or not a string"
        );
        let err = CloudTrailEvent::try_from(&json!([1])).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let err = CloudTrailEvent::try_from(&json!({"id": "e", "detail": "x"})).unwrap_err();
        assert!(
            err.to_string()
                .contains("event e: detail: not a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn service_events_are_read_like_api_calls() {
        let mut v = envelope(
            json!({"eventName": "CreateKey", "eventID": "c", "awsRegion": "eu-west-1",
            "userIdentity": {"invokedBy": "kms.amazonaws.com"}}),
        );
        v["detail-type"] = json!(SERVICE_EVENT_DETAIL_TYPE);
        let e = CloudTrailEvent::try_from(&v).unwrap();
        assert_eq!(
            (e.event_name.as_str(), e.region.as_str()),
            ("CreateKey", "eu-west-1")
        );
    }

    #[test]
    fn other_detail_types_are_skipped() {
        let mut v = envelope(json!({}));
        v["detail-type"] = json!("KMS CMK Rotation");
        assert_eq!(
            CloudTrailEvent::try_from(&v).unwrap_err(),
            Rejection::Skip(Skip::NotCloudTrail("KMS CMK Rotation".into()))
        );
    }

    #[test]
    fn recognises_the_guard_role_by_issuer_or_session() {
        let role = "arn:aws:iam::111122223333:role/service/IdcGuardRemediation";
        let by_issuer = Actor {
            role_arn: Some(role.into()),
            ..Actor::default()
        };
        let by_session = Actor {
            arn: Some("arn:aws:sts::111122223333:assumed-role/idcguardremediation/s1".into()),
            ..Actor::default()
        };
        let other_account = Actor {
            arn: Some("arn:aws:sts::999999999999:assumed-role/IdcGuardRemediation/s1".into()),
            ..Actor::default()
        };
        assert!(by_issuer.is_role(role));
        assert!(by_session.is_role(role));
        assert!(!other_account.is_role(role));
        assert!(!Actor::default().is_role(role));
        assert!(!by_issuer.is_role("not-an-arn"));
    }
}
