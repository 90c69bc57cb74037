//! The key-policy guard's trigger: a KMS call that may have changed the guarded key.

use std::fmt;

use crate::domain::time::Timestamp;
use crate::intake::envelope::{CloudTrailEvent, Rejection, Skip};

/// The `eventSource` of KMS calls.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";

/// The KMS calls that can weaken the key or its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEventKind {
    /// The policy was replaced.
    PutKeyPolicy,
    /// A key was created: in a replica Region this is a replica appearing.
    CreateKey,
    /// A replica was requested (logged in the primary Region).
    ReplicateKey,
    /// Deletion was scheduled.
    ScheduleKeyDeletion,
    /// The key was disabled.
    DisableKey,
    /// Deletion was cancelled: the key is left Disabled.
    CancelKeyDeletion,
    /// The key was enabled.
    EnableKey,
    /// The primary moved to another Region.
    UpdatePrimaryRegion,
    /// A grant was created.
    CreateGrant,
    /// The waiting period ended and KMS deleted the key: a service event (`AWS Service Event
    /// via CloudTrail`, `invokedBy: AWS Internal`), with the key in `resources`.
    DeleteKey,
}

impl KeyEventKind {
    /// Every kind, for event patterns.
    pub const ALL: [KeyEventKind; 10] = [
        KeyEventKind::PutKeyPolicy,
        KeyEventKind::CreateKey,
        KeyEventKind::ReplicateKey,
        KeyEventKind::ScheduleKeyDeletion,
        KeyEventKind::DisableKey,
        KeyEventKind::CancelKeyDeletion,
        KeyEventKind::EnableKey,
        KeyEventKind::UpdatePrimaryRegion,
        KeyEventKind::CreateGrant,
        KeyEventKind::DeleteKey,
    ];

    /// The CloudTrail `eventName`.
    pub fn name(self) -> &'static str {
        match self {
            KeyEventKind::PutKeyPolicy => "PutKeyPolicy",
            KeyEventKind::CreateKey => "CreateKey",
            KeyEventKind::ReplicateKey => "ReplicateKey",
            KeyEventKind::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            KeyEventKind::DisableKey => "DisableKey",
            KeyEventKind::CancelKeyDeletion => "CancelKeyDeletion",
            KeyEventKind::EnableKey => "EnableKey",
            KeyEventKind::UpdatePrimaryRegion => "UpdatePrimaryRegion",
            KeyEventKind::CreateGrant => "CreateGrant",
            KeyEventKind::DeleteKey => "DeleteKey",
        }
    }

    fn from_name(name: &str) -> Option<KeyEventKind> {
        KeyEventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for KeyEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the event names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key id (`mrk-...` or a UUID), from an ARN or the request.
    Id(String),
    /// An alias (`alias/name`); resolved against live state, never guessed.
    Alias(String),
}

/// A KMS change that may concern the guarded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// Which call.
    pub kind: KeyEventKind,
    /// The key as the event names it.
    pub key: KeyRef,
    /// The Regions whose key (primary or replica) to re-read: the call's Region first, then
    /// the replica or new primary Region the call names.
    pub regions: Vec<String>,
    /// The CloudTrail event id.
    pub event_id: String,
    /// When the call was made (`None` if the record's time is unreadable).
    pub time: Option<Timestamp>,
    /// The record's `eventTime` as written.
    pub time_text: String,
    /// Who made the call.
    pub actor: crate::intake::envelope::Actor,
}

impl KeyEvent {
    /// The change, for findings and the guard's safety rules.
    pub fn change(&self) -> crate::intake::envelope::Change {
        crate::intake::envelope::Change {
            event_id: self.event_id.clone(),
            event_name: self.kind.name().to_owned(),
            actor: self.actor.clone(),
            time: self.time,
            time_text: self.time_text.clone(),
        }
    }

