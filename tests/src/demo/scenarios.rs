//! The demo's scenarios: each changes live state the way a person (or the guard) would, then
//! delivers the CloudTrail event that change produces, and says what must be true afterwards
//! in the chosen mode. Expectations read live state back; they never trust the guards'
//! answers alone.

use serde_json::{Value, json};

use idc_guard_core::checks::key_policy::check_parsed;
use idc_guard_core::finding::{Finding, Status};
use idc_guard_policy::document::parse_key_policy;

use crate::demo::world::{World, acs_url, reply_urls};
use crate::key_fixture::{GUARD_ROLE, PRIMARY};
use crate::local_aws::MOTO_ACCOUNT;
use idc_guard_core::model::render::render_policy;

/// A Region added in scenario 4 before its replica exists.
pub const NEW_REGION: &str = "eu-central-1";
/// A Region added in scenario 5 with its replica ready, but not at the IdP.
pub const IDP_REGION: &str = "eu-west-2";

/// What one scenario produced.
#[derive(Debug, Default)]
pub struct Observed {
    /// Each function invoked, with its answer (response or error document).
    pub invocations: Vec<(String, Value)>,
    /// The findings published.
    pub findings: Vec<Finding>,
    /// The Slack messages received.
    pub slack: Vec<Value>,
    /// The evidence objects written.
    pub evidence: Vec<String>,
}

