//! The Identity Center triggers: Region and encryption changes of the instance (region-guard)
//! and identity-source / external-IdP changes (idp-guard), read from CloudTrail records.
//!
//! AWS has not published sample records for these calls (docs/aws-behaviour.md § 4): the fields read here
//! are the documented request members in CloudTrail's camelCase (`instanceArn`, `regionName`),
//! all optional but the Region an add or remove names. The event only says what to re-read.

use std::fmt;

use crate::intake::envelope::{Change, CloudTrailEvent, Rejection, Skip};

/// The `eventSource` of Identity Center (sso-admin) calls.
pub const SSO_EVENT_SOURCE: &str = "sso.amazonaws.com";
/// The `eventSource` of the identity-source calls (external IdP configuration).
pub const SSO_DIRECTORY_EVENT_SOURCE: &str = "sso-directory.amazonaws.com";

/// An instance-level change region-guard reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceEventKind {
    /// A Region is being added (ADDING, then ACTIVE).
    AddRegion,
    /// A Region is being removed.
    RemoveRegion,
    /// The instance changed, e.g. its encryption configuration.
    UpdateInstance,
}

impl InstanceEventKind {
    /// Every kind, for event patterns.
    pub const ALL: [InstanceEventKind; 3] = [
        InstanceEventKind::AddRegion,
        InstanceEventKind::RemoveRegion,
        InstanceEventKind::UpdateInstance,
    ];

    /// The CloudTrail `eventName`.
    pub fn name(self) -> &'static str {
        match self {
            InstanceEventKind::AddRegion => "AddRegion",
            InstanceEventKind::RemoveRegion => "RemoveRegion",
            InstanceEventKind::UpdateInstance => "UpdateInstance",
        }
    }
}

/// An identity-source change idp-guard reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityEventKind {
    /// A directory (Active Directory) became the identity source.
    AssociateDirectory,
    /// The directory was disassociated (back to the Identity Center directory).
    DisassociateDirectory,
    /// An external IdP was configured.
    CreateExternalIdp,
    /// The external IdP's configuration changed (metadata, certificate).
    UpdateExternalIdp,
    /// The external IdP configuration was deleted.
    DeleteExternalIdp,
    /// The external IdP was enabled.
    EnableExternalIdp,
    /// The external IdP was disabled.
    DisableExternalIdp,
}

impl IdentityEventKind {
    /// Every kind, for event patterns.
    pub const ALL: [IdentityEventKind; 7] = [
        IdentityEventKind::AssociateDirectory,
        IdentityEventKind::DisassociateDirectory,
        IdentityEventKind::CreateExternalIdp,
        IdentityEventKind::UpdateExternalIdp,
        IdentityEventKind::DeleteExternalIdp,
        IdentityEventKind::EnableExternalIdp,
        IdentityEventKind::DisableExternalIdp,
    ];

    /// The CloudTrail `eventName`.
    pub fn name(self) -> &'static str {
        match self {
            IdentityEventKind::AssociateDirectory => "AssociateDirectory",
            IdentityEventKind::DisassociateDirectory => "DisassociateDirectory",
            IdentityEventKind::CreateExternalIdp => "CreateExternalIdPConfigurationForDirectory",
            IdentityEventKind::UpdateExternalIdp => "UpdateExternalIdPConfigurationForDirectory",
            IdentityEventKind::DeleteExternalIdp => "DeleteExternalIdPConfigurationForDirectory",
            IdentityEventKind::EnableExternalIdp => "EnableExternalIdPConfigurationForDirectory",
            IdentityEventKind::DisableExternalIdp => "DisableExternalIdPConfigurationForDirectory",
        }
    }

    /// The `eventSource` the call is logged under.
    pub fn event_source(self) -> &'static str {
        match self {
            IdentityEventKind::AssociateDirectory | IdentityEventKind::DisassociateDirectory => {
                SSO_EVENT_SOURCE
            }
            _ => SSO_DIRECTORY_EVENT_SOURCE,
        }
    }

    /// Whether the call leaves an external IdP in use whose ACS URLs matter.
    pub fn leaves_external_idp(self) -> bool {
        matches!(
            self,
            IdentityEventKind::CreateExternalIdp
                | IdentityEventKind::UpdateExternalIdp
                | IdentityEventKind::EnableExternalIdp
        )
    }
}

