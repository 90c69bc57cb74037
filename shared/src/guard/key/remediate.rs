//! Acting on a plan in `remediate` mode: the gates (mode, nothing to do, a replica still
//! being created, a broken state table, loop protection, the circuit breaker), then the change
//! and its verification against live state, never against what was written.

use crate::config::Mode;
use crate::domain::live::KeyState;
use crate::domain::time::Timestamp;
use crate::finding::{CheckId, Finding, Remediation, RemediationOutcome, Status};
use crate::guard::GuardError;
use crate::intake::envelope::Change;
use crate::plan::{KeyAction, KeyPlan};
use crate::ports::{ActionBudget, Budget, KeyStore, PortError, PortErrorKind};

use super::inspect::{Inspection, inspect};
use super::{KeyEnforcer, RegionOutcome};

/// What acting on a plan came to: the Region's outcome, the remediation record, and a note
/// for the findings' messages.
#[derive(Debug, Clone)]
pub(super) struct Act {
    pub(super) outcome: RegionOutcome,
    pub(super) remediation: Remediation,
    pub(super) note: Option<String>,
    /// A write failed in a way a retry may fix: it may or may not have landed.
    pub(super) interrupted: Option<PortError>,
    /// The checks of the key re-read after a remediation (empty when none ran or the re-read
    /// failed): what they show passing is resolved.
    pub(super) verified: Vec<Finding>,
}

/// What a Region's act records, whatever happens: the mode, the plan in words, and the policy
/// a rewrite replaces (for the evidence).
struct Acts {
    mode: Mode,
    actions: Vec<String>,
    previous_policy: Option<String>,
}

impl Acts {
    fn act(&self, outcome: RegionOutcome, record: RemediationOutcome, note: Option<String>) -> Act {
        Act {
            outcome,
            remediation: Remediation {
                mode: self.mode,
                actions: self.actions.clone(),
                outcome: record,
                previous_policy: None,
            },
            note,
            interrupted: None,
            verified: Vec::new(),
        }
    }

    /// Nothing changed; the plan is reported.
    fn report(&self, note: Option<String>) -> Act {
        self.act(RegionOutcome::Reported, RemediationOutcome::Skipped, note)
    }

    /// A change was sent: the replaced policy travels with the finding into the evidence.
    fn applied(&self, outcome: RegionOutcome, record: RemediationOutcome, note: String) -> Act {
        let mut a = self.act(outcome, record, Some(note));
        a.remediation.previous_policy = self.previous_policy.clone();
        a
    }
}

impl<K: KeyStore, A: ActionBudget> KeyEnforcer<K, A> {
    /// Decides and (in remediate mode) applies the plan: the gates first, then the change and
    /// its verification.
    pub(super) async fn act(
        &self,
        change: &Change,
        inspection: &Inspection,
        now: Timestamp,
        degraded: Option<String>,
    ) -> Result<Act, GuardError> {
        let acts = Acts {
            mode: self.config.remediation.mode,
            actions: inspection.plan.describe_all(),
            previous_policy: inspection
                .plan
                .actions
                .iter()
                .any(|a| matches!(a, KeyAction::PutKeyPolicy { .. }))
                .then(|| inspection.plan.previous_policy.clone())
                .flatten(),
        };
        if let Some(not_now) = self
            .not_remediated(change, inspection, now, degraded, &acts)
            .await?
        {
            return Ok(not_now);
        }
        self.remediate(&inspection.plan, &acts).await
    }

    /// Why the plan is not applied now, as the finding's act: the mode, nothing to do, a
    /// replica still being created (retried), a broken state table, or a safety gate.
    async fn not_remediated(
        &self,
        change: &Change,
        inspection: &Inspection,
        now: Timestamp,
        degraded: Option<String>,
        acts: &Acts,
    ) -> Result<Option<Act>, GuardError> {
        let plan = &inspection.plan;
        match acts.mode {
            Mode::DryRun => {
                return Ok(Some(acts.act(
                    RegionOutcome::Reported,
                    RemediationOutcome::Planned,
                    None,
                )));
            }
            Mode::Notify => {
                return Ok(Some(acts.report((!plan.is_empty()).then(|| {
                    "Mode notify: nothing was changed; the remediation lists what remediate mode would do.".to_owned()
                }))));
            }
            Mode::Remediate => {}
        }
        if plan.is_empty() {
            return Ok(Some(acts.report(None)));
        }
        if inspection.snapshot.key.state == KeyState::Creating {
            // KMS refuses changes to a replica still being created; it is ready in seconds.
            return Err(GuardError::Port(PortError::new(
                "kms:PutKeyPolicy",
                &plan.region,
                PortErrorKind::Transient,
                "the replica is still Creating; retrying once it is usable",
            )));
        }
        if let Some(reason) = degraded {
            return Ok(Some(acts.report(Some(reason))));
        }
        Ok(self
            .may_remediate(change, now)
            .await?
            .map(|refusal| acts.report(Some(refusal))))
    }

