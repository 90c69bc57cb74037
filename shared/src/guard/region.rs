//! region-guard's logic: AddRegion, RemoveRegion and UpdateInstance. The event says which
//! Region (or that the instance changed); everything judged is re-read live: the instance
//! and its Regions from sso-admin, the key from KMS in each Region concerned.
//!
//! Remediation (mode `remediate`, and only the actions enabled in config): create a missing
//! replica with the model policy and wait until it is Enabled
//! (`remediation.create_missing_replicas`); hand a failing replica to the key-policy guard's
//! logic (`remediation.repair_replica_policies`). Keys are never deleted.

use serde_json::Value;

use crate::checks::idp::check_acs_urls;
use crate::checks::instance::{
    Readiness, check_instance_encryption, check_multi_region, check_region_key_ready,
    check_region_supported, check_replica_policy, enabled_regions, replica_left_behind,
    unreadable_instance,
};
use crate::checks::key_policy::check_parsed;
use crate::checks::key_state::unreadable_key;
use crate::config::{Config, Mode};
use crate::domain::live::KeyState;
use crate::domain::time::Timestamp;
use crate::finding::{Finding, Remediation, RemediationOutcome, Status};
use crate::guard::change::{Assessment, ChangeClaim, ChangeOutcome, InstanceChange};
use crate::guard::key::{Inspection, KeyEnforcer, RegionOutcome, RegionReport, inspect};
use crate::guard::{Delivery, GuardError};
use crate::intake::envelope::{Change, CloudTrailEvent};
use crate::intake::instance::{InstanceEvent, InstanceEventKind};
use crate::model::render::render_policy;
use crate::ports::{
    ActionBudget, ClaimStore, FindingBus, InstanceDirectory, KeyStore, Pause, PortError,
    PortErrorKind,
};
use idc_guard_policy::document::parse_key_policy;

/// How often a new replica is re-read while it is `Creating`, and how long apart: 15 x 2 s
/// stays well inside the functions' 60 s timeout (AWS: "a few seconds").
const CREATING_POLLS: u32 = 15;
const CREATING_POLL_SECONDS: u64 = 2;

/// region-guard over its ports: the key's enforcer (KMS, breaker; replica repairs go through
/// it), the findings' delivery, the instance directory and a way to wait.
#[derive(Debug)]
pub struct RegionGuard<K, D, B, C, A, P> {
    /// The key in one Region: inspection, remediation, verification.
    pub enforcer: KeyEnforcer<K, A>,
    /// Bus, claims and outbox.
    pub delivery: Delivery<B, C>,
    /// sso-admin.
    pub directory: D,
    /// Waits while a new replica is Creating.
    pub pause: P,
}

/// A Region's REGION-KEY-READY and KEY-REPLICA-POLICY findings (and a repair report).
struct RegionResult {
    findings: Vec<Finding>,
    report: Option<RegionReport>,
    changed: bool,
    /// A write failed in a way a retry may fix: it may or may not have landed.
    interrupted: Option<PortError>,
}

/// What creating a replica came to.
struct Creation {
    /// The remediation outcome: applied or failed.
    outcome: RemediationOutcome,
    /// The note for the finding's message.
    note: String,
    /// Whether KMS was (or may have been) changed.
    changed: bool,
    /// The error that cut the creation off: the replica may exist, and the retry re-reads.
    interrupted: Option<PortError>,
}

fn retry_or<T>(result: Result<T, PortError>) -> Result<Result<T, PortError>, GuardError> {
    match result {
        Err(e) if e.retryable() => Err(e.into()),
        other => Ok(other),
    }
}

