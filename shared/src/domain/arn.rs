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

/// The account id in an ARN (`arn:aws:kms:us-east-1:111122223333:key/...`), if it has one.
pub fn account_from_arn(arn: &str) -> Option<String> {
    let account = arn.strip_prefix("arn:")?.split(':').nth(3)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}
