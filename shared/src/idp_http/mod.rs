//! [`IdentityProviderApps`] over HTTPS: Microsoft Graph v1.0 for Entra ID, the Apps API for
//! Okta (feature `idp-http`). Parsing and request building are in `crate::idp_app`; this
//! module sends, pages, retries and authenticates.
//!
//! Paging (`@odata.nextLink`) is followed only to Graph's own origin, so a token is never sent
//! to another host. Redirects are not followed.

mod client;
mod jwt;
mod token;

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use client::{Call, Client};
use token::TokenSource;

use crate::config::{IdpApplication, ProviderSettings, ServiceUrl};
use crate::idp_app::credentials::{Credentials, read_credentials};
use crate::idp_app::{AppUpdate, IdpApp, IdpError, IdpErrorKind, ProviderKind, graph, okta};
use crate::ports::{IdentityProviderApps, PortError, SecretSource};

/// The most Graph pages read for one query.
const MAX_PAGES: usize = 50;

/// The application, over HTTPS.
#[derive(Debug)]
pub struct HttpApps {
    application: IdpApplication,
    client: Client,
    /// Entra: the guard's own client id, whose ownership of the application is checked on
    /// every read (a report says when a change could not be sent).
    owner_check: Option<String>,
}

/// The permission each provider needs, for "missing permission" outcomes.
fn permission(provider: ProviderKind, write: bool) -> &'static str {
    match (provider, write) {
        (ProviderKind::EntraId, false) => {
            "Application.Read.All (Microsoft Graph application permission, admin-consented)"
        }
        (ProviderKind::EntraId, true) => {
            "Application.ReadWrite.OwnedBy, with idc-guard's service principal an owner of the application"
        }
        (ProviderKind::Okta, false) => {
            "okta.apps.read (granted to the API service app, with an admin role that can read apps)"
        }
        (ProviderKind::Okta, true) => {
            "okta.apps.manage (granted to the API service app, with an admin role that can edit the app)"
        }
    }
}

