//! Access tokens for the IdP APIs: OAuth 2.0 client credentials (a client secret, or a signed
//! JWT client assertion), cached until a minute before they expire; or Okta's SSWS API token,
//! sent as it is. A token is a credential: it is never logged or put into an error.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::jwt::{Assertion, SigningKey, sign, thumbprint_s256};
use crate::config::{IdpApplication, ProviderSettings};
use crate::idp_app::credentials::{Credentials, Secret};
use crate::idp_app::{IdpError, IdpErrorKind, ProviderKind};

/// A token is used until this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How the client authenticates.
#[derive(Debug)]
enum Auth {
    ClientSecret {
        client_id: String,
        secret: Secret,
    },
    Assertion {
        client_id: String,
        key: Box<SigningKey>,
        header: Map<String, Value>,
        pss: bool,
    },
    Ssws(Secret),
}

/// Where tokens come from, and the cached one.
#[derive(Debug)]
pub struct TokenSource {
    provider: ProviderKind,
    auth: Auth,
    token_url: String,
    scope: String,
    cache: Mutex<Option<(Secret, Instant)>>,
}

fn bad(provider: ProviderKind, kind: IdpErrorKind, message: impl Into<String>) -> IdpError {
    IdpError::new(provider, kind, message)
}

/// The token endpoint and the scope to ask for.
fn endpoint(application: &IdpApplication, write: bool) -> (String, String) {
    match &application.provider {
        ProviderSettings::EntraId {
            tenant,
            graph_endpoint,
            login_endpoint,
        } => (
            format!("{login_endpoint}/{tenant}/oauth2/v2.0/token"),
            format!("{}/.default", graph_endpoint.origin()),
        ),
        ProviderSettings::Okta { org_url } => (
            format!("{org_url}/oauth2/v1/token"),
            if write {
                "okta.apps.read okta.apps.manage".to_owned()
            } else {
                "okta.apps.read".to_owned()
            },
        ),
    }
}

/// How `credentials` authenticate to `provider`.
fn auth(provider: ProviderKind, credentials: Credentials) -> Result<Auth, IdpError> {
    let credentials_error = |e: &str| {
        bad(
            provider,
            IdpErrorKind::Credentials,
            format!("credentials secret: {e}"),
        )
    };
    let key = |der: &Secret| SigningKey::from_der(der.expose()).map_err(|e| credentials_error(&e));
    match (provider, credentials) {
        (
            ProviderKind::EntraId,
            Credentials::EntraSecret {
                client_id,
                client_secret,
            },
        ) => Ok(Auth::ClientSecret {
            client_id,
            secret: client_secret,
        }),
        (
            ProviderKind::EntraId,
            Credentials::EntraCertificate {
                client_id,
                private_key,
                certificate,
            },
        ) => {
            let key = key(&private_key)?;
            if !matches!(key, SigningKey::Rsa(_)) {
                return Err(credentials_error(
                    "Entra ID accepts RSA certificate keys only",
                ));
            }
            let mut header = Map::new();
            header.insert("x5t#S256".into(), json!(thumbprint_s256(&certificate)));
            Ok(Auth::Assertion {
                client_id,
                key: Box::new(key),
                header,
                pss: true,
            })
        }
        (
            ProviderKind::Okta,
            Credentials::OktaPrivateKey {
                client_id,
                private_key,
                key_id,
            },
        ) => {
            let mut header = Map::new();
            if let Some(kid) = key_id {
                header.insert("kid".into(), json!(kid));
            }
            Ok(Auth::Assertion {
                client_id,
                key: Box::new(key(&private_key)?),
                header,
                pss: false,
            })
        }
        (ProviderKind::Okta, Credentials::OktaApiToken { token }) => Ok(Auth::Ssws(token)),
        _ => Err(credentials_error(
            "the credentials are for another provider",
        )),
    }
}

impl TokenSource {
    /// The source for `application` with `credentials`; `write` asks Okta for
    /// `okta.apps.manage` besides `okta.apps.read`.
    pub fn new(
        application: &IdpApplication,
        credentials: Credentials,
        write: bool,
    ) -> Result<TokenSource, IdpError> {
        let provider = application.provider.kind();
        let (token_url, scope) = endpoint(application, write);
        Ok(TokenSource {
            provider,
            auth: auth(provider, credentials)?,
            token_url,
            scope,
            cache: Mutex::new(None),
        })
    }

