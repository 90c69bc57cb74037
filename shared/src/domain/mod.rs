//! The vocabulary every layer shares: KMS key ARNs, AWS Regions and partitions, instants,
//! the per-Region URLs of an instance, and live state in domain terms (no SDK types).

pub mod arn;
pub mod live;
pub mod regions;
pub mod time;
pub mod urls;
