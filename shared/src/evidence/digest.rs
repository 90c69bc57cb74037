//! The evidence digest chain, modelled on CloudTrail's log file integrity validation: for
//! every hour (UTC) the evidence collector writes a digest under `digest/` that lists every
//! record written in that hour with its SHA-256 and version, and names the previous digest
//! and its SHA-256. Each digest is signed with an asymmetric KMS key (ECDSA P-256, SHA-256);
//! the signature is stored on the object. An hour without records still gets a digest, so a
//! gap in the chain means a digest was removed, not that nothing happened.
//!
//! Which records a window holds: the collector drops a marker under `index/<window>/` for each
//! record it writes (write-once, like the records), and the digest lists the markers of its
//! window. A record that no digest lists was not written by the collector (or its marker was
//! removed before the digest was made).
//!
//! This module is the format (pure): keys, the body, the string that is signed, reading a
//! digest back, and the chain's rules. Writing is `evidence::chain`; verifying, the CLI.

use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

/// Where digests live.
pub const DIGEST_PREFIX: &str = "digest/";
/// Where the collector marks each record with the hour it wrote it.
pub const INDEX_PREFIX: &str = "index/";
/// The digest format's version.
pub const DIGEST_VERSION: u32 = 1;
/// The signing algorithm (KMS `SigningAlgorithm`), for an `ECC_NIST_P256` key.
pub const SIGNING_ALGORITHM: &str = "ECDSA_SHA_256";
/// The object metadata holding the signature (base64 DER), `x-amz-meta-signature`.
pub const SIGNATURE_METADATA: &str = "signature";
/// A window is one hour.
pub const WINDOW_SECONDS: i64 = 3600;
/// A window is digested this long after it ends: records written in its last seconds are
/// listed by then.
pub const GRACE_SECONDS: i64 = 300;
/// A digest larger than this is refused unread (a window of about 20,000 records).
pub const MAX_DIGEST_BYTES: usize = 4 * 1024 * 1024;

/// The start of the window holding `t`.
pub fn window_of(t: Timestamp) -> Timestamp {
    Timestamp(t.0.div_euclid(WINDOW_SECONDS) * WINDOW_SECONDS)
}

/// `YYYY/MM/DD/HH` of a window.
fn window_path(window: Timestamp) -> String {
    let t = window.to_string();
    // RFC 3339: `YYYY-MM-DDTHH:MM:SSZ`.
    format!(
        "{}/{}",
        t.get(..10).unwrap_or("0000-00-00").replace('-', "/"),
        t.get(11..13).unwrap_or("00")
    )
}

/// The digest of the window starting at `window`: `digest/YYYY/MM/DD/HH.json`.
pub fn digest_key(window: Timestamp) -> String {
    format!("{DIGEST_PREFIX}{}.json", window_path(window))
}

/// The window a digest key names (`None` for anything else under `digest/`).
pub fn window_of_key(key: &str) -> Option<Timestamp> {
    let path = key.strip_prefix(DIGEST_PREFIX)?.strip_suffix(".json")?;
    let mut parts = path.split('/');
    let (y, m, d, h) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.len() != 2 || !h.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = Timestamp::parse(&format!("{y}-{m}-{d}T{h}:00:00Z"))?;
    (digest_key(t) == key).then_some(t)
}

/// The marker of `record_key`, written in the window starting at `window`.
pub fn index_key(window: Timestamp, record_key: &str) -> String {
    format!(
        "{INDEX_PREFIX}{}/{}",
        window_path(window),
        record_key.replace('/', "!")
    )
}

/// The prefix of a window's markers.
pub fn index_prefix(window: Timestamp) -> String {
    format!("{INDEX_PREFIX}{}/", window_path(window))
}

/// The window a marker was written in.
pub fn window_of_index(index_key: &str) -> Option<Timestamp> {
    let rest = index_key.strip_prefix(INDEX_PREFIX)?;
    let path: Vec<&str> = rest.splitn(5, '/').take(4).collect();
    let [y, m, d, h] = path.as_slice() else {
        return None;
    };
    window_of_key(&format!("{DIGEST_PREFIX}{y}/{m}/{d}/{h}.json"))
}

