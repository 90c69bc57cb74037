//! `replay`: every record of a file through the guard that owns it (key-policy-guard,
//! region-guard, idp-guard), with the Lambdas' code, against live AWS or local servers.
//!
//! The file is an EventBridge event, a bare CloudTrail record, a CloudTrail log file
//! (`.json` or `.json.gz`) or `lookup-events` output. Records are read on a thread of their
//! own and handed over through a small channel, so a log file of any size is held one record
//! at a time; each result is printed as soon as it is known.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::ops::ControlFlow;

use idc_guard_core::aws::{
    Documents, DynamoClaims, Endpoints, EventBridgeBus, KmsKeyStore, SdkConfig,
    SsoInstanceDirectory,
};
use idc_guard_core::config::{Config, Mode};
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::{Finding, RemediationOutcome, Status};
use idc_guard_core::guard::change::ChangeOutcome;
use idc_guard_core::guard::key::{GuardOutcome, RegionOutcome, RegionReport};
use idc_guard_core::guard::{Delivery, GuardError, IdpGuard, KeyEnforcer, KeyGuard, RegionGuard};
use idc_guard_core::idp_http::{LiveApps, load_from_secrets_manager};
use idc_guard_core::intake::Owner;
use idc_guard_core::intake::envelope::{CloudTrailEvent, Rejection};
use idc_guard_core::intake::records::{Entry, FileShape, RecordsError, read_records};
use idc_guard_core::ports::local::{LocalBudget, LocalBus, LocalClaims};
use idc_guard_core::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimStore, FindingBus, Ledger, Pause, PortError,
};
use serde_json::{Value, json};

use crate::input::{display_name, read_config};
use crate::live::{Connection, now, runtime, sdk_for, write_finding};
use crate::{Format, Outcome, UsageError};

/// `replay` arguments.
#[derive(Debug)]
pub struct ReplayArgs<'a> {
    /// The configuration file.
    pub config: &'a str,
    /// The event or log file, or `-`.
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

    async fn open_failures(&self, scope: &str) -> Result<Ledger, PortError> {
        match self {
            Claims::Table(t) => t.open_failures(scope).await,
            Claims::Local(c, _) => c.open_failures(scope).await,
        }
    }

    async fn write_failures(
        &self,
        scope: &str,
        ledger: &Ledger,
        expires: Timestamp,
    ) -> Result<bool, PortError> {
        match self {
            Claims::Table(t) => t.write_failures(scope, ledger, expires).await,
            Claims::Local(c, _) => c.write_failures(scope, ledger, expires).await,
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

/// The findings bus, or a local collector (the findings are in the printed outcome).
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

/// region-guard waits for a new replica with the runtime's timer.
struct Sleep;

impl Pause for Sleep {
    async fn pause(&self, seconds: u64) {
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
}

/// The three guards, sharing one claim store (idempotency, breaker) and one bus.
struct Guards<'a> {
    key: KeyGuard<KmsKeyStore, &'a Bus, &'a Claims, &'a Claims>,
    region: RegionGuard<KmsKeyStore, SsoInstanceDirectory, &'a Bus, &'a Claims, &'a Claims, Sleep>,
    idp: IdpGuard<SsoInstanceDirectory, &'a Bus, &'a Claims, Documents, LiveApps, &'a Claims>,
}

/// What became of one record.
enum RecordResult {
    Key(GuardOutcome),
    Change(ChangeOutcome),
    /// No guard takes this record.
    NoGuard(String),
    /// Not a usable record: names the field.
    Malformed(String),
    /// AWS failed; the text carries the findings, so nothing is lost.
    Failed(String),
}

impl RecordResult {
    /// What the record came to, for the output and the total.
    fn verdict(&self) -> Verdict {
        match self {
            RecordResult::Key(GuardOutcome::Handled { .. })
            | RecordResult::Change(ChangeOutcome::Handled { .. }) => Verdict::Handled,
            RecordResult::Change(ChangeOutcome::Duplicate { .. }) => Verdict::Duplicate,
            RecordResult::Key(GuardOutcome::Skipped { .. })
            | RecordResult::Change(ChangeOutcome::Skipped { .. })
            | RecordResult::NoGuard(_) => Verdict::Skipped,
            RecordResult::Key(GuardOutcome::Rejected { .. })
            | RecordResult::Change(ChangeOutcome::Rejected { .. })
            | RecordResult::Malformed(_) => Verdict::Malformed,
            RecordResult::Failed(_) => Verdict::Failed,
        }
    }

    fn malformed(&self) -> bool {
        self.verdict() == Verdict::Malformed
    }

    /// Whether the record leaves nothing to do: compliant, fixed, skipped or a duplicate.
    fn settled(&self) -> bool {
        match self {
            RecordResult::Key(GuardOutcome::Handled { regions, .. }) => {
                regions.iter().all(region_settled)
            }
            RecordResult::Change(ChangeOutcome::Handled {
                findings, replicas, ..
            }) => findings.iter().all(fixed) && replicas.iter().all(region_settled),
            RecordResult::Failed(_) => false,
            _ => true,
        }
    }
}

/// What a record came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Handled,
    Duplicate,
    Skipped,
    Malformed,
    Failed,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Handled => "handled",
            Verdict::Duplicate => "duplicate",
            Verdict::Skipped => "skipped",
            Verdict::Malformed => "malformed",
            Verdict::Failed => "failed",
        }
    }
}

