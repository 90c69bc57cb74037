//! The probe list the KP checks evaluated before the analysis replaced it, kept as a reference
//! for the differential test (`tests/tests/analysis_vs_probes.rs`): every probe it finds
//! allowed, the analysis must find too. It is the old model, unchanged but for imports (what
//! it shares unchanged with the current model, a caller from a principal ARN and the
//! Region-dependent keys, it takes from there).
#![allow(clippy::too_many_arguments, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;

use idc_guard_core::checks::CheckId;
use idc_guard_core::config::{Config, is_account_id};
use idc_guard_core::domain::regions::dns_suffix;
use idc_guard_core::model::caller_for_arn;
use idc_guard_policy::actions::{self, ActionSet};
use idc_guard_policy::document::principal::AwsPrincipal;
use idc_guard_policy::document::{KeyPolicy, PrincipalClause};
use idc_guard_policy::request::{Caller, Context};

/// The keys the old model decided for every request it built; every other key a real request
/// may carry was undecided in its probes.
fn old_decided() -> Vec<String> {
    [
        "aws:resourceaccount",
        "aws:resourceorgid",
        "aws:requestedregion",
        "aws:securetransport",
        "kms:keyspec",
        "kms:keyusage",
        "kms:keyorigin",
        "kms:multiregion",
        "kms:multiregionkeytype",
        "aws:principalarn",
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:principalisawsservice",
        "aws:principaltype",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalservicename",
        "aws:sourceaccount",
        "aws:sourceorgid",
        "kms:viaservice",
        "aws:viaawsservice",
        "kms:encryptionalgorithm",
        "kms:encryptioncontextkeys",
        "kms:grantisforawsresource",
        "kms:encryptioncontext:*",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect()
}

pub use idc_guard_core::model::REGIONAL_KEYS;

/// The Identity Center services a request may come through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Via {
    /// Called directly.
    Direct,
    /// Through `sso.<region>.amazonaws.com`.
    Sso,
    /// Through `identitystore.<region>.amazonaws.com`.
    IdentityStore,
    /// Through another AWS service (`s3.<region>.amazonaws.com`).
    OtherService,
}

impl Via {
    /// The `kms:ViaService` value in `region`, if any.
    pub fn service(self, region: &str) -> Option<String> {
        let name = match self {
            Via::Direct => return None,
            Via::Sso => "sso",
            Via::IdentityStore => "identitystore",
            Via::OtherService => "s3",
        };
        Some(format!("{name}.{region}.{}", dns_suffix(region)))
    }

    fn describe(self) -> &'static str {
        match self {
            Via::Direct => "directly",
            Via::Sso => "via Identity Center (sso)",
            Via::IdentityStore => "via the identity store",
            Via::OtherService => "via another service (s3)",
        }
    }
}

/// The encryption context a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EncContext {
    /// None.
    None,
    /// `aws:sso:instance-arn` = this instance.
    Sso,
    /// `aws:identitystore:identitystore-arn` = this identity store.
    IdentityStore,
    /// `aws:sso:instance-arn` = another instance.
    OtherInstance,
    /// `aws:identitystore:identitystore-arn` = another identity store.
    OtherStore,
}

impl EncContext {
    fn describe(self) -> &'static str {
        match self {
            EncContext::None => "",
            EncContext::Sso => " with this instance's encryption context",
            EncContext::IdentityStore => " with this identity store's encryption context",
            EncContext::OtherInstance => " with ANOTHER instance's encryption context",
            EncContext::OtherStore => " with ANOTHER identity store's encryption context",
        }
    }
}

/// Who a request comes from, described for a key administrator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Who {
    /// A readable description without the Region.
    pub label: Arc<str>,
    /// How the request reaches KMS.
    pub via: Via,
    /// Its encryption context.
    pub context: EncContext,
}

impl Who {
    /// How the request arrives in `region`: `directly`, `via sso.us-east-1.amazonaws.com with
    /// this instance's encryption context`.
    pub fn way(&self, region: &str) -> String {
        let via = match self.via.service(region) {
            Some(s) => format!("via {s}"),
            None => self.via.describe().to_owned(),
        };
        format!("{via}{}", self.context.describe())
    }
}

