//! `make demo`: the whole guardrail on local servers. The Lambda binaries run behind local
//! Runtime APIs; CloudTrail-shaped events go onto moto's default bus, which routes them with
//! infra/'s own event patterns; findings go through the `idc-guard` bus to the notifier
//! (Slack receiver) and the evidence collector (S3). Every scenario's outcome is checked
//! against live state.

pub mod lambdas;
pub mod scenarios;
pub mod slack;
pub mod world;

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::runtime_api::Answer;
use lambdas::Lambdas;
use scenarios::{Observed, SCENARIOS, act, verify};
use world::{Route, World};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `dry-run`, `notify` or `remediate`.
    pub mode: String,
    /// Where the function binaries are.
    pub bin_dir: PathBuf,
    /// infra/'s routes (scripts/event-patterns.py output).
    pub routes: Vec<Route>,
    /// Where function logs go.
    pub logs: PathBuf,
}

/// One scenario's result for the final table.
#[derive(Debug)]
pub struct Row {
    /// The scenario.
    pub title: String,
    /// What was checked, and whether it held.
    pub verdict: Result<String, String>,
}

/// Every function the stack deploys, in start order.
pub const FUNCTIONS: [&str; 7] = [
    "key-policy-guard",
    "region-guard",
    "idp-guard",
    "drift-sweeper",
    "notifier",
    "evidence-collector",
    "securityhub-exporter",
];

/// The environment `function` gets in `world` (as infra/ sets it), for guards in `mode`.
pub fn function_env(world: &World, function: &str, mode: &str) -> Vec<(&'static str, String)> {
    let f = &world.fixture;
    let mut env = world.aws_env();
    // As infra/'s templates set it for every function.
    env.push(("MIMALLOC_ARENA_EAGER_COMMIT", "0".to_owned()));
    match function {
        "notifier" => env.extend([
            ("IDC_GUARD_SLACK_SECRET_ID", world.secret_id.clone()),
            ("IDC_GUARD_STATE_TABLE", f.table.clone()),
            ("IDC_GUARD_MIN_SEVERITY", "low".to_owned()),
            ("IDC_GUARD_EVIDENCE_BUCKET", world.bucket.clone()),
        ]),
        "evidence-collector" => {
            env.push(("IDC_GUARD_EVIDENCE_BUCKET", world.bucket.clone()));
        }
        _ => env.extend([
            ("IDC_GUARD_CONFIG", world.config_text.clone()),
            ("IDC_GUARD_MODE", mode.to_owned()),
            ("IDC_GUARD_FINDINGS_BUS", f.bus.clone()),
            ("IDC_GUARD_STATE_TABLE", f.table.clone()),
        ]),
    }
    env
}

/// Starts every function against `world`.
async fn start_functions(world: &World, options: &Options) -> Result<Lambdas, String> {
    let mut lambdas = Lambdas::new(&options.logs)?;
    for function in FUNCTIONS {
        let env = function_env(world, function, &options.mode);
        lambdas.start(&options.bin_dir, function, &env).await?;
    }
    Ok(lambdas)
}

/// The string at JSON `pointer` in `v`, or `?`.
pub(crate) fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("?")
}

fn answer_json(answer: Answer) -> Value {
    match answer {
        Answer::Response(v) => v,
        Answer::Error(e) => json!({"result": "error", "error": e}),
    }
}

/// Delivers what the rules queued to their functions until every queue is empty: first the
/// guards (default bus), then the findings consumers (the findings bus).
async fn drain(world: &World, lambdas: &Lambdas, seen: &mut Observed) -> Result<(), String> {
    for _ in 0..20 {
        let mut delivered = 0;
        for wired in &world.routes {
            for event in world.fixture.take(&wired.queue_url).await? {
                delivered += 1;
                let answer = answer_json(lambdas.invoke(&wired.route.function, event).await?);
                seen.invocations
                    .push((wired.route.function.clone(), answer));
            }
        }
        if delivered == 0 {
            return Ok(());
        }
    }
    Err("the queues did not drain in 20 rounds (a routing loop?)".to_owned())
}

