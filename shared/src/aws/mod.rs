//! AWS adapters for the ports (feature `aws`): the only module that knows SDK types.
//!
//! One client per service and Region, built from one [`SdkConfig`]. Endpoints follow the SDK's
//! own rules (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>` in the environment or profile),
//! so the same binary runs against local servers; [`Endpoints`] adds explicit per-service
//! overrides for callers that cannot set environment variables (tests, `--endpoint-url`).

mod claims;
mod documents;
mod errors;
mod events;
mod kms;
pub mod s3;
pub mod secrets;
mod sso;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use aws_config::SdkConfig;
pub use aws_types::region::Region;
pub use claims::DynamoClaims;
pub use documents::Documents;
pub use events::EventBridgeBus;
pub use kms::KmsKeyStore;
pub use sso::SsoInstanceDirectory;

/// Per-service endpoint overrides (`None` = the SDK's resolution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// KMS.
    pub kms: Option<String>,
    /// EventBridge.
    pub events: Option<String>,
    /// DynamoDB.
    pub dynamodb: Option<String>,
    /// IAM Identity Center (sso-admin).
    pub sso_admin: Option<String>,
    /// S3 (the IdP's SAML metadata).
    pub s3: Option<String>,
}

impl Endpoints {
    /// Every service at one URL (a local server).
    pub fn all(url: &str) -> Endpoints {
        Endpoints {
            kms: Some(url.to_owned()),
            events: Some(url.to_owned()),
            dynamodb: Some(url.to_owned()),
            sso_admin: Some(url.to_owned()),
            s3: Some(url.to_owned()),
        }
    }
}

/// Loads the SDK configuration the standard way (environment, profile, IMDS / Lambda role).
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Clients built lazily, one per Region, shared across calls (and warm invocations).
#[derive(Debug)]
pub(crate) struct PerRegion<C> {
    clients: Mutex<BTreeMap<String, Arc<C>>>,
}

impl<C> Default for PerRegion<C> {
    fn default() -> Self {
        PerRegion {
            clients: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<C> PerRegion<C> {
    pub(crate) fn get(&self, region: &str, build: impl FnOnce() -> C) -> Arc<C> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| Arc::new(build()))
            .clone()
    }
}