/// One modelled request: a caller and context, and the actions it must (or must not) be able
/// to perform. All actions in `actions` share the context.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    /// The check this request belongs to.
    pub check: CheckId,
    /// Who calls, as described in findings.
    pub who: Who,
    /// The caller.
    pub caller: Caller,
    /// The request context.
    pub context: Context,
    /// The actions.
    pub actions: ActionSet,
    /// Whether the actions must be allowed (true) or denied (false).
    pub must_allow: bool,
}

/// Synthetic identities the model uses, chosen so they collide with nothing in the config.
#[derive(Debug, Clone)]
struct Synthetic {
    outsider_account: String,
    member_account: String,
    other_org: String,
    other_instance: String,
    other_store: String,
}

impl Synthetic {
    fn new(config: &Config, named_accounts: &BTreeSet<String>) -> Synthetic {
        let taken = |a: &str| config.admin_accounts().any(|x| x == a) || named_accounts.contains(a);
        let pick = |candidates: &[&str]| {
            candidates
                .iter()
                .find(|c| !taken(c))
                .map_or_else(|| "000000000001".to_owned(), |c| (*c).to_owned())
        };
        let outsider_account = pick(&["999999999999", "999999999998", "999999999997"]);
        let member_account = pick(&["210987654321", "210987654322", "210987654323"]);
        let other_org = if config.organization_id == "o-0therorg000" {
            "o-0therorg001"
        } else {
            "o-0therorg000"
        };
        let other_instance = if config.instance_arn.ends_with("ssoins-0000000000000000") {
            "ssoins-0000000000000001"
        } else {
            "ssoins-0000000000000000"
        };
        let other_store = if config.identity_store_id == "d-0000000000" {
            "d-0000000001"
        } else {
            "d-0000000000"
        };
        Synthetic {
            outsider_account,
            member_account,
            other_org: other_org.to_owned(),
            other_instance: format!("arn:{}:sso:::instance/{other_instance}", config.partition()),
            other_store: format!(
                "arn:{}:identitystore::{}:identitystore/{other_store}",
                config.partition(),
                config.management_account_id
            ),
        }
    }
}

/// Everything the policy itself names: principals, accounts, organizations, services.
#[derive(Debug, Clone, Default)]
pub struct Named {
    /// Principal ARNs (roles, users, sessions), from Principal elements and ARN conditions.
    pub arns: BTreeSet<String>,
    /// Account ids.
    pub accounts: BTreeSet<String>,
    /// Organization ids.
    pub orgs: BTreeSet<String>,
    /// Service principals.
    pub services: BTreeSet<String>,
}

/// Collects what a policy names.
pub fn named_in(policy: &KeyPolicy) -> Named {
    let mut n = Named::default();
    for s in &policy.statements {
        let set = match &s.principal {
            PrincipalClause::Principal(set) | PrincipalClause::NotPrincipal(set) => set,
        };
        for p in &set.aws {
            match p {
                AwsPrincipal::Account { account, .. } => {
                    n.accounts.insert(account.clone());
                }
                AwsPrincipal::Role { account, arn }
                | AwsPrincipal::User { account, arn }
                | AwsPrincipal::AssumedRole { account, arn }
                | AwsPrincipal::FederatedUser { account, arn } => {
                    n.accounts.insert(account.clone());
                    n.arns.insert(arn.clone());
                }
                AwsPrincipal::Any | AwsPrincipal::UniqueId(_) => {}
            }
        }
        n.services
            .extend(set.service.iter().map(|s| s.to_ascii_lowercase()));
        for c in &s.conditions {
            for v in &c.values {
                collect_ids(&v.raw, &mut n);
                if c.key_lc == "aws:principalarn" && v.raw.starts_with("arn:") {
                    n.arns.insert(v.raw.clone());
                }
                if c.key_lc == "aws:principalservicename" {
                    n.services.insert(v.raw.to_ascii_lowercase());
                }
            }
        }
    }
    n
}

/// Finds 12-digit account ids and `o-` organization ids inside a value.
fn collect_ids(value: &str, n: &mut Named) {
    for token in value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if is_account_id(token) {
            n.accounts.insert(token.to_owned());
        } else if token.starts_with("o-") && (12..=34).contains(&token.len()) {
            n.orgs.insert(token.to_owned());
        }
    }
}

/// Builds the model for one Region.
#[derive(Debug)]
pub struct ModelBuilder<'a> {
    config: &'a Config,
    region: &'a str,
    synthetic: Synthetic,
    named: &'a Named,
    requests: Vec<ModelRequest>,
}

