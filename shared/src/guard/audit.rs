//! A read-only sweep with every check: the instance's encryption, the key in every enabled
//! Region (KEY-STATE, KP-*, KEY-GRANTS, KEY-MULTI-REGION, KEY-REPLICA-POLICY, REGION-*), the
//! identity source and the IdP's URLs and certificate. Nothing is changed; failing findings
//! carry the plan a `remediate` guard would apply, as `dry-run`.

use serde::Serialize;

use crate::checks::idp::{ObservedSource, check_acs_urls, check_idp_source};
use crate::checks::instance::{
    Readiness, check_instance_encryption, check_multi_region, check_region_key_ready,
    check_region_supported, check_replica_policy, unreadable_instance,
};
use crate::checks::key_state::unreadable_key;
use crate::config::{Config, IdentitySource};
use crate::domain::time::Timestamp;
use crate::finding::{Finding, Remediation, Status};
use crate::guard::idp::metadata_findings;
use crate::guard::idp_app::{Permit, review_app, unreadable_app};
use crate::guard::key::{Inspection, inspect};
use crate::idp_app::{IdpError, IdpErrorKind};
use crate::ports::local::LocalBudget;
use crate::ports::{
    DocumentSource, IdentityProviderApps, InstanceDirectory, KeyStore, PortError, PortErrorKind,
};

/// The result of an audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// The Regions swept, in order.
    pub regions: Vec<String>,
    /// Every finding, passes included.
    pub findings: Vec<Finding>,
    /// What the audit could not do or noticed on the way (e.g. Regions only one side knows).
    pub notes: Vec<String>,
}

impl AuditReport {
    /// Whether nothing fails or errs.
    pub fn compliant(&self) -> bool {
        self.findings
            .iter()
            .all(|f| matches!(f.status, Status::Pass | Status::Warn))
    }
}

/// The Regions to sweep: the instance's (ACTIVE or ADDING, read from the primary Region) and
/// the configured ones, primary first.
async fn regions_to_sweep<D: InstanceDirectory>(
    config: &Config,
    directory: Option<&D>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let mut regions = config.regions.clone();
    let Some(directory) = directory else {
        return regions;
    };
    match directory
        .list_regions(&config.primary_region, &config.instance_arn)
        .await
    {
        Ok(live) => {
            for r in live.iter().filter(|r| r.status != "REMOVING") {
                if !regions.contains(&r.name) {
                    notes.push(format!(
                        "{} is {} for the instance but missing from the configuration's regions; swept anyway",
                        r.name, r.status
                    ));
                    regions.push(r.name.clone());
                }
            }
            for r in &config.regions {
                if !live.iter().any(|l| &l.name == r) {
                    notes.push(format!(
                        "{r} is configured but not a Region of the instance {}",
                        config.instance_arn
                    ));
                }
            }
        }
        Err(e) => notes.push(format!(
            "the instance's Regions could not be read ({e}); swept the configured Regions"
        )),
    }
    regions
}

/// The key's checks in one Region: KEY-MULTI-REGION on the primary (whose policy it keeps for
/// the replicas), REGION-KEY-READY and KEY-REPLICA-POLICY on a replica, then the key's own.
fn region_findings(
    config: &Config,
    region: &str,
    inspection: Result<Inspection, PortError>,
    regions: &[String],
    primary_policy: &mut Option<String>,
) -> Vec<Finding> {
    let replica = region != config.primary_region;
    let mut findings = Vec::new();
    match inspection {
        Ok(inspection) => {
            if replica {
                findings.push(check_region_key_ready(
                    config,
                    region,
                    Readiness::Checked {
                        key: &inspection.snapshot.key,
                        findings: &inspection.findings,
                    },
                ));
                findings.push(check_replica_policy(
                    config,
                    region,
                    &inspection.snapshot.policy,
                    &inspection.findings,
                    primary_policy.as_deref(),
                ));
            } else {
                findings.push(check_multi_region(
                    config,
                    &inspection.snapshot.key,
                    regions,
                ));
                *primary_policy = Some(inspection.snapshot.policy.clone());
            }
            findings.extend(planned(inspection));
        }
        Err(e) => {
            if replica {
                let readiness = if e.kind == PortErrorKind::NotFound {
                    Readiness::Missing
                } else {
                    Readiness::Unreadable(&e)
                };
                findings.push(check_region_key_ready(config, region, readiness));
            }
            findings.push(unreadable_key(config, region, &e));
        }
    }
    findings
}

