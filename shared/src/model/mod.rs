//! The Identity Center access model: for one Region, the questions a key policy must answer.
//!
//! Must-deny questions are spaces of requests nobody outside the model may have: every
//! principal outside the organization, every principal of the organization that is not an
//! administrator, every AWS service principal. The policy analysis
//! ([`idc_guard_policy::analysis`]) answers them exactly, over every request of the space.
//! Must-allow questions are the access Identity Center needs, sent by concrete callers; they
//! must hold in every circumstance the caller does not choose (network, time, tags, ...).
//!
//! The spaces are drawn with exclusions written as Deny statements, so the analysis needs to
//! know nothing about organizations or Identity Center.

pub mod render;

use idc_guard_policy::actions::{self, ActionSet};
use idc_guard_policy::analysis::{Kind, Limits, Principals, Question};
use idc_guard_policy::document::Statement;
use idc_guard_policy::document::principal::{
    AwsPrincipal, PrincipalError, PrincipalSet, parse_aws_principal,
};
use idc_guard_policy::request::{AwsCaller, Caller, Context};

use crate::config::{Config, is_account_id};
use crate::domain::regions::dns_suffix;
use crate::finding::CheckId;

/// Condition keys whose values depend on the Region of the request.
pub const REGIONAL_KEYS: [&str; 3] = [
    "kms:viaservice",
    "aws:requestedregion",
    "kms:multiregionkeytype",
];

/// The member account idc-guard uses for required requests of the organization's principals
/// and AWS managed applications, when the configuration does not name one.
const MEMBER_ACCOUNT: &str = "210987654321";

/// The administrator role a required request of an admin account comes from.
const ADMIN_ROLE: &str =
    "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef";

/// The service principal that stands for AWS managed applications.
pub const MANAGED_APP: &str = "managed-app.amazonaws.com";

/// One question of the model.
#[derive(Debug, Clone)]
pub struct ModelQuestion {
    /// The check it belongs to.
    pub check: CheckId,
    /// Who sends the requests, for a key administrator ("a principal outside the organization").
    pub label: String,
    /// Who sends them, for the analysis.
    pub principals: Principals,
    /// The actions.
    pub actions: ActionSet,
    /// Condition keys the question fixes.
    pub fixed: Context,
    /// Condition keys the question fixes as absent (lower case).
    pub absent: Vec<String>,
    /// Requests outside the space.
    pub exclusions: Vec<Statement>,
    /// Whether the requests must be allowed (true) or denied (false).
    pub must_allow: bool,
    /// How the required request arrives, in words (`via sso.us-east-1.amazonaws.com with this
    /// instance's encryption context`); empty for must-deny questions.
    pub way: String,
}

impl ModelQuestion {
    /// The question as the analysis takes it, about the key `resource` in `region`.
    pub fn question<'q>(
        &'q self,
        resource: &'q str,
        partition: &'q str,
        region: &'q str,
        limits: Limits,
    ) -> Question<'q> {
        Question {
            resource,
            partition,
            region,
            actions: self.actions,
            principals: &self.principals,
            fixed: &self.fixed,
            absent: &self.absent,
            exclusions: &self.exclusions,
            limits,
        }
    }
}

/// How a required request reaches KMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Direct,
    Sso,
    IdentityStore,
}

impl Via {
    fn service(self, region: &str) -> Option<String> {
        let name = match self {
            Via::Direct => return None,
            Via::Sso => "sso",
            Via::IdentityStore => "identitystore",
        };
        Some(format!("{name}.{region}.{}", dns_suffix(region)))
    }
}

/// The encryption context of a required request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    /// Not fixed: the caller chooses (an administrator's grant constraints).
    Open,
    /// None.
    None,
    /// `aws:sso:instance-arn` = this instance.
    Sso,
    /// `aws:identitystore:identitystore-arn` = this identity store.
    IdentityStore,
}

/// Builds the questions for one Region.
#[derive(Debug)]
pub struct RegionModel<'a> {
    config: &'a Config,
    region: &'a str,
    base: Context,
}

