//! Shared helpers for the integration tests: the base configuration and fixture loading.

pub mod demo;
pub mod fault_proxy;
pub mod idc_emulator;
pub mod idp_server;
pub mod key_fixture;
pub mod local_aws;
pub mod policy_gen;
pub mod probes;
pub mod runtime_api;

use std::path::{Path, PathBuf};

use idc_guard_core::config::Config;

/// The design's example configuration, the base every fixture overrides.
pub const BASE_CONFIG: &str = r#"
instance_arn = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
identity_store_id = "d-1234567890"
management_account_id = "111122223333"
delegated_admin_account_ids = ["444455556666"]
organization_id = "o-a1b2c3d4e5"
primary_region = "us-east-1"
regions = ["us-east-1", "us-west-2"]
key_arn = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
identity_source = "external-idp"
"#;

/// The directory of the fixture files.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The key-policy fixture cases (`fixtures/key-policy/*.json`), in name order.
pub fn key_policy_fixture_files() -> Vec<PathBuf> {
    let dir = fixtures_dir().join("key-policy");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The base configuration with top-level keys and `[policy]` keys replaced. `overrides` is a
/// JSON object: `{"regions": [...], "policy": {"pin_encryption_context": true}}`.
pub fn config_with(overrides: &serde_json::Value) -> Result<Config, String> {
    let text = config_text_with(overrides)?;
    Config::from_toml(&text, "fixture config").map_err(|e| e.to_string())
}

/// The base configuration for a guard's tests: `[remediation]` with `mode`, the guard's own
/// role and `remediation` (more `[remediation]` lines, such as `max_actions_per_window = 1`),
/// and top-level keys replaced by `overrides` (as [`config_with`]). Every test that needs a
/// configuration builds it here, so there is one base to change.
pub fn guard_config_text(
    overrides: &serde_json::Value,
    mode: &str,
    guard_role: &str,
    remediation: &str,
) -> Result<String, String> {
    let section: toml::Table =
        format!("mode = {mode:?}\nguard_role_arns = [{guard_role:?}]\n{remediation}")
            .parse()
            .map_err(|e| format!("[remediation]: {e}"))?;
    let mut overrides = overrides.clone();
    if let Some(obj) = overrides.as_object_mut() {
        let section = serde_json::to_value(section).map_err(|e| e.to_string())?;
        obj.insert("remediation".to_owned(), section);
    }
    config_text_with(&overrides)
}

/// [`guard_config_text`], read.
pub fn guard_config(
    overrides: &serde_json::Value,
    mode: &str,
    guard_role: &str,
    remediation: &str,
) -> Result<Config, String> {
    let text = guard_config_text(overrides, mode, guard_role, remediation)?;
    Config::from_toml(&text, "test config").map_err(|e| e.to_string())
}

/// [`config_with`] as TOML text.
pub fn config_text_with(overrides: &serde_json::Value) -> Result<String, String> {
    let mut table: toml::Table = BASE_CONFIG
        .parse()
        .map_err(|e| format!("base config: {e}"))?;
    if let Some(obj) = overrides.as_object() {
        for (k, v) in obj {
            let value =
                json_to_toml(v).ok_or_else(|| format!("override {k}: unsupported value {v}"))?;
            match (k.as_str(), value) {
                ("policy" | "remediation", toml::Value::Table(t)) => {
                    table.insert(k.clone(), toml::Value::Table(t));
                }
                (_, value) => {
                    table.insert(k.clone(), value);
                }
            }
        }
    }
    toml::to_string(&table).map_err(|e| e.to_string())
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Number(n) => toml::Value::Integer(n.as_i64()?),
        serde_json::Value::Array(a) => {
            toml::Value::Array(a.iter().map(json_to_toml).collect::<Option<_>>()?)
        }
        serde_json::Value::Object(o) => toml::Value::Table(
            o.iter()
                .map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect::<Option<_>>()?,
        ),
        serde_json::Value::Null => return None,
    })
}
