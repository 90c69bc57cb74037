//! The checks, by stable id ([`CheckId`]).

pub mod idp;
pub mod idp_app;
pub mod instance;
pub mod key_policy;
pub mod key_state;

use crate::config::Config;
pub use crate::finding::CheckId;
use crate::finding::{Finding, Severity, Status, fingerprint};

/// The Region a finding is about and the key's ARN there.
pub(crate) struct At<'a> {
    pub(crate) region: &'a str,
    pub(crate) resource: String,
}

/// A finding of `check` about `resource` in `region`; passes are informational, failures carry
/// the check's severity. `cause` keeps different problems of one check apart in the
/// fingerprint.
pub(crate) fn finding_on(
    check: CheckId,
    status: Status,
    region: &str,
    resource: &str,
    message: String,
    cause: &str,
) -> Finding {
    Finding {
        check,
        status,
        severity: if status == Status::Pass {
            Severity::Info
        } else {
            check.severity()
        },
        region: region.to_owned(),
        resource: resource.to_owned(),
        message,
        statement: None,
        fingerprint: fingerprint(check.id(), resource, region, cause),
        trigger: None,
        remediation: None,
        resolves: None,
    }
}

impl<'a> At<'a> {
    pub(crate) fn new(config: &Config, region: &'a str) -> At<'a> {
        At {
            region,
            resource: config.key_arn_in(region),
        }
    }

    /// A finding of `check` here; passes are informational, failures carry the check's severity.
    pub(crate) fn finding(
        &self,
        check: CheckId,
        status: Status,
        message: String,
        statement: Option<String>,
        cause: &str,
    ) -> Finding {
        let mut f = finding_on(check, status, self.region, &self.resource, message, cause);
        f.statement = statement;
        f
    }
}
