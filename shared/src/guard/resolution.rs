//! Findings that resolve. Every guard and the sweep remember, per resource and Region, the
//! checks that fail there (the state table's open-failure ledger). When such a check passes
//! again, whoever sees it first (the guard that fixed it, the guard woken by a person's fix,
//! or the sweep) publishes one resolution: a pass with the failure's check, resource, Region
//! and severity, naming the failure's fingerprint in `resolves`.
//!
//! Once, across Regions, redeliveries and concurrent invocations: the resolution's fingerprint
//! is derived from the failure's and claimed in the state table before it is published (dated
//! by when the failure began), so of two invocations that read the same open failure one
//! publishes it; then the ledger is written with a version check, so the next observation
//! finds the failure closed. A crash before the write leaves the failure open and its
//! resolution settled: the next observation closes it without publishing again. A crash
//! before publishing leaves the claim to lapse with its lease, and the next observation
//! publishes. The same failure coming back later is a new failure and resolves anew.

use std::collections::BTreeMap;

use crate::domain::time::Timestamp;
use crate::finding::{Finding, Status, Trigger, fingerprint};
use crate::guard::Delivery;
use crate::ports::{
    Claim, ClaimOutcome, ClaimRecord, ClaimStore, FindingBus, LEDGER_TTL_SECONDS, Ledger,
    OpenFailure,
};

/// How many times a ledger write that lost a race is read and reconciled again.
const WRITE_ATTEMPTS: usize = 3;

/// A ledger younger than this is not rewritten only to push its expiry back.
const REFRESH_AFTER_SECONDS: i64 = 24 * 3600;

/// The ledger's scope of a finding: its resource in its Region.
pub fn scope_of(f: &Finding) -> String {
    format!("{}#{}", f.resource, f.region)
}

/// Whether a finding keeps its check open: a failure or an action required. An error (the
/// check could not run) says nothing either way.
fn failing(f: &Finding) -> bool {
    matches!(f.status, Status::Fail | Status::Warn)
}

/// What the observations of one scope make of its ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// The ledger to write (at the version read).
    pub ledger: Ledger,
    /// The resolutions to publish.
    pub resolved: Vec<Finding>,
}

impl Reconciled {
    /// Whether the open failures differ from those of `read`, the ledger reconciled.
    pub fn changes(&self, read: &Ledger) -> bool {
        self.ledger.open != read.open
    }
}

/// Applies `observations` (each a run of checks on one scope, in the order they were made:
/// the inspection, then the re-read after a remediation) to `ledger`. A check that fails is
/// opened (its first failure is kept); a check seen only passing closes, with a resolution;
/// a check not observed, or only in error, is left as it is.
pub fn reconcile(
    ledger: &Ledger,
    observations: &[&[Finding]],
    trigger: Option<&Trigger>,
    now: Timestamp,
) -> Reconciled {
    let mut open = ledger.open.clone();
    let mut resolved = Vec::new();
    for findings in observations {
        let mut by_check: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in *findings {
            by_check.entry(f.check.id()).or_default().push(f);
        }
        for (check, seen) in by_check {
            if let Some(first) = seen.iter().find(|f| failing(f)) {
                open.entry(check.to_owned()).or_insert_with(|| OpenFailure {
                    fingerprint: first.fingerprint.clone(),
                    severity: first.severity,
                    // The change that caused it, when known; else when it was seen.
                    since: first
                        .trigger
                        .as_ref()
                        .or(trigger)
                        .map_or_else(|| now.to_string(), |t| t.time.clone()),
                });
            } else if seen.iter().all(|f| f.status == Status::Pass)
                && let Some(pass) = seen.first()
                && let Some(failure) = open.remove(check)
            {
                resolved.push(resolution(pass, &failure, trigger));
            }
        }
    }
    Reconciled {
        ledger: Ledger {
            version: ledger.version,
            open,
            expires: ledger.expires,
        },
        resolved,
    }
}

