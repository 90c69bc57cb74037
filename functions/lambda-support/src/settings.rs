//! The guards' settings from the environment; every error names the variable.

use idc_guard_core::config::{Config, Mode};
use idc_guard_core::finding::SettingsError;

/// Environment variable: the configuration as TOML (docs/configuration.md).
pub const ENV_CONFIG: &str = "IDC_GUARD_CONFIG";
/// Environment variable: overrides `remediation.mode` (`dry-run` | `notify` | `remediate`).
pub const ENV_MODE: &str = "IDC_GUARD_MODE";
/// Environment variable: the findings bus (default `idc-guard`).
pub const ENV_BUS: &str = "IDC_GUARD_FINDINGS_BUS";
/// Environment variable: the DynamoDB table for idempotency and the circuit breaker.
pub const ENV_TABLE: &str = "IDC_GUARD_STATE_TABLE";
/// Environment variable: the Region of that table (default: the function's own Region).
pub const ENV_STATE_REGION: &str = "IDC_GUARD_STATE_REGION";

/// What a guard needs from its environment.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// The configuration.
    pub config: Config,
    /// The findings bus name or ARN.
    pub bus_name: String,
    /// The state table.
    pub table_name: String,
    /// The state table's Region, when not the function's.
    pub state_region: Option<String>,
}

fn set(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).filter(|v| !v.trim().is_empty())
}

/// Reads `IDC_GUARD_CONFIG` with the `IDC_GUARD_MODE` override through `get`.
pub fn config_from_env(get: &impl Fn(&str) -> Option<String>) -> Result<Config, SettingsError> {
    let text = set(get, ENV_CONFIG).ok_or_else(|| SettingsError {
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
    if let Some(mode) = set(get, ENV_MODE) {
        let mode = mode.parse::<Mode>().map_err(|e| SettingsError {
            variable: ENV_MODE,
            message: e.to_string(),
        })?;
        config
            .remediation
            .set_mode(mode)
            .map_err(|problem| SettingsError {
                variable: ENV_MODE,
                message: problem.to_string(),
            })?;
    }
    Ok(config)
}

/// The findings bus through `get` (default `idc-guard`).
pub fn bus_from_env(get: &impl Fn(&str) -> Option<String>) -> String {
    set(get, ENV_BUS).unwrap_or_else(|| "idc-guard".to_owned())
}

impl GuardSettings {
    /// Reads the settings through `get` (the environment in `main`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<GuardSettings, SettingsError> {
        let config = config_from_env(&get)?;
        let table_name = set(&get, ENV_TABLE).ok_or_else(|| SettingsError {
            variable: ENV_TABLE,
            message: "missing: the DynamoDB table for idempotency and the circuit breaker"
                .to_owned(),
        })?;
        let state_region = set(&get, ENV_STATE_REGION);
        if let Some(r) = &state_region
            && !idc_guard_core::domain::regions::is_region_name(r)
        {
            return Err(SettingsError {
                variable: ENV_STATE_REGION,
                message: format!("\"{r}\" is not a Region code"),
            });
        }
        Ok(GuardSettings {
            config,
            bus_name: bus_from_env(&get),
            table_name,
            state_region,
        })
    }
}
