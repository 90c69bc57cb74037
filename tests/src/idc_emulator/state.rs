//! The pure Identity Center state machine: one organization instance, its Regions and its
//! encryption configuration. Every call takes the caller's Region and `now`, so unit tests
//! drive the clock by hand, and the timed transitions (Region ADDING -> ACTIVE, REMOVING ->
//! gone, encryption UPDATING -> ENABLED) are settled lazily at the start of each call instead
//! of by background tasks.
//!
//! Calls that need a KMS key check come in two halves: `prepare_*` validates and returns the
//! keys to probe, the caller probes them (asynchronously, without holding the state), then the
//! mutating call validates again (the state may have changed meanwhile) and commits.

use std::time::{Duration, SystemTime};

use super::SeedInstance;
use super::error::{ApiError, ErrorCode};
use super::names;

/// `RegionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionStatus {
    /// Serving.
    Active,
    /// AddRegion workflow running.
    Adding,
    /// RemoveRegion workflow running.
    Removing,
}

impl RegionStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Adding => "ADDING",
            Self::Removing => "REMOVING",
        }
    }
}

/// `KmsKeyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `AWS_OWNED_KMS_KEY`.
    AwsOwned,
    /// `CUSTOMER_MANAGED_KEY`.
    CustomerManaged,
}

impl KeyType {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsOwned => "AWS_OWNED_KMS_KEY",
            Self::CustomerManaged => "CUSTOMER_MANAGED_KEY",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AWS_OWNED_KMS_KEY" => Some(Self::AwsOwned),
            "CUSTOMER_MANAGED_KEY" => Some(Self::CustomerManaged),
            _ => None,
        }
    }
}

/// `KmsKeyStatus` (the `EncryptionStatus` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionStatus {
    /// A key change is being applied.
    Updating,
    /// The configured key is in use.
    Enabled,
}

impl EncryptionStatus {
    /// The wire string. `UPDATE_FAILED` never arises here: a key that fails the check makes
    /// `UpdateInstance` itself fail, before anything changes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updating => "UPDATING",
            Self::Enabled => "ENABLED",
        }
    }
}

/// `RegionMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionView {
    /// Region name.
    pub name: String,
    /// Status now.
    pub status: RegionStatus,
    /// When AddRegion was called (the instance creation time for the primary).
    pub added: SystemTime,
    /// Whether this is the primary Region.
    pub is_primary: bool,
}

/// `EncryptionConfigurationDetails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionView {
    /// Key type.
    pub key_type: KeyType,
    /// Key ARN, for a customer managed key.
    pub kms_key_arn: Option<String>,
    /// Status now.
    pub status: EncryptionStatus,
}

/// What DescribeInstance and ListInstances show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    /// Region-less instance ARN.
    pub instance_arn: String,
    /// `d-...`.
    pub identity_store_id: String,
    /// The management account.
    pub owner_account_id: String,
    /// Optional display name.
    pub name: Option<String>,
    /// Creation (seed) time.
    pub created: SystemTime,
    /// The primary Region.
    pub primary_region: String,
    /// Every Region in any status, primary first.
    pub regions: Vec<RegionView>,
    /// Encryption configuration.
    pub encryption: EncryptionView,
}

/// A KMS key that must be usable before a change is committed: the key ARN as it is in
/// `region` (for a replica, the primary key's ARN with the Region rewritten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProbe {
    /// Key ARN in `region`.
    pub key_arn: String,
    /// The Region to ask KMS in.
    pub region: String,
}

/// The `EncryptionConfiguration` member of UpdateInstance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionUpdate {
    /// Requested key type.
    pub key_type: KeyType,
    /// Requested key ARN.
    pub kms_key_arn: Option<String>,
}

/// UpdateInstance's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceUpdate {
    /// New name.
    pub name: Option<String>,
    /// New encryption configuration.
    pub encryption: Option<EncryptionUpdate>,
}

/// One page of ListRegions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionPage {
    /// The Regions on this page.
    pub regions: Vec<RegionView>,
    /// Token for the next page, when there is one.
    pub next_token: Option<String>,
}

#[derive(Debug, Clone)]
struct RegionEntry {
    name: String,
    added: SystemTime,
    status: RegionStatus,
    /// When an ADDING or REMOVING workflow completes.
    until: Option<SystemTime>,
}

