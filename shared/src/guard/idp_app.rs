//! The IdP application, live: IDP-ACS-URLS and IDP-CERTIFICATE judged against what the IdP's
//! API returns, and in remediate mode with `idp.allow_update` the missing ACS URLs added.
//!
//! The change only adds: the update is built from a read taken just before it is sent, with
//! every URL already there kept in its place. Where the provider returns an `ETag` it goes
//! back as `If-Match`, and a conflict re-reads and rebuilds (so a concurrent edit is kept);
//! neither Graph nor Okta documents one for these objects, so the re-read right before the
//! write is what keeps the window short. A re-read afterwards verifies that every URL added
//! is there and none that was there is gone. One circuit-breaker unit per change.

use crate::checks::idp_app::{RegionAcs, app_label, check_app_certificates, check_live_acs};
use crate::config::{Config, Mode};
use crate::domain::time::Timestamp;
use crate::finding::{CheckId, Finding, Remediation, RemediationOutcome, Status, fingerprint};
use crate::guard::GuardError;
use crate::guard::change::Assessment;
use crate::idp_app::{
    AppUpdate, IdpApp, IdpError, IdpErrorKind, ResponseError, add_acs_urls, missing_from,
};
use crate::ports::{ActionBudget, Budget, IdentityProviderApps, PortError, PortErrorKind};

/// How many times a write that met a conflict is rebuilt from a fresh read.
const WRITE_ATTEMPTS: usize = 3;

/// What the review found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppReview {
    /// The findings (the inspection; a remediated failure carries its remediation).
    pub findings: Vec<Finding>,
    /// The findings of the re-read after a change (they resolve what was fixed).
    pub verified: Vec<Finding>,
    /// Whether an update was sent to the IdP.
    pub changed: bool,
    /// A write or its verification failed in a way a retry may fix (throttling, the network):
    /// the findings are published, then the invocation fails so the retry re-reads and
    /// finishes.
    pub interrupted: Option<PortError>,
}

impl From<AppReview> for Assessment {
    fn from(review: AppReview) -> Self {
        Assessment {
            findings: review.findings,
            verified: review.verified,
            changed: review.changed,
            interrupted: review.interrupted,
            ..Self::default()
        }
    }
}

/// What the caller allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// Report only; show the update that would be sent (notify, `idp check`).
    Report,
    /// Report the update as planned (dry-run, `idp sync --dry-run`).
    Plan,
    /// Send it (remediate mode with `idp.allow_update`, `idp sync`).
    Apply,
    /// Remediate mode, but not now: the reason (loop protection, a degraded claim).
    Withheld(String),
}

impl Permit {
    /// The permit of a guard in `config`'s mode; `withheld` is a reason not to act now.
    pub fn for_guard(config: &Config, withheld: Option<String>) -> Permit {
        match config.remediation.mode {
            Mode::Notify => Permit::Report,
            Mode::DryRun => Permit::Plan,
            Mode::Remediate if !config.idp.allow_update => Permit::Withheld(
                "Not remediated: idp.allow_update is false, so idc-guard never writes to the IdP."
                    .into(),
            ),
            Mode::Remediate => withheld.map_or(Permit::Apply, Permit::Withheld),
        }
    }
}

/// The IdP operation an error came from, as a port error (for retries and the log).
pub fn port_error(op: &str, config: &Config, e: &IdpError) -> PortError {
    let kind = if e.retryable() {
        PortErrorKind::Transient
    } else {
        PortErrorKind::Rejected
    };
    PortError::new(op, &config.primary_region, kind, e.to_string())
}

/// The finding when the application cannot be read: an error (it neither opens nor closes a
/// failure), saying "cannot verify" and the missing permission when that is why.
pub fn unreadable_app(config: &Config, e: &IdpError) -> Finding {
    let check = CheckId::IdpAcsUrls;
    let why = described(e);
    crate::checks::finding_on(
        check,
        Status::Error,
        &config.primary_region,
        &config.instance_arn,
        format!("{check} cannot verify the IdP application: {why}"),
        "unreadable-app",
    )
}

