//! `RS+`/`RS-` from routes, and this server's interest changes sent to them.

use crate::cluster::interest::put_interest;
use crate::cluster::InterestKey;
use crate::ids::{AccountId, ConnId};

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