#[derive(Debug, Clone)]
struct Instance {
    arn: String,
    identity_store_id: String,
    owner_account_id: String,
    name: Option<String>,
    created: SystemTime,
    primary_region: String,
    /// Primary first, then in the order added.
    regions: Vec<RegionEntry>,
    key_type: KeyType,
    kms_key_arn: Option<String>,
    encryption_status: EncryptionStatus,
    encryption_until: Option<SystemTime>,
}

const ADD_REGION: &str = "AddRegion";
const REMOVE_REGION: &str = "RemoveRegion";
const UPDATE_INSTANCE: &str = "UpdateInstance";
/// ListRegions' default and largest page (the API reference: "Default is 100").
const MAX_PAGE: usize = 100;
const TOKEN_PREFIX: &str = "idcemu-regions-";

/// The emulator's whole state.
#[derive(Debug)]
pub struct State {
    instance: Option<Instance>,
    delay: Duration,
}

impl State {
    /// No instance yet; Region workflows and key updates take `delay`.
    pub fn new(delay: Duration) -> Self {
        Self {
            instance: None,
            delay,
        }
    }

    /// Drops the instance.
    pub fn clear(&mut self) {
        self.instance = None;
    }

    /// Replaces the instance with `seed`, every Region ACTIVE and added `now`. Refuses what
    /// AWS cannot be in: a malformed name, or additional Regions without a customer managed
    /// multi-Region key in the primary Region.
    pub fn seed(&mut self, seed: &SeedInstance, now: SystemTime) -> Result<(), String> {
        if !names::is_instance_arn(&seed.instance_arn) {
            return Err(format!(
                "instance_arn {:?} is not arn:<partition>:sso:::instance/ssoins-<16 chars>",
                seed.instance_arn
            ));
        }
        if !names::is_account_id(&seed.owner_account_id) {
            return Err(format!(
                "owner_account_id {:?} is not 12 digits",
                seed.owner_account_id
            ));
        }
        if seed.identity_store_id.is_empty() {
            return Err("identity_store_id is empty".to_owned());
        }
        let mut region_names = vec![seed.primary_region.clone()];
        for r in &seed.regions {
            if !region_names.contains(r) {
                region_names.push(r.clone());
            }
        }
        if let Some(bad) = region_names.iter().find(|r| !names::is_region_name(r)) {
            return Err(format!(
                "region {bad:?} (primary_region or regions) is not a Region name"
            ));
        }
        if let Some(arn) = &seed.kms_key_arn {
            let key = names::parse_kms_key_arn(arn)
                .ok_or_else(|| format!("kms_key_arn {arn:?} is not a KMS key ARN"))?;
            check_key_placement(&key, &seed.primary_region, region_names.len())
                .map_err(|e| format!("kms_key_arn: {}", e.message))?;
        } else if region_names.len() > 1 {
            return Err(
                "regions beyond the primary need a customer managed multi-Region key: set kms_key_arn"
                    .to_owned(),
            );
        }
        self.instance = Some(Instance {
            arn: seed.instance_arn.clone(),
            identity_store_id: seed.identity_store_id.clone(),
            owner_account_id: seed.owner_account_id.clone(),
            name: None,
            created: now,
            primary_region: seed.primary_region.clone(),
            regions: region_names
                .into_iter()
                .map(|name| RegionEntry {
                    name,
                    added: now,
                    status: RegionStatus::Active,
                    until: None,
                })
                .collect(),
            key_type: if seed.kms_key_arn.is_some() {
                KeyType::CustomerManaged
            } else {
                KeyType::AwsOwned
            },
            kms_key_arn: seed.kms_key_arn.clone(),
            encryption_status: EncryptionStatus::Enabled,
            encryption_until: None,
        });
        Ok(())
    }

    /// ListInstances: the instance when it serves the caller's Region, else nothing.
    pub fn list_instances(&mut self, caller: &str, now: SystemTime) -> Vec<InstanceView> {
        self.settle(now);
        self.instance
            .iter()
            .filter(|i| i.serves(caller))
            .map(Instance::view)
            .collect()
    }

    /// DescribeInstance.
    pub fn describe_instance(
        &mut self,
        caller: &str,
        arn: &str,
        now: SystemTime,
    ) -> Result<InstanceView, ApiError> {
        Ok(self.visible(caller, arn, now)?.view())
    }

