//! Writing the evidence digest chain ([`super::digest`]): the collector marks each record it
//! writes with the hour it wrote it, and an hourly tick digests every closed hour since the
//! last digest, in order, each naming the one before. A new chain starts with the hour of the
//! oldest marker.
//!
//! Write once, under redelivery and concurrency: a digest is written with `If-None-Match`, so
//! of two ticks digesting the same hour one writes it and the other reads it back and goes on
//! from the stored one; the chain stays one chain. At most [`MAX_WINDOWS_PER_RUN`] hours per
//! tick, so a long outage is caught up over several ticks.

use serde::Serialize;

use super::digest::{
    DIGEST_PREFIX, DIGEST_VERSION, Digest, DigestEntry, DigestLink, GRACE_SECONDS, INDEX_PREFIX,
    SIGNING_ALGORITHM, WINDOW_SECONDS, digest_key, index_key, index_prefix, record_of_index,
    signing_string, window_of, window_of_index, window_of_key,
};
use super::sha256_hex;
use crate::domain::time::Timestamp;
use crate::ports::{DigestSigner, EvidenceStore, EvidenceWrite, PortError, PortErrorKind};

/// The most hours one tick digests.
pub const MAX_WINDOWS_PER_RUN: usize = 48;

/// Records read at once while digesting an hour.
const READS_AT_ONCE: usize = 32;

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainOutcome {
    /// Digests written now.
    pub written: Vec<String>,
    /// Digests another tick had written (read back and followed).
    pub already_there: Vec<String>,
    /// Markers whose record is gone: left out of the digest (verify reports what is missing).
    pub orphan_markers: Vec<String>,
}

/// Marks `record_key` as written in the hour of `now`.
pub async fn mark_record<S: EvidenceStore>(
    store: &S,
    record_key: &str,
    now: Timestamp,
) -> Result<EvidenceWrite, PortError> {
    store
        .put_if_absent(
            &index_key(window_of(now), record_key),
            b"",
            &sha256_hex(b""),
        )
        .await
}

/// Digests every hour closed by `now` since the last digest (the first tick starts the chain
/// with the last closed hour).
pub async fn write_digests<S: EvidenceStore, G: DigestSigner>(
    store: &S,
    signer: &G,
    now: Timestamp,
) -> Result<ChainOutcome, PortError> {
    let digests = store.list(DIGEST_PREFIX).await?;
    let last = digests
        .iter()
        .rev()
        .find_map(|k| window_of_key(k).map(|w| (k.clone(), w)));
    let (mut previous, mut window) = match last {
        Some((key, w)) => {
            let stored = store.get(&key).await?;
            (
                Some(DigestLink {
                    key,
                    sha256: sha256_hex(&stored.body),
                }),
                w.plus(WINDOW_SECONDS),
            )
        }
        None => (None, genesis(store, now).await?),
    };
    let mut outcome = ChainOutcome::default();
    while window.plus(WINDOW_SECONDS + GRACE_SECONDS) <= now
        && outcome.written.len() + outcome.already_there.len() < MAX_WINDOWS_PER_RUN
    {
        let digest = Digest {
            version: DIGEST_VERSION,
            window_start: window.to_string(),
            window_end: window.plus(WINDOW_SECONDS).to_string(),
            records: entries(store, window, &mut outcome.orphan_markers).await?,
            previous: previous.take(),
            key_arn: signer.key_arn().to_owned(),
            algorithm: SIGNING_ALGORITHM.to_owned(),
        };
        let key = digest_key(window);
        let body = digest.body();
        let mut sha256 = sha256_hex(&body);
        let signature = signer
            .sign(signing_string(&key, &sha256).as_bytes())
            .await?;
        let signature =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature);
        match store
            .put_signed_if_absent(&key, &body, &sha256, &signature)
            .await?
        {
            EvidenceWrite::Written => outcome.written.push(key.clone()),
            EvidenceWrite::AlreadyThere => {
                sha256 = sha256_hex(&store.get(&key).await?.body);
                outcome.already_there.push(key.clone());
            }
        }
        previous = Some(DigestLink { key, sha256 });
        window = window.plus(WINDOW_SECONDS);
    }
    Ok(outcome)
}