/// The resolution of `failure`, from the pass that closes it.
fn resolution(pass: &Finding, failure: &OpenFailure, trigger: Option<&Trigger>) -> Finding {
    let check = pass.check;
    let mut message = format!(
        "{check} passes again in {}: the failure open since {} (finding {}) is resolved.",
        pass.region, failure.since, failure.fingerprint
    );
    if !pass.message.is_empty() {
        message.push(' ');
        message.push_str(&pass.message);
    }
    Finding {
        check,
        status: Status::Pass,
        severity: failure.severity,
        region: pass.region.clone(),
        resource: pass.resource.clone(),
        message,
        statement: None,
        fingerprint: fingerprint(
            check.id(),
            &pass.resource,
            &pass.region,
            &format!("resolves {}", failure.fingerprint),
        ),
        trigger: trigger.cloned().or_else(|| pass.trigger.clone()),
        remediation: None,
        resolves: Some(failure.fingerprint.clone()),
    }
}

impl<B: FindingBus, C: ClaimStore> Delivery<B, C> {
    /// Records what `observations` saw in the open-failure ledgers and publishes a resolution
    /// for each failure they show fixed; returns the resolutions published. Never fails the
    /// invocation: a ledger that cannot be read or written, or a publish that fails, leaves
    /// the failure open, and the next observation (a later event, the sweep) resolves it.
    pub async fn resolve(
        &self,
        observations: &[&[Finding]],
        trigger: Option<&Trigger>,
        now: Timestamp,
    ) -> Vec<Finding> {
        let mut scopes: BTreeMap<String, Vec<Vec<Finding>>> = BTreeMap::new();
        for (i, findings) in observations.iter().enumerate() {
            for f in *findings {
                let runs = scopes.entry(scope_of(f)).or_default();
                runs.resize_with(observations.len(), Vec::new);
                if let Some(run) = runs.get_mut(i) {
                    run.push(f.clone());
                }
            }
        }
        let mut published = Vec::new();
        for (scope, runs) in scopes {
            let runs: Vec<&[Finding]> = runs.iter().map(Vec::as_slice).collect();
            published.extend(self.resolve_scope(&scope, &runs, trigger, now).await);
        }
        published
    }

    async fn resolve_scope(
        &self,
        scope: &str,
        runs: &[&[Finding]],
        trigger: Option<&Trigger>,
        now: Timestamp,
    ) -> Vec<Finding> {
        let mut published: Vec<Finding> = Vec::new();
        for _ in 0..WRITE_ATTEMPTS {
            let Ok(ledger) = self.claims.open_failures(scope).await else {
                break;
            };
            let mut r = reconcile(&ledger, runs, trigger, now);
            let fresh: Vec<Finding> = std::mem::take(&mut r.resolved)
                .into_iter()
                .filter(|f| !published.iter().any(|p| p.fingerprint == f.fingerprint))
                .collect();
            let (claimed, kept) = self.claim_resolutions(fresh, &ledger, now).await;
            // What another invocation is publishing (or what could not be claimed) stays open
            // here, for it (or the next observation) to close; the rest is written.
            for check in kept {
                if let Some(open) = ledger.open.get(&check) {
                    r.ledger.open.insert(check, open.clone());
                }
            }
            if !claimed.is_empty() {
                if self.bus.publish(&claimed).await.is_err() {
                    self.release_all(&claimed).await;
                    break;
                }
                for f in &claimed {
                    let _ = self.claims.settle(&f.fingerprint, now).await;
                }
                published.extend(claimed);
            }
            let stale = r
                .ledger
                .expires
                .is_none_or(|e| e.0 < now.plus(LEDGER_TTL_SECONDS - REFRESH_AFTER_SECONDS).0);
            if !r.changes(&ledger) && (r.ledger.open.is_empty() || !stale) {
                break;
            }
            match self
                .claims
                .write_failures(scope, &r.ledger, now.plus(LEDGER_TTL_SECONDS))
                .await
            {
                Ok(false) => {}
                Ok(true) | Err(_) => break,
            }
        }
        published
    }

