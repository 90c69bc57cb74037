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
use crate::guard::change::{ChangeClaim, ChangeOutcome, InstanceChange};
use crate::guard::idp_app::{AppReview, Permit, review_app};
use crate::guard::{Delivery, GuardError};
use crate::intake::envelope::CloudTrailEvent;
use crate::intake::instance::{IdentityEvent, IdentityEventKind, IdpEvent, InstanceEvent};
use crate::ports::{
    ActionBudget, ClaimStore, DocumentSource, FindingBus, IdentityProviderApps, InstanceDirectory,
};
use crate::saml::read_metadata;

/// The most SAML metadata read (real documents are a few KiB; a federation aggregate is not
/// an IdP's metadata).
pub const METADATA_LIMIT: usize = 1024 * 1024;

/// idp-guard over its ports. It never calls KMS.
#[derive(Debug)]
pub struct IdpGuard<D, B, C, S, A, K> {
    /// The configuration.
    pub config: Config,
    /// Bus, claims and outbox.
    pub delivery: Delivery<B, C>,
    /// sso-admin.
    pub directory: D,
    /// Where the IdP's SAML metadata is read from.
    pub documents: S,
    /// The IdP application's API, when `[idp.application]` is configured.
    pub apps: Option<A>,
    /// The circuit breaker for changes to the IdP application.
    pub budget: K,
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

impl<D, B, C, S, A, K> IdpGuard<D, B, C, S, A, K>
where
    D: InstanceDirectory,
    B: FindingBus,
    C: ClaimStore,
    S: DocumentSource,
    A: IdentityProviderApps,
    K: ActionBudget,
{
    /// Handles one EventBridge event (or bare CloudTrail record) at time `now`.
    pub async fn handle_event(
        &self,
        event: &Value,
        now: Timestamp,
    ) -> Result<ChangeOutcome, GuardError> {
        match CloudTrailEvent::try_from(event).and_then(|e| IdpEvent::try_from(&e)) {
            Ok(IdpEvent::Identity(ev)) => self.handle_identity_event(&ev, now).await,
            Ok(IdpEvent::Region(ev)) => self.handle_region_change(&ev, now).await,
            Err(rejection) => Ok(rejection.into()),
        }
    }

    /// A Region added or removed: the IdP application's ACS URLs are judged (and, per mode,
    /// completed) once per change. Without `[idp.application]` there is nothing to check here:
    /// region-guard reports the Region itself.
    pub async fn handle_region_change(
        &self,
        ev: &InstanceEvent,
        now: Timestamp,
    ) -> Result<ChangeOutcome, GuardError> {
        let Some(apps) = &self.apps else {
            return Ok(ChangeOutcome::Skipped {
                reason: format!(
                    "{}: no [idp.application] is configured, so there is no IdP application to check",
                    ev.kind.name()
                ),
            });
        };
        let config = &self.config;
        let subject = format!(
            "idp-application:{}",
            ev.target_region.as_deref().unwrap_or_default()
        );
        let change = InstanceChange {
            kind: ev.kind.name(),
            change: &ev.change,
            instance_arn: ev.instance_arn.as_deref(),
            subject: &subject,
            delivered_in: &ev.delivered_in,
        };
        self.delivery
            .handle_change(&config.instance_arn, change, now, |claim| async move {
                let regions = self.live_regions().await?;
                let withheld = self.withheld(&ev.change, &claim);
                let permit = Permit::for_guard(config, withheld);
                let review = review_app(config, apps, &self.budget, &regions, &permit, now).await?;
                Ok(review.into())
            })
            .await
    }

    /// Why a change to the IdP must not be made now, if it must not: idc-guard's own role
    /// made the change (loop protection), or the claim store failed (a change could repeat).
    fn withheld(
        &self,
        change: &crate::intake::envelope::Change,
        claim: &ChangeClaim,
    ) -> Option<String> {
        if let Some(role) = self
            .config
            .remediation
            .guard_role_arns
            .iter()
            .find(|r| change.actor.is_role(r))
        {
            return Some(format!(
                "The change was made by idc-guard's own role {role}: re-checked, never remediated (loop protection)."
            ));
        }
        match claim {
            ChangeClaim::Degraded(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    /// The enabled Regions, live (the configured ones when `ListRegions` is refused).
    async fn live_regions(&self) -> Result<Vec<String>, GuardError> {
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
        Ok(enabled_regions(config, live.as_deref()))
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
                let mut review = self.assess(ev, &claim, now).await?;
                if let ChangeClaim::Degraded(reason) = &claim {
                    // Nothing is remediated then; the note says duplicates may follow.
                    for f in review
                        .findings
                        .iter_mut()
                        .filter(|f| f.remediation.is_none())
                    {
                        f.message.push(' ');
                        f.message.push_str(reason);
                    }
                }
                Ok(review.into())
            })
            .await
    }

    async fn assess(
        &self,
        ev: &IdentityEvent,
        claim: &ChangeClaim,
        now: Timestamp,
    ) -> Result<AppReview, GuardError> {
        let config = &self.config;
        let regions = self.live_regions().await?;
        let observed = observed(ev);
        let mut review = AppReview {
            findings: vec![check_idp_source(config, &observed)],
            ..AppReview::default()
        };
        if !ev.kind.leaves_external_idp() {
            return Ok(review);
        }
        // The call says an external IdP is in use, whatever the configuration expected.
        let mut as_external = config.clone();
        as_external.identity_source = IdentitySource::ExternalIdp;
        let (metadata, parsed) = metadata_findings(&as_external, &self.documents, now).await?;
        match &self.apps {
            // The live application settles IDP-ACS-URLS; the metadata still dates its
            // certificate when configured.
            Some(apps) => {
                let permit = Permit::for_guard(&as_external, self.withheld(&ev.change, claim));
                let app =
                    review_app(&as_external, apps, &self.budget, &regions, &permit, now).await?;
                review.findings.extend(app.findings);
                review.verified = app.verified;
                review.changed = app.changed;
                review.interrupted = app.interrupted;
            }
            None => review
                .findings
                .extend(check_acs_urls(&as_external, &regions, parsed.as_ref())),
        }
        review.findings.extend(metadata);
        Ok(review)
    }
}
