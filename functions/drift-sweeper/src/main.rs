//! The drift-sweeper Lambda: settings and clients once, then one sweep per scheduled event.

use std::sync::Arc;

use drift_sweeper::{aws_sweeper, handle, settings_from_env};
use idc_guard_core::aws::{Endpoints, load_sdk_config};
use idc_guard_lambda::now;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// The policy analysis allocates many small values; mimalloc serves them faster than the
// system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = settings_from_env(|name| std::env::var(name).ok())?;
    let sdk = load_sdk_config().await;
    let sweeper = Arc::new(aws_sweeper(&sdk, settings, &Endpoints::default()).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let sweeper = Arc::clone(&sweeper);
        async move { handle(&sweeper, &event.payload, now()).await }
    }))
    .await
}
