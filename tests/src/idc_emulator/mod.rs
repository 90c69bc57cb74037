//! A local IAM Identity Center (sso-admin) emulator that speaks the real awsJson1.1 wire
//! protocol, so an unmodified `aws_sdk_ssoadmin::Client` (endpoint_url = the emulator) can
//! exercise the multi-Region operations moto lacks: one organization instance with a
//! Region-less ARN, visible from each of its Regions, AddRegion / RemoveRegion workflows that
//! pass through ADDING / REMOVING, primary-Region-only management, and the KMS key checks that
//! gate replication (optionally against a real KMS endpoint such as moto).
//!
//! Modules: `state` (pure state machine, clock passed in), `ops` (operation JSON in and out),
//! `http` (axum wiring and control endpoints), `key_check` (KMS probe trait and
//! implementation), `names` (ARN and Region syntax), `error` (wire errors).
//!
//! Not AWS: `POST /_idc-emulator/instance` (body: [`SeedInstance`] as JSON) replaces the
//! instance, `POST /_idc-emulator/reset` returns to the starting state,
//! `GET /_idc-emulator/health` answers `{"status":"ok"}`.

mod error;
mod http;
mod key_check;
mod names;
mod ops;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::{ApiError, ErrorCode};
pub use key_check::{CheckFuture, KeyChecker, KeyVerdict, KmsKeyChecker};

/// How the emulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorOptions {
    /// How long an added Region stays ADDING (a removed one REMOVING, a new key UPDATING).
    pub add_delay: Duration,
    /// KMS endpoint for the key checks of AddRegion and UpdateInstance; `None` skips them.
    pub kms_endpoint: Option<String>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            add_delay: Duration::from_secs(2),
            kms_endpoint: None,
        }
    }
}

/// The instance to serve: every listed Region (and the primary) ACTIVE, created now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedInstance {
    /// `arn:aws:sso:::instance/ssoins-<16 chars>`.
    pub instance_arn: String,
    /// The management account (12 digits).
    pub owner_account_id: String,
    /// `d-...`.
    pub identity_store_id: String,
    /// The primary Region.
    pub primary_region: String,
    /// The Regions; the primary is added when missing.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Customer managed key ARN in the primary Region; `None` means an AWS owned key (then
    /// the instance cannot have additional Regions).
    #[serde(default)]
    pub kms_key_arn: Option<String>,
}

impl SeedInstance {
    /// `config`'s instance in `regions` (the primary is added when missing), owned by moto's
    /// account and encrypted with the configured key: what the tests and the demo seed.
    pub fn of(config: &idc_guard_core::config::Config, regions: &[&str]) -> SeedInstance {
        SeedInstance {
            instance_arn: config.instance_arn.clone(),
            owner_account_id: crate::local_aws::MOTO_ACCOUNT.to_owned(),
            identity_store_id: config.identity_store_id.clone(),
            primary_region: config.primary_region.clone(),
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            kms_key_arn: Some(config.key_arn.to_string()),
        }
    }
}

/// A handle on one emulator's state; clones share it.
#[derive(Debug, Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<state::State>,
    key_checker: Option<Arc<dyn KeyChecker>>,
    /// What reset returns to.
    baseline: Mutex<Option<SeedInstance>>,
}

impl Emulator {
    /// An emulator without an instance; key checks go to `options.kms_endpoint` if set.
    pub fn new(options: &EmulatorOptions) -> Self {
        let checker = options
            .kms_endpoint
            .as_deref()
            .map(|url| Arc::new(KmsKeyChecker::new(url)) as Arc<dyn KeyChecker>);
        Self::build(options, checker)
    }

    /// An emulator whose key checks go to `checker` (a fake KMS in tests), whatever
    /// `options.kms_endpoint` says.
    pub fn with_key_checker(options: &EmulatorOptions, checker: Arc<dyn KeyChecker>) -> Self {
        Self::build(options, Some(checker))
    }

