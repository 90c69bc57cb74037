//! One handling per instance-level change. An Identity Center change (AddRegion, an IdP
//! update) is logged once in EVERY enabled Region (docs/aws-behaviour.md § 4), so region-guard in each
//! Region receives a copy: the first to claim the change evaluates it, the others find it
//! claimed. The claim is keyed by what changed, not by the event id (each Region's copy may
//! have its own), and dated by the change's time, so a later change of the same kind (a
//! Region removed, then added again) is new.

use std::future::Future;

use serde::Serialize;

use crate::domain::time::Timestamp;
use crate::finding::{Finding, fingerprint};
use crate::guard::key::RegionReport;
use crate::guard::{Delivery, GuardError};
use crate::intake::envelope::{Change, Rejection, Skip};
use crate::ports::{Claim, ClaimOutcome, ClaimRecord, ClaimStore, FindingBus, PortError};

/// What a region- or idp-guard did with one event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ChangeOutcome {
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
    /// Another copy of the change (another Region's, or a redelivery) was handled already.
    Duplicate {
        /// The event.
        event_id: String,
    },
    /// Evaluated (and remediated, per mode).
    Handled {
        /// The event.
        event_id: String,
        /// Every finding published, passes included (they close earlier failures).
        findings: Vec<Finding>,
        /// Replicas handed to the key-policy guard's logic for repair.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        replicas: Vec<RegionReport>,
        /// Findings an earlier attempt left in the outbox, published now.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        republished: Vec<Finding>,
    },
}

impl From<Rejection> for ChangeOutcome {
    /// An event that did not become a trigger: skipped, or rejected as malformed.
    fn from(rejection: Rejection) -> ChangeOutcome {
        match rejection {
            Rejection::Skip(skip) => ChangeOutcome::Skipped {
                reason: skip.to_string(),
            },
            Rejection::Malformed(e) => ChangeOutcome::Rejected {
                error: e.to_string(),
            },
        }
    }
}

/// An instance-level change as the guards handle it.
#[derive(Debug, Clone, Copy)]
pub struct InstanceChange<'a> {
    /// The call (`AddRegion`, `UpdateExternalIdPConfigurationForDirectory`, ...).
    pub kind: &'a str,
    /// Its id, actor and time.
    pub change: &'a Change,
    /// The instance the record names, if it names one.
    pub instance_arn: Option<&'a str>,
    /// What it is about: a Region, `instance`, `identity-source`.
    pub subject: &'a str,
    /// The Region whose copy this is (named when another copy holds the claim).
    pub delivered_in: &'a str,
}

/// What evaluating a change produced.
#[derive(Debug, Default)]
pub struct Assessment {
    /// The findings to publish.
    pub findings: Vec<Finding>,
    /// Replicas handed to the key guard's logic.
    pub replicas: Vec<RegionReport>,
    /// The findings of the re-read after a remediation: not published, they resolve what
    /// the remediation fixed (a second observation for the open-failure ledger).
    pub verified: Vec<Finding>,
    /// Whether live state was changed (so unpublished findings go to the outbox).
    pub changed: bool,
    /// A write failed in a way a retry may fix and may or may not have landed: the findings
    /// are published, then the invocation fails so the retry re-reads and finishes.
    pub interrupted: Option<PortError>,
}

/// The idempotency key of a change: its kind, the instance and what it is about (a Region,
/// or `instance`).
pub fn change_fingerprint(kind: &str, instance_arn: &str, subject: &str) -> String {
    fingerprint("CHANGE", instance_arn, subject, kind)
}

/// The answer to a change claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeClaim {
    /// Ours to evaluate, and to remediate per mode.
    Granted,
    /// Handled already by another copy.
    Duplicate,
    /// The claim store failed for good: evaluate and report, never remediate (a change
    /// could repeat). The reason goes into the findings.
    Degraded(String),
}

