//! The idp-guard Lambda: settings and clients once, then one handler call per event.

use std::sync::Arc;

use idc_guard_core::aws::{Endpoints, load_sdk_config};
use idc_guard_lambda::now;
use idp_guard::{aws_idp_guard, handle, settings_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// The policy analysis allocates many small values; mimalloc serves them faster than the
// system allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting fails the init phase with a message naming the variable.
    let settings = settings_from_env(|name| std::env::var(name).ok())?;
    let sdk = load_sdk_config().await;
    let guard = Arc::new(aws_idp_guard(&sdk, settings, &Endpoints::default()).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let guard = Arc::clone(&guard);
        async move { handle(&guard, &event.payload, now()).await }
    }))
    .await
}
