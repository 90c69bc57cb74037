//! drift-sweeper: on a schedule, the full audit (the same code as `idc-guard audit`) of the
//! instance and the key in every enabled Region; a finding per failing check and one
//! summary on the findings bus. Environment: `IDC_GUARD_CONFIG` and `IDC_GUARD_FINDINGS_BUS`
//! (a sweep never changes anything, so no mode and no state table).

use idc_guard_core::aws::{
    Documents, Endpoints, EventBridgeBus, KmsKeyStore, SdkConfig, SsoInstanceDirectory,
};
use idc_guard_core::config::Config;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::sweep::sweep;
use idc_guard_core::ports::{DocumentSource, FindingBus, InstanceDirectory, KeyStore};
use idc_guard_lambda::{RetryableError, SettingsError};
use serde_json::Value;

/// The sweeper's ports.
#[derive(Debug)]
pub struct Sweeper<K, D, S, B> {
    /// The configuration.
    pub config: Config,
    /// KMS.
    pub keys: K,
    /// sso-admin.
    pub directory: D,
    /// The IdP's metadata.
    pub documents: S,
    /// The findings bus.
    pub bus: B,
}

/// The sweeper over AWS.
pub type AwsSweeper = Sweeper<KmsKeyStore, SsoInstanceDirectory, Documents, EventBridgeBus>;

/// What the sweeper needs from its environment: the configuration and the bus.
#[derive(Debug, Clone)]
pub struct SweeperSettings {
    /// The configuration.
    pub config: Config,
    /// The findings bus name or ARN.
    pub bus_name: String,
}

/// Reads `IDC_GUARD_CONFIG` and `IDC_GUARD_FINDINGS_BUS` through `get`; errors name the
/// variable.
pub fn settings_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<SweeperSettings, SettingsError> {
    Ok(SweeperSettings {
        config: idc_guard_lambda::config_from_env(&get)?,
        bus_name: idc_guard_lambda::bus_from_env(&get),
    })
}

/// Builds the sweeper over AWS, with optional explicit endpoints.
pub fn aws_sweeper(
    sdk: &SdkConfig,
    settings: SweeperSettings,
    endpoints: &Endpoints,
) -> AwsSweeper {
    Sweeper {
        keys: KmsKeyStore::new(sdk, endpoints.kms.clone()),
        directory: SsoInstanceDirectory::new(sdk, endpoints.sso_admin.clone()),
        documents: Documents::new(sdk, endpoints.s3.clone()),
        bus: EventBridgeBus::new(sdk, endpoints.events.clone(), &settings.bus_name),
        config: settings.config,
    }
}

/// Sweeps once. The scheduler's event id (when the input has one) names the sweep.
pub async fn handle<K, D, S, B>(
    sweeper: &Sweeper<K, D, S, B>,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError>
where
    K: KeyStore,
    D: InstanceDirectory,
    S: DocumentSource,
    B: FindingBus,
{
    let sweep_id = event
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| format!("sweep-{now}"), str::to_owned);
    let result = sweep(
        &sweeper.config,
        &sweeper.keys,
        &sweeper.directory,
        &sweeper.documents,
        &sweeper.bus,
        &sweep_id,
        now,
    )
    .await;
    if let Ok(outcome) = &result {
        let failing: Vec<&str> = outcome.published.iter().map(|f| f.check.id()).collect();
        tracing::info!(%sweep_id, regions = ?outcome.regions, published = ?failing, notes = ?outcome.notes, "sweep done");
    }
    idc_guard_lambda::respond(result, event)
}
