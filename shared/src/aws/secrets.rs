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

impl SecretsManagerSecrets {
    /// The client for `secret_id`: in the Region its ARN names (a secret is read where it
    /// lives: the IdP credentials are in the home Region, idp-guard runs in the primary), else
    /// in `sdk`'s Region.
    pub fn for_secret(
        sdk: &SdkConfig,
        endpoint: Option<String>,
        secret_id: &str,
    ) -> SecretsManagerSecrets {
        match arn_region(secret_id) {
            Some(region) => SecretsManagerSecrets::new(
                &sdk.to_builder()
                    .region(aws_types::region::Region::new(region.to_owned()))
                    .build(),
                endpoint,
            ),
            None => SecretsManagerSecrets::new(sdk, endpoint),
        }
    }
}

/// The Region of a Secrets Manager ARN (`arn:<partition>:secretsmanager:<region>:...`).
fn arn_region(secret_id: &str) -> Option<&str> {
    let mut parts = secret_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("secretsmanager"), Some(region))
            if crate::domain::regions::is_region_name(region) =>
        {
            Some(region)
        }
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::arn_region;

    #[test]
    fn a_secret_arn_names_its_region() {
        assert_eq!(
            arn_region("arn:aws:secretsmanager:eu-west-1:111122223333:secret:idc-guard/idp-AbCdEf"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("idc-guard/idp"), None);
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
    }
}
