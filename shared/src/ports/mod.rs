//! Ports: the capabilities the guards need from the outside world, as small async traits over
//! domain types. AWS adapters live in the `aws` module (feature `aws`); tests use in-memory
//! implementations.
//!
//! There is deliberately no way to pass `BypassPolicyLockoutSafetyCheck` through
//! [`KeyStore::put_key_policy`]: KMS's own lockout check always stays on.

pub mod local;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;

use std::fmt;
use std::future::Future;

use serde::Serialize;

use crate::domain::live::{Grant, InstanceDescription, InstanceRegion, KeyDescription};
use crate::domain::time::Timestamp;
use crate::finding::Finding;
use crate::idp_app::{AppUpdate, IdpApp, IdpError, ProviderKind};

/// What went wrong talking to a service, in terms a guard can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PortErrorKind {
    /// The thing does not exist (in that Region).
    NotFound,
    /// Our role may not do that.
    AccessDenied,
    /// The resource's state forbids the call (KMS `KMSInvalidStateException`, a conflict).
    InvalidState,
    /// The service refused the input (e.g. `MalformedPolicyDocumentException`).
    Rejected,
    /// What the call creates exists already (`AlreadyExistsException`): typically an earlier
    /// attempt of the same call landed and its answer was lost.
    AlreadyExists,
    /// Throttling, timeouts, 5xx: a retry may help.
    Transient,
}

/// An error from a port: the operation, the Region, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} in {region}: {message}")]
pub struct PortError {
    /// `kms:PutKeyPolicy`, ...
    pub operation: String,
    /// The Region called.
    pub region: String,
    /// The class of error.
    pub kind: PortErrorKind,
    /// The service's message (error code first).
    pub message: String,
}