    /// DescribeRegion.
    pub fn describe_region(
        &mut self,
        caller: &str,
        arn: &str,
        region: &str,
        now: SystemTime,
    ) -> Result<RegionView, ApiError> {
        let inst = self.visible(caller, arn, now)?;
        inst.regions
            .iter()
            .find(|r| r.name == region)
            .map(|r| inst.region_view(r))
            .ok_or_else(|| region_not_found(region, arn))
    }

    /// ListRegions, `max` per page (default and cap 100). The token is the offset of the next
    /// Region; after a removal a page may skip one, which AWS tokens do not promise against
    /// either.
    pub fn list_regions(
        &mut self,
        caller: &str,
        arn: &str,
        max: Option<usize>,
        token: Option<&str>,
        now: SystemTime,
    ) -> Result<RegionPage, ApiError> {
        let inst = self.visible(caller, arn, now)?;
        let max = max.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let start = match token {
            None => 0,
            Some(t) => t
                .strip_prefix(TOKEN_PREFIX)
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "NextToken {t:?} is not a token ListRegions returned"
                    ))
                })?,
        };
        let regions: Vec<RegionView> = inst
            .regions
            .iter()
            .skip(start)
            .take(max)
            .map(|r| inst.region_view(r))
            .collect();
        let next = start.saturating_add(regions.len());
        Ok(RegionPage {
            regions,
            next_token: (next < inst.regions.len()).then(|| format!("{TOKEN_PREFIX}{next}")),
        })
    }

    /// AddRegion's checks; returns the key replica that must be usable in the new Region.
    pub fn prepare_add_region(
        &mut self,
        caller: &str,
        arn: &str,
        region: &str,
        now: SystemTime,
    ) -> Result<KeyProbe, ApiError> {
        check_add(self.visible(caller, arn, now)?, caller, region)
    }

    /// AddRegion: the Region is ADDING for the configured delay, then ACTIVE.
    pub fn add_region(
        &mut self,
        caller: &str,
        arn: &str,
        region: &str,
        now: SystemTime,
    ) -> Result<RegionStatus, ApiError> {
        let delay = self.delay;
        let inst = self.visible(caller, arn, now)?;
        check_add(inst, caller, region)?;
        inst.regions.push(RegionEntry {
            name: region.to_owned(),
            added: now,
            status: RegionStatus::Adding,
            until: Some(now + delay),
        });
        Ok(RegionStatus::Adding)
    }

    /// RemoveRegion: the Region is REMOVING for the configured delay, then gone.
    pub fn remove_region(
        &mut self,
        caller: &str,
        arn: &str,
        region: &str,
        now: SystemTime,
    ) -> Result<RegionStatus, ApiError> {
        let delay = self.delay;
        let inst = self.visible(caller, arn, now)?;
        inst.require_primary(caller, REMOVE_REGION)?;
        if region == inst.primary_region {
            // The API reference: "The target Region cannot be the primary Region". A request
            // that can never succeed is bad input: ValidationException.
            return Err(ApiError::validation(format!(
                "RemoveRegion: {region} is the primary Region of {arn} and cannot be removed"
            )));
        }
        let Some(index) = inst.regions.iter().position(|r| r.name == region) else {
            return Err(region_not_found(region, arn));
        };
        inst.require_no_workflow(REMOVE_REGION)?;
        if let Some(entry) = inst.regions.get_mut(index) {
            entry.status = RegionStatus::Removing;
            entry.until = Some(now + delay);
        }
        Ok(RegionStatus::Removing)
    }

    /// UpdateInstance's checks; returns the keys that must be usable (one per Region).
    pub fn prepare_update_instance(
        &mut self,
        caller: &str,
        arn: &str,
        update: &InstanceUpdate,
        now: SystemTime,
    ) -> Result<Vec<KeyProbe>, ApiError> {
        check_update(self.visible(caller, arn, now)?, caller, update)
    }

    /// UpdateInstance: a name change applies at once; a key change makes the encryption
    /// status UPDATING for the configured delay, then ENABLED.
    pub fn update_instance(
        &mut self,
        caller: &str,
        arn: &str,
        update: &InstanceUpdate,
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let delay = self.delay;
        let inst = self.visible(caller, arn, now)?;
        check_update(inst, caller, update)?;
        if let Some(name) = &update.name {
            inst.name = Some(name.clone());
        }
        if let Some(enc) = &update.encryption {
            inst.key_type = enc.key_type;
            inst.kms_key_arn = enc.kms_key_arn.clone();
            inst.encryption_status = EncryptionStatus::Updating;
            inst.encryption_until = Some(now + delay);
        }
        Ok(())
    }

    /// Completes every workflow whose time has come.
    fn settle(&mut self, now: SystemTime) {
        let Some(inst) = &mut self.instance else {
            return;
        };
        let due = |until: Option<SystemTime>| until.is_some_and(|t| t <= now);
        inst.regions
            .retain(|r| !(r.status == RegionStatus::Removing && due(r.until)));
        for r in &mut inst.regions {
            if r.status == RegionStatus::Adding && due(r.until) {
                r.status = RegionStatus::Active;
                r.until = None;
            }
        }
        if inst.encryption_status == EncryptionStatus::Updating && due(inst.encryption_until) {
            inst.encryption_status = EncryptionStatus::Enabled;
            inst.encryption_until = None;
        }
    }

    /// The instance `arn` as the caller's Region sees it. An instance that exists but is not
    /// replicated to the caller's Region is as absent as one that does not exist, the way
    /// regional endpoints behave.
    fn visible(
        &mut self,
        caller: &str,
        arn: &str,
        now: SystemTime,
    ) -> Result<&mut Instance, ApiError> {
        self.settle(now);
        match &mut self.instance {
            Some(inst) if inst.arn == arn && inst.serves(caller) => Ok(inst),
            _ => Err(ApiError::not_found(format!(
                "Instance {arn} does not exist in Region {caller}"
            ))),
        }
    }
}

