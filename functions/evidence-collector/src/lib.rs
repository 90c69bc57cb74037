//! evidence-collector: writes every finding published on the idc-guard bus to the evidence
//! bucket as an OCSF 1.6 Compliance Finding (`shared/src/evidence`), once per finding and
//! change, with its SHA-256 stored on the object.
//!
//! Redeliveries are harmless: the write is conditional and an object already under the key
//! counts as done. Malformed and foreign events are logged and acknowledged; only errors a
//! retry can fix (throttling, 5xx, a concurrent write) go back to Lambda.

use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::evidence::chain::{mark_record, write_digests};
use idc_guard_core::evidence::{
    EvidenceContext, evidence_key, ocsf_record, record_body, sha256_hex,
};
use idc_guard_core::ports::{DigestSigner, EvidenceStore, EvidenceWrite, PortError};
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// Environment variable: the evidence bucket (required).
pub const ENV_BUCKET: &str = "IDC_GUARD_EVIDENCE_BUCKET";
/// Environment variable: `metadata.product.vendor_name` of the records (default `idc-guard`).
pub const ENV_VENDOR: &str = "IDC_GUARD_EVIDENCE_VENDOR";
/// Environment variable: the ARN of the KMS key that signs the digest chain (optional: without
/// it, digest ticks are refused and logged).
pub const ENV_DIGEST_KEY: &str = "IDC_GUARD_DIGEST_KEY";
/// The `source` and `detail-type` of the hourly digest tick (EventBridge Scheduler's input).
pub const TICK_SOURCE: &str = "idc-guard.scheduler";
/// See [`TICK_SOURCE`].
pub const TICK_DETAIL_TYPE: &str = "Evidence Digest";

pub use idc_guard_core::finding::{FINDING_DETAIL_TYPE, FINDING_SOURCE};

/// What the function needs from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The evidence bucket.
    pub bucket: String,
    /// The vendor named in the records.
    pub vendor_name: String,
    /// The digest chain's signing key, when configured.
    pub digest_key: Option<String>,
}

pub use idc_guard_core::finding::SettingsError;

impl Settings {
    /// Reads the settings through `get` (the environment in `main`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let bucket = get(ENV_BUCKET)
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SettingsError {
                variable: ENV_BUCKET,
                message: "missing: set it to the evidence bucket's name".to_owned(),
            })?;
        if bucket.starts_with("s3://") || bucket.contains('/') {
            return Err(SettingsError {
                variable: ENV_BUCKET,
                message: format!("\"{bucket}\" is not a bucket name (no s3:// and no path)"),
            });
        }
        Ok(Settings {
            bucket,
            vendor_name: get(ENV_VENDOR)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "idc-guard".to_owned()),
            digest_key: get(ENV_DIGEST_KEY)
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty()),
        })
    }
}

pub use idc_guard_core::finding::event::{FindingEvent, Unusable};

/// An invocation that should be retried (the error goes back to Lambda).
#[derive(Debug, thiserror::Error)]
#[error("event {event_id}: {error}")]
pub struct RetryableError {
    /// The EventBridge event id.
    pub event_id: String,
    /// The store's error.
    pub error: PortError,
}

