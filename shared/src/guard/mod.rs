//! The guards: each re-reads live state through the ports, runs the checks, acts per mode and
//! delivers its findings.
//!
//! - [`key`]: the key-policy guard (a KMS change to the guarded key);
//! - [`region`]: region-guard (AddRegion, RemoveRegion, UpdateInstance);
//! - [`idp`]: idp-guard (identity source and external IdP changes);
//! - [`audit`] and [`sweep`]: every check at once, on demand and on a schedule.
//!
//! What they share is a component each, never another guard: [`delivery::Delivery`] (the
//! findings bus, the idempotency claims and the outbox) and, for the two that change the
//! key, [`key::KeyEnforcer`] (inspect, plan, remediate and verify the key in one Region).
//! [`change`] is the claim-once handling of an instance-level change; [`resolution`] reports
//! once when a failing check passes again.

pub mod audit;
pub mod change;
pub mod delivery;
pub mod idp;
pub mod idp_app;
pub mod key;
pub mod region;
pub mod resolution;
pub mod sweep;

pub use delivery::Delivery;
pub use idp::IdpGuard;
pub use key::{KeyEnforcer, KeyGuard};
pub use region::RegionGuard;

use crate::ports::PortError;

pub use crate::ports::{CLAIM_LEASE_SECONDS, CLAIM_TTL_SECONDS};

/// A failure a retry may fix; everything else is reported in findings and acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Reading or changing live state failed (see [`PortError::retryable`]).
    #[error("{0}")]
    Port(#[from] PortError),
    /// Another invocation holds the claim on these findings (a racing duplicate, or a crashed
    /// invocation whose lease has not lapsed). Retrying later finds them settled or free:
    /// acknowledging now could lose them.
    #[error("another invocation holds the claim on {count} finding(s) in {region}; retry later")]
    ClaimHeld {
        /// The Region.
        region: String,
        /// How many findings.
        count: usize,
    },
    /// The findings could not be published; they are carried here so the caller can log them.
    #[error("publishing {count} finding(s) failed: {source}")]
    Publish {
        /// How many findings.
        count: usize,
        /// The findings, as JSON, so nothing is lost.
        findings: String,
        /// Why.
        source: PortError,
    },
    /// What an earlier attempt left in the outbox cannot be read as findings. It is put back
    /// and carried here whole, so the invocation fails (and is retried) and the log keeps it.
    #[error(
        "the outbox of event {event_id} cannot be read ({reason}); kept, and carried here: {stashed}"
    )]
    Outbox {
        /// The event the outbox belongs to.
        event_id: String,
        /// Why it cannot be read.
        reason: String,
        /// What it holds.
        stashed: String,
    },
}

impl GuardError {
    /// Whether the invocation should be retried.
    pub fn retryable(&self) -> bool {
        match self {
            GuardError::Port(e) => e.retryable(),
            GuardError::ClaimHeld { .. }
            | GuardError::Publish { .. }
            | GuardError::Outbox { .. } => true,
        }
    }
}