/// Sweeps the instance and every Region with every check (the drift sweeper runs the same
/// code). Read-only. `documents` reads the IdP's SAML metadata when the configuration names
/// it; `now` dates the certificate check.
pub async fn audit<K, D, S, A>(
    config: &Config,
    keys: &K,
    directory: Option<&D>,
    documents: &S,
    apps: Option<&A>,
    now: Timestamp,
) -> AuditReport
where
    K: KeyStore,
    D: InstanceDirectory,
    S: DocumentSource,
    A: IdentityProviderApps,
{
    let mut notes = Vec::new();
    let describe_instance = async {
        match directory {
            Some(d) => Some(
                d.describe_instance(&config.primary_region, &config.instance_arn)
                    .await,
            ),
            None => None,
        }
    };
    let (regions, instance) = futures_util::future::join(
        regions_to_sweep(config, directory, &mut notes),
        describe_instance,
    )
    .await;
    let mut findings = Vec::new();
    if let Some(instance) = instance {
        findings.push(match instance {
            Ok(instance) => check_instance_encryption(config, &instance),
            Err(e) => unreadable_instance(config, &e),
        });
    }
    findings.extend(regions.iter().map(|r| check_region_supported(config, r)));
    // Every Region is read at once; the results are checked in order (the primary first,
    // whose policy the replicas are compared with).
    let inspections =
        futures_util::future::join_all(regions.iter().map(|r| inspect(config, keys, r))).await;
    let mut primary_policy = None;
    for (region, inspection) in regions.iter().zip(inspections) {
        findings.extend(region_findings(
            config,
            region,
            inspection,
            &regions,
            &mut primary_policy,
        ));
    }
    findings.push(check_idp_source(config, &ObservedSource::Configured));
    let metadata = match metadata_findings(config, documents, now).await {
        Ok((metadata_findings, metadata)) => {
            findings.extend(metadata_findings);
            metadata
        }
        Err(e) => {
            notes.push(format!("the IdP's SAML metadata could not be read ({e})"));
            None
        }
    };
    match apps {
        // The live application settles IDP-ACS-URLS (read-only here: the update it would
        // need is shown, never sent).
        Some(apps) if config.identity_source == IdentitySource::ExternalIdp => {
            match review_app(
                config,
                apps,
                &LocalBudget::default(),
                &regions,
                &Permit::Report,
                now,
            )
            .await
            {
                Ok(review) => findings.extend(review.findings),
                Err(e) => {
                    findings.push(unreadable_app(
                        config,
                        &IdpError::new(apps.provider(), IdpErrorKind::Retryable, e.to_string()),
                    ));
                    notes.push(format!("the IdP application could not be read ({e})"));
                }
            }
        }
        _ => findings.extend(check_acs_urls(config, &regions, metadata.as_ref())),
    }
    AuditReport {
        regions,
        findings,
        notes,
    }
}

/// An inspection's findings, the failing ones carrying the plan a `remediate` guard would
/// apply (as `dry-run`).
fn planned(inspection: Inspection) -> Vec<Finding> {
    let planned = Remediation {
        mode: crate::config::Mode::DryRun,
        actions: inspection.plan.describe_all(),
        outcome: crate::finding::RemediationOutcome::Planned,
        previous_policy: None,
    };
    inspection
        .findings
        .into_iter()
        .map(|mut f| {
            if f.status == Status::Fail {
                f.remediation = Some(planned.clone());
            }
            f
        })
        .collect()
}