    /// The `Authorization` header value; `refresh` drops the cached token first (after a 401).
    pub async fn authorization(
        &self,
        http: &reqwest::Client,
        refresh: bool,
        timeout: Duration,
    ) -> Result<Secret, IdpError> {
        if let Auth::Ssws(token) = &self.auth {
            return Ok(Secret::from(format!("SSWS {}", token.expose_str())));
        }
        let mut cache = self.cache.lock().await;
        if refresh {
            *cache = None;
        }
        if let Some((token, until)) = cache.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.request(http, timeout).await?;
        let header = Secret::from(format!("Bearer {}", token.expose_str()));
        let until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        *cache = Some((header.clone(), until));
        Ok(header)
    }

    /// Whether a 401 can be answered with a new token (SSWS tokens do not expire that way).
    pub fn refreshable(&self) -> bool {
        !matches!(self.auth, Auth::Ssws(_))
    }

    /// The token request's form: the grant, the scope and the client's credentials.
    fn form(&self) -> Result<Vec<(&'static str, String)>, IdpError> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", self.scope.clone()),
        ];
        match &self.auth {
            Auth::ClientSecret { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.expose_str().to_owned()));
            }
            Auth::Assertion {
                client_id,
                key,
                header,
                pss,
            } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                let assertion = sign(
                    key,
                    &Assertion {
                        client_id,
                        audience: &self.token_url,
                        now,
                        header: header.clone(),
                        pss: *pss,
                    },
                )
                .map_err(|e| bad(self.provider, IdpErrorKind::Credentials, e))?;
                form.push(("client_id", client_id.clone()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                form.push(("client_assertion", assertion));
            }
            Auth::Ssws(_) => {
                return Err(bad(
                    self.provider,
                    IdpErrorKind::Credentials,
                    "an API token needs no token request",
                ));
            }
        }
        Ok(form)
    }

    async fn request(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(Secret, Duration), IdpError> {
        let p = self.provider;
        let response = http
            .post(&self.token_url)
            .timeout(timeout)
            .header("Accept", "application/json")
            .form(&self.form()?)
            .send()
            .await
            .map_err(|e| {
                bad(
                    p,
                    IdpErrorKind::Retryable,
                    format!(
                        "token request to {}: {}",
                        self.token_url,
                        super::client::describe(&e)
                    ),
                )
            })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 429 || status >= 500 {
            return Err(bad(
                p,
                IdpErrorKind::Retryable,
                format!("token endpoint {} answered {status}", self.token_url),
            ));
        }
        if !(200..300).contains(&status) {
            return Err(token_refused(p, &self.token_url, status, &body));
        }
        read_token(p, &body)
    }
}

/// The access token and its lifetime from a token response.
fn read_token(p: ProviderKind, body: &Value) -> Result<(Secret, Duration), IdpError> {
    if body
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
    {
        return Err(bad(
            p,
            IdpErrorKind::Refused,
            "the token endpoint issued a DPoP-bound token, which idc-guard does not send: turn off \"Require DPoP\" on the API service app",
        ));
    }
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            bad(
                p,
                IdpErrorKind::Malformed,
                "token response: access_token is missing",
            )
        })?;
    // Entra writes expires_in as a number; older endpoints as a string.
    let seconds = match body.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        bad(
            p,
            IdpErrorKind::Malformed,
            "token response: expires_in is missing or not a number",
        )
    })?;
    Ok((Secret::from(token.to_owned()), Duration::from_secs(seconds)))
}

/// A refused token request: the OAuth `error` and, for Entra, its `AADSTS` code. The
/// description is not repeated whole (it can echo request values).
fn token_refused(p: ProviderKind, url: &str, status: u16, body: &Value) -> IdpError {
    let error = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no error code");
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let code = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("AADSTS"))
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let hint = if error.contains("dpop") || description.contains("DPoP") {
        ": the API service app requires DPoP, which idc-guard does not send; turn off \"Require DPoP\" on it"
    } else if error == "invalid_client" {
        ": the client id, secret, key or certificate is not accepted"
    } else if error == "invalid_scope" {
        ": the app is not granted the scope (Okta: okta.apps.read, and okta.apps.manage to update)"
    } else {
        ""
    };
    bad(
        p,
        IdpErrorKind::Refused,
        format!("token request to {url} refused ({status}): {error}{code}{hint}"),
    )
}
