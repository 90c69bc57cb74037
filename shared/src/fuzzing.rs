//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`) and for the tests that
//! replay every input they ever crashed on. Each takes raw bytes, runs one reader of untrusted
//! input end to end, and asserts what must hold for any input; a violated assertion is a crash
//! the fuzzer reports.

use std::sync::OnceLock;

use serde_json::Value;

use crate::checks::key_policy::check_key_policy;
use crate::config::Config;
use crate::finding::Finding;
use crate::intake::envelope::CloudTrailEvent;
use crate::intake::instance::{IdpEvent, InstanceEvent};
use crate::intake::key::KeyEvent;
use crate::model::{RegionModel, caller_context};
use crate::notify::limits::{
    MAX_BLOCKS, MAX_FIELD_TEXT, MAX_FIELDS, MAX_HEADER_TEXT, MAX_SECTION_TEXT,
};
use crate::notify::{MessageContext, slack_message};
use crate::plan::repair::repair_policy;
use idc_guard_policy::analysis::{Analysis, Limits};
use idc_guard_policy::document::{MAX_POLICY_BYTES, parse_key_policy};
use idc_guard_policy::eval::{Reading, applies, evaluate};
use idc_guard_policy::logic::Truth;
use idc_guard_policy::request::{AccessRequest, Caller};

const CONFIG: &str = include_str!("../../examples/config.toml");

/// The example configuration in two Regions (every Region is checked alike; two keep the
/// per-Region pins and repairs in play at a third less cost per input), and a variant that
/// requires the pinned encryption context.
fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let two_regions = CONFIG.replace(
            r#"regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]"#,
            r#"regions = ["us-east-1", "eu-west-1"]"#,
        );
        let pinned = two_regions.replace(
            "pin_encryption_context = false",
            "pin_encryption_context = true",
        );
        let read = |text: &str| match Config::from_toml(text, "examples/config.toml") {
            Ok(c) => c,
            Err(e) => unreachable!("the example configuration is valid: {e}"),
        };
        [read(&two_regions), read(&pinned)]
    })
}

/// A key policy: parse, every KP check in every Region, the evaluator under both readings,
/// and repair. The first byte picks the configuration; the rest is the policy text.
pub fn key_policy(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let [plain, pinned] = configs();
    let config = if selector & 1 == 0 { plain } else { pinned };
    evaluator_readings_are_ordered(config, text);
    witnesses_are_what_they_claim(config, text);
    let report = check_key_policy(config, text);
    for finding in &report.findings {
        assert!(
            config.regions.contains(&finding.region),
            "a finding names a Region outside the configuration: {finding:?}"
        );
    }
    for region in &config.regions {
        let Ok(Some(repaired)) = repair_policy(config, region, text, &report) else {
            continue;
        };
        // A proposed repair is one the guard may write: it must fit and pass every KP check.
        assert!(
            repaired.text.len() <= MAX_POLICY_BYTES,
            "repair grew the policy past KMS's limit"
        );
        let after = check_key_policy(config, &repaired.text);
        let left: Vec<&Finding> = after.problems().filter(|f| &f.region == region).collect();
        assert!(
            left.is_empty(),
            "repair in {region} proposed a policy that still fails: {left:?}\n{}",
            repaired.text
        );
    }
}

/// Every witness the analysis reports, for every question of the model in the primary Region,
/// is a request of the question's space that the evaluator decides as claimed: allowed for a
/// must-deny question (reading undocumented points as granting), not allowed for a must-allow
/// one (reading them as denying), for each action it stands for. Smaller budgets than the
/// checks' keep an input fast; running out of one is an answer (undecided), never a crash.
fn witnesses_are_what_they_claim(config: &Config, text: &str) {
    let Some(policy) = parse_key_policy(text).policy else {
        return;
    };
    let region = config.primary_region.as_str();
    let resource = config.key_arn_in(region);
    let limits = Limits {
        split_states: 2_000,
        solver_nodes: 20_000,
        choices: 32,
        screening: true,
    };
    let analysis = Analysis::new(&policy);
    for mq in RegionModel::new(config, region).questions() {
        let q = mq.question(&resource, config.partition(), region, limits);
        let answer = if mq.must_allow {
            analysis.find_denied(&q)
        } else {
            analysis.find_allowed(&q)
        };
        for w in &answer.witnesses {
            let r = &w.request;
            assert!(
                w.actions.minus(mq.actions).is_empty() && w.actions.contains(&r.action),
                "{}: a witness outside the question's actions: {r:?}",
                mq.check
            );
            for exclusion in &mq.exclusions {
                assert!(
                    applies(exclusion, &r.caller, &r.resource, &r.context) != Truth::True,
                    "{}: a witness outside the question's space: {r:?}",
                    mq.check
                );
            }
            for action in w.actions.names() {
                let request = AccessRequest {
                    action: action.to_owned(),
                    ..r.clone()
                };
                let (reading, want_allowed) = if mq.must_allow {
                    (Reading::GrantsLeast, false)
                } else {
                    (Reading::GrantsMost, true)
                };
                let decision = evaluate(&policy, &request, reading);
                assert_eq!(
                    decision.is_allowed(),
                    want_allowed,
                    "{}: the witness does not reproduce for {action}: {request:?}",
                    mq.check
                );
            }
        }
    }
}