/// Reads the application and judges it for `regions`; fixes what `permit` allows. A
/// throttled or unreachable IdP is an `Err` (retried); any other read failure is the
/// "cannot verify" finding.
pub async fn review_app<A, K>(
    config: &Config,
    apps: &A,
    budget: &K,
    regions: &[String],
    permit: &Permit,
    now: Timestamp,
) -> Result<AppReview, GuardError>
where
    A: IdentityProviderApps,
    K: ActionBudget,
{
    apps.begin();
    let app = match apps.read_app().await {
        Ok(app) => app,
        Err(e) if e.retryable() => return Err(port_error("idp:read-app", config, &e).into()),
        Err(e) => {
            return Ok(AppReview {
                findings: vec![unreadable_app(config, &e)],
                ..AppReview::default()
            });
        }
    };
    let missing: Vec<String> = crate::checks::idp_app::region_acs(config, regions, &app)
        .into_iter()
        .filter(|r| r.registered.is_none())
        .map(|r| r.to_add)
        .collect();
    let planned = if missing.is_empty() {
        None
    } else {
        Some(add_acs_urls(&app, &missing))
    };
    let (mut action, remediation) = intent(planned.as_ref(), permit, &app);
    if planned.as_ref().is_some_and(|p| matches!(p, Ok(Some(_)))) {
        action.push_str(&blocker_note(&app, permit));
    }
    let mut review = AppReview {
        findings: judge(config, regions, &app, now, &action),
        ..AppReview::default()
    };
    if let (Some(Ok(Some(update))), Permit::Apply, None) = (&planned, permit, &app.write_blocker) {
        apply(
            config,
            apps,
            budget,
            regions,
            &app,
            &missing,
            update,
            now,
            &mut review,
        )
        .await?;
    } else if let Some(outcome) = remediation {
        let actions = match &planned {
            Some(Ok(Some(update))) => vec![update.to_string()],
            _ => Vec::new(),
        };
        attach(
            &mut review.findings,
            config.remediation.mode,
            &actions,
            outcome,
            "",
        );
    }
    Ok(review)
}

/// What the finding says about the change, and what becomes of it (`None`: it is sent).
fn intent(
    planned: Option<&Result<Option<AppUpdate>, ResponseError>>,
    permit: &Permit,
    app: &IdpApp,
) -> (String, Option<RemediationOutcome>) {
    match (planned, permit) {
        (None, _) => (String::new(), None),
        (Some(Err(e)), _) => (
            format!(" It cannot be added automatically: {e}."),
            Some(RemediationOutcome::Skipped),
        ),
        (Some(Ok(None)), _) => (
            " The application lists it, but its service principal does not yet (Entra syncs them); re-checked on the next sweep.".to_owned(),
            Some(RemediationOutcome::Skipped),
        ),
        (Some(Ok(Some(update))), Permit::Report) => (
            format!(" Remediate mode with idp.allow_update = true would send: {update}"),
            Some(RemediationOutcome::Skipped),
        ),
        (Some(Ok(Some(update))), Permit::Plan) => (
            format!(" Dry-run: would send {update}"),
            Some(RemediationOutcome::Planned),
        ),
        (Some(Ok(Some(update))), Permit::Withheld(reason)) => (
            format!(" {reason} The change would be: {update}"),
            Some(RemediationOutcome::Skipped),
        ),
        (Some(Ok(Some(update))), Permit::Apply) => match &app.write_blocker {
            Some(blocker) => (
                format!(" It cannot be added automatically: {blocker}. The change would be: {update}"),
                Some(RemediationOutcome::Skipped),
            ),
            None => (String::new(), None),
        },
    }
}

/// What a report or a plan adds when idc-guard could not send the change even if allowed.
fn blocker_note(app: &IdpApp, permit: &Permit) -> String {
    match (&app.write_blocker, permit) {
        (Some(blocker), Permit::Report | Permit::Plan) => {
            format!(" Sending it would fail now: {blocker}.")
        }
        _ => String::new(),
    }
}