impl PortError {
    /// An error of `operation` in `region`.
    pub fn new(
        operation: impl Into<String>,
        region: impl Into<String>,
        kind: PortErrorKind,
        message: impl Into<String>,
    ) -> PortError {
        PortError {
            operation: operation.into(),
            region: region.into(),
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying the whole invocation later may help.
    pub fn retryable(&self) -> bool {
        self.kind == PortErrorKind::Transient
    }
}

/// Reads and changes the guarded KMS key, one Region at a time.
pub trait KeyStore: Send + Sync {
    /// `DescribeKey` in `region`; `key` is a key id, ARN or alias.
    fn describe_key(
        &self,
        region: &str,
        key: &str,
    ) -> impl Future<Output = Result<KeyDescription, PortError>> + Send;

    /// `GetKeyPolicy` (`default`).
    fn get_key_policy(
        &self,
        region: &str,
        key_id: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;

    /// `PutKeyPolicy` (`default`), with KMS's lockout safety check on.
    fn put_key_policy(
        &self,
        region: &str,
        key_id: &str,
        policy: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// `EnableKey`.
    fn enable_key(
        &self,
        region: &str,
        key_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// `CancelKeyDeletion` (leaves the key Disabled).
    fn cancel_key_deletion(
        &self,
        region: &str,
        key_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// `ListGrants`, every page.
    fn list_grants(
        &self,
        region: &str,
        key_id: &str,
    ) -> impl Future<Output = Result<Vec<Grant>, PortError>> + Send;

    /// `ReplicateKey` from the primary in `primary_region` to `replica_region`, with `policy`
    /// (KMS does not copy the primary's policy; a replica created without one gets the KMS
    /// default policy, which Identity Center cannot use). Lockout safety check on.
    fn replicate_key(
        &self,
        primary_region: &str,
        key_id: &str,
        replica_region: &str,
        policy: &str,
    ) -> impl Future<Output = Result<KeyDescription, PortError>> + Send;
}

/// Reads the Identity Center instance (sso-admin), from a given Region.
pub trait InstanceDirectory: Send + Sync {
    /// `DescribeInstance`.
    fn describe_instance(
        &self,
        region: &str,
        instance_arn: &str,
    ) -> impl Future<Output = Result<InstanceDescription, PortError>> + Send;

    /// `ListRegions`, every page.
    fn list_regions(
        &self,
        region: &str,
        instance_arn: &str,
    ) -> impl Future<Output = Result<Vec<InstanceRegion>, PortError>> + Send;
}

/// Publishes findings (EventBridge `PutEvents` to the idc-guard bus).
pub trait FindingBus: Send + Sync {
    /// Publishes every finding; an error means some may not have been delivered.
    fn publish(&self, findings: &[Finding]) -> impl Future<Output = Result<(), PortError>> + Send;
}

impl<T: FindingBus> FindingBus for &T {
    fn publish(&self, findings: &[Finding]) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).publish(findings)
    }
}

/// A request to handle a finding once: the fingerprint and the time of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// When the change that caused the finding happened (the event's time, or now for sweeps).
    pub change_time: Timestamp,
    /// Now.
    pub now: Timestamp,
    /// Until when an unsettled claim blocks others (longer than one invocation may run), so a
    /// crashed handler does not block the finding until the record expires.
    pub lease_until: Timestamp,
    /// When the record may be forgotten.
    pub expires: Timestamp,
}

/// How long a claim is remembered: longer than EventBridge's and Lambda's retry horizons.
pub const CLAIM_TTL_SECONDS: i64 = 24 * 3600;

/// How long an unsettled claim blocks others. It must exceed the function timeout (infra: 60
/// s), so a slow handler is not overtaken, and stay short, so Lambda's retries of a crashed
/// invocation (after about 1 and 3 minutes) can take the finding over.
pub const CLAIM_LEASE_SECONDS: i64 = 120;

impl Claim {
    /// A claim on `fingerprint` for the change at `change_time`, made `now`, with the standard
    /// lease and lifetime.
    pub fn new(fingerprint: &str, change_time: Timestamp, now: Timestamp) -> Claim {
        Claim {
            fingerprint: fingerprint.to_owned(),
            change_time,
            now,
            lease_until: now.plus(CLAIM_LEASE_SECONDS),
            expires: now.plus(CLAIM_TTL_SECONDS),
        }
    }
}

/// What a claim store remembers about a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRecord {
    /// Being handled; blocks others until the lease ends.
    Held {
        /// When the lease ends.
        lease_until: Timestamp,
    },
    /// Handled at this time.
    Settled {
        /// When.
        at: Timestamp,
    },
}

impl ClaimRecord {
    /// Whether `claim` may take over from this record: a lapsed lease, or a handling that
    /// settled before the change in question happened (so that change is new).
    /// Every claim store implements exactly this rule.
    pub fn yields_to(&self, claim: &Claim) -> bool {
        match *self {
            ClaimRecord::Held { lease_until } => lease_until < claim.now,
            ClaimRecord::Settled { at } => at < claim.change_time,
        }
    }
}

/// The answer to a [`Claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Ours: handle it, then settle.
    Granted,
    /// Someone handled (or is handling) this finding for a change at or before `change_time`.
    Duplicate {
        /// The record that blocks the claim.
        by: ClaimRecord,
    },
}

/// Idempotency: one handling per finding and change, across retries, duplicate deliveries and
/// the same change arriving in several Regions.
pub trait ClaimStore: Send + Sync {
    /// Claims a finding: granted when there is no record or [`ClaimRecord::yields_to`] says
    /// the claim may take over; atomically (two concurrent claims never both win).
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<ClaimOutcome, PortError>> + Send;

    /// Marks a claimed finding handled at `now`.
    fn settle(
        &self,
        fingerprint: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Gives a claim up (the handling failed before changing anything), so a retry can take it.
    fn release(&self, fingerprint: &str) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The outbox: keeps findings (JSON) that could not be published after the key was
    /// changed, under `event_id`, until [`ClaimStore::take_stashed`] takes them. The retry of
    /// that event publishes them, although it finds the key compliant.
    fn stash(
        &self,
        event_id: &str,
        findings: &str,
        expires: Timestamp,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Takes (reads and removes, atomically) what was stashed under `event_id`.
    fn take_stashed(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    /// The failures still open for `scope` (one resource in one Region), as last written; an
    /// empty ledger at version 0 when there is none.
    fn open_failures(&self, scope: &str) -> impl Future<Output = Result<Ledger, PortError>> + Send;

    /// Replaces the ledger of `scope` if it is still at `ledger.version` (as read), writing
    /// version + 1 until `expires`; an empty ledger is removed. `false` when another writer
    /// came first (read again and reconcile again).
    fn write_failures(
        &self,
        scope: &str,
        ledger: &Ledger,
        expires: Timestamp,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// A failing check remembered until it passes again, so its end can be reported once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OpenFailure {
    /// The fingerprint of the failing finding first seen.
    pub fingerprint: String,
    /// Its severity: the resolution is reported at the same level, past the same thresholds.
    pub severity: crate::finding::Severity,
    /// When it was first seen (RFC 3339).
    pub since: String,
}

/// The open failures of one scope (a resource in a Region), by check id, with the version
/// they were read at (0: nothing stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The version read; a write succeeds only over this version.
    pub version: u64,
    /// Open failures by check id.
    pub open: std::collections::BTreeMap<String, OpenFailure>,
    /// When the stored ledger expires (`None` when nothing is stored).
    pub expires: Option<Timestamp>,
}

/// How long an open failure is remembered after it was last seen failing. Every sweep that
/// still sees it refreshes it, so only a failure nobody looks at any more is forgotten.
pub const LEDGER_TTL_SECONDS: i64 = 30 * 24 * 3600;

impl<T: ClaimStore> ClaimStore for &T {
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<ClaimOutcome, PortError>> + Send {
        (**self).claim(claim)
    }

    fn settle(
        &self,
        fingerprint: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).settle(fingerprint, now)
    }

    fn release(&self, fingerprint: &str) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).release(fingerprint)
    }

