//! `idc-guard`: render, check and simulate IAM Identity Center key policies offline.
//!
//! Exit codes (design §8): 0 compliant / done, 1 findings, 2 bad input or usage.

mod commands;
mod input;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
        /// The Region of the request (default: the primary Region).
        #[arg(long)]
        region: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
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

/// What a command produced: text for stdout and the exit code.
struct Outcome {
    stdout: String,
    code: u8,
}

/// A user error: printed on stderr, exit 2.
#[derive(Debug)]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; clap exits 2 for usage errors.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::RenderPolicy { config } => commands::render(&config),
        Command::CheckPolicy {
            config,
            format,
            policy,
        } => commands::check(&config, &policy, format),
        Command::Simulate {
            config,
            policy,
            principal,
            action,
            context,
            region,
            format,
        } => commands::simulate(&commands::SimulateArgs {
            config: &config,
            policy: &policy,
            principal: &principal,
            action: &action,
            context: &context,
            region: region.as_deref(),
            format,
        }),
        Command::AcsUrls { config, format } => commands::acs_urls(&config, format),
    };
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
