//! idp-guard's logic: identity-source and external-IdP changes. Nothing here is remediated
//! (the IdP is outside AWS): the findings say what a human must do, with the exact URLs.
//!
//! The enabled Regions are re-read live. The identity source itself cannot be (no public API
//! reports it), so IDP-SOURCE judges what the call did; the IdP's SAML metadata, when the
//! configuration points at it, is read fresh on every event.

use serde_json::Value;

use crate::checks::idp::{
    ObservedSource, check_acs_urls, check_certificates, check_idp_source, unreadable_metadata,
};
use crate::checks::instance::enabled_regions;
use crate::config::{Config, IdentitySource};
use crate::domain::time::Timestamp;
use crate::finding::Finding;
use crate::guard::change::{Assessment, ChangeClaim, ChangeOutcome, InstanceChange};
use crate::guard::{Delivery, GuardError};
use crate::intake::envelope::CloudTrailEvent;
use crate::intake::instance::{IdentityEvent, IdentityEventKind};
use crate::ports::{ClaimStore, DocumentSource, FindingBus, InstanceDirectory};
use crate::saml::read_metadata;

/// The most SAML metadata read (real documents are a few KiB; a federation aggregate is not
/// an IdP's metadata).
pub const METADATA_LIMIT: usize = 1024 * 1024;

/// idp-guard over its ports. It never calls KMS.
#[derive(Debug)]
pub struct IdpGuard<D, B, C, S> {
    /// The configuration.
    pub config: Config,
    /// Bus, claims and outbox.
    pub delivery: Delivery<B, C>,
    /// sso-admin.
    pub directory: D,
    /// Where the IdP's SAML metadata is read from.
    pub documents: S,
}

/// What a call left as the identity source.
fn observed(ev: &IdentityEvent) -> ObservedSource {
    match ev.kind {
        IdentityEventKind::AssociateDirectory => ObservedSource::ActiveDirectory {
            directory_id: ev.directory_id.clone(),
        },
        IdentityEventKind::DisassociateDirectory => ObservedSource::IdentityCenterDirectory,
        IdentityEventKind::DeleteExternalIdp | IdentityEventKind::DisableExternalIdp => {
            ObservedSource::ExternalIdpRemoved {
                call: ev.kind.name().to_owned(),
            }
        }
        IdentityEventKind::CreateExternalIdp
        | IdentityEventKind::UpdateExternalIdp
        | IdentityEventKind::EnableExternalIdp => ObservedSource::ExternalIdp,
    }
}

/// The IdP's metadata findings (IDP-CERTIFICATE) and the metadata, when configured.
pub async fn metadata_findings<S: DocumentSource>(
    config: &Config,
    documents: &S,
    now: Timestamp,
) -> Result<(Vec<Finding>, Option<crate::saml::SamlMetadata>), GuardError> {
    let Some(location) = &config.idp.saml_metadata else {
        return Ok((Vec::new(), None));
    };
    let bytes = match documents.fetch(location, METADATA_LIMIT).await {
        Ok(b) => b,
        Err(e) if e.retryable() => return Err(e.into()),
        Err(e) => {
            return Ok((
                vec![unreadable_metadata(
                    config,
                    &location.to_string(),
                    &e.to_string(),
                )],
                None,
            ));
        }
    };
    match read_metadata(&bytes) {
        Ok(metadata) => Ok((check_certificates(config, &metadata, now), Some(metadata))),
        Err(e) => Ok((
            vec![unreadable_metadata(
                config,
                &location.to_string(),
                &e.to_string(),
            )],
            None,
        )),
    }
}

impl<D, B, C, S> IdpGuard<D, B, C, S>
where
    D: InstanceDirectory,
    B: FindingBus,
    C: ClaimStore,
    S: DocumentSource,
{
    /// Handles one EventBridge event (or bare CloudTrail record) at time `now`.
    pub async fn handle_event(
        &self,
        event: &Value,
        now: Timestamp,
    ) -> Result<ChangeOutcome, GuardError> {
        match CloudTrailEvent::try_from(event).and_then(|e| IdentityEvent::try_from(&e)) {
            Ok(ev) => self.handle_identity_event(&ev, now).await,
            Err(rejection) => Ok(rejection.into()),
        }
    }

    /// Handles an identity-source change once.
    pub async fn handle_identity_event(
        &self,
        ev: &IdentityEvent,
        now: Timestamp,
    ) -> Result<ChangeOutcome, GuardError> {
        let config = &self.config;
        let change = InstanceChange {
            kind: ev.kind.name(),
            change: &ev.change,
            instance_arn: ev.instance_arn.as_deref(),
            subject: "identity-source",
            // Identity-source calls happen in the primary Region only.
            delivered_in: &config.primary_region,
        };
        self.delivery
            .handle_change(&config.instance_arn, change, now, |claim| async move {
                let mut findings = self.assess(ev, now).await?;
                if let ChangeClaim::Degraded(reason) = &claim {
                    // Nothing is remediated here anyway; the note says duplicates may follow.
                    for f in &mut findings {
                        f.message.push(' ');
                        f.message.push_str(reason);
                    }
                }
                Ok(Assessment {
                    findings,
                    ..Assessment::default()
                })
            })
            .await
    }

    async fn assess(&self, ev: &IdentityEvent, now: Timestamp) -> Result<Vec<Finding>, GuardError> {
        let config = &self.config;
        let live = match self
            .directory
            .list_regions(&config.primary_region, &config.instance_arn)
            .await
        {
            Ok(regions) => Some(regions),
            Err(e) if e.retryable() => return Err(e.into()),
            Err(_) => None,
        };
        let regions = enabled_regions(config, live.as_deref());
        let observed = observed(ev);
        let mut findings = vec![check_idp_source(config, &observed)];
        if ev.kind.leaves_external_idp() {
            // The call says an external IdP is in use, whatever the configuration expected.
            let mut as_external = config.clone();
            as_external.identity_source = IdentitySource::ExternalIdp;
            let (metadata, parsed) = metadata_findings(&as_external, &self.documents, now).await?;
            findings.extend(check_acs_urls(&as_external, &regions, parsed.as_ref()));
            findings.extend(metadata);
        }
        Ok(findings)
    }
}
