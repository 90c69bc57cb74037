//! In-process ports for one-shot runs without AWS-side state (`idc-guard replay` without a
//! state table or a bus): findings collected in memory, and a claim store and a circuit
//! breaker with the DynamoDB adapter's semantics. The test doubles with fault injection wrap
//! these (`memory`, feature `test-util`).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::domain::time::Timestamp;
use crate::finding::Finding;
use crate::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimRecord, ClaimStore, FindingBus, Ledger,
    PortError,
};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Findings published in memory.
#[derive(Debug, Default)]
pub struct LocalBus {
    published: Mutex<Vec<Finding>>,
}

impl LocalBus {
    /// Everything published.
    pub fn published(&self) -> Vec<Finding> {
        lock(&self.published).clone()
    }
}

impl FindingBus for LocalBus {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PortError> {
        lock(&self.published).extend_from_slice(findings);
        Ok(())
    }
}

/// Claims in memory, with [`ClaimRecord::yields_to`] as the rule, the outbox and the
/// open-failure ledgers.
#[derive(Debug, Default)]
pub struct LocalClaims {
    records: Mutex<BTreeMap<String, (ClaimRecord, Timestamp)>>,
    outbox: Mutex<BTreeMap<String, String>>,
    ledgers: Mutex<BTreeMap<String, Ledger>>,
}

impl ClaimStore for LocalClaims {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        let mut records = lock(&self.records);
        if let Some((record, expires)) = records.get(&claim.fingerprint)
            && *expires >= claim.now
            && !record.yields_to(claim)
        {
            return Ok(ClaimOutcome::Duplicate { by: *record });
        }
        records.insert(
            claim.fingerprint.clone(),
            (
                ClaimRecord::Held {
                    lease_until: claim.lease_until,
                },
                claim.expires,
            ),
        );
        Ok(ClaimOutcome::Granted)
    }

    async fn settle(&self, fingerprint: &str, now: Timestamp) -> Result<(), PortError> {
        if let Some(entry) = lock(&self.records).get_mut(fingerprint) {
            entry.0 = ClaimRecord::Settled { at: now };
        }
        Ok(())
    }

    async fn release(&self, fingerprint: &str) -> Result<(), PortError> {
        lock(&self.records).remove(fingerprint);
        Ok(())
    }

    async fn stash(
        &self,
        event_id: &str,
        findings: &str,
        _expires: Timestamp,
    ) -> Result<(), PortError> {
        lock(&self.outbox).insert(event_id.to_owned(), findings.to_owned());
        Ok(())
    }

    async fn take_stashed(&self, event_id: &str) -> Result<Option<String>, PortError> {
        Ok(lock(&self.outbox).remove(event_id))
    }

    async fn open_failures(&self, scope: &str) -> Result<Ledger, PortError> {
        Ok(lock(&self.ledgers).get(scope).cloned().unwrap_or_default())
    }

    async fn write_failures(
        &self,
        scope: &str,
        ledger: &Ledger,
        expires: Timestamp,
    ) -> Result<bool, PortError> {
        let mut ledgers = lock(&self.ledgers);
        let stored = ledgers.get(scope).map_or(0, |l| l.version);
        if stored != ledger.version {
            return Ok(false);
        }
        if ledger.open.is_empty() {
            ledgers.remove(scope);
        } else {
            ledgers.insert(
                scope.to_owned(),
                Ledger {
                    version: ledger.version + 1,
                    open: ledger.open.clone(),
                    expires: Some(expires),
                },
            );
        }
        Ok(true)
    }
}

/// A circuit breaker in memory: a counter per key and window.
#[derive(Debug, Default)]
pub struct LocalBudget {
    used: Mutex<BTreeMap<(String, Timestamp), u32>>,
}

impl ActionBudget for LocalBudget {
    async fn take(
        &self,
        key_arn: &str,
        window_start: Timestamp,
        limit: u32,
        _expires: Timestamp,
    ) -> Result<Budget, PortError> {
        let mut used = lock(&self.used);
        let n = used.entry((key_arn.to_owned(), window_start)).or_default();
        if *n >= limit {
            return Ok(Budget::Exhausted { limit });
        }
        *n += 1;
        Ok(Budget::Granted { used: *n })
    }
}

/// A [`Pause`](crate::ports::Pause) that does not wait (in-process runs, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPause;

impl crate::ports::Pause for NoPause {
    async fn pause(&self, _seconds: u64) {}
}
