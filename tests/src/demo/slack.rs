//! A Slack incoming-webhook stand-in on loopback: keeps every message posted to it.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;

/// The receiver.
#[derive(Debug)]
pub struct SlackReceiver {
    /// The webhook URL to put in the secret.
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SlackReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(store): State<Arc<Mutex<Vec<Value>>>>, body: String) -> &'static str {
    let message = serde_json::from_str(&body).unwrap_or(Value::String(body));
    store
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(message);
    "ok"
}

impl SlackReceiver {
    /// Starts on a free loopback port.
    pub async fn start() -> std::io::Result<SlackReceiver> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/services/demo/webhook", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/services/demo/webhook", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(SlackReceiver {
            url,
            received,
            task,
        })
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A message's headline: its top-level `text` (what a phone shows).
pub fn headline(message: &Value) -> String {
    message
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("(no text)")
        .to_owned()
}
