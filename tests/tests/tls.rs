//! The SDK's HTTPS client trusts Mozilla's compiled-in roots and still verifies: a server whose
//! certificate no trusted root signed is refused before any request is sent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use idc_guard_core::aws::tls::{https_client, lazy_https_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test CA (its key is not kept) and a `localhost` server certificate it signed.
const CA: &str = include_str!("../fixtures/tls/test-ca.pem");
const CERT: &str = include_str!("../fixtures/tls/localhost-cert.pem");
const KEY: &str = include_str!("../fixtures/tls/localhost-key.pem");

/// A TLS server for `localhost` with a certificate from the test CA; answers every request with an
/// empty JSON object. Returns its port.
async fn test_ca_server() -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 16 * 1024];
                let _ = tls.read(&mut buf).await;
                let body = "{}";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

async fn list_keys(port: u16, http: aws_sdk_kms::config::SharedHttpClient) -> Result<(), String> {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(format!("https://localhost:{port}"))
        .http_client(http)
        .build();
    aws_sdk_kms::Client::from_conf(conf)
        .list_keys()
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}", aws_sdk_kms::error::DisplayErrorContext(e)))
}

#[tokio::test]
async fn a_certificate_no_trusted_root_signed_is_refused() {
    let port = test_ca_server().await;
    // The client the Lambdas use (built on first use) and the one it builds.
    for client in [lazy_https_client(), https_client().unwrap()] {
        let err = list_keys(port, client)
            .await
            .expect_err("a server of an unknown CA must be refused");
        assert!(
            err.contains("UnknownIssuer") || err.contains("invalid peer certificate"),
            "{err}"
        );
    }

    // The same server, with the test CA trusted, answers: the refusal above is the
    // certificate's, not a broken server's.
    let trusted = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(CA.as_bytes()))
                .build()
                .unwrap(),
        )
        .build_https();
    let answer = list_keys(port, trusted).await;
    assert!(answer.is_ok(), "{answer:?}");
}