    fn build(options: &EmulatorOptions, key_checker: Option<Arc<dyn KeyChecker>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state::State::new(options.add_delay)),
                key_checker,
                baseline: Mutex::new(None),
            }),
        }
    }

    /// Replaces the instance; the error says which field is wrong.
    pub fn try_seed(&self, seed: &SeedInstance) -> Result<(), String> {
        self.with_state(|s| s.seed(seed, SystemTime::now()))
    }

    /// Seeds `seed` and makes it what [`Emulator::reset`] returns to.
    pub fn set_baseline(&self, seed: SeedInstance) -> Result<(), String> {
        self.try_seed(&seed)?;
        *lock(&self.inner.baseline) = Some(seed);
        Ok(())
    }

    /// Back to the baseline instance (freshly created, all Regions ACTIVE), or to no instance.
    pub fn reset(&self) {
        let baseline = lock(&self.inner.baseline).clone();
        self.with_state(|s| match &baseline {
            // The baseline was valid when it was set, so seeding it again cannot fail.
            Some(seed) => {
                if let Err(e) = s.seed(seed, SystemTime::now()) {
                    tracing::error!(error = %e, "idc-emulator: baseline no longer seeds");
                    s.clear();
                }
            }
            None => s.clear(),
        });
    }

    /// The axum router, to embed the emulator in another server.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut state::State) -> T) -> T {
        f(&mut lock(&self.inner.state))
    }

    pub(crate) fn key_checker(&self) -> Option<&dyn KeyChecker> {
        self.inner.key_checker.as_deref()
    }
}

/// A panic elsewhere cannot leave the state half-changed (no call panics while holding the
/// lock and mutating), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An emulator serving on 127.0.0.1 in the background; dropping it shuts the server down.
#[derive(Debug)]
pub struct RunningEmulator {
    /// `http://127.0.0.1:PORT`: the SDK's `endpoint_url`.
    pub url: String,
    addr: SocketAddr,
    emulator: Emulator,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningEmulator {
    /// Replaces the instance. An invalid seed is reported on stderr and leaves the state
    /// unchanged; use [`RunningEmulator::try_seed`] to get the error.
    pub async fn seed(&self, instance: SeedInstance) {
        if let Err(e) = self.try_seed(&instance) {
            eprintln!("idc-emulator: seed refused: {e}");
            tracing::error!(error = %e, "idc-emulator: seed refused");
        }
    }

    /// Replaces the instance, or says which field is wrong.
    pub fn try_seed(&self, instance: &SeedInstance) -> Result<(), String> {
        self.emulator.try_seed(instance)
    }

    /// Back to no instance (or the baseline set on the [`Emulator`]).
    pub async fn reset(&self) {
        self.emulator.reset();
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state handle.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Whether the server task has stopped (it should not before drop).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The server may already be gone; nothing to do then.
            let _ = tx.send(());
        }
    }
}

/// Starts an emulator on 127.0.0.1 at a free port.
pub async fn start(options: EmulatorOptions) -> std::io::Result<RunningEmulator> {
    start_emulator(Emulator::new(&options)).await
}

/// Starts an emulator whose KMS key checks go to `checker`.
pub async fn start_with_key_checker(
    options: EmulatorOptions,
    checker: Arc<dyn KeyChecker>,
) -> std::io::Result<RunningEmulator> {
    start_emulator(Emulator::with_key_checker(&options, checker)).await
}

/// Serves `emulator` on 127.0.0.1 at a free port in a background task.
pub async fn start_emulator(emulator: Emulator) -> std::io::Result<RunningEmulator> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_emulator(listener, emulator.clone(), async move {
        // Sender dropped or signalled: either way, stop.
        let _ = rx.await;
    }));
    Ok(RunningEmulator {
        url: format!("http://{addr}"),
        addr,
        emulator,
        shutdown: Some(tx),
        task,
    })
}

/// Serves a new emulator on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    options: EmulatorOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_emulator(listener, Emulator::new(&options), shutdown).await
}

/// Serves `emulator` on `listener` until `shutdown` completes.
pub async fn serve_emulator(
    listener: TcpListener,
    emulator: Emulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(emulator))
        .with_graceful_shutdown(shutdown)
        .await
}
