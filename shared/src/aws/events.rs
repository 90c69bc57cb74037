//! [`FindingBus`] over EventBridge `PutEvents` to the idc-guard bus.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::errors::port_error;
use crate::finding::Finding;
use crate::ports::{FindingBus, PortError, PortErrorKind};

/// The `source` of every finding event.
pub const FINDING_SOURCE: &str = "idc-guard";
/// The `detail-type` of every finding event.
pub const FINDING_DETAIL_TYPE: &str = "IdC Guard Finding";
/// PutEvents takes at most 10 entries per call.
const BATCH: usize = 10;

/// Publishes findings to one bus, in the SDK configuration's Region.
#[derive(Debug)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
    region: String,
}

impl EventBridgeBus {
    /// A publisher to `bus_name` (name or ARN), at `endpoint` when given.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>, bus_name: &str) -> EventBridgeBus {
        let mut builder = aws_sdk_eventbridge::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        EventBridgeBus {
            client: Client::from_conf(builder.build()),
            bus_name: bus_name.to_owned(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }
}

impl FindingBus for EventBridgeBus {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PortError> {
        const OP: &str = "events:PutEvents";
        for batch in findings.chunks(BATCH) {
            let entries: Vec<PutEventsRequestEntry> = batch
                .iter()
                .map(|f| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(FINDING_SOURCE)
                        .detail_type(FINDING_DETAIL_TYPE)
                        .resources(&f.resource)
                        .detail(serde_json::to_string(f).unwrap_or_default())
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| port_error(OP, &self.region, &e))?;
            if out.failed_entry_count() > 0 {
                let reasons: Vec<String> = out
                    .entries()
                    .iter()
                    .filter_map(|e| {
                        e.error_code()
                            .map(|c| format!("{c}: {}", e.error_message().unwrap_or_default()))
                    })
                    .collect();
                return Err(PortError::new(
                    OP,
                    self.region.clone(),
                    PortErrorKind::Transient,
                    format!(
                        "{} of {} entries failed: {}",
                        out.failed_entry_count(),
                        batch.len(),
                        reasons.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }
}
