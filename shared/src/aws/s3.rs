//! [`EvidenceStore`] over one S3 bucket (Object Lock, compliance mode, in the stack).
//!
//! Writes are conditional (`If-None-Match: *`): a second write of the same key, a redelivery,
//! gets `412 Precondition Failed` and is reported as [`EvidenceWrite::AlreadyThere`]; the object
//! is never overwritten. Each object carries its SHA-256 twice: S3's own `ChecksumSHA256`
//! (base64, checked by S3 on upload) and the metadata `sha256` (hex).

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};

use super::errors::port_error;
use crate::domain::time::Timestamp;
use crate::evidence::StoredEvidence;
use crate::evidence::digest::SIGNATURE_METADATA;
use crate::ports::{EvidenceStore, EvidenceWrite, ObjectFacts, PortError, PortErrorKind};

/// The object metadata that holds the body's SHA-256, hex (`x-amz-meta-sha256`).
pub const SHA256_METADATA: &str = "sha256";

/// The evidence bucket.
#[derive(Debug)]
pub struct S3EvidenceStore {
    client: Client,
    bucket: String,
    region: String,
}

impl S3EvidenceStore {
    /// The bucket `bucket`, at `endpoint` when given. Path-style addressing is used whenever
    /// an endpoint is overridden (here or in the SDK configuration): local servers such as
    /// moto do not serve `<bucket>.<host>`.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>, bucket: &str) -> S3EvidenceStore {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk);
        if sdk.endpoint_url().is_some() || endpoint.is_some() {
            builder = builder.force_path_style(true);
        }
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        S3EvidenceStore {
            client: Client::from_conf(builder.build()),
            bucket: bucket.to_owned(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn err<E>(&self, op: &str, e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> PortError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut error = port_error(op, &self.region, e);
        // S3's own codes that the shared classifier does not know.
        match e.code() {
            Some("NoSuchKey" | "NoSuchBucket" | "NotFound") => error.kind = PortErrorKind::NotFound,
            // A concurrent conditional write to the same key is in flight: retry.
            Some("ConditionalRequestConflict" | "SlowDown" | "RequestTimeout") => {
                error.kind = PortErrorKind::Transient;
            }
            Some("AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId") => {
                error.kind = PortErrorKind::AccessDenied;
            }
            _ => {}
        }
        if e.raw_response().map(|r| r.status().as_u16()) == Some(404)
            && error.kind == PortErrorKind::Rejected
        {
            error.kind = PortErrorKind::NotFound;
        }
        error.message = format!("s3://{}: {}", self.bucket, error.message);
        error
    }
}

impl S3EvidenceStore {
    /// The conditional write, with the signature as metadata when there is one.
    async fn put(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
        signature: Option<&str>,
    ) -> Result<EvidenceWrite, PortError> {
        const OP: &str = "s3:PutObject";
        let digest = unhex(sha256_hex).filter(|d| d.len() == 32).ok_or_else(|| {
            PortError::new(
                OP,
                &self.region,
                PortErrorKind::Rejected,
                format!("{key}: \"{sha256_hex}\" is not a SHA-256 in hex"),
            )
        })?;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .content_type("application/json")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            // Sent precomputed: S3 rejects the upload if the body it received differs.
            .checksum_sha256(aws_smithy_types::base64::encode(&digest))
            .metadata(SHA256_METADATA, sha256_hex)
            .if_none_match("*");
        if let Some(signature) = signature {
            put = put.metadata(SIGNATURE_METADATA, signature);
        }
        let put = put.send().await;
        match put {
            Ok(_) => Ok(EvidenceWrite::Written),
            Err(e) if precondition_failed(&e) => Ok(EvidenceWrite::AlreadyThere),
            Err(e) => Err(self.err(OP, &e)),
        }
    }
}

/// One stored version of an object, or a delete marker: what tells a record that was deleted
/// from one a delete marker hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The version id.
    pub version_id: String,
    /// A delete marker, not data.
    pub delete_marker: bool,
    /// The current version.
    pub latest: bool,
}

impl S3EvidenceStore {
    /// Every version and delete marker of exactly `key` (first page: an evidence object has a
    /// handful at most).
    pub async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, PortError> {
        let out = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await
            .map_err(|e| self.err("s3:ListObjectVersions", &e))?;
        let data = out
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .map(|v| ObjectVersion {
                version_id: v.version_id().unwrap_or_default().to_owned(),
                delete_marker: false,
                latest: v.is_latest() == Some(true),
            });
        let markers = out
            .delete_markers()
            .iter()
            .filter(|m| m.key() == Some(key))
            .map(|m| ObjectVersion {
                version_id: m.version_id().unwrap_or_default().to_owned(),
                delete_marker: true,
                latest: m.is_latest() == Some(true),
            });
        Ok(data.chain(markers).collect())
    }

