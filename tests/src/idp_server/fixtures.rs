//! Ready-made worlds for the local IdP server: an Entra ID tenant and an Okta org, each with
//! the SAML application of the base configuration's instance, the guard's credentials (the
//! throwaway keys of `tests/fixtures/idp/`) and the `[idp]` configuration that points at them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use idc_guard_core::config::{IdpApplication, ProviderSettings, ServiceUrl};

use super::world::IdpWorld;

/// The tenant of the Entra world.
pub const TENANT: &str = "0c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
/// The guard's app registration (client id) in the Entra world.
pub const ENTRA_CLIENT_ID: &str = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
/// The guard's client secret in the Entra world: a marker the secret-handling tests look for.
pub const ENTRA_CLIENT_SECRET: &str = "SECRET-MARKER-entra-client-secret-7f3a";
/// The SAML application's object id and application (client) id.
pub const ENTRA_APP_OBJECT_ID: &str = "0f6b2c5e-1d2a-4c1b-9a53-7e4b0d9c1a11";
/// The SAML application's application (client) id.
pub const ENTRA_APP_ID: &str = "4a2b7c9d-0e1f-4a3b-8c5d-6e7f8a9b0c1d";
/// The Okta app's id.
pub const OKTA_APP_ID: &str = "0oa1abcdEFGH2345ijk7";
/// The guard's API service app in the Okta world.
pub const OKTA_CLIENT_ID: &str = "0oa9serviceAPP0guard7";
/// An SSWS token the Okta world accepts: a marker too.
pub const OKTA_API_TOKEN: &str = "SECRET-MARKER-okta-api-token-00b2";
/// The tenant id in the ACS URLs.
pub const SAML_TENANT: &str = "ssoins-1234567890abcdef-tenant";
/// Identity Center's issuer URL for the base configuration (the audience).
pub const AUDIENCE: &str = "https://us-east-1.signin.aws.amazon.com/platform/saml/d-1234567890";

/// The ACS URL of `region`, IPv4 form.
pub fn acs(region: &str) -> String {
    format!("https://{region}.signin.aws/platform/saml/acs/{SAML_TENANT}")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(crate::fixtures_dir().join("idp").join(name))
        .unwrap_or_else(|e| format!("missing fixture {name}: {e}"))
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    STANDARD.decode(body).unwrap_or_default()
}

/// The RSA test key (PKCS#8 PEM) and certificate (PEM).
pub fn rsa_key_pem() -> String {
    fixture("rsa-key.pem")
}

/// The RSA test certificate (PEM).
pub fn rsa_cert_pem() -> String {
    fixture("rsa-cert.pem")
}

/// The P-256 test key (PKCS#8 PEM).
pub fn ec_key_pem() -> String {
    fixture("ec-key.pem")
}

/// The RSA key's public half, PKCS#1 DER (what ring verifies with).
pub fn rsa_public_key() -> Vec<u8> {
    RsaKeyPair::from_pkcs8(&pem_der(&rsa_key_pem()))
        .map(|k| k.public().as_ref().to_vec())
        .unwrap_or_default()
}

/// The P-256 key's public point (uncompressed).
pub fn ec_public_key() -> Vec<u8> {
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &pem_der(&ec_key_pem()),
        &SystemRandom::new(),
    )
    .map(|k| k.public_key().as_ref().to_vec())
    .unwrap_or_default()
}

/// The certificate's `x5t#S256`.
pub fn rsa_cert_thumbprint() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(pem_der(&rsa_cert_pem())))
}