impl<'a> ModelBuilder<'a> {
    /// Starts a model for `region`.
    pub fn new(config: &'a Config, region: &'a str, named: &'a Named) -> ModelBuilder<'a> {
        let synthetic = Synthetic::new(config, &named.accounts);
        ModelBuilder {
            config,
            region,
            synthetic,
            named,
            requests: Vec::new(),
        }
    }

    /// Every request of the model for the Region.
    pub fn build(mut self) -> Vec<ModelRequest> {
        self.must_allow();
        self.must_deny();
        self.requests
    }

    fn is_admin_account(&self, account: &str) -> bool {
        self.config.admin_accounts().any(|a| a == account)
    }

    fn is_key_admin(&self, caller: &Caller) -> bool {
        match caller {
            Caller::Aws(a) => {
                self.is_admin_account(&a.account)
                    || self.config.key_admin_principals.iter().any(|k| {
                        *k == a.arn
                            || a.session_arn.as_deref() == Some(k.as_str())
                            || k.ends_with(&format!(":{}:root", a.account))
                    })
            }
            _ => false,
        }
    }

    /// The context every request to the key carries.
    pub fn base_context(&self) -> Context {
        let c = self.config;
        let mut ctx = Context::default();
        ctx.set("aws:ResourceAccount", c.key_account())
            .set("aws:ResourceOrgID", &c.organization_id)
            .set("aws:RequestedRegion", self.region)
            .set("aws:SecureTransport", "true")
            .set("kms:KeySpec", "SYMMETRIC_DEFAULT")
            .set("kms:KeyUsage", "ENCRYPT_DECRYPT")
            .set("kms:KeyOrigin", "AWS_KMS")
            .set_open_except(&old_decided());
        if c.key_arn.is_multi_region() {
            let kind = if self.region == c.primary_region {
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

    /// The context of an IAM caller; `org` is its organization, if any.
    pub fn iam_context(&self, caller: &Caller, org: Option<&str>) -> Context {
        let mut ctx = self.base_context();
        if let Caller::Aws(a) = caller {
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
                    } else {
                        "User"
                    },
                );
            if let Some(org) = org {
                ctx.set("aws:PrincipalOrgID", org);
                // The root and OU ids are unknown: a policy that names them cannot be verified.
                ctx.set_values("aws:PrincipalOrgPaths", vec![format!("{org}/r-0000/")]);
            }
        }
        ctx
    }

    /// The context of a service principal acting for `source_account` in `source_org`.
    fn service_context(
        &self,
        service: &str,
        source_account: &str,
        source_org: Option<&str>,
    ) -> Context {
        let mut ctx = self.base_context();
        ctx.set("aws:PrincipalIsAWSService", "true")
            .set("aws:PrincipalServiceName", service)
            .set("aws:SourceAccount", source_account);
        if let Some(org) = source_org {
            ctx.set("aws:SourceOrgID", org);
        }
        ctx
    }

    /// Adds requests for `actions`, split by the action classes whose contexts differ: the
    /// cryptographic operations carry the algorithm and encryption context, CreateGrant carries
    /// the context (as grant constraints), the rest carry neither.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        check: CheckId,
        label: &str,
        caller: &Caller,
        base: &Context,
        via: Via,
        enc: EncContext,
        actions: ActionSet,
        must_allow: bool,
    ) {
        let mut with_via = base.clone();
        // What a must-allow request carries is up to the caller, who sends only what it needs;
        // a probe stands for every request an attacker could send.
        if must_allow {
            with_via.set_open_world(false);
        } else {
            with_via.set_open_except(&old_decided());
        }
        if let Some(service) = via.service(self.region) {
            with_via.set("kms:ViaService", &service);
        }
        if matches!(caller, Caller::Aws(_)) {
            with_via.set(
                "aws:ViaAWSService",
                if via == Via::Direct { "false" } else { "true" },
            );
        }
        let crypto = actions.intersect(actions::crypto());
        let create_grant = actions.intersect(ActionSet::of(&["kms:CreateGrant"]));
        // kms:GrantIsForAWSResource is set when an integrated service makes a grant call.
        let grant_admin = actions.intersect(ActionSet::of(&["kms:ListGrants", "kms:RevokeGrant"]));
        let other = actions.minus(crypto).minus(create_grant).minus(grant_admin);
        let who = Who {
            label: Arc::from(label),
            via,
            context: enc,
        };
        let mut grant_ctx = with_via.clone();
        if via != Via::Direct {
            grant_ctx.set("kms:GrantIsForAWSResource", "true");
        }
        if !crypto.is_empty() {
            let mut ctx = with_via.clone();
            ctx.set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
            self.set_encryption_context(&mut ctx, enc);
            self.push(check, who.clone(), caller, ctx, crypto, must_allow);
        }
        if !create_grant.is_empty() {
            let mut ctx = grant_ctx.clone();
            self.set_encryption_context(&mut ctx, enc);
            self.push(check, who.clone(), caller, ctx, create_grant, must_allow);
        }
        if !grant_admin.is_empty() && enc == EncContext::None {
            self.push(
                check,
                who.clone(),
                caller,
                grant_ctx,
                grant_admin,
                must_allow,
            );
        }
        // Without an encryption context these requests are the same for every `enc`.
        if !other.is_empty() && enc == EncContext::None {
            self.push(check, who, caller, with_via, other, must_allow);
        }
    }

    /// Probes an outsider: it may neither use the key (KP-EXTERNAL-ACCESS) nor control it
    /// (KP-UNEXPECTED-ADMIN; grants are already use).
    fn probe_outsider(
        &mut self,
        label: &str,
        caller: &Caller,
        ctx: &Context,
        via: Via,
        enc: EncContext,
    ) {
        let uses = actions::use_of_key();
        self.add(
            CheckId::KpExternalAccess,
            label,
            caller,
            ctx,
            via,
            enc,
            uses,
            false,
        );
        let control = actions::control().minus(uses);
        self.add(
            CheckId::KpUnexpectedAdmin,
            label,
            caller,
            ctx,
            via,
            enc,
            control,
            false,
        );
    }

    fn push(
        &mut self,
        check: CheckId,
        who: Who,
        caller: &Caller,
        context: Context,
        actions: ActionSet,
        must_allow: bool,
    ) {
        self.requests.push(ModelRequest {
            check,
            who,
            caller: caller.clone(),
            context,
            actions,
            must_allow,
        });
    }

    fn set_encryption_context(&self, ctx: &mut Context, enc: EncContext) {
        let (key, value) = match enc {
            EncContext::None => return,
            EncContext::Sso => ("aws:sso:instance-arn", self.config.instance_arn.clone()),
            EncContext::IdentityStore => (
                "aws:identitystore:identitystore-arn",
                self.config.identity_store_arn(),
            ),
            EncContext::OtherInstance => (
                "aws:sso:instance-arn",
                self.synthetic.other_instance.clone(),
            ),
            EncContext::OtherStore => (
                "aws:identitystore:identitystore-arn",
                self.synthetic.other_store.clone(),
            ),
        };
        ctx.set_values("kms:EncryptionContextKeys", vec![key.to_owned()]);
        ctx.set(&format!("kms:EncryptionContext:{key}"), &value);
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the reference probe list for the required access, one block per check: a table kept apart from the model on purpose"
    )]
    fn must_allow(&mut self) {
        let c = self.config;
        let p = c.partition().to_owned();
        let org = c.organization_id.clone();
        // KP-ADMIN: the admin accounts (as their root and as an administrator role) and the
        // configured key administrators.
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
                Caller::role(account, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef", &p),
            ));
        }
        for arn in &c.key_admin_principals {
            if let Some(caller) = caller_for_arn(arn, &c.management_account_id, &p) {
                admins.push((format!("key administrator {arn}"), caller));
            }
        }
        for (label, caller) in &admins {
            let ctx = self.iam_context(caller, Some(&org));
            self.add(
                CheckId::KpAdmin,
                label,
                caller,
                &ctx,
                Via::Direct,
                EncContext::None,
                actions::admin_required(),
                true,
            );
        }
        // KP-SERVICE-DESCRIBE / KP-SERVICE-USE: the services acting for the instance's account.
        for (service, enc) in [
            ("sso.amazonaws.com", EncContext::Sso),
            ("identitystore.amazonaws.com", EncContext::IdentityStore),
        ] {
            let caller = Caller::Service(service.to_owned());
            let ctx = self.service_context(service, c.key_account(), Some(&org));
            let label = format!("service principal {service}");
            self.add(
                CheckId::KpServiceDescribe,
                &label,
                &caller,
                &ctx,
                Via::Direct,
                EncContext::None,
                ActionSet::of(&["kms:DescribeKey"]),
                true,
            );
            self.add(
                CheckId::KpServiceUse,
                &label,
                &caller,
                &ctx,
                Via::Direct,
                enc,
                actions::service_use(),
                true,
            );
        }
        // KP-ORG-VIA-SERVICE: principals of the organization, through each service.
        let member = self.synthetic.member_account.clone();
        let org_callers = [
            (
                format!(
                    "an administrator role in the management account {}",
                    c.management_account_id
                ),
                Caller::role(
                    &c.management_account_id,
                    "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef",
                    &p,
                ),
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
        for (label, caller) in &org_callers {
            let ctx = self.iam_context(caller, Some(&org));
            self.add(
                CheckId::KpOrgViaService,
                label,
                caller,
                &ctx,
                Via::Sso,
                EncContext::Sso,
                decrypt,
                true,
            );
            self.add(
                CheckId::KpOrgViaService,
                label,
                caller,
                &ctx,
                Via::IdentityStore,
                EncContext::IdentityStore,
                decrypt,
                true,
            );
        }
        // KP-MANAGED-APPS: an AWS managed application acting for a member account.
        let app = "managed-app.amazonaws.com";
        let caller = Caller::Service(app.to_owned());
        let ctx = self.service_context(app, &member, Some(&org));
        let label = format!("an AWS managed application acting for member account {member}");
        self.add(
            CheckId::KpManagedApps,
            &label,
            &caller,
            &ctx,
            Via::Sso,
            EncContext::Sso,
            decrypt,
            true,
        );
        self.add(
            CheckId::KpManagedApps,
            &label,
            &caller,
            &ctx,
            Via::IdentityStore,
            EncContext::IdentityStore,
            decrypt,
            true,
        );
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the reference probe list for who must be denied, one block per check: a table kept apart from the model on purpose"
    )]
    fn must_deny(&mut self) {
        let c = self.config;
        let p = c.partition().to_owned();
        let org = c.organization_id.clone();
        let s = self.synthetic.clone();
        let named = self.named;

        // Outsiders: callers that are not in the organization.
        let mut outsiders: Vec<(String, Caller, Option<String>)> = vec![
            (
                format!(
                    "a role in account {} of another organization ({})",
                    s.outsider_account, s.other_org
                ),
                Caller::role(&s.outsider_account, "Outsider", &p),
                Some(s.other_org.clone()),
            ),
            (
                format!(
                    "a role in account {}, which is in no organization",
                    s.outsider_account
                ),
                Caller::role(&s.outsider_account, "Outsider", &p),
                None,
            ),
        ];
        // Insiders that are not administrators: a member account, and what the policy names.
        let mut insiders: Vec<(String, Caller)> = vec![(
            format!("a role in member account {}", s.member_account),
            Caller::role(&s.member_account, "Member", &p),
        )];

        for account in &named.accounts {
            let root = Caller::root(account, &p);
            if self.is_key_admin(&root) {
                continue;
            }
            let role = Caller::role(account, "NamedAccountRole", &p);
            insiders.push((
                format!(
                    "a role in account {account} (named in the policy) inside the organization"
                ),
                role.clone(),
            ));
            for (org_label, org_id) in [
                (
                    format!("another organization ({})", s.other_org),
                    Some(s.other_org.clone()),
                ),
                ("no organization".to_owned(), None),
            ] {
                outsiders.push((
                    format!("account {account} (named in the policy) in {org_label}"),
                    root.clone(),
                    org_id.clone(),
                ));
                outsiders.push((
                    format!("a role in account {account} (named in the policy) in {org_label}"),
                    role.clone(),
                    org_id,
                ));
            }
        }
        for arn in &named.arns {
            let Some(caller) = caller_for_arn(arn, &s.outsider_account, &p) else {
                continue;
            };
            if self.is_key_admin(&caller) {
                continue;
            }
            insiders.push((
                format!("{arn} (named in the policy) inside the organization"),
                caller.clone(),
            ));
            outsiders.push((
                format!("{arn} (named in the policy) outside the organization"),
                caller.clone(),
                Some(s.other_org.clone()),
            ));
            outsiders.push((
                format!("{arn} (named in the policy) in no organization"),
                caller,
                None,
            ));
        }
        for named_org in &named.orgs {
            if *named_org == org {
                continue;
            }
            outsiders.push((
                format!(
                    "a role in account {} of organization {named_org} (named in the policy)",
                    s.outsider_account
                ),
                Caller::role(&s.outsider_account, "Outsider", &p),
                Some(named_org.clone()),
            ));
        }

        let uses = actions::use_of_key();
        let control = actions::control();
        let via_ctx = [
            (Via::Direct, EncContext::None),
            (Via::Direct, EncContext::Sso),
            (Via::Direct, EncContext::IdentityStore),
            (Via::Sso, EncContext::None),
            (Via::Sso, EncContext::Sso),
            (Via::Sso, EncContext::IdentityStore),
            (Via::IdentityStore, EncContext::None),
            (Via::IdentityStore, EncContext::IdentityStore),
            (Via::IdentityStore, EncContext::Sso),
        ];
        for (label, caller, org_id) in &outsiders {
            let ctx = self.iam_context(caller, org_id.as_deref());
            for (via, enc) in via_ctx {
                self.probe_outsider(label, caller, &ctx, via, enc);
            }
        }
        // The confused deputy: an Identity Center service (or one the policy names) acting for
        // an account outside the organization.
        let mut services: BTreeSet<String> = [
            "sso.amazonaws.com".to_owned(),
            "identitystore.amazonaws.com".to_owned(),
        ]
        .into();
        services.extend(named.services.iter().cloned());
        services.insert("managed-app.amazonaws.com".to_owned());
        for service in &services {
            let caller = Caller::Service(service.clone());
            let mut source_orgs: Vec<(String, Option<&str>)> = vec![
                (
                    format!("in another organization ({})", s.other_org),
                    Some(s.other_org.as_str()),
                ),
                ("in no organization".to_owned(), None),
            ];
            source_orgs.extend(named.orgs.iter().filter(|o| **o != org).map(|o| {
                (
                    format!("in organization {o} (named in the policy)"),
                    Some(o.as_str()),
                )
            }));
            for (org_label, source_org) in source_orgs {
                let label = format!(
                    "service principal {service} acting for account {} {org_label} (confused deputy)",
                    s.outsider_account
                );
                let ctx = self.service_context(service, &s.outsider_account, source_org);
                // A service principal calls KMS itself, or (a managed application) through
                // Identity Center with its context.
                for (via, enc) in [
                    (Via::Direct, EncContext::None),
                    (Via::Direct, EncContext::Sso),
                    (Via::Direct, EncContext::IdentityStore),
                    (Via::Sso, EncContext::Sso),
                    (Via::IdentityStore, EncContext::IdentityStore),
                ] {
                    self.probe_outsider(&label, &caller, &ctx, via, enc);
                }
            }
            // The same service acting for the organization must not control the key either.
            let label = format!("service principal {service} acting for the key's account");
            let ctx = self.service_context(service, c.key_account(), Some(&org));
            self.add(
                CheckId::KpUnexpectedAdmin,
                &label,
                &caller,
                &ctx,
                Via::Direct,
                EncContext::None,
                control,
                false,
            );
        }

        // Insiders: no control of the key, and no use other than through Identity Center.
        let broader_ways = {
            let mut w = vec![
                (Via::Direct, EncContext::None),
                (Via::Direct, EncContext::Sso),
                (Via::Direct, EncContext::IdentityStore),
                (Via::OtherService, EncContext::None),
                (Via::OtherService, EncContext::Sso),
            ];
            if c.pin_encryption_context {
                w.push((Via::Sso, EncContext::OtherInstance));
                w.push((Via::IdentityStore, EncContext::OtherStore));
            }
            w
        };
        for (label, caller) in &insiders {
            let ctx = self.iam_context(caller, Some(&org));
            self.add(
                CheckId::KpUnexpectedAdmin,
                label,
                caller,
                &ctx,
                Via::Direct,
                EncContext::None,
                control,
                false,
            );
            for (via, enc) in &broader_ways {
                self.add(
                    CheckId::KpBroaderThanModel,
                    label,
                    caller,
                    &ctx,
                    *via,
                    *enc,
                    uses.minus(control),
                    false,
                );
            }
        }
        // AWS managed applications acting for the organization, other than through Identity Center.
        let app = "managed-app.amazonaws.com";
        let caller = Caller::Service(app.to_owned());
        let ctx = self.service_context(app, &s.member_account, Some(&org));
        let label = format!(
            "an AWS managed application acting for member account {}",
            s.member_account
        );
        for (via, enc) in &broader_ways {
            self.add(
                CheckId::KpBroaderThanModel,
                &label,
                &caller,
                &ctx,
                *via,
                *enc,
                uses.minus(control),
                false,
            );
        }
    }
}
