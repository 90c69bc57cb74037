//! What AWS puts in the request context of a KMS request, key by key.
//!
//! The analysis needs, for every condition key a policy can mention: whether the caller's
//! identity, the key or the request itself decides it, whether the caller chooses it, whether it
//! can be absent, whether it holds one value or a list, and which KMS actions carry it. Sources:
//! the IAM user guide's "AWS global condition context keys" page and the Service Authorization
//! Reference for AWS KMS (cited in `docs/policy-semantics.md`). Where AWS does not say, the entry
//! takes the broader reading and the docs say so.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::actions::ActionSet;

/// Who decides a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller's identity (`aws:PrincipalArn`, `aws:SourceAccount`, ...): tied to the
    /// principal of the request.
    Principal,
    /// The key or the request's target (`aws:ResourceAccount`, `kms:KeySpec`,
    /// `aws:RequestedRegion`): the question fixes it; left open when it does not.
    Target,
    /// Set by AWS from the circumstances of the call, not chosen in the request: network, time,
    /// MFA, tags, the calling service.
    Environment,
    /// A request parameter the caller chooses (`kms:EncryptionContext:*`, `kms:GrantOperations`,
    /// `kms:ScheduleKeyDeletionPendingWindowInDays`, `aws:RequestTag/*`).
    Choice,
    /// Never in a KMS request (condition keys of other services).
    Never,
}

/// The values a key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Any text.
    Text,
    /// `true` or `false`.
    Bool,
    /// A decimal number.
    Number,
    /// An ISO 8601 date-time.
    Date,
    /// Whole seconds since the epoch (`aws:EpochTime`), read as a number and as a date.
    Epoch,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A whole number in an inclusive range (a request parameter with documented bounds).
    Range(i64, i64),
}

/// One key's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Who decides the value.
    pub source: Source,
    /// A list of values (`kms:EncryptionContextKeys`) rather than one.
    pub multivalued: bool,
    /// AWS always includes it where it applies (`aws:CurrentTime`); otherwise it may be absent.
    pub always_present: bool,
    /// The values it takes.
    pub shape: Shape,
    /// The actions whose requests carry it; `None` for every action on a key.
    pub actions: Option<&'static [&'static str]>,
}

const CRYPTO: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
];
const ENCRYPTION_CONTEXT: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
    "kms:RetireGrant",
];
const REQUEST_ALIAS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:GetPublicKey",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:Sign",
    "kms:Verify",
    "kms:DeriveSharedSecret",
];
const ATTESTATION: &[&str] = &[
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:DeriveSharedSecret",
];
const GRANT_CHOICES: &[&str] = &["kms:CreateGrant"];
const GRANT_CONSTRAINT: &[&str] = &["kms:CreateGrant", "kms:RetireGrant"];
const GRANT_FOR_AWS: &[&str] = &["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"];
const TAGGING: &[&str] = &["kms:TagResource"];
const TAG_KEYS: &[&str] = &["kms:TagResource", "kms:UntagResource"];

const fn entry(
    source: Source,
    multivalued: bool,
    always_present: bool,
    shape: Shape,
    actions: Option<&'static [&'static str]>,
) -> KeyInfo {
    KeyInfo {
        source,
        multivalued,
        always_present,
        shape,
        actions,
    }
}

use Shape::{Bool, Date, Epoch, Ip, Number, Range, Text};
use Source::{Choice, Environment, Principal, Target};

