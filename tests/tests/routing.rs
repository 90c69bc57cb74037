//! The EventBridge rules of `infra/` route exactly the events each guard handles. The rules
//! are read from the templates (scripts/event-patterns.py, as the demo wires them), put on
//! moto's EventBridge with a queue standing in for each function, and every event of
//! `tests/fixtures/events/` goes on the default bus. Both directions are checked: an event a
//! guard's intake takes reaches that guard, and no rule delivers an event its guard would skip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use idc_guard_core::intake::Owner;
use idc_guard_core::intake::envelope::{CloudTrailEvent, Rejection, Skip};
use idc_guard_core::intake::instance::{IdpEvent, InstanceEvent};
use idc_guard_core::intake::key::KeyEvent;
use idc_guard_tests::demo::read_routes;
use idc_guard_tests::key_fixture::{KeyFixture, PRIMARY};
use idc_guard_tests::local_aws::{Moto, unique};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect()
}

/// The guards that would act on `event`: each whose intake takes the event (whatever the key
/// or instance, which only live state and the configuration decide). A Region change goes to
/// region-guard and to idp-guard (for the IdP application's ACS URLs).
fn handled_by(event: &Value) -> Vec<&'static str> {
    let record = match CloudTrailEvent::try_from(event) {
        Ok(r) => r,
        Err(Rejection::Skip(_)) => return Vec::new(),
        Err(Rejection::Malformed(e)) => panic!("a corpus event is malformed: {e}"),
    };
    let taken = |r: Result<(), Rejection>| match r {
        Ok(()) => true,
        Err(Rejection::Skip(Skip::OtherKey(_) | Skip::OtherInstance(_))) => true,
        Err(Rejection::Skip(_)) => false,
        Err(Rejection::Malformed(e)) => panic!("a corpus event is malformed: {e}"),
    };
    Owner::every(&record)
        .into_iter()
        .filter(|owner| match owner {
            Owner::KeyPolicy => taken(KeyEvent::try_from(&record).map(|_| ())),
            Owner::Region => taken(InstanceEvent::try_from(&record).map(|_| ())),
            Owner::Idp => taken(IdpEvent::try_from(&record).map(|_| ())),
        })
        .map(Owner::function)
        .collect()
}

fn routes() -> Vec<idc_guard_tests::demo::world::Route> {
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("scripts/event-patterns.py"))
        .arg(root().join("infra/regional.yaml"))
        .arg(root().join("infra/shared.yaml"))
        .output()
        .expect("run scripts/event-patterns.py with .venv's Python (make local-aws)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_routes(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_rules_route_exactly_the_events_each_guard_handles() {
    let guards: BTreeSet<&str> = Owner::ALL.iter().map(|o| o.function()).collect();
    let guard_routes: Vec<_> = routes()
        .into_iter()
        .filter(|r| r.bus == "default" && guards.contains(r.function.as_str()))
        .collect();
    let routed: BTreeSet<&str> = guard_routes.iter().map(|r| r.function.as_str()).collect();
    assert_eq!(routed, guards, "every guard has a rule");

    let moto = Moto::start().unwrap();
    let fixture = KeyFixture::new(&moto, &[PRIMARY], "notify").await.unwrap();
    let mut queues = Vec::new();
    for route in &guard_routes {
        let (url, arn) = fixture.queue(&unique(&route.function)).await.unwrap();
        fixture
            .route(None, &unique(&route.rule), &route.pattern, &arn)
            .await
            .unwrap();
        queues.push((route.function.clone(), url));
    }

    let corpus = corpus();
    assert!(corpus.len() >= 25, "the corpus lost files");
    let readme = std::fs::read_to_string(root().join("tests/fixtures/events/README.md")).unwrap();
    let events = fixture.events();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, event) in &corpus {
        assert!(
            readme.contains(&format!("| {name} |")),
            "{name} is not described in tests/fixtures/events/README.md"
        );
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .set_resources(event["resources"].as_array().map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            }))
            .build();
        let out = events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(out.failed_entry_count(), 0, "{name}: {out:?}");
        expected.insert(
            name.clone(),
            handled_by(event).into_iter().map(str::to_owned).collect(),
        );
    }
    // Which function's queue each file reached, by the detail's eventID or the event id.
    let id_of = |v: &Value| {
        v["detail"]["eventID"]
            .as_str()
            .or_else(|| v["detail"]["key-id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let names_by_id: BTreeMap<String, String> = corpus
        .iter()
        .map(|(name, event)| (id_of(event), name.clone()))
        .collect();
    let mut reached: BTreeMap<String, BTreeSet<String>> = corpus
        .iter()
        .map(|(name, _)| (name.clone(), BTreeSet::new()))
        .collect();
    for (function, url) in &queues {
        loop {
            let taken = fixture.take(url).await.unwrap();
            if taken.is_empty() {
                break;
            }
            for message in taken {
                let name = &names_by_id[&id_of(&message)];
                reached.get_mut(name).unwrap().insert(function.clone());
            }
        }
    }
    let handled = expected.values().filter(|g| !g.is_empty()).count();
    assert!(handled >= 15, "the corpus holds {handled} handled events");
    assert!(
        expected.len() - handled >= 8,
        "the corpus must hold events no guard takes"
    );
    assert_eq!(reached, expected);
}
