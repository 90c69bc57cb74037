//! `audit` (a read-only sweep) and what the commands that talk to AWS share (`replay` is in
//! its own module). Endpoints follow the SDK's rules; `--endpoint-url` and
//! `--sso-endpoint-url` override them (local servers).

use std::fmt::Write as _;

use idc_guard_core::aws::{
    Documents, Endpoints, KmsKeyStore, Region, SdkConfig, SsoInstanceDirectory,
    load_sdk_config_system_roots,
};
use idc_guard_core::config::Config;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, Status};
use idc_guard_core::guard::audit::{AuditReport, audit};
use idc_guard_core::idp_app::{IdpError, IdpErrorKind};
use idc_guard_core::idp_http::{LiveApps, load_from_secrets_manager};
use serde_json::json;

use crate::input::read_config;
use crate::{Format, Outcome, UsageError};

/// Where the live commands connect (the same two options on every command that talks to AWS).
#[derive(Debug, Default, clap::Args)]
pub struct Connection {
    /// Endpoint for every AWS service (a local server).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Endpoint for IAM Identity Center (sso-admin) only, e.g. the local emulator.
    #[arg(long)]
    pub sso_endpoint_url: Option<String>,
}

impl Connection {
    pub(crate) fn endpoints(&self) -> Endpoints {
        let mut e = self
            .endpoint_url
            .as_deref()
            .map(Endpoints::all)
            .unwrap_or_default();
        if let Some(url) = &self.sso_endpoint_url {
            e.sso_admin = Some(url.clone());
        }
        e
    }
}

/// A single-threaded runtime for one command's AWS calls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, UsageError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))
}

/// The SDK configuration; the primary Region when none is configured.
pub(crate) async fn sdk_for(config: &Config) -> SdkConfig {
    let sdk = load_sdk_config_system_roots().await;
    if sdk.region().is_some() {
        return sdk;
    }
    sdk.to_builder()
        .region(aws_types_region(&config.primary_region))
        .build()
}

fn aws_types_region(name: &str) -> Region {
    Region::new(name.to_owned())
}

pub(crate) fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// One finding, indented under its record or Region, with the remediation's actions.
pub(crate) fn write_finding(out: &mut String, f: &Finding) {
    let status = serde_json::to_value(f.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default();
    let _ = writeln!(out, "  {status} {} {}", f.check, f.message);
    if let Some(r) = &f.remediation {
        let _ = writeln!(out, "    remediation ({}): {}", r.mode, r.outcome);
        for a in &r.actions {
            let _ = writeln!(out, "      - {a}");
        }
    }
}

/// `audit`
pub fn audit_command(
    config: &str,
    connection: &Connection,
    format: Format,
) -> Result<Outcome, UsageError> {
    let config = read_config(config)?;
    let report: AuditReport = runtime()?.block_on(async {
        let sdk = sdk_for(&config).await;
        let endpoints = connection.endpoints();
        let keys = KmsKeyStore::new(&sdk, endpoints.kms.clone());
        let directory = SsoInstanceDirectory::new(&sdk, endpoints.sso_admin.clone());
        let documents = Documents::new(&sdk, endpoints.s3.clone());
        let apps = match &config.idp.application {
            Some(application) => {
                match load_from_secrets_manager(application, &sdk, endpoints.secrets.clone(), false)
                    .await
                {
                    Ok(apps) => Some(apps),
                    Err(e) => Some(LiveApps::Unusable(IdpError::new(
                        application.provider.kind(),
                        IdpErrorKind::Credentials,
                        format!("the credentials secret could not be read: {e}"),
                    ))),
                }
            }
            None => None,
        };
        audit(
            &config,
            &keys,
            Some(&directory),
            &documents,
            apps.as_ref(),
            now(),
        )
        .await
    });
    let code = if report.compliant() { 0 } else { 1 };
    let problems: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.status != Status::Pass)
        .collect();
    let stdout = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "compliant": report.compliant(),
                "regions": report.regions,
                "notes": report.notes,
                "findings": problems,
            }))
            .unwrap_or_default()
        ),
        Format::Text => {
            let mut out = String::new();
            for note in &report.notes {
                let _ = writeln!(out, "NOTE {note}");
            }
            for f in &problems {
                write_finding(&mut out, f);
            }
            let _ = writeln!(
                out,
                "{}: {} finding(s), {} check(s) passed across {} Region(s) ({})",
                if report.compliant() {
                    "COMPLIANT"
                } else {
                    "NOT COMPLIANT"
                },
                problems.len(),
                report.findings.len() - problems.len(),
                report.regions.len(),
                report.regions.join(", ")
            );
            out
        }
    };
    Ok(Outcome { stdout, code })
}
