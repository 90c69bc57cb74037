//! The evidence-collector Lambda: settings and the S3 client once, then one handler call per
//! finding event.

use std::sync::Arc;

use evidence_collector::{Settings, handle, handle_tick, is_tick, now};
use idc_guard_core::aws::load_sdk_config;
use idc_guard_core::aws::s3::S3EvidenceStore;
use idc_guard_core::aws::signing::KmsSigningKey;
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
    let settings = Arc::new(Settings::from_env(|name| std::env::var(name).ok())?);
    let sdk = load_sdk_config().await;
    // The endpoint comes from the SDK's own variables (AWS_ENDPOINT_URL, ..._S3).
    let store = Arc::new(S3EvidenceStore::new(&sdk, None, &settings.bucket));
    let signer = Arc::new(
        settings
            .digest_key
            .as_deref()
            .map(|key| KmsSigningKey::new(&sdk, None, key)),
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let store = Arc::clone(&store);
        let settings = Arc::clone(&settings);
        let signer = Arc::clone(&signer);
        async move {
            if is_tick(&event.payload) {
                handle_tick(&*store, signer.as_ref().as_ref(), &event.payload, now()).await
            } else {
                handle(&*store, &settings, &event.payload, now()).await
            }
        }
    }))
    .await
}
