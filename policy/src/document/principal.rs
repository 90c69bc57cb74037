//! The `Principal` / `NotPrincipal` element.

/// One value of `"AWS": ...` in a principal element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsPrincipal {
    /// `"*"`: everyone, also anonymous callers.
    Any,
    /// `"123456789012"` or `arn:aws:iam::123456789012:root`: every principal of the account.
    Account {
        /// The account id.
        account: String,
        /// The partition, when written as an ARN.
        partition: Option<String>,
    },
    /// An IAM role ARN (with path); matches the role and its sessions.
    Role { account: String, arn: String },
    /// An IAM user ARN (with path).
    User { account: String, arn: String },
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`: that one session.
    AssumedRole { account: String, arn: String },
    /// `arn:aws:sts::<account>:federated-user/<name>`.
    FederatedUser { account: String, arn: String },
    /// A unique id such as `AROA...`: IAM writes these where a named principal was deleted.
    /// Such a value matches no caller.
    UniqueId(String),
}

impl AwsPrincipal {
    /// The account this principal belongs to, if any.
    pub fn account(&self) -> Option<&str> {
        match self {
            AwsPrincipal::Any | AwsPrincipal::UniqueId(_) => None,
            AwsPrincipal::Account { account, .. }
            | AwsPrincipal::Role { account, .. }
            | AwsPrincipal::User { account, .. }
            | AwsPrincipal::AssumedRole { account, .. }
            | AwsPrincipal::FederatedUser { account, .. } => Some(account),
        }
    }
}

/// The principals a statement names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalSet {
    /// `"Principal": "*"`.
    pub any: bool,
    /// `"AWS"` values.
    pub aws: Vec<AwsPrincipal>,
    /// `"Service"` values (`sso.amazonaws.com`).
    pub service: Vec<String>,
    /// `"Federated"` values.
    pub federated: Vec<String>,
    /// `"CanonicalUser"` values.
    pub canonical: Vec<String>,
}

/// Why a value is not an `"AWS"` principal; each carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// A wildcard other than `"*"` on its own.
    #[error("\"{0}\": wildcards are not allowed in a principal (only \"*\" on its own)")]
    Wildcard(String),
    /// Neither an account id, an ARN, a unique id nor `"*"`.
    #[error("\"{0}\" is not an account id, principal ARN or \"*\"")]
    NotAPrincipal(String),
    /// Starts like an ARN but has too few parts.
    #[error("\"{0}\" is not a valid ARN")]
    NotAnArn(String),
    /// An ARN without a partition or a 12-digit account, or with a Region.
    #[error(
        "\"{0}\" is not a principal ARN (expected arn:<partition>:iam::<12-digit account>:...)"
    )]
    BadAccount(String),
    /// An ARN of something that is not a principal.
    #[error("\"{0}\" is not a principal ARN (root, user, role, assumed-role or federated-user)")]
    NotAPrincipalArn(String),
}

/// Parses one `"AWS"` principal value.
pub fn parse_aws_principal(value: &str) -> Result<AwsPrincipal, PrincipalError> {
    if value == "*" {
        return Ok(AwsPrincipal::Any);
    }
    if is_account_id(value) {
        return Ok(AwsPrincipal::Account {
            account: value.to_owned(),
            partition: None,
        });
    }
    if value.contains(['*', '?']) {
        return Err(PrincipalError::Wildcard(value.to_owned()));
    }
    if !value.starts_with("arn:") {
        if is_unique_id(value) {
            return Ok(AwsPrincipal::UniqueId(value.to_owned()));
        }
        return Err(PrincipalError::NotAPrincipal(value.to_owned()));
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(PrincipalError::NotAnArn(value.to_owned()));
    };
    if partition.is_empty() || !region.is_empty() || !is_account_id(account) {
        return Err(PrincipalError::BadAccount(value.to_owned()));
    }
    let account = (*account).to_owned();
    let arn = value.to_owned();
    let named = |prefix: &str| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'))
    };
    match *service {
        "iam" if *resource == "root" => Ok(AwsPrincipal::Account {
            account,
            partition: Some((*partition).to_owned()),
        }),
        "iam" if named("role/") => Ok(AwsPrincipal::Role { account, arn }),
        "iam" if named("user/") => Ok(AwsPrincipal::User { account, arn }),
        "sts"
            if resource.strip_prefix("assumed-role/").is_some_and(|r| {
                r.split_once('/')
                    .is_some_and(|(role, session)| !role.is_empty() && !session.is_empty())
            }) =>
        {
            Ok(AwsPrincipal::AssumedRole { account, arn })
        }
        "sts" if named("federated-user/") => Ok(AwsPrincipal::FederatedUser { account, arn }),
        _ => Err(PrincipalError::NotAPrincipalArn(value.to_owned())),
    }
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_unique_id(value: &str) -> bool {
    (16..=128).contains(&value.len())
        && value.starts_with('A')
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form() {
        assert_eq!(parse_aws_principal("*").unwrap(), AwsPrincipal::Any);
        assert!(matches!(
            parse_aws_principal("111122223333").unwrap(),
            AwsPrincipal::Account {
                partition: None,
                ..
            }
        ));
        assert!(matches!(
            parse_aws_principal("arn:aws-us-gov:iam::111122223333:root").unwrap(),
            AwsPrincipal::Account { partition: Some(p), .. } if p == "aws-us-gov"
        ));
        assert!(matches!(
            parse_aws_principal("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1").unwrap(),
            AwsPrincipal::Role { .. }
        ));
        assert!(matches!(
            parse_aws_principal("arn:aws:iam::111122223333:user/ops/alice").unwrap(),
            AwsPrincipal::User { .. }
        ));
        assert!(matches!(
            parse_aws_principal("arn:aws:sts::111122223333:assumed-role/Admin/alice").unwrap(),
            AwsPrincipal::AssumedRole { .. }
        ));
        assert!(matches!(
            parse_aws_principal("AROAEXAMPLEID1234567").unwrap(),
            AwsPrincipal::UniqueId(_)
        ));
    }

    #[test]
    fn refuses_what_iam_refuses() {
        for bad in [
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::*:root",
            "arn:aws:iam::1111:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::111122223333:role/",
            "alice",
            "",
        ] {
            assert!(parse_aws_principal(bad).is_err(), "{bad}");
        }
    }
}
