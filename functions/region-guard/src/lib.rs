//! region-guard: reacts to `AddRegion`, `RemoveRegion` and `UpdateInstance`. The logic lives
//! in [`idc_guard_core::guard::region`]; this crate wires it to the Lambda runtime, the
//! environment (the same variables as key-policy-guard) and the AWS adapters.

use idc_guard_core::aws::{Endpoints, SdkConfig, SsoInstanceDirectory};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::RegionGuard;
use idc_guard_core::ports::{
    ActionBudget, ClaimStore, FindingBus, InstanceDirectory, KeyStore, Pause,
};
use idc_guard_lambda::{AwsKeyGuard, GuardSettings, RetryableError, TokioPause, aws_key_guard};
use serde_json::Value;

/// The guard over the AWS adapters.
pub type AwsRegionGuard = RegionGuard<
    idc_guard_core::aws::KmsKeyStore,
    SsoInstanceDirectory,
    idc_guard_core::aws::EventBridgeBus,
    idc_guard_core::aws::DynamoClaims,
    idc_guard_core::aws::DynamoClaims,
    TokioPause,
>;

/// Builds the guard over AWS, with optional explicit endpoints.
pub fn aws_region_guard(
    sdk: &SdkConfig,
    settings: GuardSettings,
    endpoints: &Endpoints,
) -> AwsRegionGuard {
    let AwsKeyGuard { enforcer, delivery } = aws_key_guard(sdk, settings, endpoints);
    RegionGuard {
        enforcer,
        delivery,
        directory: SsoInstanceDirectory::new(sdk, endpoints.sso_admin.clone()),
        pause: TokioPause,
    }
}

/// Handles one event: the outcome as JSON, an `Err` only when a retry can help.
pub async fn handle<K, D, B, C, A, P>(
    guard: &RegionGuard<K, D, B, C, A, P>,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError>
where
    K: KeyStore,
    D: InstanceDirectory,
    B: FindingBus,
    C: ClaimStore,
    A: ActionBudget,
    P: Pause,
{
    // Boxed: the guard's future is deep enough to overflow the compiler's layout limit.
    let result = Box::pin(guard.handle_event(event, now)).await;
    if let Ok(outcome) = &result {
        idc_guard_lambda::log_change_outcome(outcome);
    }
    idc_guard_lambda::respond(result, event)
}
