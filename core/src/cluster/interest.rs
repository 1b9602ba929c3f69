//! What this server's own subscribers want, per account, as routes must hear it.
//!
//! nats-server tells its routes about interest, not subscriptions: one `RS+` when the first
//! local subscription on a subject appears and one `RS-` when the last one goes; for a queue
//! group, `RS+` carries the member count (the weight) and is sent again as it changes. The
//! counts live here; changes are collected while an input is handled and sent to every route
//! once it is done ([`crate::Server`] drains them), so a burst of subscriptions costs one line
//! per subject.

use std::collections::{BTreeMap, BTreeSet};

use crate::proto::encode;

/// A subject and, for a queue subscription, its group.
pub type InterestKey = (Box<[u8]>, Option<Box<[u8]>>);

/// Local interest of one account.
#[derive(Debug, Default)]
pub struct Interest {
    counts: BTreeMap<InterestKey, u32>,
    changed: BTreeSet<InterestKey>,
}

impl Interest {
    /// A local subscription appeared.
    pub fn add(&mut self, subject: &[u8], queue: Option<&[u8]>) {
        let key: InterestKey = (subject.into(), queue.map(Into::into));
        let count = self.counts.entry(key.clone()).or_insert(0);
        *count += 1;
        if queue.is_some() || *count == 1 {
            self.changed.insert(key);
        }
    }

    /// A local subscription went away.
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>) {
        let key: InterestKey = (subject.into(), queue.map(Into::into));
        let Some(count) = self.counts.get_mut(&key) else { return };
        *count -= 1;
        let gone = *count == 0;
        if gone {
            self.counts.remove(&key);
        }
        if queue.is_some() || gone {
            self.changed.insert(key);
        }
    }

    /// Local subscriptions on `key` (for a queue group: its members here).
    pub fn count(&self, key: &InterestKey) -> u32 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// Every subject and group with local interest, and its count, in a stable order.
    pub fn entries(&self) -> impl Iterator<Item = (&InterestKey, u32)> {
        self.counts.iter().map(|(k, n)| (k, *n))
    }

    /// The keys whose interest changed since the last call.
    pub fn take_changes(&mut self) -> Vec<InterestKey> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    /// Whether changes are waiting to be sent.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }
}

/// `RS+ <account> <subject> [<queue> <weight>]` when `count` > 0, else `RS- <account> <subject>
/// [<queue>]`.
pub(crate) fn put_interest(out: &mut bytes::BytesMut, account: &str, key: &InterestKey, count: u32) {
    use bytes::BufMut;
    out.put_slice(if count > 0 { b"RS+ " } else { b"RS- " });
    out.put_slice(account.as_bytes());
    out.put_u8(b' ');
    out.put_slice(&key.0);
    if let Some(queue) = &key.1 {
        out.put_u8(b' ');
        out.put_slice(queue);
        if count > 0 {
            out.put_u8(b' ');
            encode::put_decimal(out, u64::from(count));
        }
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_interest_changes_at_first_and_last() {
        let mut interest = Interest::default();
        interest.add(b"foo", None);
        interest.add(b"foo", None);
        assert_eq!(interest.take_changes().len(), 1);
        interest.remove(b"foo", None);
        assert!(!interest.has_changes());
        interest.remove(b"foo", None);
        assert_eq!(interest.take_changes(), vec![(b"foo"[..].into(), None)]);
        assert_eq!(interest.entries().count(), 0);
    }

    #[test]
    fn queue_interest_changes_with_every_member() {
        let mut interest = Interest::default();
        let key: InterestKey = (b"foo"[..].into(), Some(b"q"[..].into()));
        interest.add(b"foo", Some(b"q"));
        interest.take_changes();
        interest.add(b"foo", Some(b"q"));
        assert_eq!(interest.take_changes(), vec![key.clone()]);
        assert_eq!(interest.count(&key), 2);
    }
}
