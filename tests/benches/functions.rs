//! Cold start of every function, and end-to-end latency of every guard, on local servers.
//!
//! Each release binary runs behind a local Lambda Runtime API against moto and the Identity
//! Center emulator (the demo's organization, `idc_guard_tests::demo::world`). Reported:
//! - init: process start to the function's first `next` request (the end of its init phase);
//! - first invocation: the first event handed over to its answer;
//! - peak RSS (VmHWM) after that first answer;
//! - end to end, per guard on a warm process: a real change delivered as its CloudTrail
//!   event to the verified remediation (key-policy-guard, region-guard) or the published
//!   findings (idp-guard), median and p99 over 200 events.
//!
//! `make bench` builds the binaries and runs this. Figures depend on moto (single-threaded
//! Python) and machine load; they measure our code's share only together with moto's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::model::render::render_policy;
use idc_guard_tests::demo::scenarios::sso_event;
use idc_guard_tests::demo::world::World;
use idc_guard_tests::demo::{FUNCTIONS, function_env};
use idc_guard_tests::fault_proxy::{FaultProxy, server_time};
use idc_guard_tests::key_fixture::PRIMARY;
use idc_guard_tests::runtime_api::{Answer, RuntimeApi, lambda_environment};
use serde_json::{Value, json};

const COLD_STARTS: usize = 10;
const EVENTS: usize = 200;

fn bin_dir() -> PathBuf {
    std::env::var("IDC_GUARD_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release"))
}

fn spawn(world: &World, api: &RuntimeApi, function: &str) -> Child {
    spawn_with(world, api, function, &[])
}