fn judge(
    config: &Config,
    regions: &[String],
    app: &IdpApp,
    now: Timestamp,
    action: &str,
) -> Vec<Finding> {
    let suffix = |_: &RegionAcs| action.to_owned();
    let mut findings = check_live_acs(config, regions, app, &suffix);
    findings.extend(check_app_certificates(config, app, now));
    findings
}

/// Records `outcome` on every missing-URL failure, with `note` appended to its message.
fn attach(
    findings: &mut [Finding],
    mode: Mode,
    actions: &[String],
    outcome: RemediationOutcome,
    note: &str,
) {
    for f in findings.iter_mut().filter(|f| is_missing_url(f)) {
        f.message.push_str(note);
        f.remediation = Some(Remediation {
            mode,
            actions: actions.to_vec(),
            outcome,
            previous_policy: None,
        });
    }
}

/// Whether `f` is a Region's missing ACS URL (not the audience or a stale URL).
fn is_missing_url(f: &Finding) -> bool {
    f.check == CheckId::IdpAcsUrls
        && f.status == Status::Fail
        && f.fingerprint == fingerprint(f.check.id(), &f.resource, &f.region, "missing")
}

/// Takes a breaker unit, writes from a fresh read (rebuilding on a conflict), verifies.
#[expect(
    clippy::too_many_arguments,
    reason = "the review's state, passed through once"
)]
async fn apply<A, K>(
    config: &Config,
    apps: &A,
    budget: &K,
    regions: &[String],
    first: &IdpApp,
    missing: &[String],
    planned: &AppUpdate,
    now: Timestamp,
    review: &mut AppReview,
) -> Result<(), GuardError>
where
    A: IdentityProviderApps,
    K: ActionBudget,
{
    let mode = config.remediation.mode;
    let settings = &config.remediation;
    let window = i64::from(settings.window_minutes) * 60;
    let window_start = Timestamp(now.0 - now.0.rem_euclid(window.max(1)));
    let breaker_key = format!("idp-app:{}", first.id);
    let refused = match budget
        .take(
            &breaker_key,
            window_start,
            settings.max_actions_per_window,
            window_start.plus(2 * window),
        )
        .await
    {
        Ok(Budget::Granted { .. }) => None,
        Ok(Budget::Exhausted { limit }) => Some(format!(
            " Circuit breaker open: {limit} changes to this IdP application already in the current {}-minute window; nothing was sent. The change would be: {planned}",
            settings.window_minutes
        )),
        Err(e) if e.retryable() => return Err(e.into()),
        Err(e) => Some(format!(
            " Not remediated: the circuit breaker could not be read ({e}). The change would be: {planned}"
        )),
    };
    if let Some(note) = refused {
        attach(
            &mut review.findings,
            mode,
            &[planned.to_string()],
            RemediationOutcome::Skipped,
            &note,
        );
        return Ok(());
    }
    let (sent, result) = write(apps, missing).await;
    review.changed = sent.is_some();
    let sent_text = sent
        .as_ref()
        .map_or_else(|| planned.to_string(), ToString::to_string);
    let verdict = match result {
        Err(e) => {
            if e.retryable() {
                review.interrupted = Some(port_error("idp:update-app", config, &e));
            }
            Err(format!(" The update failed: {}.", described(&e)))
        }
        Ok(()) => match apps.read_app().await {
            Err(e) => {
                if e.retryable() {
                    review.interrupted = Some(port_error("idp:read-app", config, &e));
                }
                Err(format!(
                    " The update was sent but could not be verified: {}.",
                    described(&e)
                ))
            }
            Ok(after) => {
                review.verified = judge(config, regions, &after, now, "");
                verify(first, &after, missing, &sent_text)
            }
        },
    };
    let (outcome, note) = match verdict {
        Ok(note) => (RemediationOutcome::Applied, note),
        Err(note) => (RemediationOutcome::Failed, note),
    };
    attach(&mut review.findings, mode, &[sent_text], outcome, &note);
    Ok(())
}