    fn stash(
        &self,
        event_id: &str,
        findings: &str,
        expires: Timestamp,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).stash(event_id, findings, expires)
    }

    fn take_stashed(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send {
        (**self).take_stashed(event_id)
    }

    fn open_failures(&self, scope: &str) -> impl Future<Output = Result<Ledger, PortError>> + Send {
        (**self).open_failures(scope)
    }

    fn write_failures(
        &self,
        scope: &str,
        ledger: &Ledger,
        expires: Timestamp,
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        (**self).write_failures(scope, ledger, expires)
    }
}

/// The answer of the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Go ahead: this is action number `used` in the window.
    Granted {
        /// Actions in the window, this one included.
        used: u32,
    },
    /// The breaker is open: `limit` actions were already taken in the window.
    Exhausted {
        /// The limit.
        limit: u32,
    },
}

/// The per-key circuit breaker: at most `limit` remediation actions per window.
pub trait ActionBudget: Send + Sync {
    /// Takes one action from the budget of `key_arn` for the window starting `window_start`.
    fn take(
        &self,
        key_arn: &str,
        window_start: Timestamp,
        limit: u32,
        expires: Timestamp,
    ) -> impl Future<Output = Result<Budget, PortError>> + Send;
}

impl<T: ActionBudget> ActionBudget for &T {
    fn take(
        &self,
        key_arn: &str,
        window_start: Timestamp,
        limit: u32,
        expires: Timestamp,
    ) -> impl Future<Output = Result<Budget, PortError>> + Send {
        (**self).take(key_arn, window_start, limit, expires)
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Granted { used } => write!(f, "action {used} in this window"),
            Budget::Exhausted { limit } => {
                write!(f, "{limit} actions already taken in this window")
            }
        }
    }
}

/// The SAML application at the external IdP, through the IdP's API (Graph, Okta).
pub trait IdentityProviderApps: Send + Sync {
    /// The provider.
    fn provider(&self) -> ProviderKind;
    /// One review begins: an adapter with a time budget for its calls starts it.
    fn begin(&self) {}
    /// Reads the application, fresh.
    fn read_app(&self) -> impl Future<Output = Result<IdpApp, IdpError>> + Send;
    /// Sends `update` (built from a read by [`crate::idp_app::add_acs_urls`]).
    fn update_app(&self, update: &AppUpdate) -> impl Future<Output = Result<(), IdpError>> + Send;
}

impl<T: IdentityProviderApps> IdentityProviderApps for &T {
    fn provider(&self) -> ProviderKind {
        (**self).provider()
    }
    fn begin(&self) {
        (**self).begin();
    }
    fn read_app(&self) -> impl Future<Output = Result<IdpApp, IdpError>> + Send {
        (**self).read_app()
    }
    fn update_app(&self, update: &AppUpdate) -> impl Future<Output = Result<(), IdpError>> + Send {
        (**self).update_app(update)
    }
}

/// Reads secrets (Secrets Manager). The value is a credential: callers never log it, and
/// errors never contain it.
pub trait SecretSource: Send + Sync {
    /// The current string value of the secret `id` (a name or ARN).
    fn secret_string(&self, id: &str) -> impl Future<Output = Result<String, PortError>> + Send;
}

