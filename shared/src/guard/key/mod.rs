//! The key-policy guard's logic over the ports: re-read live state, check, plan, apply per
//! mode, verify, publish. Shared by the Lambda, `idc-guard replay` and `idc-guard audit`.
//!
//! Safety rules enforced here (docs/key-policy-guard.md § Safety invariants): the event only says WHERE to look, never what the
//! state is; changes by the guard's own role are re-checked but never re-remediated; a
//! per-key circuit breaker bounds remediation; every finding is claimed by fingerprint so a
//! duplicate delivery is handled once; a plan is only applied in `remediate` mode and only
//! after [`crate::plan::repair`] proved the new policy passes every KP check.

mod inspect;
mod remediate;

use remediate::Act;

use serde::Serialize;
use serde_json::Value;

use crate::checks::key_state::unreadable_key;
use crate::config::Config;
use crate::domain::time::Timestamp;
use crate::finding::{CheckId, Finding, Remediation, RemediationOutcome, Trigger};
use crate::guard::{Delivery, GuardError};
use crate::intake::envelope::{Change, CloudTrailEvent, Rejection, Skip};
use crate::intake::key::{KeyEvent, KeyRef};
use crate::plan::KeyPlan;
use crate::ports::{ActionBudget, ClaimStore, FindingBus, KeyStore, PortError, PortErrorKind};

pub use inspect::{Inspection, check_snapshot, inspect};

/// The key-policy guard: a KMS change to the guarded key is re-read, checked and (per mode)
/// remediated in every Region it names, and its findings delivered.
#[derive(Debug)]
pub struct KeyGuard<K, B, C, A> {
    /// The key's inspection and remediation.
    pub enforcer: KeyEnforcer<K, A>,
    /// The findings' delivery.
    pub delivery: Delivery<B, C>,
}

/// The key in one Region: inspected, planned, remediated per mode and verified. The
/// key-policy guard runs it on the Regions a KMS change names; region-guard on a new replica.
#[derive(Debug)]
pub struct KeyEnforcer<K, A> {
    /// The configuration.
    pub config: Config,
    /// KMS.
    pub keys: K,
    /// The circuit breaker.
    pub budget: A,
}

/// What happened to the key in one Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionOutcome {
    /// Every check passes; nothing published.
    Compliant,
    /// Findings reported (notify / dry-run, or nothing safe to apply).
    Reported,
    /// The plan was applied and verified.
    Remediated,
    /// The plan was applied but verification or an action failed.
    RemediationFailed,
    /// Every finding was already handled for this change: nothing done, nothing published.
    Duplicate,
    /// The key could not be read there.
    Unreadable,
}

/// The guard's result for one Region.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// The Region.
    pub region: String,
    /// What happened.
    pub outcome: RegionOutcome,
    /// The findings published (not passes).
    pub findings: Vec<Finding>,
    /// The plan, when there was something to plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<KeyPlan>,
}

/// The guard's result for one event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum GuardOutcome {
    /// Not for this guard.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Unreadable; acknowledged so it is not retried forever.
    Rejected {
        /// What is wrong, naming the field.
        error: String,
    },
    /// Checked (and remediated, per mode).
    Handled {
        /// The event.
        event_id: String,
        /// Per Region.
        regions: Vec<RegionReport>,
        /// Findings of an earlier attempt that changed the key but could not publish them,
        /// published now from the outbox.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        republished: Vec<Finding>,
    },
}

impl<K, B, C, A> KeyGuard<K, B, C, A> {
    /// A key-policy guard over these ports.
    pub fn new(config: Config, keys: K, bus: B, claims: C, budget: A) -> Self {
        KeyGuard {
            enforcer: KeyEnforcer {
                config,
                keys,
                budget,
            },
            delivery: Delivery { bus, claims },
        }
    }
}

impl<K: KeyStore, B: FindingBus, C: ClaimStore, A: ActionBudget> KeyGuard<K, B, C, A> {
    /// Handles one EventBridge event (or bare CloudTrail record) at time `now`.
    pub async fn handle_event(
        &self,
        event: &Value,
        now: Timestamp,
    ) -> Result<GuardOutcome, GuardError> {
        let parsed = CloudTrailEvent::try_from(event).and_then(|e| KeyEvent::try_from(&e));
        match parsed {
            Ok(key_event) => self.handle_key_event(&key_event, now).await,
            Err(Rejection::Skip(skip)) => Ok(GuardOutcome::Skipped {
                reason: skip.to_string(),
            }),
            Err(Rejection::Malformed(e)) => Ok(GuardOutcome::Rejected {
                error: e.to_string(),
            }),
        }
    }