    /// Claims each resolution, so concurrent invocations that read the same open failure
    /// publish it once. A claim is dated by the failure's `since`: a resolution settled after
    /// the failure began (a crash after publishing) is not published again, while the same
    /// failure coming back later resolves anew. Returns the resolutions this invocation may
    /// publish, and the checks to keep open (another invocation holds their claim, or the
    /// claim failed).
    async fn claim_resolutions(
        &self,
        resolutions: Vec<Finding>,
        ledger: &Ledger,
        now: Timestamp,
    ) -> (Vec<Finding>, Vec<String>) {
        let mut granted = Vec::new();
        let mut kept = Vec::new();
        for f in resolutions {
            let since = ledger
                .open
                .get(f.check.id())
                .and_then(|o| Timestamp::parse(&o.since))
                .unwrap_or(Timestamp(0));
            match self
                .claims
                .claim(&Claim::new(&f.fingerprint, since, now))
                .await
            {
                Ok(ClaimOutcome::Granted) => granted.push(f),
                Ok(ClaimOutcome::Duplicate {
                    by: ClaimRecord::Settled { .. },
                }) => {}
                Ok(ClaimOutcome::Duplicate {
                    by: ClaimRecord::Held { .. },
                })
                | Err(_) => kept.push(f.check.id().to_owned()),
            }
        }
        (granted, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CheckId, Severity};

    fn finding(check: CheckId, status: Status, cause: &str) -> Finding {
        Finding {
            check,
            status,
            severity: if status == Status::Pass {
                Severity::Info
            } else {
                Severity::Critical
            },
            region: "eu-west-1".into(),
            resource: "arn:aws:kms:eu-west-1:111122223333:key/mrk-1".into(),
            message: format!("{check} {cause}"),
            statement: None,
            fingerprint: fingerprint(check.id(), "k", "eu-west-1", cause),
            trigger: None,
            remediation: None,
            resolves: None,
        }
    }

    const NOW: Timestamp = Timestamp(1_800_000_000);

    #[test]
    fn a_failure_opens_and_its_pass_resolves_it_once_at_its_severity() {
        let fail = finding(CheckId::KpAdmin, Status::Fail, "x");
        let opened = reconcile(
            &Ledger::default(),
            &[std::slice::from_ref(&fail)],
            None,
            NOW,
        );
        assert!(opened.changes(&Ledger::default()) && opened.resolved.is_empty());
        assert_eq!(opened.ledger.open["KP-ADMIN"].fingerprint, fail.fingerprint);

        let pass = finding(CheckId::KpAdmin, Status::Pass, "ok");
        let closed = reconcile(&opened.ledger, &[std::slice::from_ref(&pass)], None, NOW);
        assert!(closed.changes(&opened.ledger) && closed.ledger.open.is_empty());
        let [r] = closed.resolved.as_slice() else {
            panic!("{:?}", closed.resolved)
        };
        assert_eq!(r.resolves.as_deref(), Some(fail.fingerprint.as_str()));
        assert_eq!((r.status, r.severity), (Status::Pass, Severity::Critical));
        assert_ne!(r.fingerprint, pass.fingerprint);

        // Seen again: nothing open, nothing to say.
        let again = reconcile(&closed.ledger, &[&[pass]], None, NOW);
        assert!(!again.changes(&closed.ledger) && again.resolved.is_empty());
    }

    #[test]
    fn the_first_failure_is_kept_and_a_check_still_failing_stays_open() {
        let first = finding(CheckId::KpAdmin, Status::Fail, "a");
        let other = finding(CheckId::KpAdmin, Status::Fail, "b");
        let opened = reconcile(
            &Ledger::default(),
            &[std::slice::from_ref(&first)],
            None,
            NOW,
        );
        let mixed = [other, finding(CheckId::KpAdmin, Status::Pass, "ok")];
        let still = reconcile(&opened.ledger, &[&mixed], None, NOW);
        assert!(!still.changes(&opened.ledger) && still.resolved.is_empty());
        assert_eq!(still.ledger.open["KP-ADMIN"].fingerprint, first.fingerprint);
    }

    #[test]
    fn errors_and_unobserved_checks_leave_the_ledger_alone() {
        let opened = reconcile(
            &Ledger::default(),
            &[&[finding(CheckId::KpAdmin, Status::Fail, "a")]],
            None,
            NOW,
        );
        let error = finding(CheckId::KpAdmin, Status::Error, "unreadable");
        let other = finding(CheckId::KeyState, Status::Pass, "ok");
        let r = reconcile(&opened.ledger, &[&[error, other]], None, NOW);
        assert!(!r.changes(&opened.ledger) && r.resolved.is_empty());
    }

    #[test]
    fn a_remediation_fails_then_verifies_in_one_pass() {
        let fail = finding(CheckId::KpServiceUse, Status::Fail, "x");
        let pass = finding(CheckId::KpServiceUse, Status::Pass, "ok");
        let r = reconcile(&Ledger::default(), &[&[fail], &[pass]], None, NOW);
        assert_eq!(r.resolved.len(), 1);
        assert!(r.ledger.open.is_empty() && !r.changes(&Ledger::default()));
    }

    /// How many failures the ledger of `scope` holds open.
    async fn open_count(claims: &crate::ports::local::LocalClaims, scope: &str) -> usize {
        claims.open_failures(scope).await.unwrap().open.len()
    }

    /// A bus that lets other tasks run while it publishes (as a network call would).
    #[derive(Default)]
    struct YieldingBus(crate::ports::local::LocalBus);

    impl FindingBus for YieldingBus {
        async fn publish(&self, findings: &[Finding]) -> Result<(), crate::ports::PortError> {
            tokio::task::yield_now().await;
            self.0.publish(findings).await
        }
    }

    #[tokio::test]
    async fn two_invocations_that_see_the_same_fix_publish_one_resolution() {
        let delivery = Delivery {
            bus: YieldingBus::default(),
            claims: crate::ports::local::LocalClaims::default(),
        };
        let fail = finding(CheckId::KpAdmin, Status::Fail, "x");
        assert!(
            delivery
                .resolve(&[std::slice::from_ref(&fail)], None, NOW)
                .await
                .is_empty()
        );
        let scope = scope_of(&fail);
        assert_eq!(open_count(&delivery.claims, &scope).await, 1);

        let pass = finding(CheckId::KpAdmin, Status::Pass, "ok");
        let seen = [pass];
        let runs: [&[Finding]; 1] = [&seen];
        let (a, b) = tokio::join!(
            delivery.resolve(&runs, None, NOW),
            delivery.resolve(&runs, None, NOW)
        );
        assert_eq!(a.len() + b.len(), 1, "{a:#?} {b:#?}");
        assert_eq!(delivery.bus.0.published().len(), 1);
        assert_eq!(open_count(&delivery.claims, &scope).await, 0);
        // Seen again later: nothing open, nothing published.
        assert!(delivery.resolve(&[&seen], None, NOW).await.is_empty());
        assert_eq!(delivery.bus.0.published().len(), 1);
    }

    #[tokio::test]
    async fn a_resolution_published_before_a_crash_is_not_published_again() {
        let delivery = Delivery {
            bus: crate::ports::local::LocalBus::default(),
            claims: crate::ports::local::LocalClaims::default(),
        };
        let fail = finding(CheckId::KpAdmin, Status::Fail, "x");
        delivery
            .resolve(&[std::slice::from_ref(&fail)], None, NOW)
            .await;
        let scope = scope_of(&fail);
        let open = delivery.claims.open_failures(&scope).await.unwrap();
        let pass = [finding(CheckId::KpAdmin, Status::Pass, "ok")];
        assert_eq!(delivery.resolve(&[&pass], None, NOW).await.len(), 1);
        // As if the invocation had died before its ledger write: the failure is open again.
        delivery
            .claims
            .write_failures(
                &scope,
                &Ledger {
                    version: 0,
                    ..open.clone()
                },
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(open_count(&delivery.claims, &scope).await, 1);
        assert!(
            delivery
                .resolve(&[&pass], None, NOW.plus(60))
                .await
                .is_empty()
        );
        assert_eq!(delivery.bus.published().len(), 1);
        assert_eq!(open_count(&delivery.claims, &scope).await, 0);
    }

    #[tokio::test]
    async fn the_same_failure_back_a_day_later_is_resolved_again() {
        let delivery = Delivery {
            bus: crate::ports::local::LocalBus::default(),
            claims: crate::ports::local::LocalClaims::default(),
        };
        let fail = [finding(CheckId::KpAdmin, Status::Fail, "x")];
        let pass = [finding(CheckId::KpAdmin, Status::Pass, "ok")];
        for (i, at) in [NOW, NOW.plus(3600)].into_iter().enumerate() {
            delivery.resolve(&[&fail], None, at).await;
            let resolved = delivery.resolve(&[&pass], None, at.plus(60)).await;
            assert_eq!(resolved.len(), 1, "cycle {i}");
        }
        assert_eq!(delivery.bus.published().len(), 2);
    }
}
