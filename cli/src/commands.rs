//! The subcommands. Each returns what to print and the exit code, or a usage error.

use std::fmt::Write as _;

use idc_guard_core::checks::key_policy::{KeyPolicyReport, check_parsed, with_files};
use idc_guard_core::domain::urls::{TENANT_PLACEHOLDER, documented_for, region_urls};
use idc_guard_core::model::render::render_policy;
use idc_guard_core::model::{caller_context, parse_caller};
use idc_guard_policy::document::parse_key_policy;
use idc_guard_policy::eval::{Decision, Outcome as EvalOutcome, Reading, evaluate};
use idc_guard_policy::request::AccessRequest;
use serde_json::json;

use crate::findings_text::findings_text;
use crate::input::{read_config, read_policy};
use crate::{Format, Outcome, UsageError};

/// `render-policy`
pub fn render(config: &str) -> Result<Outcome, UsageError> {
    let config = read_config(config)?;
    Ok(Outcome {
        stdout: format!("{}\n", render_policy(&config)),
        code: 0,
    })
}

/// `check-policy`
pub fn check(
    config_path: &str,
    policy: &str,
    format: Format,
    verbose: bool,
) -> Result<Outcome, UsageError> {
    let config = read_config(config_path)?;
    let text = read_policy(policy)?;
    let mut report = check_parsed(&config, &parse_key_policy(&text), &config.regions);
    // A reproduce line can name the files only when the policy was read from one.
    if policy != "-" {
        for f in &mut report.findings {
            f.message = with_files(&f.message, config_path, policy);
        }
    }
    let code = if report.compliant() { 0 } else { 1 };
    let stdout = match format {
        Format::Json => json_report(&report),
        Format::Text => text_report(&report, config.regions.len(), verbose),
    };
    Ok(Outcome { stdout, code })
}

fn json_report(report: &KeyPolicyReport) -> String {
    let findings: Vec<_> = report.problems().collect();
    let doc = json!({"compliant": report.compliant(), "findings": findings});
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

fn text_report(report: &KeyPolicyReport, regions: usize, verbose: bool) -> String {
    let problems: Vec<_> = report.problems().collect();
    let (mut out, distinct) = findings_text(&problems, verbose);
    let passed = report.findings.len() - problems.len();
    let _ = writeln!(
        out,
        "{}: {} finding(s) as {} problem(s), {passed} check(s) passed across {regions} Region(s)",
        if report.compliant() {
            "COMPLIANT"
        } else {
            "NOT COMPLIANT"
        },
        problems.len(),
        distinct
    );
    out
}

/// Arguments of `simulate`.
pub struct SimulateArgs<'a> {
    pub config: &'a str,
    pub policy: &'a str,
    pub principal: &'a str,
    pub role_arn: Option<&'a str>,
    pub action: &'a str,
    pub context: &'a [String],
    pub absent: &'a [String],
    pub closed_world: bool,
    pub region: Option<&'a str>,
    pub format: Format,
}

/// `simulate`
pub fn simulate(args: &SimulateArgs<'_>) -> Result<Outcome, UsageError> {
    let config = read_config(args.config)?;
    let text = read_policy(args.policy)?;
    let region = args.region.unwrap_or(&config.primary_region).to_owned();
    if !config.regions.contains(&region) {
        return Err(UsageError(format!(
            "--region: {region} is not an enabled Region of the configuration"
        )));
    }
    let caller = parse_caller(args.principal, config.partition(), args.role_arn)
        .map_err(|e| UsageError(format!("--principal: {e}")))?;
    let action = args.action.trim();
    if !action.contains(':') || action.contains(['*', '?']) {
        return Err(UsageError(format!(
            "--action: \"{action}\" is not an action name such as kms:Decrypt"
        )));
    }
    let mut context = caller_context(&config, &region, &caller);
    let mut given: Vec<&str> = Vec::new();
    for pair in args.context {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(UsageError(format!(
                "--context: \"{pair}\" is not KEY=VALUE"
            )));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(UsageError(format!("--context: \"{pair}\" has no key")));
        }
        // The first value given for a key replaces the default; more values add to it.
        if given.iter().any(|g| g.eq_ignore_ascii_case(k)) {
            context.add(k, v);
        } else {
            context.set(k, v);
            given.push(k);
        }
    }
    for k in args.absent {
        let k = k.trim();
        if k.is_empty() || k.contains('=') {
            return Err(UsageError(format!(
                "--absent: \"{k}\" is not a condition key"
            )));
        }
        if given.iter().any(|g| g.eq_ignore_ascii_case(k)) {
            return Err(UsageError(format!(
                "--absent: {k} is also given with --context"
            )));
        }
        context.remove(k);
    }
    if args.closed_world {
        context.set_open_world(false);
    }
    let parsed = parse_key_policy(&text);
    let Some(policy) = &parsed.policy else {
        let mut out = String::from("the policy cannot be evaluated:\n");
        for p in &parsed.problems {
            let _ = writeln!(out, "KP-INVALID {p}");
        }
        return Ok(Outcome {
            stdout: out,
            code: 1,
        });
    };
    let request = AccessRequest {
        caller,
        action: action.to_owned(),
        resource: config.key_arn_in(&region),
        context,
    };
    let narrow = evaluate(policy, &request, Reading::GrantsLeast);
    let broad = evaluate(policy, &request, Reading::GrantsMost);
    let stdout = match args.format {
        Format::Json => simulate_json(&request, &narrow, &broad),
        Format::Text => simulate_text(&request, &narrow, &broad),
    };
    Ok(Outcome { stdout, code: 0 })
}

