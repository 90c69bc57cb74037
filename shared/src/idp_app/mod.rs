//! The SAML application at the external IdP that federates with Identity Center, as the IdP's
//! API returns it (Microsoft Graph for Entra ID, the Apps API for Okta): its registered ACS
//! URLs, its entity ID (audience) and its signing certificates; and the add-only change that
//! registers more ACS URLs. Pure: response parsing and request building. The HTTP client and
//! the judgement live in higher layers (the `idp_http` adapter, the `idp_app` check).

pub mod credentials;
pub mod graph;
pub mod okta;

use std::fmt;

use serde_json::Value;

pub use crate::config::ProviderKind;
use crate::domain::time::Timestamp;

/// The application as read.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpApp {
    /// The provider.
    pub provider: ProviderKind,
    /// The id the API addresses it by (Graph: the application object's id; Okta: the app id).
    pub id: String,
    /// Its display name (Graph `displayName`, Okta `label`).
    pub name: String,
    /// The ACS (reply) URLs the IdP accepts, in the provider's order.
    pub acs_urls: Vec<String>,
    /// The list an update writes (Entra: the application's `web.redirectUris`, which its
    /// service principal copies; Okta: the same as `acs_urls`): what a write is verified on.
    pub configured_urls: Vec<String>,
    /// The SP entity IDs the IdP issues assertions for (Graph `identifierUris`, Okta
    /// `audience`).
    pub entity_ids: Vec<String>,
    /// The signing certificates the API reports, with their expiry.
    pub certificates: Vec<AppCertificate>,
    /// The provider's version tag (HTTP `ETag`), when it returned one: sent as `If-Match`.
    pub etag: Option<String>,
    /// The object as read: the update is built from it, so nothing else in it changes.
    pub document: Value,
    /// Why idc-guard's own identity could not write it, when the read found out (Entra: its
    /// service principal is not an owner, which `Application.ReadWrite.OwnedBy` requires).
    pub write_blocker: Option<String>,
}

/// A signing certificate as the IdP's API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCertificate {
    /// The provider's id for it (Graph `keyId`, Okta `kid`).
    pub id: String,
    /// When it expires.
    pub not_after: Timestamp,
    /// Whether the IdP signs with it now (Graph: the preferred signing key; Okta: the app's
    /// `credentials.signing.kid`).
    pub active: bool,
}

/// The request that registers more ACS URLs: built from the application as read, adding and
/// never removing or reordering.
#[derive(Debug, Clone, PartialEq)]
pub struct AppUpdate {
    /// `PATCH` (Graph) or `PUT` (Okta).
    pub method: &'static str,
    /// The path under the API's base URL (`/applications/{id}`, `/api/v1/apps/{id}`).
    pub path: String,
    /// `If-Match`, when the read returned an `ETag`.
    pub if_match: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// The part of the body that differs from the application as read (Okta's `PUT` sends
    /// the whole app; this is what a person reviews).
    pub changes: Value,
    /// The URLs it adds.
    pub adds: Vec<String>,
}

impl fmt::Display for AppUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(tag) = &self.if_match {
            write!(f, " (If-Match: {tag})")?;
        }
        if self.changes == self.body {
            write!(f, " {}", self.body)
        } else {
            write!(f, " with {} (the rest of the object as read)", self.changes)
        }
    }
}

/// Why a response could not be read: the provider and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} response: {field}: {problem}")]
pub struct ResponseError {
    /// The provider.
    pub provider: ProviderKind,
    /// The JSON path of the field (`web.redirectUris[2]`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ResponseError {
    pub(crate) fn new(provider: ProviderKind, field: &str, problem: impl Into<String>) -> Self {
        ResponseError {
            provider,
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The value at the dotted path `field` of `object` (`web.redirectUris`); `None` when a part
/// is absent or the value is `null`. Every reader of a response field goes through it.
pub(crate) fn at<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    field
        .split('.')
        .try_fold(object, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

/// The strings of the array at `field` of `object` (absent or `null` is empty).
pub fn strings(
    provider: ProviderKind,
    object: &Value,
    field: &str,
) -> Result<Vec<String>, ResponseError> {
    match at(object, field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    ResponseError::new(provider, &format!("{field}[{i}]"), "is not a string")
                })
            })
            .collect(),
        Some(_) => Err(ResponseError::new(provider, field, "is not an array")),
    }
}

/// The string at `field` of `object` (absent or `null` is `None`).
pub(crate) fn string(
    provider: ProviderKind,
    object: &Value,
    field: &str,
) -> Result<Option<String>, ResponseError> {
    match at(object, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ResponseError::new(provider, field, "is not a string")),
    }
}

/// Like [`string`], absence an error.
pub fn required(
    provider: ProviderKind,
    object: &Value,
    field: &str,
) -> Result<String, ResponseError> {
    string(provider, object, field)?
        .ok_or_else(|| ResponseError::new(provider, field, "is missing"))
}

/// The URLs of `wanted` that `present` lacks, in order, each once.
pub fn missing_from(present: &[String], wanted: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in wanted {
        if !present.contains(url) && !out.contains(url) {
            out.push(url.clone());
        }
    }
    out
}

/// The update that adds `urls` to `app`, in its provider's form.
pub fn add_acs_urls(app: &IdpApp, urls: &[String]) -> Result<Option<AppUpdate>, ResponseError> {
    match app.provider {
        ProviderKind::EntraId => graph::add_reply_urls(app, urls),
        ProviderKind::Okta => okta::add_acs_endpoints(app, urls),
    }
}

/// What kind of failure an IdP API call met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpErrorKind {
    /// 403: the guard's identity lacks a permission (named).
    MissingPermission(String),
    /// 404: the application (or its id) does not exist.
    NotFound,
    /// 412: the application changed since it was read (`If-Match` failed).
    Conflict,
    /// Throttling, a 5xx or the network, after the client's own retries: a later attempt may
    /// succeed.
    Retryable,
    /// 401 after a fresh token, or another 4xx: the same call would fail again.
    Refused,
    /// The response is not the documented shape.
    Malformed,
    /// The credentials secret is unusable.
    Credentials,
}

/// An IdP API failure. Never carries a credential or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct IdpError {
    /// The provider.
    pub provider: ProviderKind,
    /// What kind.
    pub kind: IdpErrorKind,
    /// What happened: the call, the status, the provider's error code.
    pub message: String,
}

impl IdpError {
    /// A new error.
    pub fn new(provider: ProviderKind, kind: IdpErrorKind, message: impl Into<String>) -> Self {
        IdpError {
            provider,
            kind,
            message: message.into(),
        }
    }

    /// Whether a later attempt (a Lambda retry) may succeed.
    pub fn retryable(&self) -> bool {
        self.kind == IdpErrorKind::Retryable
    }
}

impl From<ResponseError> for IdpError {
    fn from(e: ResponseError) -> Self {
        IdpError::new(e.provider, IdpErrorKind::Malformed, e.to_string())
    }
}
