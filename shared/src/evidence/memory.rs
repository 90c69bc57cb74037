//! An in-memory [`EvidenceStore`] for tests: write-once like the Object Lock bucket, with
//! fault injection and a way to tamper with a stored body.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use super::StoredEvidence;
use crate::ports::{EvidenceStore, EvidenceWrite, PortError, PortErrorKind};

#[derive(Debug, Default)]
struct Inner {
    objects: BTreeMap<String, StoredEvidence>,
    failures: VecDeque<PortErrorKind>,
    puts: usize,
}

/// Evidence objects in memory.
#[derive(Debug, Default)]
pub struct MemoryEvidence {
    inner: Mutex<Inner>,
}

impl MemoryEvidence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every stored object, by key.
    pub fn objects(&self) -> BTreeMap<String, StoredEvidence> {
        self.lock().objects.clone()
    }

    /// How many writes were attempted (conditional or not).
    pub fn put_attempts(&self) -> usize {
        self.lock().puts
    }

    /// The next call fails with `kind`.
    pub fn fail_next(&self, kind: PortErrorKind) {
        self.lock().failures.push_back(kind);
    }

    /// Replaces a stored body without touching its checksums (what verification must catch).
    pub fn tamper(&self, key: &str, body: &[u8]) {
        if let Some(o) = self.lock().objects.get_mut(key) {
            o.body = body.to_vec();
        }
    }

    fn injected(&self, operation: &str) -> Result<(), PortError> {
        match self.lock().failures.pop_front() {
            Some(kind) => Err(PortError::new(
                operation,
                "memory",
                kind,
                "injected failure",
            )),
            None => Ok(()),
        }
    }
}

impl MemoryEvidence {
    fn put(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
        signature: Option<&str>,
    ) -> Result<EvidenceWrite, PortError> {
        self.injected("s3:PutObject")?;
        let mut inner = self.lock();
        inner.puts += 1;
        if inner.objects.contains_key(key) {
            return Ok(EvidenceWrite::AlreadyThere);
        }
        inner.objects.insert(
            key.to_owned(),
            StoredEvidence {
                key: key.to_owned(),
                body: body.to_vec(),
                checksum_sha256: Some(sha256_hex.to_owned()),
                metadata_sha256: Some(sha256_hex.to_owned()),
                facts: crate::ports::ObjectFacts {
                    signature: signature.map(str::to_owned),
                    ..crate::ports::ObjectFacts::default()
                },
            },
        );
        Ok(EvidenceWrite::Written)
    }
}

impl EvidenceStore for MemoryEvidence {
    async fn put_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
    ) -> Result<EvidenceWrite, PortError> {
        self.put(key, body, sha256_hex, None)
    }

    async fn put_signed_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
        signature: &str,
    ) -> Result<EvidenceWrite, PortError> {
        self.put(key, body, sha256_hex, Some(signature))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        self.injected("s3:ListObjectsV2")?;
        Ok(self
            .lock()
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn get(&self, key: &str) -> Result<StoredEvidence, PortError> {
        self.injected("s3:GetObject")?;
        self.lock()
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| PortError::new("s3:GetObject", "memory", PortErrorKind::NotFound, key))
    }
}
