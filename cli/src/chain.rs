//! `idc-guard evidence verify --chain`: walks the digest chain of a period and checks, offline
//! with the signing key's public key, every digest's signature, the chain's links, every
//! listed record's bytes and version, the records no digest lists, and Object Lock retention.
//! Each problem is named: ALTERED, MISSING, UNLISTED, BROKEN-CHAIN, BAD-SIGNATURE, RETENTION.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use base64::Engine as _;
use idc_guard_core::aws::s3::S3EvidenceStore;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::evidence::digest::{
    DIGEST_PREFIX, Digest, WINDOW_SECONDS, index_prefix, read_digest, record_of_index,
    signing_string, window_of, window_of_key,
};
use idc_guard_core::evidence::report::day_prefixes;
use idc_guard_core::evidence::sha256_hex;
use idc_guard_core::ports::{EvidenceStore, ObjectFacts, PortError, PortErrorKind};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Serialize;

/// How long after an hour ends its digest is due.
const DIGEST_DUE_SECONDS: i64 = 20 * 60;

/// What can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Kind {
    /// A record's bytes, version or stored checksum differ from what its digest holds.
    Altered,
    /// A record a digest lists cannot be read: deleted, or hidden by a delete marker.
    Missing,
    /// A record no digest lists, written before the last digest's hour ended.
    Unlisted,
    /// A digest missing from the chain, unreadable, or not naming the one before it.
    BrokenChain,
    /// A digest whose signature is absent or does not verify with the public key.
    BadSignature,
    /// An object not under COMPLIANCE retention as long as required.
    Retention,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Altered => "ALTERED",
            Kind::Missing => "MISSING",
            Kind::Unlisted => "UNLISTED",
            Kind::BrokenChain => "BROKEN-CHAIN",
            Kind::BadSignature => "BAD-SIGNATURE",
            Kind::Retention => "RETENTION",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: Kind,
    /// The object.
    pub object: String,
    /// What exactly.
    pub detail: String,
}

/// What a walk found.
#[derive(Debug, Default, Serialize)]
pub struct ChainReport {
    /// The first and last digest walked.
    pub first: Option<String>,
    /// See `first`.
    pub last: Option<String>,
    /// Digests walked.
    pub digests: usize,
    /// Records the digests list.
    pub records: usize,
    /// Records written after the last digest's hour: not digested yet.
    pub pending: usize,
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

/// What to check against.
pub struct Expect {
    /// The signing key's public key.
    pub key: VerifyingKey,
    /// The retention every object must have, in days (0: not checked).
    pub retention_days: i64,
    /// The period: from the start of `from` to the end of `to`.
    pub from: Timestamp,
    /// See `from`.
    pub to: Timestamp,
    /// Now (digests of hours not yet closed are not expected).
    pub now: Timestamp,
}

/// Reads a public key: DER or PEM SubjectPublicKeyInfo (what `GetPublicKey` returns).
pub fn public_key(bytes: &[u8]) -> Result<VerifyingKey, String> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("-----BEGIN PUBLIC KEY-----")
    {
        return VerifyingKey::from_public_key_pem(text).map_err(|e| e.to_string());
    }
    VerifyingKey::from_public_key_der(bytes)
        .map_err(|e| format!("not a P-256 public key (DER or PEM): {e}"))
}

struct Walk<'a> {
    store: &'a S3EvidenceStore,
    expect: &'a Expect,
    report: ChainReport,
    covered: BTreeSet<String>,
}

