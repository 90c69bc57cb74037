//! [`InstanceDirectory`] over IAM Identity Center (sso-admin).

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_ssoadmin::Client;
use aws_sdk_ssoadmin::config::Region;

use super::PerRegion;
use super::errors::port_error;
use crate::domain::live::{InstanceDescription, InstanceEncryption, InstanceRegion};
use crate::ports::{InstanceDirectory, PortError, PortErrorKind};

/// sso-admin, one client per Region.
#[derive(Debug)]
pub struct SsoInstanceDirectory {
    sdk: SdkConfig,
    endpoint: Option<String>,
    clients: PerRegion<Client>,
}

impl SsoInstanceDirectory {
    /// sso-admin clients from `sdk`, at `endpoint` when given.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>) -> SsoInstanceDirectory {
        SsoInstanceDirectory {
            sdk: sdk.clone(),
            endpoint,
            clients: PerRegion::default(),
        }
    }

    fn client(&self, region: &str) -> Arc<Client> {
        self.clients.get(region, || {
            let mut builder = aws_sdk_ssoadmin::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()));
            if let Some(url) = &self.endpoint {
                builder = builder.endpoint_url(url);
            }
            Client::from_conf(builder.build())
        })
    }
}

impl InstanceDirectory for SsoInstanceDirectory {
    async fn describe_instance(
        &self,
        region: &str,
        instance_arn: &str,
    ) -> Result<InstanceDescription, PortError> {
        let out = self
            .client(region)
            .describe_instance()
            .instance_arn(instance_arn)
            .send()
            .await
            .map_err(|e| port_error("sso:DescribeInstance", region, &e))?;
        Ok(InstanceDescription {
            instance_arn: out.instance_arn().unwrap_or(instance_arn).to_owned(),
            status: out
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            owner_account_id: out.owner_account_id().map(str::to_owned),
            identity_store_id: out.identity_store_id().map(str::to_owned),
            encryption: out
                .encryption_configuration_details()
                .map(|e| InstanceEncryption {
                    key_type: e
                        .key_type()
                        .map(|k| k.as_str().to_owned())
                        .unwrap_or_default(),
                    kms_key_arn: e.kms_key_arn().map(str::to_owned),
                    status: e.encryption_status().map(|s| s.as_str().to_owned()),
                    reason: e.encryption_status_reason().map(str::to_owned),
                }),
        })
    }

    async fn list_regions(
        &self,
        region: &str,
        instance_arn: &str,
    ) -> Result<Vec<InstanceRegion>, PortError> {
        const OP: &str = "sso:ListRegions";
        let client = self.client(region);
        let mut regions = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: there are fewer than 100 Regions.
        for _ in 0..100 {
            let out = client
                .list_regions()
                .instance_arn(instance_arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| port_error(OP, region, &e))?;
            regions.extend(out.regions().iter().map(|r| {
                InstanceRegion {
                    name: r.region_name().unwrap_or_default().to_owned(),
                    status: r
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    is_primary: r.is_primary_region(),
                }
            }));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(regions),
            }
        }
        Err(PortError::new(
            OP,
            region,
            PortErrorKind::Rejected,
            "more than 100 pages of Regions",
        ))
    }
}
