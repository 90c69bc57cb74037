//! The sso-admin operations on the wire: read each operation's JSON input (member names as in
//! aws-sdk-ssoadmin's serialisers), run it on the state machine (with the KMS key check where
//! one is due) and write the JSON output the SDK's deserialisers expect.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::Emulator;
use super::error::{ApiError, ErrorCode};
use super::key_check::{CheckFor, KeyChecker, verdict_error};
use super::names;
use super::state::{EncryptionUpdate, InstanceUpdate, InstanceView, KeyProbe, KeyType, RegionView};

/// The operations served; any other `SWBExternalService.*` target is refused.
pub const OPERATIONS: &[&str] = &[
    "ListInstances",
    "DescribeInstance",
    "UpdateInstance",
    "AddRegion",
    "RemoveRegion",
    "DescribeRegion",
    "ListRegions",
];

const INSTANCE_ARN_PATTERN: &str =
    "arn:aws(-[a-z]{1,5}){0,3}:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}";
const REGION_PATTERN: &str = "([a-z]+-){2,3}\\d";

/// Runs `op` for a caller in Region `caller`; `body` is the raw request body.
pub async fn call(
    emulator: &Emulator,
    op: &str,
    caller: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let input = Input::parse(op, body)?;
    match op {
        "ListInstances" => {
            let _ = input.max_results()?;
            if input.optional_str("NextToken")?.is_some() {
                // There is never a second page of one instance, so no token is ours.
                return Err(input.invalid("NextToken", "is not a token ListInstances returned"));
            }
            let list = emulator.with_state(|s| s.list_instances(caller, SystemTime::now()));
            Ok(json!({ "Instances": list.iter().map(instance_metadata).collect::<Vec<_>>() }))
        }
        "DescribeInstance" => {
            let arn = input.instance_arn()?;
            let view =
                emulator.with_state(|s| s.describe_instance(caller, arn, SystemTime::now()))?;
            Ok(describe_instance(&view))
        }
        "DescribeRegion" => {
            let arn = input.instance_arn()?;
            let region = input.region_name()?;
            let view = emulator
                .with_state(|s| s.describe_region(caller, arn, region, SystemTime::now()))?;
            Ok(region_metadata(&view))
        }
        "ListRegions" => {
            let arn = input.instance_arn()?;
            let max = input.max_results()?;
            let token = input.optional_str("NextToken")?;
            let page = emulator
                .with_state(|s| s.list_regions(caller, arn, max, token, SystemTime::now()))?;
            let mut out = json!({
                "Regions": page.regions.iter().map(region_metadata).collect::<Vec<_>>(),
            });
            if let (Some(token), Some(obj)) = (page.next_token, out.as_object_mut()) {
                obj.insert("NextToken".to_owned(), token.into());
            }
            Ok(out)
        }
        "AddRegion" => {
            let arn = input.instance_arn()?;
            let region = input.region_name()?;
            let probe = emulator
                .with_state(|s| s.prepare_add_region(caller, arn, region, SystemTime::now()))?;
            if let Some(checker) = emulator.key_checker() {
                check_keys(checker, CheckFor::AddRegion, &[probe]).await?;
            }
            let status =
                emulator.with_state(|s| s.add_region(caller, arn, region, SystemTime::now()))?;
            Ok(json!({ "Status": status.as_str() }))
        }
        "RemoveRegion" => {
            let arn = input.instance_arn()?;
            let region = input.region_name()?;
            let status =
                emulator.with_state(|s| s.remove_region(caller, arn, region, SystemTime::now()))?;
            Ok(json!({ "Status": status.as_str() }))
        }
        "UpdateInstance" => {
            let arn = input.instance_arn()?;
            let update = input.instance_update()?;
            let probes = emulator.with_state(|s| {
                s.prepare_update_instance(caller, arn, &update, SystemTime::now())
            })?;
            if let Some(checker) = emulator.key_checker() {
                check_keys(checker, CheckFor::UpdateInstance, &probes).await?;
            }
            emulator.with_state(|s| s.update_instance(caller, arn, &update, SystemTime::now()))?;
            Ok(json!({}))
        }
        other => Err(unknown_operation(other)),
    }
}

