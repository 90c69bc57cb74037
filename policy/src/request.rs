//! An access request to the key: who calls, what action, on which key, with which context.

use std::fmt;
use std::sync::Arc;

/// The caller of a request, as a resource policy's `Principal` element sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// An unsigned request.
    Anonymous,
    /// An IAM identity.
    Aws(AwsCaller),
    /// An AWS service principal calling with its own credentials (`sso.amazonaws.com`).
    Service(String),
    /// A web-identity or SAML federated principal.
    Federated(String),
    /// An S3 canonical user id.
    Canonical(String),
}

/// An IAM identity: the account root, a user, or a role and its session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsCaller {
    /// The 12-digit account.
    pub account: String,
    /// `aws:PrincipalArn`: the root, user or role ARN (a role with its path).
    pub arn: String,
    /// The assumed-role session ARN, when the caller is a role session.
    pub session_arn: Option<String>,
}

impl Caller {
    /// A role session in `account` (`arn` is the role ARN, with its path).
    pub fn role(account: &str, role_path_and_name: &str, partition: &str) -> Caller {
        let name = role_path_and_name
            .rsplit('/')
            .next()
            .unwrap_or(role_path_and_name);
        Caller::Aws(AwsCaller {
            account: account.to_owned(),
            arn: format!("arn:{partition}:iam::{account}:role/{role_path_and_name}"),
            session_arn: Some(format!(
                "arn:{partition}:sts::{account}:assumed-role/{name}/idc-guard-probe"
            )),
        })
    }

    /// The account's root user.
    pub fn root(account: &str, partition: &str) -> Caller {
        Caller::Aws(AwsCaller {
            account: account.to_owned(),
            arn: format!("arn:{partition}:iam::{account}:root"),
            session_arn: None,
        })
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Anonymous => f.write_str("an anonymous caller"),
            Caller::Aws(a) => f.write_str(&a.arn),
            Caller::Service(s) => write!(f, "service {s}"),
            Caller::Federated(s) => write!(f, "federated {s}"),
            Caller::Canonical(s) => write!(f, "canonical user {s}"),
        }
    }
}

/// One context key with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    key_lc: String,
    values: Vec<String>,
}

/// The request context: condition keys and their values. Keys are case-insensitive.
///
/// Entries are shared: the model derives hundreds of requests from one base context, and a
/// clone only counts references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    entries: Vec<Arc<Entry>>,
    /// When set, an absent key that AWS sets from the circumstances of the call may hold any
    /// value: conditions on it are undecided.
    open_world: bool,
    /// When set (with `open_world`), every absent key but these is undecided, not only the
    /// environment's: the context stands for a request whose other keys may be anything.
    open_except: Option<Arc<[String]>>,
}

