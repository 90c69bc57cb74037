//! Test doubles of the ports (feature `test-util`, never in a release binary): KMS with fault
//! injection and a call log, the instance directory, and the in-process ports of
//! [`crate::ports::local`] made to fail on demand.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use crate::domain::live::{Grant, KeyDescription, KeyState};
use crate::domain::time::Timestamp;
use crate::finding::Finding;
use crate::ports::{
    ActionBudget, Budget, Claim, ClaimOutcome, ClaimStore, FindingBus, KeyStore, PortError,
    PortErrorKind,
};

pub use crate::ports::local::NoPause;
use crate::ports::local::{LocalBudget, LocalBus, LocalClaims, lock};

/// Gives other tasks a turn once, like a network call would, so concurrent handlers
/// interleave (two deliveries of one event both read before either writes).
#[derive(Debug, Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// One Region's copy of the key.
#[derive(Debug, Clone)]
pub struct MemoryKey {
    /// The description.
    pub description: KeyDescription,
    /// The policy text.
    pub policy: String,
    /// The grants.
    pub grants: Vec<Grant>,
}

/// KMS in memory: one key per Region, a log of every call, injectable failures.
#[derive(Debug, Default)]
pub struct MemoryKms {
    keys: Mutex<BTreeMap<String, MemoryKey>>,
    calls: Mutex<Vec<String>>,
    faults: Mutex<Vec<(String, PortErrorKind, usize)>>,
    aliases: Mutex<BTreeMap<String, String>>,
    pending_policy: Mutex<Vec<(String, usize, String)>>,
}

impl MemoryKms {
    /// Puts the key's copy for its Region.
    pub fn insert(&self, key: MemoryKey) {
        lock(&self.keys).insert(key.description.region.clone(), key);
    }

    /// The key's copy in `region`.
    pub fn get(&self, region: &str) -> Option<MemoryKey> {
        lock(&self.keys).get(region).cloned()
    }

    /// Points `alias` (`alias/name`) at `key_id`, which need not be a key held here.
    pub fn add_alias(&self, alias: &str, key_id: &str) {
        lock(&self.aliases).insert(alias.to_owned(), key_id.to_owned());
    }

    /// After `reads` more `GetKeyPolicy` calls in `region`, someone else sets `policy` (a
    /// change racing the guard).
    pub fn change_policy_after_reads(&self, region: &str, reads: usize, policy: &str) {
        lock(&self.pending_policy).push((region.to_owned(), reads, policy.to_owned()));
    }

    /// Every call so far, as `Operation region`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    /// The calls that change something.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                !c.starts_with("Describe") && !c.starts_with("Get") && !c.starts_with("List")
            })
            .collect()
    }

    /// Makes the next call of `operation` (e.g. `PutKeyPolicy`) fail with `kind`.
    pub fn fail_next(&self, operation: &str, kind: PortErrorKind) {
        self.fail_later(operation, kind, 0);
    }

    /// Lets `skip` calls of `operation` through, then fails the next one with `kind`.
    pub fn fail_later(&self, operation: &str, kind: PortErrorKind, skip: usize) {
        lock(&self.faults).push((operation.to_owned(), kind, skip));
    }

    fn enter(&self, operation: &str, region: &str) -> Result<(), PortError> {
        lock(&self.calls).push(format!("{operation} {region}"));
        let mut faults = lock(&self.faults);
        if let Some(pos) = faults.iter().position(|(op, _, _)| op == operation) {
            if let Some((_, _, skip)) = faults.get_mut(pos)
                && *skip > 0
            {
                *skip -= 1;
                return Ok(());
            }
            let (_, kind, _) = faults.remove(pos);
            return Err(PortError::new(
                format!("kms:{operation}"),
                region,
                kind,
                "injected fault",
            ));
        }
        Ok(())
    }

    async fn with_key<T>(
        &self,
        operation: &str,
        region: &str,
        key: &str,
        f: impl FnOnce(&mut MemoryKey) -> Result<T, PortError>,
    ) -> Result<T, PortError> {
        YieldOnce::default().await;
        self.enter(operation, region)?;
        let mut keys = lock(&self.keys);
        let found = keys
            .get_mut(region)
            .filter(|k| k.description.key_id == key || k.description.arn == key);
        match found {
            Some(k) => f(k),
            None => Err(PortError::new(
                format!("kms:{operation}"),
                region,
                PortErrorKind::NotFound,
                format!("NotFoundException: key {key} does not exist in {region}"),
            )),
        }
    }
}

