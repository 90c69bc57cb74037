//! idc-guard core: the Identity Center model, every check, remediation planning and the
//! guards' logic over ports. The policy language itself is the `idc-guard-policy` crate.
//!
//! The modules follow one event through the guardrail (docs/architecture.md):
//!
//! - [`intake`]: an EventBridge event or CloudTrail record, read tolerantly into a trigger;
//! - [`guard`]: the guards, which re-read live state through the [`ports`], run the
//!   [`checks`] (over the [`model`] and the policy engine), act on a [`plan`] per mode and
//!   hand [`finding`]s to their delivery (bus, claims, outbox);
//! - [`aws`]: the adapters behind the ports (feature `aws`);
//! - [`notify`] and [`evidence`]: what the findings bus feeds (Slack, audit evidence).
//!
//! Underneath: [`domain`] (ARNs, Regions, instants, live state), [`config`] and [`saml`]
//! (IdP metadata). The decision code is pure: no environment, no clock, no SDK types. Time,
//! configuration and I/O come in as arguments or through the ports. In-process ports for
//! one-shot CLI runs are [`ports::local`]; test doubles with fault injection are
//! `ports::memory` (feature `test-util`, absent from release binaries).

// A test may be a long table of cases.
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod domain;

pub mod config;
pub mod finding;
pub mod idp_app;
pub mod saml;

pub mod intake;
pub mod model;

pub mod checks;
pub mod plan;
pub mod ports;

pub mod guard;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "idp-http")]
pub mod idp_http;

pub mod evidence;
pub mod notify;
pub mod securityhub;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