/// An IdP error for a finding, with the permission it lacks when that is why.
fn described(e: &IdpError) -> String {
    match &e.kind {
        IdpErrorKind::MissingPermission(permission) => {
            format!("missing permission {permission} ({e})")
        }
        _ => e.to_string(),
    }
}

/// The verdict of the re-read `after`: every URL added is in the list the update wrote, and
/// every URL of that list read before is still there. Entra's service principal may not list
/// them yet (it follows the application); that is said, not failed.
fn verify(first: &IdpApp, after: &IdpApp, added: &[String], sent: &str) -> Result<String, String> {
    let lost = missing_from(&after.configured_urls, &first.configured_urls);
    let absent = missing_from(&after.configured_urls, added);
    if !lost.is_empty() {
        return Err(format!(
            " After the update the application no longer lists {}: someone else changed it at the same time; check it at the IdP.",
            lost.join(", ")
        ));
    }
    if !absent.is_empty() {
        return Err(format!(
            " After the update the application still lacks {} (verified by a re-read).",
            absent.join(", ")
        ));
    }
    let lagging = missing_from(&after.acs_urls, added);
    let pending = if lagging.is_empty() {
        String::new()
    } else {
        format!(
            " Its service principal does not list {} yet (Entra copies it from the application); the next event or sweep confirms it.",
            lagging.join(", ")
        )
    };
    Ok(format!(
        " Added by idc-guard and verified by a re-read of the {}: {sent}.{pending}",
        app_label(after)
    ))
}

