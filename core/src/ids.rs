//! The identifiers every part of the core passes around, in a module that depends on nothing
//! else of the core's, so no part has to import another just to name its things.

use std::fmt;

/// Names a connection. The index is a slot that is reused after the connection closes; the
/// generation tells a reused slot from the connection that held it before, so a late input for
/// a closed connection can never reach its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Slot in the connection table.
    pub index: u32,
    /// How many connections held the slot before this one.
    pub generation: u32,
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.generation)
    }
}

/// Index of an account in the server's account table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u32);

/// Key of a subscription in its account's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubKey(pub u32);

/// Names a dial the core asked the runtime for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialId(pub u64);

/// The account every connection joins when no other is configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// The system account's default name.
pub const SYSTEM_ACCOUNT: &str = "$SYS";
