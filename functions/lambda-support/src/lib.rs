//! What every guard Lambda shares: settings from the environment (errors name the
//! variable), the guard's ports over AWS, and the retry rule (an `Err` goes back to Lambda
//! only when a retry can help; malformed and irrelevant events are acknowledged).

mod settings;

use idc_guard_core::aws::{
    DynamoClaims, Endpoints, EventBridgeBus, KmsKeyStore, Region, SdkConfig,
};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::{Delivery, GuardError, KeyGuard};
use idc_guard_core::ports::Pause;
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

pub use idc_guard_core::finding::SettingsError;
pub use settings::{
    ENV_BUS, ENV_CONFIG, ENV_MODE, ENV_STATE_REGION, ENV_TABLE, GuardSettings, bus_from_env,
    config_from_env,
};

/// The key guard over the AWS adapters (KMS, EventBridge, DynamoDB).
pub type AwsKeyGuard = KeyGuard<KmsKeyStore, EventBridgeBus, DynamoClaims, DynamoClaims>;

/// The findings' delivery over AWS (EventBridge, DynamoDB).
pub type AwsDelivery = Delivery<EventBridgeBus, DynamoClaims>;

/// The findings' delivery over AWS. The state table is reached in `settings.state_region`
/// (one table for every Region: idempotency across Regions needs its conditional writes).
pub fn aws_delivery(
    sdk: &SdkConfig,
    settings: &GuardSettings,
    endpoints: &Endpoints,
) -> AwsDelivery {
    delivery_with(sdk, &state_sdk(sdk, settings), settings, endpoints)
}

/// The SDK configuration for the state table: `settings.state_region`, else the function's.
fn state_sdk(sdk: &SdkConfig, settings: &GuardSettings) -> SdkConfig {
    match &settings.state_region {
        Some(region) => sdk.to_builder().region(Region::new(region.clone())).build(),
        None => sdk.clone(),
    }
}

fn delivery_with(
    sdk: &SdkConfig,
    state_sdk: &SdkConfig,
    settings: &GuardSettings,
    endpoints: &Endpoints,
) -> AwsDelivery {
    Delivery {
        bus: EventBridgeBus::new(sdk, endpoints.events.clone(), &settings.bus_name),
        claims: DynamoClaims::new(state_sdk, endpoints.dynamodb.clone(), &settings.table_name),
    }
}

/// Builds the key guard over AWS: KMS, the delivery, and the circuit breaker in the state
/// table.
pub fn aws_key_guard(
    sdk: &SdkConfig,
    settings: GuardSettings,
    endpoints: &Endpoints,
) -> AwsKeyGuard {
    let state = state_sdk(sdk, &settings);
    let Delivery { bus, claims } = delivery_with(sdk, &state, &settings, endpoints);
    let budget = DynamoClaims::new(&state, endpoints.dynamodb.clone(), &settings.table_name);
    KeyGuard::new(
        settings.config,
        KmsKeyStore::new(sdk, endpoints.kms.clone()),
        bus,
        claims,
        budget,
    )
}

/// The circuit breaker in the state table (in `settings.state_region`).
pub fn aws_budget(
    sdk: &SdkConfig,
    settings: &GuardSettings,
    endpoints: &Endpoints,
) -> DynamoClaims {
    DynamoClaims::new(
        &state_sdk(sdk, settings),
        endpoints.dynamodb.clone(),
        &settings.table_name,
    )
}

/// The IdP application's adapter when `[idp.application]` is configured: its credentials
/// secret read now (cold start) through Secrets Manager. `write` asks for the update scope.
/// Only a transient failure is an `Err` (the init fails and is retried); an unreadable or
/// malformed secret gives an adapter that reports "cannot verify" on every check.
#[cfg(feature = "idp")]
pub async fn aws_idp_apps(
    sdk: &SdkConfig,
    config: &idc_guard_core::config::Config,
    endpoints: &Endpoints,
    write: bool,
) -> Result<Option<idc_guard_core::idp_http::LiveApps>, idc_guard_core::ports::PortError> {
    let Some(application) = &config.idp.application else {
        return Ok(None);
    };
    let apps = idc_guard_core::idp_http::load_from_secrets_manager(
        application,
        sdk,
        endpoints.secrets.clone(),
        write,
    )
    .await?;
    if let idc_guard_core::idp_http::LiveApps::Unusable(e) = &apps {
        tracing::warn!(error = %e, "the IdP application cannot be used; its checks report why");
    }
    Ok(Some(apps))
}

