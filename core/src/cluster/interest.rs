//! What this server's own subscribers want, per account, as routes must hear it.
//!
//! nats-server tells its routes about interest, not subscriptions: one `RS+` when the first
//! local subscription on a subject appears and one `RS-` when the last one goes; for a queue
//! group, `RS+` carries the member count (the weight) and is sent again as it changes. The
//! counts live here; changes are collected while an input is handled and sent to every route
//! once it is done ([`crate::Server`] drains them), so a burst of subscriptions costs one line
//! per subject.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::AccountId;
use crate::ids::ConnId;
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

impl crate::Server {
    /// `RS+`: the peer has interest.
    pub(crate) fn on_route_sub(&mut self, id: ConnId, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
        if self.config.trace {
            let queue = queue
                .map(|(q, w)| format!(" {} {w}", String::from_utf8_lossy(q)))
                .unwrap_or_default();
            self.trace(id, || {
                format!(
                    "<<- [RS+ {} {}{queue}]",
                    String::from_utf8_lossy(account),
                    String::from_utf8_lossy(subject)
                )
            });
        }
        let Some(account) = self.account_named(account) else {
            return;
        };
        let key: (AccountId, InterestKey) = (account, (subject.into(), queue.map(|(q, _)| q.into())));
        let weight = queue.map_or(1, |(_, w)| w);
        let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if let Some(entry) = route.subs.get_mut(&key) {
            entry.1 = weight;
            return;
        }
        let sub =
            crate::account::Subscription::of(crate::account::Subscriber::Route(id), subject, queue.map(|(q, _)| q));
        match self.accounts[account.0 as usize].subscribe(sub) {
            Ok(sub_key) => {
                if let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) {
                    route.subs.insert(key, (sub_key, weight));
                }
            }
            Err(_) => self.debug(id, || "Invalid subject in RS+, ignored".to_string()),
        }
    }

    /// `RS-`: the peer's interest went away.
    pub(crate) fn on_route_unsub(&mut self, id: ConnId, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        self.trace(id, || {
            let queue = queue
                .map(|q| format!(" {}", String::from_utf8_lossy(q)))
                .unwrap_or_default();
            format!(
                "<<- [RS- {} {}{queue}]",
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(subject)
            )
        });
        let Some(account) = self.account_named(account) else {
            return;
        };
        let key: (AccountId, InterestKey) = (account, (subject.into(), queue.map(Into::into)));
        let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if let Some((sub_key, _)) = route.subs.remove(&key) {
            self.accounts[account.0 as usize].unsubscribe(sub_key);
        }
    }

    /// An account by name.
    pub(crate) fn account_named(&self, name: &[u8]) -> Option<AccountId> {
        self.accounts
            .iter()
            .position(|a| a.name.as_bytes() == name)
            .map(|i| AccountId(i as u32))
    }

    /// Sends every route the interest changes since the last call (after every input).
    pub(crate) fn propagate_interest(&mut self) {
        let Some(cluster) = self.cluster.as_ref() else { return };
        if !self
            .accounts
            .iter()
            .any(|a| a.interest.as_ref().is_some_and(|i| i.has_changes()))
        {
            return;
        }
        let routes: Vec<ConnId> = cluster.routes.values().copied().collect();
        let mut lines = bytes::BytesMut::new();
        for account in &mut self.accounts {
            let Some(interest) = account.interest.as_mut() else {
                continue;
            };
            for key in interest.take_changes() {
                let count = interest.count(&key);
                put_interest(&mut lines, &account.name, &key, count);
            }
        }
        if routes.is_empty() || lines.is_empty() {
            return;
        }
        for id in routes {
            self.send(id, &lines);
        }
    }

    /// Sends a newly registered route all of our interest.
    pub(super) fn send_all_interest(&mut self, id: ConnId) {
        let mut lines = bytes::BytesMut::new();
        for account in &self.accounts {
            let Some(interest) = account.interest.as_ref() else {
                continue;
            };
            for (key, count) in interest.entries() {
                put_interest(&mut lines, &account.name, key, count);
            }
        }
        if !lines.is_empty() {
            self.send(id, &lines);
        }
    }
}

/// `RS+ <account> <subject> [<queue> <weight>]` when `count` > 0, else `RS- <account> <subject>
/// [<queue>]`.
fn put_interest(out: &mut bytes::BytesMut, account: &str, key: &InterestKey, count: u32) {
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
