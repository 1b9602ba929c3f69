//! Accounts: isolated subject spaces. Every connection belongs to one; until multi-tenancy is
//! configured, that is the global account `$G`.

use slab::Slab;

use crate::conn::ConnId;
use crate::sublist::Sublist;

/// The account every connection joins when no other is configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// Index of an account in the server's account table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u32);

/// Key of a subscription in its account's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubKey(pub u32);

/// One client subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The connection that made it.
    pub conn: ConnId,
    /// The client's id for it.
    pub sid: Box<[u8]>,
    /// What it matches.
    pub subject: Box<[u8]>,
    /// Its queue group, if any.
    pub queue: Option<Box<[u8]>>,
    /// Total deliveries after which it ends (`UNSUB sid max`).
    pub max: Option<u64>,
    /// Messages delivered so far.
    pub delivered: u64,
}

/// An account: its name, its subscriptions and their index.
pub struct Account {
    /// The account's name.
    pub name: String,
    /// Subscriptions by key.
    pub subs: Slab<Subscription>,
    /// The index from subjects to subscription keys.
    pub sublist: Sublist<SubKey>,
}

impl Account {
    /// An empty account.
    pub fn new(name: impl Into<String>) -> Self {
        Account {
            name: name.into(),
            subs: Slab::new(),
            sublist: Sublist::new(),
        }
    }

    /// Indexes a new subscription; fails (and stores nothing) if its subject is invalid.
    pub fn subscribe(&mut self, sub: Subscription) -> Result<SubKey, crate::sublist::InvalidSubject> {
        let entry = self.subs.vacant_entry();
        let key = SubKey(entry.key() as u32);
        self.sublist.insert(&sub.subject, sub.queue.as_deref(), key)?;
        entry.insert(sub);
        Ok(key)
    }

    /// Removes a subscription from the table and the index.
    pub fn unsubscribe(&mut self, key: SubKey) -> Option<Subscription> {
        let sub = self.subs.try_remove(key.0 as usize)?;
        self.sublist.remove(&sub.subject, sub.queue.as_deref(), key);
        Some(sub)
    }
}