/// `GrantsMost` never allows less than `GrantsLeast`: an undocumented point may only widen
/// what the cautious reading allows.
fn evaluator_readings_are_ordered(config: &Config, text: &str) {
    let Some(policy) = parse_key_policy(text).policy else {
        return;
    };
    let region = config.primary_region.as_str();
    let partition = config.partition();
    let callers = [
        Caller::root(config.key_account(), partition),
        Caller::role("999988887777", "Intruder", partition),
        Caller::Service("sso.amazonaws.com".to_owned()),
        Caller::Anonymous,
    ];
    for caller in callers {
        let context = caller_context(config, region, &caller);
        for action in ["kms:PutKeyPolicy", "kms:Decrypt", "kms:DescribeKey"] {
            let request = AccessRequest {
                caller: caller.clone(),
                action: action.to_owned(),
                resource: config.key_arn_in(region),
                context: context.clone(),
            };
            let least = evaluate(&policy, &request, Reading::GrantsLeast);
            let most = evaluate(&policy, &request, Reading::GrantsMost);
            assert!(
                !least.is_allowed() || most.is_allowed(),
                "{action} by {caller}: allowed when granting least, denied when granting most"
            );
        }
    }
}

/// An EventBridge event as a guard receives it: the CloudTrail envelope, then each guard's
/// reading of it. A refusal must name the place.
pub fn cloudtrail_event(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    one_record(&value);
}

/// One record through the envelope, the dispatcher and every guard's intake: a malformed
/// record names its place, and the dispatcher picks a guard exactly when that guard's intake
/// knows the call (the others skip it as not theirs).
fn one_record(value: &Value) {
    use crate::intake::Owner;
    use crate::intake::envelope::{Rejection, Skip};
    match CloudTrailEvent::try_from(value) {
        Ok(event) => {
            let owners = Owner::every(&event);
            let results = [
                (Owner::KeyPolicy, KeyEvent::try_from(&event).map(|_| ())),
                (Owner::Region, InstanceEvent::try_from(&event).map(|_| ())),
                (Owner::Idp, IdpEvent::try_from(&event).map(|_| ())),
            ];
            for (guard, result) in results {
                let unknown = matches!(result, Err(Rejection::Skip(Skip::UnhandledEvent(_))));
                assert_eq!(
                    owners.contains(&guard),
                    !unknown,
                    "the dispatcher and {guard}'s intake disagree on {}",
                    event.event_name
                );
                if let Some(place) = result.err().and_then(rejection_place) {
                    assert!(!place.is_empty(), "a malformed event names no place");
                }
            }
        }
        Err(Rejection::Malformed(e)) => {
            assert!(!e.place.is_empty(), "a malformed event names no place: {e}");
        }
        Err(Rejection::Skip(_)) => {}
    }
}

/// A file of records (an event, a CloudTrail log file, lookup-events output), streamed:
/// entries arrive numbered in file order, a fault counts what came before it, and every
/// record goes through [`one_record`].
pub fn cloudtrail_records(data: &[u8]) {
    use crate::intake::records::{Entry, read_records};
    let mut count = 0usize;
    let result = read_records(data, |entry| {
        let index = match &entry {
            Entry::Record { index, record } => {
                one_record(record);
                *index
            }
            Entry::Unreadable { index, error } => {
                assert!(!error.is_empty(), "an unreadable entry says nothing");
                *index
            }
        };
        assert_eq!(index, count, "entries out of order");
        count += 1;
        std::ops::ControlFlow::Continue(())
    });
    if let Err(e) = result {
        assert_eq!(
            e.delivered, count,
            "the fault miscounts the records before it"
        );
    }
}

