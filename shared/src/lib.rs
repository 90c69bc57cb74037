//! idc-guard core: the Identity Center key-policy model, the policy evaluator and every check.
//!
//! Pure code: no async, no environment, no clock, no SDK types. Time, configuration and I/O
//! come in as arguments.

pub mod actions;
pub mod checks;
pub mod config;
pub mod eval;
pub mod finding;
pub mod json;
pub mod logic;
pub mod model;
pub mod pattern;
pub mod policy;
pub mod regions;
pub mod render;
pub mod request;
pub mod urls;
