//! A local AWS Lambda Runtime API (the protocol `lambda_runtime` polls), so the real release
//! binary of a function runs here exactly as in Lambda: it asks for the next event and posts
//! the response or error. Used by the cold-start harness and the demo.
//!
//! Endpoints (Runtime API 2018-06-01): `GET /runtime/invocation/next`,
//! `POST /runtime/invocation/{id}/response`, `POST /runtime/invocation/{id}/error`,
//! `POST /runtime/init/error`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// What a function answered to one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The handler's response.
    Response(Value),
    /// The handler's (or init's) error document.
    Error(Value),
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<(String, Value, oneshot::Sender<Answer>)>,
    in_flight: Vec<(String, oneshot::Sender<Answer>)>,
    init_error: Option<Value>,
    next_id: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    arrived: Notify,
    /// When the function first asked for an event: the end of its init phase.
    first_poll: Mutex<Option<Instant>>,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running Runtime API.
#[derive(Debug)]
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`: the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Starts on a free loopback port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            address,
            shared,
            task,
        })
    }

    /// When the function first polled for an event (`None` until it has).
    pub fn first_poll(&self) -> Option<Instant> {
        *self
            .shared
            .first_poll
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `event` and waits (up to `timeout`) for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Answer, String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.shared.queue();
            if let Some(e) = &q.init_error {
                return Err(format!("the function failed to initialise: {e}"));
            }
            q.next_id += 1;
            let id = format!("req-{}", q.next_id);
            q.pending.push_back((id, event, tx));
        }
        self.shared.arrived.notify_one();
        let started = Instant::now();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err("the invocation was dropped".to_owned()),
            Err(_) => {
                let init = self.shared.queue().init_error.clone();
                Err(match init {
                    Some(e) => format!("the function failed to initialise: {e}"),
                    None => format!("no answer within {:?}", started.elapsed()),
                })
            }
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .first_poll
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(Instant::now);
    loop {
        let notified = shared.arrived.notified();
        let item = {
            let mut q = shared.queue();
            let popped = q.pending.pop_front();
            popped.map(|(id, event, tx)| {
                q.in_flight.push((id.clone(), tx));
                (id, event)
            })
        };
        if let Some((id, event)) = item {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                + 60_000;
            return (
                StatusCode::OK,
                [
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:local".to_owned(),
                    ),
                    ("content-type", "application/json".to_owned()),
                ],
                event.to_string(),
            )
                .into_response();
        }
        notified.await;
    }
}

fn finish(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    let mut q = shared.queue();
    match q.in_flight.iter().position(|(i, _)| i == id) {
        Some(pos) => {
            let (_, tx) = q.in_flight.remove(pos);
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_body(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, Answer::Response(json_body(&body)))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, Answer::Error(json_body(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared.queue().init_error = Some(json_body(&body));
    StatusCode::ACCEPTED
}

/// The environment Lambda gives a function, pointing at `runtime_api`.
pub fn lambda_environment(runtime_api: &str, function: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
    ]
}
