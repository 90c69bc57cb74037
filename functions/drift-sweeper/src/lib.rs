//! drift-sweeper: on a schedule, the full audit (the same code as `idc-guard audit`) of the
//! instance and the key in every enabled Region; a finding per failing check and one
//! summary on the findings bus, and a resolution for each earlier failure that passes now.
//! Environment: the guards' variables (`IDC_GUARD_CONFIG`, `IDC_GUARD_FINDINGS_BUS`,
//! `IDC_GUARD_STATE_TABLE` for the open-failure ledgers, `IDC_GUARD_STATE_REGION`). A sweep
//! never changes the key or the instance, whatever the mode.

use idc_guard_core::aws::{
    Documents, DynamoClaims, Endpoints, EventBridgeBus, KmsKeyStore, SdkConfig,
    SsoInstanceDirectory,
};
use idc_guard_core::config::Config;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::Delivery;
use idc_guard_core::guard::sweep::sweep;
use idc_guard_core::idp_http::LiveApps;
use idc_guard_core::ports::{
    ClaimStore, DocumentSource, FindingBus, IdentityProviderApps, InstanceDirectory, KeyStore,
    PortError,
};
use idc_guard_lambda::{GuardSettings, RetryableError, SettingsError, aws_delivery, aws_idp_apps};
use serde_json::Value;

/// The sweeper's ports.
#[derive(Debug)]
pub struct Sweeper<K, D, S, A, B, C> {
    /// The configuration.
    pub config: Config,
    /// KMS.
    pub keys: K,
    /// sso-admin.
    pub directory: D,
    /// The IdP's metadata.
    pub documents: S,
    /// The IdP application's API (read-only here), when `[idp.application]` is configured.
    pub apps: Option<A>,
    /// The findings bus and the state table (the open-failure ledgers).
    pub delivery: Delivery<B, C>,
}

/// The sweeper over AWS.
pub type AwsSweeper =
    Sweeper<KmsKeyStore, SsoInstanceDirectory, Documents, LiveApps, EventBridgeBus, DynamoClaims>;

/// Reads the guards' variables through `get`; errors name the variable.
pub fn settings_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<GuardSettings, SettingsError> {
    GuardSettings::from_env(get)
}

/// Builds the sweeper over AWS, with optional explicit endpoints. With `[idp.application]`,
/// its credentials secret is read now (cold start), for reading only.
pub async fn aws_sweeper(
    sdk: &SdkConfig,
    settings: GuardSettings,
    endpoints: &Endpoints,
) -> Result<AwsSweeper, PortError> {
    Ok(Sweeper {
        keys: KmsKeyStore::new(sdk, endpoints.kms.clone()),
        directory: SsoInstanceDirectory::new(sdk, endpoints.sso_admin.clone()),
        documents: Documents::new(sdk, endpoints.s3.clone()),
        apps: aws_idp_apps(sdk, &settings.config, endpoints, false).await?,
        delivery: aws_delivery(sdk, &settings, endpoints),
        config: settings.config,
    })
}

/// Sweeps once. The scheduler's event id (when the input has one) names the sweep.
pub async fn handle<K, D, S, A, B, C>(
    sweeper: &Sweeper<K, D, S, A, B, C>,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError>
where
    K: KeyStore,
    D: InstanceDirectory,
    S: DocumentSource,
    A: IdentityProviderApps,
    B: FindingBus,
    C: ClaimStore,
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
        sweeper.apps.as_ref(),
        &sweeper.delivery,
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
