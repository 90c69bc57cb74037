//! The KMS key check Identity Center makes before it replicates to a Region or switches keys:
//! a trait (so the state machine stays pure and tests can fake KMS), the real implementation
//! (KMS `DescribeKey` through aws-sdk-kms, e.g. against moto), and the mapping of what KMS
//! said to the sso-admin error AWS documents for it.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{KeyState, KeyUsageType};

use super::error::{ApiError, ErrorCode};
use super::names;

/// What KMS says about one key in one Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// Enabled, for ENCRYPT_DECRYPT.
    Usable,
    /// No such key (for a replica: the key was never replicated to that Region).
    NotFound,
    /// KeyState Disabled.
    Disabled,
    /// Any other state but Enabled (PendingDeletion, PendingReplicaDeletion, Creating, ...).
    InvalidState(String),
    /// KeyUsage is not ENCRYPT_DECRYPT.
    InvalidUsage(String),
    /// KMS refused the caller.
    AccessDenied(String),
    /// KMS throttled the caller.
    Throttled(String),
    /// KMS could not be asked (endpoint down, unexpected error).
    Unavailable(String),
}

/// A boxed future, so that the trait stays object safe without an async-trait dependency.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = KeyVerdict> + Send + 'a>>;

/// Asks KMS about a key. Implement this to fake KMS in tests.
pub trait KeyChecker: Send + Sync + std::fmt::Debug {
    /// The verdict on `key_arn` (already rewritten to `region`) as seen in `region`.
    fn check<'a>(&'a self, key_arn: &'a str, region: &'a str) -> CheckFuture<'a>;
}

/// The operation a key check belongs to; it decides how a missing key is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFor {
    /// AddRegion: the replica in the new Region.
    AddRegion,
    /// UpdateInstance: the new key, in every Region of the instance.
    UpdateInstance,
}

impl CheckFor {
    fn name(self) -> &'static str {
        match self {
            Self::AddRegion => "AddRegion",
            Self::UpdateInstance => "UpdateInstance",
        }
    }
}

/// The sso-admin error for a verdict, or `None` when the key is usable. Reason strings are
/// the SDK's `ValidationExceptionReason` / `AccessDeniedExceptionReason` /
/// `ResourceNotFoundExceptionReason` / `ThrottlingExceptionReason` wire values.
pub fn verdict_error(
    verdict: &KeyVerdict,
    op: CheckFor,
    key_arn: &str,
    region: &str,
) -> Option<ApiError> {
    let name = op.name();
    Some(match verdict {
        KeyVerdict::Usable => return None,
        // AddRegion models no ResourceNotFoundException, so a missing replica is bad input
        // there; UpdateInstance does model it, with the KMS_NotFoundException reason.
        KeyVerdict::NotFound => match op {
            CheckFor::AddRegion => ApiError::validation(format!(
                "{name}: KMS key {key_arn} not found in {region}: replicate the multi-Region key to {region} before adding the Region"
            )),
            CheckFor::UpdateInstance => {
                ApiError::not_found(format!("{name}: KMS key {key_arn} not found in {region}"))
                    .with_reason("KMS_NotFoundException")
            }
        },
        KeyVerdict::Disabled => {
            ApiError::validation(format!("{name}: KMS key {key_arn} is disabled in {region}"))
                .with_reason("KMS_DisabledException")
        }
        KeyVerdict::InvalidState(state) => ApiError::validation(format!(
            "{name}: KMS key {key_arn} is in state {state} in {region}; it must be Enabled"
        ))
        .with_reason("KMS_InvalidStateException"),
        KeyVerdict::InvalidUsage(usage) => ApiError::validation(format!(
            "{name}: KMS key {key_arn} has KeyUsage {usage} in {region}; it must be ENCRYPT_DECRYPT"
        ))
        .with_reason("KMS_InvalidKeyUsageException"),
        KeyVerdict::AccessDenied(msg) => ApiError::new(
            ErrorCode::AccessDenied,
            format!("{name}: KMS denied DescribeKey on {key_arn} in {region}: {msg}"),
        )
        .with_reason("KMS_AccessDeniedException"),
        KeyVerdict::Throttled(msg) => ApiError::new(
            ErrorCode::Throttling,
            format!("{name}: KMS throttled DescribeKey on {key_arn} in {region}: {msg}"),
        )
        .with_reason("KMS_ThrottlingException"),
        KeyVerdict::Unavailable(msg) => ApiError::new(
            ErrorCode::InternalServer,
            format!("{name}: could not check KMS key {key_arn} in {region}: {msg}"),
        ),
    })
}

