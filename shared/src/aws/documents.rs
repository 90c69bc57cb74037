//! [`DocumentSource`] over S3 (`s3://bucket/key`) and local files: where the IdP's SAML
//! metadata is read from.

use aws_config::SdkConfig;
use aws_sdk_s3::Client;

use super::errors::port_error;
use crate::config::MetadataLocation;
use crate::ports::{DocumentSource, PortError, PortErrorKind};

/// Reads documents from S3 (in the SDK configuration's Region) or the local file system.
#[derive(Debug)]
pub struct Documents {
    client: Client,
    region: String,
}

impl Documents {
    /// S3 at `endpoint` when given (path-style whenever an endpoint is overridden).
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>) -> Documents {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk);
        if sdk.endpoint_url().is_some() || endpoint.is_some() {
            builder = builder.force_path_style(true);
        }
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        Documents {
            client: Client::from_conf(builder.build()),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }
}

fn too_large(operation: &str, location: &MetadataLocation, limit: usize) -> PortError {
    PortError::new(
        operation,
        "",
        PortErrorKind::Rejected,
        format!("{location} is larger than {limit} bytes"),
    )
}

impl DocumentSource for Documents {
    async fn fetch(&self, location: &MetadataLocation, limit: usize) -> Result<Vec<u8>, PortError> {
        match location {
            MetadataLocation::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    let kind = if e.kind() == std::io::ErrorKind::NotFound {
                        PortErrorKind::NotFound
                    } else {
                        PortErrorKind::Rejected
                    };
                    PortError::new("read", "", kind, format!("{path}: {e}"))
                })?;
                if bytes.len() > limit {
                    return Err(too_large("read", location, limit));
                }
                Ok(bytes)
            }
            MetadataLocation::S3 { bucket, key } => {
                let out = self
                    .client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| port_error("s3:GetObject", &self.region, &e))?;
                if out
                    .content_length()
                    .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
                {
                    return Err(too_large("s3:GetObject", location, limit));
                }
                let body = out.body.collect().await.map_err(|e| {
                    PortError::new(
                        "s3:GetObject",
                        &self.region,
                        PortErrorKind::Transient,
                        format!("reading {location}: {e}"),
                    )
                })?;
                let bytes = body.into_bytes().to_vec();
                if bytes.len() > limit {
                    return Err(too_large("s3:GetObject", location, limit));
                }
                Ok(bytes)
            }
        }
    }
}