/// Keys named exactly (lower case).
const EXACT: &[(&str, KeyInfo)] = &[
    // Properties of the principal.
    (
        "aws:principalarn",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:principalaccount",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:principalorgid",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:principalorgpaths",
        entry(Principal, true, false, Text, None),
    ),
    (
        "aws:principalisawsservice",
        entry(Principal, false, false, Bool, None),
    ),
    (
        "aws:principalservicename",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:principalservicenameslist",
        entry(Principal, true, false, Text, None),
    ),
    (
        "aws:principaltype",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:sourceaccount",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:sourceorgid",
        entry(Principal, false, false, Text, None),
    ),
    (
        "aws:sourceorgpaths",
        entry(Principal, true, false, Text, None),
    ),
    (
        "kms:calleraccount",
        entry(Principal, false, false, Text, None),
    ),
    ("aws:userid", entry(Environment, false, false, Text, None)),
    ("aws:username", entry(Environment, false, false, Text, None)),
    (
        "aws:sourcearn",
        entry(Environment, false, false, Text, None),
    ),
    // Properties of a role session.
    (
        "aws:assumedroot",
        entry(Environment, false, false, Bool, None),
    ),
    (
        "aws:federatedprovider",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:tokenissuetime",
        entry(Environment, false, false, Date, None),
    ),
    (
        "aws:multifactorauthage",
        entry(Environment, false, false, Number, None),
    ),
    (
        "aws:multifactorauthpresent",
        entry(Environment, false, false, Bool, None),
    ),
    (
        "aws:ec2instancesourcevpc",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:ec2instancesourceprivateipv4",
        entry(Environment, false, false, Ip, None),
    ),
    (
        "aws:sourceidentity",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:signinsessionarn",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:chatbotsourcearn",
        entry(Environment, false, false, Text, None),
    ),
    // Properties of the network.
    ("aws:sourceip", entry(Environment, false, false, Ip, None)),
    (
        "aws:sourcevpc",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:sourcevpcarn",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:sourcevpce",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:vpceaccount",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:vpceorgid",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:vpceorgpaths",
        entry(Environment, true, false, Text, None),
    ),
    (
        "aws:vpcsourceip",
        entry(Environment, false, false, Ip, None),
    ),
    // Properties of the request.
    ("aws:calledvia", entry(Environment, true, false, Text, None)),
    (
        "aws:calledviafirst",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:calledvialast",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:viaawsservice",
        entry(Environment, false, true, Bool, None),
    ),
    (
        "aws:currenttime",
        entry(Environment, false, true, Date, None),
    ),
    (
        "aws:epochtime",
        entry(Environment, false, true, Epoch, None),
    ),
    ("aws:referer", entry(Environment, false, false, Text, None)),
    ("aws:useragent", entry(Environment, false, true, Text, None)),
    (
        "aws:ismcpserviceaction",
        entry(Environment, false, false, Bool, None),
    ),
    (
        "aws:calledviaawsmcp",
        entry(Environment, false, false, Text, None),
    ),
    (
        "aws:viaawsmcpservice",
        entry(Environment, false, false, Bool, None),
    ),
    (
        "aws:requestedregion",
        entry(Target, false, true, Text, None),
    ),
    (
        "aws:securetransport",
        entry(Target, false, true, Bool, None),
    ),
    (
        "aws:tagkeys",
        entry(Choice, true, false, Text, Some(TAG_KEYS)),
    ),
    // Properties of the resource.
    (
        "aws:resourceaccount",
        entry(Target, false, true, Text, None),
    ),
    ("aws:resourceorgid", entry(Target, false, false, Text, None)),
    (
        "aws:resourceorgpaths",
        entry(Target, true, false, Text, None),
    ),
    // KMS: the key.
    ("kms:keyspec", entry(Target, false, true, Text, None)),
    ("kms:keyusage", entry(Target, false, true, Text, None)),
    ("kms:keyorigin", entry(Target, false, true, Text, None)),
    ("kms:multiregion", entry(Target, false, true, Bool, None)),
    (
        "kms:multiregionkeytype",
        entry(Target, false, false, Text, None),
    ),
    (
        "kms:resourcealiases",
        entry(Target, true, false, Text, None),
    ),
    // KMS: how the request arrives.
    (
        "kms:viaservice",
        entry(Environment, false, false, Text, None),
    ),
    (
        "kms:grantisforawsresource",
        entry(Environment, false, false, Bool, Some(GRANT_FOR_AWS)),
    ),
    (
        "kms:trailingdayswithoutkeyusage",
        entry(
            Environment,
            false,
            false,
            Number,
            Some(&["kms:DisableKey", "kms:ScheduleKeyDeletion"]),
        ),
    ),
    // KMS: request parameters.
    (
        "kms:encryptioncontextkeys",
        entry(Choice, true, false, Text, Some(ENCRYPTION_CONTEXT)),
    ),
    (
        "kms:encryptionalgorithm",
        entry(Choice, false, true, Text, Some(CRYPTO)),
    ),
    (
        "kms:grantoperations",
        entry(Choice, true, true, Text, Some(GRANT_CHOICES)),
    ),
    (
        "kms:granteeprincipal",
        entry(Choice, false, false, Text, Some(GRANT_CHOICES)),
    ),
    (
        "kms:granteeserviceprincipal",
        entry(Choice, false, false, Text, Some(GRANT_CHOICES)),
    ),
    (
        "kms:retiringprincipal",
        entry(Choice, false, false, Text, Some(GRANT_CHOICES)),
    ),
    (
        "kms:retiringserviceprincipal",
        entry(Choice, false, false, Text, Some(GRANT_CHOICES)),
    ),
    (
        "kms:grantconstrainttype",
        entry(Choice, false, false, Text, Some(GRANT_CONSTRAINT)),
    ),
    (
        "kms:grantconstraintsourcearn",
        entry(Choice, false, false, Text, Some(GRANT_CHOICES)),
    ),
    (
        "kms:requestalias",
        entry(Choice, false, false, Text, Some(REQUEST_ALIAS)),
    ),
    (
        "kms:reencryptonsamekey",
        entry(
            Choice,
            false,
            true,
            Bool,
            Some(&["kms:ReEncryptFrom", "kms:ReEncryptTo"]),
        ),
    ),
    (
        "kms:replicaregion",
        entry(Choice, false, true, Text, Some(&["kms:ReplicateKey"])),
    ),
    (
        "kms:primaryregion",
        entry(
            Choice,
            false,
            true,
            Text,
            Some(&["kms:UpdatePrimaryRegion"]),
        ),
    ),
    (
        "kms:bypasspolicylockoutsafetycheck",
        entry(Choice, false, false, Bool, Some(&["kms:PutKeyPolicy"])),
    ),
    (
        "kms:schedulekeydeletionpendingwindowindays",
        entry(
            Choice,
            false,
            false,
            Range(7, 30),
            Some(&["kms:ScheduleKeyDeletion"]),
        ),
    ),
    (
        "kms:rotationperiodindays",
        entry(
            Choice,
            false,
            false,
            Range(90, 2560),
            Some(&["kms:EnableKeyRotation"]),
        ),
    ),
    (
        "kms:datakeypairspec",
        entry(
            Choice,
            false,
            true,
            Text,
            Some(&[
                "kms:GenerateDataKeyPair",
                "kms:GenerateDataKeyPairWithoutPlaintext",
            ]),
        ),
    ),
    (
        "kms:macalgorithm",
        entry(
            Choice,
            false,
            true,
            Text,
            Some(&["kms:GenerateMac", "kms:VerifyMac"]),
        ),
    ),
    (
        "kms:signingalgorithm",
        entry(Choice, false, true, Text, Some(&["kms:Sign", "kms:Verify"])),
    ),
    (
        "kms:messagetype",
        entry(
            Choice,
            false,
            false,
            Text,
            Some(&["kms:Sign", "kms:Verify"]),
        ),
    ),
    (
        "kms:wrappingalgorithm",
        entry(
            Choice,
            false,
            true,
            Text,
            Some(&["kms:GetParametersForImport"]),
        ),
    ),
    (
        "kms:wrappingkeyspec",
        entry(
            Choice,
            false,
            true,
            Text,
            Some(&["kms:GetParametersForImport"]),
        ),
    ),
    (
        "kms:expirationmodel",
        entry(Choice, false, false, Text, Some(&["kms:ImportKeyMaterial"])),
    ),
    (
        "kms:validto",
        entry(Choice, false, false, Date, Some(&["kms:ImportKeyMaterial"])),
    ),
    (
        "kms:keyagreementalgorithm",
        entry(Choice, false, true, Text, Some(&["kms:DeriveSharedSecret"])),
    ),
];

