//! The SDK's HTTPS client: rustls, trusting Mozilla's root certificates compiled into the
//! binary (`webpki-root-certs`) instead of the system store, and built on the first request
//! rather than when a client is created. Reading and parsing the system store (a bundle and
//! every file of `/etc/ssl/certs`) took most of a function's init, and the SDK builds the TLS
//! configuration once per client at creation; here it is built once per process, when the
//! first call needs it. Certificates are verified as before: a server whose chain does not lead
//! to one of these roots is refused.

use std::sync::OnceLock;

use aws_sdk_kms::config::SharedHttpClient;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, HttpClientError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine as _;

/// Mozilla's roots as one PEM bundle, the form the SDK's trust store takes; built once.
fn mozilla_roots_pem() -> &'static [u8] {
    static PEM: OnceLock<Vec<u8>> = OnceLock::new();
    PEM.get_or_init(|| {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            let body = b64.encode(cert.as_ref());
            for line in body.as_bytes().chunks(64) {
                pem.extend_from_slice(line);
                pem.push(b'\n');
            }
            pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        pem
    })
}

/// The TLS settings every AWS client uses: Mozilla's roots and nothing else.
pub fn tls_context() -> Result<TlsContext, HttpClientError> {
    TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(mozilla_roots_pem()),
        )
        .build()
}

/// The HTTPS client with Mozilla's roots, built now (the SDK's client checks its TLS setup
/// when each SDK client is created).
pub fn https_client() -> Result<SharedHttpClient, HttpClientError> {
    Ok(Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context()?)
        .build_https())
}

/// The HTTPS client for the SDK's configuration (and so for every client built from it):
/// [`https_client`], built on the first request, once per process. Should the compiled-in
/// roots ever fail to load, the SDK's default client (the system store) is used; either way
/// every certificate is verified.
pub fn lazy_https_client() -> SharedHttpClient {
    SharedHttpClient::new(LazyHttps::default())
}

#[derive(Debug, Default)]
struct LazyHttps {
    client: OnceLock<SharedHttpClient>,
}

impl HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client
            .get_or_init(|| {
                https_client().unwrap_or_else(|e| {
                    tracing::warn!(
                        "compiled-in TLS roots unavailable, using the system store: {e}"
                    );
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                        .build_https()
                })
            })
            .http_connector(settings, components)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_in_root_is_in_the_bundle() {
        let pem = String::from_utf8_lossy(mozilla_roots_pem()).into_owned();
        let n = pem.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(n, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(n > 100, "only {n} roots");
        assert!(tls_context().is_ok());
    }
}