    /// Applies the plan, then verifies against live state, never against what was written.
    async fn remediate(&self, plan: &KeyPlan, acts: &Acts) -> Result<Act, GuardError> {
        if let Err((failure, sent)) = self.apply(plan).await {
            if failure.retryable() && !sent {
                // Nothing reached KMS (a read failed, or the policy changed since it was
                // read): the retry starts over from live state with nothing lost.
                return Err(failure.into());
            }
            if failure.retryable() {
                // A lost answer does not mean a lost write: the retry may find the key
                // compliant and have nothing to report, so the findings go out now.
                let note = format!(
                    "Remediation interrupted ({failure}): the write may or may not have landed. The invocation is retried and re-checks the live key."
                );
                let mut a = acts.applied(
                    RegionOutcome::RemediationFailed,
                    RemediationOutcome::Failed,
                    note,
                );
                a.interrupted = Some(failure);
                return Ok(a);
            }
            return Ok(acts.applied(
                RegionOutcome::RemediationFailed,
                RemediationOutcome::Failed,
                format!("Remediation failed: {failure}."),
            ));
        }
        let after = match inspect(&self.config, &self.keys, &plan.region).await {
            Ok(after) => after,
            Err(e) => {
                return Ok(acts.applied(
                    RegionOutcome::RemediationFailed,
                    RemediationOutcome::Applied,
                    format!(
                        "Remediation applied, but the key could not be re-read to verify it ({e})."
                    ),
                ));
            }
        };
        let mut still: Vec<&str> = after
            .problems()
            .filter(|f| matches!(f.status, Status::Fail | Status::Error))
            .filter(|f| f.check != CheckId::KeyGrants)
            .map(|f| f.check.id())
            .collect();
        still.sort_unstable();
        still.dedup();
        let mut act = if still.is_empty() {
            acts.applied(
                RegionOutcome::Remediated,
                RemediationOutcome::Applied,
                "Remediated and verified: the key's live state in this Region passes the checks."
                    .to_owned(),
            )
        } else {
            acts.applied(
                RegionOutcome::RemediationFailed,
                RemediationOutcome::Failed,
                format!(
                    "Remediation applied but verification still fails {}.",
                    still.join(", ")
                ),
            )
        };
        act.verified = after.findings;
        Ok(act)
    }

    /// The safety gates every remediation passes, in order: the change is not the guards'
    /// own (loop protection), and the per-key circuit breaker grants one action. `Some` is
    /// the reason not to act, for the finding.
    pub(crate) async fn may_remediate(
        &self,
        change: &Change,
        now: Timestamp,
    ) -> Result<Option<String>, GuardError> {
        let settings = &self.config.remediation;
        if let Some(role) = settings
            .guard_role_arns
            .iter()
            .find(|r| change.actor.is_role(r))
        {
            return Ok(Some(format!(
                "The change was made by idc-guard's own role {role}: re-checked, never re-remediated (loop protection); a human must look."
            )));
        }
        let window = i64::from(settings.window_minutes) * 60;
        let window_start = Timestamp(now.0 - now.0.rem_euclid(window.max(1)));
        let budget = self
            .budget
            .take(
                // One budget for the key across its Regions (one budget per key: docs/key-policy-guard.md § Circuit breaker).
                &self.config.key_arn.key_id,
                window_start,
                settings.max_actions_per_window,
                window_start.plus(2 * window),
            )
            .await;
        match budget {
            Ok(Budget::Granted { .. }) => Ok(None),
            Ok(Budget::Exhausted { limit }) => Ok(Some(format!(
                "Circuit breaker open: {limit} remediations of this key (all Regions) already in the current {}-minute window; nothing was changed until it closes at {}.",
                settings.window_minutes,
                window_start.plus(window)
            ))),
            Err(e) if e.retryable() => Err(e.into()),
            Err(e) => Ok(Some(format!(
                "Not remediated: the circuit breaker could not be read ({e}); a human must act."
            ))),
        }
    }

    /// Applies the plan's actions in order. On failure, also says whether a change was sent
    /// to KMS (it may have landed even if its answer says otherwise).
    async fn apply(&self, plan: &KeyPlan) -> Result<(), (PortError, bool)> {
        let (region, key) = (plan.region.as_str(), plan.key_id.as_str());
        let mut sent = false;
        for action in &plan.actions {
            let result = match action {
                KeyAction::CancelKeyDeletion => {
                    sent = true;
                    self.keys.cancel_key_deletion(region, key).await
                }
                KeyAction::EnableKey => {
                    sent = true;
                    self.keys.enable_key(region, key).await
                }
                KeyAction::PutKeyPolicy { policy, .. } => {
                    // KMS has no conditional write: re-read just before writing, so a change
                    // made since the inspection is not overwritten (its own event follows).
                    match self.keys.get_key_policy(region, key).await {
                        Err(e) => Err(e),
                        Ok(current)
                            if plan.previous_policy.as_deref() != Some(current.as_str()) =>
                        {
                            Err(PortError::new(
                                "kms:PutKeyPolicy",
                                region,
                                PortErrorKind::Transient,
                                "the key policy changed since it was read; re-checking instead of overwriting it",
                            ))
                        }
                        Ok(_) => {
                            sent = true;
                            self.keys.put_key_policy(region, key, policy).await
                        }
                    }
                }
            };
            result.map_err(|e| (e, sent))?;
        }
        Ok(())
    }
}
