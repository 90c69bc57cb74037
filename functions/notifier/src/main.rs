//! The notifier Lambda: settings and clients once, the webhook URL read at cold start, then
//! one handler call per finding event.

use std::sync::Arc;

use idc_guard_core::aws::load_sdk_config;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notifier::{Settings, aws_notifier, now};
use serde_json::Value;

// The policy analysis allocates many small values; mimalloc serves them faster than the
// system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting fails the init phase with a message naming the variable.
    let settings = Settings::from_env(|name| std::env::var(name).ok())?;
    let sdk = load_sdk_config().await;
    let notifier = Arc::new(aws_notifier(&sdk, settings)?);
    // Cold start: read and cache the webhook URL. A failure is not fatal here: the first
    // invocation tries again and fails (and is retried) if it still cannot.
    if let Err(e) = notifier.webhook_url().await {
        tracing::warn!(error = %e, "webhook url not read at cold start; retrying on first use");
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let notifier = Arc::clone(&notifier);
        async move { notifier.handle(&event.payload, now()).await }
    }))
    .await
}