fn invalid_state(operation: &str, region: &str, state: &KeyState) -> PortError {
    PortError::new(
        format!("kms:{operation}"),
        region,
        PortErrorKind::InvalidState,
        format!("KMSInvalidStateException: the key is {}", state.name()),
    )
}

impl KeyStore for MemoryKms {
    async fn describe_key(&self, region: &str, key: &str) -> Result<KeyDescription, PortError> {
        let target = lock(&self.aliases).get(key).cloned();
        match target {
            // An alias of another key: KMS describes that key.
            Some(id) if self.get(region).is_none_or(|k| k.description.key_id != id) => {
                self.enter("DescribeKey", region)?;
                let mut other = self.get(region).map(|k| k.description).ok_or_else(|| {
                    PortError::new("kms:DescribeKey", region, PortErrorKind::NotFound, "no key")
                })?;
                other.arn = other.arn.replace(&other.key_id, &id);
                other.key_id = id;
                Ok(other)
            }
            Some(id) => {
                self.with_key("DescribeKey", region, &id, |k| Ok(k.description.clone()))
                    .await
            }
            None => {
                self.with_key("DescribeKey", region, key, |k| Ok(k.description.clone()))
                    .await
            }
        }
    }

    async fn get_key_policy(&self, region: &str, key_id: &str) -> Result<String, PortError> {
        let policy = self
            .with_key("GetKeyPolicy", region, key_id, |k| Ok(k.policy.clone()))
            .await?;
        let change = {
            let mut pending = lock(&self.pending_policy);
            pending.iter_mut().for_each(|p| {
                if p.0 == region {
                    p.1 = p.1.saturating_sub(1);
                }
            });
            let due = pending.iter().position(|p| p.0 == region && p.1 == 0);
            due.map(|i| pending.remove(i))
        };
        if let Some((_, _, new_policy)) = change
            && let Some(mut key) = self.get(region)
        {
            key.policy = new_policy;
            self.insert(key);
        }
        Ok(policy)
    }

    async fn put_key_policy(
        &self,
        region: &str,
        key_id: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        self.with_key("PutKeyPolicy", region, key_id, |k| {
            // As KMS: a replica still being created refuses changes.
            if k.description.state == KeyState::Creating {
                return Err(invalid_state("PutKeyPolicy", region, &k.description.state));
            }
            k.policy = policy.to_owned();
            Ok(())
        })
        .await
    }

    async fn enable_key(&self, region: &str, key_id: &str) -> Result<(), PortError> {
        self.with_key("EnableKey", region, key_id, |k| {
            if k.description.state.pending_deletion() || k.description.state == KeyState::Creating {
                return Err(invalid_state("EnableKey", region, &k.description.state));
            }
            k.description.state = KeyState::Enabled;
            Ok(())
        })
        .await
    }

    async fn cancel_key_deletion(&self, region: &str, key_id: &str) -> Result<(), PortError> {
        self.with_key("CancelKeyDeletion", region, key_id, |k| {
            if !k.description.state.pending_deletion() {
                return Err(invalid_state(
                    "CancelKeyDeletion",
                    region,
                    &k.description.state,
                ));
            }
            // As KMS does: a cancelled key is Disabled.
            k.description.state = KeyState::Disabled;
            k.description.deletion_date = None;
            Ok(())
        })
        .await
    }

    async fn replicate_key(
        &self,
        primary_region: &str,
        key_id: &str,
        replica_region: &str,
        policy: &str,
    ) -> Result<KeyDescription, PortError> {
        let primary = self
            .with_key("ReplicateKey", primary_region, key_id, |k| Ok(k.clone()))
            .await?;
        if self.get(replica_region).is_some() {
            return Err(PortError::new(
                "kms:ReplicateKey",
                primary_region,
                PortErrorKind::InvalidState,
                format!("AlreadyExistsException: a replica exists in {replica_region}"),
            ));
        }
        let mut description = primary.description;
        description.arn = description.arn.replace(primary_region, replica_region);
        description.region = replica_region.to_owned();
        // As KMS: a new replica is Creating for a few seconds.
        description.state = KeyState::Creating;
        self.insert(MemoryKey {
            description: description.clone(),
            policy: policy.to_owned(),
            grants: Vec::new(),
        });
        Ok(description)
    }

    async fn list_grants(&self, region: &str, key_id: &str) -> Result<Vec<Grant>, PortError> {
        self.with_key("ListGrants", region, key_id, |k| Ok(k.grants.clone()))
            .await
    }
}

/// A findings bus in memory that can fail on demand.
#[derive(Debug, Default)]
pub struct MemoryBus {
    local: LocalBus,
    fail: Mutex<u32>,
}

