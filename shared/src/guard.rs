//! The key-policy guard's logic over the ports: re-read live state, check, plan, apply per
//! mode, verify, publish. Shared by the Lambda, `idc-guard replay` and `idc-guard audit`.
//!
//! Safety rules enforced here (docs/key-policy-guard.md § Safety invariants): the event only says WHERE to look, never what the
//! state is; changes by the guard's own role are re-checked but never re-remediated; a
//! per-key circuit breaker bounds remediation; every finding is claimed by fingerprint so a
//! duplicate delivery is handled once; a plan is only applied in `remediate` mode and only
//! after [`crate::repair`] proved the new policy passes every KP check.

use serde::Serialize;
use serde_json::Value;

use crate::checks::key_policy::{KeyPolicyReport, check_parsed};
use crate::checks::key_state::{check_key_grants, check_key_state, unreadable_key};
use crate::config::{Config, Mode};
use crate::event::{Change, CloudTrailEvent, Rejection, Skip};
use crate::finding::CheckId;
use crate::finding::{Finding, Remediation, RemediationOutcome, Status, Trigger};
use crate::key_event::{KeyEvent, KeyRef};
use crate::live::{KeySnapshot, KeyState};
use crate::plan::{KeyAction, KeyPlan, plan_key};
use crate::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimRecord, ClaimStore, FindingBus, KeyStore,
    PortError, PortErrorKind,
};
use crate::time::Timestamp;
use idc_guard_policy::document::parse_key_policy;

pub use crate::ports::{CLAIM_LEASE_SECONDS, CLAIM_TTL_SECONDS};

/// The ports a guard works through.
#[derive(Debug)]
pub struct KeyGuard<K, B, C, A> {
    /// The configuration.
    pub config: Config,
    /// KMS.
    pub keys: K,
    /// The findings bus.
    pub bus: B,
    /// Idempotency claims.
    pub claims: C,
    /// The circuit breaker.
    pub budget: A,
}

/// A failure a retry may fix; everything else is reported in findings and acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Reading or changing live state failed (see [`PortError::retryable`]).
    #[error("{0}")]
    Port(#[from] PortError),
    /// Another invocation holds the claim on these findings (a racing duplicate, or a crashed
    /// invocation whose lease has not lapsed). Retrying later finds them settled or free:
    /// acknowledging now could lose them.
    #[error("another invocation holds the claim on {count} finding(s) in {region}; retry later")]
    ClaimHeld {
        /// The Region.
        region: String,
        /// How many findings.
        count: usize,
    },
    /// The findings could not be published; they are carried here so the caller can log them.
    #[error("publishing {count} finding(s) failed: {source}")]
    Publish {
        /// How many findings.
        count: usize,
        /// The findings, as JSON, so nothing is lost.
        findings: String,
        /// Why.
        source: PortError,
    },
    /// What an earlier attempt left in the outbox cannot be read as findings. It is put back
    /// and carried here whole, so the invocation fails (and is retried) and the log keeps it.
    #[error(
        "the outbox of event {event_id} cannot be read ({reason}); kept, and carried here: {stashed}"
    )]
    Outbox {
        /// The event the outbox belongs to.
        event_id: String,
        /// Why it cannot be read.
        reason: String,
        /// What it holds.
        stashed: String,
    },
}

impl GuardError {
    /// Whether the invocation should be retried.
    pub fn retryable(&self) -> bool {
        match self {
            GuardError::Port(e) => e.retryable(),
            GuardError::ClaimHeld { .. }
            | GuardError::Publish { .. }
            | GuardError::Outbox { .. } => true,
        }
    }
}

/// The claims taken for a Region's problems.
#[derive(Debug, Default)]
pub(crate) struct Claimed {
    /// Claimed by this invocation.
    pub(crate) granted: Vec<Finding>,
    /// Reported without a claim, because the claim store failed for good.
    pub(crate) degraded: Vec<Finding>,
    /// Why remediation is off for the degraded ones.
    pub(crate) reason: Option<String>,
}