fn summarize(function: &str, answer: &Value) -> String {
    let result = text(answer, "/result");
    match function {
        "key-policy-guard" => {
            let regions: Vec<String> = answer
                .get("regions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|r| format!("{} {}", text(r, "/region"), text(r, "/outcome")))
                .collect();
            if regions.is_empty() {
                result.to_owned()
            } else {
                regions.join(", ")
            }
        }
        "drift-sweeper" => format!(
            "{} finding(s) published",
            answer
                .get("published")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        ),
        "notifier" | "evidence-collector" | "securityhub-exporter" => {
            let text = answer.to_string();
            text.chars().take(100).collect()
        }
        _ => result.to_owned(),
    }
}

/// Runs every scenario; prints the timeline as it goes, returns the table's rows.
#[expect(
    clippy::too_many_lines,
    reason = "the demo's script: start the servers and functions, play each scenario in order, print as it goes; read top to bottom like the timeline it prints"
)]
pub async fn run(options: &Options, out: &mut dyn FnMut(&str)) -> Result<Vec<Row>, String> {
    out(&format!(
        "seeding the organization on local servers (mode {})",
        options.mode
    ));
    let world = World::seed(&options.mode, options.routes.clone()).await?;
    out(&format!(
        "  moto {} | Identity Center emulator {} | Slack receiver {}",
        world.moto.url, world.emulator.url, world.slack.url
    ));
    out(&format!(
        "  instance {} (primary us-east-1; eu-west-1, ap-southeast-2), key {} with a replica and the model policy in each",
        world.fixture.config.instance_arn, world.fixture.key_id
    ));
    for r in &world.routes {
        out(&format!(
            "  route {} ({} bus) -> {}: {}",
            r.route.rule, r.route.bus, r.route.function, r.route.pattern
        ));
    }
    let lambdas = start_functions(&world, options).await?;
    out(&format!(
        "  functions running behind local Runtime APIs (logs in {})",
        options.logs.display()
    ));
    let mut rows = Vec::new();
    let mut first_event: Option<Value> = None;
    let mut slack_seen = 0;
    let mut evidence_seen: std::collections::BTreeSet<String> =
        world.evidence_keys().await?.into_iter().collect();
    for (n, (id, title)) in SCENARIOS.iter().enumerate() {
        out(&format!("\n[{}] {title}", n + 1));
        let mut seen = Observed::default();
        if *id == "sweep" {
            out("    schedule -> drift-sweeper");
            let answer = answer_json(
                lambdas
                    .invoke("drift-sweeper", json!({"id": "demo-sweep"}))
                    .await?,
            );
            seen.invocations.push(("drift-sweeper".to_owned(), answer));
        } else {
            let events = act(&world, id, first_event.as_ref()).await?;
            for event in &events {
                let d = event.get("detail").unwrap_or(&Value::Null);
                out(&format!(
                    "    event    {} in {} by {} ({})",
                    text(d, "/eventName"),
                    text(d, "/awsRegion"),
                    text(d, "/userIdentity/arn"),
                    text(d, "/eventID")
                ));
                world.deliver(event).await?;
            }
            if first_event.is_none() {
                first_event = events.first().cloned();
            }
        }
        drain(&world, &lambdas, &mut seen).await?;
        for (function, answer) in &seen.invocations {
            out(&format!(
                "    -> {function}: {}",
                summarize(function, answer)
            ));
        }
        seen.findings = world.fixture.published().await?;
        for f in &seen.findings {
            let remediation = f
                .remediation
                .as_ref()
                .map(|r| format!(" | {} {}", r.mode, r.outcome))
                .unwrap_or_default();
            let name = |v: Value| v.as_str().unwrap_or("?").to_owned();
            let mut line = String::new();
            let _ = write!(
                line,
                "    finding  {} {} {} {}{remediation}",
                f.check,
                name(serde_json::to_value(f.status).unwrap_or_default()),
                name(serde_json::to_value(f.severity).unwrap_or_default()),
                f.region
            );
            out(&line);
        }
        let slack = world.slack.messages();
        seen.slack = slack
            .get(slack_seen..)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        slack_seen = slack.len();
        for m in &seen.slack {
            out(&format!("    slack    {}", slack::headline(m)));
        }
        // S3 lists in key order, not time order: new keys are the ones not seen before.
        seen.evidence = world
            .evidence_keys()
            .await?
            .into_iter()
            .filter(|k| evidence_seen.insert(k.clone()))
            .collect();
        for k in &seen.evidence {
            out(&format!("    evidence s3://{}/{k}", world.bucket));
        }
        let verdict = verify(&world, id, &options.mode, &seen).await;
        match &verdict {
            Ok(what) => out(&format!("    check    OK: {what}")),
            Err(what) => out(&format!("    check    FAILED: {what}")),
        }
        rows.push(Row {
            title: (*title).to_owned(),
            verdict,
        });
    }
    drop(lambdas);
    Ok(rows)
}

/// Reads scripts/event-patterns.py's output.
pub fn read_routes(text: &str) -> Result<Vec<Route>, String> {
    let routes: Vec<Route> =
        serde_json::from_str(text).map_err(|e| format!("event routes: {e}"))?;
    if routes.is_empty() {
        return Err("event routes: none (run scripts/event-patterns.py on infra/*.yaml)".into());
    }
    Ok(routes)
}