/// The record a marker names.
pub fn record_of_index(index_key: &str) -> Option<String> {
    let name = index_key.strip_prefix(INDEX_PREFIX)?.rsplit('/').next()?;
    let record = name.replace('!', "/");
    record.starts_with(super::KEY_PREFIX).then_some(record)
}

/// One record a digest lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestEntry {
    /// The record's key.
    pub key: String,
    /// The SHA-256 of its body (hex), as the collector stored it.
    pub sha256: String,
    /// Its S3 version id, when the bucket is versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// The previous digest, as this one saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestLink {
    /// Its key.
    pub key: String,
    /// The SHA-256 of its body (hex).
    pub sha256: String,
}

/// One digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// [`DIGEST_VERSION`].
    pub version: u32,
    /// The window's start (RFC 3339).
    pub window_start: String,
    /// Its end.
    pub window_end: String,
    /// Every record written in the window, by key.
    pub records: Vec<DigestEntry>,
    /// The previous digest; `None` for the first of the chain.
    pub previous: Option<DigestLink>,
    /// The signing key's ARN.
    pub key_arn: String,
    /// [`SIGNING_ALGORITHM`].
    pub algorithm: String,
}

impl Digest {
    /// The stored body: pretty JSON and a final newline, the same bytes for the same digest.
    pub fn body(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec_pretty(self).unwrap_or_default();
        body.push(b'\n');
        body
    }
}

/// What is signed for the digest `key` whose body has the SHA-256 `body_sha256` (hex): short,
/// so KMS signs it as a RAW message (it hashes it with SHA-256 itself).
pub fn signing_string(key: &str, body_sha256: &str) -> String {
    format!("idc-guard-digest-{DIGEST_VERSION}\n{key}\n{body_sha256}\n")
}

/// Why a stored digest cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Larger than [`MAX_DIGEST_BYTES`].
    #[error("{0} bytes, more than a digest may hold ({MAX_DIGEST_BYTES})")]
    TooLarge(usize),
    /// Not the format (serde's message names the field).
    #[error("not an idc-guard digest: {0}")]
    Format(String),
    /// Readable, but inconsistent with its key.
    #[error("{0}")]
    Inconsistent(String),
}