impl MemoryBus {
    /// Everything published.
    pub fn published(&self) -> Vec<Finding> {
        self.local.published()
    }

    /// Makes the next `n` publishes fail transiently.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.fail) = n;
    }
}

impl FindingBus for MemoryBus {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PortError> {
        {
            let mut fail = lock(&self.fail);
            if *fail > 0 {
                *fail -= 1;
                return Err(injected("events:PutEvents", PortErrorKind::Transient));
            }
        }
        self.local.publish(findings).await
    }
}

fn injected(operation: &str, kind: PortErrorKind) -> PortError {
    PortError::new(operation, "local", kind, "injected fault")
}

/// [`LocalClaims`] whose claims and stashes can fail on demand.
#[derive(Debug, Default)]
pub struct MemoryClaims {
    local: LocalClaims,
    fail: Mutex<Option<PortErrorKind>>,
}

impl MemoryClaims {
    /// Makes every claim fail with `kind` (e.g. a table the role may not write).
    pub fn fail_with(&self, kind: PortErrorKind) {
        *lock(&self.fail) = Some(kind);
    }

    fn check(&self) -> Result<(), PortError> {
        match *lock(&self.fail) {
            Some(kind) => Err(injected("dynamodb:PutItem", kind)),
            None => Ok(()),
        }
    }
}

impl ClaimStore for MemoryClaims {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        self.check()?;
        self.local.claim(claim).await
    }

    async fn settle(&self, fingerprint: &str, now: Timestamp) -> Result<(), PortError> {
        self.local.settle(fingerprint, now).await
    }

    async fn release(&self, fingerprint: &str) -> Result<(), PortError> {
        self.local.release(fingerprint).await
    }

    async fn stash(
        &self,
        event_id: &str,
        findings: &str,
        expires: Timestamp,
    ) -> Result<(), PortError> {
        self.check()?;
        self.local.stash(event_id, findings, expires).await
    }

    async fn take_stashed(&self, event_id: &str) -> Result<Option<String>, PortError> {
        self.local.take_stashed(event_id).await
    }

    async fn open_failures(&self, scope: &str) -> Result<crate::ports::Ledger, PortError> {
        self.check()?;
        self.local.open_failures(scope).await
    }

    async fn write_failures(
        &self,
        scope: &str,
        ledger: &crate::ports::Ledger,
        expires: Timestamp,
    ) -> Result<bool, PortError> {
        self.check()?;
        self.local.write_failures(scope, ledger, expires).await
    }
}

/// [`LocalBudget`] that can fail on demand.
#[derive(Debug, Default)]
pub struct MemoryBudget {
    local: LocalBudget,
    fail: Mutex<Option<PortErrorKind>>,
}

impl MemoryBudget {
    /// Makes every take fail with `kind`.
    pub fn fail_with(&self, kind: PortErrorKind) {
        *lock(&self.fail) = Some(kind);
    }
}

impl ActionBudget for MemoryBudget {
    async fn take(
        &self,
        key_arn: &str,
        window_start: Timestamp,
        limit: u32,
        expires: Timestamp,
    ) -> Result<Budget, PortError> {
        if let Some(kind) = *lock(&self.fail) {
            return Err(injected("dynamodb:UpdateItem", kind));
        }
        self.local.take(key_arn, window_start, limit, expires).await
    }
}

/// The Identity Center instance in memory: one description and its Regions, seen the same
/// from every Region (as the instance ARN is Region-less).
#[derive(Debug, Clone)]
pub struct MemoryDirectory {
    /// What `DescribeInstance` returns.
    pub instance: crate::domain::live::InstanceDescription,
    /// What `ListRegions` returns.
    pub regions: Vec<crate::domain::live::InstanceRegion>,
}

impl crate::ports::InstanceDirectory for MemoryDirectory {
    async fn describe_instance(
        &self,
        _region: &str,
        _instance_arn: &str,
    ) -> Result<crate::domain::live::InstanceDescription, PortError> {
        Ok(self.instance.clone())
    }

    async fn list_regions(
        &self,
        _region: &str,
        _instance_arn: &str,
    ) -> Result<Vec<crate::domain::live::InstanceRegion>, PortError> {
        Ok(self.regions.clone())
    }
}

/// An Entra ID application in memory (Graph's JSON), with an ETag that changes on every
/// write, scripted failures and a log of the updates received.
#[derive(Debug)]
pub struct MemoryApps {
    state: Mutex<MemoryAppState>,
}

