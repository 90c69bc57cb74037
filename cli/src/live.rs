//! The commands that talk to AWS: `replay` (the key-policy guard on an event file) and
//! `audit` (a read-only sweep). Endpoints follow the SDK's rules; `--endpoint-url` and
//! `--sso-endpoint-url` override them (local servers).

use std::fmt::Write as _;

use idc_guard_core::aws::{
    Documents, DynamoClaims, Endpoints, EventBridgeBus, KmsKeyStore, Region, SdkConfig,
    SsoInstanceDirectory, load_sdk_config_system_roots,
};
use idc_guard_core::config::{Config, Mode};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, Status};
use idc_guard_core::guard::audit::{AuditReport, audit};
use idc_guard_core::guard::key::{GuardOutcome, RegionOutcome};
use idc_guard_core::guard::{GuardError, KeyGuard};
use idc_guard_core::ports::local::{LocalBudget, LocalBus, LocalClaims};
use idc_guard_core::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimStore, FindingBus, PortError,
};
use serde_json::json;

use crate::input::{read_config, read_text};
use crate::{Format, Outcome, UsageError};

/// Where the live commands connect.
#[derive(Debug, Default)]
pub struct Connection {
    /// One endpoint for KMS, EventBridge, DynamoDB and sso-admin.
    pub endpoint_url: Option<String>,
    /// sso-admin only (the Identity Center emulator locally).
    pub sso_endpoint_url: Option<String>,
}

impl Connection {
    fn endpoints(&self) -> Endpoints {
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

/// `replay` arguments.
#[derive(Debug)]
pub struct ReplayArgs<'a> {
    /// The configuration file.
    pub config: &'a str,
    /// The event file (EventBridge event or bare CloudTrail record), or `-`.
    pub event: &'a str,
    /// Overrides `remediation.mode`.
    pub mode: Option<Mode>,
    /// Where to connect.
    pub connection: Connection,
    /// The DynamoDB state table; in-process claims and breaker when absent.
    pub state_table: Option<&'a str>,
    /// The findings bus; findings are only printed when absent.
    pub bus: Option<&'a str>,
    /// Output format.
    pub format: Format,
}

/// The claim store and breaker: the state table, or in-process for a one-shot run.
enum Claims {
    Table(DynamoClaims),
    Local(LocalClaims, LocalBudget),
}

impl ClaimStore for Claims {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        match self {
            Claims::Table(t) => t.claim(claim).await,
            Claims::Local(c, _) => c.claim(claim).await,
        }
    }

    async fn settle(&self, fingerprint: &str, now: Timestamp) -> Result<(), PortError> {
        match self {
            Claims::Table(t) => t.settle(fingerprint, now).await,
            Claims::Local(c, _) => c.settle(fingerprint, now).await,
        }
    }

    async fn release(&self, fingerprint: &str) -> Result<(), PortError> {
        match self {
            Claims::Table(t) => t.release(fingerprint).await,
            Claims::Local(c, _) => c.release(fingerprint).await,
        }
    }

    async fn stash(
        &self,
        event_id: &str,
        findings: &str,
        expires: Timestamp,
    ) -> Result<(), PortError> {
        match self {
            Claims::Table(t) => t.stash(event_id, findings, expires).await,
            Claims::Local(c, _) => c.stash(event_id, findings, expires).await,
        }
    }

    async fn take_stashed(&self, event_id: &str) -> Result<Option<String>, PortError> {
        match self {
            Claims::Table(t) => t.take_stashed(event_id).await,
            Claims::Local(c, _) => c.take_stashed(event_id).await,
        }
    }
}

impl ActionBudget for Claims {
    async fn take(
        &self,
        key_arn: &str,
        window_start: Timestamp,
        limit: u32,
        expires: Timestamp,
    ) -> Result<Budget, PortError> {
        match self {
            Claims::Table(t) => t.take(key_arn, window_start, limit, expires).await,
            Claims::Local(_, b) => b.take(key_arn, window_start, limit, expires).await,
        }
    }
}

/// The findings bus, or a local collector whose findings are printed.
enum Bus {
    EventBridge(EventBridgeBus),
    Local(LocalBus),
}

