//! The IdP adapters' real HTTP client against the local Graph and Okta servers
//! (`idc_guard_tests::idp_server`): tokens (client secret, certificate and key assertions,
//! SSWS), the token cache, paging, throttling, expired tokens, 403, 404, ETag conflicts, and
//! the add-only update.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use idc_guard_core::config::IdpApplication;
use idc_guard_core::idp_app::{IdpErrorKind, add_acs_urls};
use idc_guard_core::idp_http::{HttpApps, from_secret};
use idc_guard_core::ports::IdentityProviderApps;
use idc_guard_tests::idp_server::IdpServer;
use idc_guard_tests::idp_server::fixtures::{
    AUDIENCE, ENTRA_APP_OBJECT_ID, OKTA_APP_ID, acs, entra_application, entra_certificate_json,
    entra_secret_json, entra_world, okta_application, okta_key_json, okta_token_json, okta_world,
};

fn apps(application: IdpApplication, secret: &str, write: bool) -> HttpApps {
    let provider = application.provider.kind();
    HttpApps::new(
        application,
        idc_guard_core::idp_app::credentials::read_credentials(provider, secret).unwrap(),
        write,
        Duration::from_secs(5),
        Duration::from_secs(3),
    )
    .unwrap()
}

/// The Entra world with one ACS URL (us-east-1), running.
async fn entra_server() -> IdpServer {
    IdpServer::start(entra_world(&[acs("us-east-1")]))
        .await
        .unwrap()
}

/// The Okta world with one ACS URL (us-east-1), running.
async fn okta_server() -> IdpServer {
    IdpServer::start(okta_world(&acs("us-east-1"), &[]))
        .await
        .unwrap()
}

#[tokio::test]
async fn entra_reads_the_application_its_service_principal_and_pages_of_owners() {
    let server = entra_server().await;
    let apps = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        true,
    );
    let app = apps.read_app().await.unwrap();
    assert_eq!(app.id, ENTRA_APP_OBJECT_ID);
    assert_eq!(app.acs_urls, vec![acs("us-east-1")]);
    assert_eq!(app.entity_ids, vec![AUDIENCE]);
    assert_eq!(app.certificates.len(), 1, "the Verify key only");
    assert!(app.certificates[0].active);
    // The guard is the third owner: found on the second page.
    assert_eq!(app.write_blocker, None);
    let log = server.world().log.clone();
    let owner_pages = log.iter().filter(|l| l.ends_with("/owners")).count();
    assert_eq!(owner_pages, 2, "{log:#?}");
    // The token is cached: a second read asks for none.
    apps.read_app().await.unwrap();
    assert_eq!(server.world().token_requests, 1);
    // Not an owner: the read says why a write cannot work.
    server.world().owners.clear();
    let app = apps.read_app().await.unwrap();
    assert!(app.write_blocker.unwrap().contains("not an owner"));
}

#[tokio::test]
async fn entra_accepts_a_certificate_assertion_and_refuses_a_wrong_secret_without_echoing_it() {
    let server = entra_server().await;
    let app = apps(
        entra_application(&server.url).unwrap(),
        &entra_certificate_json(),
        false,
    )
    .read_app()
    .await
    .unwrap();
    assert_eq!(app.acs_urls.len(), 1);
    let wrong = r#"{"client_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "client_secret": "SECRET-MARKER-wrong"}"#;
    let e = apps(entra_application(&server.url).unwrap(), wrong, false)
        .read_app()
        .await
        .unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::Refused);
    let text = format!("{e} {e:?}");
    assert!(text.contains("invalid_client (AADSTS7000215)"), "{text}");
    assert!(!text.contains("SECRET-MARKER"), "{text}");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let server = entra_server().await;
    let apps = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        false,
    );
    apps.read_app().await.unwrap();
    server.world().expire_tokens();
    apps.read_app().await.unwrap();
    assert_eq!(server.world().token_requests, 2);
}

#[tokio::test]
async fn throttling_waits_for_retry_after_then_gives_up_retryably() {
    let server = entra_server().await;
    let apps = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        false,
    );
    server.world().throttle = 1;
    let started = std::time::Instant::now();
    apps.read_app().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    // Asked to wait longer than the invocation waits: left to Lambda's retry.
    {
        let mut w = server.world();
        w.throttle = 1;
        w.retry_after = 60;
    }
    let e = apps.read_app().await.unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(e.message.contains("asked to wait 60 s"), "{e}");
}

#[tokio::test]
async fn the_calls_of_one_review_share_a_time_budget_and_any_wait_is_bounded() {
    let server = entra_server().await;
    let apps = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        false,
    );
    apps.limit_calls(Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = apps.read_app().await.unwrap_err();
    assert!(
        e.retryable() && e.message.contains("time for IdP calls is used up"),
        "{e}"
    );
    assert!(server.world().log.is_empty(), "nothing was sent");
    // A new review starts a new budget; an absurd Retry-After neither overflows nor waits.
    apps.limit_calls(Duration::from_secs(30));
    {
        let mut w = server.world();
        w.throttle = 1;
        w.retry_after = u64::MAX;
    }
    let e = apps.read_app().await.unwrap_err();
    assert!(e.retryable(), "{e}");
}

