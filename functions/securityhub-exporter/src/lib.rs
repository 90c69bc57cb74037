//! securityhub-exporter: imports every finding published on the idc-guard bus into AWS
//! Security Hub (ASFF, `shared/src/securityhub.rs`), in the account's default product of the
//! function's Region. A failure becomes an active `FAILED` finding; its resolution updates the
//! same finding to `PASSED`, `ARCHIVED`. Optional: the stack deploys it only when asked
//! (`EnableSecurityHub`).
//!
//! Redeliveries are harmless (the `Id` is stable, an import replaces the finding). Malformed
//! and foreign events, and plain passes, are acknowledged; a call that fails, or findings
//! Security Hub still refuses after the retries, go back to Lambda (its retries, then the
//! dead-letter queue).

use std::collections::HashMap;

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, Partition, Recommendation, RecordState,
    Remediation, Resource, Severity, SeverityLabel,
};
use idc_guard_core::aws::{SdkConfig, port_error};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::event::{FindingEvent, Unusable};
use idc_guard_core::ports::PortError;
use idc_guard_core::securityhub::{
    AsffFinding, FINDING_TYPE, FindingImport, HubTarget, ImportError, ImportFailure,
    SCHEMA_VERSION, asff_finding, import_all,
};
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// `BatchImportFindings` over the SDK.
#[derive(Debug, Clone)]
pub struct SecurityHubImport {
    client: Client,
    region: String,
}

impl SecurityHubImport {
    /// Security Hub in the SDK's Region, at `endpoint` when given.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>) -> SecurityHubImport {
        let mut builder = aws_sdk_securityhub::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        SecurityHubImport {
            client: Client::from_conf(builder.build()),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// The Region findings are imported into.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// The SDK's finding for ours.
fn sdk_finding(f: &AsffFinding) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .schema_version(SCHEMA_VERSION)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .types(FINDING_TYPE)
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(f.severity_label))
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .resources(
            Resource::builder()
                .r#type(f.resource.kind)
                .id(&f.resource.id)
                .region(&f.resource.region)
                .partition(Partition::from(f.resource.partition.as_str()))
                .build(),
        )
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(f.compliance_status))
                .build(),
        )
        .record_state(RecordState::from(f.record_state))
        .remediation(
            Remediation::builder()
                .recommendation(Recommendation::builder().text(&f.recommendation).build())
                .build(),
        )
        .set_product_fields(Some(
            f.product_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ))
        .build()
}

impl FindingImport for SecurityHubImport {
    async fn import(&self, findings: &[AsffFinding]) -> Result<Vec<ImportFailure>, PortError> {
        let call = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings.iter().map(sdk_finding).collect()))
            .send();
        // Boxed: the SDK's ASFF request future is large enough to overflow a thread's stack.
        let out = Box::pin(call)
            .await
            .map_err(|e| port_error("securityhub:BatchImportFindings", &self.region, &e))?;
        Ok(out
            .failed_findings()
            .iter()
            .map(|e| ImportFailure {
                id: e.id().unwrap_or_default().to_owned(),
                code: e.error_code().unwrap_or_default().to_owned(),
                message: e.error_message().unwrap_or_default().to_owned(),
            })
            .collect())
    }
}

/// An invocation that should be retried (the error goes back to Lambda).
#[derive(Debug, thiserror::Error)]
#[error("event {event_id}: {error}")]
pub struct RetryableError {
    /// The EventBridge event id.
    pub event_id: String,
    /// What failed.
    pub error: ImportError,
}

impl From<RetryableError> for Diagnostic {
    fn from(e: RetryableError) -> Diagnostic {
        Diagnostic {
            error_type: "SecurityHubImportFailed".to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Where findings are imported: the Security Hub Region, and the function's own account (from
/// its ARN), which files a finding whose event and resource name no account (an instance ARN
/// has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Importer {
    /// The Region.
    pub region: String,
    /// The function's account.
    pub account: Option<String>,
}

/// Handles one finding event: the result as JSON, an `Err` when a retry can help.
pub async fn handle<H: FindingImport>(
    hub: &H,
    importer: &Importer,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError> {
    let parsed = match FindingEvent::parse(event, now) {
        Ok(p) => p,
        Err(Unusable::Skip(reason)) => return Ok(json!({"result": "skipped", "reason": reason})),
        Err(Unusable::Malformed(error)) => {
            tracing::error!(%error, "malformed finding event; acknowledged");
            return Ok(json!({"result": "rejected", "error": error}));
        }
    };
    let target = HubTarget {
        region: importer.region.clone(),
        account: parsed.account.clone().or_else(|| importer.account.clone()),
    };
    let asff = match asff_finding(&parsed.finding, &target, parsed.time) {
        Ok(a) => a,
        Err(why) => return Ok(json!({"result": "not-imported", "reason": why.to_string()})),
    };
    match import_all(hub, std::slice::from_ref(&asff)).await {
        Ok(_) => {
            tracing::info!(event_id = %parsed.id, id = %asff.id, compliance = asff.compliance_status, "imported");
            Ok(json!({"result": "imported", "id": asff.id,
                      "compliance": asff.compliance_status, "record_state": asff.record_state}))
        }
        Err(ImportError::Call(e)) if !e.retryable() => {
            // Access denied, Security Hub not enabled: a retry cannot fix it. The finding is
            // in the log, and on the bus for the other consumers.
            tracing::error!(event_id = %parsed.id, id = %asff.id, error = %e, "not imported; acknowledged");
            Ok(json!({"result": "failed", "id": asff.id, "error": e.to_string()}))
        }
        Err(error) => {
            tracing::warn!(event_id = %parsed.id, id = %asff.id, %error, "import failed; the invocation will be retried");
            Err(RetryableError {
                event_id: parsed.id,
                error,
            })
        }
    }
}

/// Now, from the system clock.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}
