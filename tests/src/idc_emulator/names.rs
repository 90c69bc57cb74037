//! Syntax of the names the emulator accepts: instance ARNs, Region names, account ids and KMS
//! key ARNs. Written by hand (no regex crate) after the patterns in the sso-admin API reference.

/// `arn:aws(-[a-z]{1,5}){0,3}:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}`, length 10..=1224.
pub fn is_instance_arn(s: &str) -> bool {
    if !(10..=1224).contains(&s.len()) {
        return false;
    }
    let Some(rest) = s.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(':') else {
        return false;
    };
    let Some(id) = rest.strip_prefix("sso:::instance/") else {
        return false;
    };
    let id = id.strip_prefix("sso").unwrap_or(id);
    let Some(suffix) = id.strip_prefix("ins-") else {
        return false;
    };
    is_partition(partition)
        && suffix.len() == 16
        && suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// `aws(-[a-z]{1,5}){0,3}`: `aws`, `aws-cn`, `aws-us-gov`, ...
fn is_partition(s: &str) -> bool {
    let mut parts = s.split('-');
    if parts.next() != Some("aws") {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    rest.len() <= 3
        && rest
            .iter()
            .all(|p| (1..=5).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// `([a-z]+-){2,3}\d`, length 1..=32: `us-east-1`, `us-gov-west-1`.
pub fn is_region_name(s: &str) -> bool {
    if s.is_empty() || s.len() > 32 {
        return false;
    }
    let parts: Vec<&str> = s.split('-').collect();
    let Some((last, words)) = parts.split_last() else {
        return false;
    };
    (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && last.len() == 1
        && last.chars().all(|c| c.is_ascii_digit())
}

/// Twelve decimal digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

/// The parts of `arn:<partition>:kms:<region>:<account>:key/<key-id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub key_id: &'a str,
}

impl KmsKeyArn<'_> {
    /// Multi-Region keys (and only they) have ids starting with `mrk-`.
    pub fn is_multi_region(&self) -> bool {
        self.key_id.starts_with("mrk-")
    }

    /// The same key id in another Region: the ARN of that Region's replica.
    pub fn in_region(&self, region: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{}",
            self.partition, region, self.account, self.key_id
        )
    }
}

/// Parses a KMS key ARN; aliases and bare key ids are refused because Identity Center stores
/// the key ARN.
pub fn parse_kms_key_arn(s: &str) -> Option<KmsKeyArn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let key_id = resource.strip_prefix("key/")?;
    let valid = arn == "arn"
        && is_partition(partition)
        && service == "kms"
        && is_region_name(region)
        && is_account_id(account)
        && !key_id.is_empty()
        && key_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then_some(KmsKeyArn {
        partition,
        region,
        account,
        key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_arns() {
        assert!(is_instance_arn(
            "arn:aws:sso:::instance/ssoins-1234567890abcdef"
        ));
        assert!(is_instance_arn(
            "arn:aws-us-gov:sso:::instance/ins-1234567890abcdef"
        ));
        assert!(!is_instance_arn(
            "arn:aws:sso:us-east-1::instance/ssoins-1234567890abcdef"
        ));
        assert!(!is_instance_arn("arn:aws:sso:::instance/ssoins-123"));
        assert!(!is_instance_arn(
            "arn:azure:sso:::instance/ssoins-1234567890abcdef"
        ));
    }

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-2",
            "eu-central-1",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "us-east-12",
            "US-east-1",
            "east-1",
            "a-b-c-d-1",
            "us--1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn kms_arns() {
        let arn = parse_kms_key_arn(
            "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert!(arn.is_multi_region());
        assert_eq!(
            arn.in_region("eu-west-1"),
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
        );
        assert!(parse_kms_key_arn("arn:aws:kms:us-east-1:111122223333:alias/x").is_none());
        assert!(parse_kms_key_arn("mrk-0123").is_none());
        assert!(parse_kms_key_arn("arn:aws:kms:us-east-1:1111:key/abc").is_none());
    }
}