impl HttpApps {
    /// The adapter for `application` with `credentials` (read from its secret). `write`
    /// asks for the update scope too (Okta). Requests give up after `timeout` each; a
    /// throttling wait longer than `max_wait` is left to the caller's retry.
    pub fn new(
        application: IdpApplication,
        credentials: Credentials,
        write: bool,
        timeout: Duration,
        max_wait: Duration,
    ) -> Result<HttpApps, IdpError> {
        let provider = application.provider.kind();
        let owner_check = match &credentials {
            Credentials::EntraSecret { client_id, .. }
            | Credentials::EntraCertificate { client_id, .. } => Some(client_id.clone()),
            _ => None,
        };
        let tokens = TokenSource::new(&application, credentials, write)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                IdpError::new(
                    provider,
                    IdpErrorKind::Refused,
                    format!("building the HTTP client: {}", client::describe(&e)),
                )
            })?;
        Ok(HttpApps {
            owner_check,
            application,
            client: Client {
                provider,
                http,
                tokens,
                request_timeout: timeout,
                deadline: std::sync::Mutex::new(None),
                max_wait,
            },
        })
    }

    /// The calls that follow may take `budget` in all; then they fail as retryable. A
    /// review sets 40 s ([`IdentityProviderApps::begin`]).
    pub fn limit_calls(&self, budget: Duration) {
        self.client.begin(budget);
    }

    fn base(&self) -> &ServiceUrl {
        match &self.application.provider {
            ProviderSettings::EntraId { graph_endpoint, .. } => graph_endpoint,
            ProviderSettings::Okta { org_url } => org_url,
        }
    }

    async fn get(&self, url: &str, what: &str) -> Result<client::Answer, IdpError> {
        self.client
            .send(&Call {
                method: Method::GET,
                url,
                body: None,
                if_match: None,
                permission: permission(self.client.provider, false),
                what,
            })
            .await
    }

    /// Every item of a Graph collection, following `@odata.nextLink` on Graph's origin only.
    async fn graph_list(&self, path: &str, what: &str) -> Result<Vec<Value>, IdpError> {
        let origin = self.base().origin().to_owned();
        let mut url = format!("{}{path}", self.base());
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.get(&url, what).await?;
            let (page, next) = graph::read_page(&answer.body)?;
            items.extend(page);
            match next {
                None => return Ok(items),
                Some(next) if next.starts_with(&format!("{origin}/")) => url = next,
                Some(next) => {
                    return Err(IdpError::new(
                        ProviderKind::EntraId,
                        IdpErrorKind::Malformed,
                        format!("{what}: @odata.nextLink {next} leaves {origin}; not followed"),
                    ));
                }
            }
        }
        Err(IdpError::new(
            ProviderKind::EntraId,
            IdpErrorKind::Malformed,
            format!("{what}: more than {MAX_PAGES} pages"),
        ))
    }

    async fn read_graph(&self) -> Result<IdpApp, IdpError> {
        let id = &self.application.app_id;
        let mut found = None;
        for path in graph::application_paths(id) {
            let url = format!("{}{path}", self.base());
            match self.get(&url, &format!("application {id}")).await {
                Ok(answer) => {
                    found = Some(answer);
                    break;
                }
                Err(e) if e.kind == IdpErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let answer = found.ok_or_else(|| {
            IdpError::new(ProviderKind::EntraId, IdpErrorKind::NotFound, format!("no application has the application (client) id or object id {id} (idp.application.app_id)"))
        })?;
        let app_id = crate::idp_app::required(ProviderKind::EntraId, &answer.body, "appId")?;
        let principals = self
            .graph_list(
                &graph::service_principal_query(&app_id),
                &format!("service principal of {app_id}"),
            )
            .await?;
        let mut app = graph::read_app(&answer.body, principals.first(), answer.etag)?;
        if let Some(client_id) = &self.owner_check {
            let owners = self
                .graph_list(
                    &graph::owners_path(&app.id),
                    &format!("owners of application {}", app.id),
                )
                .await?;
            app.write_blocker = graph::ownership_blocker(&owners, client_id);
        }
        Ok(app)
    }

    async fn read_okta(&self) -> Result<IdpApp, IdpError> {
        let id = &self.application.app_id;
        let base = self.base();
        let app = self
            .get(
                &format!("{base}{}", okta::app_path(id)),
                &format!("app {id}"),
            )
            .await
            .map_err(|e| match e.kind {
                IdpErrorKind::NotFound => IdpError::new(
                    ProviderKind::Okta,
                    IdpErrorKind::NotFound,
                    format!(
                        "no app has the id {id} (idp.application.app_id): {}",
                        e.message
                    ),
                ),
                _ => e,
            })?;
        let keys = self
            .get(
                &format!("{base}{}", okta::keys_path(id)),
                &format!("signing keys of app {id}"),
            )
            .await?;
        Ok(okta::read_app(&app.body, &keys.body, app.etag)?)
    }
}

/// The time one review's IdP calls may take in all: a review makes about a dozen calls, and
/// the invocation must end within the function's 60 s.
const REVIEW_BUDGET: Duration = Duration::from_secs(40);

impl IdentityProviderApps for HttpApps {
    fn provider(&self) -> ProviderKind {
        self.client.provider
    }

    fn begin(&self) {
        self.limit_calls(REVIEW_BUDGET);
    }

    async fn read_app(&self) -> Result<IdpApp, IdpError> {
        match self.client.provider {
            ProviderKind::EntraId => self.read_graph().await,
            ProviderKind::Okta => self.read_okta().await,
        }
    }

    async fn update_app(&self, update: &AppUpdate) -> Result<(), IdpError> {
        let method = Method::from_bytes(update.method.as_bytes()).map_err(|_| {
            IdpError::new(
                self.client.provider,
                IdpErrorKind::Refused,
                format!("unknown method {}", update.method),
            )
        })?;
        let url = format!("{}{}", self.base(), update.path);
        self.client
            .send(&Call {
                method,
                url: &url,
                body: Some(&update.body),
                if_match: update.if_match.as_deref(),
                permission: permission(self.client.provider, true),
                what: &format!("application {}", self.application.app_id),
            })
            .await
            .map(|_| ())
    }
}

/// Reads the credentials secret's JSON and builds the adapter (at cold start).
pub fn from_secret(
    application: IdpApplication,
    secret: &str,
    write: bool,
) -> Result<HttpApps, IdpError> {
    let provider = application.provider.kind();
    let credentials = read_credentials(provider, secret)
        .map_err(|e| IdpError::new(provider, IdpErrorKind::Credentials, e.to_string()))?;
    HttpApps::new(
        application,
        credentials,
        write,
        Duration::from_secs(10),
        Duration::from_secs(5),
    )
}

/// The application's adapter as loaded at cold start: ready, or unusable for a reason every
/// check then reports ("cannot verify: ..."), so the rest of the guard still runs.
#[derive(Debug)]
pub enum LiveApps {
    /// Credentials read; calls go out.
    Ready(Box<HttpApps>),
    /// The secret is unreadable or malformed (the reason never holds its value).
    Unusable(IdpError),
}

/// Reads `application`'s credentials secret through `secrets` and builds the adapter. A
/// transient failure (throttling, the network) is an `Err`, so the cold start fails and is
/// retried; any other is [`LiveApps::Unusable`].
pub async fn load<S: SecretSource>(
    application: &IdpApplication,
    secrets: &S,
    write: bool,
) -> Result<LiveApps, PortError> {
    let provider = application.provider.kind();
    match secrets.secret_string(&application.credentials_secret).await {
        Ok(text) => Ok(match from_secret(application.clone(), &text, write) {
            Ok(apps) => LiveApps::Ready(Box::new(apps)),
            Err(e) => LiveApps::Unusable(e),
        }),
        Err(e) if e.retryable() => Err(e),
        Err(e) => Ok(LiveApps::Unusable(IdpError::new(
            provider,
            IdpErrorKind::Credentials,
            format!(
                "the credentials secret {} could not be read: {e}",
                application.credentials_secret
            ),
        ))),
    }
}

/// [`load`] with the secret read from Secrets Manager (at `endpoint` when given), in the
/// Region its ARN names: what every function and command that talks to the IdP starts with.
#[cfg(feature = "aws")]
pub async fn load_from_secrets_manager(
    application: &IdpApplication,
    sdk: &crate::aws::SdkConfig,
    endpoint: Option<String>,
    write: bool,
) -> Result<LiveApps, PortError> {
    let secrets = crate::aws::secrets::SecretsManagerSecrets::for_secret(
        sdk,
        endpoint,
        &application.credentials_secret,
    );
    load(application, &secrets, write).await
}

impl IdentityProviderApps for LiveApps {
    fn provider(&self) -> ProviderKind {
        match self {
            LiveApps::Ready(apps) => apps.provider(),
            LiveApps::Unusable(e) => e.provider,
        }
    }

    fn begin(&self) {
        if let LiveApps::Ready(apps) = self {
            apps.begin();
        }
    }

    async fn read_app(&self) -> Result<IdpApp, IdpError> {
        match self {
            LiveApps::Ready(apps) => apps.read_app().await,
            LiveApps::Unusable(e) => Err(e.clone()),
        }
    }

    async fn update_app(&self, update: &AppUpdate) -> Result<(), IdpError> {
        match self {
            LiveApps::Ready(apps) => apps.update_app(update).await,
            LiveApps::Unusable(e) => Err(e.clone()),
        }
    }
}
