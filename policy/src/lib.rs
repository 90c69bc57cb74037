//! KMS key policies, read the way IAM reads them.
//!
//! - [`document`]: a strict parser that collects every problem with its place;
//! - [`eval`]: IAM's documented evaluation logic for one concrete request, three-valued where
//!   AWS leaves the answer open;
//!
//! The crate is pure: no SDK, no async, no clock, no I/O. It knows KMS's actions and AWS's
//! condition keys, and nothing about who uses the key or why.

// A test may be a long table of cases.
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod actions;
pub mod analysis;
pub mod document;
pub mod eval;
pub mod json;
pub mod keys;
pub mod logic;
pub mod pattern;
pub mod request;
