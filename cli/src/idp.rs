//! `idp check` and `idp sync`: the IdP application's ACS URLs judged against the instance's
//! enabled Regions through the IdP's API, and (sync) the missing ones added, under the same
//! rules as idp-guard: add-only, re-read before the write, verified after, only with
//! `idp.allow_update = true`.

use std::fmt::Write as _;

use idc_guard_core::aws::SsoInstanceDirectory;
use idc_guard_core::checks::instance::enabled_regions;
use idc_guard_core::config::{Config, Mode};
use idc_guard_core::finding::{Finding, Status};
pub use idc_guard_core::guard::idp_app::Permit;
use idc_guard_core::guard::idp_app::{AppReview, review_app};
use idc_guard_core::idp_http::{LiveApps, from_secret, load_from_secrets_manager};
use idc_guard_core::ports::InstanceDirectory;
use idc_guard_core::ports::local::LocalBudget;
use serde_json::json;

use crate::input::{read_config, read_text};
use crate::live::{Connection, now, runtime, sdk_for, write_finding};
use crate::{Format, Outcome, UsageError};

/// What `idp check` / `idp sync` were asked.
#[derive(Debug)]
pub struct IdpArgs<'a> {
    /// The configuration file.
    pub config: &'a str,
    /// Where AWS is.
    pub connection: Connection,
    /// The credentials JSON from a file instead of the configured secret.
    pub credentials_file: Option<&'a str>,
    /// `check`: report; `sync`: add (or plan, with `--dry-run`).
    pub permit: Permit,
    /// Output format.
    pub format: Format,
}

/// Runs `idp check` or `idp sync`.
pub fn idp_command(args: &IdpArgs<'_>) -> Result<Outcome, UsageError> {
    let mut config = read_config(args.config)?;
    let Some(application) = config.idp.application.clone() else {
        return Err(UsageError(format!(
            "{}: no [idp.application] section: idc-guard does not know which IdP application to read",
            args.config
        )));
    };
    if args.permit == Permit::Apply && !config.idp.allow_update {
        return Err(UsageError(format!(
            "{}: idp.allow_update is false: idc-guard never writes to the IdP unless it is true (run idp sync --dry-run to see the change)",
            args.config
        )));
    }
    config.remediation.mode = match args.permit {
        Permit::Apply => Mode::Remediate,
        Permit::Plan => Mode::DryRun,
        Permit::Report | Permit::Withheld(_) => Mode::Notify,
    };
    let write = args.permit == Permit::Apply;
    let secret_file = args
        .credentials_file
        .map(|path| read_text(path, "credentials JSON"))
        .transpose()?;
    let (review, regions) = runtime()?.block_on(async {
        let sdk = sdk_for(&config).await;
        let endpoints = args.connection.endpoints();
        let apps = match (&secret_file, args.credentials_file) {
            // A credentials file the user named is input: a bad one is a usage error.
            (Some(text), Some(path)) => from_secret(application.clone(), text, write)
                .map(|apps| LiveApps::Ready(Box::new(apps)))
                .map_err(|e| UsageError(format!("{path}: {e}")))?,
            _ => load_from_secrets_manager(&application, &sdk, endpoints.secrets.clone(), write)
                .await
                .map_err(|e| UsageError(format!("reading the credentials secret: {e}")))?,
        };
        let directory = SsoInstanceDirectory::new(&sdk, endpoints.sso_admin.clone());
        let live = directory
            .list_regions(&config.primary_region, &config.instance_arn)
            .await
            .ok();
        let regions = enabled_regions(&config, live.as_deref());
        let review = review_app(
            &config,
            &apps,
            &LocalBudget::default(),
            &regions,
            &args.permit,
            now(),
        )
        .await
        .map_err(|e| UsageError(format!("the IdP application: {e}")))?;
        Ok::<_, UsageError>((review, regions))
    })?;
    Ok(render(&config, &review, &regions, args.format))
}

/// Exit 0 when everything holds (after a sync, as verified), 1 otherwise.
fn render(config: &Config, review: &AppReview, regions: &[String], format: Format) -> Outcome {
    let shown: &[Finding] = if review.verified.is_empty() {
        &review.findings
    } else {
        &review.verified
    };
    let holds = shown.iter().all(|f| f.status == Status::Pass);
    let code = u8::from(!holds);
    let stdout = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "holds": holds,
                "regions": regions,
                "changed": review.changed,
                "findings": review.findings,
                "verified": review.verified,
            }))
            .unwrap_or_default()
        ),
        Format::Text => {
            let mut out = String::new();
            for f in &review.findings {
                write_finding(&mut out, f);
            }
            if !review.verified.is_empty() {
                let _ = writeln!(out, "after the update (re-read):");
                for f in &review.verified {
                    write_finding(&mut out, f);
                }
            }
            let _ = writeln!(
                out,
                "{}: the IdP application {} for {} ({})",
                if holds { "HOLDS" } else { "DOES NOT HOLD" },
                if review.changed {
                    "was updated"
                } else {
                    "was checked"
                },
                config.instance_arn,
                regions.join(", ")
            );
            out
        }
    };
    Outcome { stdout, code }
}
