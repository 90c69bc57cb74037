//! key-policy-guard under injected faults: the real SDK (with the production retry rule and a
//! short attempt timeout) reaches moto through a fault-injecting proxy. Throttling, 5xx,
//! hangs, connection resets (before and after a write lands) and AccessDenied on chosen calls.
//!
//! What must hold whatever fails: no finding is lost (it is published, or the invocation
//! fails so Lambda retries it and keeps it on its failure destination), no policy other than
//! the drifted one or a verified-compliant one is ever live, no remediation is applied twice,
//! and nothing panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::time::Duration;

use idc_guard_core::checks::key_policy::check_parsed;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::finding::Finding;
use idc_guard_policy::document::parse_key_policy;
use idc_guard_tests::fault_proxy::{Fault, FaultProxy, Rule};
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY};
use idc_guard_tests::local_aws::{Moto, resilient_sdk_config};
use key_policy_guard::AwsKeyGuard;
use key_policy_guard::handle;
use lambda_runtime::Diagnostic;
use serde_json::Value;

const T0: &str = "2026-11-27T10:00:00Z";
/// The attempt timeout the guard runs with here; a hang lasts longer.
const ATTEMPT: Duration = Duration::from_millis(400);
const HANG: Duration = Duration::from_millis(1500);

fn now(offset: i64) -> Timestamp {
    Timestamp::parse(T0).unwrap().plus(offset)
}

/// A key whose primary policy lost the organization statement, the event about it, and a
/// guard in remediate mode that reaches AWS through a fault proxy.
struct Drift {
    _moto: Moto,
    fixture: KeyFixture,
    proxy: FaultProxy,
    guard: AwsKeyGuard,
    drifted: String,
    event: Value,
}

async fn drift() -> Drift {
    let moto = Moto::start().unwrap();
    let fixture = KeyFixture::new(&moto, &[PRIMARY, "eu-west-1"], "remediate")
        .await
        .unwrap();
    fixture
        .edit_policy(PRIMARY, |doc| {
            doc["Statement"].as_array_mut().unwrap().remove(3);
        })
        .await
        .unwrap();
    let drifted = fixture.policy(PRIMARY).await.unwrap();
    let proxy = FaultProxy::start(&moto.url).await.unwrap();
    let sdk = resilient_sdk_config(PRIMARY, ATTEMPT).await;
    let guard = fixture.guard_via(&proxy.url, &sdk);
    let event = fixture.event("PutKeyPolicy", PRIMARY, "Admin", T0, "ev-1");
    Drift {
        _moto: moto,
        fixture,
        proxy,
        guard,
        drifted,
        event,
    }
}

impl Drift {
    /// One delivery; a failure as Lambda records it (the invocation's error message).
    async fn deliver(&self, at: i64) -> Result<Value, String> {
        handle(&self.guard, &self.event, now(at))
            .await
            .map_err(|e| Diagnostic::from(e).error_message)
    }

    async fn compliant(&self) -> bool {
        let policy = self.fixture.policy(PRIMARY).await.unwrap();
        check_parsed(
            &self.fixture.config,
            &parse_key_policy(&policy),
            &[PRIMARY.to_owned()],
        )
        .compliant()
    }

    /// The live policy is the drifted one or a compliant one, never anything in between.
    async fn no_partial_policy(&self) {
        let live = self.fixture.policy(PRIMARY).await.unwrap();
        assert!(
            live == self.drifted || self.compliant().await,
            "a policy neither drifted nor compliant is live: {live}"
        );
    }

    /// The distinct policies the guard wrote (an SDK retry of one write sends it again).
    fn writes(&self) -> BTreeSet<String> {
        self.proxy
            .forwarded("kms:PutKeyPolicy")
            .into_iter()
            .map(|c| c.body)
            .collect()
    }

    /// What was published about the drift; a remediation's resolution is checked apart
    /// (each must name a failure published with it).
    async fn published(&self) -> Vec<Finding> {
        let all = self.fixture.published().await.unwrap();
        let (resolved, findings): (Vec<Finding>, Vec<Finding>) =
            all.into_iter().partition(|f| f.resolves.is_some());
        // A verified remediation resolves what it fixed: one resolution per failing check.
        for r in &resolved {
            assert!(
                findings
                    .iter()
                    .any(|f| Some(&f.fingerprint) == r.resolves.as_ref()),
                "a resolution of nothing published: {r:#?}"
            );
        }
        findings
    }
}