/// A Region left with nothing to do: compliant, fixed, or handled by another copy.
fn region_settled(r: &RegionReport) -> bool {
    matches!(
        r.outcome,
        RegionOutcome::Compliant | RegionOutcome::Remediated | RegionOutcome::Duplicate
    )
}

/// A finding that needs no one: a pass, or a failure the guard fixed.
fn fixed(f: &Finding) -> bool {
    f.status == Status::Pass
        || f.remediation
            .as_ref()
            .is_some_and(|r| r.outcome == RemediationOutcome::Applied)
}

/// One record as read from the file.
struct Record {
    index: usize,
    event_id: String,
    event_name: String,
    owner: Option<Owner>,
    result: RecordResult,
}

/// The tally printed at the end.
#[derive(Default)]
struct Total {
    records: usize,
    handled: usize,
    duplicate: usize,
    skipped: usize,
    malformed: usize,
    failed: usize,
    unsettled: usize,
}

impl Total {
    /// Adds one guard's result; `first` for the first (or only) guard of a record.
    fn add(&mut self, r: &RecordResult, first: bool) {
        self.records += usize::from(first);
        match r.verdict() {
            Verdict::Handled => self.handled += 1,
            Verdict::Duplicate => self.duplicate += 1,
            Verdict::Skipped => self.skipped += 1,
            Verdict::Malformed => self.malformed += 1,
            Verdict::Failed => self.failed += 1,
        }
        if !r.malformed() && !r.settled() {
            self.unsettled += 1;
        }
    }

    fn json(&self) -> Value {
        json!({"records": self.records, "handled": self.handled, "duplicate": self.duplicate,
               "skipped": self.skipped, "malformed": self.malformed, "failed": self.failed,
               "needing_attention": self.unsettled})
    }

    fn text(&self) -> String {
        format!(
            "{} record(s): {} handled, {} duplicate, {} skipped, {} malformed, {} failed; {} need attention",
            self.records,
            self.handled,
            self.duplicate,
            self.skipped,
            self.malformed,
            self.failed,
            self.unsettled
        )
    }
}

/// Opens the file (or standard input), inflating gzip whatever the file is called.
fn open(path: &str) -> Result<Box<dyn Read + Send>, UsageError> {
    let name = display_name(path);
    let reader: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| UsageError(format!("{name}: cannot read the events: {e}")))?,
        )
    };
    let mut reader = BufReader::new(reader);
    let head = reader
        .fill_buf()
        .map_err(|e| UsageError(format!("{name}: cannot read the events: {e}")))?;
    if head.is_empty() {
        return Err(UsageError(format!("{name}: the file is empty")));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)));
    }
    Ok(Box::new(reader))
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
    let name = display_name(args.event).to_owned();
    let reader = open(args.event)?;
    // Records cross from the reading thread one at a time; the channel bounds what is held.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Entry>(4);
    let reading = std::thread::spawn(move || {
        read_records(reader, |entry| match sender.blocking_send(entry) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        })
    });
    let total = runtime()?.block_on(async {
        let sdk = sdk_for(&config).await;
        let endpoints = args.connection.endpoints();
        let claims = match args.state_table {
            Some(t) => Claims::Table(DynamoClaims::new(&sdk, endpoints.dynamodb.clone(), t)),
            None => Claims::Local(LocalClaims::default(), LocalBudget::default()),
        };
        let bus = match args.bus {
            Some(bus) => Bus::EventBridge(EventBridgeBus::new(&sdk, endpoints.events.clone(), bus)),
            None => Bus::Local(LocalBus::default()),
        };
        let directory = || SsoInstanceDirectory::new(&sdk, endpoints.sso_admin.clone());
        let guards = Guards {
            key: KeyGuard::new(
                config.clone(),
                KmsKeyStore::new(&sdk, endpoints.kms.clone()),
                &bus,
                &claims,
                &claims,
            ),
            region: RegionGuard {
                enforcer: KeyEnforcer {
                    config: config.clone(),
                    keys: KmsKeyStore::new(&sdk, endpoints.kms.clone()),
                    budget: &claims,
                },
                delivery: Delivery {
                    bus: &bus,
                    claims: &claims,
                },
                directory: directory(),
                pause: Sleep,
            },
            idp: IdpGuard {
                config: config.clone(),
                delivery: Delivery {
                    bus: &bus,
                    claims: &claims,
                },
                directory: directory(),
                documents: Documents::new(&sdk, endpoints.s3.clone()),
                apps: idp_apps(&config, &sdk, &endpoints).await?,
                budget: &claims,
            },
        };
        let mut total = Total::default();
        while let Some(entry) = receiver.recv().await {
            for (i, record) in handle(&guards, entry, now()).await.iter().enumerate() {
                total.add(&record.result, i == 0);
                print_record(&name, record, args.format);
            }
        }
        Ok::<_, UsageError>(total)
    })?;
    let read = reading
        .join()
        .map_err(|_| UsageError(format!("{name}: the reader stopped unexpectedly")))?;
    finish(&name, &total, read, args.format)
}

