//! [`ClaimStore`] and [`ActionBudget`] over one DynamoDB table (partition key `pk`, string;
//! TTL attribute `expires_at`). Claims are `claim#<fingerprint>`, breaker counters
//! `breaker#<key arn>#<window start>`, the outbox `outbox#<event id>`, and the open-failure
//! ledgers `open#<resource>#<Region>` (a versioned JSON map). All rely on conditional writes,
//! so concurrent invocations never both win.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::errors::port_error;
use crate::domain::time::Timestamp;
use crate::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimRecord, ClaimStore, Ledger, PortError,
};

const HELD: &str = "held";
const SETTLED: &str = "settled";

/// The idempotency and circuit-breaker table.
#[derive(Debug)]
pub struct DynamoClaims {
    client: Client,
    table: String,
    region: String,
}

impl DynamoClaims {
    /// The table `table`, at `endpoint` when given.
    pub fn new(sdk: &SdkConfig, endpoint: Option<String>, table: &str) -> DynamoClaims {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        DynamoClaims {
            client: Client::from_conf(builder.build()),
            table: table.to_owned(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    fn err<E>(
        &self,
        op: &str,
        e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> PortError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        // The KMS and DynamoDB crates share the runtime's error and response types.
        port_error(op, &self.region, e)
    }

    async fn record(&self, pk: &str) -> Result<Option<ClaimRecord>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("dynamodb:GetItem", &e))?;
        Ok(out.item().and_then(read_record))
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn read_record(item: &HashMap<String, AttributeValue>) -> Option<ClaimRecord> {
    match item.get("state")?.as_s().ok()?.as_str() {
        HELD => Some(ClaimRecord::Held {
            lease_until: Timestamp(number(item, "lease_until")?),
        }),
        SETTLED => Some(ClaimRecord::Settled {
            at: Timestamp(number(item, "settled_at")?),
        }),
        _ => None,
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl ClaimStore for DynamoClaims {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        let pk = format!("claim#{}", claim.fingerprint);
        // The condition is ClaimRecord::yields_to, plus "no record" and "record expired"
        // (DynamoDB's TTL deletes lazily, so expiry is checked here too).
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("state", AttributeValue::S(HELD.to_owned()))
            .item("lease_until", n(claim.lease_until.0))
            .item("claimed_at", n(claim.now.0))
            .item("expires_at", n(claim.expires.0))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now \
                 OR (#s = :held AND lease_until < :now) \
                 OR (#s = :settled AND settled_at < :change)",
            )
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":now", n(claim.now.0))
            .expression_attribute_values(":change", n(claim.change_time.0))
            .expression_attribute_values(":held", AttributeValue::S(HELD.to_owned()))
            .expression_attribute_values(":settled", AttributeValue::S(SETTLED.to_owned()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(ClaimOutcome::Granted),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                let by = self.record(&pk).await?.unwrap_or(ClaimRecord::Held {
                    lease_until: claim.lease_until,
                });
                Ok(ClaimOutcome::Duplicate { by })
            }
            Err(e) => Err(self.err("dynamodb:PutItem", &e)),
        }
    }

    async fn settle(&self, fingerprint: &str, now: Timestamp) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("claim#{fingerprint}")))
            .update_expression("SET #s = :settled, settled_at = :now")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":settled", AttributeValue::S(SETTLED.to_owned()))
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await
            .map_err(|e| self.err("dynamodb:UpdateItem", &e))?;
        Ok(())
    }

    async fn stash(
        &self,
        event_id: &str,
        findings: &str,
        expires: Timestamp,
    ) -> Result<(), PortError> {
        self.put_outbox(event_id, findings, expires).await
    }

    async fn take_stashed(&self, event_id: &str) -> Result<Option<String>, PortError> {
        // DeleteItem returning the old item: two concurrent retries never both take it.
        self.delete_outbox(event_id).await
    }

    async fn open_failures(&self, scope: &str) -> Result<Ledger, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("open#{scope}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("dynamodb:GetItem", &e))?;
        let Some(item) = out.item() else {
            return Ok(Ledger::default());
        };
        Ok(Ledger {
            version: number(item, "version")
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or_default(),
            // An unreadable ledger is read as empty at its version: the next write replaces it.
            open: item
                .get("failures")
                .and_then(|v| v.as_s().ok())
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            expires: number(item, "expires_at").map(Timestamp),
        })
    }

    async fn write_failures(
        &self,
        scope: &str,
        ledger: &Ledger,
        expires: Timestamp,
    ) -> Result<bool, PortError> {
        let pk = AttributeValue::S(format!("open#{scope}"));
        let version = i64::try_from(ledger.version).unwrap_or(i64::MAX);
        let written = if ledger.open.is_empty() {
            if ledger.version == 0 {
                return Ok(true);
            }
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", pk)
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(version))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| conflict_or(e, |e| self.err("dynamodb:DeleteItem", &e)))
        } else {
            let failures = serde_json::to_string(&ledger.open).unwrap_or_default();
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", pk)
                .item("failures", AttributeValue::S(failures))
                .item("version", n(version.saturating_add(1)))
                .item("expires_at", n(expires.0));
            let put = if ledger.version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("version = :v")
                    .expression_attribute_values(":v", n(version))
            };
            put.send()
                .await
                .map(|_| ())
                .map_err(|e| conflict_or(e, |e| self.err("dynamodb:PutItem", &e)))
        };
        match written {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(e),
        }
    }

    async fn release(&self, fingerprint: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("claim#{fingerprint}")))
            .send()
            .await
            .map_err(|e| self.err("dynamodb:DeleteItem", &e))?;
        Ok(())
    }
}

/// A failed conditional write is `None` (another writer came first); anything else is the
/// port error.
fn conflict_or<E, F>(
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    or: F,
) -> Option<PortError>
where
    E: ConditionFailed,
    F: FnOnce(SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> PortError,
{
    if e.as_service_error()
        .is_some_and(ConditionFailed::condition_failed)
    {
        None
    } else {
        Some(or(e))
    }
}

/// The conditional-check failure of a write operation's error.
trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::delete_item::DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl DynamoClaims {
    async fn put_outbox(
        &self,
        event_id: &str,
        findings: &str,
        expires: Timestamp,
    ) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("outbox#{event_id}")))
            .item("findings", AttributeValue::S(findings.to_owned()))
            .item("expires_at", n(expires.0))
            .send()
            .await
            .map_err(|e| self.err("dynamodb:PutItem", &e))?;
        Ok(())
    }

    async fn delete_outbox(&self, event_id: &str) -> Result<Option<String>, PortError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("outbox#{event_id}")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.err("dynamodb:DeleteItem", &e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get("findings"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }
}

impl ActionBudget for DynamoClaims {
    async fn take(
        &self,
        key_arn: &str,
        window_start: Timestamp,
        limit: u32,
        expires: Timestamp,
    ) -> Result<Budget, PortError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("breaker#{key_arn}#{}", window_start.0)),
            )
            .update_expression("ADD used :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(used) OR used < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires.0))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let used = out
                    .attributes()
                    .and_then(|a| number(a, "used"))
                    .and_then(|u| u32::try_from(u).ok())
                    .unwrap_or(limit);
                Ok(Budget::Granted { used })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Budget::Exhausted { limit })
            }
            Err(e) => Err(self.err("dynamodb:UpdateItem", &e)),
        }
    }
}
