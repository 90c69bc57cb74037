//! key-policy-guard: reacts to KMS changes of the Identity Center key (PutKeyPolicy, key state
//! changes, replicas, grants), re-reads the key's live state, checks it, and reports or
//! remediates per mode. The logic lives in [`idc_guard_core::guard`]; this crate wires it to
//! the Lambda runtime, the environment and the AWS adapters.

use idc_guard_core::aws::{DynamoClaims, Endpoints, EventBridgeBus, KmsKeyStore, SdkConfig};
use idc_guard_core::config::{Config, Mode};
use idc_guard_core::guard::{GuardError, GuardOutcome, KeyGuard, RegionOutcome};
use idc_guard_core::ports::{ActionBudget, ClaimStore, FindingBus, KeyStore};
use idc_guard_core::time::Timestamp;
use lambda_runtime::Diagnostic;
use serde_json::Value;

/// The guard over the AWS adapters.
pub type AwsKeyGuard = KeyGuard<KmsKeyStore, EventBridgeBus, DynamoClaims, DynamoClaims>;

/// Environment variable: the configuration as TOML (design §7).
pub const ENV_CONFIG: &str = "IDC_GUARD_CONFIG";
/// Environment variable: overrides `remediation.mode` (`dry-run` | `notify` | `remediate`).
pub const ENV_MODE: &str = "IDC_GUARD_MODE";
/// Environment variable: the findings bus (default `idc-guard`).
pub const ENV_BUS: &str = "IDC_GUARD_FINDINGS_BUS";
/// Environment variable: the DynamoDB table for idempotency and the circuit breaker.
pub const ENV_TABLE: &str = "IDC_GUARD_STATE_TABLE";

/// What the function needs from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration.
    pub config: Config,
    /// The findings bus name or ARN.
    pub bus_name: String,
    /// The state table.
    pub table_name: String,
}

pub use idc_guard_core::finding::SettingsError;

impl Settings {
    /// Reads the settings through `get` (the environment in `main`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let text = get(ENV_CONFIG).ok_or_else(|| SettingsError {
            variable: ENV_CONFIG,
            message: "missing: set it to the idc-guard configuration (TOML)".to_owned(),
        })?;
        let mut config = Config::from_toml(&text, ENV_CONFIG).map_err(|e| SettingsError {
            variable: ENV_CONFIG,
            message: e
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.place, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        if let Some(mode) = get(ENV_MODE).filter(|m| !m.is_empty()) {
            let mode = match mode.as_str() {
                "dry-run" => Mode::DryRun,
                "notify" => Mode::Notify,
                "remediate" => Mode::Remediate,
                other => {
                    return Err(SettingsError {
                        variable: ENV_MODE,
                        message: format!("\"{other}\" is not dry-run, notify or remediate"),
                    });
                }
            };
            config
                .remediation
                .set_mode(mode)
                .map_err(|message| SettingsError {
                    variable: ENV_MODE,
                    message,
                })?;
        }
        let table_name = get(ENV_TABLE)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SettingsError {
                variable: ENV_TABLE,
                message: "missing: the DynamoDB table for idempotency and the circuit breaker"
                    .to_owned(),
            })?;
        Ok(Settings {
            config,
            bus_name: get(ENV_BUS)
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "idc-guard".to_owned()),
            table_name,
        })
    }
}

/// Builds the guard over AWS, with optional explicit endpoints.
pub fn aws_guard(sdk: &SdkConfig, settings: Settings, endpoints: &Endpoints) -> AwsKeyGuard {
    KeyGuard {
        keys: KmsKeyStore::new(sdk, endpoints.kms.clone()),
        bus: EventBridgeBus::new(sdk, endpoints.events.clone(), &settings.bus_name),
        claims: DynamoClaims::new(sdk, endpoints.dynamodb.clone(), &settings.table_name),
        budget: DynamoClaims::new(sdk, endpoints.dynamodb.clone(), &settings.table_name),
        config: settings.config,
    }
}

/// An invocation that should be retried (the error goes back to Lambda).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetryableError(#[from] GuardError);

impl From<RetryableError> for Diagnostic {
    fn from(e: RetryableError) -> Diagnostic {
        match &e.0 {
            GuardError::Port(_) => Diagnostic {
                error_type: "TransientAwsError".to_owned(),
                error_message: e.to_string(),
            },
            GuardError::ClaimHeld { .. } => Diagnostic {
                error_type: "ClaimHeld".to_owned(),
                error_message: e.to_string(),
            },
            // The findings ride in the error, so the invocation's record (logs, and the
            // on-failure destination if every retry fails too) holds them even when a retry
            // finds the key compliant and has nothing left to publish.
            GuardError::Publish { findings, .. } => Diagnostic {
                error_type: "FindingPublishError".to_owned(),
                error_message: format!("{e}; findings: {findings}"),
            },
        }
    }
}

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
    match guard.handle_event(event, now).await {
        Ok(outcome) => {
            log_outcome(&outcome);
            Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
        }
        Err(e) => {
            let event_id = event_id_of(event);
            if let GuardError::Publish { findings, .. } = &e {
                // Never lose a finding: it goes to the log even when the bus is down.
                tracing::error!(%event_id, error = %e, findings = %findings, "findings not published");
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
fn event_id_of(event: &Value) -> &str {
    event
        .get("detail")
        .and_then(|d| d.get("eventID"))
        .or_else(|| event.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("(no id)")
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
                let checks: Vec<&str> = r.findings.iter().map(|f| f.check.as_str()).collect();
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

/// Now, from the system clock (the only clock the guard reads).
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}