    /// The keys under `prefix` whose current version is a delete marker (hidden from a plain
    /// read and listing), in key order.
    pub async fn hidden(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        let mut hidden = Vec::new();
        let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| self.err("s3:ListObjectVersions", &e))?;
            hidden.extend(
                page.delete_markers()
                    .iter()
                    .filter(|m| m.is_latest() == Some(true))
                    .filter_map(|m| m.key().map(str::to_owned)),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        hidden.sort();
        hidden.dedup();
        Ok(hidden)
    }
}

/// Whether an S3 error is the answer to a failed `If-None-Match` precondition.
fn precondition_failed<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.code() == Some("PreconditionFailed")
        || e.raw_response().map(|r| r.status().as_u16()) == Some(412)
}

/// Hex to bytes (`None` when not hex).
fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// S3's base64 `ChecksumSHA256` as hex; `None` for a composite (multipart, `...-N`) value or
/// anything that is not a 32-byte digest.
fn checksum_hex(base64: &str) -> Option<String> {
    let bytes = aws_smithy_types::base64::decode(base64).ok()?;
    (bytes.len() == 32).then(|| hex::encode(&bytes))
}

impl EvidenceStore for S3EvidenceStore {
    async fn put_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
    ) -> Result<EvidenceWrite, PortError> {
        self.put(key, body, sha256_hex, None).await
    }

    async fn put_signed_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
        signature: &str,
    ) -> Result<EvidenceWrite, PortError> {
        self.put(key, body, sha256_hex, Some(signature)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.err("s3:ListObjectsV2", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<StoredEvidence, PortError> {
        // The stored checksum comes from HeadObject; GetObject without checksum mode, so the
        // SDK hands over the body as stored instead of failing on a mismatch itself.
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| self.err("s3:HeadObject", &e))?;
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("s3:GetObject", &e))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| {
                PortError::new(
                    "s3:GetObject",
                    &self.region,
                    PortErrorKind::Transient,
                    format!("s3://{}/{key}: reading the body: {e}", self.bucket),
                )
            })?
            .into_bytes()
            .to_vec();
        let date = |d: Option<&aws_smithy_types::DateTime>| d.map(|d| Timestamp(d.secs()));
        Ok(StoredEvidence {
            key: key.to_owned(),
            body,
            checksum_sha256: head.checksum_sha256().and_then(checksum_hex),
            metadata_sha256: head
                .metadata()
                .and_then(|m| m.get(SHA256_METADATA))
                .cloned(),
            facts: ObjectFacts {
                signature: head
                    .metadata()
                    .and_then(|m| m.get(SIGNATURE_METADATA))
                    .cloned(),
                version_id: head.version_id().map(str::to_owned),
                last_modified: date(head.last_modified()),
                lock_mode: head.object_lock_mode().map(|m| m.as_str().to_owned()),
                retain_until: date(head.object_lock_retain_until_date()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_convert() {
        let hex_digest = crate::evidence::sha256_hex(b"one");
        let b64 = aws_smithy_types::base64::encode(unhex(&hex_digest).unwrap_or_default());
        // What moto and S3 return for the body "one".
        assert_eq!(b64, "dpLDrTVAu4A8Ags67mbNiIcSMjTqDG5xQ8Ct1z/0Me0=");
        assert_eq!(checksum_hex(&b64), Some(hex_digest));
        assert_eq!(checksum_hex("abcd-2"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
