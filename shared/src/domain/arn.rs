//! KMS key ARNs as the events and live state carry them (`arn:P:kms:R:A:key/ID`): the parts
//! intake and the checks both read.

/// The key id at the end of a KMS key ARN (`arn:P:kms:R:A:key/ID`).
pub fn key_id_of_arn(arn: &str) -> Option<&str> {
    let (head, id) = arn.split_once(":key/")?;
    (head.starts_with("arn:") && head.contains(":kms:") && !id.is_empty()).then_some(id)
}

/// The Region of a KMS ARN.
pub fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}