/// `UnknownOperationException` for `op`.
pub fn unknown_operation(op: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownOperation,
        format!(
            "SWBExternalService.{op} is not an operation idc-emulator serves (it serves {})",
            OPERATIONS.join(", ")
        ),
    )
}

/// Probes the keys one by one; the first unusable one fails the call.
async fn check_keys(
    checker: &dyn KeyChecker,
    op: CheckFor,
    probes: &[KeyProbe],
) -> Result<(), ApiError> {
    for probe in probes {
        let verdict = checker.check(&probe.key_arn, &probe.region).await;
        tracing::debug!(key = %probe.key_arn, region = %probe.region, ?verdict, "KMS key check");
        if let Some(err) = verdict_error(&verdict, op, &probe.key_arn, &probe.region) {
            return Err(err);
        }
    }
    Ok(())
}

/// One request's JSON members.
struct Input<'a> {
    op: &'a str,
    members: Map<String, Value>,
}

impl<'a> Input<'a> {
    /// The body must be a JSON object; the SDK sends `{}` for an operation without input,
    /// and an empty body is read the same way.
    fn parse(op: &'a str, body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                op,
                members: Map::new(),
            });
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) => Ok(Self { op, members }),
            Ok(other) => Err(ApiError::validation(format!(
                "{op}: the request body must be a JSON object, not {}",
                json_kind(&other)
            ))),
            Err(e) => Err(ApiError::validation(format!(
                "{op}: the request body is not valid JSON: {e}"
            ))),
        }
    }

    /// A ValidationException about `member`, in AWS's wording (lower camel case member path).
    fn invalid(&self, member: &str, what: &str) -> ApiError {
        ApiError::validation(format!(
            "{}: 1 validation error detected: Value at '{}' {what}",
            self.op,
            lower_camel(member)
        ))
    }

    fn optional_str(&self, member: &str) -> Result<Option<&str>, ApiError> {
        str_member(&self.members, member).map_err(|what| self.invalid(member, what))
    }

    fn required_str(&self, member: &str) -> Result<&str, ApiError> {
        self.optional_str(member)?.ok_or_else(|| {
            self.invalid(
                member,
                "failed to satisfy constraint: Member must not be null",
            )
        })
    }

    fn instance_arn(&self) -> Result<&str, ApiError> {
        let arn = self.required_str("InstanceArn")?;
        if names::is_instance_arn(arn) {
            Ok(arn)
        } else {
            Err(self.invalid(
                "InstanceArn",
                &format!(
                    "({arn:?}) failed to satisfy constraint: Member must satisfy regular expression pattern: {INSTANCE_ARN_PATTERN}"
                ),
            ))
        }
    }

    fn region_name(&self) -> Result<&str, ApiError> {
        let region = self.required_str("RegionName")?;
        if names::is_region_name(region) {
            Ok(region)
        } else {
            Err(self.invalid(
                "RegionName",
                &format!(
                    "({region:?}) failed to satisfy constraint: Member must satisfy regular expression pattern: {REGION_PATTERN}"
                ),
            ))
        }
    }

    /// `MaxResults`, 1..=100.
    fn max_results(&self) -> Result<Option<usize>, ApiError> {
        let Some(value) = self.members.get("MaxResults").filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let n = value
            .as_i64()
            .ok_or_else(|| self.invalid("MaxResults", "must be an integer"))?;
        if (1..=100).contains(&n) {
            Ok(usize::try_from(n).ok())
        } else {
            Err(self.invalid(
                "MaxResults",
                &format!(
                    "({n}) failed to satisfy constraint: Member must have value between 1 and 100"
                ),
            ))
        }
    }

    /// UpdateInstance's `Name` and `EncryptionConfiguration { KeyType, KmsKeyArn }`.
    fn instance_update(&self) -> Result<InstanceUpdate, ApiError> {
        let name = self.optional_str("Name")?.map(str::to_owned);
        let encryption = match self.members.get("EncryptionConfiguration") {
            None | Some(Value::Null) => None,
            Some(Value::Object(enc)) => {
                let sub = |m: &str| format!("EncryptionConfiguration.{m}");
                let key_type = str_member(enc, "KeyType")
                    .map_err(|what| self.invalid(&sub("KeyType"), what))?
                    .ok_or_else(|| {
                        self.invalid(
                            &sub("KeyType"),
                            "failed to satisfy constraint: Member must not be null",
                        )
                    })?;
                let key_type = KeyType::parse(key_type).ok_or_else(|| {
                    self.invalid(
                        &sub("KeyType"),
                        &format!("({key_type:?}) failed to satisfy constraint: Member must satisfy enum value set: [AWS_OWNED_KMS_KEY, CUSTOMER_MANAGED_KEY]"),
                    )
                })?;
                let kms_key_arn = str_member(enc, "KmsKeyArn")
                    .map_err(|what| self.invalid(&sub("KmsKeyArn"), what))?
                    .map(str::to_owned);
                Some(EncryptionUpdate {
                    key_type,
                    kms_key_arn,
                })
            }
            Some(_) => {
                return Err(self.invalid("EncryptionConfiguration", "must be a JSON object"));
            }
        };
        Ok(InstanceUpdate { name, encryption })
    }
}

