//! Inspecting the key in one Region: live state read through the ports, then KEY-STATE,
//! KP-* and KEY-GRANTS, and the plan that would fix what fails.

use crate::checks::key_policy::{KeyPolicyReport, check_parsed};
use crate::checks::key_state::{check_key_grants, check_key_state};
use crate::config::Config;
use crate::domain::live::KeySnapshot;
use crate::finding::{Finding, Status};
use crate::plan::{KeyPlan, plan_key};
use crate::ports::{KeyStore, PortError};
use idc_guard_policy::document::parse_key_policy;

/// Everything the checks found about the key in one Region.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The live state read.
    pub snapshot: KeySnapshot,
    /// Every finding, passes included.
    pub findings: Vec<Finding>,
    /// The plan that would fix the failures.
    pub plan: KeyPlan,
}

impl Inspection {
    /// The findings that are not passes.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status != Status::Pass)
    }
}

/// Inspects the key in `region`: reads live state and runs KEY-STATE, KP-* and KEY-GRANTS.
pub async fn inspect<K: KeyStore>(
    config: &Config,
    keys: &K,
    region: &str,
) -> Result<Inspection, PortError> {
    let key_id = config.key_arn.key_id.as_str();
    // Three independent reads, at once; the description's error comes first (a missing
    // replica is NotFound there).
    let (key, policy, grants) = futures_util::future::join3(
        keys.describe_key(region, key_id),
        keys.get_key_policy(region, key_id),
        keys.list_grants(region, key_id),
    )
    .await;
    let snapshot = KeySnapshot {
        key: key?,
        policy: policy?,
        grants: grants?,
    };
    Ok(check_snapshot(config, snapshot))
}

/// Runs the checks on a snapshot (pure).
pub fn check_snapshot(config: &Config, snapshot: KeySnapshot) -> Inspection {
    let region = snapshot.key.region.clone();
    let mut findings = vec![check_key_state(config, &snapshot.key)];
    let report: KeyPolicyReport = check_parsed(
        config,
        &parse_key_policy(&snapshot.policy),
        std::slice::from_ref(&region),
    );
    findings.extend(report.findings.iter().cloned());
    let grants = check_key_grants(config, &region, &snapshot.grants);
    let grant_failures = grants.iter().filter(|f| f.status == Status::Fail).count();
    findings.extend(grants);
    let plan = plan_key(config, &snapshot, &report, grant_failures);
    Inspection {
        snapshot,
        findings,
        plan,
    }
}
