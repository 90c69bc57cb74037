//! Event intake: what a guard is woken by. [`envelope`] reads the EventBridge envelope and
//! its CloudTrail record tolerantly; [`key`] and [`instance`] turn a record into the trigger
//! of the key-policy guard or of the Identity Center guards. A trigger only says where to
//! look: every guard re-reads live state before judging.

pub mod envelope;
pub mod instance;
pub mod key;
