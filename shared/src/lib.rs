//! idc-guard core: the Identity Center key-policy model, the policy evaluator, every check,
//! remediation planning and the guards' logic over ports.
//!
//! The decision code is pure: no environment, no clock, no SDK types. Time, configuration and
//! I/O come in as arguments or through the [`ports`]. AWS adapters live in [`aws`] behind the
//! `aws` feature; in-process ports for one-shot CLI runs in [`local`]; test doubles with fault
//! injection in `memory` (feature `test-util`, absent from release binaries).

pub mod arn;
pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod change;
pub mod checks;
pub mod config;
pub mod event;
pub mod evidence;
pub mod finding;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod guard;
pub mod idp_guard;
pub mod instance_event;
pub mod key_event;
pub mod live;
pub mod local;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod model;
pub mod notify;
pub mod plan;
pub mod ports;
pub mod region_guard;
pub mod regions;
pub mod render;
pub mod repair;
pub mod saml;
pub mod sweep;
pub mod time;
pub mod urls;