fn decision_word(d: &Decision) -> &'static str {
    match d.outcome {
        EvalOutcome::Allowed => "ALLOW",
        EvalOutcome::ExplicitDeny => "DENY (explicit)",
        EvalOutcome::ImplicitDeny => "DENY (implicit: no statement allows it)",
    }
}

fn simulate_text(request: &AccessRequest, narrow: &Decision, broad: &Decision) -> String {
    let mut out = String::new();
    if narrow.outcome == broad.outcome {
        let _ = writeln!(out, "decision: {}", decision_word(narrow));
    } else {
        let _ = writeln!(
            out,
            "decision: UNDECIDED: AWS does not document part of this evaluation (docs/policy-semantics.md)\n  read narrowly: {}\n  read broadly:  {}",
            decision_word(narrow),
            decision_word(broad)
        );
    }
    let statements = if broad.statements.is_empty() {
        &narrow.statements
    } else {
        &broad.statements
    };
    if statements.is_empty() {
        let _ = writeln!(out, "deciding statements: none");
    } else {
        let names: Vec<String> = statements.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "deciding statements: {}", names.join(", "));
    }
    let _ = writeln!(
        out,
        "request: {} {} on {}",
        request.caller, request.action, request.resource
    );
    let _ = writeln!(out, "context:");
    for (k, vs) in request.context.iter() {
        let _ = writeln!(out, "  {k} = {}", vs.join(", "));
    }
    out
}

fn simulate_json(request: &AccessRequest, narrow: &Decision, broad: &Decision) -> String {
    let side = |d: &Decision| {
        json!({
            "decision": match d.outcome { EvalOutcome::Allowed => "allow", EvalOutcome::ExplicitDeny => "explicit-deny", EvalOutcome::ImplicitDeny => "implicit-deny" },
            "statements": d.statements.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    };
    let context: serde_json::Map<String, serde_json::Value> = request
        .context
        .iter()
        .map(|(k, vs)| (k.to_owned(), json!(vs)))
        .collect();
    let doc = json!({
        "decided": narrow.outcome == broad.outcome,
        "narrow": side(narrow),
        "broad": side(broad),
        "principal": request.caller.to_string(),
        "action": request.action,
        "resource": request.resource,
        "context": context,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

/// `acs-urls`
pub fn acs_urls(config: &str, format: Format) -> Result<Outcome, UsageError> {
    let config = read_config(config)?;
    let urls = region_urls(&config);
    let mut notes = Vec::new();
    if config.saml_tenant_id.is_none() {
        notes.push(format!("saml_tenant_id is not set: replace {TENANT_PLACEHOLDER} with the tenant id from the Identity Center console"));
    }
    if !documented_for(&config) {
        notes.push(format!("AWS documents these URL forms for the aws partition; confirm them for {} in the console", config.partition()));
    }
    let stdout = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"regions": urls, "notes": notes}))
                .unwrap_or_default()
        ),
        Format::Text => {
            let mut out = String::new();
            for r in &urls {
                let _ = writeln!(
                    out,
                    "{}{}",
                    r.region,
                    if r.primary { " (primary)" } else { "" }
                );
                for u in &r.acs_urls {
                    let _ = writeln!(out, "  ACS     {u}");
                }
                if let Some(u) = &r.legacy_acs_url {
                    let _ = writeln!(
                        out,
                        "  ACS     {u}   (only for instances created before February 2026)"
                    );
                }
                for u in &r.portal_urls {
                    let _ = writeln!(out, "  portal  {u}");
                }
            }
            for n in &notes {
                let _ = writeln!(out, "note: {n}");
            }
            out
        }
    };
    Ok(Outcome { stdout, code: 0 })
}