/// Prints the total and picks the exit code: 2 when the input was bad (the file, or any
/// record), 1 when something needs attention or AWS failed, else 0.
fn finish(
    name: &str,
    total: &Total,
    read: Result<FileShape, RecordsError>,
    format: Format,
) -> Result<Outcome, UsageError> {
    let stdout = match format {
        Format::Json => format!("{}\n", json!({"total": total.json()})),
        Format::Text => format!("{}\n", total.text()),
    };
    let bad_input = match read {
        Err(e) => Some(format!("{name}: {e}")),
        Ok(_) if total.malformed > 0 => Some(format!(
            "{name}: {} of {} record(s) malformed (each named above)",
            total.malformed, total.records
        )),
        Ok(_) => None,
    };
    if let Some(message) = bad_input {
        // The records before the fault were handled and printed: the total goes out too.
        print_out(&stdout);
        return Err(UsageError(message));
    }
    let code = u8::from(total.failed > 0 || total.unsettled > 0);
    Ok(Outcome { stdout, code })
}

fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (idc-guard ... | head) is not an error worth a message.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Reads one entry and hands it to every guard that reacts to it: its owner, and idp-guard
/// too for a Region change when an IdP application is configured. One result per guard.
async fn handle(guards: &Guards<'_>, entry: Entry, now: Timestamp) -> Vec<Record> {
    let (index, value) = match entry {
        Entry::Record { index, record } => (index, record),
        Entry::Unreadable { index, error } => {
            return vec![Record {
                index,
                event_id: String::new(),
                event_name: String::new(),
                owner: None,
                result: RecordResult::Malformed(error),
            }];
        }
    };
    let event = match CloudTrailEvent::try_from(&value) {
        Ok(e) => e,
        Err(rejection) => {
            let result = match rejection {
                Rejection::Skip(s) => RecordResult::NoGuard(s.to_string()),
                Rejection::Malformed(e) => RecordResult::Malformed(e.to_string()),
            };
            // Named as far as the record allows, so the user can find it.
            let named = |field: &str| {
                value
                    .get("detail")
                    .unwrap_or(&value)
                    .get(field)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return vec![Record {
                index,
                event_id: named("eventID"),
                event_name: named("eventName"),
                owner: None,
                result,
            }];
        }
    };
    let mut owners: Vec<Option<Owner>> = Owner::every(&event)
        .into_iter()
        .filter(|o| {
            *o != Owner::Idp || Owner::of(&event) == Some(Owner::Idp) || guards.idp.apps.is_some()
        })
        .map(Some)
        .collect();
    if owners.is_empty() {
        owners.push(None);
    }
    let mut records = Vec::new();
    for owner in owners {
        records.push(Record {
            index,
            event_id: event.event_id.clone(),
            event_name: event.event_name.clone(),
            owner,
            result: one_guard(guards, owner, &event, &value, now).await,
        });
    }
    records
}

/// The result of `owner` (none: no guard) on one record.
async fn one_guard(
    guards: &Guards<'_>,
    owner: Option<Owner>,
    event: &CloudTrailEvent,
    value: &Value,
    now: Timestamp,
) -> RecordResult {
    match owner {
        None => RecordResult::NoGuard(format!(
            "{} from {} is not an event any guard reacts to",
            event.event_name,
            if event.event_source.is_empty() {
                "(no eventSource)"
            } else {
                &event.event_source
            }
        )),
        Some(Owner::KeyPolicy) => guards
            .key
            .handle_event(value, now)
            .await
            .map_or_else(failed, RecordResult::Key),
        Some(Owner::Region) => Box::pin(guards.region.handle_event(value, now))
            .await
            .map_or_else(failed, RecordResult::Change),
        Some(Owner::Idp) => Box::pin(guards.idp.handle_event(value, now))
            .await
            .map_or_else(failed, RecordResult::Change),
    }
}

/// The IdP application's adapter when configured (write access only when this replay may
/// remediate it).
async fn idp_apps(
    config: &Config,
    sdk: &SdkConfig,
    endpoints: &Endpoints,
) -> Result<Option<LiveApps>, UsageError> {
    let Some(application) = &config.idp.application else {
        return Ok(None);
    };
    let write = config.remediation.mode == Mode::Remediate && config.idp.allow_update;
    load_from_secrets_manager(application, sdk, endpoints.secrets.clone(), write)
        .await
        .map(Some)
        .map_err(|e| UsageError(format!("reading the IdP credentials secret: {e}")))
}

/// AWS failed: what happened, with the findings that could not be published.
fn failed(e: GuardError) -> RecordResult {
    RecordResult::Failed(match &e {
        GuardError::Publish { findings, .. } => format!("{e}; findings: {findings}"),
        // The Outbox error's text carries what the outbox held.
        GuardError::Port(_) | GuardError::ClaimHeld { .. } | GuardError::Outbox { .. } => {
            e.to_string()
        }
    })
}

fn print_record(name: &str, record: &Record, format: Format) {
    if record.result.malformed() {
        let why = match &record.result {
            RecordResult::Malformed(e)
            | RecordResult::Key(GuardOutcome::Rejected { error: e })
            | RecordResult::Change(ChangeOutcome::Rejected { error: e }) => e.as_str(),
            _ => "",
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "idc-guard: {name}: record {}: {why}", record.index);
    }
    let text = match format {
        Format::Json => format!("{}\n", record_json(record)),
        Format::Text => record_text(record),
    };
    print_out(&text);
}

fn record_json(record: &Record) -> Value {
    let outcome = match &record.result {
        RecordResult::Key(o) => serde_json::to_value(o).unwrap_or_default(),
        RecordResult::Change(o) => serde_json::to_value(o).unwrap_or_default(),
        RecordResult::NoGuard(reason) => json!({"result": "skipped", "reason": reason}),
        RecordResult::Malformed(error) => json!({"result": "rejected", "error": error}),
        RecordResult::Failed(error) => json!({"result": "failed", "error": error}),
    };
    json!({
        "record": record.index,
        "event_id": record.event_id,
        "event_name": record.event_name,
        "guard": record.owner.map(Owner::function),
        "settled": record.result.settled(),
        "outcome": outcome,
    })
}

fn record_text(record: &Record) -> String {
    let mut out = String::new();
    let guard = record.owner.map_or("no guard", Owner::function);
    let name = if record.event_name.is_empty() {
        "(unreadable)"
    } else {
        &record.event_name
    };
    let _ = writeln!(
        out,
        "[{}] {name} {} -> {guard}: {}",
        record.index,
        record.event_id,
        record.result.verdict().word().to_uppercase()
    );
    match &record.result {
        RecordResult::Key(o) => key_text(&mut out, o),
        RecordResult::Change(o) => change_text(&mut out, o),
        RecordResult::NoGuard(reason) => {
            let _ = writeln!(out, "  {reason}");
        }
        RecordResult::Malformed(error) | RecordResult::Failed(error) => {
            let _ = writeln!(out, "  {error}");
        }
    }
    out
}

fn key_text(out: &mut String, outcome: &GuardOutcome) {
    match outcome {
        GuardOutcome::Skipped { reason } => {
            let _ = writeln!(out, "  {reason}");
        }
        GuardOutcome::Rejected { error } => {
            let _ = writeln!(out, "  {error}");
        }
        GuardOutcome::Handled {
            event_id,
            regions,
            republished,
        } => {
            republished_text(out, event_id, republished);
            for r in regions {
                region_text(out, event_id, r);
            }
        }
    }
}

fn change_text(out: &mut String, outcome: &ChangeOutcome) {
    match outcome {
        ChangeOutcome::Skipped { reason } => {
            let _ = writeln!(out, "  {reason}");
        }
        ChangeOutcome::Rejected { error } => {
            let _ = writeln!(out, "  {error}");
        }
        ChangeOutcome::Duplicate { event_id } => {
            let _ = writeln!(out, "  {event_id}: this change was handled already");
        }
        ChangeOutcome::Handled {
            event_id,
            findings,
            replicas,
            republished,
        } => {
            republished_text(out, event_id, republished);
            for f in findings {
                write_finding(out, f);
            }
            for r in replicas {
                region_text(out, event_id, r);
            }
        }
    }
}

fn republished_text(out: &mut String, event_id: &str, republished: &[Finding]) {
    if republished.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{event_id}: published {} finding(s) an earlier attempt left in the outbox",
        republished.len()
    );
    for f in republished {
        write_finding(out, f);
    }
}

fn region_text(out: &mut String, event_id: &str, r: &RegionReport) {
    let outcome = serde_json::to_value(r.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default();
    let _ = writeln!(out, "{} {event_id}: {outcome}", r.region);
    for f in &r.findings {
        write_finding(out, f);
    }
}
