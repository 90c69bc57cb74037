//! The KMS actions that apply to a key, and compact sets of them.

use std::fmt;
use std::sync::OnceLock;

use crate::pattern::Pattern;

/// Every KMS API action that takes a key as its resource (the service authorization reference
/// for AWS KMS). Actions on aliases, custom key stores or the account only are left out:
/// a key policy cannot grant them usefully.
pub const KEY_ACTIONS: [&str; 44] = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DeleteImportedKeyMaterial",
    "kms:DeriveSharedSecret",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:GetParametersForImport",
    "kms:GetPublicKey",
    "kms:ImportKeyMaterial",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:ReplicateKey",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:Sign",
    "kms:SynchronizeMultiRegionKey",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
    "kms:Verify",
    "kms:VerifyMac",
];

/// A set of [`KEY_ACTIONS`], as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet(u64);

impl ActionSet {
    /// No action.
    pub const EMPTY: ActionSet = ActionSet(0);

    /// The set of the named actions; names not in [`KEY_ACTIONS`] are ignored.
    pub fn of(names: &[&str]) -> ActionSet {
        names
            .iter()
            .filter_map(|n| index_of(n))
            .fold(ActionSet::EMPTY, |s, i| s.with(i))
    }

    /// Every key action a pattern list covers (case-insensitive, wildcards).
    pub fn matching(patterns: &[Pattern]) -> ActionSet {
        patterns.iter().fold(ActionSet::EMPTY, |set, p| {
            let chars = p.chars();
            let is_any = |c: &[crate::pattern::PatternChar]| c == [crate::pattern::PatternChar::Star];
            let text: Option<String> = chars
                .iter()
                .map(|c| match c {
                    crate::pattern::PatternChar::Lit(c) => Some(*c),
                    _ => None,
                })
                .collect();
            // `*` and `kms:*` cover every key action; a name without wildcards is one action.
            if is_any(chars)
                || chars
                    .split_at_checked(4)
                    .is_some_and(|(head, tail)| {
                        is_any(tail)
                            && head
                                .iter()
                                .zip("kms:".chars())
                                .all(|(a, b)| matches!(a, crate::pattern::PatternChar::Lit(c) if c.eq_ignore_ascii_case(&b)))
                    })
            {
                return ActionSet::all();
            }
            match text {
                Some(name) => index_of(&name).map_or(set, |i| set.with(i)),
                None => KEY_ACTIONS
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| p.matches_ascii_ci(a))
                    .fold(set, |s, (i, _)| s.with(i)),
            }
        })
    }

    /// The set with the one action at `index` of [`KEY_ACTIONS`].
    pub fn single(index: usize) -> ActionSet {
        ActionSet::EMPTY.with(index)
    }

    /// The indices (into [`KEY_ACTIONS`]) of the actions in the set.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        (0..KEY_ACTIONS.len()).filter(move |i| self.0 & (1u64 << i) != 0)
    }

    /// Every key action.
    pub fn all() -> ActionSet {
        ActionSet((1u64 << KEY_ACTIONS.len()) - 1)
    }

    fn with(self, i: usize) -> ActionSet {
        ActionSet(self.0 | (1u64 << i))
    }

    /// Union.
    #[must_use]
    pub fn union(self, o: ActionSet) -> ActionSet {
        ActionSet(self.0 | o.0)
    }

    /// Intersection.
    #[must_use]
    pub fn intersect(self, o: ActionSet) -> ActionSet {
        ActionSet(self.0 & o.0)
    }

    /// Difference.
    #[must_use]
    pub fn minus(self, o: ActionSet) -> ActionSet {
        ActionSet(self.0 & !o.0)
    }

    /// Complement within [`KEY_ACTIONS`].
    #[must_use]
    pub fn complement(self) -> ActionSet {
        ActionSet::all().minus(self)
    }

    /// Whether empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `name` is in the set.
    pub fn contains(self, name: &str) -> bool {
        index_of(name).is_some_and(|i| self.0 & (1u64 << i) != 0)
    }

    /// The action names, in [`KEY_ACTIONS`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KEY_ACTIONS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1u64 << i) != 0)
            .map(|(_, a)| *a)
    }
}

