//! key-policy-guard: reacts to KMS changes of the Identity Center key (PutKeyPolicy, key state
//! changes, replicas, grants), re-reads the key's live state, checks it, and reports or
//! remediates per mode. The logic lives in [`idc_guard_core::guard::key`]; this crate wires it to
//! the Lambda runtime, the environment and the AWS adapters.

use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::key::{GuardOutcome, KeyGuard, RegionOutcome};
use idc_guard_core::ports::{ActionBudget, ClaimStore, FindingBus, KeyStore};
use serde_json::Value;

pub use idc_guard_lambda::{
    AwsKeyGuard, ENV_BUS, ENV_CONFIG, ENV_MODE, ENV_STATE_REGION, ENV_TABLE, RetryableError,
    SettingsError, aws_key_guard as aws_guard, now,
};

/// What the function needs from its environment.
pub type Settings = idc_guard_lambda::GuardSettings;

/// Handles one event. Returns the outcome as JSON; an `Err` only when a retry can help
/// (malformed and irrelevant events are acknowledged, never retried forever).
pub async fn handle<K, B, C, A>(
    guard: &KeyGuard<K, B, C, A>,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError>
where
    K: KeyStore,
    B: FindingBus,
    C: ClaimStore,
    A: ActionBudget,
{
    let result = guard.handle_event(event, now).await;
    if let Ok(outcome) = &result {
        log_outcome(outcome);
    }
    idc_guard_lambda::respond(result, event)
}

fn log_outcome(outcome: &GuardOutcome) {
    match outcome {
        GuardOutcome::Skipped { reason } => tracing::info!(%reason, "event skipped"),
        GuardOutcome::Rejected { error } => {
            tracing::error!(%error, "malformed event acknowledged without action")
        }
        GuardOutcome::Handled {
            event_id,
            regions,
            republished,
        } => {
            if !republished.is_empty() {
                tracing::info!(%event_id, count = republished.len(), "published findings left in the outbox by an earlier attempt");
            }
            for r in regions {
                let checks: Vec<&str> = r.findings.iter().map(|f| f.check.id()).collect();
                let level_is_warn = !matches!(
                    r.outcome,
                    RegionOutcome::Compliant | RegionOutcome::Duplicate
                );
                if level_is_warn {
                    tracing::warn!(%event_id, region = %r.region, outcome = ?r.outcome, ?checks, "key checked");
                } else {
                    tracing::info!(%event_id, region = %r.region, outcome = ?r.outcome, "key checked");
                }
            }
        }
    }
}
