//! The evidence chain's signing key in KMS: [`DigestSigner`] (`kms:Sign`) for the collector,
//! and the public key (`kms:GetPublicKey`) for `idc-guard evidence verify`.

use aws_config::SdkConfig;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};

use super::errors::port_error;
use crate::evidence::digest::SIGNING_ALGORITHM;
use crate::ports::{DigestSigner, PortError, PortErrorKind};

/// An asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`).
#[derive(Debug, Clone)]
pub struct KmsSigningKey {
    client: Client,
    key_arn: String,
    region: String,
}

impl KmsSigningKey {
    /// The key `key_arn`, in the SDK's Region, at `endpoint` when given.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>, key_arn: &str) -> KmsSigningKey {
        let mut builder = aws_sdk_kms::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        KmsSigningKey {
            client: Client::from_conf(builder.build()),
            key_arn: key_arn.to_owned(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// The public key, DER (SubjectPublicKeyInfo), refused unless the key signs with
    /// [`SIGNING_ALGORITHM`].
    pub async fn public_key(&self) -> Result<Vec<u8>, PortError> {
        const OP: &str = "kms:GetPublicKey";
        let out = self
            .client
            .get_public_key()
            .key_id(&self.key_arn)
            .send()
            .await
            .map_err(|e| port_error(OP, &self.region, &e))?;
        let signs = out
            .signing_algorithms()
            .iter()
            .any(|a| a.as_str() == SIGNING_ALGORITHM);
        if !signs {
            return Err(PortError::new(
                OP,
                &self.region,
                PortErrorKind::Rejected,
                format!(
                    "{} does not sign with {SIGNING_ALGORITHM} (an ECC_NIST_P256 SIGN_VERIFY key does)",
                    self.key_arn
                ),
            ));
        }
        out.public_key()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| {
                PortError::new(OP, &self.region, PortErrorKind::Rejected, "no public key")
            })
    }
}

impl DigestSigner for KmsSigningKey {
    fn key_arn(&self) -> &str {
        &self.key_arn
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PortError> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_arn)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::from(SIGNING_ALGORITHM))
            .send()
            .await
            .map_err(|e| port_error("kms:Sign", &self.region, &e))?;
        out.signature().map(|b| b.as_ref().to_vec()).ok_or_else(|| {
            PortError::new(
                "kms:Sign",
                &self.region,
                PortErrorKind::Rejected,
                "no signature",
            )
        })
    }
}