/// Sends the update built from a fresh read; on a conflict, reads and rebuilds. Returns the
/// update last sent (`None` when nothing was sent) and how it ended.
async fn write<A: IdentityProviderApps>(
    apps: &A,
    missing: &[String],
) -> (Option<AppUpdate>, Result<(), IdpError>) {
    let mut sent = None;
    for _ in 0..WRITE_ATTEMPTS {
        let fresh = match apps.read_app().await {
            Ok(app) => app,
            Err(e) => return (sent, Err(e)),
        };
        if let Some(blocker) = &fresh.write_blocker {
            let refused = IdpError::new(fresh.provider, IdpErrorKind::Refused, blocker.clone());
            return (sent, Err(refused));
        }
        let update = match add_acs_urls(&fresh, missing) {
            Ok(Some(update)) => update,
            // Someone else added them meanwhile.
            Ok(None) => return (sent, Ok(())),
            Err(e) => return (sent, Err(e.into())),
        };
        let result = apps.update_app(&update).await;
        sent = Some(update);
        match result {
            Err(e) if e.kind == IdpErrorKind::Conflict => {}
            other => return (sent, other),
        }
    }
    let provider = apps.provider();
    (
        sent,
        Err(IdpError::new(
            provider,
            IdpErrorKind::Conflict,
            format!(
                "the application changed during each of {WRITE_ATTEMPTS} attempts; nothing was overwritten"
            ),
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::memory::{MemoryApps, MemoryBudget};

    const US: &str = "https://us-east-1.signin.aws/platform/saml/acs/abc";
    const EU: &str = "https://eu-west-1.signin.aws/platform/saml/acs/abc";
    const AP: &str = "https://ap-south-1.signin.aws/platform/saml/acs/abc";
    const AUDIENCE: &str = "https://us-east-1.signin.aws.amazon.com/platform/saml/d-1234567890";
    const NOW: Timestamp = Timestamp(1_800_000_000);

    fn config(mode: Mode, allow_update: bool) -> Config {
        let mut c = Config::from_toml(
            &crate::config::tests::example_with(
                r#"["us-east-1", "eu-west-1"]"#,
                "saml_tenant_id = \"abc\"\n",
            ),
            "test",
        )
        .unwrap();
        c.remediation.mode = mode;
        c.idp.allow_update = allow_update;
        c
    }

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "eu-west-1".into()]
    }

    async fn run(config: &Config, apps: &MemoryApps, budget: &MemoryBudget) -> AppReview {
        let permit = Permit::for_guard(config, None);
        review_app(config, apps, budget, &regions(), &permit, NOW)
            .await
            .unwrap()
    }

    /// A review in remediate mode with `allow_update`, with a fresh breaker.
    async fn remediate(apps: &MemoryApps) -> AppReview {
        run(
            &config(Mode::Remediate, true),
            apps,
            &MemoryBudget::default(),
        )
        .await
    }

    fn entra_error(kind: IdpErrorKind, message: &str) -> IdpError {
        IdpError::new(crate::idp_app::ProviderKind::EntraId, kind, message)
    }

    fn missing(review: &AppReview) -> Vec<&Finding> {
        review
            .findings
            .iter()
            .filter(|f| is_missing_url(f))
            .collect()
    }

    #[tokio::test]
    async fn notify_and_dry_run_show_the_exact_patch_and_send_nothing() {
        for (mode, outcome, words) in [
            (
                Mode::Notify,
                RemediationOutcome::Skipped,
                "would send: PATCH /applications/obj-1",
            ),
            (
                Mode::DryRun,
                RemediationOutcome::Planned,
                "Dry-run: would send PATCH /applications/obj-1",
            ),
            (
                Mode::Remediate,
                RemediationOutcome::Skipped,
                "idp.allow_update is false",
            ),
        ] {
            let apps = MemoryApps::entra(&[US], AUDIENCE);
            let review = run(&config(mode, false), &apps, &MemoryBudget::default()).await;
            let eu = missing(&review);
            assert_eq!(eu.len(), 1, "{mode:?}");
            assert!(eu[0].message.contains(words), "{}", eu[0].message);
            assert!(
                eu[0]
                    .message
                    .contains(&format!("\"redirectUris\":[\"{US}\",\"{EU}\"]")),
                "{}",
                eu[0].message
            );
            assert_eq!(eu[0].remediation.as_ref().unwrap().outcome, outcome);
            assert!(apps.updates().is_empty() && !review.changed);
        }
    }

    #[tokio::test]
    async fn remediate_adds_only_the_missing_url_and_verifies() {
        let apps = MemoryApps::entra(&["https://keep.example/first", US], AUDIENCE);
        let review = remediate(&apps).await;
        assert!(review.changed);
        assert_eq!(
            apps.reply_urls(),
            vec!["https://keep.example/first", US, EU]
        );
        let eu = missing(&review);
        let r = eu[0].remediation.as_ref().unwrap();
        assert_eq!(r.outcome, RemediationOutcome::Applied, "{}", eu[0].message);
        assert!(eu[0].message.contains("verified by a re-read"));
        // The re-read passes in every Region: it resolves the failure.
        assert!(
            review
                .verified
                .iter()
                .filter(|f| f.check == CheckId::IdpAcsUrls)
                .all(|f| f.status == Status::Pass)
        );
        // Sent with the read's version.
        assert_eq!(apps.updates()[0].if_match.as_deref(), Some("W/\"1\""));
        // Nothing left to do: a second run sends nothing.
        let again = remediate(&apps).await;
        assert!(!again.changed && missing(&again).is_empty());
        assert_eq!(apps.updates().len(), 1);
    }

    #[tokio::test]
    async fn a_conflict_is_rebuilt_from_a_fresh_read_keeping_the_other_edit() {
        let apps = MemoryApps::entra(&[US], AUDIENCE);
        apps.conflict_with(&[AP]);
        let review = remediate(&apps).await;
        assert_eq!(apps.reply_urls(), vec![US, AP, EU]);
        let updates = apps.updates();
        assert_eq!(updates.len(), 2);
        assert_ne!(updates[0].if_match, updates[1].if_match);
        assert_eq!(
            missing(&review)[0].remediation.as_ref().unwrap().outcome,
            RemediationOutcome::Applied
        );
        // Conflicts on every attempt: nothing overwritten, reported as failed.
        let apps = MemoryApps::entra(&[US], AUDIENCE);
        apps.conflict_with(&[AP, AP, AP]);
        let review = remediate(&apps).await;
        let f = missing(&review)[0];
        assert_eq!(
            f.remediation.as_ref().unwrap().outcome,
            RemediationOutcome::Failed
        );
        assert!(
            f.message.contains("nothing was overwritten"),
            "{}",
            f.message
        );
    }

    #[tokio::test]
    async fn a_url_lost_to_a_concurrent_writer_fails_the_verification() {
        let apps = MemoryApps::entra(&["https://keep.example/first", US], AUDIENCE);
        apps.drop_on_write("https://keep.example/first");
        let review = remediate(&apps).await;
        let f = missing(&review)[0];
        assert_eq!(
            f.remediation.as_ref().unwrap().outcome,
            RemediationOutcome::Failed
        );
        assert!(
            f.message
                .contains("no longer lists https://keep.example/first"),
            "{}",
            f.message
        );
    }

    #[tokio::test]
    async fn one_breaker_unit_per_change() {
        let mut c = config(Mode::Remediate, true);
        c.remediation.max_actions_per_window = 1;
        let budget = MemoryBudget::default();
        let first = MemoryApps::entra(&[US], AUDIENCE);
        assert!(run(&c, &first, &budget).await.changed);
        let second = MemoryApps::entra(&[US], AUDIENCE);
        let review = run(&c, &second, &budget).await;
        assert!(!review.changed && second.updates().is_empty());
        assert!(missing(&review)[0].message.contains("Circuit breaker open"));
    }

    #[tokio::test]
    async fn a_missing_permission_cannot_verify_and_throttling_retries() {
        let apps = MemoryApps::entra(&[US], AUDIENCE);
        apps.fail_reads(entra_error(
            IdpErrorKind::MissingPermission("Application.Read.All".into()),
            "GET application app-1: 403 Forbidden",
        ));
        let review = run(
            &config(Mode::Notify, false),
            &apps,
            &MemoryBudget::default(),
        )
        .await;
        assert_eq!(review.findings.len(), 1);
        assert_eq!(review.findings[0].status, Status::Error);
        assert!(review.findings[0].message.contains(
            "cannot verify the IdP application: missing permission Application.Read.All"
        ));
        apps.fail_reads(entra_error(IdpErrorKind::Retryable, "429"));
        let permit = Permit::Report;
        let e = review_app(
            &config(Mode::Notify, false),
            &apps,
            &MemoryBudget::default(),
            &regions(),
            &permit,
            NOW,
        )
        .await;
        assert!(matches!(e, Err(GuardError::Port(p)) if p.retryable()));
    }

    #[tokio::test]
    async fn a_throttled_write_is_published_then_retried() {
        let apps = MemoryApps::entra(&[US], AUDIENCE);
        apps.fail_updates(entra_error(
            IdpErrorKind::Retryable,
            "PATCH application app-1: 429 after 4 attempts",
        ));
        let review = remediate(&apps).await;
        assert!(
            review
                .interrupted
                .as_ref()
                .is_some_and(PortError::retryable)
        );
        let f = missing(&review)[0];
        assert_eq!(
            f.remediation.as_ref().unwrap().outcome,
            RemediationOutcome::Failed
        );
    }

    #[tokio::test]
    async fn a_refused_write_fails_the_remediation_and_names_why() {
        let apps = MemoryApps::entra(&[US], AUDIENCE);
        apps.fail_updates(entra_error(
            IdpErrorKind::MissingPermission("Application.ReadWrite.OwnedBy".into()),
            "PATCH application app-1: 403 Forbidden",
        ));
        let review = remediate(&apps).await;
        let f = missing(&review)[0];
        assert_eq!(
            f.remediation.as_ref().unwrap().outcome,
            RemediationOutcome::Failed
        );
        assert!(
            f.message
                .contains("missing permission Application.ReadWrite.OwnedBy"),
            "{}",
            f.message
        );
        assert!(review.interrupted.is_none(), "a refusal is not retried");
        assert_eq!(apps.reply_urls(), vec![US]);
    }
}