impl fmt::Display for InstanceEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for IdentityEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Region or encryption change of the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceEvent {
    /// Which call.
    pub kind: InstanceEventKind,
    /// The change (id, actor, time).
    pub change: Change,
    /// The Region whose copy of the event this is (the change arrives in every Region).
    pub delivered_in: String,
    /// `requestParameters.instanceArn`, when the record carries it.
    pub instance_arn: Option<String>,
    /// `requestParameters.regionName`: the Region added or removed.
    pub target_region: Option<String>,
}

/// An identity-source change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityEvent {
    /// Which call.
    pub kind: IdentityEventKind,
    /// The change (id, actor, time).
    pub change: Change,
    /// `requestParameters.instanceArn`, when the record carries it.
    pub instance_arn: Option<String>,
    /// `requestParameters.directoryId`, when the record carries it.
    pub directory_id: Option<String>,
}

fn failed_call(e: &CloudTrailEvent) -> Result<(), Rejection> {
    match &e.error_code {
        Some(code) => Err(Rejection::Skip(Skip::FailedCall(code.clone()))),
        None => Ok(()),
    }
}

/// Whether the record comes from `source` (tolerating records without `eventSource`).
fn from_source(e: &CloudTrailEvent, source: &str) -> bool {
    e.event_source.is_empty() || e.event_source == source
}

impl TryFrom<&CloudTrailEvent> for InstanceEvent {
    type Error = Rejection;

    fn try_from(e: &CloudTrailEvent) -> Result<InstanceEvent, Rejection> {
        let kind = InstanceEventKind::ALL
            .into_iter()
            .find(|k| k.name() == e.event_name && from_source(e, SSO_EVENT_SOURCE))
            .ok_or_else(|| Rejection::Skip(Skip::UnhandledEvent(e.event_name.clone())))?;
        failed_call(e)?;
        let target_region = e.request_text("regionName").map(str::to_owned);
        if kind != InstanceEventKind::UpdateInstance {
            match &target_region {
                None => {
                    return Err(e
                        .error(
                            "detail.requestParameters.regionName",
                            &format!("{kind} names no Region (missing or not a string)"),
                        )
                        .into());
                }
                Some(r) if !crate::domain::regions::is_region_name(r) => {
                    return Err(e
                        .error(
                            "detail.requestParameters.regionName",
                            &format!("\"{r}\" is not a Region code"),
                        )
                        .into());
                }
                Some(_) => {}
            }
        }
        Ok(InstanceEvent {
            kind,
            change: e.change(),
            delivered_in: e.region.clone(),
            instance_arn: e.request_text("instanceArn").map(str::to_owned),
            target_region,
        })
    }
}

impl TryFrom<&CloudTrailEvent> for IdentityEvent {
    type Error = Rejection;

    fn try_from(e: &CloudTrailEvent) -> Result<IdentityEvent, Rejection> {
        let kind = IdentityEventKind::ALL
            .into_iter()
            .find(|k| k.name() == e.event_name && from_source(e, k.event_source()))
            .ok_or_else(|| Rejection::Skip(Skip::UnhandledEvent(e.event_name.clone())))?;
        failed_call(e)?;
        Ok(IdentityEvent {
            kind,
            change: e.change(),
            instance_arn: e.request_text("instanceArn").map(str::to_owned),
            directory_id: e.request_text("directoryId").map(str::to_owned),
        })
    }
}

/// What idp-guard reacts to: an identity-source change, or a Region added or removed (the
/// IdP application must then have, or may drop, that Region's ACS URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpEvent {
    /// An identity-source or external-IdP call.
    Identity(IdentityEvent),
    /// `AddRegion` or `RemoveRegion`.
    Region(InstanceEvent),
}

impl TryFrom<&CloudTrailEvent> for IdpEvent {
    type Error = Rejection;