    /// Handles a KMS change: every Region it names is re-read and checked.
    pub async fn handle_key_event(
        &self,
        event: &KeyEvent,
        now: Timestamp,
    ) -> Result<GuardOutcome, GuardError> {
        let key_id = self.enforcer.config.key_arn.key_id.as_str();
        if let KeyRef::Id(other) = &event.key
            && other != key_id
        {
            return Ok(skipped(Skip::OtherKey(other.clone())));
        }
        if let KeyRef::Alias(alias) = &event.key {
            // Resolve against live state; an alias that is not ours is not our business.
            let region = event
                .regions
                .first()
                .map(String::as_str)
                .unwrap_or_default();
            match self.enforcer.keys.describe_key(region, alias).await {
                Ok(k) if k.key_id == key_id => {}
                Ok(k) => return Ok(skipped(Skip::OtherKey(k.key_id))),
                Err(e) if e.kind == PortErrorKind::NotFound => {
                    return Ok(skipped(Skip::OtherKey(alias.clone())));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let republished = self.delivery.publish_outbox(&event.event_id, now).await?;
        let mut regions = Vec::new();
        let change = event.change();
        for region in &event.regions {
            regions.push(
                self.enforcer
                    .guard_region(&self.delivery, &change, region, now)
                    .await?,
            );
        }
        Ok(GuardOutcome::Handled {
            event_id: event.event_id.clone(),
            regions,
            republished,
        })
    }
}

impl<K: KeyStore, A: ActionBudget> KeyEnforcer<K, A> {
    /// Re-reads, checks and (per mode) remediates the key in `region` after `change`, then
    /// publishes the findings. region-guard uses it for replicas too.
    pub async fn guard_region<B: FindingBus, C: ClaimStore>(
        &self,
        delivery: &Delivery<B, C>,
        change: &Change,
        region: &str,
        now: Timestamp,
    ) -> Result<RegionReport, GuardError> {
        let trigger = change.trigger();
        let inspection = match inspect(&self.config, &self.keys, region).await {
            Ok(i) => i,
            Err(e) if e.retryable() => return Err(e.into()),
            Err(e) => {
                let change_time = change.time.unwrap_or(now);
                return self
                    .unreadable(delivery, region, &trigger, e, change_time, now)
                    .await;
            }
        };
        let problems: Vec<Finding> = inspection.problems().cloned().collect();
        if problems.is_empty() {
            // Compliant: what failed here before (fixed by hand, or by another copy of the
            // guard) is resolved.
            let resolved = delivery
                .resolve(&[&inspection.findings], Some(&trigger), now)
                .await;
            return Ok(RegionReport {
                region: region.to_owned(),
                outcome: RegionOutcome::Compliant,
                findings: resolved,
                plan: None,
            });
        }
        let change_time = change.time.unwrap_or(now);
        let claimed = delivery
            .claim_all(region, problems, change_time, now)
            .await?;
        if claimed.granted.is_empty() && claimed.degraded.is_empty() {
            return Ok(RegionReport {
                region: region.to_owned(),
                outcome: RegionOutcome::Duplicate,
                findings: Vec::new(),
                plan: Some(inspection.plan),
            });
        }
        let act = match self
            .act(change, &inspection, now, claimed.reason.clone())
            .await
        {
            Ok(a) => a,
            Err(e) => {
                delivery.release_all(&claimed.granted).await;
                return Err(e);
            }
        };
        let mut findings = claimed.granted.clone();
        findings.extend(claimed.degraded);
        record_act(&mut findings, &act, &inspection.plan, &trigger);
        if let Some(failure) = act.interrupted {
            // The retry must re-check, and remediate again if the write did not land.
            let release = delivery.release_all(&claimed.granted);
            return Err(delivery
                .interrupted(&findings, &change.event_id, now, failure, release)
                .await);
        }
        let changed = matches!(
            act.outcome,
            RegionOutcome::Remediated | RegionOutcome::RemediationFailed
        );
        delivery
            .publish_and_settle(
                &findings,
                &claimed.granted,
                now,
                Some((&change.event_id, changed)),
            )
            .await?;
        // The failures are remembered; what the remediation's re-read shows fixed resolves.
        findings.extend(
            delivery
                .resolve(&[&inspection.findings, &act.verified], Some(&trigger), now)
                .await,
        );
        Ok(RegionReport {
            region: region.to_owned(),
            outcome: act.outcome,
            findings,
            plan: Some(inspection.plan),
        })
    }

    async fn unreadable<B: FindingBus, C: ClaimStore>(
        &self,
        delivery: &Delivery<B, C>,
        region: &str,
        trigger: &Trigger,
        error: PortError,
        change_time: Timestamp,
        now: Timestamp,
    ) -> Result<RegionReport, GuardError> {
        let mut finding = unreadable_key(&self.config, region, &error);
        finding.trigger = Some(trigger.clone());
        let claimed = delivery
            .claim_all(region, vec![finding], change_time, now)
            .await?;
        let findings: Vec<Finding> = claimed
            .granted
            .iter()
            .chain(&claimed.degraded)
            .cloned()
            .collect();
        if findings.is_empty() {
            return Ok(RegionReport {
                region: region.to_owned(),
                outcome: RegionOutcome::Duplicate,
                findings,
                plan: None,
            });
        }
        delivery
            .publish_and_settle(&findings, &claimed.granted, now, None)
            .await?;
        delivery.resolve(&[&findings], Some(trigger), now).await;
        Ok(RegionReport {
            region: region.to_owned(),
            outcome: RegionOutcome::Unreadable,
            findings,
            plan: None,
        })
    }
}

/// Stamps the trigger and what was done on each finding of a Region.
fn record_act(findings: &mut [Finding], act: &Act, plan: &KeyPlan, trigger: &Trigger) {
    let mut previous_policy = act.remediation.previous_policy.clone();
    for f in findings {
        f.trigger = Some(trigger.clone());
        if f.check == CheckId::KeyGrants.id() {
            // Grants are never changed by the guard: their record says so, whatever
            // happened to the rest of the key.
            f.remediation = Some(Remediation {
                mode: act.remediation.mode,
                actions: plan.grants.iter().cloned().collect(),
                outcome: RemediationOutcome::Skipped,
                previous_policy: None,
            });
            continue;
        }
        // The replaced policy travels once per remediation, on the first finding: the
        // evidence needs it once, and it would weigh on every event otherwise.
        let mut remediation = act.remediation.clone();
        remediation.previous_policy = previous_policy.take();
        f.remediation = Some(remediation);
        if let Some(note) = &act.note {
            f.message.push(' ');
            f.message.push_str(note);
        }
    }
}

fn skipped(skip: Skip) -> GuardOutcome {
    GuardOutcome::Skipped {
        reason: skip.to_string(),
    }
}