impl<K, D, B, C, A, P> RegionGuard<K, D, B, C, A, P>
where
    K: KeyStore,
    D: InstanceDirectory,
    B: FindingBus,
    C: ClaimStore,
    A: ActionBudget,
    P: Pause,
{
    fn config(&self) -> &Config {
        &self.enforcer.config
    }

    /// Handles one EventBridge event (or bare CloudTrail record) at time `now`.
    pub async fn handle_event(
        &self,
        event: &Value,
        now: Timestamp,
    ) -> Result<ChangeOutcome, GuardError> {
        match CloudTrailEvent::try_from(event).and_then(|e| InstanceEvent::try_from(&e)) {
            Ok(ev) => self.handle_instance_event(&ev, now).await,
            Err(rejection) => Ok(rejection.into()),
        }
    }

    /// Handles a Region or instance change: once, whichever Region's copy comes first.
    pub async fn handle_instance_event(
        &self,
        ev: &InstanceEvent,
        now: Timestamp,
    ) -> Result<ChangeOutcome, GuardError> {
        let change = InstanceChange {
            kind: ev.kind.name(),
            change: &ev.change,
            instance_arn: ev.instance_arn.as_deref(),
            subject: ev.target_region.as_deref().unwrap_or("instance"),
            delivered_in: &ev.delivered_in,
        };
        self.delivery
            .handle_change(
                &self.config().instance_arn,
                change,
                now,
                |claim| async move { self.assess(ev, &claim, now).await },
            )
            .await
    }

    async fn assess(
        &self,
        ev: &InstanceEvent,
        claim: &ChangeClaim,
        now: Timestamp,
    ) -> Result<Assessment, GuardError> {
        let config = self.config();
        let (primary_region, key_id) = (&config.primary_region, &config.key_arn.key_id);
        // The instance, its Regions and the primary key are independent reads: at once.
        let (instance, live_regions, primary_key) = futures_util::future::join3(
            self.directory
                .describe_instance(primary_region, &config.instance_arn),
            self.directory
                .list_regions(primary_region, &config.instance_arn),
            self.enforcer.keys.describe_key(primary_region, key_id),
        )
        .await;
        let (instance, live_regions) = (retry_or(instance)?, retry_or(live_regions)?);
        let mut enabled = enabled_regions(config, live_regions.as_deref().ok());
        if ev.kind == InstanceEventKind::AddRegion
            && let Some(r) = &ev.target_region
            && !enabled.contains(r)
        {
            enabled.push(r.clone());
        }
        let mut findings = vec![match &instance {
            Ok(i) => check_instance_encryption(config, i),
            Err(e) => unreadable_instance(config, e),
        }];
        let focus: Vec<String> = match (ev.kind, &ev.target_region) {
            (InstanceEventKind::AddRegion, Some(r)) => vec![r.clone()],
            (InstanceEventKind::UpdateInstance, _) => enabled.clone(),
            _ => Vec::new(),
        };
        findings.extend(focus.iter().map(|r| check_region_supported(config, r)));
        let primary_key = retry_or(primary_key)?;
        match &primary_key {
            Ok(k) => findings.push(check_multi_region(config, k, &enabled)),
            Err(e) => findings.push(unreadable_key(config, primary_region, e)),
        }
        if ev.kind == InstanceEventKind::RemoveRegion
            && let Some(r) = &ev.target_region
            && r != primary_region
            && let Ok(k) = retry_or(self.enforcer.keys.describe_key(r, key_id).await)?
        {
            findings.push(replica_left_behind(config, &k));
        }
        let primary_policy = match primary_key {
            Ok(_) => retry_or(
                self.enforcer
                    .keys
                    .get_key_policy(primary_region, key_id)
                    .await,
            )?
            .ok(),
            Err(_) => None,
        };
        let mut assessment = self
            .replicas(ev, &focus, primary_policy.as_deref(), claim, now)
            .await?;
        findings.append(&mut assessment.findings);
        // With an IdP application, idp-guard judges the added Region's ACS URL live (one
        // path); without one, the reminder lists the URLs to register.
        if ev.kind == InstanceEventKind::AddRegion && config.idp.application.is_none() {
            findings.extend(check_acs_urls(config, &focus, None));
        }
        assessment.findings = findings;
        Ok(assessment)
    }

    /// The replicas of the `focus` Regions other than the primary: read at once, then each
    /// checked and (per mode) created or repaired in turn. An interrupted write stops the
    /// loop: the retry handles the rest after re-reading.
    async fn replicas(
        &self,
        ev: &InstanceEvent,
        focus: &[String],
        primary_policy: Option<&str>,
        claim: &ChangeClaim,
        now: Timestamp,
    ) -> Result<Assessment, GuardError> {
        let config = self.config();
        let primary_region = &config.primary_region;
        let mut findings = Vec::new();
        let mut replicas = Vec::new();
        let mut changed = false;
        let mut interrupted = None;
        // The replicas are read at once, then handled one at a time (a repair re-reads its
        // key before writing, so an early read cannot be acted on stale).
        let others: Vec<&String> = focus.iter().filter(|r| *r != primary_region).collect();
        let inspections = futures_util::future::join_all(
            others
                .iter()
                .map(|region| inspect(config, &self.enforcer.keys, region)),
        )
        .await;
        for (region, inspection) in others.into_iter().zip(inspections) {
            let result = self
                .replica(&ev.change, region, inspection, primary_policy, claim, now)
                .await?;
            findings.extend(result.findings);
            replicas.extend(result.report);
            changed |= result.changed;
            if result.interrupted.is_some() {
                // The retry handles the rest, after re-reading.
                interrupted = result.interrupted;
                break;
            }
        }
        Ok(Assessment {
            findings,
            replicas,
            changed,
            interrupted,
            ..Assessment::default()
        })
    }

    /// REGION-KEY-READY and KEY-REPLICA-POLICY in `region`, from its `inspection`,
    /// remediated per mode.
    async fn replica(
        &self,
        change: &Change,
        region: &str,
        inspection: Result<Inspection, PortError>,
        primary_policy: Option<&str>,
        claim: &ChangeClaim,
        now: Timestamp,
    ) -> Result<RegionResult, GuardError> {
        let config = self.config();
        match inspection {
            Err(e) if e.retryable() => Err(e.into()),
            Err(e) if e.kind == PortErrorKind::NotFound => {
                self.missing_replica(change, region, claim, now).await
            }
            Err(e) => Ok(RegionResult {
                findings: vec![check_region_key_ready(
                    config,
                    region,
                    Readiness::Unreadable(&e),
                )],
                report: None,
                changed: false,
                interrupted: None,
            }),
            Ok(inspection) => {
                self.existing_replica(change, region, inspection, primary_policy, claim, now)
                    .await
            }
        }
    }

    /// Why this guard may not act now, or `None` when it may: the mode, the action's
    /// switch in config, the claim store's health, loop protection and the breaker.
    /// `gate`: whether loop protection and the breaker are checked here (replica creation)
    /// or left to the key guard's logic (repairs), so one action takes one unit of budget.
    async fn refusal(
        &self,
        change: &Change,
        enabled: bool,
        switch: &str,
        claim: &ChangeClaim,
        gate: bool,
        now: Timestamp,
    ) -> Result<Option<(RemediationOutcome, String)>, GuardError> {
        let config = self.config();
        let skipped = |note: String| Some((RemediationOutcome::Skipped, note));
        Ok(match config.remediation.mode {
            Mode::DryRun => Some((RemediationOutcome::Planned, String::new())),
            Mode::Notify => skipped(
                "Mode notify: nothing was changed; the remediation lists what remediate mode would do."
                    .to_owned(),
            ),
            Mode::Remediate if !enabled => skipped(format!(
                "Not remediated: remediation.{switch} is off in the configuration."
            )),
            Mode::Remediate => match claim {
                ChangeClaim::Degraded(reason) => skipped(reason.clone()),
                _ if gate => self.enforcer.may_remediate(change, now).await?.and_then(skipped),
                _ => None,
            },
        })
    }

    async fn missing_replica(
        &self,
        change: &Change,
        region: &str,
        claim: &ChangeClaim,
        now: Timestamp,
    ) -> Result<RegionResult, GuardError> {
        let config = self.config();
        let settings = &config.remediation;
        let mut finding = check_region_key_ready(config, region, Readiness::Missing);
        let action = format!(
            "kms:ReplicateKey {} from {} to {region} with the model policy, then wait until Enabled",
            config.key_arn.key_id, config.primary_region
        );
        let mut record = |outcome: RemediationOutcome, note: &str| {
            finding.remediation = Some(Remediation {
                mode: settings.mode,
                actions: vec![action.clone()],
                outcome,
                previous_policy: None,
            });
            if !note.is_empty() {
                finding.message.push(' ');
                finding.message.push_str(note);
            }
        };
        // Never write a policy that fails a KP check, the model included; checked before the
        // gates so a refusal here costs no budget.
        let model = render_policy(config);
        let report = check_parsed(config, &parse_key_policy(&model), &[region.to_owned()]);
        if !report.compliant() {
            record(
                RemediationOutcome::Skipped,
                "Manual action required: the model policy does not pass every KP check for this Region with this configuration, so no replica is created.",
            );
            return Ok(RegionResult {
                findings: vec![finding],
                report: None,
                changed: false,
                interrupted: None,
            });
        }
        if let Some((outcome, note)) = self
            .refusal(
                change,
                settings.create_missing_replicas,
                "create_missing_replicas",
                claim,
                true,
                now,
            )
            .await?
        {
            record(outcome, &note);
            return Ok(RegionResult {
                findings: vec![finding],
                report: None,
                changed: false,
                interrupted: None,
            });
        }
        let created = self.create_replica(region, &model).await?;
        record(created.outcome, &created.note);
        Ok(RegionResult {
            findings: vec![finding],
            report: None,
            changed: created.changed,
            interrupted: created.interrupted,
        })
    }

    /// Creates the replica with the model policy, waits for it, and verifies it against
    /// live state.
    async fn create_replica(&self, region: &str, model: &str) -> Result<Creation, GuardError> {
        let config = self.config();
        let key_id = &config.key_arn.key_id;
        match self
            .enforcer
            .keys
            .replicate_key(&config.primary_region, key_id, region, model)
            .await
        {
            Ok(_) => {}
            // An SDK retry of a ReplicateKey whose answer was lost finds the replica made by
            // the first attempt: not a failure, but not trusted either; it is verified below
            // like a new one.
            Err(e) if e.kind == PortErrorKind::AlreadyExists => {}
            Err(e) if e.retryable() => {
                // A lost answer does not mean no replica: the finding goes out now, and the
                // retry re-reads the Region.
                let note = format!(
                    "Replica creation interrupted ({e}): the replica may or may not exist. The invocation is retried and re-reads the Region."
                );
                return Ok(Creation {
                    outcome: RemediationOutcome::Failed,
                    note,
                    changed: true,
                    interrupted: Some(e),
                });
            }
            Err(e) => {
                return Ok(Creation {
                    outcome: RemediationOutcome::Failed,
                    note: format!("Remediation failed: {e}."),
                    changed: false,
                    interrupted: None,
                });
            }
        }
        for _ in 0..CREATING_POLLS {
            match self.enforcer.keys.describe_key(region, key_id).await {
                Ok(k) if k.state != KeyState::Creating => break,
                _ => self.pause.pause(CREATING_POLL_SECONDS).await,
            }
        }
        let verified = match inspect(config, &self.enforcer.keys, region).await {
            Ok(after) => check_region_key_ready(
                config,
                region,
                Readiness::Checked {
                    key: &after.snapshot.key,
                    findings: &after.findings,
                },
            ),
            Err(e) => check_region_key_ready(config, region, Readiness::Unreadable(&e)),
        };
        let (outcome, note) = if verified.status == Status::Pass {
            (
                RemediationOutcome::Applied,
                "Replica created with the model policy and verified: it is Enabled and passes every KP check.".to_owned(),
            )
        } else {
            (
                RemediationOutcome::Failed,
                format!(
                    "Replica created, but verification does not pass yet: {}",
                    verified.message
                ),
            )
        };
        Ok(Creation {
            outcome,
            note,
            changed: true,
            interrupted: None,
        })
    }

    async fn existing_replica(
        &self,
        change: &Change,
        region: &str,
        inspection: Inspection,
        primary_policy: Option<&str>,
        claim: &ChangeClaim,
        now: Timestamp,
    ) -> Result<RegionResult, GuardError> {
        let config = self.config();
        let settings = &config.remediation;
        let policy_finding = check_replica_policy(
            config,
            region,
            &inspection.snapshot.policy,
            &inspection.findings,
            primary_policy,
        );
        let mut ready = check_region_key_ready(
            config,
            region,
            Readiness::Checked {
                key: &inspection.snapshot.key,
                findings: &inspection.findings,
            },
        );
        if ready.status != Status::Fail {
            return Ok(RegionResult {
                findings: vec![ready, policy_finding],
                report: None,
                changed: false,
                interrupted: None,
            });
        }
        let actions = inspection.plan.describe_all();
        let refusal = self
            .refusal(
                change,
                settings.repair_replica_policies,
                "repair_replica_policies",
                claim,
                false,
                now,
            )
            .await?;
        let (outcome, note, report) = match refusal {
            Some((outcome, note)) => (outcome, note, None),
            None => {
                // The key-policy guard's logic: re-read, plan, re-read before writing,
                // verify; it publishes its own KP-* findings with the remediation.
                let report = self
                    .enforcer
                    .guard_region(&self.delivery, change, region, now)
                    .await?;
                let outcome = match report.outcome {
                    RegionOutcome::Remediated => RemediationOutcome::Applied,
                    RegionOutcome::RemediationFailed => RemediationOutcome::Failed,
                    _ => RemediationOutcome::Skipped,
                };
                let note = format!(
                    "Handed to the key-policy guard's logic: {:?}; its findings say what was done.",
                    report.outcome
                );
                (outcome.to_owned(), note, Some(report))
            }
        };
        let changed = report.as_ref().is_some_and(|r| {
            matches!(
                r.outcome,
                RegionOutcome::Remediated | RegionOutcome::RemediationFailed
            )
        });
        ready.remediation = Some(Remediation {
            mode: settings.mode,
            actions,
            outcome,
            previous_policy: None,
        });
        if !note.is_empty() {
            ready.message.push(' ');
            ready.message.push_str(&note);
        }
        Ok(RegionResult {
            findings: vec![ready, policy_finding],
            report,
            changed,
            interrupted: None,
        })
    }
}
