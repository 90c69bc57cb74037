//! The securityhub-exporter Lambda: the Security Hub client once, then one handler call per
//! finding event.

use std::sync::Arc;

use idc_guard_core::aws::load_sdk_config;
use idc_guard_core::domain::arn::account_from_arn;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use securityhub_exporter::{Importer, SecurityHubImport, handle, now};
use serde_json::Value;

// The same allocator as every idc-guard function (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = load_sdk_config().await;
    // The endpoint comes from the SDK's own variables (AWS_ENDPOINT_URL, ..._SECURITYHUB).
    let hub = Arc::new(SecurityHubImport::new(&sdk, None));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let hub = Arc::clone(&hub);
        async move {
            let importer = Importer {
                region: hub.region().to_owned(),
                account: account_from_arn(&event.context.invoked_function_arn),
            };
            handle(&*hub, &importer, &event.payload, now()).await
        }
    }))
    .await
}