    fn try_from(e: &CloudTrailEvent) -> Result<IdpEvent, Rejection> {
        match IdentityEvent::try_from(e) {
            Err(Rejection::Skip(Skip::UnhandledEvent(name))) => match InstanceEvent::try_from(e) {
                Ok(ev) if ev.kind == InstanceEventKind::UpdateInstance => {
                    Err(Rejection::Skip(Skip::UnhandledEvent(name)))
                }
                other => other.map(IdpEvent::Region),
            },
            other => other.map(IdpEvent::Identity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn record(name: &str, source: &str, params: Value) -> CloudTrailEvent {
        let v = json!({"version": "0", "id": "eb-1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.sso", "region": "eu-west-1", "detail": {
            "eventName": name, "eventSource": source, "eventID": "ct-1",
            "awsRegion": "eu-west-1", "eventTime": "2026-11-27T10:00:00Z",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice"},
            "requestParameters": params}});
        CloudTrailEvent::try_from(&v).unwrap()
    }

    #[test]
    fn add_region_names_the_region_and_instance() {
        let e = record(
            "AddRegion",
            SSO_EVENT_SOURCE,
            json!({"instanceArn": "arn:aws:sso:::instance/ssoins-1234567890abcdef", "regionName": "ap-southeast-2"}),
        );
        let ev = InstanceEvent::try_from(&e).unwrap();
        assert_eq!(ev.kind, InstanceEventKind::AddRegion);
        assert_eq!(ev.target_region.as_deref(), Some("ap-southeast-2"));
        assert_eq!(ev.delivered_in, "eu-west-1");
        assert_eq!(ev.change.event_name, "AddRegion");
    }

    #[test]
    fn add_region_without_a_region_is_malformed_naming_the_field() {
        let e = record("AddRegion", SSO_EVENT_SOURCE, json!({}));
        match InstanceEvent::try_from(&e) {
            Err(Rejection::Malformed(err)) => {
                assert_eq!(err.place, "detail.requestParameters.regionName");
                assert_eq!(err.event, "ct-1");
            }
            other => panic!("{other:?}"),
        }
        let e = record(
            "RemoveRegion",
            SSO_EVENT_SOURCE,
            json!({"regionName": "Mars"}),
        );
        assert!(matches!(
            InstanceEvent::try_from(&e),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn update_instance_needs_no_region_and_failed_calls_are_skipped() {
        let e = record("UpdateInstance", SSO_EVENT_SOURCE, Value::Null);
        assert!(InstanceEvent::try_from(&e).is_ok());
        let mut failed = record("UpdateInstance", SSO_EVENT_SOURCE, Value::Null);
        failed.error_code = Some("ValidationException".into());
        assert!(matches!(
            InstanceEvent::try_from(&failed),
            Err(Rejection::Skip(Skip::FailedCall(_)))
        ));
    }

    #[test]
    fn other_calls_and_sources_are_skipped() {
        let e = record("CreatePermissionSet", SSO_EVENT_SOURCE, json!({}));
        assert!(matches!(
            InstanceEvent::try_from(&e),
            Err(Rejection::Skip(Skip::UnhandledEvent(_)))
        ));
        let e = record(
            "AddRegion",
            "kms.amazonaws.com",
            json!({"regionName": "eu-west-1"}),
        );
        assert!(matches!(
            InstanceEvent::try_from(&e),
            Err(Rejection::Skip(_))
        ));
        // An IdP call under the wrong source is not ours either.
        let e = record(
            "UpdateExternalIdPConfigurationForDirectory",
            SSO_EVENT_SOURCE,
            json!({}),
        );
        assert!(IdentityEvent::try_from(&e).is_err());
    }

    #[test]
    fn identity_events_from_both_sources() {
        let e = record(
            "AssociateDirectory",
            SSO_EVENT_SOURCE,
            json!({"directoryId": "d-9067abcdef"}),
        );
        let ev = IdentityEvent::try_from(&e).unwrap();
        assert_eq!(ev.kind, IdentityEventKind::AssociateDirectory);
        assert_eq!(ev.directory_id.as_deref(), Some("d-9067abcdef"));
        let e = record(
            "UpdateExternalIdPConfigurationForDirectory",
            SSO_DIRECTORY_EVENT_SOURCE,
            json!({}),
        );
        let ev = IdentityEvent::try_from(&e).unwrap();
        assert!(ev.kind.leaves_external_idp());
    }
}