impl<T: SecretSource> SecretSource for &T {
    fn secret_string(&self, id: &str) -> impl Future<Output = Result<String, PortError>> + Send {
        (**self).secret_string(id)
    }
}

/// What [`EvidenceStore::put_if_absent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceWrite {
    /// The object was written now.
    Written,
    /// An object was already stored under the key (a redelivery); it was left as it was.
    AlreadyThere,
}

/// The evidence bucket: write-once objects with a SHA-256 stored alongside (S3 with Object
/// Lock). There is deliberately no overwrite and no delete.
pub trait EvidenceStore: Send + Sync {
    /// Writes `body` under `key` unless an object is already there (a conditional write, so
    /// two concurrent writers never both write), with `sha256_hex` (the body's SHA-256, hex)
    /// stored as the object's checksum and metadata.
    fn put_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
    ) -> impl Future<Output = Result<EvidenceWrite, PortError>> + Send;

    /// [`EvidenceStore::put_if_absent`] with a signature (base64) stored on the object: a
    /// digest of the evidence chain.
    fn put_signed_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
        signature: &str,
    ) -> impl Future<Output = Result<EvidenceWrite, PortError>> + Send;

    /// Every key under `prefix`, in key order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;

    /// The object under `key`: its body and the SHA-256 values stored with it.
    fn get(&self, key: &str) -> impl Future<Output = Result<StoredEvidence, PortError>> + Send;
}

/// Signs the digests of the evidence chain (KMS `Sign`, an asymmetric key).
pub trait DigestSigner: Send + Sync {
    /// The key's ARN, named in each digest.
    fn key_arn(&self) -> &str;

    /// The signature of `message` (DER), signed as a raw message with
    /// the evidence chain's algorithm (ECDSA_SHA_256).
    fn sign(&self, message: &[u8]) -> impl Future<Output = Result<Vec<u8>, PortError>> + Send;
}

impl<T: EvidenceStore> EvidenceStore for &T {
    fn put_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
    ) -> impl Future<Output = Result<EvidenceWrite, PortError>> + Send {
        (**self).put_if_absent(key, body, sha256_hex)
    }

    fn put_signed_if_absent(
        &self,
        key: &str,
        body: &[u8],
        sha256_hex: &str,
        signature: &str,
    ) -> impl Future<Output = Result<EvidenceWrite, PortError>> + Send {
        (**self).put_signed_if_absent(key, body, sha256_hex, signature)
    }

    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, PortError>> + Send {
        (**self).list(prefix)
    }

    fn get(&self, key: &str) -> impl Future<Output = Result<StoredEvidence, PortError>> + Send {
        (**self).get(key)
    }
}

/// Waits (a replica is `Creating` for a few seconds). Tests pass one that does not sleep.
pub trait Pause: Send + Sync {
    /// Waits `seconds`.
    fn pause(&self, seconds: u64) -> impl Future<Output = ()> + Send;
}

/// Reads a document the configuration points at (the IdP's SAML metadata).
pub trait DocumentSource: Send + Sync {
    /// The bytes at `location`, at most `limit` of them (more is an error).
    fn fetch(
        &self,
        location: &crate::config::MetadataLocation,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<u8>, PortError>> + Send;
}

/// A stored evidence object, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvidence {
    /// The object key.
    pub key: String,
    /// The body.
    pub body: Vec<u8>,
    /// The store's own SHA-256 checksum (S3 `ChecksumSHA256`), hex; `None` when the object
    /// has none (or only a composite, multipart one).
    pub checksum_sha256: Option<String>,
    /// The `sha256` metadata written with the object, hex.
    pub metadata_sha256: Option<String>,
    /// What else the store says about the object (all absent where it says nothing).
    pub facts: ObjectFacts,
}

/// What the store says about an object beside its body: what the evidence chain checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFacts {
    /// The signature stored on a digest (base64).
    pub signature: Option<String>,
    /// The version read (S3 `VersionId`, versioned buckets).
    pub version_id: Option<String>,
    /// When it was written.
    pub last_modified: Option<Timestamp>,
    /// Its Object Lock mode (`COMPLIANCE`, `GOVERNANCE`).
    pub lock_mode: Option<String>,
    /// Until when it is locked.
    pub retain_until: Option<Timestamp>,
}