fn rejection_place(r: crate::intake::envelope::Rejection) -> Option<String> {
    match r {
        crate::intake::envelope::Rejection::Malformed(e) => Some(e.place),
        crate::intake::envelope::Rejection::Skip(_) => None,
    }
}

/// A finding as the notifier receives it, rendered into a Slack message that must stay
/// within Slack's limits.
pub fn finding_message(data: &[u8]) {
    let Ok(finding) = serde_json::from_slice::<Finding>(data) else {
        return;
    };
    let ctx = MessageContext {
        evidence_bucket: Some("evidence".to_owned()),
        event_id: "fuzz".to_owned(),
        event_time: None,
    };
    let message = slack_message(&finding, &ctx);
    assert!(
        message.get("text").and_then(Value::as_str).is_some(),
        "a message without fallback text"
    );
    let blocks = message
        .get("blocks")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
    for block in blocks {
        within_slack_limits(block);
    }
}

/// One Block Kit block within Slack's limits (characters, not bytes).
fn within_slack_limits(block: &Value) {
    let chars = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, |t| t.chars().count());
    let text = block.get("text").and_then(|t| t.get("text"));
    match block.get("type").and_then(Value::as_str) {
        Some("header") => assert!(chars(text) <= MAX_HEADER_TEXT, "header too long: {block}"),
        Some("section") => {
            assert!(chars(text) <= MAX_SECTION_TEXT, "section too long: {block}");
            let fields = block
                .get("fields")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            assert!(fields.len() <= MAX_FIELDS, "too many fields: {block}");
            for field in fields {
                assert!(
                    chars(field.get("text")) <= MAX_FIELD_TEXT,
                    "field too long: {field}"
                );
            }
        }
        Some("context") => {
            for element in block
                .get("elements")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
            {
                assert!(
                    chars(element.get("text")) <= MAX_SECTION_TEXT,
                    "context too long: {element}"
                );
            }
        }
        _ => {}
    }
}

/// SAML metadata as the IdP guard reads it.
pub fn saml_metadata(data: &[u8]) {
    let _ = crate::saml::read_metadata(data);
}

/// A configuration file: parsed, or refused with a message.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_toml(text, "fuzz.toml") {
        assert!(
            !e.to_string().is_empty(),
            "a refused configuration says nothing"
        );
    }
}

/// A digest of the evidence chain, read back under a key: whatever the bytes, the reader
/// refuses or returns a digest consistent with its key (its hour, no link to itself or to a
/// later digest, each record once, SHA-256 in hex), which writes back to the same digest.
pub fn evidence_digest(data: &[u8]) {
    use crate::evidence::digest::{WINDOW_SECONDS, read_digest, window_of_key};
    // The first byte picks the hour, so the key varies too.
    let Some((&hour, body)) = data.split_first() else {
        return;
    };
    let key = format!("digest/2026/11/27/{:02}.json", hour % 24);
    if let Ok(d) = read_digest(&key, body) {
        let start = window_of_key(&key).map(|w| w.to_string());
        assert_eq!(
            Some(d.window_start.clone()),
            start,
            "a digest of another hour"
        );
        assert!(
            crate::domain::time::Timestamp::parse(&d.window_end)
                .zip(crate::domain::time::Timestamp::parse(&d.window_start))
                .is_some_and(|(e, s)| e.0 - s.0 == WINDOW_SECONDS)
        );
        if let Some(p) = &d.previous {
            assert_ne!(p.key, key, "a digest that names itself");
        }
        assert_eq!(
            read_digest(&key, &d.body()).as_ref(),
            Ok(&d),
            "does not read back"
        );
    }
}

/// Characters no credentials error message writes itself: text with one of them in it
/// can only be in a message if the message repeats the input.
const SECRET_MARKS: &[char] = &[
    '~', '!', '#', '$', '%', '^', '&', '*', '+', '|', '?', '<', '>', '@', '{', '}', '[', ']', '`',
];

