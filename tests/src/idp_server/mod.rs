//! A local Microsoft Graph (v1.0) and Okta (Apps API) for the IdP adapters' tests and the
//! demo, speaking the documented request and response shapes over loopback HTTP: the token
//! endpoints (client secret, signed JWT assertions verified, Okta SSWS), the application reads
//! and writes, `@odata.nextLink` paging, 429 with `Retry-After` (Graph) or
//! `X-Rate-Limit-Reset` (Okta), expired tokens (401), missing permissions (403), and, when
//! asked, ETags with `If-Match` (412), which neither provider documents for these objects: they
//! exercise the adapters' generic path.

pub mod fixtures;
mod graph;
mod okta;
mod token;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use world::{IdpWorld, TokenInfo};

/// The server, running.
#[derive(Debug)]
pub struct IdpServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    world: Arc<Mutex<IdpWorld>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl IdpServer {
    /// Serves `world` on 127.0.0.1 at a free port.
    pub async fn start(mut world: IdpWorld) -> std::io::Result<IdpServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        world.url.clone_from(&url);
        let world = Arc::new(Mutex::new(world));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&world));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(IdpServer {
            url,
            world,
            shutdown: Some(tx),
            task,
        })
    }

    /// The world, to read or change between calls.
    pub fn world(&self) -> MutexGuard<'_, IdpWorld> {
        lock(&self.world)
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for IdpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn lock(world: &Mutex<IdpWorld>) -> MutexGuard<'_, IdpWorld> {
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One request, routed by path.
async fn handle(
    State(world): State<Arc<Mutex<IdpWorld>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = lock(&world);
    let path = uri.path().to_owned();
    let query = uri.query().map(percent_decode).unwrap_or_default();
    w.log.push(format!("{method} {path}"));
    let body = String::from_utf8_lossy(&body).into_owned();
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return token::entra(&mut w, &path, &body);
    }
    if method == Method::POST && path == "/oauth2/v1/token" {
        return token::okta(&mut w, &body);
    }
    if let Some(rest) = path.strip_prefix("/v1.0/") {
        return graph::handle(&mut w, &method, rest, &query, &headers, &body);
    }
    if let Some(rest) = path.strip_prefix("/api/v1/apps/") {
        return okta::handle(&mut w, &method, rest, &headers, &body);
    }
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": "no such path"}),
        &[],
    )
}

/// A JSON response with extra headers.
pub(crate) fn json_response(
    status: StatusCode,
    body: &Value,
    headers: &[(&str, String)],
) -> Response {
    let mut response = (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// `%XX` and `+` decoded (query strings and form bodies).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            Some(b'+') => out.push(b' '),
            Some(b) => out.push(*b),
            None => {}
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `name` in a form body or decoded query (`a=1&b=2`).
pub(crate) fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}
