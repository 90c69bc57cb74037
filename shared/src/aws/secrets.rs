//! [`SecretSource`] over Secrets Manager (`GetSecretValue`, the current version).

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;

use super::errors::port_error;
use crate::ports::{PortError, PortErrorKind, SecretSource};

/// Secrets Manager in the configuration's Region.
#[derive(Debug)]
pub struct SecretsManagerSecrets {
    client: Client,
    region: String,
}

impl SecretsManagerSecrets {
    /// The client, at `endpoint` when given (else the SDK's resolution, which honours
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>) -> SecretsManagerSecrets {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        SecretsManagerSecrets {
            client: Client::from_conf(builder.build()),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }
}

impl SecretSource for SecretsManagerSecrets {
    async fn secret_string(&self, id: &str) -> Result<String, PortError> {
        const OP: &str = "secretsmanager:GetSecretValue";
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| port_error(OP, &self.region, &e))?;
        // The SDK's output type redacts the value in Debug; only the string is taken out.
        out.secret_string().map(str::to_owned).ok_or_else(|| {
            PortError::new(
                OP,
                &self.region,
                PortErrorKind::Rejected,
                format!("secret {id} has no string value (binary secrets are not supported)"),
            )
        })
    }
}