/// The verdict on a key's metadata: state first (a disabled key with the wrong usage is
/// reported as disabled), then usage. A missing KeyUsage passes: AWS always reports it, but
/// moto 5.2.5 omits it on replicas, and absence is no evidence of a wrong usage.
pub fn verdict_from_metadata(state: Option<&KeyState>, usage: Option<&KeyUsageType>) -> KeyVerdict {
    match state {
        Some(KeyState::Enabled) => {}
        Some(KeyState::Disabled) => return KeyVerdict::Disabled,
        Some(other) => return KeyVerdict::InvalidState(other.as_str().to_owned()),
        None => return KeyVerdict::InvalidState("(none reported)".to_owned()),
    }
    match usage {
        Some(KeyUsageType::EncryptDecrypt) | None => KeyVerdict::Usable,
        Some(other) => KeyVerdict::InvalidUsage(other.as_str().to_owned()),
    }
}

/// Calls KMS `DescribeKey` at a fixed endpoint (moto, LocalStack, ...) with static test
/// credentials, addressing the key by ARN.
#[derive(Debug, Clone)]
pub struct KmsKeyChecker {
    client: aws_sdk_kms::Client,
}

impl KmsKeyChecker {
    /// A checker for the KMS endpoint at `endpoint_url`.
    pub fn new(endpoint_url: &str) -> Self {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            // A default Region; every call overrides it with the Region probed.
            .region(Region::from_static("us-east-1"))
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_kms::Client::from_conf(config),
        }
    }
}

impl KeyChecker for KmsKeyChecker {
    fn check<'a>(&'a self, key_arn: &'a str, region: &'a str) -> CheckFuture<'a> {
        Box::pin(async move {
            let mut call = self
                .client
                .describe_key()
                .key_id(key_arn)
                .customize()
                .config_override(
                    aws_sdk_kms::config::Builder::default().region(Region::new(region.to_owned())),
                );
            // moto keeps one store per account and picks it from this header; the key lives
            // in the account its ARN names. Real KMS ignores the header.
            if let Some(account) = names::parse_kms_key_arn(key_arn).map(|k| k.account.to_owned()) {
                call = call.mutate_request(move |req| {
                    req.headers_mut()
                        .insert("x-moto-account-id", account.clone());
                });
            }
            match call.send().await {
                Ok(out) => match out.key_metadata() {
                    Some(meta) => verdict_from_metadata(meta.key_state(), meta.key_usage()),
                    None => KeyVerdict::Unavailable("DescribeKey returned no KeyMetadata".into()),
                },
                Err(err) => {
                    let message = err.message().unwrap_or_default().to_owned();
                    match err.code() {
                        Some("NotFoundException") => KeyVerdict::NotFound,
                        Some("AccessDeniedException") => KeyVerdict::AccessDenied(message),
                        Some("ThrottlingException") => KeyVerdict::Throttled(message),
                        Some(code) => KeyVerdict::Unavailable(format!("{code}: {message}")),
                        None => KeyVerdict::Unavailable(format!(
                            "{}",
                            aws_sdk_kms::error::DisplayErrorContext(&err)
                        )),
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_verdicts() {
        let enc = Some(&KeyUsageType::EncryptDecrypt);
        assert_eq!(
            verdict_from_metadata(Some(&KeyState::Enabled), enc),
            KeyVerdict::Usable
        );
        assert_eq!(
            verdict_from_metadata(Some(&KeyState::Disabled), Some(&KeyUsageType::SignVerify)),
            KeyVerdict::Disabled
        );
        assert_eq!(
            verdict_from_metadata(Some(&KeyState::PendingReplicaDeletion), enc),
            KeyVerdict::InvalidState("PendingReplicaDeletion".into())
        );
        assert_eq!(
            verdict_from_metadata(Some(&KeyState::Enabled), Some(&KeyUsageType::SignVerify)),
            KeyVerdict::InvalidUsage("SIGN_VERIFY".into())
        );
        assert_eq!(
            verdict_from_metadata(Some(&KeyState::Enabled), None),
            KeyVerdict::Usable
        );
    }

    #[test]
    fn reasons() {
        let reason = |v: KeyVerdict, op| {
            verdict_error(&v, op, "arn", "eu-west-1").map(|e| (e.code, e.reason))
        };
        assert_eq!(reason(KeyVerdict::Usable, CheckFor::AddRegion), None);
        assert_eq!(
            reason(KeyVerdict::Disabled, CheckFor::AddRegion),
            Some((ErrorCode::Validation, Some("KMS_DisabledException")))
        );
        assert_eq!(
            reason(
                KeyVerdict::InvalidState("Creating".into()),
                CheckFor::AddRegion
            ),
            Some((ErrorCode::Validation, Some("KMS_InvalidStateException")))
        );
        assert_eq!(
            reason(
                KeyVerdict::InvalidUsage("SIGN_VERIFY".into()),
                CheckFor::AddRegion
            ),
            Some((ErrorCode::Validation, Some("KMS_InvalidKeyUsageException")))
        );
        assert_eq!(
            reason(KeyVerdict::NotFound, CheckFor::AddRegion),
            Some((ErrorCode::Validation, None))
        );
        assert_eq!(
            reason(KeyVerdict::NotFound, CheckFor::UpdateInstance),
            Some((ErrorCode::ResourceNotFound, Some("KMS_NotFoundException")))
        );
    }
}
