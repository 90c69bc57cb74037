//! [`KeyStore`] over AWS KMS.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::types::{KeyMetadata, MultiRegionKeyType};
use aws_smithy_types::date_time::Format;

use super::PerRegion;
use super::errors::port_error;
use crate::domain::live::{Grant, KeyDescription, KeyState, MultiRegionRole};
use crate::ports::{KeyStore, PortError, PortErrorKind};

/// The key policy name KMS supports.
const POLICY_NAME: &str = "default";

/// KMS, one client per Region.
#[derive(Debug)]
pub struct KmsKeyStore {
    sdk: SdkConfig,
    endpoint: Option<String>,
    clients: PerRegion<Client>,
}

impl KmsKeyStore {
    /// KMS clients from `sdk`, at `endpoint` when given.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>) -> KmsKeyStore {
        KmsKeyStore {
            sdk: sdk.clone(),
            endpoint,
            clients: PerRegion::default(),
        }
    }

    fn client(&self, region: &str) -> Arc<Client> {
        self.clients.get(region, || {
            let mut builder = aws_sdk_kms::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()));
            if let Some(url) = &self.endpoint {
                builder = builder.endpoint_url(url);
            }
            Client::from_conf(builder.build())
        })
    }
}

fn missing(operation: &str, region: &str, what: &str) -> PortError {
    PortError::new(
        operation,
        region,
        PortErrorKind::Rejected,
        format!("the response has no {what}"),
    )
}

fn describe(region: &str, m: &KeyMetadata) -> KeyDescription {
    let mr = m.multi_region_configuration();
    KeyDescription {
        arn: m.arn().unwrap_or_default().to_owned(),
        key_id: m.key_id().to_owned(),
        region: region.to_owned(),
        state: m
            .key_state()
            .map_or(KeyState::Other("unknown".to_owned()), |s| {
                KeyState::from_name(s.as_str())
            }),
        usage: m
            .key_usage()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default(),
        manager: m
            .key_manager()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default(),
        multi_region: match (m.multi_region(), mr.and_then(|c| c.multi_region_key_type())) {
            (Some(true), Some(MultiRegionKeyType::Primary)) => Some(MultiRegionRole::Primary),
            (Some(true), Some(_)) => Some(MultiRegionRole::Replica),
            _ => None,
        },
        primary_region: mr
            .and_then(|c| c.primary_key())
            .and_then(|k| k.region())
            .map(str::to_owned),
        replica_regions: mr
            .map(|c| {
                c.replica_keys()
                    .iter()
                    .filter_map(|k| k.region().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        deletion_date: m.deletion_date().and_then(|d| d.fmt(Format::DateTime).ok()),
    }
}

impl KeyStore for KmsKeyStore {
    async fn describe_key(&self, region: &str, key: &str) -> Result<KeyDescription, PortError> {
        const OP: &str = "kms:DescribeKey";
        let out = self
            .client(region)
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| port_error(OP, region, &e))?;
        let metadata = out
            .key_metadata()
            .ok_or_else(|| missing(OP, region, "KeyMetadata"))?;
        Ok(describe(region, metadata))
    }

    async fn get_key_policy(&self, region: &str, key_id: &str) -> Result<String, PortError> {
        const OP: &str = "kms:GetKeyPolicy";
        let out = self
            .client(region)
            .get_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .map_err(|e| port_error(OP, region, &e))?;
        out.policy()
            .map(str::to_owned)
            .ok_or_else(|| missing(OP, region, "Policy"))
    }

    async fn put_key_policy(
        &self,
        region: &str,
        key_id: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        self.client(region)
            .put_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME)
            .policy(policy)
            // Never bypass: KMS's lockout safety check is the last line of defence.
            .bypass_policy_lockout_safety_check(false)
            .send()
            .await
            .map_err(|e| port_error("kms:PutKeyPolicy", region, &e))?;
        Ok(())
    }

    async fn enable_key(&self, region: &str, key_id: &str) -> Result<(), PortError> {
        self.client(region)
            .enable_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| port_error("kms:EnableKey", region, &e))?;
        Ok(())
    }

    async fn cancel_key_deletion(&self, region: &str, key_id: &str) -> Result<(), PortError> {
        self.client(region)
            .cancel_key_deletion()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| port_error("kms:CancelKeyDeletion", region, &e))?;
        Ok(())
    }

    async fn replicate_key(
        &self,
        primary_region: &str,
        key_id: &str,
        replica_region: &str,
        policy: &str,
    ) -> Result<KeyDescription, PortError> {
        const OP: &str = "kms:ReplicateKey";
        let out = self
            .client(primary_region)
            .replicate_key()
            .key_id(key_id)
            .replica_region(replica_region)
            .policy(policy)
            .bypass_policy_lockout_safety_check(false)
            .send()
            .await
            .map_err(|e| port_error(OP, primary_region, &e))?;
        let metadata = out
            .replica_key_metadata()
            .ok_or_else(|| missing(OP, primary_region, "ReplicaKeyMetadata"))?;
        Ok(describe(replica_region, metadata))
    }

    async fn list_grants(&self, region: &str, key_id: &str) -> Result<Vec<Grant>, PortError> {
        const OP: &str = "kms:ListGrants";
        let client = self.client(region);
        let mut grants = Vec::new();
        let mut marker: Option<String> = None;
        // Bounded: a key has at most 50,000 grants, 100 per page.
        for _ in 0..600 {
            let out = client
                .list_grants()
                .key_id(key_id)
                .limit(100)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| port_error(OP, region, &e))?;
            for g in out.grants() {
                grants.push(Grant {
                    grant_id: g.grant_id().unwrap_or_default().to_owned(),
                    name: g.name().filter(|n| !n.is_empty()).map(str::to_owned),
                    grantee_principal: g.grantee_principal().unwrap_or_default().to_owned(),
                    retiring_principal: g.retiring_principal().map(str::to_owned),
                    issuing_account: g.issuing_account().map(str::to_owned),
                    operations: g
                        .operations()
                        .iter()
                        .map(|o| o.as_str().to_owned())
                        .collect(),
                });
            }
            match (out.truncated(), out.next_marker()) {
                (true, Some(next)) => marker = Some(next.to_owned()),
                _ => return Ok(grants),
            }
        }
        Err(PortError::new(
            OP,
            region,
            PortErrorKind::Rejected,
            "more than 600 pages of grants",
        ))
    }
}