impl Instance {
    /// Whether the instance answers in `region`. Undocumented; our choice: an ADDING Region
    /// does not serve yet (its replica is still being built), a REMOVING one still does (until
    /// the clean-up completes).
    fn serves(&self, region: &str) -> bool {
        self.regions
            .iter()
            .any(|r| r.name == region && r.status != RegionStatus::Adding)
    }

    /// Management calls are primary-Region only. The API reference names no error for the
    /// breach. We answer AccessDeniedException: the user guide lists write operations as "not
    /// supported" in additional Regions, i.e. a refusal of the action where it was called,
    /// not a defect of the input (the same request succeeds in the primary Region).
    fn require_primary(&self, caller: &str, op: &str) -> Result<(), ApiError> {
        if caller == self.primary_region {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::AccessDenied,
                format!(
                    "{op} must be called in the primary Region {} of {}; {caller} is an additional Region, where management is read-only",
                    self.primary_region, self.arn
                ),
            ))
        }
    }

    /// One AddRegion/RemoveRegion workflow at a time, and none during a key update.
    fn require_no_workflow(&self, op: &str) -> Result<(), ApiError> {
        if let Some(r) = self
            .regions
            .iter()
            .find(|r| r.status != RegionStatus::Active)
        {
            return Err(ApiError::conflict(format!(
                "{op}: Region {} is {}; wait until that workflow completes",
                r.name,
                r.status.as_str()
            )));
        }
        if self.encryption_status == EncryptionStatus::Updating {
            return Err(ApiError::conflict(format!(
                "{op}: the encryption configuration of {} is UPDATING; wait until it is ENABLED",
                self.arn
            )));
        }
        Ok(())
    }

    fn region_view(&self, r: &RegionEntry) -> RegionView {
        RegionView {
            name: r.name.clone(),
            status: r.status,
            added: r.added,
            is_primary: r.name == self.primary_region,
        }
    }

    fn view(&self) -> InstanceView {
        InstanceView {
            instance_arn: self.arn.clone(),
            identity_store_id: self.identity_store_id.clone(),
            owner_account_id: self.owner_account_id.clone(),
            name: self.name.clone(),
            created: self.created,
            primary_region: self.primary_region.clone(),
            regions: self.regions.iter().map(|r| self.region_view(r)).collect(),
            encryption: EncryptionView {
                key_type: self.key_type,
                kms_key_arn: self.kms_key_arn.clone(),
                status: self.encryption_status,
            },
        }
    }
}

fn region_not_found(region: &str, arn: &str) -> ApiError {
    ApiError::not_found(format!("Region {region} is not a Region of instance {arn}"))
}

