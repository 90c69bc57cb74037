//! A read-only sweep of the key in every enabled Region with the key-policy guard's checks
//! (KEY-STATE, KP-*, KEY-GRANTS). Nothing is changed; failing findings carry the plan a
//! `remediate` guard would apply, as `dry-run`.

use serde::Serialize;

use crate::checks::key_state::unreadable_key;
use crate::config::Config;
use crate::finding::{Finding, Remediation, Status};
use crate::guard::inspect;
use crate::ports::{InstanceDirectory, KeyStore};

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

/// Sweeps every Region. Read-only.
pub async fn audit<K: KeyStore, D: InstanceDirectory>(
    config: &Config,
    keys: &K,
    directory: Option<&D>,
) -> AuditReport {
    let mut notes = Vec::new();
    let regions = regions_to_sweep(config, directory, &mut notes).await;
    let mut findings = Vec::new();
    for region in &regions {
        match inspect(config, keys, region).await {
            Ok(inspection) => {
                let planned = Remediation {
                    mode: "dry-run".to_owned(),
                    actions: inspection.plan.describe_all(),
                    outcome: "planned".to_owned(),
                    previous_policy: None,
                };
                findings.extend(inspection.findings.into_iter().map(|mut f| {
                    if f.status == Status::Fail {
                        f.remediation = Some(planned.clone());
                    }
                    f
                }));
            }
            Err(e) => findings.push(unreadable_key(config, region, &e)),
        }
    }
    AuditReport {
        regions,
        findings,
        notes,
    }
}