/// An Entra tenant whose SAML application has the ACS URLs `reply_urls`; the guard may read
/// and, as an owner, write it. Owners come in pages of two (a user and another app first).
pub fn entra_world(reply_urls: &[String]) -> IdpWorld {
    let application = json!({
        "id": ENTRA_APP_OBJECT_ID, "appId": ENTRA_APP_ID, "displayName": "AWS IAM Identity Center",
        "identifierUris": [AUDIENCE],
        "signInAudience": "AzureADMyOrg",
        "web": {"redirectUris": reply_urls, "logoutUrl": null,
                "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}}
    });
    let principal = json!({
        "id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a", "appId": ENTRA_APP_ID,
        "displayName": "AWS IAM Identity Center", "replyUrls": reply_urls,
        "preferredSingleSignOnMode": "saml",
        "preferredTokenSigningKeyThumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678",
        "keyCredentials": [
            {"keyId": "3c2b1a00-0000-4000-8000-000000000001", "usage": "Sign", "type": "AsymmetricX509Cert",
             "customKeyIdentifier": "obLD1OX2BxgpOktcbX6PkBI0Vng=", "endDateTime": "2029-06-30T12:00:00Z"},
            {"keyId": "3c2b1a00-0000-4000-8000-000000000002", "usage": "Verify", "type": "AsymmetricX509Cert",
             "customKeyIdentifier": "obLD1OX2BxgpOktcbX6PkBI0Vng=", "endDateTime": "2029-06-30T12:00:00Z"}
        ]
    });
    let owners = vec![
        json!({"@odata.type": "#microsoft.graph.user", "id": "u-1"}),
        json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-other", "appId": "11111111-0000-4000-8000-000000000000"}),
        json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-guard", "appId": ENTRA_CLIENT_ID}),
    ];
    IdpWorld {
        tenant: TENANT.to_owned(),
        entra_client_id: ENTRA_CLIENT_ID.to_owned(),
        entra_client_secret: Some(ENTRA_CLIENT_SECRET.to_owned()),
        entra_certificate: Some((rsa_cert_thumbprint(), rsa_public_key())),
        graph_permissions: ["Application.Read.All", "Application.ReadWrite.OwnedBy"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        applications: vec![application],
        service_principals: vec![principal],
        owners: [(ENTRA_APP_OBJECT_ID.to_owned(), owners)]
            .into_iter()
            .collect(),
        page_size: 2,
        retry_after: 1,
        ..IdpWorld::default()
    }
}

/// An Okta org whose custom SAML 2.0 app has `sso` as its SSO URL and `extra` as requestable
/// ACS URLs; the guard's service app signs with the P-256 key and may read and manage apps.
pub fn okta_world(sso: &str, extra: &[String]) -> IdpWorld {
    let endpoints: Vec<Value> = extra
        .iter()
        .enumerate()
        .map(|(i, url)| json!({"url": url, "index": i}))
        .collect();
    let app = json!({
        "id": OKTA_APP_ID, "name": "idc_guard_saml", "label": "AWS IAM Identity Center",
        "status": "ACTIVE", "signOnMode": "SAML_2_0",
        "credentials": {"signing": {"kid": "k-2026"}, "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"}},
        "settings": {"signOn": {
            "ssoAcsUrl": sso, "recipient": sso, "destination": sso, "audience": AUDIENCE,
            "allowMultipleAcsEndpoints": !extra.is_empty(), "acsEndpoints": endpoints,
            "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "responseSigned": true, "assertionSigned": true, "signatureAlgorithm": "RSA_SHA256"
        }},
        "_links": {"self": {"href": format!("https://example.okta.com/api/v1/apps/{OKTA_APP_ID}")}}
    });
    let keys = json!([
        {"kty": "RSA", "kid": "k-2025", "use": "sig", "created": "2025-01-01T00:00:00.000Z", "expiresAt": "2027-01-01T00:00:00.000Z", "x5c": []},
        {"kty": "RSA", "kid": "k-2026", "use": "sig", "created": "2026-01-01T00:00:00.000Z", "expiresAt": "2036-01-01T00:00:00.000Z", "x5c": []}
    ]);
    IdpWorld {
        okta_client_id: OKTA_CLIENT_ID.to_owned(),
        okta_public_key: Some(("ES256", ec_public_key())),
        okta_api_token: Some(OKTA_API_TOKEN.to_owned()),
        okta_scopes: ["okta.apps.read", "okta.apps.manage"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        okta_apps: vec![app],
        okta_keys: [(OKTA_APP_ID.to_owned(), keys)].into_iter().collect(),
        retry_after: 1,
        ..IdpWorld::default()
    }
}

/// `saml_tenant_id` and `[idp]` for the Entra world at `url` (TOML, appended to a
/// configuration that has no tables).
pub fn entra_idp_section(url: &str, allow_update: bool) -> String {
    format!(
        "saml_tenant_id = \"{SAML_TENANT}\"\n{}",
        entra_idp_tables(url, allow_update, "idc-guard/idp/entra")
    )
}

/// The `[idp]` and `[idp.application]` tables for the Entra world at `url`, with the
/// credentials in `secret` (appended after a configuration's last table).
pub fn entra_idp_tables(url: &str, allow_update: bool, secret: &str) -> String {
    format!(
        "[idp]\nallow_update = {allow_update}\n[idp.application]\nprovider = \"entra-id\"\napp_id = \"{ENTRA_APP_ID}\"\ntenant = \"{TENANT}\"\nendpoint = \"{url}/v1.0\"\nlogin_endpoint = \"{url}\"\ncredentials_secret = \"{secret}\"\n"
    )
}

/// `[idp]` for the Okta world at `url`.
pub fn okta_idp_section(url: &str, allow_update: bool) -> String {
    format!(
        "saml_tenant_id = \"{SAML_TENANT}\"\n[idp]\nallow_update = {allow_update}\n[idp.application]\nprovider = \"okta\"\napp_id = \"{OKTA_APP_ID}\"\norg_url = \"{url}\"\ncredentials_secret = \"idc-guard/idp/okta\"\n"
    )
}

/// The Entra credentials secret: the client secret.
pub fn entra_secret_json() -> String {
    json!({"client_id": ENTRA_CLIENT_ID, "client_secret": ENTRA_CLIENT_SECRET}).to_string()
}

/// The Entra credentials secret: the certificate.
pub fn entra_certificate_json() -> String {
    json!({"client_id": ENTRA_CLIENT_ID, "private_key": rsa_key_pem(), "certificate": rsa_cert_pem()}).to_string()
}

/// The Okta credentials secret: the service app's P-256 key.
pub fn okta_key_json() -> String {
    json!({"client_id": OKTA_CLIENT_ID, "private_key": ec_key_pem(), "key_id": "guard-key-1"})
        .to_string()
}

/// The Okta credentials secret: the SSWS token.
pub fn okta_token_json() -> String {
    json!({"api_token": OKTA_API_TOKEN}).to_string()
}

/// The Entra `[idp.application]` for the server at `url`.
pub fn entra_application(url: &str) -> Result<IdpApplication, String> {
    Ok(IdpApplication {
        provider: ProviderSettings::EntraId {
            tenant: TENANT.to_owned(),
            graph_endpoint: ServiceUrl::parse(&format!("{url}/v1.0"))?,
            login_endpoint: ServiceUrl::parse(url)?,
        },
        app_id: ENTRA_APP_ID.to_owned(),
        credentials_secret: "idc-guard/idp/entra".to_owned(),
    })
}

/// The Okta `[idp.application]` for the server at `url`.
pub fn okta_application(url: &str) -> Result<IdpApplication, String> {
    Ok(IdpApplication {
        provider: ProviderSettings::Okta {
            org_url: ServiceUrl::parse(url)?,
        },
        app_id: OKTA_APP_ID.to_owned(),
        credentials_secret: "idc-guard/idp/okta".to_owned(),
    })
}
