//! The drift sweeper: the full audit ([`crate::guard::audit`], the same code as `idc-guard audit`)
//! on a schedule, publishing a finding per failing check and one summary. It catches drift
//! whose events were lost: CloudTrail's delivery to EventBridge is best effort.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::{CheckId, finding_on};
use crate::config::Config;
use crate::domain::time::Timestamp;
use crate::finding::{Finding, Severity, Status, Trigger};
use crate::guard::audit::{AuditReport, audit};
use crate::guard::{Delivery, GuardError};
use crate::ports::{
    ClaimStore, DocumentSource, FindingBus, IdentityProviderApps, InstanceDirectory, KeyStore,
};

/// The `trigger.event_name` of sweep findings.
pub const SWEEP_EVENT_NAME: &str = "ScheduledSweep";

/// What one sweep published.
#[derive(Debug, Clone, Serialize)]
pub struct SweepOutcome {
    /// The Regions swept.
    pub regions: Vec<String>,
    /// Every finding published: the failures, the summary, then the resolutions.
    pub published: Vec<Finding>,
    /// What the audit noted on the way.
    pub notes: Vec<String>,
}

/// The summary finding of a sweep: pass when nothing fails or errs, else fail with the
/// worst severity found and the count per check.
pub fn summary(config: &Config, report: &AuditReport) -> Finding {
    let check = CheckId::SweepSummary;
    let mut failing: BTreeMap<&str, usize> = BTreeMap::new();
    let mut warnings = 0;
    let mut worst = Severity::Info;
    for f in &report.findings {
        match f.status {
            Status::Fail | Status::Error => {
                *failing.entry(f.check.id()).or_default() += 1;
                worst = worst.min(f.severity);
            }
            Status::Warn => warnings += 1,
            Status::Pass => {}
        }
    }
    let regions = report.regions.join(", ");
    let notes = if report.notes.is_empty() {
        String::new()
    } else {
        format!(" Notes: {}.", report.notes.join("; "))
    };
    let (status, message) = if failing.is_empty() {
        (
            Status::Pass,
            format!(
                "Sweep of {regions}: every check passes ({} findings, {warnings} warnings).{notes}",
                report.findings.len()
            ),
        )
    } else {
        let counts: Vec<String> = failing.iter().map(|(c, n)| format!("{c} x{n}")).collect();
        (
            Status::Fail,
            format!(
                "Sweep of {regions}: failing {} ({warnings} warnings).{notes}",
                counts.join(", ")
            ),
        )
    };
    let mut f = finding_on(
        check,
        status,
        &config.primary_region,
        &config.instance_arn,
        message,
        "summary",
    );
    if status == Status::Fail {
        f.severity = worst;
    }
    f
}

/// Sweeps and publishes. `sweep_id` names the sweep in every finding's trigger (the
/// scheduler's event id); `now` is the sweep's time. A publish failure fails the invocation
/// so the scheduler's retry (and its DLQ) keeps the sweep. Then the open-failure ledgers are
/// updated, so what failed before and passes now is resolved, once.
#[expect(
    clippy::too_many_arguments,
    reason = "each port the sweep reads, passed once"
)]
pub async fn sweep<K, D, S, A, B, C>(
    config: &Config,
    keys: &K,
    directory: &D,
    documents: &S,
    apps: Option<&A>,
    delivery: &Delivery<B, C>,
    sweep_id: &str,
    now: Timestamp,
) -> Result<SweepOutcome, GuardError>
where
    K: KeyStore,
    D: InstanceDirectory,
    S: DocumentSource,
    A: IdentityProviderApps,
    B: FindingBus,
    C: ClaimStore,
{
    let report = audit(config, keys, Some(directory), documents, apps, now).await;
    let trigger = Trigger {
        event_id: sweep_id.to_owned(),
        event_name: SWEEP_EVENT_NAME.to_owned(),
        actor: "idc-guard drift-sweeper".to_owned(),
        time: now.to_string(),
    };
    let mut published: Vec<Finding> = report
        .findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .cloned()
        .collect();
    published.push(summary(config, &report));
    for f in &mut published {
        f.trigger = Some(trigger.clone());
    }
    delivery.publish(&published).await?;
    let resolved = delivery
        .resolve(&[&report.findings], Some(&trigger), now)
        .await;
    published.extend(resolved);
    Ok(SweepOutcome {
        regions: report.regions,
        published,
        notes: report.notes,
    })
}
