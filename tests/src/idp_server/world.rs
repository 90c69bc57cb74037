//! What the local IdP server holds: the two providers' applications, the credentials it
//! accepts, the permissions granted, and the faults to inject.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// An access token the server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `entra` or `okta`.
    pub provider: &'static str,
    /// The client it was issued to.
    pub client_id: String,
    /// Okta: the scopes granted with it.
    pub scopes: Vec<String>,
}

/// The server's state. Tests set it up, inject faults, and read the log afterwards.
#[derive(Debug, Clone, Default)]
pub struct IdpWorld {
    /// Set by the server: its own URL (the assertions' audience).
    pub url: String,

    /// Entra: the tenant in the token endpoint's path.
    pub tenant: String,
    /// Entra: the guard's app registration.
    pub entra_client_id: String,
    /// Entra: the client secret accepted, if any.
    pub entra_client_secret: Option<String>,
    /// Entra: the certificate credential accepted: its `x5t#S256` and RSA public key (PKCS#1 DER).
    pub entra_certificate: Option<(String, Vec<u8>)>,
    /// Entra: the Graph application permissions granted to the guard.
    pub graph_permissions: BTreeSet<String>,
    /// Graph `application` objects.
    pub applications: Vec<Value>,
    /// Graph `servicePrincipal` objects.
    pub service_principals: Vec<Value>,
    /// Graph: each application's owners (`directoryObject`s), by object id.
    pub owners: BTreeMap<String, Vec<Value>>,
    /// Graph: items per page of a collection.
    pub page_size: usize,

    /// Okta: the API service app's client id.
    pub okta_client_id: String,
    /// Okta: the service app's public key (`RS256` with PKCS#1 DER, or `ES256` with the
    /// uncompressed point).
    pub okta_public_key: Option<(&'static str, Vec<u8>)>,
    /// Okta: the SSWS API token accepted, if any.
    pub okta_api_token: Option<String>,
    /// Okta: the scopes granted to the service app.
    pub okta_scopes: BTreeSet<String>,
    /// Okta apps.
    pub okta_apps: Vec<Value>,
    /// Okta: each app's signing keys, by app id.
    pub okta_keys: BTreeMap<String, Value>,

    /// The next this many API calls (not token requests) answer 429.
    pub throttle: u32,
    /// The wait a 429 asks for, in seconds.
    pub retry_after: u64,
    /// Send `ETag` on reads and honour `If-Match` on writes.
    pub etags: bool,
    /// Another writer adds this URL right before the next write is applied.
    pub edit_before_write: Option<String>,
    /// The tokens issued and still valid.
    pub issued: BTreeMap<String, TokenInfo>,
    /// Token requests answered with a token.
    pub token_requests: u32,
    /// Every request, `METHOD /path`.
    pub log: Vec<String>,
    /// Each object's version (its `ETag`), by id.
    pub versions: BTreeMap<String, u32>,
}

impl IdpWorld {
    /// Every issued token stops working (they expired): the next API call gets 401.
    pub fn expire_tokens(&mut self) {
        self.issued.clear();
    }

    /// The version of object `id`.
    pub fn version(&self, id: &str) -> u32 {
        self.versions.get(id).copied().unwrap_or(1)
    }

    /// A new version of object `id`.
    pub fn bump(&mut self, id: &str) {
        let next = self.version(id) + 1;
        self.versions.insert(id.to_owned(), next);
    }

    /// The `ETag` of object `id`.
    pub fn etag(&self, id: &str) -> String {
        format!("W/\"{}\"", self.version(id))
    }

    /// Whether a write with `headers` to object `id` fails its `If-Match` (ETags on, a tag
    /// sent, and not the object's version now).
    pub fn if_match_fails(&self, id: &str, headers: &axum::http::HeaderMap) -> bool {
        self.etags
            && headers
                .get("if-match")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|tag| tag != self.etag(id))
    }

    /// The writes received (`PATCH` and `PUT`).
    pub fn writes(&self) -> Vec<&String> {
        self.log
            .iter()
            .filter(|l| l.starts_with("PATCH") || l.starts_with("PUT"))
            .collect()
    }
}