/// A string member: `Ok(None)` when absent or null, `Err(what is wrong)` when not a string.
fn str_member<'m>(
    members: &'m Map<String, Value>,
    member: &str,
) -> Result<Option<&'m str>, &'static str> {
    match members.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("must be a string"),
    }
}

/// `InstanceArn` -> `instanceArn`, per dotted segment, as AWS names members in messages.
fn lower_camel(path: &str) -> String {
    path.split('.')
        .map(|seg| {
            let mut chars = seg.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_lowercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// awsJson timestamps are epoch seconds, fractional allowed.
fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// `RegionMetadata` (also DescribeRegion's output, which has the same members).
fn region_metadata(r: &RegionView) -> Value {
    json!({
        "RegionName": r.name,
        "Status": r.status.as_str(),
        "AddedDate": epoch_seconds(r.added),
        "IsPrimaryRegion": r.is_primary,
    })
}

/// `InstanceMetadata` as ListInstances returns it.
fn instance_metadata(v: &InstanceView) -> Value {
    let mut out = json!({
        "InstanceArn": v.instance_arn,
        "IdentityStoreId": v.identity_store_id,
        "OwnerAccountId": v.owner_account_id,
        "CreatedDate": epoch_seconds(v.created),
        "Status": "ACTIVE",
        "PrimaryRegion": v.primary_region,
        "Regions": v.regions.iter().map(region_metadata).collect::<Vec<_>>(),
    });
    if let (Some(name), Some(obj)) = (&v.name, out.as_object_mut()) {
        obj.insert("Name".to_owned(), name.clone().into());
    }
    out
}

/// DescribeInstance's output: the metadata plus `EncryptionConfigurationDetails`.
/// aws-sdk-ssoadmin 1.106 reads no `PrimaryRegion`/`Regions` here (later models add them, and
/// the SDK skips members it does not know), so they are sent as well.
fn describe_instance(v: &InstanceView) -> Value {
    let mut out = instance_metadata(v);
    let mut enc = json!({
        "KeyType": v.encryption.key_type.as_str(),
        "EncryptionStatus": v.encryption.status.as_str(),
    });
    if let (Some(arn), Some(obj)) = (&v.encryption.kms_key_arn, enc.as_object_mut()) {
        obj.insert("KmsKeyArn".to_owned(), arn.clone().into());
    }
    if let Some(obj) = out.as_object_mut() {
        obj.insert("EncryptionConfigurationDetails".to_owned(), enc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_lower_camel() {
        assert_eq!(lower_camel("InstanceArn"), "instanceArn");
        assert_eq!(
            lower_camel("EncryptionConfiguration.KeyType"),
            "encryptionConfiguration.keyType"
        );
    }

    #[test]
    fn input_errors_name_the_member() {
        let input = Input::parse("AddRegion", br#"{"RegionName": 5}"#).unwrap();
        let err = input.instance_arn().unwrap_err();
        assert!(err.message.contains("'instanceArn'"), "{}", err.message);
        assert!(err.message.contains("must not be null"), "{}", err.message);
        let err = input.region_name().unwrap_err();
        assert!(
            err.message.contains("'regionName' must be a string"),
            "{}",
            err.message
        );
        let err = Input::parse("AddRegion", b"{nope").err().unwrap();
        assert_eq!(err.code, ErrorCode::Validation);
        assert!(err.message.starts_with("AddRegion:"), "{}", err.message);
        assert!(Input::parse("ListInstances", b"").is_ok());
    }
}