/// Waits with tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioPause;

impl Pause for TokioPause {
    async fn pause(&self, seconds: u64) {
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
}

/// An invocation that should be retried (the error goes back to Lambda).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetryableError(#[from] pub GuardError);

impl From<RetryableError> for Diagnostic {
    fn from(e: RetryableError) -> Diagnostic {
        let error_type = match &e.0 {
            GuardError::Port(_) => "TransientAwsError",
            GuardError::ClaimHeld { .. } => "ClaimHeld",
            GuardError::Publish { .. } => "FindingPublishError",
            GuardError::Outbox { .. } => "OutboxUnreadable",
        };
        let error_message = match &e.0 {
            // The findings ride in the error, so the invocation's record (logs, and the
            // on-failure destination if every retry fails too) holds them even when a retry
            // has nothing left to publish.
            GuardError::Publish { findings, .. } => format!("{e}; findings: {findings}"),
            _ => e.to_string(),
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message,
        }
    }
}

/// Turns a guard's result into the invocation's: the outcome as JSON, or an `Err` only when
/// a retry can help. Failures a retry cannot fix are logged and acknowledged; findings that
/// could not be published are always logged in full.
pub fn respond<T: Serialize>(
    result: Result<T, GuardError>,
    event: &Value,
) -> Result<Value, RetryableError> {
    match result {
        Ok(outcome) => Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null)),
        Err(e) => {
            let event_id = event_id_of(event);
            match &e {
                GuardError::Publish { findings, .. } => {
                    tracing::error!(%event_id, error = %e, findings = %findings, "findings not published");
                }
                GuardError::Outbox { stashed, .. } => {
                    tracing::error!(%event_id, error = %e, stashed = %stashed, "outbox unreadable; kept");
                }
                _ => {}
            }
            if e.retryable() {
                tracing::warn!(%event_id, error = %e, "transient failure; the invocation will be retried");
                Err(RetryableError(e))
            } else {
                tracing::error!(%event_id, error = %e, "failure a retry cannot fix; acknowledged");
                Ok(serde_json::json!({"result": "failed", "error": e.to_string()}))
            }
        }
    }
}

/// The CloudTrail event id (or the EventBridge id) for log lines about `event`.
pub fn event_id_of(event: &Value) -> &str {
    event
        .get("detail")
        .and_then(|d| d.get("eventID"))
        .or_else(|| event.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("(no id)")
}

/// Now, from the system clock (the only clock the guards read).
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// Logs what a region- or idp-guard did with an event.
pub fn log_change_outcome(outcome: &idc_guard_core::guard::change::ChangeOutcome) {
    use idc_guard_core::finding::Status;
    use idc_guard_core::guard::change::ChangeOutcome;
    match outcome {
        ChangeOutcome::Skipped { reason } => tracing::info!(%reason, "event skipped"),
        ChangeOutcome::Rejected { error } => {
            tracing::error!(%error, "malformed event acknowledged without action")
        }
        ChangeOutcome::Duplicate { event_id } => {
            tracing::info!(%event_id, "change already handled (another Region's copy or a redelivery)")
        }
        ChangeOutcome::Handled {
            event_id,
            findings,
            replicas,
            republished,
        } => {
            let failing: Vec<&str> = findings
                .iter()
                .filter(|f| f.status != Status::Pass)
                .map(|f| f.check.id())
                .collect();
            if failing.is_empty() {
                tracing::info!(%event_id, findings = findings.len(), "change checked: compliant");
            } else {
                tracing::warn!(%event_id, ?failing, replicas = replicas.len(), republished = republished.len(), "change checked");
            }
        }
    }
}