    /// Whether the event names the key with this id (a multi-Region key has one id in every
    /// Region). Aliases cannot be matched without live state and count as possibly ours.
    pub fn may_concern(&self, key_id: &str) -> bool {
        match &self.key {
            KeyRef::Id(id) => id == key_id,
            KeyRef::Alias(_) => true,
        }
    }
}

pub use crate::domain::arn::{key_id_of_arn, region_of_arn};

/// Reads the caller's `keyId` parameter: a key id, a key ARN, an alias name or an alias ARN.
fn key_ref_of_parameter(value: &str) -> KeyRef {
    if let Some(id) = key_id_of_arn(value) {
        return KeyRef::Id(id.to_owned());
    }
    match value.split_once(":alias/") {
        Some((_, name)) => KeyRef::Alias(format!("alias/{name}")),
        None if value.starts_with("alias/") => KeyRef::Alias(value.to_owned()),
        None => KeyRef::Id(value.to_owned()),
    }
}

impl TryFrom<&CloudTrailEvent> for KeyEvent {
    type Error = Rejection;

    fn try_from(e: &CloudTrailEvent) -> Result<KeyEvent, Rejection> {
        let kind = KeyEventKind::from_name(&e.event_name)
            .filter(|_| e.event_source.is_empty() || e.event_source == KMS_EVENT_SOURCE)
            .ok_or_else(|| Rejection::Skip(Skip::UnhandledEvent(e.event_name.clone())))?;
        if let Some(code) = &e.error_code {
            return Err(Rejection::Skip(Skip::FailedCall(code.clone())));
        }
        // The ARN from `resources` is authoritative; `keyId` is whatever the caller typed.
        let from_resources = e.resource_arns.iter().find_map(|a| key_id_of_arn(a));
        let metadata = ["keyMetadata", "replicaKeyMetadata"]
            .iter()
            .filter_map(|m| e.response.get(m))
            .find_map(|m| m.get("keyId").and_then(|v| v.as_str()));
        let key = match (from_resources, metadata, e.request_text("keyId")) {
            (Some(id), _, _) | (None, Some(id), _) => KeyRef::Id(id.to_owned()),
            (None, None, Some(param)) => key_ref_of_parameter(param),
            (None, None, None) => {
                return Err(e
                    .error(
                        "detail.resources",
                        &format!(
                            "{kind} names no key: no key ARN in resources, no keyMetadata in responseElements, no requestParameters.keyId"
                        ),
                    )
                    .into());
            }
        };
        let mut regions = vec![e.region.clone()];
        let other = match kind {
            KeyEventKind::ReplicateKey => e.request_text("replicaRegion"),
            KeyEventKind::UpdatePrimaryRegion => e.request_text("primaryRegion"),
            _ => None,
        };
        if let Some(r) = other
            && !regions.iter().any(|x| x == r)
        {
            regions.push(r.to_owned());
        }
        Ok(KeyEvent {
            kind,
            key,
            regions,
            event_id: e.event_id.clone(),
            time: e.event_time,
            time_text: e.event_time_text.clone(),
            actor: e.actor.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const KEY: &str = "mrk-0123456789abcdef0123456789abcdef";

    fn event(name: &str, detail_extra: Value) -> Result<KeyEvent, Rejection> {
        let mut detail = json!({"eventName": name, "eventSource": "kms.amazonaws.com",
            "eventID": "ct-1", "awsRegion": "us-east-1", "eventTime": "2026-11-27T10:00:00Z",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice"}});
        if let (Some(d), Some(extra)) = (detail.as_object_mut(), detail_extra.as_object()) {
            for (k, v) in extra {
                d.insert(k.clone(), v.clone());
            }
        }
        let envelope =
            json!({"id": "ev", "detail-type": "AWS API Call via CloudTrail", "detail": detail});
        KeyEvent::try_from(&CloudTrailEvent::try_from(&envelope)?)
    }

    #[test]
    fn put_key_policy_takes_the_key_from_resources_not_the_parameter() {
        let e = event(
            "PutKeyPolicy",
            json!({"requestParameters": {"keyId": "alias/idc", "policyName": "default", "policy": "{}"},
                   "resources": [{"ARN": format!("arn:aws:kms:us-east-1:111122223333:key/{KEY}")}]}),
        )
        .unwrap();
        assert_eq!(e.key, KeyRef::Id(KEY.into()));
        assert!(e.may_concern(KEY));
        assert!(!e.may_concern("mrk-other"));
        assert_eq!(e.regions, ["us-east-1"]);
    }

    #[test]
    fn the_key_parameter_may_be_an_id_an_arn_or_an_alias() {
        let id = |v: &str| {
            event("DisableKey", json!({"requestParameters": {"keyId": v}}))
                .unwrap()
                .key
        };
        assert_eq!(id(KEY), KeyRef::Id(KEY.into()));
        assert_eq!(
            id(&format!("arn:aws:kms:eu-west-1:111122223333:key/{KEY}")),
            KeyRef::Id(KEY.into())
        );
        assert_eq!(id("alias/idc"), KeyRef::Alias("alias/idc".into()));
        assert_eq!(
            id("arn:aws:kms:eu-west-1:111122223333:alias/idc"),
            KeyRef::Alias("alias/idc".into())
        );
    }

    #[test]
    fn replicate_and_primary_moves_name_the_second_region() {
        let e = event(
            "ReplicateKey",
            json!({"requestParameters": {"keyId": KEY, "replicaRegion": "eu-west-1"}}),
        )
        .unwrap();
        assert_eq!(e.regions, ["us-east-1", "eu-west-1"]);
        let e = event(
            "UpdatePrimaryRegion",
            json!({"requestParameters": {"keyId": KEY, "primaryRegion": "us-west-2"}}),
        )
        .unwrap();
        assert_eq!(e.regions, ["us-east-1", "us-west-2"]);
    }

    #[test]
    fn a_deleted_key_is_a_service_event_naming_the_key_in_resources_only() {
        let arn = format!("arn:aws:kms:us-west-2:111122223333:key/{KEY}");
        let envelope = json!({"id": "ev", "detail-type": "AWS Service Event via CloudTrail",
            "detail": {"eventName": "DeleteKey", "eventSource": "kms.amazonaws.com",
                "eventID": "ct-del", "awsRegion": "us-west-2", "eventTime": "2026-11-27T10:00:00Z",
                "userIdentity": {"accountId": "111122223333", "invokedBy": "AWS Internal"},
                "requestParameters": null, "responseElements": null,
                "resources": [{"ARN": arn}], "eventType": "AwsServiceEvent"}});
        let e = KeyEvent::try_from(&CloudTrailEvent::try_from(&envelope).unwrap()).unwrap();
        assert_eq!(e.kind, KeyEventKind::DeleteKey);
        assert_eq!(e.key, KeyRef::Id(KEY.into()));
        assert_eq!(e.regions, ["us-west-2"]);
        assert_eq!(e.actor.label(), "AWS Internal");
    }

    #[test]
    fn a_created_replica_is_found_in_the_response() {
        let e = event(
            "CreateKey",
            json!({"responseElements": {"keyMetadata": {"keyId": KEY, "multiRegion": true}}}),
        )
        .unwrap();
        assert_eq!(e.key, KeyRef::Id(KEY.into()));
    }

    #[test]
    fn failed_unhandled_and_keyless_events() {
        assert_eq!(
            event(
                "PutKeyPolicy",
                json!({"errorCode": "AccessDenied", "requestParameters": {"keyId": KEY}})
            ),
            Err(Rejection::Skip(Skip::FailedCall("AccessDenied".into())))
        );
        assert_eq!(
            event("Decrypt", json!({})),
            Err(Rejection::Skip(Skip::UnhandledEvent("Decrypt".into())))
        );
        let Err(Rejection::Malformed(err)) = event("EnableKey", json!({"requestParameters": null}))
        else {
            panic!("a handled event without a key is malformed")
        };
        assert_eq!(err.place, "detail.resources");
        assert!(err.message.contains("EnableKey names no key"));
    }
}