impl fmt::Debug for ActionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// The position of a key action in [`KEY_ACTIONS`] (ignoring case).
pub fn index_of(name: &str) -> Option<usize> {
    KEY_ACTIONS
        .iter()
        .position(|a| a.eq_ignore_ascii_case(name))
}

/// Actions an administrator needs so that nobody is locked out of the key (`KP-ADMIN`).
pub fn admin_required() -> ActionSet {
    static SET: OnceLock<ActionSet> = OnceLock::new();
    *SET.get_or_init(|| {
        ActionSet::of(&[
            "kms:PutKeyPolicy",
            "kms:GetKeyPolicy",
            "kms:DescribeKey",
            "kms:EnableKey",
            "kms:DisableKey",
            "kms:ScheduleKeyDeletion",
            "kms:CancelKeyDeletion",
            "kms:ReplicateKey",
            "kms:UpdatePrimaryRegion",
            "kms:CreateGrant",
            "kms:ListGrants",
            "kms:RevokeGrant",
        ])
    })
}

/// Actions that control the key: change its policy, state, grants, material or Regions
/// (`KP-UNEXPECTED-ADMIN`). Reads are not control.
pub fn control() -> ActionSet {
    static SET: OnceLock<ActionSet> = OnceLock::new();
    *SET.get_or_init(|| {
        ActionSet::of(&[
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:CancelKeyDeletion",
            "kms:DisableKey",
            "kms:EnableKey",
            "kms:CreateGrant",
            "kms:RevokeGrant",
            "kms:ReplicateKey",
            "kms:UpdatePrimaryRegion",
            "kms:DeleteImportedKeyMaterial",
            "kms:ImportKeyMaterial",
            "kms:DisableKeyRotation",
            "kms:EnableKeyRotation",
            "kms:RotateKeyOnDemand",
            "kms:UpdateKeyDescription",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:CreateAlias",
            "kms:UpdateAlias",
            "kms:DeleteAlias",
        ])
    })
}

/// Cryptographic operations that carry an encryption algorithm and an encryption context.
pub fn crypto() -> ActionSet {
    static SET: OnceLock<ActionSet> = OnceLock::new();
    *SET.get_or_init(|| {
        ActionSet::of(&[
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
            "kms:GenerateDataKey",
            "kms:GenerateDataKeyPair",
            "kms:GenerateDataKeyPairWithoutPlaintext",
            "kms:GenerateDataKeyWithoutPlaintext",
        ])
    })
}

/// "Use" of the key (docs/checks.md): the cryptographic operations and grants.
pub fn use_of_key() -> ActionSet {
    crypto().union(ActionSet::of(&["kms:CreateGrant"]))
}

/// What statement 3 of the baseline lets the Identity Center services do.
pub fn service_use() -> ActionSet {
    static SET: OnceLock<ActionSet> = OnceLock::new();
    *SET.get_or_init(|| {
        ActionSet::of(&[
            "kms:Decrypt",
            "kms:ReEncryptTo",
            "kms:ReEncryptFrom",
            "kms:GenerateDataKeyWithoutPlaintext",
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_patterns() {
        let s = ActionSet::matching(&[
            Pattern::compile("KMS:gen*"),
            Pattern::compile("kms:Decrypt"),
        ]);
        assert!(s.contains("kms:GenerateDataKeyPair"));
        assert!(s.contains("kms:decrypt"));
        assert!(!s.contains("kms:Encrypt"));
        assert_eq!(
            ActionSet::matching(&[Pattern::compile("*")]),
            ActionSet::all()
        );
        assert_eq!(ActionSet::all().names().count(), KEY_ACTIONS.len());
        assert!(admin_required().minus(ActionSet::all()).is_empty());
        assert!(crypto().intersect(control()).is_empty());
    }
}
