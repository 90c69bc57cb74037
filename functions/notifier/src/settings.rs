//! The notifier's settings, from its environment; errors name the variable.

use idc_guard_core::notify::MinSeverity;

/// Environment variable: the Secrets Manager secret (name or ARN) holding the webhook URL.
pub const ENV_SECRET_ID: &str = "IDC_GUARD_SLACK_SECRET_ID";
/// Environment variable: the DynamoDB state table (claims).
pub const ENV_TABLE: &str = "IDC_GUARD_STATE_TABLE";
/// Environment variable: the lowest severity posted (default `low`).
pub const ENV_MIN_SEVERITY: &str = "IDC_GUARD_MIN_SEVERITY";
/// Environment variable: the evidence bucket, named in the message's context line (optional).
pub const ENV_EVIDENCE_BUCKET: &str = "IDC_GUARD_EVIDENCE_BUCKET";

/// What the function needs from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The secret holding the webhook URL.
    pub secret_id: String,
    /// The state table.
    pub table_name: String,
    /// Findings less severe are acknowledged without a post.
    pub min_severity: MinSeverity,
    /// The evidence bucket, if known.
    pub evidence_bucket: Option<String>,
}

pub use idc_guard_core::finding::SettingsError;

impl Settings {
    /// Reads the settings through `get` (the environment in `main`). Empty means unset.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let required = |variable: &'static str, what: &str| {
            get(variable).ok_or_else(|| SettingsError {
                variable,
                message: format!("missing: {what}"),
            })
        };
        let secret_id = required(
            ENV_SECRET_ID,
            "the Secrets Manager secret holding the Slack webhook URL",
        )?;
        let table_name = required(ENV_TABLE, "the DynamoDB table for idempotency")?;
        let min_severity = match get(ENV_MIN_SEVERITY) {
            Some(text) => MinSeverity::parse(&text).map_err(|e| SettingsError {
                variable: ENV_MIN_SEVERITY,
                message: e.to_string(),
            })?,
            None => MinSeverity::default(),
        };
        Ok(Settings {
            secret_id,
            table_name,
            min_severity,
            evidence_bucket: get(ENV_EVIDENCE_BUCKET),
        })
    }
}