impl Walk<'_> {
    fn problem(&mut self, kind: Kind, object: &str, detail: String) {
        self.report.problems.push(Problem {
            kind,
            object: object.to_owned(),
            detail,
        });
    }

    fn retention(&mut self, object: &str, facts: &ObjectFacts) {
        if self.expect.retention_days <= 0 {
            return;
        }
        // Retention runs from the write; an hour's slack for how S3 rounds the date.
        let needed = facts
            .last_modified
            .map(|t| t.plus(self.expect.retention_days * 86_400 - 3600));
        let ok = facts.lock_mode.as_deref() == Some("COMPLIANCE")
            && matches!((facts.retain_until, needed), (Some(u), Some(n)) if u >= n);
        if !ok {
            self.problem(
                Kind::Retention,
                object,
                format!(
                    "Object Lock {} until {}; required: COMPLIANCE for {} days from {}",
                    facts.lock_mode.as_deref().unwrap_or("none"),
                    facts
                        .retain_until
                        .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    self.expect.retention_days,
                    facts
                        .last_modified
                        .map_or_else(|| "?".to_owned(), |t| t.to_string())
                ),
            );
        }
    }

    fn signature(&mut self, key: &str, body: &[u8], facts: &ObjectFacts) {
        let Some(sig) = facts.signature.as_deref() else {
            return self.problem(
                Kind::BadSignature,
                key,
                "no signature stored on the digest".into(),
            );
        };
        let verified = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
            .is_some_and(|s| {
                self.expect
                    .key
                    .verify(signing_string(key, &sha256_hex(body)).as_bytes(), &s)
                    .is_ok()
            });
        if !verified {
            self.problem(
                Kind::BadSignature,
                key,
                "the signature does not verify with the public key (another key, or the digest changed)".into(),
            );
        }
    }

    async fn record(
        &mut self,
        entry: &idc_guard_core::evidence::digest::DigestEntry,
    ) -> Result<(), PortError> {
        self.covered.insert(entry.key.clone());
        let stored = match self.store.get(&entry.key).await {
            Ok(s) => s,
            Err(e) if e.kind == PortErrorKind::NotFound => {
                let versions = self.store.versions(&entry.key).await?;
                let detail = if versions.iter().any(|v| !v.delete_marker) {
                    "hidden by a delete marker (its versions are still stored)".to_owned()
                } else {
                    "deleted: no version of it is stored".to_owned()
                };
                self.problem(Kind::Missing, &entry.key, detail);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let actual = sha256_hex(&stored.body);
        if actual != entry.sha256 {
            self.problem(
                Kind::Altered,
                &entry.key,
                format!("its SHA-256 is {actual}; the digest holds {}", entry.sha256),
            );
        } else if entry.version_id.is_some() && stored.facts.version_id != entry.version_id {
            self.problem(
                Kind::Altered,
                &entry.key,
                format!(
                    "version {} replaces the digested version {}",
                    stored.facts.version_id.as_deref().unwrap_or("?"),
                    entry.version_id.as_deref().unwrap_or("?")
                ),
            );
        } else if stored
            .metadata_sha256
            .as_deref()
            .map(str::to_ascii_lowercase)
            != Some(actual)
        {
            self.problem(
                Kind::Altered,
                &entry.key,
                "its sha256 metadata is missing or differs from its body".into(),
            );
        }
        self.retention(&entry.key, &stored.facts);
        Ok(())
    }

    /// A digest: its signature, its link to the one before, its records.
    async fn digest(
        &mut self,
        key: &str,
        previous: Option<&(String, String, Timestamp)>,
    ) -> Result<Option<(String, String, Timestamp)>, PortError> {
        let stored = self.store.get(key).await?;
        self.signature(key, &stored.body, &stored.facts);
        self.retention(key, &stored.facts);
        let digest: Digest = match read_digest(key, &stored.body) {
            Ok(d) => d,
            Err(e) => {
                self.problem(Kind::BrokenChain, key, format!("unreadable: {e}"));
                return Ok(None);
            }
        };
        let window = window_of_key(key).unwrap_or(Timestamp(0));
        let link = digest
            .previous
            .as_ref()
            .map(|l| (l.key.as_str(), l.sha256.as_str()));
        match previous {
            Some((pkey, psha, pend)) => {
                if *pend != window {
                    self.problem(
                        Kind::BrokenChain,
                        key,
                        format!("no digest for the hours from {pend} to {window}"),
                    );
                }
                if link != Some((pkey.as_str(), psha.as_str())) {
                    self.problem(
                        Kind::BrokenChain,
                        key,
                        format!("does not name {pkey} (SHA-256 {psha}) as the digest before it"),
                    );
                }
            }
            None => {
                if let Some((lkey, _)) = link
                    && window_of_key(lkey).is_some_and(|w| w >= window_of(self.expect.from))
                {
                    self.problem(
                        Kind::BrokenChain,
                        key,
                        format!("names {lkey}, which is in the period but not stored"),
                    );
                }
            }
        }
        let versions = self.store.versions(key).await?;
        if versions.len() > 1 {
            self.problem(
                Kind::BrokenChain,
                key,
                format!(
                    "{} versions or delete markers: the digest was hidden or rewritten after it was written",
                    versions.len()
                ),
            );
        }
        self.report.records += digest.records.len();
        for entry in &digest.records {
            self.record(entry).await?;
        }
        // Every record the collector marked in this hour must be in its digest.
        for marker in self.store.list(&index_prefix(window)).await? {
            if let Some(record) = record_of_index(&marker)
                && !digest.records.iter().any(|r| r.key == record)
            {
                self.covered.insert(record.clone());
                self.problem(
                    Kind::Missing,
                    &record,
                    format!("marked as written in the hour {window} but not in its digest: hidden or removed before the digest was made"),
                );
            }
        }
        Ok(Some((
            key.to_owned(),
            sha256_hex(&stored.body),
            window.plus(WINDOW_SECONDS),
        )))
    }
}

/// Walks the chain of the period.
pub async fn walk(store: &S3EvidenceStore, expect: &Expect) -> Result<ChainReport, PortError> {
    let start = window_of(Timestamp(expect.from.0.div_euclid(86_400) * 86_400));
    let end = Timestamp((expect.to.0.div_euclid(86_400) + 1) * 86_400);
    // The last hour that should have a digest by now: the tick runs at minute 7 and the
    // scheduler retries, so an hour's digest is expected 20 minutes after it ends.
    let due = window_of(expect.now.plus(-DIGEST_DUE_SECONDS)).min(end);
    let keys: Vec<String> = store
        .list(DIGEST_PREFIX)
        .await?
        .into_iter()
        .filter(|k| window_of_key(k).is_some_and(|w| w >= start && w < end))
        .collect();
    let mut walk = Walk {
        store,
        expect,
        report: ChainReport::default(),
        covered: BTreeSet::new(),
    };
    let mut previous = None;
    for key in &keys {
        walk.report.digests += 1;
        walk.report.first.get_or_insert_with(|| key.clone());
        walk.report.last = Some(key.clone());
        previous = walk.digest(key, previous.as_ref()).await?.or(previous);
    }
    let digested_to = previous.as_ref().map(|(_, _, e)| *e);
    match digested_to {
        None => walk.problem(
            Kind::BrokenChain,
            DIGEST_PREFIX,
            "no digest in the period".into(),
        ),
        Some(e) if e < due => walk.problem(
            Kind::BrokenChain,
            DIGEST_PREFIX,
            format!("the chain ends at {e}; the hours up to {due} have no digest"),
        ),
        Some(_) => {}
    }
    unlisted(&mut walk, expect, digested_to.unwrap_or(start)).await?;
    Ok(walk.report)
}

/// Records of the period no digest lists: UNLISTED when written before `digested_to`, else
/// pending (their hour's digest is not due yet).
async fn unlisted(
    walk: &mut Walk<'_>,
    expect: &Expect,
    digested_to: Timestamp,
) -> Result<(), PortError> {
    let prefixes = day_prefixes(expect.from, expect.to).unwrap_or_default();
    for prefix in prefixes {
        for key in walk.store.hidden(&prefix).await? {
            let named = walk
                .report
                .problems
                .iter()
                .any(|p| p.kind == Kind::Missing && p.object == key);
            if !named {
                walk.problem(Kind::Missing, &key, "hidden by a delete marker".to_owned());
            }
        }
        for key in walk.store.list(&prefix).await? {
            if walk.covered.contains(&key) {
                continue;
            }
            let stored = walk.store.get(&key).await?;
            match stored.facts.last_modified {
                Some(t) if t >= digested_to => walk.report.pending += 1,
                written => walk.problem(
                    Kind::Unlisted,
                    &key,
                    format!(
                        "written {} and listed in no digest",
                        written.map_or_else(|| "at an unknown time".to_owned(), |t| t.to_string())
                    ),
                ),
            }
        }
    }
    Ok(())
}

/// The verdict for a report's cover.
pub fn statement(report: &ChainReport) -> idc_guard_core::evidence::html::ChainStatement {
    idc_guard_core::evidence::html::ChainStatement {
        text: verdict(report),
        problems: report
            .problems
            .iter()
            .map(|p| [p.kind.word().to_owned(), p.object.clone(), p.detail.clone()])
            .collect(),
    }
}

/// The verdict in one sentence.
fn verdict(report: &ChainReport) -> String {
    let span = match (&report.first, &report.last) {
        (Some(f), Some(l)) => format!("from {f} to {l}"),
        _ => "(no digest)".to_owned(),
    };
    if report.problems.is_empty() {
        format!(
            "VERIFIED: the chain {span}: {} digest(s), {} record(s), every signature, link, record and retention holds; {} record(s) newer than the last digest",
            report.digests, report.records, report.pending
        )
    } else {
        format!(
            "NOT VERIFIED: {} problem(s) in the chain {span} ({} digest(s), {} record(s))",
            report.problems.len(),
            report.digests,
            report.records
        )
    }
}

/// The report as text: one line per problem, then the verdict.
pub fn text(report: &ChainReport) -> String {
    let mut out = String::new();
    for p in &report.problems {
        let _ = writeln!(out, "{} {}: {}", p.kind.word(), p.object, p.detail);
    }
    let _ = writeln!(out, "{}", verdict(report));
    out
}