impl From<RetryableError> for Diagnostic {
    fn from(e: RetryableError) -> Diagnostic {
        Diagnostic {
            error_type: "TransientAwsError".to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one event: writes its finding's record once. Returns what happened as JSON; an
/// `Err` only when a retry can help.
pub async fn handle<S: EvidenceStore>(
    store: &S,
    settings: &Settings,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError> {
    let parsed = match FindingEvent::parse(event, now) {
        Ok(p) => p,
        Err(Unusable::Skip(reason)) => {
            tracing::info!(%reason, "event skipped");
            return Ok(json!({"result": "skipped", "reason": reason}));
        }
        Err(Unusable::Malformed(error)) => {
            tracing::error!(%error, "malformed event acknowledged without a record");
            return Ok(json!({"result": "rejected", "error": error}));
        }
    };
    let ctx = EvidenceContext {
        event_id: parsed.id.clone(),
        event_time: parsed.time,
        account: parsed.account.clone(),
        vendor_name: settings.vendor_name.clone(),
        product_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let finding = &parsed.finding;
    let key = evidence_key(finding, &parsed.id, parsed.time);
    let body = record_body(&ocsf_record(finding, &ctx));
    let sha256 = sha256_hex(&body);
    match store.put_if_absent(&key, &body, &sha256).await {
        Ok(written) => {
            let result = match written {
                EvidenceWrite::Written => "written",
                EvidenceWrite::AlreadyThere => "already_there",
            };
            // The hour's digest lists the record by this marker; a redelivery marks it again
            // (harmless: a record in two digests is listed with the same SHA-256).
            if let Err(error) = mark_record(store, &key, now).await {
                tracing::warn!(event_id = %parsed.id, %key, %error, "record written, its digest marker not; retried");
                return Err(RetryableError {
                    event_id: parsed.id,
                    error,
                });
            }
            tracing::info!(event_id = %parsed.id, check = %finding.check, fingerprint = %finding.fingerprint, %key, result, "evidence record");
            Ok(json!({"result": result, "bucket": settings.bucket, "key": key, "sha256": sha256}))
        }
        Err(error) if error.retryable() => {
            tracing::warn!(event_id = %parsed.id, %key, %error, "transient failure; the invocation will be retried");
            Err(RetryableError {
                event_id: parsed.id,
                error,
            })
        }
        Err(error) => {
            // Access denied, no such bucket: a retry cannot fix it. The record goes to the log
            // so the evidence is not lost with the acknowledged event.
            let record = String::from_utf8_lossy(&body).into_owned();
            tracing::error!(event_id = %parsed.id, %key, %error, %record, "evidence not stored; acknowledged");
            Ok(json!({"result": "failed", "key": key, "error": error.to_string()}))
        }
    }
}

/// Whether `event` is the hourly digest tick.
pub fn is_tick(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some(TICK_SOURCE)
        && event.get("detail-type").and_then(Value::as_str) == Some(TICK_DETAIL_TYPE)
}

/// The hourly tick: digests every closed hour since the last digest. Without a signing key
/// nothing is written (and the log says why); any failure goes back to Lambda.
pub async fn handle_tick<S: EvidenceStore, G: DigestSigner>(
    store: &S,
    signer: Option<&G>,
    event: &Value,
    now: Timestamp,
) -> Result<Value, RetryableError> {
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("tick")
        .to_owned();
    let Some(signer) = signer else {
        tracing::error!(%id, "digest tick without {ENV_DIGEST_KEY}: no digest written");
        return Ok(json!({"result": "no-signing-key", "variable": ENV_DIGEST_KEY}));
    };
    match write_digests(store, signer, now).await {
        Ok(outcome) => {
            tracing::info!(%id, written = ?outcome.written, already_there = ?outcome.already_there, orphans = ?outcome.orphan_markers, "digests");
            Ok(json!({"result": "digested", "written": outcome.written,
                      "already_there": outcome.already_there, "orphan_markers": outcome.orphan_markers}))
        }
        // Every failure goes back to Lambda, retryable or not (a key the role may not use):
        // its retries, then the dead-letter queue and its alarm. The next tick catches up.
        Err(error) => {
            tracing::error!(%id, %error, "digests not written");
            Err(RetryableError {
                event_id: id,
                error,
            })
        }
    }
}

/// Now, from the system clock.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use idc_guard_core::evidence::Verdict;
    use idc_guard_core::evidence::memory::MemoryEvidence;
    use idc_guard_core::evidence::verify;
    use idc_guard_core::ports::PortErrorKind;

    const NOW: Timestamp = Timestamp(1_800_000_000);

    fn settings() -> Settings {
        Settings {
            bucket: "evidence-bucket".into(),
            vendor_name: "Example".into(),
            digest_key: None,
        }
    }

    fn event(id: &str) -> Value {
        json!({
            "version": "0",
            "id": id,
            "detail-type": FINDING_DETAIL_TYPE,
            "source": FINDING_SOURCE,
            "account": "111122223333",
            "time": "2026-11-28T00:00:05Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "check": "KP-ADMIN", "status": "fail", "severity": "critical",
                "region": "us-east-1",
                "resource": "arn:aws:kms:us-east-1:111122223333:key/mrk-1",
                "message": "the management account cannot administer the key",
                "fingerprint": "0123456789abcdef0123456789abcdef",
                "trigger": {"event_id": "ct-1", "event_name": "PutKeyPolicy",
                            "actor": "arn:aws:iam::111122223333:role/Admin",
                            "time": "2026-11-27T23:59:59Z"},
                "remediation": {"mode": "remediate", "actions": ["restore statement 1"],
                                "outcome": "applied", "previous_policy": "{\"Statement\":[]}"}
            }
        })
    }

    #[tokio::test]
    async fn writes_one_record_with_its_checksum() {
        let store = MemoryEvidence::default();
        let out = handle(&store, &settings(), &event("eb-1"), NOW)
            .await
            .unwrap();
        assert_eq!(out["result"], "written");
        let key = "evidence/2026/11/27/0123456789abcdef0123456789abcdef-ct-1.json";
        assert_eq!(out["key"], key);
        let objects = store.objects();
        let stored = objects.get(key).unwrap();
        assert_eq!(verify(stored), Verdict::Intact);
        let record: Value = serde_json::from_slice(&stored.body).unwrap();
        assert_eq!(record["class_uid"], 2003);
        assert_eq!(record["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(record["metadata"]["product"]["vendor_name"], "Example");
        assert_eq!(
            record["unmapped"]["remediation"]["previous_policy"],
            "{\"Statement\":[]}"
        );
    }

    #[tokio::test]
    async fn redelivery_writes_once() {
        let store = MemoryEvidence::default();
        handle(&store, &settings(), &event("eb-1"), NOW)
            .await
            .unwrap();
        let first = store.objects();
        // The same event again, and the same finding republished under another event id
        // (the guard's outbox): the change is the same, so is the key.
        for id in ["eb-1", "eb-2"] {
            let out = handle(&store, &settings(), &event(id), NOW).await.unwrap();
            assert_eq!(out["result"], "already_there");
        }
        assert_eq!(store.objects(), first);
        // Each delivery: the record, then its digest marker (both write-once).
        assert_eq!(store.put_attempts(), 6);
        assert_eq!(
            first.keys().filter(|k| k.starts_with("index/")).count(),
            1,
            "{first:?}"
        );
    }

    #[tokio::test]
    async fn findings_without_trigger_use_the_event_id_and_time() {
        let store = MemoryEvidence::default();
        let mut e = event("eb-9");
        e["detail"].as_object_mut().unwrap().remove("trigger");
        let out = handle(&store, &settings(), &e, NOW).await.unwrap();
        assert_eq!(
            out["key"],
            "evidence/2026/11/28/0123456789abcdef0123456789abcdef-eb-9.json"
        );
    }

    #[tokio::test]
    async fn transient_errors_are_retried_others_acknowledged() {
        let store = MemoryEvidence::default();
        store.fail_next(PortErrorKind::Transient);
        let err = handle(&store, &settings(), &event("eb-1"), NOW)
            .await
            .unwrap_err();
        assert_eq!(err.event_id, "eb-1");
        assert_eq!(Diagnostic::from(err).error_type, "TransientAwsError");
        // The retry writes it.
        let out = handle(&store, &settings(), &event("eb-1"), NOW)
            .await
            .unwrap();
        assert_eq!(out["result"], "written");

        let store = MemoryEvidence::default();
        store.fail_next(PortErrorKind::AccessDenied);
        let out = handle(&store, &settings(), &event("eb-1"), NOW)
            .await
            .unwrap();
        assert_eq!(out["result"], "failed");
        assert!(store.objects().is_empty());
    }

    #[tokio::test]
    async fn foreign_and_malformed_events_are_acknowledged() {
        let store = MemoryEvidence::default();
        let mut foreign = event("eb-1");
        foreign["source"] = json!("aws.kms");
        let out = handle(&store, &settings(), &foreign, NOW).await.unwrap();
        assert_eq!(out["result"], "skipped");

        let mut bad = event("eb-1");
        bad["detail"]["status"] = json!("maybe");
        let out = handle(&store, &settings(), &bad, NOW).await.unwrap();
        assert_eq!(out["result"], "rejected");
        assert!(out["error"].as_str().unwrap().contains("eb-1"));

        let mut no_id = event("eb-1");
        no_id.as_object_mut().unwrap().remove("id");
        let out = handle(&store, &settings(), &no_id, NOW).await.unwrap();
        assert_eq!(out["result"], "rejected");
        assert_eq!(store.put_attempts(), 0);
    }

    #[test]
    fn settings_name_the_variable() {
        let err = Settings::from_env(|_| None).unwrap_err();
        assert_eq!(err.variable, ENV_BUCKET);
        assert!(
            err.to_string()
                .starts_with("IDC_GUARD_EVIDENCE_BUCKET: missing")
        );
        let err =
            Settings::from_env(|n| (n == ENV_BUCKET).then(|| "s3://b/x".to_owned())).unwrap_err();
        assert_eq!(err.variable, ENV_BUCKET);
        let ok = Settings::from_env(|n| (n == ENV_BUCKET).then(|| "bucket-1".to_owned())).unwrap();
        assert_eq!(ok.bucket, "bucket-1");
        assert_eq!(ok.vendor_name, "idc-guard");
    }
}
