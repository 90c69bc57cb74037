//! `idc-guard`: render, check and simulate IAM Identity Center key policies offline; replay
//! events and audit the key live.
//!
//! Exit codes (README, docs/checks.md): 0 compliant / done, 1 findings, 2 bad input or usage.

mod chain;
mod commands;
mod evidence;
mod findings_text;
mod idp;
mod input;
mod live;
mod replay;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use idc_guard_core::config::Mode;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "idc-guard",
    version,
    about = "Guardrail for IAM Identity Center multi-Region key policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the model key policy (the AWS baseline for this configuration) as JSON.
    RenderPolicy {
        /// The idc-guard configuration (TOML).
        #[arg(long)]
        config: String,
    },
    /// Check a key policy against the model in every enabled Region.
    CheckPolicy {
        /// The idc-guard configuration (TOML).
        #[arg(long)]
        config: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// The policy file, or - for standard input: a JSON document, or a JSON string that
        /// contains one (as CloudTrail carries it).
        policy: String,
        /// Text: print each finding's cause in full, not cut to a summary.
        #[arg(long)]
        verbose: bool,
    },
    /// Evaluate one request against a key policy and print the decision and the deciding statements.
    Simulate {
        /// The idc-guard configuration (TOML).
        #[arg(long)]
        config: String,
        /// The policy file, or - for standard input.
        policy: String,
        /// The caller: an account id, a principal ARN, a service principal
        /// (sso.amazonaws.com) or "anonymous".
        #[arg(long)]
        principal: String,
        /// The action, e.g. kms:Decrypt.
        #[arg(long)]
        action: String,
        /// A condition key and value, KEY=VALUE; repeat a key for several values.
        #[arg(long = "context", value_name = "KEY=VALUE")]
        context: Vec<String>,
        /// A condition key the request does not carry (removes a default); repeatable.
        #[arg(long = "absent", value_name = "KEY")]
        absent: Vec<String>,
        /// Every key neither given nor assumed for the caller is absent (instead of undecided).
        #[arg(long)]
        closed_world: bool,
        /// The role's ARN (with its path) when --principal is a role session's ARN.
        #[arg(long)]
        role_arn: Option<String>,
        /// The Region of the request (default: the primary Region).
        #[arg(long)]
        region: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Run every record of an event file through the guard that owns it (key-policy-guard,
    /// region-guard, idp-guard) against live AWS (or local servers), in any mode: re-read,
    /// check, plan, and report or remediate.
    Replay {
        /// The idc-guard configuration (TOML).
        #[arg(long)]
        config: String,
        /// An EventBridge event, a bare CloudTrail record, a CloudTrail log file (.json or
        /// .json.gz) or `aws cloudtrail lookup-events` output; - for stdin.
        event: String,
        /// Overrides remediation.mode: dry-run, notify or remediate.
        #[arg(long, value_parser = str::parse::<Mode>)]
        mode: Option<Mode>,
        #[command(flatten)]
        connection: live::Connection,
        /// DynamoDB table for idempotency and the circuit breaker (default: in-process).
        #[arg(long)]
        state_table: Option<String>,
        /// EventBridge bus to publish findings to (default: print only).
        #[arg(long)]
        bus: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Read-only sweep of the key in every enabled Region with the key-policy guard's checks.
    Audit {
        /// The idc-guard configuration (TOML).
        #[arg(long)]
        config: String,
        #[command(flatten)]
        connection: live::Connection,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Audit evidence in the evidence bucket.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// The IdP application (Entra ID or Okta, `[idp.application]`): check its ACS URLs
    /// against the enabled Regions, or add the missing ones.
    Idp {
        #[command(subcommand)]
        command: IdpCommand,
    },
    /// Print the SAML ACS and access portal URLs of every enabled Region.
    AcsUrls {
        /// The idc-guard configuration (TOML).
        #[arg(long)]
        config: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Where `idp` commands connect and read credentials.
#[derive(Debug, clap::Args)]
struct IdpConnection {
    /// The idc-guard configuration (TOML), with [idp.application].
    #[arg(long)]
    config: String,
    #[command(flatten)]
    connection: live::Connection,
    /// The credentials JSON from this file instead of the configured Secrets Manager secret.
    #[arg(long)]
    credentials_file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// `idc-guard idp ...`
#[derive(Debug, Subcommand)]
enum IdpCommand {
    /// Read the application and judge its ACS URLs, audience and signing certificate; change
    /// nothing. Exit 1 when anything is missing or wrong.
    Check {
        #[command(flatten)]
        connection: IdpConnection,
    },
    /// Add the missing ACS URLs (never removes or reorders), then verify by re-reading.
    /// Needs idp.allow_update = true.
    Sync {
        #[command(flatten)]
        connection: IdpConnection,
        /// Print the exact request that would be sent; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `idc-guard evidence ...`
#[derive(Debug, Subcommand)]
enum EvidenceCommand {
    /// List the evidence records of a period (each read back and its checksum verified).
    List {
        /// The evidence bucket.
        #[arg(long)]
        bucket: String,
        /// First day, YYYY-MM-DD (UTC); default 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Last day, YYYY-MM-DD (UTC); default today.
        #[arg(long)]
        to: Option<String>,
        /// Endpoint for S3 (a local server).
        #[arg(long)]
        endpoint_url: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: evidence::ReportFormat,
        #[command(flatten)]
        filters: evidence::Filters,
        /// With the chain's key, the digest chain of the period is walked too.
        #[command(flatten)]
        signing: evidence::SigningArgs,
    },
    /// Export the evidence of a period as CSV or one self-contained HTML report.
    Export {
        /// The evidence bucket.
        #[arg(long)]
        bucket: String,
        /// First day, YYYY-MM-DD (UTC); default 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Last day, YYYY-MM-DD (UTC); default today.
        #[arg(long)]
        to: Option<String>,
        /// Endpoint for S3 (a local server).
        #[arg(long)]
        endpoint_url: Option<String>,
        /// csv or html.
        #[arg(long, value_enum)]
        format: evidence::ReportFormat,
        #[command(flatten)]
        filters: evidence::Filters,
        /// With the chain's key, the digest chain of the period is walked too.
        #[command(flatten)]
        signing: evidence::SigningArgs,
    },
    /// Recompute the SHA-256 of every evidence object and compare it with the checksum stored
    /// on the object; exit 1 when any object is altered or has no checksum. With --chain, walk
    /// the signed digest chain of a period instead: signatures, links, every listed record,
    /// records no digest lists, retention.
    Verify {
        /// The evidence bucket.
        #[arg(long)]
        bucket: String,
        /// Only keys under this prefix, e.g. evidence/2026/11/ (default: evidence/).
        #[arg(long)]
        prefix: Option<String>,
        #[command(flatten)]
        chain: evidence::ChainArgs,
        /// Endpoint for S3 (a local server).
        #[arg(long)]
        endpoint_url: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// What a command produced: text for stdout and the exit code.
struct Outcome {
    stdout: String,
    code: u8,
}

/// A user error: printed on stderr, exit 2.
#[derive(Debug)]
struct UsageError(String);

// The policy analysis allocates many small values; mimalloc serves them faster than the
// system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; clap exits 2 for usage errors.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = run(cli.command);
    match result {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (idc-guard ... | head) is not an error worth a message.
            let _ = out
                .write_all(outcome.stdout.as_bytes())
                .and_then(|()| out.flush());
            ExitCode::from(outcome.code)
        }
        Err(UsageError(message)) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "idc-guard: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command: the subcommand's arguments handed to the module that implements it.
#[expect(
    clippy::too_many_lines,
    reason = "one arm per subcommand, each only moving clap's fields into that command's arguments"
)]
fn run(command: Command) -> Result<Outcome, UsageError> {
    match command {
        Command::RenderPolicy { config } => commands::render(&config),
        Command::CheckPolicy {
            config,
            format,
            policy,
            verbose,
        } => commands::check(&config, &policy, format, verbose),
        Command::Simulate {
            config,
            policy,
            principal,
            action,
            context,
            absent,
            closed_world,
            role_arn,
            region,
            format,
        } => commands::simulate(&commands::SimulateArgs {
            config: &config,
            policy: &policy,
            principal: &principal,
            role_arn: role_arn.as_deref(),
            action: &action,
            context: &context,
            absent: &absent,
            closed_world,
            region: region.as_deref(),
            format,
        }),
        Command::AcsUrls { config, format } => commands::acs_urls(&config, format),
        Command::Idp { command } => {
            let (c, permit) = match command {
                IdpCommand::Check { connection } => (connection, idp::Permit::Report),
                IdpCommand::Sync {
                    connection,
                    dry_run: true,
                } => (connection, idp::Permit::Plan),
                IdpCommand::Sync { connection, .. } => (connection, idp::Permit::Apply),
            };
            idp::idp_command(&idp::IdpArgs {
                config: &c.config,
                connection: c.connection,
                credentials_file: c.credentials_file.as_deref(),
                permit,
                format: c.format,
            })
        }
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    bucket,
                    prefix,
                    chain,
                    endpoint_url,
                    format,
                },
        } => evidence::verify_command(&evidence::VerifyArgs {
            bucket: &bucket,
            prefix: prefix.as_deref(),
            chain: &chain,
            endpoint_url: endpoint_url.as_deref(),
            format,
        }),
        Command::Evidence {
            command:
                EvidenceCommand::List {
                    bucket,
                    from,
                    to,
                    endpoint_url,
                    format,
                    filters,
                    signing,
                }
                | EvidenceCommand::Export {
                    bucket,
                    from,
                    to,
                    endpoint_url,
                    format,
                    filters,
                    signing,
                },
        } => evidence::report_command(&evidence::ReportArgs {
            bucket: &bucket,
            from: from.as_deref(),
            to: to.as_deref(),
            endpoint_url: endpoint_url.as_deref(),
            format,
            filters: &filters,
            signing: &signing,
        }),
        Command::Replay {
            config,
            event,
            mode,
            connection,
            state_table,
            bus,
            format,
        } => replay::replay(&replay::ReplayArgs {
            config: &config,
            event: &event,
            mode,
            connection,
            state_table: state_table.as_deref(),
            bus: bus.as_deref(),
            format,
        }),
        Command::Audit {
            config,
            connection,
            format,
        } => live::audit_command(&config, &connection, format),
    }
}
