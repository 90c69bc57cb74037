//! Event intake: what a guard is woken by. [`envelope`] reads the EventBridge envelope and
//! its CloudTrail record tolerantly; [`key`] and [`instance`] turn a record into the trigger
//! of the key-policy guard or of the Identity Center guards. A trigger only says where to
//! look: every guard re-reads live state before judging. [`records`] reads the records of a
//! file (an event, a CloudTrail log file) one at a time, and [`Owner`] says which guard takes
//! each.

pub mod envelope;
pub mod instance;
pub mod key;
pub mod records;

use crate::intake::envelope::CloudTrailEvent;
use crate::intake::instance::{IdentityEventKind, InstanceEventKind, SSO_EVENT_SOURCE};
use crate::intake::key::{KMS_EVENT_SOURCE, KeyEventKind};

/// The guard a CloudTrail record belongs to, by its `eventSource` and `eventName` alone (a
/// record without `eventSource` is matched by name, as each guard's intake does). The guard
/// still reads the record itself and may skip it (a failed call, another key or instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// key-policy-guard: KMS changes of the key.
    KeyPolicy,
    /// region-guard: Region and instance changes.
    Region,
    /// idp-guard: identity-source and external-IdP changes.
    Idp,
}

impl Owner {
    /// Every guard that takes events.
    pub const ALL: [Owner; 3] = [Owner::KeyPolicy, Owner::Region, Owner::Idp];

    /// The guard's function name (`key-policy-guard`).
    pub fn function(self) -> &'static str {
        match self {
            Owner::KeyPolicy => "key-policy-guard",
            Owner::Region => "region-guard",
            Owner::Idp => "idp-guard",
        }
    }

    /// Every guard that reacts to `event`: its owner, and idp-guard also for `AddRegion` and
    /// `RemoveRegion` (the IdP application's ACS URLs follow the Regions).
    pub fn every(event: &CloudTrailEvent) -> Vec<Owner> {
        let mut guards: Vec<Owner> = Owner::of(event).into_iter().collect();
        let region_change = [
            InstanceEventKind::AddRegion,
            InstanceEventKind::RemoveRegion,
        ]
        .iter()
        .any(|k| k.name() == event.event_name);
        if guards == [Owner::Region] && region_change {
            guards.push(Owner::Idp);
        }
        guards
    }

    /// The guard that owns `event`, if any (see [`Owner::every`] for the others that react).
    pub fn of(event: &CloudTrailEvent) -> Option<Owner> {
        let from = |source: &str| event.event_source.is_empty() || event.event_source == source;
        let name = event.event_name.as_str();
        if KeyEventKind::ALL.iter().any(|k| k.name() == name) && from(KMS_EVENT_SOURCE) {
            Some(Owner::KeyPolicy)
        } else if InstanceEventKind::ALL.iter().any(|k| k.name() == name) && from(SSO_EVENT_SOURCE)
        {
            Some(Owner::Region)
        } else if IdentityEventKind::ALL
            .iter()
            .any(|k| k.name() == name && from(k.event_source()))
        {
            Some(Owner::Idp)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.function())
    }
}