impl<B: FindingBus, C: ClaimStore> Delivery<B, C> {
    /// Handles `change` once: skips another instance's, publishes what an earlier attempt left
    /// in the outbox, claims the change, runs `assess` (given the claim) unless another copy
    /// was handled, stamps the trigger on every finding, publishes and settles. A failure
    /// gives the claim back for the retry.
    pub async fn handle_change<F, Fut>(
        &self,
        instance_arn: &str,
        change: InstanceChange<'_>,
        now: Timestamp,
        assess: F,
    ) -> Result<ChangeOutcome, GuardError>
    where
        F: FnOnce(ChangeClaim) -> Fut,
        Fut: Future<Output = Result<Assessment, GuardError>>,
    {
        if let Some(arn) = change.instance_arn
            && arn != instance_arn
        {
            return Ok(Rejection::Skip(Skip::OtherInstance(arn.to_owned())).into());
        }
        let event_id = change.change.event_id.clone();
        let republished = self.publish_outbox(&event_id, now).await?;
        let change_fp = change_fingerprint(change.kind, instance_arn, change.subject);
        let change_time = change.change.time.unwrap_or(now);
        let claim = self
            .claim_change(&change_fp, change.delivered_in, change_time, now)
            .await?;
        if claim == ChangeClaim::Duplicate {
            return Ok(ChangeOutcome::Duplicate { event_id });
        }
        let mut assessment = match assess(claim.clone()).await {
            Ok(a) => a,
            Err(e) => {
                self.abandon_change(&change_fp, &claim).await;
                return Err(e);
            }
        };
        let trigger = change.change.trigger();
        for f in &mut assessment.findings {
            f.trigger = Some(trigger.clone());
        }
        if let Some(failure) = assessment.interrupted.take() {
            let release = self.abandon_change(&change_fp, &claim);
            return Err(self
                .interrupted(&assessment.findings, &event_id, now, failure, release)
                .await);
        }
        self.finish_change(
            &change_fp,
            &claim,
            &assessment.findings,
            &event_id,
            assessment.changed,
            now,
        )
        .await?;
        let resolved = self
            .resolve(
                &[&assessment.findings, &assessment.verified],
                Some(&trigger),
                now,
            )
            .await;
        assessment.findings.extend(resolved);
        Ok(ChangeOutcome::Handled {
            event_id,
            findings: assessment.findings,
            replicas: assessment.replicas,
            republished,
        })
    }

    /// Claims the change `change_fp` made at `change_time`. A copy being handled elsewhere
    /// makes this invocation retry ([`GuardError::ClaimHeld`]) rather than drop it.
    async fn claim_change(
        &self,
        change_fp: &str,
        region: &str,
        change_time: Timestamp,
        now: Timestamp,
    ) -> Result<ChangeClaim, GuardError> {
        match self
            .claims
            .claim(&Claim::new(change_fp, change_time, now))
            .await
        {
            Ok(ClaimOutcome::Granted) => Ok(ChangeClaim::Granted),
            Ok(ClaimOutcome::Duplicate {
                by: ClaimRecord::Held { .. },
            }) => Err(GuardError::ClaimHeld {
                region: region.to_owned(),
                count: 1,
            }),
            Ok(ClaimOutcome::Duplicate { .. }) => Ok(ChangeClaim::Duplicate),
            Err(e) if e.retryable() => Err(e.into()),
            Err(e) => Ok(ChangeClaim::Degraded(format!(
                "Not remediated: the idempotency store failed ({e}), so a change could repeat; a human must act."
            ))),
        }
    }

    /// Publishes the change's findings, then settles its claim; if publishing fails the
    /// claim is released for the retry, and when something was `changed` the findings wait
    /// in the outbox under `event_id` (the retry would find nothing left to report).
    async fn finish_change(
        &self,
        change_fp: &str,
        claim: &ChangeClaim,
        findings: &[Finding],
        event_id: &str,
        changed: bool,
        now: Timestamp,
    ) -> Result<(), GuardError> {
        let published = self
            .publish_and_settle(findings, &[], now, Some((event_id, changed)))
            .await;
        if *claim == ChangeClaim::Granted {
            // Best effort either way: an unsettled claim lapses with its lease.
            let _ = match &published {
                Ok(()) => self.claims.settle(change_fp, now).await,
                Err(_) => self.claims.release(change_fp).await,
            };
        }
        published
    }

    /// Gives the change claim back after a failure a retry may fix.
    async fn abandon_change(&self, change_fp: &str, claim: &ChangeClaim) {
        if *claim == ChangeClaim::Granted {
            let _ = self.claims.release(change_fp).await;
        }
    }
}