#[tokio::test]
async fn a_missing_permission_and_an_unknown_app_are_named() {
    let server = entra_server().await;
    server.world().graph_permissions.clear();
    let e = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        false,
    )
    .read_app()
    .await
    .unwrap_err();
    assert_eq!(
        e.kind,
        IdpErrorKind::MissingPermission(
            "Application.Read.All (Microsoft Graph application permission, admin-consented)".into()
        )
    );
    assert!(e.message.contains("Authorization_RequestDenied"), "{e}");
    let server = entra_server().await;
    let mut application = entra_application(&server.url).unwrap();
    application.app_id = "00000000-0000-4000-8000-00000000dead".into();
    let e = apps(application, &entra_secret_json(), false)
        .read_app()
        .await
        .unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::NotFound);
    assert!(
        e.message.contains("00000000-0000-4000-8000-00000000dead"),
        "{e}"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = entra_server().await;
    let apps = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        true,
    );
    apps.read_app().await.unwrap();
    // The token is cached; the server now pages to elsewhere.
    server.world().url = "http://203.0.113.9:8080".into();
    let e = apps.read_app().await.unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::Malformed);
    assert!(e.message.contains("not followed"), "{e}");
}

#[tokio::test]
async fn an_unexpected_shape_names_the_field_and_nothing_is_written() {
    let server = entra_server().await;
    server.world().applications[0]["web"]["redirectUris"] = serde_json::json!("not-a-list");
    let e = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        true,
    )
    .read_app()
    .await
    .unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::Malformed);
    assert!(
        e.message.contains("web.redirectUris: is not an array"),
        "{e}"
    );
    assert!(server.world().writes().is_empty());
}

#[tokio::test]
async fn entra_patch_with_if_match_conflicts_when_the_application_changed() {
    let server = entra_server().await;
    server.world().etags = true;
    let apps = apps(
        entra_application(&server.url).unwrap(),
        &entra_secret_json(),
        true,
    );
    let app = apps.read_app().await.unwrap();
    let update = add_acs_urls(&app, &[acs("eu-west-1")]).unwrap().unwrap();
    server.world().edit_before_write = Some(acs("ap-south-1"));
    let e = apps.update_app(&update).await.unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::Conflict);
    // Rebuilt from a fresh read, the other edit is kept.
    let fresh = apps.read_app().await.unwrap();
    let update = add_acs_urls(&fresh, &[acs("eu-west-1")]).unwrap().unwrap();
    apps.update_app(&update).await.unwrap();
    let after = apps.read_app().await.unwrap();
    assert_eq!(
        after.acs_urls,
        vec![acs("us-east-1"), acs("ap-south-1"), acs("eu-west-1")]
    );
}

#[tokio::test]
async fn okta_reads_with_a_key_assertion_and_puts_the_whole_app_back() {
    let server = okta_server().await;
    let apps = apps(
        okta_application(&server.url).unwrap(),
        &okta_key_json(),
        true,
    );
    let app = apps.read_app().await.unwrap();
    assert_eq!(app.id, OKTA_APP_ID);
    assert_eq!(app.acs_urls, vec![acs("us-east-1")]);
    assert_eq!(app.certificates.iter().filter(|c| c.active).count(), 1);
    let update = add_acs_urls(&app, &[acs("eu-west-1")]).unwrap().unwrap();
    assert_eq!(update.method, "PUT");
    apps.update_app(&update).await.unwrap();
    let after = apps.read_app().await.unwrap();
    assert_eq!(after.acs_urls, vec![acs("us-east-1"), acs("eu-west-1")]);
    // Everything else in the app is as it was.
    let stored = server.world().okta_apps[0].clone();
    assert_eq!(
        stored["settings"]["signOn"]["subjectNameIdFormat"],
        app.document["settings"]["signOn"]["subjectNameIdFormat"]
    );
    assert_eq!(stored["label"], "AWS IAM Identity Center");
}

#[tokio::test]
async fn okta_throttling_honours_x_rate_limit_reset_and_ssws_works() {
    let server = okta_server().await;
    server.world().throttle = 1;
    let apps = apps(
        okta_application(&server.url).unwrap(),
        &okta_token_json(),
        false,
    );
    apps.read_app().await.unwrap();
    assert_eq!(
        server.world().token_requests,
        0,
        "an SSWS token needs no token request"
    );
    // A revoked API token is not refreshed: the 401 is final.
    server.world().okta_api_token = None;
    let e = apps.read_app().await.unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::Refused);
    assert!(e.message.contains("E0000011"), "{e}");
}

#[tokio::test]
async fn okta_without_the_manage_scope_refuses_the_token_and_says_which_scope() {
    let server = okta_server().await;
    server.world().okta_scopes.remove("okta.apps.manage");
    // A reader needs only okta.apps.read.
    apps(
        okta_application(&server.url).unwrap(),
        &okta_key_json(),
        false,
    )
    .read_app()
    .await
    .unwrap();
    let e = apps(
        okta_application(&server.url).unwrap(),
        &okta_key_json(),
        true,
    )
    .read_app()
    .await
    .unwrap_err();
    assert!(e.message.contains("invalid_scope"), "{e}");
    // Another app id: 404, named.
    let mut application = okta_application(&server.url).unwrap();
    application.app_id = "0oaNOPE".into();
    let e = from_secret(application, &okta_key_json(), false)
        .unwrap()
        .read_app()
        .await
        .unwrap_err();
    assert_eq!(e.kind, IdpErrorKind::NotFound);
    assert!(
        e.message.contains("0oaNOPE") && e.message.contains("E0000007"),
        "{e}"
    );
}