impl<'a> RegionModel<'a> {
    /// The model for `region`.
    pub fn new(config: &'a Config, region: &'a str) -> RegionModel<'a> {
        RegionModel {
            config,
            region,
            base: base_context(config, region),
        }
    }

    /// Every question, must-allow first.
    pub fn questions(&self) -> Vec<ModelQuestion> {
        let mut out = self.must_allow();
        out.extend(self.must_deny());
        out
    }

    /// The keys every request to the key carries: the key's and the request's own.
    pub fn base_context(&self) -> Context {
        self.base.clone()
    }

    /// Accounts known to be in the organization: the admin accounts, the key's account and
    /// `policy.organization_account_ids`.
    fn known_insider_accounts(&self) -> Vec<String> {
        let c = self.config;
        let mut accounts: Vec<String> = c.admin_accounts().map(str::to_owned).collect();
        accounts.push(c.key_account().to_owned());
        accounts.extend(c.organization_account_ids.iter().cloned());
        accounts.sort();
        accounts.dedup();
        accounts
    }

    /// Principals that are administrators: every principal of an admin account, and each
    /// configured key administrator.
    fn admin_principals(&self) -> Vec<String> {
        let mut p: Vec<String> = self.config.admin_accounts().map(str::to_owned).collect();
        p.extend(self.config.key_admin_principals.iter().cloned());
        p
    }

    /// Excludes every request of the named principals (account ids and principal ARNs, as
    /// the configuration validates them).
    fn deny_principals(aws: &[String], services: &[&str]) -> Option<Statement> {
        let set = PrincipalSet {
            aws: aws
                .iter()
                .filter_map(|a| parse_aws_principal(a).ok())
                .collect(),
            service: services.iter().map(|s| (*s).to_owned()).collect(),
            ..PrincipalSet::default()
        };
        Statement::exclusion(set, &[]).ok()
    }

    /// Excludes every request for which the conditions hold.
    fn deny_when(conditions: &[(&str, &str, Vec<String>)]) -> Option<Statement> {
        let any = PrincipalSet {
            any: true,
            ..PrincipalSet::default()
        };
        Statement::exclusion(any, conditions).ok()
    }

    /// Principals outside the organization: IAM principals of another organization or none
    /// (not of an account known to be in it, not a key administrator), AWS services acting for
    /// such an account or for none, and anonymous callers.
    fn outsider_exclusions(&self) -> Vec<Statement> {
        let org = vec![self.config.organization_id.clone()];
        let insiders = self.known_insider_accounts();
        let mut trusted = insiders.clone();
        trusted.extend(self.config.key_admin_principals.iter().cloned());
        [
            Self::deny_principals(&trusted, &[]),
            Self::deny_when(&[("StringEquals", "aws:PrincipalOrgID", org.clone())]),
            Self::deny_when(&[("StringEquals", "aws:SourceOrgID", org)]),
            Self::deny_when(&[("StringEquals", "aws:SourceAccount", insiders)]),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// IAM principals of the organization that are not administrators.
    fn insider_exclusions(&self) -> Vec<Statement> {
        let org = vec![self.config.organization_id.clone()];
        [
            Self::deny_principals(&self.admin_principals(), &[]),
            Self::deny_when(&[("StringNotEquals", "aws:PrincipalOrgID", org)]),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// AWS services acting for an account of the organization (the Identity Center services
    /// left out when `not_identity_center`).
    fn org_service_exclusions(&self, not_identity_center: bool) -> Vec<Statement> {
        let org = vec![self.config.organization_id.clone()];
        let mut s = vec![Self::deny_when(&[(
            "StringNotEquals",
            "aws:SourceOrgID",
            org,
        )])];
        if not_identity_center {
            s.push(Self::deny_principals(
                &[],
                &["sso.amazonaws.com", "identitystore.amazonaws.com"],
            ));
        }
        s.into_iter().flatten().collect()
    }

    /// Requests through Identity Center: via `sso.R` or via `identitystore.R`. With pinning,
    /// each service's own encryption-context key, where the request carries it, must name this
    /// instance (sso) or this identity store (identitystore).
    fn through_identity_center(&self) -> Vec<Statement> {
        let c = self.config;
        [
            (
                Via::Sso,
                "kms:EncryptionContext:aws:sso:instance-arn",
                c.instance_arn.clone(),
            ),
            (
                Via::IdentityStore,
                "kms:EncryptionContext:aws:identitystore:identitystore-arn",
                c.identity_store_arn(),
            ),
        ]
        .into_iter()
        .filter_map(|(via, key, value)| {
            let service = via.service(self.region)?;
            let mut conditions = vec![("StringEquals", "kms:ViaService", vec![service])];
            if c.pin_encryption_context {
                conditions.push(("StringEqualsIfExists", key, vec![value]));
            }
            Self::deny_when(&conditions)
        })
        .collect()
    }

    fn must_deny(&self) -> Vec<ModelQuestion> {
        let uses = actions::use_of_key();
        let control = actions::control();
        let crypto = uses.minus(control);
        let base = self.base_context();
        let org = &self.config.organization_id;
        let everyone = Principals::Any(vec![
            Kind::Root,
            Kind::User,
            Kind::Role,
            Kind::FederatedUser,
            Kind::Service,
            Kind::Anonymous,
        ]);
        let iam = Principals::Any(Kind::IAM.to_vec());
        let services = Principals::Any(vec![Kind::Service]);
        let q =
            |check, label: String, principals: &Principals, actions, exclusions| ModelQuestion {
                check,
                label,
                principals: principals.clone(),
                actions,
                fixed: base.clone(),
                absent: Vec::new(),
                exclusions,
                must_allow: false,
                way: String::new(),
            };
        let outsiders = format!("a principal outside organization {org}");
        let insiders = format!("a principal of organization {org} that is not an administrator");
        let org_services = format!("an AWS service acting for an account of organization {org}");
        let mut not_ic = self.insider_exclusions();
        not_ic.extend(self.through_identity_center());
        let mut apps_not_ic = self.org_service_exclusions(true);
        apps_not_ic.extend(self.through_identity_center());
        vec![
            q(
                CheckId::KpExternalAccess,
                outsiders.clone(),
                &everyone,
                uses,
                self.outsider_exclusions(),
            ),
            q(
                CheckId::KpUnexpectedAdmin,
                outsiders,
                &everyone,
                control.minus(uses),
                self.outsider_exclusions(),
            ),
            q(
                CheckId::KpUnexpectedAdmin,
                insiders.clone(),
                &iam,
                control,
                self.insider_exclusions(),
            ),
            q(
                CheckId::KpUnexpectedAdmin,
                org_services.clone(),
                &services,
                control,
                self.org_service_exclusions(false),
            ),
            q(CheckId::KpBroaderThanModel, insiders, &iam, crypto, not_ic),
            q(
                CheckId::KpBroaderThanModel,
                org_services,
                &services,
                crypto,
                apps_not_ic,
            ),
        ]
    }

    /// A required request: `caller`, the actions, how it arrives.
    #[allow(clippy::too_many_arguments)]
    fn required(
        &self,
        check: CheckId,
        label: String,
        principals: Principals,
        actions: ActionSet,
        via: Via,
        enc: Enc,
    ) -> ModelQuestion {
        let mut fixed = self.base_context();
        let mut absent = Vec::new();
        match via.service(self.region) {
            Some(s) => {
                fixed.set("kms:ViaService", &s);
            }
            None => absent.push("kms:viaservice".to_owned()),
        }
        let (key, value) = match enc {
            Enc::Open => (None, None),
            Enc::None => {
                absent.push("kms:encryptioncontextkeys".to_owned());
                (None, None)
            }
            Enc::Sso => (
                Some("aws:sso:instance-arn"),
                Some(self.config.instance_arn.clone()),
            ),
            Enc::IdentityStore => (
                Some("aws:identitystore:identitystore-arn"),
                Some(self.config.identity_store_arn()),
            ),
        };
        if let (Some(k), Some(v)) = (key, value) {
            fixed.set_values("kms:EncryptionContextKeys", vec![k.to_owned()]);
            fixed.set(&format!("kms:EncryptionContext:{k}"), &v);
        }
        let way = match (via.service(self.region), enc) {
            (Some(s), Enc::Sso) => format!("via {s} with this instance's encryption context"),
            (Some(s), Enc::IdentityStore) => {
                format!("via {s} with this identity store's encryption context")
            }
            (Some(s), _) => format!("via {s}"),
            (None, Enc::Sso) => "directly with this instance's encryption context".to_owned(),
            (None, Enc::IdentityStore) => {
                "directly with this identity store's encryption context".to_owned()
            }
            (None, _) => "directly".to_owned(),
        };
        ModelQuestion {
            check,
            label,
            principals,
            actions,
            fixed,
            absent,
            exclusions: Vec::new(),
            must_allow: true,
            way,
        }
    }

    fn iam_caller(&self, caller: Caller) -> Principals {
        Principals::Caller {
            caller,
            org: Some(self.config.organization_id.clone()),
            source_account: None,
            source_org: None,
        }
    }

    fn service_caller(&self, service: &str, account: &str) -> Principals {
        Principals::Caller {
            caller: Caller::Service(service.to_owned()),
            org: None,
            source_account: Some(account.to_owned()),
            source_org: Some(self.config.organization_id.clone()),
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one block per required access (KP-ADMIN, KP-SERVICE-DESCRIBE, KP-SERVICE-USE, KP-ORG-VIA-SERVICE, KP-MANAGED-APPS), each a few lines: the list is the model"
    )]
    fn must_allow(&self) -> Vec<ModelQuestion> {
        let c = self.config;
        let p = c.partition().to_owned();
        let mut out = Vec::new();
        // KP-ADMIN: the admin accounts (their root and an administrator role) and the
        // configured key administrators, directly, with grant constraints of their choice.
        let mut admins: Vec<(String, Caller)> = Vec::new();
        for (i, account) in c.admin_accounts().enumerate() {
            let what = if i == 0 {
                "the management account"
            } else {
                "the delegated administrator account"
            };
            admins.push((
                format!("{what} {account} (root)"),
                Caller::root(account, &p),
            ));
            admins.push((
                format!("{what} {account} (an administrator role)"),
                Caller::role(account, ADMIN_ROLE, &p),
            ));
        }
        for arn in &c.key_admin_principals {
            if let Some(caller) = caller_for_arn(arn, &c.management_account_id, &p) {
                admins.push((format!("key administrator {arn}"), caller));
            }
        }
        for (label, caller) in admins {
            out.push(self.required(
                CheckId::KpAdmin,
                label,
                self.iam_caller(caller),
                actions::admin_required(),
                Via::Direct,
                Enc::Open,
            ));
        }
        // KP-SERVICE-DESCRIBE / KP-SERVICE-USE: the services acting for the instance's account.
        for (service, enc) in [
            ("sso.amazonaws.com", Enc::Sso),
            ("identitystore.amazonaws.com", Enc::IdentityStore),
        ] {
            let label = format!("service principal {service}");
            out.push(self.required(
                CheckId::KpServiceDescribe,
                label.clone(),
                self.service_caller(service, c.key_account()),
                ActionSet::of(&["kms:DescribeKey"]),
                Via::Direct,
                Enc::None,
            ));
            out.push(self.required(
                CheckId::KpServiceUse,
                label,
                self.service_caller(service, c.key_account()),
                actions::service_use(),
                Via::Direct,
                enc,
            ));
        }
        // KP-ORG-VIA-SERVICE: principals of the organization, through each service.
        let member = self.member_account();
        let org_callers = [
            (
                format!(
                    "an administrator role in the management account {}",
                    c.management_account_id
                ),
                Caller::role(&c.management_account_id, ADMIN_ROLE, &p),
            ),
            (
                format!("a role in member account {member} of the organization"),
                Caller::role(
                    &member,
                    "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AppAdmin_0123456789abcdef",
                    &p,
                ),
            ),
        ];
        let decrypt = ActionSet::of(&["kms:Decrypt"]);
        for (label, caller) in org_callers {
            for (via, enc) in [
                (Via::Sso, Enc::Sso),
                (Via::IdentityStore, Enc::IdentityStore),
            ] {
                out.push(self.required(
                    CheckId::KpOrgViaService,
                    label.clone(),
                    self.iam_caller(caller.clone()),
                    decrypt,
                    via,
                    enc,
                ));
            }
        }
        // KP-MANAGED-APPS: an AWS managed application acting for a member account.
        let label = format!("an AWS managed application acting for member account {member}");
        for (via, enc) in [
            (Via::Sso, Enc::Sso),
            (Via::IdentityStore, Enc::IdentityStore),
        ] {
            out.push(self.required(
                CheckId::KpManagedApps,
                label.clone(),
                self.service_caller(MANAGED_APP, &member),
                decrypt,
                via,
                enc,
            ));
        }
        out
    }

    /// A member account for required requests: one the configuration does not use for
    /// anything else.
    fn member_account(&self) -> String {
        let taken = |a: &str| self.config.admin_accounts().any(|x| x == a);
        ["210987654321", "210987654322", "210987654323"]
            .iter()
            .find(|a| !taken(a))
            .map_or_else(|| MEMBER_ACCOUNT.to_owned(), |a| (*a).to_owned())
    }
}

/// The keys every request to the key in `region` carries: the key's and the request's own.
fn base_context(c: &Config, region: &str) -> Context {
    let mut ctx = Context::default();
    ctx.set("aws:ResourceAccount", c.key_account())
        .set("aws:ResourceOrgID", &c.organization_id)
        .set("aws:RequestedRegion", region)
        .set("aws:SecureTransport", "true")
        .set("kms:KeySpec", "SYMMETRIC_DEFAULT")
        .set("kms:KeyUsage", "ENCRYPT_DECRYPT")
        .set("kms:KeyOrigin", "AWS_KMS")
        // Carried by the cryptographic operations only (the analysis scopes it).
        .set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
    if c.key_arn.is_multi_region() {
        let kind = if region == c.primary_region {
            "PRIMARY"
        } else {
            "REPLICA"
        };
        ctx.set("kms:MultiRegion", "true")
            .set("kms:MultiRegionKeyType", kind);
    } else {
        ctx.set("kms:MultiRegion", "false");
    }
    ctx
}

/// Turns a principal ARN (`arn:aws:iam::111122223333:role/Admin`, an assumed-role session, a
/// user or `:root`) into a caller; a wildcard account becomes `fallback_account`.
pub fn caller_for_arn(pattern: &str, fallback_account: &str, partition: &str) -> Option<Caller> {
    let concrete: String = pattern.replace(['*', '?'], "x");
    let parts: Vec<&str> = concrete.splitn(6, ':').collect();
    let [_, _, service, _, account, resource] = parts.as_slice() else {
        return None;
    };
    let account = if is_account_id(account) {
        (*account).to_owned()
    } else {
        fallback_account.to_owned()
    };
    match (*service, resource.split_once('/')) {
        ("iam", Some(("role", path))) => Some(Caller::role(&account, path, partition)),
        ("iam", Some(("user", path))) => Some(Caller::Aws(AwsCaller {
            arn: format!("arn:{partition}:iam::{account}:user/{path}"),
            account,
            session_arn: None,
        })),
        ("sts", Some(("assumed-role", rest))) => {
            let role = rest.split('/').next().unwrap_or(rest);
            Some(Caller::Aws(AwsCaller {
                arn: format!("arn:{partition}:iam::{account}:role/{role}"),
                session_arn: Some(format!(
                    "arn:{partition}:sts::{account}:assumed-role/{rest}"
                )),
                account,
            }))
        }
        ("sts", Some(("federated-user", name))) => Some(Caller::Aws(AwsCaller {
            arn: format!("arn:{partition}:sts::{account}:federated-user/{name}"),
            account,
            session_arn: None,
        })),
        ("iam", None) if *resource == "root" => Some(Caller::root(&account, partition)),
        _ => None,
    }
}

/// The context idc-guard gives a request of `caller` in `region` (what `simulate` starts
/// from): the key's own keys, the caller's identity keys, and `aws:PrincipalOrgID` for
/// principals of the admin accounts, which are in the organization by definition. Keys the
/// caller's environment sets (network, time, ...) are left open: a condition on one that the
/// request does not give is undecided.
pub fn caller_context(config: &Config, region: &str, caller: &Caller) -> Context {
    caller_context_from(&base_context(config, region), config, caller)
}

/// [`caller_context`] from the Region's base context ([`RegionModel::base_context`]), built
/// once.
pub fn caller_context_from(base: &Context, config: &Config, caller: &Caller) -> Context {
    let mut ctx = base.clone();
    ctx.set_open_world(true);
    match caller {
        Caller::Aws(a) => {
            ctx.set("aws:PrincipalArn", &a.arn)
                .set("aws:PrincipalAccount", &a.account)
                .set("kms:CallerAccount", &a.account)
                .set("aws:PrincipalIsAWSService", "false")
                .set(
                    "aws:PrincipalType",
                    if a.arn.ends_with(":root") {
                        "Account"
                    } else if a.session_arn.is_some() {
                        "AssumedRole"
                    } else if a.arn.contains(":federated-user/") {
                        "FederatedUser"
                    } else {
                        "User"
                    },
                );
            if config.admin_accounts().any(|x| x == a.account) {
                ctx.set("aws:PrincipalOrgID", &config.organization_id);
            }
        }
        Caller::Service(s) => {
            ctx.set("aws:PrincipalIsAWSService", "true")
                .set("aws:PrincipalServiceName", s);
        }
        Caller::Anonymous | Caller::Federated(_) | Caller::Canonical(_) => {}
    }
    ctx
}

/// Why a caller cannot be simulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    /// Not a principal at all.
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    /// An `sts` ARN that is not a role session.
    #[error("\"{0}\" is not an assumed-role ARN")]
    NotASession(String),
    /// A unique id names a principal only to IAM; its ARN is needed.
    #[error("\"{0}\" is a unique id; give the principal's ARN")]
    UniqueId(String),
    /// `--role-arn` names another role than the session's.
    #[error(
        "the role ARN \"{role}\" is not the role of session {session} (same account, same role name)"
    )]
    OtherRole {
        /// The role ARN given.
        role: String,
        /// The session ARN given.
        session: String,
    },
    /// `--role-arn` without a role session.
    #[error(
        "a role ARN goes with a role session's ARN (arn:...:sts::<account>:assumed-role/<role>/<session>)"
    )]
    RoleWithoutSession,
}

