//! Live state as the guards read it from AWS, in domain terms (no SDK types).

use serde::Serialize;

/// A KMS key state (`KeyState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled: Identity Center cannot use it.
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
    /// A primary scheduled for deletion that still has replicas.
    PendingReplicaDeletion,
    /// A new replica, usable in seconds.
    Creating,
    /// Any other state (`Unavailable`, `PendingImport`, `Updating`, ...), as KMS names it.
    Other(String),
}

impl KeyState {
    /// Reads KMS's name of a state.
    pub fn from_name(name: &str) -> KeyState {
        match name {
            "Enabled" => KeyState::Enabled,
            "Disabled" => KeyState::Disabled,
            "PendingDeletion" => KeyState::PendingDeletion,
            "PendingReplicaDeletion" => KeyState::PendingReplicaDeletion,
            "Creating" => KeyState::Creating,
            other => KeyState::Other(other.to_owned()),
        }
    }

    /// KMS's name of the state.
    pub fn name(&self) -> &str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::Creating => "Creating",
            KeyState::Other(name) => name,
        }
    }

    /// Whether deletion is scheduled.
    pub fn pending_deletion(&self) -> bool {
        matches!(
            self,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }
}

/// Whether a multi-Region key is the primary or a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MultiRegionRole {
    /// The primary key.
    Primary,
    /// A replica.
    Replica,
}

/// A key as `DescribeKey` shows it in one Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDescription {
    /// The key's ARN in this Region.
    pub arn: String,
    /// The key id (`mrk-...`).
    pub key_id: String,
    /// The Region the description was read in.
    pub region: String,
    /// The state.
    pub state: KeyState,
    /// `ENCRYPT_DECRYPT`, ...
    pub usage: String,
    /// `CUSTOMER` or `AWS`.
    pub manager: String,
    /// Multi-Region role, `None` for a single-Region key.
    pub multi_region: Option<MultiRegionRole>,
    /// The primary key's Region, for a multi-Region key.
    pub primary_region: Option<String>,
    /// The Regions of the replicas, as the description lists them.
    pub replica_regions: Vec<String>,
    /// When deletion happens, if scheduled (as KMS returned it).
    pub deletion_date: Option<String>,
}

/// A grant on the key (`ListGrants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The grant id.
    pub grant_id: String,
    /// The grant's name, if any.
    pub name: Option<String>,
    /// Who may use the grant: an ARN, an account or a service principal.
    pub grantee_principal: String,
    /// Who may retire it.
    pub retiring_principal: Option<String>,
    /// The account that created it.
    pub issuing_account: Option<String>,
    /// The operations it allows.
    pub operations: Vec<String>,
}

/// Everything a key-policy guard reads about the key in one Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySnapshot {
    /// The description.
    pub key: KeyDescription,
    /// The `default` key policy, as text.
    pub policy: String,
    /// The grants.
    pub grants: Vec<Grant>,
}

/// A Region of the Identity Center instance (`ListRegions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceRegion {
    /// The Region code.
    pub name: String,
    /// `ACTIVE`, `ADDING` or `REMOVING`.
    pub status: String,
    /// Whether it is the primary Region.
    pub is_primary: bool,
}

/// How the instance encrypts its data (`EncryptionConfigurationDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceEncryption {
    /// `AWS_OWNED_KMS_KEY` or `CUSTOMER_MANAGED_KEY`.
    pub key_type: String,
    /// The customer managed key, if any.
    pub kms_key_arn: Option<String>,
    /// `UPDATING`, `ENABLED` or `UPDATE_FAILED`.
    pub status: Option<String>,
    /// Why, when the update failed.
    pub reason: Option<String>,
}

/// The Identity Center instance as `DescribeInstance` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceDescription {
    /// The Region-less instance ARN.
    pub instance_arn: String,
    /// `ACTIVE`, ...
    pub status: String,
    /// The owning (management) account.
    pub owner_account_id: Option<String>,
    /// `d-...`.
    pub identity_store_id: Option<String>,
    /// The encryption configuration.
    pub encryption: Option<InstanceEncryption>,
}