impl Observed {
    /// The key-policy guard's outcome for `region` (`remediated`, `reported`, ...).
    fn key_outcome(&self, region: &str) -> Option<String> {
        self.invocations
            .iter()
            .filter(|(f, _)| f == "key-policy-guard")
            .flat_map(|(_, a)| {
                a.get("regions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|r| r.get("region").and_then(Value::as_str) == Some(region))
            .and_then(|r| r.get("outcome").and_then(Value::as_str).map(str::to_owned))
    }

    fn finding(&self, check: &str, region: &str) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.check == check && f.region == region)
    }
}

/// The scenarios, in order.
pub const SCENARIOS: [(&str, &str); 9] = [
    (
        "org-statement-dropped",
        "A key policy edit drops the organization statement (us-east-1)",
    ),
    (
        "via-service-pinned",
        "kms:ViaService pinned to us-east-1 on the eu-west-1 replica",
    ),
    (
        "replica-deletion",
        "Deletion scheduled on the ap-southeast-2 replica",
    ),
    (
        "region-before-replica",
        "eu-central-1 added to the instance before its replica exists",
    ),
    (
        "idp-lacks-acs-url",
        "eu-west-2 added, replica ready; the IdP lacks its ACS URL",
    ),
    ("idp-changed", "The external IdP's configuration changed"),
    ("duplicate-delivery", "The first event delivered again"),
    (
        "guards-own-change",
        "A policy change made by idc-guard's own role",
    ),
    ("sweep", "The scheduled drift sweep (no event)"),
];

/// Now, as CloudTrail writes `eventTime`.
pub fn now_text() -> String {
    idc_guard_core::domain::time::Timestamp::from_system_time(std::time::SystemTime::now())
        .to_string()
}

/// A CloudTrail-shaped sso / sso-directory event at `time`, in the primary Region.
pub fn sso_event(
    name: &str,
    source: &str,
    event_source: &str,
    params: Value,
    id: &str,
    time: &str,
) -> Value {
    sso_event_in(PRIMARY, name, source, event_source, params, id, time)
}

/// A CloudTrail-shaped sso / sso-directory event at `time`, delivered in `region` (the copy
/// of a change that EventBridge delivers in that Region).
pub fn sso_event_in(
    region: &str,
    name: &str,
    source: &str,
    event_source: &str,
    params: Value,
    id: &str,
    time: &str,
) -> Value {
    json!({
        "version": "0", "id": format!("eb-{id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": source, "account": MOTO_ACCOUNT, "time": time, "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.11", "eventTime": time, "eventSource": event_source,
            "eventName": name, "awsRegion": region, "eventID": id, "requestID": format!("req-{id}"),
            "userIdentity": {"type": "AssumedRole",
                "arn": format!("arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/Admin/alice"),
                "accountId": MOTO_ACCOUNT},
            "requestParameters": params, "responseElements": null,
            "readOnly": false, "managementEvent": true, "eventCategory": "Management"
        }
    })
}

/// Makes the change of scenario `id` and returns the event(s) it produces. `first` is the
/// event of the first scenario (for the duplicate delivery).
pub async fn act(world: &World, id: &str, first: Option<&Value>) -> Result<Vec<Value>, String> {
    let f = &world.fixture;
    let kms_event = |name: &str, region: &str, role: &str, event_id: &str| {
        f.event(name, region, role, &now_text(), event_id)
    };
    match id {
        "org-statement-dropped" => {
            f.edit_policy(PRIMARY, |doc| drop_statement(doc, 3)).await?;
            Ok(vec![kms_event("PutKeyPolicy", PRIMARY, "Admin", "demo-1")])
        }
        "via-service-pinned" => {
            let pinned = f
                .policy("eu-west-1")
                .await?
                .replace("sso.*.amazonaws.com", "sso.us-east-1.amazonaws.com")
                .replace(
                    "identitystore.*.amazonaws.com",
                    "identitystore.us-east-1.amazonaws.com",
                );
            f.put_policy("eu-west-1", &pinned).await?;
            Ok(vec![kms_event(
                "PutKeyPolicy",
                "eu-west-1",
                "Admin",
                "demo-2",
            )])
        }
        "replica-deletion" => {
            f.kms("ap-southeast-2")
                .schedule_key_deletion()
                .key_id(&f.key_id)
                .pending_window_in_days(7)
                .send()
                .await
                .map_err(|e| format!("kms:ScheduleKeyDeletion: {e:?}"))?;
            Ok(vec![kms_event(
                "ScheduleKeyDeletion",
                "ap-southeast-2",
                "Admin",
                "demo-3",
            )])
        }
        "region-before-replica" => add_region(world, NEW_REGION, "demo-4").await,
        "idp-lacks-acs-url" => {
            // The runbook's first step done right: the replica, with the model policy.
            f.kms(PRIMARY)
                .replicate_key()
                .key_id(&f.key_id)
                .replica_region(IDP_REGION)
                .policy(render_policy(&f.config))
                .send()
                .await
                .map_err(|e| format!("kms:ReplicateKey: {e:?}"))?;
            // moto copies the primary's policy onto a new replica (docs/local-aws.md); the
            // runbook puts the model policy on it.
            f.put_policy(IDP_REGION, &render_policy(&f.config)).await?;
            add_region(world, IDP_REGION, "demo-5").await
        }
        "idp-changed" => Ok(vec![sso_event(
            "UpdateExternalIdPConfigurationForDirectory",
            &f.config.idp.sso_directory_event_source,
            "sso-directory.amazonaws.com",
            json!({}),
            "demo-6",
            &now_text(),
        )]),
        "duplicate-delivery" => Ok(first.cloned().into_iter().collect()),
        "guards-own-change" => {
            f.edit_policy(PRIMARY, |doc| drop_statement(doc, 3)).await?;
            let role = GUARD_ROLE.rsplit('/').next().unwrap_or(GUARD_ROLE);
            Ok(vec![kms_event("PutKeyPolicy", PRIMARY, role, "demo-7")])
        }
        _ => Ok(Vec::new()),
    }
}

/// Adds `region` to the instance on the emulator; the `AddRegion` event it produces.
async fn add_region(world: &World, region: &str, id: &str) -> Result<Vec<Value>, String> {
    let f = &world.fixture;
    world
        .sso(PRIMARY)
        .add_region()
        .instance_arn(&f.config.instance_arn)
        .region_name(region)
        .send()
        .await
        .map_err(|e| format!("sso:AddRegion: {e:?}"))?;
    Ok(vec![sso_event(
        "AddRegion",
        "aws.sso",
        "sso.amazonaws.com",
        json!({"instanceArn": f.config.instance_arn, "regionName": region}),
        id,
        &now_text(),
    )])
}

fn drop_statement(doc: &mut Value, index: usize) {
    if let Some(statements) = doc.get_mut("Statement").and_then(Value::as_array_mut)
        && index < statements.len()
    {
        statements.remove(index);
    }
}

async fn compliant(world: &World, region: &str) -> Result<bool, String> {
    let policy = world.fixture.policy(region).await?;
    Ok(check_parsed(
        &world.fixture.config,
        &parse_key_policy(&policy),
        &[region.to_owned()],
    )
    .compliant())
}

fn expect(ok: bool, what: String) -> Result<String, String> {
    if ok { Ok(what) } else { Err(what) }
}

/// Checks what scenario `id` must have led to in `mode`, against live state. `Ok` and
/// `Err` both carry a line saying what was checked.
#[expect(
    clippy::too_many_lines,
    reason = "one arm per scenario, each checking its own live state: the match is the list of expectations"
)]
pub async fn verify(
    world: &World,
    id: &str,
    mode: &str,
    seen: &Observed,
) -> Result<String, String> {
    let remediate = mode == "remediate";
    let reported = if remediate { "remediated" } else { "reported" };
    match id {
        "org-statement-dropped" | "via-service-pinned" => {
            let region = if id == "org-statement-dropped" {
                PRIMARY
            } else {
                "eu-west-1"
            };
            let outcome = seen.key_outcome(region);
            let live = compliant(world, region).await?;
            // A verified remediation resolves what it fixed; otherwise the failure stays open.
            let resolved = seen
                .findings
                .iter()
                .filter(|f| f.region == region && f.resolves.is_some())
                .count();
            expect(
                outcome.as_deref() == Some(reported)
                    && live == remediate
                    && (resolved > 0) == remediate
                    && !seen.slack.is_empty()
                    && !seen.evidence.is_empty(),
                format!(
                    "key-policy-guard {region}: {} (want {reported}); live policy compliant: {live} (want {remediate}); {resolved} resolution(s); {} Slack message(s), {} evidence record(s)",
                    outcome.unwrap_or_else(|| "no answer".into()),
                    seen.slack.len(),
                    seen.evidence.len()
                ),
            )
        }
        "replica-deletion" => {
            let state = world.fixture.state("ap-southeast-2").await?;
            let want = if remediate {
                "Enabled"
            } else {
                "PendingDeletion"
            };
            expect(
                seen.key_outcome("ap-southeast-2").as_deref() == Some(reported) && state == want,
                format!("ap-southeast-2 replica is {state} (want {want})"),
            )
        }
        "region-before-replica" => {
            let exists = world
                .fixture
                .kms(NEW_REGION)
                .describe_key()
                .key_id(&world.fixture.key_id)
                .send()
                .await
                .is_ok();
            let outcome = seen
                .finding("REGION-KEY-READY", NEW_REGION)
                .and_then(|f| f.remediation.as_ref())
                .map(|r| r.outcome.to_string());
            let want = match mode {
                "remediate" => "applied",
                "dry-run" => "planned",
                _ => "skipped",
            };
            expect(
                exists == remediate && outcome.as_deref() == Some(want),
                format!(
                    "REGION-KEY-READY {NEW_REGION}: remediation {} (want {want}); replica exists: {exists} (want {remediate})",
                    outcome.unwrap_or_else(|| "none".into())
                ),
            )
        }
        "idp-lacks-acs-url" => {
            let url = acs_url(IDP_REGION);
            let failure = seen.findings.iter().find(|f| {
                f.check == "IDP-ACS-URLS" && f.region == IDP_REGION && f.status == Status::Fail
            });
            let outcome = failure
                .and_then(|f| f.remediation.as_ref())
                .map(|r| r.outcome.to_string());
            let want = match mode {
                "remediate" => "applied",
                "dry-run" => "planned",
                _ => "skipped",
            };
            let at_idp = reply_urls(world).contains(&url);
            let posted = seen.slack.iter().any(|m| {
                m.to_string().contains("IDP-ACS-URLS") && m.to_string().contains(IDP_REGION)
            });
            expect(
                failure.is_some_and(|f| f.message.contains(&format!("Add {url}")))
                    && outcome.as_deref() == Some(want)
                    && at_idp == remediate
                    && posted
                    && !seen.evidence.is_empty(),
                format!(
                    "IDP-ACS-URLS {IDP_REGION}: fails naming {url}, remediation {} (want {want}); at the IdP: {at_idp} (want {remediate}); Slack: {posted}; {} evidence record(s)",
                    outcome.unwrap_or_else(|| "none".into()),
                    seen.evidence.len()
                ),
            )
        }
        "idp-changed" => {
            // Judged live against the Entra application: the primary's URL is there.
            let acs = seen.finding("IDP-ACS-URLS", PRIMARY);
            expect(
                acs.is_some_and(|f| {
                    f.status == Status::Pass && f.message.contains("Microsoft Entra ID app")
                }),
                format!(
                    "IDP-ACS-URLS {PRIMARY} judged against the Entra application: {}",
                    acs.map_or("no finding".to_owned(), |f| f.message.clone())
                ),
            )
        }
        "duplicate-delivery" => {
            // notify / dry-run: the claims are settled; remediate: the key is compliant again.
            let want = if remediate { "compliant" } else { "duplicate" };
            let outcome = seen.key_outcome(PRIMARY);
            expect(
                outcome.as_deref() == Some(want)
                    && seen.findings.is_empty()
                    && seen.slack.is_empty(),
                format!(
                    "key-policy-guard {PRIMARY}: {} (want {want}); {} new finding(s), {} new Slack message(s) (want 0)",
                    outcome.unwrap_or_else(|| "no answer".into()),
                    seen.findings.len(),
                    seen.slack.len()
                ),
            )
        }
        "guards-own-change" => {
            let live = compliant(world, PRIMARY).await?;
            let outcome = seen.key_outcome(PRIMARY);
            let loop_note = !remediate
                || seen
                    .findings
                    .iter()
                    .any(|f| f.message.contains("loop protection"));
            expect(
                outcome.as_deref() == Some("reported") && !live && loop_note,
                format!(
                    "key-policy-guard {PRIMARY}: {} (want reported, never re-remediated); live policy left as the guard's role wrote it",
                    outcome.unwrap_or_else(|| "no answer".into())
                ),
            )
        }
        "sweep" => {
            let summary = seen.finding("SWEEP-SUMMARY", PRIMARY);
            expect(
                summary.is_some_and(|f| f.status == Status::Fail),
                format!(
                    "SWEEP-SUMMARY: {}",
                    summary.map_or("none".to_owned(), |f| f.message.clone())
                ),
            )
        }
        other => Err(format!("unknown scenario {other}")),
    }
}