/// Parses a caller as `simulate` takes it: an account id, a principal ARN, a service
/// principal (`sso.amazonaws.com`) or `anonymous` / `*`. A role session's ARN carries no role
/// path: give the role's ARN as `role_arn` when the role has one.
pub fn parse_caller(
    text: &str,
    partition: &str,
    role_arn: Option<&str>,
) -> Result<Caller, CallerError> {
    let t = text.trim();
    if t == "anonymous" || t == "*" {
        return Ok(Caller::Anonymous);
    }
    if !t.starts_with("arn:") && t.contains('.') {
        return Ok(Caller::Service(t.to_owned()));
    }
    let caller = match parse_aws_principal(t)? {
        AwsPrincipal::Account {
            account,
            partition: p,
        } => Caller::root(&account, p.as_deref().unwrap_or(partition)),
        AwsPrincipal::Role { account, arn } => {
            let path = arn
                .split_once(":role/")
                .map(|(_, p)| p.to_owned())
                .unwrap_or_default();
            let part = arn.split(':').nth(1).unwrap_or(partition).to_owned();
            Caller::role(&account, &path, &part)
        }
        AwsPrincipal::AssumedRole { account, arn } => {
            caller_for_arn(&arn, &account, arn.split(':').nth(1).unwrap_or(partition))
                .ok_or_else(|| CallerError::NotASession(t.to_owned()))?
        }
        AwsPrincipal::User { account, arn } | AwsPrincipal::FederatedUser { account, arn } => {
            Caller::Aws(AwsCaller {
                account,
                arn,
                session_arn: None,
            })
        }
        AwsPrincipal::Any => Caller::Anonymous,
        AwsPrincipal::UniqueId(id) => {
            return Err(CallerError::UniqueId(id));
        }
    };
    match (role_arn, caller) {
        (None, c) => Ok(c),
        (Some(role), Caller::Aws(mut a)) if a.session_arn.is_some() => {
            let name = a
                .session_arn
                .as_deref()
                .and_then(|s| s.split(":assumed-role/").nth(1))
                .and_then(|s| s.split('/').next())
                .unwrap_or_default()
                .to_owned();
            let expected = format!(":{}:role/", a.account);
            let ok = role.contains(&expected)
                && (role.ends_with(&format!("/{name}")) || role.ends_with(&format!("role/{name}")));
            if !ok {
                return Err(CallerError::OtherRole {
                    role: role.to_owned(),
                    session: a.session_arn.unwrap_or_default(),
                });
            }
            a.arn = role.to_owned();
            Ok(Caller::Aws(a))
        }
        (Some(_), _) => Err(CallerError::RoleWithoutSession),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_patterns_become_callers() {
        let c = caller_for_arn(
            "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Admin_*",
            "999999999999",
            "aws",
        );
        let Some(Caller::Aws(a)) = c else {
            panic!("{c:?}")
        };
        assert_eq!(a.account, "999999999999");
        assert_eq!(
            a.arn,
            "arn:aws:iam::999999999999:role/aws-reserved/sso.amazonaws.com/x/AWSReservedSSO_Admin_x"
        );
        assert!(caller_for_arn("arn:aws:s3:::bucket", "1", "aws").is_none());
    }

    #[test]
    fn a_session_with_its_role_path() {
        let c = parse_caller(
            "arn:aws:sts::111122223333:assumed-role/Admin/alice",
            "aws",
            Some("arn:aws:iam::111122223333:role/ops/Admin"),
        )
        .unwrap();
        let Caller::Aws(a) = c else { panic!() };
        assert_eq!(a.arn, "arn:aws:iam::111122223333:role/ops/Admin");
        assert_eq!(
            a.session_arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/Admin/alice")
        );
        assert!(
            parse_caller(
                "arn:aws:sts::111122223333:assumed-role/Admin/alice",
                "aws",
                Some("arn:aws:iam::111122223333:role/ops/Other"),
            )
            .is_err()
        );
    }
}