#[derive(Debug)]
struct MemoryAppState {
    document: serde_json::Value,
    version: u32,
    read_error: Option<crate::idp_app::IdpError>,
    update_error: Option<crate::idp_app::IdpError>,
    /// Updates still to refuse with a conflict, each after adding this URL as "someone else".
    conflicts: Vec<String>,
    /// URLs the next accepted update silently drops (another writer's lost update).
    drop_on_write: Vec<String>,
    updates: Vec<crate::idp_app::AppUpdate>,
}

impl MemoryApps {
    /// The application with `reply_urls` as its `web.redirectUris` and `audience`.
    pub fn entra(reply_urls: &[&str], audience: &str) -> MemoryApps {
        MemoryApps {
            state: Mutex::new(MemoryAppState {
                document: serde_json::json!({
                    "id": "obj-1", "appId": "app-1", "displayName": "AWS IAM Identity Center",
                    "identifierUris": [audience],
                    "web": {"redirectUris": reply_urls, "logoutUrl": "https://example.com/out"}
                }),
                version: 1,
                read_error: None,
                update_error: None,
                conflicts: Vec::new(),
                drop_on_write: Vec::new(),
                updates: Vec::new(),
            }),
        }
    }

    /// Every read fails with `e`.
    pub fn fail_reads(&self, e: crate::idp_app::IdpError) {
        lock(&self.state).read_error = Some(e);
    }

    /// Every update fails with `e`.
    pub fn fail_updates(&self, e: crate::idp_app::IdpError) {
        lock(&self.state).update_error = Some(e);
    }

    /// The next updates conflict: before refusing each, another writer adds its URL.
    pub fn conflict_with(&self, other_writers: &[&str]) {
        lock(&self.state).conflicts = other_writers.iter().map(|s| (*s).to_owned()).collect();
    }

    /// The next accepted update loses `url` (a concurrent writer's change overwrote it).
    pub fn drop_on_write(&self, url: &str) {
        lock(&self.state).drop_on_write.push(url.to_owned());
    }

    /// The reply URLs now.
    pub fn reply_urls(&self) -> Vec<String> {
        let state = lock(&self.state);
        crate::idp_app::strings(
            crate::idp_app::ProviderKind::EntraId,
            &state.document,
            "web.redirectUris",
        )
        .unwrap_or_default()
    }

    /// The updates accepted or refused, in order.
    pub fn updates(&self) -> Vec<crate::idp_app::AppUpdate> {
        lock(&self.state).updates.clone()
    }
}

impl crate::ports::IdentityProviderApps for MemoryApps {
    fn provider(&self) -> crate::idp_app::ProviderKind {
        crate::idp_app::ProviderKind::EntraId
    }

    async fn read_app(&self) -> Result<crate::idp_app::IdpApp, crate::idp_app::IdpError> {
        let state = lock(&self.state);
        if let Some(e) = &state.read_error {
            return Err(e.clone());
        }
        let etag = format!("W/\"{}\"", state.version);
        Ok(crate::idp_app::graph::read_app(
            &state.document,
            None,
            Some(etag),
        )?)
    }

    async fn update_app(
        &self,
        update: &crate::idp_app::AppUpdate,
    ) -> Result<(), crate::idp_app::IdpError> {
        use crate::idp_app::{IdpError, IdpErrorKind, ProviderKind};
        let mut state = lock(&self.state);
        state.updates.push(update.clone());
        if let Some(e) = &state.update_error {
            return Err(e.clone());
        }
        if !state.conflicts.is_empty() {
            let other = state.conflicts.remove(0);
            if let Some(list) = state
                .document
                .pointer_mut("/web/redirectUris")
                .and_then(serde_json::Value::as_array_mut)
            {
                list.push(serde_json::Value::String(other));
            }
            state.version += 1;
        }
        if update.if_match.as_deref() != Some(format!("W/\"{}\"", state.version).as_str()) {
            return Err(IdpError::new(
                ProviderKind::EntraId,
                IdpErrorKind::Conflict,
                "412 Precondition Failed",
            ));
        }
        let mut web = update.body.get("web").cloned().unwrap_or_default();
        let dropped = std::mem::take(&mut state.drop_on_write);
        if let Some(list) = web
            .get_mut("redirectUris")
            .and_then(serde_json::Value::as_array_mut)
        {
            list.retain(|u| !dropped.iter().any(|d| u == d));
        }
        if let Some(object) = state.document.as_object_mut() {
            object.insert("web".into(), web);
        }
        state.version += 1;
        Ok(())
    }
}