fn check_add(inst: &Instance, caller: &str, region: &str) -> Result<KeyProbe, ApiError> {
    inst.require_primary(caller, ADD_REGION)?;
    if let Some(r) = inst.regions.iter().find(|r| r.name == region) {
        return Err(ApiError::conflict(format!(
            "AddRegion: Region {region} is already a Region of {} (status {})",
            inst.arn,
            r.status.as_str()
        )));
    }
    inst.require_no_workflow(ADD_REGION)?;
    let key_arn = match (inst.key_type, &inst.kms_key_arn) {
        (KeyType::CustomerManaged, Some(arn)) => arn,
        _ => {
            return Err(ApiError::validation(format!(
                "AddRegion: {} is encrypted with an AWS owned key; multi-Region replication needs a customer managed multi-Region KMS key (UpdateInstance first)",
                inst.arn
            )));
        }
    };
    let key = names::parse_kms_key_arn(key_arn).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InternalServer,
            format!("AddRegion: stored key ARN {key_arn} is unreadable"),
        )
    })?;
    if !key.is_multi_region() {
        return Err(ApiError::validation(format!(
            "AddRegion: KMS key {key_arn} is a single-Region key; multi-Region replication needs a multi-Region key (mrk-...)"
        )));
    }
    Ok(KeyProbe {
        key_arn: key.in_region(region),
        region: region.to_owned(),
    })
}

fn check_update(
    inst: &Instance,
    caller: &str,
    update: &InstanceUpdate,
) -> Result<Vec<KeyProbe>, ApiError> {
    inst.require_primary(caller, UPDATE_INSTANCE)?;
    if let Some(name) = &update.name
        && (name.is_empty() || name.len() > 255)
    {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length between 1 and 255",
        ));
    }
    let Some(enc) = &update.encryption else {
        return Ok(Vec::new());
    };
    inst.require_no_workflow(UPDATE_INSTANCE)?;
    let key_arn = match (enc.key_type, &enc.kms_key_arn) {
        (KeyType::AwsOwned, Some(_)) => {
            return Err(ApiError::validation(
                "UpdateInstance: KmsKeyArn cannot be specified when KeyType is AWS_OWNED_KMS_KEY",
            ));
        }
        (KeyType::AwsOwned, None) if inst.regions.len() > 1 => {
            return Err(ApiError::validation(format!(
                "UpdateInstance: {} is replicated to {} Regions and needs a customer managed multi-Region key; remove the additional Regions first",
                inst.arn,
                inst.regions.len()
            )));
        }
        (KeyType::AwsOwned, None) => return Ok(Vec::new()),
        (KeyType::CustomerManaged, None) => {
            return Err(ApiError::validation(
                "UpdateInstance: KmsKeyArn is required when KeyType is CUSTOMER_MANAGED_KEY",
            ));
        }
        (KeyType::CustomerManaged, Some(arn)) => arn,
    };
    let key = names::parse_kms_key_arn(key_arn).ok_or_else(|| {
        ApiError::validation(format!(
            "UpdateInstance: KmsKeyArn {key_arn:?} is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)"
        ))
    })?;
    check_key_placement(&key, &inst.primary_region, inst.regions.len())?;
    Ok(inst
        .regions
        .iter()
        .map(|r| KeyProbe {
            key_arn: key.in_region(&r.name),
            region: r.name.clone(),
        })
        .collect())
}