/// Where a new chain starts: the hour of the oldest marker (the collector's first records),
/// else the last closed hour.
async fn genesis<S: EvidenceStore>(store: &S, now: Timestamp) -> Result<Timestamp, PortError> {
    let last_closed = window_of(now.plus(-GRACE_SECONDS - WINDOW_SECONDS));
    let oldest = store
        .list(INDEX_PREFIX)
        .await?
        .iter()
        .filter_map(|k| window_of_index(k))
        .min();
    Ok(oldest.map_or(last_closed, |w| w.min(last_closed)))
}

/// The records marked in `window`, with their SHA-256 (as stored with them) and version.
async fn entries<S: EvidenceStore>(
    store: &S,
    window: Timestamp,
    orphans: &mut Vec<String>,
) -> Result<Vec<DigestEntry>, PortError> {
    let mut entries = Vec::new();
    let markers = store.list(&index_prefix(window)).await?;
    // Read concurrently: an hour may hold thousands of records and the tick has a minute.
    for chunk in markers.chunks(READS_AT_ONCE) {
        let reads = chunk.iter().map(|marker| async move {
            let Some(record) = record_of_index(marker) else {
                return Ok(Err(marker.clone()));
            };
            match store.get(&record).await {
                Ok(stored) => Ok(Ok(DigestEntry {
                    key: record,
                    // What the collector stored; a record without it is listed as it is now.
                    sha256: stored
                        .metadata_sha256
                        .map(|s| s.to_ascii_lowercase())
                        .filter(|s| s.len() == 64)
                        .unwrap_or_else(|| sha256_hex(&stored.body)),
                    version_id: stored.facts.version_id,
                })),
                Err(e) if e.kind == PortErrorKind::NotFound => Ok(Err(marker.clone())),
                Err(e) => Err(e),
            }
        });
        for read in futures_util::future::join_all(reads).await {
            match read? {
                Ok(entry) => entries.push(entry),
                Err(orphan) => orphans.push(orphan),
            }
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries.dedup_by(|a, b| a.key == b.key);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::digest::read_digest;
    use crate::evidence::memory::MemoryEvidence;

    struct FakeSigner;

    impl DigestSigner for FakeSigner {
        fn key_arn(&self) -> &str {
            "arn:aws:kms:us-east-1:111122223333:key/sign"
        }

        async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PortError> {
            Ok(sha256_hex(message).into_bytes())
        }
    }

    fn t(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[tokio::test]
    async fn hours_are_digested_in_order_each_naming_the_one_before() {
        let store = MemoryEvidence::default();
        let record = "evidence/2026/11/27/fp-e1.json";
        store
            .put_if_absent(record, b"{}", &sha256_hex(b"{}"))
            .await
            .unwrap();
        mark_record(&store, record, t("2026-11-27T10:20:00Z"))
            .await
            .unwrap();

        // The first tick starts the chain with the hour of the first record.
        let first = write_digests(&store, &FakeSigner, t("2026-11-27T11:06:00Z"))
            .await
            .unwrap();
        assert_eq!(first.written, ["digest/2026/11/27/10.json"]);
        // Later: 11 and 12 (an empty hour gets a digest too); 13 waits out its grace period.
        let later = write_digests(&store, &FakeSigner, t("2026-11-27T14:04:00Z"))
            .await
            .unwrap();
        assert_eq!(
            later.written,
            ["digest/2026/11/27/11.json", "digest/2026/11/27/12.json"]
        );
        let objects = store.objects();
        let ten = read_digest(
            "digest/2026/11/27/10.json",
            &objects["digest/2026/11/27/10.json"].body,
        )
        .unwrap();
        assert_eq!(ten.records.len(), 1);
        assert_eq!(ten.records[0].key, record);
        assert_eq!(ten.previous, None);
        let eleven = read_digest(
            "digest/2026/11/27/11.json",
            &objects["digest/2026/11/27/11.json"].body,
        )
        .unwrap();
        assert!(eleven.records.is_empty());
        assert_eq!(
            eleven.previous,
            Some(DigestLink {
                key: "digest/2026/11/27/10.json".into(),
                sha256: sha256_hex(&objects["digest/2026/11/27/10.json"].body)
            })
        );
        assert!(
            objects["digest/2026/11/27/11.json"]
                .facts
                .signature
                .is_some()
        );
        // A redelivered tick writes nothing new.
        let again = write_digests(&store, &FakeSigner, t("2026-11-27T14:04:00Z"))
            .await
            .unwrap();
        assert_eq!(again, ChainOutcome::default());
    }
}