/// What acting on a plan came to: the Region's outcome, the remediation record, and a note
/// for the findings' messages.
#[derive(Debug, Clone)]
struct Act {
    outcome: RegionOutcome,
    remediation: Remediation,
    note: Option<String>,
    /// A write failed in a way a retry may fix: it may or may not have landed.
    interrupted: Option<PortError>,
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

/// Everything the checks found about the key in one Region.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The live state read.
    pub snapshot: KeySnapshot,
    /// Every finding, passes included.
    pub findings: Vec<Finding>,
    /// The plan that would fix the failures.
    pub plan: KeyPlan,
}

impl Inspection {
    /// The findings that are not passes.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status != Status::Pass)
    }
}

/// Inspects the key in `region`: reads live state and runs KEY-STATE, KP-* and KEY-GRANTS.
pub async fn inspect<K: KeyStore>(
    config: &Config,
    keys: &K,
    region: &str,
) -> Result<Inspection, PortError> {
    let key_id = config.key_arn.key_id.as_str();
    // Three independent reads, at once; the description's error comes first (a missing
    // replica is NotFound there).
    let (key, policy, grants) = futures_util::future::join3(
        keys.describe_key(region, key_id),
        keys.get_key_policy(region, key_id),
        keys.list_grants(region, key_id),
    )
    .await;
    let snapshot = KeySnapshot {
        key: key?,
        policy: policy?,
        grants: grants?,
    };
    Ok(check_snapshot(config, snapshot))
}

