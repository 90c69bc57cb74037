//! Delivery, shared by every guard: the findings bus, the idempotency claims that make a
//! duplicate delivery handled once, and the outbox that keeps findings about a change the
//! guard made when publishing them failed (the retry would find nothing left to report).

use crate::domain::time::Timestamp;
use crate::finding::Finding;
use crate::guard::GuardError;
use crate::ports::{
    CLAIM_TTL_SECONDS, Claim, ClaimOutcome, ClaimRecord, ClaimStore, FindingBus, PortError,
};

/// Where a guard's findings go, and the claims that keep them once.
#[derive(Debug)]
pub struct Delivery<B, C> {
    /// The findings bus.
    pub bus: B,
    /// Idempotency claims and the outbox.
    pub claims: C,
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

impl<B: FindingBus, C: ClaimStore> Delivery<B, C> {
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
    pub(crate) async fn publish_or_stash(
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
