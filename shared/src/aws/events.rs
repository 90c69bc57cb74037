//! [`FindingBus`] over EventBridge `PutEvents` to the idc-guard bus.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::errors::port_error;
use crate::finding::Finding;
use crate::ports::{FindingBus, PortError, PortErrorKind};

pub use crate::finding::{FINDING_DETAIL_TYPE, FINDING_SOURCE};
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

/// PutEvents takes at most 256 KiB per request, counting each entry's Source, DetailType,
/// Detail and Resources; a margin stays for what AWS adds.
const MAX_BATCH_BYTES: usize = 250 * 1024;

/// One finding as an EventBridge entry, with its size as PutEvents counts it.
fn entry(bus: &str, f: &Finding) -> (PutEventsRequestEntry, usize) {
    let detail = serde_json::to_string(f).unwrap_or_default();
    let size = FINDING_SOURCE.len() + FINDING_DETAIL_TYPE.len() + detail.len() + f.resource.len();
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(FINDING_SOURCE)
        .detail_type(FINDING_DETAIL_TYPE)
        .resources(&f.resource)
        .detail(detail)
        .build();
    (entry, size)
}

/// Splits entries into PutEvents requests: at most 10 entries and [`MAX_BATCH_BYTES`] each.
fn batches(entries: Vec<(PutEventsRequestEntry, usize)>) -> Vec<Vec<PutEventsRequestEntry>> {
    let mut out: Vec<Vec<PutEventsRequestEntry>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (entry, size) in entries {
        if !current.is_empty() && (current.len() == BATCH || bytes + size > MAX_BATCH_BYTES) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(entry);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl FindingBus for EventBridgeBus {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PortError> {
        const OP: &str = "events:PutEvents";
        let entries = findings.iter().map(|f| entry(&self.bus_name, f)).collect();
        for batch in batches(entries) {
            let count = batch.len();
            let out = self
                .client
                .put_events()
                .set_entries(Some(batch))
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
                        "{} of {count} entries failed: {}",
                        out.failed_entry_count(),
                        reasons.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(message_len: usize) -> Finding {
        Finding {
            check: crate::finding::CheckId::KpAdmin,
            status: crate::finding::Status::Fail,
            severity: crate::finding::Severity::Critical,
            region: "us-east-1".into(),
            resource: "arn:aws:kms:us-east-1:111122223333:key/mrk-1".into(),
            message: "x".repeat(message_len),
            statement: None,
            fingerprint: "f".into(),
            trigger: None,
            remediation: None,
            resolves: None,
        }
    }

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<_> = (0..23).map(|_| entry("b", &finding(10))).collect();
        let sizes: Vec<usize> = batches(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
        // Findings carrying a 32 KiB policy (escaped, larger): fewer per request.
        let large: Vec<_> = (0..10).map(|_| entry("b", &finding(70 * 1024))).collect();
        let sizes: Vec<usize> = batches(large).iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
    }
}
