//! idp-guard: reacts to identity-source and external-IdP changes (`AssociateDirectory`,
//! `DisassociateDirectory` from sso.amazonaws.com; `*ExternalIdPConfigurationForDirectory`
//! from sso-directory.amazonaws.com). The logic lives in [`idc_guard_core::guard::idp`]; it
//! never changes anything (the IdP is outside AWS).
//!
//! With `[idp.application]`, it also takes `AddRegion` / `RemoveRegion` and judges (and, in
//! remediate mode with `idp.allow_update`, completes) the IdP application's ACS URLs
//! through the IdP's API ([`idc_guard_core::guard::idp_app`]).
//!
//! Environment: the guards' variables, plus `IDC_GUARD_SAML_METADATA` (`s3://bucket/key`),
//! which overrides `idp.saml_metadata` in the configuration.

use idc_guard_core::aws::{Documents, Endpoints, SdkConfig, SsoInstanceDirectory};
use idc_guard_core::config::MetadataLocation;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::guard::IdpGuard;
use idc_guard_core::idp_http::LiveApps;
use idc_guard_core::ports::{
    ActionBudget, ClaimStore, DocumentSource, FindingBus, IdentityProviderApps, InstanceDirectory,
    PortError,
};
use idc_guard_lambda::{
    GuardSettings, RetryableError, SettingsError, aws_budget, aws_delivery, aws_idp_apps,
};
use serde_json::Value;

/// Environment variable: where the IdP's SAML metadata is (`s3://bucket/key`).
pub const ENV_SAML_METADATA: &str = "IDC_GUARD_SAML_METADATA";

/// The guard over the AWS adapters and the IdP application's API.
pub type AwsIdpGuard = IdpGuard<
    SsoInstanceDirectory,
    idc_guard_core::aws::EventBridgeBus,
    idc_guard_core::aws::DynamoClaims,
    Documents,
    LiveApps,
    idc_guard_core::aws::DynamoClaims,
>;

/// Reads the settings through `get`: the guards' variables and `IDC_GUARD_SAML_METADATA`.
pub fn settings_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<GuardSettings, SettingsError> {
    let mut settings = GuardSettings::from_env(&get)?;
    if let Some(location) = get(ENV_SAML_METADATA).filter(|v| !v.trim().is_empty()) {
        let location = MetadataLocation::parse(&location).map_err(|e| SettingsError {
            variable: ENV_SAML_METADATA,
            message: e.to_string(),
        })?;
        settings.config.idp.saml_metadata = Some(location);
    }
    Ok(settings)
}

/// Builds the guard over AWS, with optional explicit endpoints. With `[idp.application]`,
/// its credentials secret is read now (cold start); only a transient failure is an `Err`.
pub async fn aws_idp_guard(
    sdk: &SdkConfig,
    settings: GuardSettings,
    endpoints: &Endpoints,
) -> Result<AwsIdpGuard, PortError> {
    let write = settings.config.idp.allow_update;
    let apps = aws_idp_apps(sdk, &settings.config, endpoints, write).await?;
    Ok(IdpGuard {
        delivery: aws_delivery(sdk, &settings, endpoints),
        budget: aws_budget(sdk, &settings, endpoints),
        directory: SsoInstanceDirectory::new(sdk, endpoints.sso_admin.clone()),
        documents: Documents::new(sdk, endpoints.s3.clone()),
        apps,
        config: settings.config,
    })
}

/// Handles one event: the outcome as JSON, an `Err` only when a retry can help.
pub async fn handle<D, B, C, S, A, K>(
    guard: &IdpGuard<D, B, C, S, A, K>,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError>
where
    D: InstanceDirectory,
    B: FindingBus,
    C: ClaimStore,
    S: DocumentSource,
    A: IdentityProviderApps,
    K: ActionBudget,
{
    // Boxed: the guard's future is deep enough to overflow the compiler's layout limit.
    let result = Box::pin(guard.handle_event(event, now)).await;
    if let Ok(outcome) = &result {
        idc_guard_lambda::log_change_outcome(outcome);
    }
    idc_guard_lambda::respond(result, event)
}