fn outcome(out: &Value) -> String {
    out["regions"][0]["outcome"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn record(f: &Finding) -> &str {
    f.remediation.as_ref().map_or("", |r| r.outcome.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_5xx_and_resets_within_the_sdk_retries_still_remediate_once() {
    let d = drift().await;
    d.proxy
        .inject(Rule::first("kms:GetKeyPolicy", 2, Fault::Throttle));
    d.proxy
        .inject(Rule::first("kms:DescribeKey", 1, Fault::Reset));
    d.proxy
        .inject(Rule::first("kms:PutKeyPolicy", 1, Fault::ServerError));
    d.proxy
        .inject(Rule::first("dynamodb:PutItem", 1, Fault::Unavailable));
    d.proxy
        .inject(Rule::first("events:PutEvents", 1, Fault::ServerError));

    let out = d.deliver(5).await.unwrap();

    assert_eq!(outcome(&out), "remediated", "{out}");
    assert!(d.compliant().await);
    assert_eq!(d.proxy.faulted(), 6, "{:#?}", d.proxy.calls());
    assert_eq!(d.writes().len(), 1);
    assert_eq!(d.proxy.forwarded("kms:PutKeyPolicy").len(), 1);
    let published = d.published().await;
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(record(&published[0]), "applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_is_lost_is_reported_then_rechecked_not_repeated() {
    let d = drift().await;
    // Every attempt reaches KMS and lands; every answer is lost.
    d.proxy
        .inject(Rule::always("kms:PutKeyPolicy", Fault::ResetAfterForward));

    let first = d.deliver(5).await;

    let error = first.unwrap_err();
    assert!(error.contains("kms:PutKeyPolicy"), "{error}");
    // The SDK sent the one planned policy on each attempt; it is complete and compliant.
    assert_eq!(d.proxy.forwarded("kms:PutKeyPolicy").len(), 3);
    assert_eq!(d.writes().len(), 1);
    assert!(d.compliant().await);
    // The finding went out before the retry, which finds nothing left to report.
    let published = d.published().await;
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(record(&published[0]), "failed");
    assert!(
        published[0].message.contains("Remediation interrupted"),
        "{}",
        published[0].message
    );

    d.proxy.heal();
    let retry = d.deliver(65).await.unwrap();
    assert_eq!(outcome(&retry), "compliant", "{retry}");
    assert_eq!(d.proxy.forwarded("kms:PutKeyPolicy").len(), 3);
    assert!(d.published().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_on_the_write_is_reported_once_and_not_retried() {
    let d = drift().await;
    d.proxy
        .inject(Rule::always("kms:PutKeyPolicy", Fault::AccessDenied));

    let out = d.deliver(5).await.unwrap();

    assert_eq!(outcome(&out), "remediation-failed", "{out}");
    let attempts = d.proxy.calls_of("kms:PutKeyPolicy").len();
    assert_eq!(attempts, 1, "the SDK must not retry AccessDenied");
    assert_eq!(d.fixture.policy(PRIMARY).await.unwrap(), d.drifted);
    let published = d.published().await;
    assert_eq!(published.len(), 1);
    assert_eq!(record(&published[0]), "failed");
    assert!(
        published[0].message.contains("AccessDeniedException"),
        "{}",
        published[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_read_times_out_changes_nothing_and_the_retry_remediates() {
    let d = drift().await;
    d.proxy
        .inject(Rule::always("kms:GetKeyPolicy", Fault::Hang(HANG)));

    let error = d.deliver(5).await.unwrap_err();

    assert!(error.contains("kms:GetKeyPolicy"), "{error}");
    assert!(d.proxy.forwarded("kms:PutKeyPolicy").is_empty());
    assert_eq!(d.fixture.policy(PRIMARY).await.unwrap(), d.drifted);
    assert!(d.published().await.is_empty());

    d.proxy.heal();
    let out = d.deliver(65).await.unwrap();
    assert_eq!(outcome(&out), "remediated", "{out}");
    assert_eq!(d.writes().len(), 1);
    let published = d.published().await;
    assert_eq!(published.len(), 1);
    assert_eq!(record(&published[0]), "applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_that_cannot_be_published_wait_in_the_outbox_and_the_key_is_not_rewritten() {
    let d = drift().await;
    d.proxy
        .inject(Rule::always("events:PutEvents", Fault::ServerError));

    let error = d.deliver(5).await.unwrap_err();

    // The error carries the findings (logged, and kept on the failure destination).
    assert!(error.contains("KP-ORG-VIA-SERVICE"), "{error}");
    assert!(d.compliant().await);
    assert_eq!(d.writes().len(), 1);

    d.proxy.heal();
    let out = d.deliver(65).await.unwrap();
    assert_eq!(
        out["republished"].as_array().map(Vec::len),
        Some(1),
        "{out}"
    );
    assert_eq!(outcome(&out), "compliant", "{out}");
    assert_eq!(d.proxy.forwarded("kms:PutKeyPolicy").len(), 1);
    let published = d.published().await;
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(record(&published[0]), "applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_store_that_denies_access_means_report_only() {
    let d = drift().await;
    d.proxy
        .inject(Rule::always("dynamodb:PutItem", Fault::AccessDenied));
    d.proxy
        .inject(Rule::always("dynamodb:UpdateItem", Fault::AccessDenied));

    let out = d.deliver(5).await.unwrap();

    assert_eq!(outcome(&out), "reported", "{out}");
    assert!(d.proxy.forwarded("kms:PutKeyPolicy").is_empty());
    assert_eq!(d.fixture.policy(PRIMARY).await.unwrap(), d.drifted);
    let published = d.published().await;
    assert_eq!(published.len(), 1);
    assert!(
        published[0].message.contains("idempotency store failed"),
        "{}",
        published[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_be_verified_is_not_reported_as_verified() {
    let d = drift().await;
    // The inspection's read and the re-read before the write pass; the verification fails.
    d.proxy
        .inject(Rule::always("kms:GetKeyPolicy", Fault::AccessDenied).after(2));

    let out = d.deliver(5).await.unwrap();

    assert_eq!(outcome(&out), "remediation-failed", "{out}");
    assert!(d.compliant().await);
    let published = d.published().await;
    assert_eq!(published.len(), 1);
    assert!(
        published[0]
            .message
            .contains("could not be re-read to verify"),
        "{}",
        published[0].message
    );
    assert!(
        !published[0].message.contains("Remediated and verified"),
        "{}",
        published[0].message
    );
}

/// A small deterministic generator for the fault schedules (xorshift).
struct Schedule(u64);

impl Schedule {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        items[(self.0 % items.len() as u64) as usize]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_fault_schedules_never_lose_a_finding_nor_write_twice() {
    const OPERATIONS: [&str; 9] = [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:ListGrants",
        "kms:PutKeyPolicy",
        "events:PutEvents",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
    ];
    const FAULTS: [Fault; 7] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::AccessDenied,
        Fault::Hang(HANG),
        Fault::Reset,
        Fault::ResetAfterForward,
    ];
    let (mut faulted, mut failed_deliveries, mut interrupted_writes) = (0, 0, 0);
    for case in 1..=16u64 {
        let d = drift().await;
        let mut schedule = Schedule(case.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rules = Vec::new();
        for _ in 0..schedule.pick(&[1, 2, 3]) {
            let rule = Rule::first(
                schedule.pick(&OPERATIONS),
                schedule.pick(&[1, 3, 9, usize::MAX]),
                schedule.pick(&FAULTS),
            )
            .after(schedule.pick(&[0, 0, 1, 2]));
            rules.push(rule.clone());
            d.proxy.inject(rule);
        }
        // Lambda: the delivery and two retries, a minute apart; then the failure
        // destination is redriven an hour later with the faults gone.
        let mut kept = Vec::new();
        let mut published = Vec::new();
        let mut last = Err(String::new());
        for (attempt, at) in [5, 65, 125, 3600, 3660].into_iter().enumerate() {
            if attempt == 3 {
                d.proxy.heal();
            }
            last = d.deliver(at).await;
            d.no_partial_policy().await;
            published.extend(d.published().await);
            match &last {
                Ok(_) => break,
                Err(e) => kept.push(e.clone()),
            }
        }
        let context = format!("case {case}: {rules:?}; errors {kept:?}");
        faulted += d.proxy.faulted();
        failed_deliveries += kept.len();
        interrupted_writes += d
            .proxy
            .calls_of("kms:PutKeyPolicy")
            .iter()
            .filter(|c| c.fault.is_some())
            .count();
        assert!(last.is_ok(), "{context}: still failing after the redrive");
        assert!(d.writes().len() <= 1, "{context}: {:?}", d.writes());
        // Not lost: a finding about the key (the drift, or why the key could not be read)
        // was published, or a failed invocation's error carries it.
        let reported = !published.is_empty() || kept.iter().any(|e| e.contains("\"check\""));
        assert!(reported, "{context}: nothing was ever reported");
        // Whatever happened on the way, the key ends compliant or reported as not fixed.
        let fixed = d.compliant().await;
        assert!(
            fixed || published.iter().any(|f| record(f) != "applied"),
            "{context}: drifted but reported as fixed"
        );
    }
    // The schedules did bite: calls were faulted, deliveries failed, writes were hit.
    assert!(
        faulted > 0 && failed_deliveries > 0 && interrupted_writes > 0,
        "faulted {faulted}, failed deliveries {failed_deliveries}, faulted writes {interrupted_writes}"
    );
}