impl FindingBus for Bus {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PortError> {
        match self {
            Bus::EventBridge(b) => b.publish(findings).await,
            Bus::Local(b) => b.publish(findings).await,
        }
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
async fn sdk_for(config: &Config) -> SdkConfig {
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

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// The event file (`-`: standard input) as JSON, and its name for messages.
fn read_event(path: &str) -> Result<(&str, serde_json::Value), UsageError> {
    let text = read_text(path, "event")?;
    let name = if path == "-" { "<stdin>" } else { path };
    let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{name}: line {}, column {}: the event is not JSON: {e}",
            e.line(),
            e.column()
        ))
    })?;
    Ok((name, event))
}

/// `replay`
pub fn replay(args: &ReplayArgs<'_>) -> Result<Outcome, UsageError> {
    let mut config = read_config(args.config)?;
    if let Some(mode) = args.mode {
        config
            .remediation
            .set_mode(mode)
            .map_err(|e| UsageError(format!("{}: {e}", args.config)))?;
    }
    if config.remediation.mode == Mode::Remediate && args.state_table.is_none() {
        // In-process claims and breaker forget everything at exit: a loop of replays could
        // remediate without bound and twice for what the Lambda already handled.
        return Err(UsageError(
            "--mode remediate needs --state-table (the guards' DynamoDB table): idempotency and the circuit breaker must be shared with the Lambda".to_owned(),
        ));
    }
    let (name, event) = read_event(args.event)?;
    runtime()?.block_on(async {
        let sdk = sdk_for(&config).await;
        let endpoints = args.connection.endpoints();
        let claims = match args.state_table {
            Some(t) => Claims::Table(DynamoClaims::new(&sdk, endpoints.dynamodb.clone(), t)),
            None => Claims::Local(LocalClaims::default(), LocalBudget::default()),
        };
        let guard = KeyGuard::new(
            config,
            KmsKeyStore::new(&sdk, endpoints.kms.clone()),
            match args.bus {
                Some(bus) => {
                    Bus::EventBridge(EventBridgeBus::new(&sdk, endpoints.events.clone(), bus))
                }
                None => Bus::Local(LocalBus::default()),
            },
            &claims,
            &claims,
        );
        let outcome = match guard.handle_event(&event, now()).await {
            Ok(outcome) => outcome,
            // Not bad input: AWS failed. Exit 1 with what happened, the findings included.
            Err(e) => {
                let stdout = match &e {
                    GuardError::Publish { findings, .. } => {
                        format!("ERROR {name}: {e}\nfindings: {findings}\n")
                    }
                    // The Outbox error's text carries what the outbox held.
                    GuardError::Port(_)
                    | GuardError::ClaimHeld { .. }
                    | GuardError::Outbox { .. } => {
                        format!("ERROR {name}: {e}\n")
                    }
                };
                return Ok(Outcome { stdout, code: 1 });
            }
        };
        if let GuardOutcome::Rejected { error } = &outcome {
            return Err(UsageError(format!("{name}: {error}")));
        }
        let settled = match &outcome {
            GuardOutcome::Handled { regions, .. } => regions.iter().all(|r| {
                matches!(
                    r.outcome,
                    RegionOutcome::Compliant | RegionOutcome::Remediated | RegionOutcome::Duplicate
                )
            }),
            _ => true,
        };
        let stdout = match args.format {
            Format::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&outcome).unwrap_or_default()
            ),
            Format::Text => replay_text(&outcome),
        };
        Ok(Outcome {
            stdout,
            code: if settled { 0 } else { 1 },
        })
    })
}

fn replay_text(outcome: &GuardOutcome) -> String {
    let mut out = String::new();
    match outcome {
        GuardOutcome::Skipped { reason } => {
            let _ = writeln!(out, "SKIPPED: {reason}");
        }
        GuardOutcome::Rejected { error } => {
            let _ = writeln!(out, "REJECTED: {error}");
        }
        GuardOutcome::Handled {
            event_id,
            regions,
            republished,
        } => {
            if !republished.is_empty() {
                let _ = writeln!(
                    out,
                    "{event_id}: published {} finding(s) an earlier attempt left in the outbox",
                    republished.len()
                );
                for f in republished {
                    write_finding(&mut out, f);
                }
            }
            for r in regions {
                let outcome = serde_json::to_value(r.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_uppercase))
                    .unwrap_or_default();
                let _ = writeln!(out, "{} {event_id}: {outcome}", r.region);
                for f in &r.findings {
                    write_finding(&mut out, f);
                }
            }
        }
    }
    out
}

fn write_finding(out: &mut String, f: &Finding) {
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
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        audit(&config, &keys, Some(&directory), &documents, now).await
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