impl Context {
    /// Sets a single-valued key, replacing any earlier value.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.set_values(key, vec![value.to_owned()])
    }

    /// Sets a key to a list of values (a multivalued key such as `kms:EncryptionContextKeys`).
    pub fn set_values(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        let key_lc = key.to_ascii_lowercase();
        match self.entries.iter_mut().find(|e| e.key_lc == key_lc) {
            Some(e) => Arc::make_mut(e).values = values,
            None => self.entries.push(Arc::new(Entry {
                key: key.to_owned(),
                key_lc,
                values,
            })),
        }
        self
    }

    /// Adds a value to a key (creating it).
    pub fn add(&mut self, key: &str, value: &str) -> &mut Self {
        let key_lc = key.to_ascii_lowercase();
        match self.entries.iter_mut().find(|e| e.key_lc == key_lc) {
            Some(e) => Arc::make_mut(e).values.push(value.to_owned()),
            None => self.entries.push(Arc::new(Entry {
                key: key.to_owned(),
                key_lc,
                values: vec![value.to_owned()],
            })),
        }
        self
    }

    /// Sets every key of `other` to its values there (sharing its entries, so no copy).
    pub fn merge(&mut self, other: &Context) -> &mut Self {
        for e in &other.entries {
            match self.entries.iter_mut().find(|mine| mine.key_lc == e.key_lc) {
                Some(mine) => *mine = Arc::clone(e),
                None => self.entries.push(Arc::clone(e)),
            }
        }
        self
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        let key_lc = key.to_ascii_lowercase();
        self.entries.retain(|e| e.key_lc != key_lc);
        self
    }

    /// Marks the context as open-world (see [`Context::is_undecided`]).
    pub fn set_open_world(&mut self, open: bool) -> &mut Self {
        self.open_world = open;
        self
    }

    /// Whether an absent key may hold any value: only in open-world contexts, and only for keys
    /// AWS sets from the circumstances of the call (network, time, MFA, tags; see
    /// [`crate::keys`]). Keys of the caller's identity, the target and the request's own
    /// parameters are what the context says.
    pub fn is_undecided(&self, key_lc: &str) -> bool {
        self.open_world && self.is_undecided_from(key_lc, crate::keys::info(key_lc).source)
    }

    /// [`Context::is_undecided`] for a key whose source the caller already knows.
    pub fn is_undecided_from(&self, key_lc: &str, source: crate::keys::Source) -> bool {
        if !self.open_world || self.get(key_lc).is_some() {
            return false;
        }
        match &self.open_except {
            Some(absent) => {
                source != crate::keys::Source::Never
                    && !absent.iter().any(|a| match a.strip_suffix('*') {
                        Some(prefix) => key_lc.starts_with(prefix),
                        None => a == key_lc,
                    })
            }
            None => source == crate::keys::Source::Environment,
        }
    }

    /// Makes every absent key undecided except `absent` (lower case; `prefix*` names a family),
    /// which are absent.
    pub fn set_open_except(&mut self, absent: &[String]) -> &mut Self {
        self.open_world = true;
        self.open_except = Some(absent.iter().map(|a| a.to_ascii_lowercase()).collect());
        self
    }

    /// The values of a key, given in lower case.
    pub fn get(&self, key_lc: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|e| e.key_lc == key_lc)
            .map(|e| e.values.as_slice())
    }

    /// The values of a key, any case.
    pub fn get_any_case(&self, key: &str) -> Option<&[String]> {
        self.get(&key.to_ascii_lowercase())
    }

    /// Every key, in lower case, in insertion order.
    pub fn keys_lc(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key_lc.as_str())
    }

    /// Every key as written and in lower case, with its values, in insertion order.
    pub fn iter_lc(&self) -> impl Iterator<Item = (&str, &str, &[String])> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.key_lc.as_str(), e.values.as_slice()))
    }

    /// Every key with its values, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.values.as_slice()))
    }
}

/// One request: a caller performing an action on the key with a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Who calls.
    pub caller: Caller,
    /// `kms:Decrypt`, ...
    pub action: String,
    /// The key's ARN in the Region of the request.
    pub resource: String,
    /// Condition keys.
    pub context: Context,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut c = Context::default();
        c.set("aws:PrincipalOrgID", "o-1");
        assert_eq!(c.get("aws:principalorgid"), Some(&["o-1".to_owned()][..]));
        c.set("AWS:PRINCIPALORGID", "o-2");
        assert_eq!(
            c.get_any_case("aws:PrincipalOrgId"),
            Some(&["o-2".to_owned()][..])
        );
        c.add("kms:EncryptionContextKeys", "a")
            .add("kms:encryptioncontextkeys", "b");
        assert_eq!(c.get("kms:encryptioncontextkeys").unwrap().len(), 2);
        c.remove("KMS:EncryptionContextKeys");
        assert!(c.get("kms:encryptioncontextkeys").is_none());
        let mut other = Context::default();
        other
            .set("AWS:PrincipalOrgID", "o-3")
            .set("aws:SourceIp", "192.0.2.1");
        c.merge(&other);
        assert_eq!(c.get("aws:principalorgid"), Some(&["o-3".to_owned()][..]));
        assert_eq!(c.get("aws:sourceip"), Some(&["192.0.2.1".to_owned()][..]));
        assert_eq!(c.iter().count(), 2);
    }

    #[test]
    fn role_callers_carry_their_session() {
        let Caller::Aws(a) = Caller::role(
            "111122223333",
            "aws-reserved/sso.amazonaws.com/AWSReservedSSO_A_1",
            "aws",
        ) else {
            panic!()
        };
        assert_eq!(
            a.arn,
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_A_1"
        );
        assert_eq!(
            a.session_arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_A_1/idc-guard-probe")
        );
    }
}
