//! The OCSF 1.6 Compliance Finding (class 2003) as idc-guard writes it: one set of types for
//! the evidence collector that writes a record and the reports that read it back, so the two
//! cannot drift apart. Field order is the stored order (the record's bytes, and so its
//! checksum, depend on it).
//!
//! Reading is lenient where OCSF allows absence (an optional attribute, an older record
//! without `unmapped.remediation`), strict where a record would be meaningless without it.

use serde::{Deserialize, Serialize};

use crate::finding::Trigger;

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceFinding {
    /// 2003.
    pub class_uid: u32,
    /// "Compliance Finding".
    pub class_name: String,
    /// 2, Findings.
    pub category_uid: u32,
    /// "Findings".
    pub category_name: String,
    /// 1, Create: a record is written once.
    pub activity_id: u32,
    /// "Create".
    pub activity_name: String,
    /// `class_uid * 100 + activity_id`.
    pub type_uid: u32,
    /// "Compliance Finding: Create".
    pub type_name: String,
    /// When the finding's change happened, epoch milliseconds.
    pub time: i64,
    /// 1 Informational .. 5 Critical.
    pub severity_id: u32,
    /// The severity's caption.
    pub severity: String,
    /// 1 New, 4 Resolved.
    pub status_id: u32,
    /// The status's caption.
    pub status: String,
    /// The finding's message.
    pub message: String,
    /// The check as a control.
    pub compliance: Compliance,
    /// The finding's identity.
    pub finding_info: FindingInfo,
    /// The key or instance.
    pub resources: Vec<Resource>,
    /// Where.
    pub cloud: Cloud,
    /// Schema and product.
    pub metadata: Metadata,
    /// What OCSF has no attribute for.
    pub unmapped: Unmapped,
}

/// `compliance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compliance {
    /// The check id (`KP-ADMIN`).
    pub control: String,
    /// The check's title.
    pub requirements: Vec<String>,
    /// `["idc-guard"]`.
    pub standards: Vec<String>,
    /// 1 Pass, 2 Warning, 3 Fail, 99 Other (the check could not run).
    pub status_id: u32,
    /// The status's caption.
    pub status: String,
}

/// `finding_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingInfo {
    /// The finding's fingerprint.
    pub uid: String,
    /// `<check> <status> in <Region>`.
    pub title: String,
    /// The message.
    pub desc: String,
    /// As `time`.
    pub created_time: i64,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The ARN.
    pub uid: String,
    /// `AWS::KMS::Key`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The Region.
    pub region: String,
}

/// `cloud`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cloud {
    /// "AWS".
    pub provider: String,
    /// The Region.
    pub region: String,
    /// The account, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<Account>,
}

/// `cloud.account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The 12-digit id.
    pub uid: String,
    /// "AWS Account".
    #[serde(rename = "type")]
    pub kind: String,
    /// 10, AWS Account.
    pub type_id: u32,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The OCSF version.
    pub version: String,
    /// The record's id: fingerprint and change.
    pub uid: String,
    /// Who wrote it.
    pub product: Product,
}

/// `metadata.product`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// "idc-guard".
    pub name: String,
    /// The operator's organization.
    pub vendor_name: String,
    /// The idc-guard version that wrote the record.
    pub version: String,
}

/// `unmapped`: the finding's own words, so it can be rebuilt from the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmapped {
    /// The check id.
    pub check: String,
    /// pass | fail | warn | error.
    pub status: String,
    /// critical | high | medium | low | info.
    pub severity: String,
    /// The statement the finding names, by Sid and index.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub statement: Option<String>,
    /// The change that triggered the check.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trigger: Option<Trigger>,
    /// What was done about it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remediation: Option<RemediationRecord>,
    /// On a resolution: the fingerprint (`finding_info.uid`) of the failure it ends, which
    /// links the two records.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resolves: Option<String>,
    /// The event that carried the finding to the collector.
    pub source_event: SourceEvent,
}

/// `unmapped.remediation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRecord {
    /// dry-run | notify | remediate.
    pub mode: String,
    /// The actions, in words.
    pub actions: Vec<String>,
    /// applied | planned | skipped | failed.
    pub outcome: String,
    /// The key policy the remediation replaced, exactly as KMS returned it (always written,
    /// `null` when nothing was replaced).
    #[serde(default)]
    pub previous_policy: Option<String>,
}

/// `unmapped.source_event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEvent {
    /// The EventBridge event id.
    pub id: String,
    /// Its time, RFC 3339.
    pub time: String,
}