/// Keys named by a prefix (lower case): tags, the encryption context, attestation.
const PREFIXED: &[(&str, KeyInfo)] = &[
    (
        "aws:principaltag/",
        entry(Environment, false, false, Text, None),
    ),
    ("aws:resourcetag/", entry(Target, false, false, Text, None)),
    (
        "aws:requesttag/",
        entry(Choice, false, false, Text, Some(TAGGING)),
    ),
    (
        "kms:encryptioncontext:",
        entry(Choice, false, false, Text, Some(ENCRYPTION_CONTEXT)),
    ),
    (
        "kms:recipientattestation:",
        entry(Environment, false, false, Text, Some(ATTESTATION)),
    ),
];

/// Role-session properties of other services that the global keys page lists: present in any
/// request made with such a session, KMS requests included.
const SESSION_KEYS_OF_OTHER_SERVICES: &[&str] = &[
    "ec2:sourceinstancearn",
    "ec2:roledelivery",
    "glue:roleassumedby",
    "glue:credentialissuingservice",
    "lambda:sourcefunctionarn",
    "ssm:sourceinstancearn",
    "codebuild:buildarn",
    "codebuild:projectarn",
    "identitystore:userid",
];

/// What AWS documents about `key_lc` (a lower-case condition key).
///
/// AWS sets only the keys it documents: the global keys and KMS's own. A key this table does not
/// know (a misspelling, a documentation example such as `aws:ExampleBinaryKey`, another
/// service's key) is never in a KMS request, so a condition on it reads as on an absent key.
/// The role-session properties of other services that the global keys page lists are the
/// exception. A key AWS adds later needs an entry here (docs/policy-semantics.md).
pub fn info(key_lc: &str) -> KeyInfo {
    lookup(key_lc).0
}