/// `function` with its environment, then `overrides` (endpoints through a proxy).
fn spawn_with(
    world: &World,
    api: &RuntimeApi,
    function: &str,
    overrides: &[(&'static str, String)],
) -> Child {
    Command::new(bin_dir().join(function))
        .env_clear()
        .envs(lambda_environment(&api.address, function))
        .envs(function_env(world, function, "remediate"))
        .envs(overrides.iter().cloned())
        .env("AWS_LAMBDA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{function}: {e} (build it: make bench)"))
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

/// A time `seconds` from now, as CloudTrail writes it. Later events get later times, so
/// each is a new change for the claims (which compare whole seconds).
fn at(seconds: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Timestamp(now + seconds).to_string()
}

fn finding_event(world: &World, i: usize) -> Value {
    let f = &world.fixture;
    json!({"version": "0", "id": format!("bench-{i}"), "source": "idc-guard",
        "detail-type": "IdC Guard Finding", "account": "123456789012", "region": PRIMARY,
        "time": at(0), "resources": [],
        "detail": {"check": "KP-ORG-VIA-SERVICE", "status": "fail", "severity": "high",
            "region": PRIMARY, "resource": f.config.key_arn_in(PRIMARY),
            "message": "bench finding", "fingerprint": format!("{:032x}", i + 1),
            "trigger": {"event_id": format!("bench-{i}"), "event_name": "PutKeyPolicy",
                "actor": "arn:aws:sts::123456789012:assumed-role/Admin/bench", "time": at(0)}}})
}

/// A representative first event for `function`.
fn first_event(world: &World, function: &str, i: usize) -> Value {
    let f = &world.fixture;
    let id = format!("cold-{function}-{i}");
    match function {
        "key-policy-guard" => f.event("PutKeyPolicy", PRIMARY, "Admin", &at(i as i64), &id),
        "region-guard" => sso_event(
            "UpdateInstance",
            "aws.sso",
            "sso.amazonaws.com",
            json!({"instanceArn": f.config.instance_arn}),
            &id,
            &at(i as i64),
        ),
        "idp-guard" => sso_event(
            "UpdateExternalIdPConfigurationForDirectory",
            "aws.sso-directory",
            "sso-directory.amazonaws.com",
            json!({}),
            &id,
            &at(i as i64),
        ),
        "drift-sweeper" => json!({"id": id}),
        _ => finding_event(world, 1000 * (i + 1) + function.len()),
    }
}

async fn answer(api: &RuntimeApi, event: Value) -> Value {
    match api.invoke(event, Duration::from_secs(60)).await.unwrap() {
        Answer::Response(v) => v,
        Answer::Error(e) => panic!("the function failed: {e}"),
    }
}

/// The init phase of a process started at `started`: until its first `next` request.
async fn init_ms(api: &RuntimeApi, started: Instant, function: &str) -> f64 {
    loop {
        if let Some(polled) = api.first_poll() {
            return ms(polled - started);
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{function} never polled"
        );
    }
}

/// The floor: a hello-world `lambda_runtime` binary's init (median, p99), same profile.
const HELLO: &str = "hello-lambda";

async fn hello_init() -> (f64, f64) {
    let mut init = Vec::new();
    for _ in 0..COLD_STARTS {
        let api = RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let mut child = Command::new(bin_dir().join(HELLO))
            .env_clear()
            .envs(lambda_environment(&api.address, HELLO))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{HELLO}: {e} (build it: make bench)"));
        init.push(init_ms(&api, started, HELLO).await);
        let _ = child.kill();
        let _ = child.wait();
    }
    stats(init)
}

struct Cold {
    function: &'static str,
    size_mb: f64,
    init: (f64, f64),
    first: (f64, f64),
    rss_mib: f64,
}

async fn cold_starts(world: &World, function: &'static str) -> Cold {
    let (mut init, mut first, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..COLD_STARTS {
        let api = RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let mut child = spawn(world, &api, function);
        init.push(init_ms(&api, started, function).await);
        let invoked = Instant::now();
        let _ = answer(&api, first_event(world, function, i)).await;
        first.push(ms(invoked.elapsed()));
        rss.push(peak_rss_kib(child.id()) as f64 / 1024.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    let size = std::fs::metadata(bin_dir().join(function)).map_or(0, |m| m.len());
    Cold {
        function,
        size_mb: size as f64 / 1e6,
        init: stats(init),
        first: stats(first),
        rss_mib: stats(rss).0,
    }
}

/// Where a first invocation's time goes: the function reaches moto and the emulator through
/// (fault-free) proxies that time every call; the servers' share is the time at least one
/// call was with them, the function's own share the rest. Medians over the cold starts;
/// the extra hop makes the totals slightly above the direct ones.
async fn first_invocation_split(world: &World, function: &'static str) -> (f64, f64, f64, usize) {
    let aws = FaultProxy::start(&world.moto.url).await.unwrap();
    let sso = FaultProxy::start(&world.emulator.url).await.unwrap();
    let overrides = [
        ("AWS_ENDPOINT_URL", aws.url.clone()),
        ("AWS_ENDPOINT_URL_SSO_ADMIN", sso.url.clone()),
    ];
    let (mut total, mut server, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..COLD_STARTS {
        let api = RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let mut child = spawn_with(world, &api, function, &overrides);
        init_ms(&api, started, function).await;
        let before = (aws.calls().len(), sso.calls().len());
        let invoked = Instant::now();
        let _ = answer(&api, first_event(world, function, COLD_STARTS + i)).await;
        total.push(ms(invoked.elapsed()));
        let mine: Vec<_> = aws.calls()[before.0..]
            .iter()
            .chain(&sso.calls()[before.1..])
            .cloned()
            .collect();
        server.push(ms(server_time(&mine)));
        calls.push(mine.len() as f64);
        let _ = child.kill();
        let _ = child.wait();
    }
    let (total, server) = (stats(total).0, stats(server).0);
    (total, server, total - server, stats(calls).0 as usize)
}

/// 200 real changes, each delivered as its event to a warm process; the time from handing
/// the event over to the answer (verified remediation, or published findings).
async fn end_to_end(world: &World, function: &'static str) -> (f64, f64) {
    let f = &world.fixture;
    let api = RuntimeApi::start().await.unwrap();
    let mut child = spawn(world, &api, function);
    let mut samples = Vec::new();
    for i in 0..EVENTS {
        let id = format!("e2e-{function}-{i}");
        let time = at(60 + i as i64);
        let event = match function {
            "key-policy-guard" => {
                f.edit_policy(PRIMARY, |doc| {
                    doc["Statement"].as_array_mut().unwrap().remove(3);
                })
                .await
                .unwrap();
                f.event("PutKeyPolicy", PRIMARY, "Admin", &time, &id)
            }
            "region-guard" => {
                // From the model each time: a repair keeps the pinned statement (it is not
                // the cause of the missing access) and adds the model's, so repeating the
                // drift on the repaired policy would grow it past KMS's 32 KB.
                let pinned = render_policy(&f.config)
                    .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com");
                f.put_policy("eu-west-1", &pinned).await.unwrap();
                sso_event(
                    "AddRegion",
                    "aws.sso",
                    "sso.amazonaws.com",
                    json!({"instanceArn": f.config.instance_arn, "regionName": "eu-west-1"}),
                    &id,
                    &time,
                )
            }
            _ => sso_event(
                "UpdateExternalIdPConfigurationForDirectory",
                "aws.sso-directory",
                "sso-directory.amazonaws.com",
                json!({}),
                &id,
                &time,
            ),
        };
        let started = Instant::now();
        let out = answer(&api, event).await;
        samples.push(ms(started.elapsed()));
        let ok = match function {
            "key-policy-guard" => out["regions"][0]["outcome"] == "remediated",
            "region-guard" => out["replicas"][0]["outcome"] == "remediated",
            _ => out["result"] == "handled",
        };
        assert!(ok, "{function} event {i}: {out}");
    }
    let _ = child.kill();
    let _ = child.wait();
    stats(samples)
}

#[tokio::main]
async fn main() {
    for function in FUNCTIONS.iter().chain(&[HELLO]) {
        if !bin_dir().join(function).exists() {
            eprintln!(
                "{} not found: build the release binaries first (make bench does)",
                bin_dir().join(function).display()
            );
            std::process::exit(2);
        }
    }
    let mut world = World::seed("remediate", Vec::new()).await.unwrap();
    // No circuit breaker in the way of 200 deliberate remediations per guard.
    world
        .config_text
        .push_str("max_actions_per_window = 100000\n");
    println!(
        "cold start, {COLD_STARTS} fresh processes each (binary {}):",
        bin_dir().display()
    );
    let hello = hello_init().await;
    println!(
        "{:<20} {:>8} {:>18} {:>10} {:>24} {:>10}",
        "function",
        "size MB",
        "init med/p99 ms",
        "init/hello",
        "first invoke med/p99 ms",
        "RSS MiB"
    );
    println!(
        "{HELLO:<20} {:>8} {:>8.1} / {:>7.1} {:>10.2} {:>24} {:>10}",
        "", hello.0, hello.1, 1.0, "", ""
    );
    for function in FUNCTIONS {
        let c = cold_starts(&world, function).await;
        println!(
            "{:<20} {:>8.1} {:>8.1} / {:>7.1} {:>10.2} {:>11.1} / {:>10.1} {:>10.1}",
            c.function,
            c.size_mb,
            c.init.0,
            c.init.1,
            c.init.0 / hello.0,
            c.first.0,
            c.first.1,
            c.rss_mib
        );
    }
    println!(
        "\nfirst invocation through timing proxies (medians of {COLD_STARTS}): servers' share vs the function's own"
    );
    println!(
        "{:<20} {:>6} {:>10} {:>11} {:>9}",
        "function", "calls", "total ms", "servers ms", "own ms"
    );
    for function in FUNCTIONS {
        let (total, server, own, calls) = first_invocation_split(&world, function).await;
        println!("{function:<20} {calls:>6} {total:>10.1} {server:>11.1} {own:>9.1}");
    }
    println!("\nend to end on a warm process, {EVENTS} events each (change -> verified result):");
    for function in ["key-policy-guard", "region-guard", "idp-guard"] {
        let (median, p99) = end_to_end(&world, function).await;
        println!("{function:<20} median {median:>7.1} ms   p99 {p99:>7.1} ms");
    }
}
