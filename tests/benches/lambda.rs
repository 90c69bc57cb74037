//! Cold-start and latency harness for the key-policy-guard release binary.
//!
//! Runs the real binary behind a local Lambda Runtime API against moto and reports:
//! cold start (process start to first answer) and peak RSS (VmHWM) over fresh processes, and
//! warm handler latency per event (median, p99) for a compliant re-check and for a drift that
//! is remediated and verified. Build the binary first: `make bench-lambda` does both.
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
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY, fixture_config_text};
use idc_guard_tests::local_aws::Moto;
use idc_guard_tests::runtime_api::{Answer, RuntimeApi, lambda_environment};

const COLD_STARTS: usize = 15;
const EVENTS: usize = 200;

fn binary() -> PathBuf {
    std::env::var("IDC_GUARD_LAMBDA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/key-policy-guard")
        })
}

fn spawn(f: &KeyFixture, moto: &Moto, api: &RuntimeApi, config: &str) -> Child {
    Command::new(binary())
        .env_clear()
        .envs(lambda_environment(&api.address, "key-policy-guard"))
        .env("IDC_GUARD_CONFIG", config)
        .env("IDC_GUARD_STATE_TABLE", &f.table)
        .env("IDC_GUARD_FINDINGS_BUS", &f.bus)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", PRIMARY)
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: cargo build --release -p key-policy-guard)",
                binary().display()
            )
        })
}

/// Peak resident set size of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "{name:<34} n={:<4} median {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    )
}

fn now_plus(seconds: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Timestamp(secs + seconds).to_string()
}

async fn answer_ok(api: &RuntimeApi, event: serde_json::Value) -> serde_json::Value {
    match api.invoke(event, Duration::from_secs(30)).await.unwrap() {
        Answer::Response(v) => v,
        Answer::Error(e) => panic!("the function failed: {e}"),
    }
}

#[tokio::main]
#[expect(
    clippy::too_many_lines,
    reason = "the benchmark's script: servers, cold starts, warm runs, the table; one sequence"
)]
async fn main() {
    if !binary().exists() {
        eprintln!(
            "{} not found: build it with `cargo build --release -p key-policy-guard` (or `make bench-lambda`)",
            binary().display()
        );
        std::process::exit(2);
    }
    let size = std::fs::metadata(binary()).map(|m| m.len()).unwrap_or(0);
    let moto = Moto::start().unwrap();
    let f = KeyFixture::new(&moto, &[PRIMARY, "eu-west-1"], "remediate")
        .await
        .unwrap();
    // No circuit breaker in the way of 200 deliberate remediations.
    let config = format!(
        "{}max_actions_per_window = 100000\n",
        fixture_config_text(
            &f.config.key_arn.to_string(),
            &[PRIMARY, "eu-west-1"],
            "remediate"
        )
    );

    let mut cold = Vec::new();
    let mut rss = Vec::new();
    for i in 0..COLD_STARTS {
        let api = RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let mut child = spawn(&f, &moto, &api, &config);
        let event = f.event(
            "PutKeyPolicy",
            PRIMARY,
            "Admin",
            &now_plus(0),
            &format!("cold-{i}"),
        );
        let out = answer_ok(&api, event).await;
        cold.push(started.elapsed());
        assert_eq!(out["regions"][0]["outcome"], "compliant", "{out}");
        rss.push(peak_rss_kib(child.id()));
        let _ = child.kill();
        let _ = child.wait();
    }

    let api = RuntimeApi::start().await.unwrap();
    let mut child = spawn(&f, &moto, &api, &config);
    answer_ok(
        &api,
        f.event("PutKeyPolicy", PRIMARY, "Admin", &now_plus(0), "warm-up"),
    )
    .await;
    let mut compliant = Vec::new();
    for i in 0..EVENTS {
        let event = f.event(
            "PutKeyPolicy",
            PRIMARY,
            "Admin",
            &now_plus(0),
            &format!("ok-{i}"),
        );
        let started = Instant::now();
        let out = answer_ok(&api, event).await;
        compliant.push(started.elapsed());
        assert_eq!(out["regions"][0]["outcome"], "compliant", "{out}");
    }
    let mut remediated = Vec::new();
    for i in 0..EVENTS {
        f.edit_policy("eu-west-1", |doc| {
            doc["Statement"].as_array_mut().unwrap().remove(3);
        })
        .await
        .unwrap();
        let event = f.event(
            "PutKeyPolicy",
            "eu-west-1",
            "Admin",
            &now_plus(1),
            &format!("fix-{i}"),
        );
        let started = Instant::now();
        let out = answer_ok(&api, event).await;
        remediated.push(started.elapsed());
        assert_eq!(out["regions"][0]["outcome"], "remediated", "{out}");
    }
    let warm_rss = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();

    rss.sort_unstable();
    println!(
        "key-policy-guard release binary: {} ({size} bytes, {:.1} MiB)",
        binary().display(),
        size as f64 / 1048576.0
    );
    println!("{}", summary("cold start (spawn -> first answer)", cold));
    println!(
        "peak RSS after one invocation: median {} KiB, max {} KiB; after {} warm events: {warm_rss} KiB",
        rss[rss.len() / 2],
        rss[rss.len() - 1],
        2 * EVENTS + 1
    );
    println!("{}", summary("warm: compliant re-check", compliant));
    println!(
        "{}",
        summary("warm: drift remediated + verified", remediated)
    );
    println!(
        "(local moto over loopback; each event re-reads the key: DescribeKey, GetKeyPolicy, ListGrants)"
    );
}