/// The entry for `key_lc` and the actions that carry it (a condition keeps both, so
/// evaluation looks nothing up).
pub fn lookup(key_lc: &str) -> (KeyInfo, ActionSet) {
    type Table = HashMap<&'static str, (KeyInfo, ActionSet), BuildHasherDefault<Fnv1a>>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    static PREFIXES: OnceLock<Vec<(&'static str, KeyInfo, ActionSet)>> = OnceLock::new();
    let scope = |i: &KeyInfo| i.actions.map_or_else(ActionSet::all, ActionSet::of);
    let table = TABLE.get_or_init(|| EXACT.iter().map(|(k, i)| (*k, (*i, scope(i)))).collect());
    if let Some(hit) = table.get(key_lc) {
        return *hit;
    }
    let prefixes =
        PREFIXES.get_or_init(|| PREFIXED.iter().map(|(p, i)| (*p, *i, scope(i))).collect());
    if let Some((_, i, a)) = prefixes.iter().find(|(p, _, _)| key_lc.starts_with(p)) {
        return (*i, *a);
    }
    let fallback = if SESSION_KEYS_OF_OTHER_SERVICES.contains(&key_lc) {
        entry(Environment, false, false, Text, None)
    } else {
        entry(Source::Never, false, false, Text, None)
    };
    (fallback, ActionSet::all())
}

/// FNV-1a: the table's keys are short and fixed, so a simple hash beats SipHash's start-up
/// cost (no untrusted party chooses them).
#[derive(Default)]
struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Whether a key is multivalued by definition, even when a request carries one value.
pub fn is_multivalued(key_lc: &str) -> bool {
    info(key_lc).multivalued
}

/// The key actions whose requests carry `key_lc`.
pub fn applies_to(key_lc: &str) -> ActionSet {
    lookup(key_lc).1
}

/// Whether `key_lc` is known to this table (not the fallback for unknown keys).
pub fn is_documented(key_lc: &str) -> bool {
    EXACT.iter().any(|(k, _)| *k == key_lc)
        || PREFIXED.iter().any(|(p, _)| key_lc.starts_with(p))
        || SESSION_KEYS_OF_OTHER_SERVICES.contains(&key_lc)
}

/// Every action-scoped key's action set, for grouping actions whose requests carry the same
/// keys.
pub fn scoped_action_sets() -> &'static [ActionSet] {
    static SETS: OnceLock<Vec<ActionSet>> = OnceLock::new();
    SETS.get_or_init(|| {
        let mut sets: Vec<ActionSet> = EXACT
            .iter()
            .chain(PREFIXED.iter())
            .filter_map(|(_, i)| i.actions.map(ActionSet::of))
            .collect();
        sets.sort_by_key(|s| format!("{s:?}"));
        sets.dedup();
        sets
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_keys_and_fallbacks() {
        assert_eq!(info("aws:sourceip").shape, Shape::Ip);
        assert!(info("kms:encryptioncontextkeys").multivalued);
        assert_eq!(info("kms:encryptioncontext:purpose").source, Source::Choice);
        assert!(applies_to("kms:encryptioncontext:purpose").contains("kms:Decrypt"));
        assert!(!applies_to("kms:encryptioncontext:purpose").contains("kms:PutKeyPolicy"));
        assert!(info("aws:currenttime").always_present);
        // Keys AWS does not document are never set; other services' neither.
        assert_eq!(info("aws:examplebinarykey").source, Source::Never);
        assert_eq!(info("kms:nosuchkey").source, Source::Never);
        assert_eq!(info("s3:prefix").source, Source::Never);
        assert_eq!(info("ec2:sourceinstancearn").source, Source::Environment);
        assert!(!is_documented("aws:examplebinarykey"));
        // Every action named in the table is a key action.
        for (_, i) in EXACT.iter().chain(PREFIXED.iter()) {
            for a in i.actions.unwrap_or_default() {
                assert!(ActionSet::of(&[a]).contains(a), "{a}");
            }
        }
    }
}