/// The key lives in the primary Region (our choice: Identity Center encrypts in its primary
/// Region, and a replica elsewhere is found by rewriting the Region), and an instance with
/// additional Regions needs a multi-Region key.
fn check_key_placement(
    key: &names::KmsKeyArn<'_>,
    primary: &str,
    region_count: usize,
) -> Result<(), ApiError> {
    if key.region != primary {
        return Err(ApiError::validation(format!(
            "KMS key {} is in {}, not in the instance's primary Region {primary}",
            key.in_region(key.region),
            key.region
        )));
    }
    if region_count > 1 && !key.is_multi_region() {
        return Err(ApiError::validation(format!(
            "KMS key {} is a single-Region key; an instance with additional Regions needs a multi-Region key (mrk-...)",
            key.in_region(key.region)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sso:::instance/ssoins-1234567890abcdef";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef";
    const DELAY: Duration = Duration::from_secs(2);

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn seed(regions: &[&str], key: Option<&str>) -> SeedInstance {
        SeedInstance {
            instance_arn: ARN.to_owned(),
            owner_account_id: "111122223333".to_owned(),
            identity_store_id: "d-1234567890".to_owned(),
            primary_region: "us-east-1".to_owned(),
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            kms_key_arn: key.map(str::to_owned),
        }
    }

    fn state(regions: &[&str]) -> State {
        let mut s = State::new(DELAY);
        s.seed(&seed(regions, Some(KEY)), t(0)).unwrap();
        s
    }

    fn statuses(s: &mut State, now: SystemTime) -> Vec<(String, &'static str)> {
        s.describe_instance("us-east-1", ARN, now)
            .unwrap()
            .regions
            .into_iter()
            .map(|r| (r.name, r.status.as_str()))
            .collect()
    }

    #[test]
    fn seen_from_every_serving_region_only() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        let a = s.describe_instance("us-east-1", ARN, t(1)).unwrap();
        let b = s.describe_instance("us-west-2", ARN, t(1)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.primary_region, "us-east-1");
        let err = s.describe_instance("eu-west-1", ARN, t(1)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceNotFound);
        assert!(s.list_instances("eu-west-1", t(1)).is_empty());
        assert_eq!(s.list_instances("us-west-2", t(1)).len(), 1);
    }

    #[test]
    fn add_region_is_adding_then_active_on_the_clock() {
        let mut s = state(&["us-east-1"]);
        let probe = s
            .prepare_add_region("us-east-1", ARN, "eu-west-1", t(10))
            .unwrap();
        assert_eq!(
            probe.key_arn,
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            s.add_region("us-east-1", ARN, "eu-west-1", t(10)).unwrap(),
            RegionStatus::Adding
        );
        assert_eq!(
            statuses(&mut s, t(11)),
            [
                ("us-east-1".to_owned(), "ACTIVE"),
                ("eu-west-1".to_owned(), "ADDING")
            ]
        );
        // Not served from the new Region until the workflow completes.
        assert!(s.list_instances("eu-west-1", t(11)).is_empty());
        let r = s
            .describe_region("us-east-1", ARN, "eu-west-1", t(12))
            .unwrap();
        assert_eq!(
            (r.status, r.added, r.is_primary),
            (RegionStatus::Active, t(10), false)
        );
        assert_eq!(s.list_instances("eu-west-1", t(12)).len(), 1);
    }

    #[test]
    fn one_workflow_at_a_time() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        s.add_region("us-east-1", ARN, "eu-west-1", t(0)).unwrap();
        let err = s
            .add_region("us-east-1", ARN, "eu-central-1", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
        let err = s
            .remove_region("us-east-1", ARN, "us-west-2", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
        // Once ACTIVE, the next workflow may start.
        s.remove_region("us-east-1", ARN, "us-west-2", t(2))
            .unwrap();
    }

    #[test]
    fn add_existing_region_conflicts() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        let err = s
            .add_region("us-east-1", ARN, "us-west-2", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
    }

    #[test]
    fn remove_region_is_removing_then_gone() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        assert_eq!(
            s.remove_region("us-east-1", ARN, "us-west-2", t(5))
                .unwrap(),
            RegionStatus::Removing
        );
        // Still served while REMOVING.
        assert_eq!(s.list_instances("us-west-2", t(6)).len(), 1);
        assert_eq!(
            statuses(&mut s, t(6)),
            [
                ("us-east-1".to_owned(), "ACTIVE"),
                ("us-west-2".to_owned(), "REMOVING")
            ]
        );
        assert_eq!(statuses(&mut s, t(7)), [("us-east-1".to_owned(), "ACTIVE")]);
        assert!(s.list_instances("us-west-2", t(7)).is_empty());
        let err = s
            .describe_region("us-east-1", ARN, "us-west-2", t(7))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceNotFound);
    }

    #[test]
    fn remove_rules() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        let err = s
            .remove_region("us-east-1", ARN, "us-east-1", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
        let err = s
            .remove_region("us-west-2", ARN, "us-west-2", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        let err = s
            .remove_region("us-east-1", ARN, "eu-west-1", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceNotFound);
        let err = s
            .remove_region("eu-west-1", ARN, "us-west-2", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceNotFound, "not visible there");
    }

    #[test]
    fn add_from_additional_region_is_denied() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        let err = s
            .prepare_add_region("us-west-2", ARN, "eu-west-1", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        assert!(err.message.contains("us-east-1"), "{}", err.message);
    }

    #[test]
    fn add_needs_a_customer_managed_multi_region_key() {
        let mut s = State::new(DELAY);
        s.seed(&seed(&[], None), t(0)).unwrap();
        let err = s
            .add_region("us-east-1", ARN, "eu-west-1", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
        s.seed(
            &seed(&[], Some("arn:aws:kms:us-east-1:111122223333:key/1234abcd")),
            t(0),
        )
        .unwrap();
        let err = s
            .add_region("us-east-1", ARN, "eu-west-1", t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
        assert!(err.message.contains("single-Region"), "{}", err.message);
    }

    #[test]
    fn list_regions_pages() {
        let mut s = state(&["us-east-1", "us-west-2", "eu-west-1"]);
        let mut token = None;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = s
                .list_regions("us-west-2", ARN, Some(1), token.as_deref(), t(1))
                .unwrap();
            pages += 1;
            seen.extend(page.regions.into_iter().map(|r| r.name));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["us-east-1", "us-west-2", "eu-west-1"]);
        let err = s
            .list_regions("us-east-1", ARN, None, Some("garbage"), t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
    }

    #[test]
    fn update_instance_key_is_updating_then_enabled() {
        let mut s = State::new(DELAY);
        s.seed(&seed(&[], None), t(0)).unwrap();
        let update = InstanceUpdate {
            name: None,
            encryption: Some(EncryptionUpdate {
                key_type: KeyType::CustomerManaged,
                kms_key_arn: Some(KEY.to_owned()),
            }),
        };
        let probes = s
            .prepare_update_instance("us-east-1", ARN, &update, t(1))
            .unwrap();
        assert_eq!(
            probes,
            [KeyProbe {
                key_arn: KEY.to_owned(),
                region: "us-east-1".to_owned()
            }]
        );
        s.update_instance("us-east-1", ARN, &update, t(1)).unwrap();
        let enc = s
            .describe_instance("us-east-1", ARN, t(2))
            .unwrap()
            .encryption;
        assert_eq!(enc.status, EncryptionStatus::Updating);
        assert_eq!(enc.key_type, KeyType::CustomerManaged);
        // A Region workflow waits for the key update.
        let err = s
            .add_region("us-east-1", ARN, "eu-west-1", t(2))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
        let enc = s
            .describe_instance("us-east-1", ARN, t(3))
            .unwrap()
            .encryption;
        assert_eq!(enc.status, EncryptionStatus::Enabled);
        assert_eq!(enc.kms_key_arn.as_deref(), Some(KEY));
    }

    #[test]
    fn update_instance_rules() {
        let mut s = state(&["us-east-1", "us-west-2"]);
        let aws_owned = InstanceUpdate {
            name: None,
            encryption: Some(EncryptionUpdate {
                key_type: KeyType::AwsOwned,
                kms_key_arn: None,
            }),
        };
        let err = s
            .update_instance("us-east-1", ARN, &aws_owned, t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation, "replicated instance");
        let cmk_without_arn = InstanceUpdate {
            name: None,
            encryption: Some(EncryptionUpdate {
                key_type: KeyType::CustomerManaged,
                kms_key_arn: None,
            }),
        };
        let err = s
            .update_instance("us-east-1", ARN, &cmk_without_arn, t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
        let rename = InstanceUpdate {
            name: Some("corp".to_owned()),
            encryption: None,
        };
        let err = s
            .update_instance("us-west-2", ARN, &rename, t(1))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        s.update_instance("us-east-1", ARN, &rename, t(1)).unwrap();
        let v = s.describe_instance("us-west-2", ARN, t(1)).unwrap();
        assert_eq!(v.name.as_deref(), Some("corp"));
    }

    #[test]
    fn seed_refuses_impossible_instances() {
        let mut s = State::new(DELAY);
        assert!(s.seed(&seed(&["us-west-2"], None), t(0)).is_err());
        let mut bad = seed(&[], None);
        bad.instance_arn = "arn:aws:sso:::instance/x".to_owned();
        assert!(s.seed(&bad, t(0)).is_err());
        let mut elsewhere = seed(&[], Some(KEY));
        elsewhere.primary_region = "eu-west-1".to_owned();
        assert!(s.seed(&elsewhere, t(0)).is_err());
        assert!(s.list_instances("us-east-1", t(0)).is_empty());
    }
}