/// Reads the digest stored under `key`, checking it against its key: its window, a window of
/// one hour, no link to itself, records under `evidence/` listed once each.
pub fn read_digest(key: &str, body: &[u8]) -> Result<Digest, DigestError> {
    if body.len() > MAX_DIGEST_BYTES {
        return Err(DigestError::TooLarge(body.len()));
    }
    let digest: Digest =
        serde_json::from_slice(body).map_err(|e| DigestError::Format(e.to_string()))?;
    let bad = |m: String| Err(DigestError::Inconsistent(m));
    if digest.version != DIGEST_VERSION {
        return bad(format!(
            "version {} (this idc-guard reads {DIGEST_VERSION})",
            digest.version
        ));
    }
    let start = Timestamp::parse(&digest.window_start);
    let end = Timestamp::parse(&digest.window_end);
    match (window_of_key(key), start, end) {
        (Some(w), Some(s), Some(e)) if w == s && e.0 == s.0 + WINDOW_SECONDS => {}
        _ => {
            return bad(format!(
                "window {} to {} is not the hour its key {key} names",
                digest.window_start, digest.window_end
            ));
        }
    }
    if let Some(prev) = &digest.previous
        && (prev.key == key || window_of_key(&prev.key).is_none_or(|w| Some(w) >= start))
    {
        return bad(format!(
            "its previous digest {} is not an earlier digest",
            prev.key
        ));
    }
    let mut keys: Vec<&str> = digest.records.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w.first() == w.get(1)) {
        return bad(format!(
            "lists {} twice",
            w.first().copied().unwrap_or_default()
        ));
    }
    if let Some(r) = digest.records.iter().find(|r| {
        !r.key.starts_with(super::KEY_PREFIX)
            || r.sha256.len() != 64
            || !r.sha256.bytes().all(|b| b.is_ascii_hexdigit())
    }) {
        return bad(format!("lists {} with sha256 \"{}\"", r.key, r.sha256));
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn digest(window: &str, previous: Option<DigestLink>) -> Digest {
        let w = t(window);
        Digest {
            version: DIGEST_VERSION,
            window_start: w.to_string(),
            window_end: w.plus(WINDOW_SECONDS).to_string(),
            records: vec![DigestEntry {
                key: "evidence/2026/11/27/fp-e.json".into(),
                sha256: "a".repeat(64),
                version_id: Some("v1".into()),
            }],
            previous,
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
            algorithm: SIGNING_ALGORITHM.into(),
        }
    }

    #[test]
    fn keys_name_their_window_and_markers_their_record() {
        let w = window_of(t("2026-11-27T10:42:07Z"));
        assert_eq!(w, t("2026-11-27T10:00:00Z"));
        assert_eq!(digest_key(w), "digest/2026/11/27/10.json");
        assert_eq!(window_of_key("digest/2026/11/27/10.json"), Some(w));
        for bad in [
            "digest/2026/11/27/1.json",
            "digest/2026/13/27/10.json",
            "digest/x.json",
            "evidence/2026/11/27/10.json",
            "digest/2026/11/27/10/11.json",
        ] {
            assert_eq!(window_of_key(bad), None, "{bad}");
        }
        let record = "evidence/2026/11/27/fp-e.json";
        let marker = index_key(w, record);
        assert_eq!(marker, "index/2026/11/27/10/evidence!2026!11!27!fp-e.json");
        assert!(marker.starts_with(&index_prefix(w)));
        assert_eq!(record_of_index(&marker).as_deref(), Some(record));
        assert_eq!(window_of_index(&marker), Some(w));
        assert_eq!(window_of_index("index/2026/11/27"), None);
    }

    #[test]
    fn a_digest_reads_back_and_its_signing_string_binds_key_and_body() {
        let key = "digest/2026/11/27/10.json";
        let d = digest(
            "2026-11-27T10:00:00Z",
            Some(DigestLink {
                key: "digest/2026/11/27/09.json".into(),
                sha256: "b".repeat(64),
            }),
        );
        assert_eq!(read_digest(key, &d.body()), Ok(d.clone()));
        assert_ne!(
            signing_string(key, "aa"),
            signing_string("digest/2026/11/27/11.json", "aa")
        );
        assert_ne!(signing_string(key, "aa"), signing_string(key, "ab"));
    }

    #[test]
    fn a_digest_that_lies_about_itself_is_refused() {
        let key = "digest/2026/11/27/10.json";
        let wrong_window = digest("2026-11-27T11:00:00Z", None);
        assert!(read_digest(key, &wrong_window.body()).is_err());
        let own = digest(
            "2026-11-27T10:00:00Z",
            Some(DigestLink {
                key: key.into(),
                sha256: "b".repeat(64),
            }),
        );
        assert!(
            read_digest(key, &own.body())
                .unwrap_err()
                .to_string()
                .contains("not an earlier digest")
        );
        let later = digest(
            "2026-11-27T10:00:00Z",
            Some(DigestLink {
                key: "digest/2026/11/27/12.json".into(),
                sha256: "b".repeat(64),
            }),
        );
        assert!(read_digest(key, &later.body()).is_err());
        let mut twice = digest("2026-11-27T10:00:00Z", None);
        twice.records.push(twice.records[0].clone());
        assert!(
            read_digest(key, &twice.body())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(matches!(
            read_digest(key, b"{}"),
            Err(DigestError::Format(_))
        ));
        assert!(matches!(
            read_digest(key, &vec![b' '; MAX_DIGEST_BYTES + 1]),
            Err(DigestError::TooLarge(_))
        ));
    }
}