/// Runs the checks on a snapshot (pure).
pub fn check_snapshot(config: &Config, snapshot: KeySnapshot) -> Inspection {
    let region = snapshot.key.region.clone();
    let mut findings = vec![check_key_state(config, &snapshot.key)];
    let report: KeyPolicyReport = check_parsed(
        config,
        &parse_key_policy(&snapshot.policy),
        std::slice::from_ref(&region),
    );
    findings.extend(report.findings.iter().cloned());
    let grants = check_key_grants(config, &region, &snapshot.grants);
    let grant_failures = grants.iter().filter(|f| f.status == Status::Fail).count();
    findings.extend(grants);
    let plan = plan_key(config, &snapshot, &report, grant_failures);
    Inspection {
        snapshot,
        findings,
        plan,
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
        let key_id = self.config.key_arn.key_id.as_str();
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
            match self.keys.describe_key(region, alias).await {
                Ok(k) if k.key_id == key_id => {}
                Ok(k) => return Ok(skipped(Skip::OtherKey(k.key_id))),
                Err(e) if e.kind == PortErrorKind::NotFound => {
                    return Ok(skipped(Skip::OtherKey(alias.clone())));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let republished = self.publish_outbox(&event.event_id, now).await?;
        let mut regions = Vec::new();
        let change = event.change();
        for region in &event.regions {
            regions.push(self.guard_region(&change, region, now).await?);
        }
        Ok(GuardOutcome::Handled {
            event_id: event.event_id.clone(),
            regions,
            republished,
        })
    }

    /// Re-reads, checks and (per mode) remediates the key in `region` after `change`, then
    /// publishes the findings. region-guard uses it for replicas too.
    pub async fn guard_region(
        &self,
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
                return self.unreadable(region, &trigger, e, change_time, now).await;
            }
        };
        let problems: Vec<Finding> = inspection.problems().cloned().collect();
        if problems.is_empty() {
            return Ok(RegionReport {
                region: region.to_owned(),
                outcome: RegionOutcome::Compliant,
                findings: Vec::new(),
                plan: None,
            });
        }
        let change_time = change.time.unwrap_or(now);
        let claimed = self.claim_all(region, problems, change_time, now).await?;
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
                self.release_all(&claimed.granted).await;
                return Err(e);
            }
        };
        let mut findings = claimed.granted.clone();
        findings.extend(claimed.degraded);
        let mut previous_policy = act.remediation.previous_policy.clone();
        for f in &mut findings {
            f.trigger = Some(trigger.clone());
            if f.check == CheckId::KeyGrants.id() {
                // Grants are never changed by the guard: their record says so, whatever
                // happened to the rest of the key.
                f.remediation = Some(Remediation {
                    mode: act.remediation.mode,
                    actions: inspection.plan.grants.iter().cloned().collect(),
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
        if let Some(failure) = act.interrupted {
            // The retry must re-check, and remediate again if the write did not land.
            let release = self.release_all(&claimed.granted);
            return Err(self
                .interrupted(&findings, &change.event_id, now, failure, release)
                .await);
        }
        let changed = matches!(
            act.outcome,
            RegionOutcome::Remediated | RegionOutcome::RemediationFailed
        );
        self.publish_and_settle(
            &findings,
            &claimed.granted,
            now,
            Some((&change.event_id, changed)),
        )
        .await?;
        Ok(RegionReport {
            region: region.to_owned(),
            outcome: act.outcome,
            findings,
            plan: Some(inspection.plan),
        })
    }

    /// Claims each problem for the change at `change_time`. A duplicate delivery (or the same
    /// change seen from another Region) finds them claimed: settled ones are dropped, held
    /// ones make the invocation retry.
    pub(crate) async fn claim_all(
        &self,
        region: &str,
        problems: Vec<Finding>,
        change_time: Timestamp,
        now: Timestamp,
    ) -> Result<Claimed, GuardError> {
        let mut claimed = Claimed::default();
        let mut held = 0;
        for f in problems {
            let claim = Claim::new(&f.fingerprint, change_time, now);
            match self.claims.claim(&claim).await {
                Ok(ClaimOutcome::Granted) => claimed.granted.push(f),
                Ok(ClaimOutcome::Duplicate {
                    by: ClaimRecord::Held { .. },
                }) => held += 1,
                Ok(ClaimOutcome::Duplicate { .. }) => {}
                Err(e) if e.retryable() => {
                    self.release_all(&claimed.granted).await;
                    return Err(e.into());
                }
                // Without a working claim store there is no idempotency and no breaker:
                // report, change nothing.
                Err(e) => {
                    claimed.reason = Some(format!(
                        "Not remediated: the idempotency store failed ({e}), so a change could repeat; a human must act."
                    ));
                    claimed.degraded.push(f);
                }
            }
        }
        if held > 0 && claimed.granted.is_empty() && claimed.degraded.is_empty() {
            return Err(GuardError::ClaimHeld {
                region: region.to_owned(),
                count: held,
            });
        }
        Ok(claimed)
    }

    /// Publishes `findings`, then settles the claims this invocation holds. If publishing
    /// fails, the claims are released so the retry can publish; when the key was changed
    /// (`event`: its id, and whether a remediation ran), the retry would find it compliant,
    /// so the findings go to the outbox for it.
    pub(crate) async fn publish_and_settle(
        &self,
        findings: &[Finding],
        granted: &[Finding],
        now: Timestamp,
        event: Option<(&str, bool)>,
    ) -> Result<(), GuardError> {
        let published = match event {
            Some((event_id, true)) => self.publish_or_stash(findings, event_id, now).await,
            _ => self.publish(findings).await,
        };
        if let Err(e) = published {
            self.release_all(granted).await;
            return Err(e);
        }
        for f in granted {
            // Best effort: an unsettled claim only makes a redelivery retry until the lease
            // lapses, then it is handled again (a duplicate report, nothing lost).
            let _ = self.claims.settle(&f.fingerprint, now).await;
        }
        Ok(())
    }

    /// Publishes findings about a change to the key; if that fails, keeps them in the outbox
    /// for the retry of `event_id`, which would find the key compliant and have nothing left
    /// to say. Best effort: if the outbox fails too, the error (logged in full) still carries
    /// the findings.
    async fn publish_or_stash(
        &self,
        findings: &[Finding],
        event_id: &str,
        now: Timestamp,
    ) -> Result<(), GuardError> {
        let result = self.publish(findings).await;
        if let Err(GuardError::Publish { findings: json, .. }) = &result {
            let _ = self
                .claims
                .stash(event_id, json, now.plus(CLAIM_TTL_SECONDS))
                .await;
        }
        result
    }

    /// Ends a change whose write was interrupted: its findings are sent now (the retry may
    /// find nothing left to report), `release` gives its claims back so the retry evaluates
    /// it again, and the error that fails the invocation is returned: the publish failure if
    /// there was one (it carries the findings), else `failure`.
    pub(crate) async fn interrupted(
        &self,
        findings: &[Finding],
        event_id: &str,
        now: Timestamp,
        failure: PortError,
        release: impl Future<Output = ()>,
    ) -> GuardError {
        let published = self.publish_or_stash(findings, event_id, now).await;
        release.await;
        published.err().unwrap_or_else(|| failure.into())
    }

    /// Publishes what an earlier attempt at this event left in the outbox.
    pub(crate) async fn publish_outbox(
        &self,
        event_id: &str,
        now: Timestamp,
    ) -> Result<Vec<Finding>, GuardError> {
        let stashed = match self.claims.take_stashed(event_id).await {
            Ok(Some(json)) => json,
            Ok(None) => return Ok(Vec::new()),
            Err(e) if e.retryable() => return Err(e.into()),
            // A broken table cannot hold an outbox either: nothing to publish from it.
            Err(_) => return Ok(Vec::new()),
        };
        let findings: Vec<Finding> = match serde_json::from_str(&stashed) {
            Ok(findings) => findings,
            Err(e) => {
                // Never dropped: back into the outbox, and the invocation fails with it.
                let _ = self
                    .claims
                    .stash(event_id, &stashed, now.plus(CLAIM_TTL_SECONDS))
                    .await;
                return Err(GuardError::Outbox {
                    event_id: event_id.to_owned(),
                    reason: e.to_string(),
                    stashed,
                });
            }
        };
        if let Err(e) = self.publish(&findings).await {
            let _ = self
                .claims
                .stash(event_id, &stashed, now.plus(CLAIM_TTL_SECONDS))
                .await;
            return Err(e);
        }
        Ok(findings)
    }

    /// Gives claims back, best effort: a claim that cannot be released lapses with its lease,
    /// and until then redeliveries retry (they never acknowledge a held claim), so the
    /// original error, which the caller returns, is what matters.
    pub(crate) async fn release_all(&self, findings: &[Finding]) {
        for f in findings {
            let _ = self.claims.release(&f.fingerprint).await;
        }
    }

    /// Decides and (in remediate mode) applies the plan: the gates first, then the change and
    /// its verification.
    async fn act(
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
        Ok(if still.is_empty() {
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
        })
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

    async fn unreadable(
        &self,
        region: &str,
        trigger: &Trigger,
        error: PortError,
        change_time: Timestamp,
        now: Timestamp,
    ) -> Result<RegionReport, GuardError> {
        let mut finding = unreadable_key(&self.config, region, &error);
        finding.trigger = Some(trigger.clone());
        let claimed = self
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
        self.publish_and_settle(&findings, &claimed.granted, now, None)
            .await?;
        Ok(RegionReport {
            region: region.to_owned(),
            outcome: RegionOutcome::Unreadable,
            findings,
            plan: None,
        })
    }

    pub(crate) async fn publish(&self, findings: &[Finding]) -> Result<(), GuardError> {
        self.bus
            .publish(findings)
            .await
            .map_err(|source| GuardError::Publish {
                count: findings.len(),
                findings: serde_json::to_string(findings).unwrap_or_default(),
                source,
            })
    }
}

fn skipped(skip: Skip) -> GuardOutcome {
    GuardOutcome::Skipped {
        reason: skip.to_string(),
    }
}