/// The IdP adapters' readers of untrusted responses and secrets. The first byte picks one:
/// a Graph application (0), with its service principal (1), a Graph page (2), an Okta app and
/// its keys (3), the Entra (4) or Okta (5) credentials secret. A refusal names its field;
/// an application that reads gets an add-only update that keeps every URL it had and, read
/// back, lists them and the added ones; a refused secret never repeats a value.
pub fn idp_responses(data: &[u8]) {
    use crate::idp_app::credentials::read_credentials;
    use crate::idp_app::{ProviderKind, graph, okta};
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector % 6 >= 4 {
        let provider = if selector % 6 == 4 {
            ProviderKind::EntraId
        } else {
            ProviderKind::Okta
        };
        if let Err(e) = read_credentials(provider, text) {
            let message = e.to_string();
            if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) {
                // Names and values both: either may be a secret typed in the wrong place. What
                // the message may hold (the field names it lists, an unknown key that looks
                // like a name) is taken out; nothing else from the input may remain.
                let name_like = |t: &str| {
                    t.len() <= 32 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                let mut rest = message.clone();
                let listed = [
                    "client_id",
                    "client_secret",
                    "private_key",
                    "certificate",
                    "key_id",
                    "api_token",
                ];
                for name in o
                    .keys()
                    .map(String::as_str)
                    .filter(|k| name_like(k))
                    .chain(listed)
                {
                    rest = rest.replace(name, "");
                }
                // Only text that no message template can contain is looked for (the reader's
                // own words would match by chance): secrets carry such characters.
                let secret_like = |t: &str| t.len() >= 8 && t.contains(SECRET_MARKS);
                let keys = o.keys().map(String::as_str).filter(|k| !name_like(k));
                for text in keys.chain(o.values().filter_map(Value::as_str)) {
                    let text = text.trim();
                    assert!(
                        !secret_like(text) || !rest.contains(text),
                        "a credentials error repeats a value: {message}"
                    );
                }
            }
        }
        return;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let read = match selector % 6 {
        0 => graph::read_app(&value, None, None),
        1 => graph::read_app(
            value.get("application").unwrap_or(&Value::Null),
            value.get("servicePrincipal"),
            None,
        ),
        2 => {
            if let Err(e) = graph::read_page(&value) {
                assert!(!e.field.is_empty(), "a refusal names no field: {e}");
            }
            return;
        }
        _ => okta::read_app(
            value.get("app").unwrap_or(&Value::Null),
            value.get("keys").unwrap_or(&Value::Null),
            None,
        ),
    };
    match read {
        Err(e) => assert!(!e.field.is_empty(), "a refusal names no field: {e}"),
        Ok(app) => updates_only_add(&app),
    }
}

/// The update that registers two more ACS URLs keeps every URL `app` had, and the
/// application it leaves lists them all.
fn updates_only_add(app: &crate::idp_app::IdpApp) {
    use crate::idp_app::{ProviderKind, add_acs_urls, graph, okta};
    let wanted = vec![
        "https://eu-west-1.signin.aws/platform/saml/acs/fuzz".to_owned(),
        app.acs_urls.first().cloned().unwrap_or_default(),
    ];
    let Ok(Some(update)) = add_acs_urls(app, &wanted) else {
        return;
    };
    let after = match app.provider {
        ProviderKind::EntraId => {
            let mut document = app.document.clone();
            if let (Some(o), Some(web)) = (document.as_object_mut(), update.body.get("web")) {
                o.insert("web".into(), web.clone());
            }
            graph::read_app(&document, None, None)
        }
        ProviderKind::Okta => okta::read_app(&update.body, &Value::Array(Vec::new()), None),
    };
    let Ok(after) = after else {
        unreachable!("the updated application does not read back")
    };
    for url in app.acs_urls.iter().chain(&update.adds) {
        assert!(after.acs_urls.contains(url), "the update lost {url}");
    }
    if app.provider == ProviderKind::EntraId {
        let before =
            crate::idp_app::strings(ProviderKind::EntraId, &app.document, "web.redirectUris")
                .unwrap_or_default();
        let now =
            crate::idp_app::strings(ProviderKind::EntraId, &after.document, "web.redirectUris")
                .unwrap_or_default();
        assert!(
            now.starts_with(&before),
            "the update reordered or removed reply URLs"
        );
        assert!(update.adds.iter().all(|u| now.contains(u)));
    }
}
