//! Invariants of the server's state, checked after every input in debug builds (tests, the
//! simulator under `--profile sim`, the fuzz targets). Each is a promise other code relies on;
//! a broken one is a bug here, never a peer's fault, so it panics with what it found.
//!
//! The checks walk every subscription and connection, so they are off in release builds.

use std::collections::BTreeMap;

use crate::account::{SubKey, Subscriber};
use crate::cluster::InterestKey;
use crate::server::Server;

impl Server {
    /// Panics if the state breaks an invariant (debug builds only).
    pub(crate) fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.check_subscriptions();
            self.check_interest();
            self.check_connections();
        }
    }

    /// Every subscription is indexed once; a client's is in its connection's table under its
    /// sid, a route's in the route's table, and nothing refers to a connection that is gone.
    fn check_subscriptions(&self) {
        for (index, account) in self.accounts.iter().enumerate() {
            assert_eq!(
                account.sublist.len(),
                account.subs.len(),
                "account {}: the sublist indexes every subscription once",
                account.name
            );
            let internal = account
                .subs
                .iter()
                .filter(|(_, s)| matches!(s.subscriber, Subscriber::Internal(_)))
                .count();
            assert_eq!(
                internal, account.internal_subs,
                "account {}: internal count",
                account.name
            );
            for (key, sub) in account.subs.iter() {
                let key = SubKey(key as u32);
                match &sub.subscriber {
                    Subscriber::Client(id) => {
                        let conn = self.conn(*id).unwrap_or_else(|| {
                            panic!("account {}: a subscription of closed connection {id:?}", account.name)
                        });
                        assert_eq!(
                            conn.account.0 as usize, index,
                            "{id:?}: subscription in its own account"
                        );
                        assert_eq!(
                            conn.subs.get(&sub.sid),
                            Some(&key),
                            "{id:?}: its table has the subscription"
                        );
                    }
                    Subscriber::Route(id) => {
                        let route = self
                            .conn(*id)
                            .and_then(|c| c.route.as_ref())
                            .unwrap_or_else(|| panic!("interest of closed route {id:?}"));
                        assert!(
                            route.subs.values().any(|(k, _)| *k == key),
                            "{id:?}: the route's table has its interest"
                        );
                    }
                    Subscriber::Import(_) | Subscriber::Internal(_) => {}
                }
            }
        }
        for (_, conn) in self.conns.iter() {
            let account = &self.accounts[conn.account.0 as usize];
            for (sid, key) in &conn.subs {
                let sub = account.subs.get(key.0 as usize);
                assert!(
                    sub.is_some_and(|s| s.subscriber == Subscriber::Client(conn.id) && &s.sid == sid),
                    "{:?}: sid {:?} names its own subscription",
                    conn.id,
                    String::from_utf8_lossy(sid)
                );
            }
        }
    }

    /// What routes were told equals what the subscriptions here add up to: a subject's count
    /// (a queue group's weight) is the number of local subscriptions on it, plus the made-up
    /// reply subjects of an account that exports services (responses come back to the server a
    /// request entered); and every change has been sent by the end of an input.
    fn check_interest(&self) {
        for (index, account) in self.accounts.iter().enumerate() {
            let Some(interest) = account.interest.as_ref() else {
                continue;
            };
            let mut expected: BTreeMap<InterestKey, u32> = BTreeMap::new();
            for (_, sub) in account.subs.iter().filter(|(_, s)| s.subscriber.is_local_interest()) {
                *expected.entry((sub.subject.clone(), sub.queue.clone())).or_default() += 1;
            }
            let exports_services = self
                .cluster
                .as_ref()
                .is_some_and(|c| c.reply_interest.contains(&crate::ids::AccountId(index as u32)));
            if exports_services {
                let mut subject = account.reply_prefix.to_vec();
                subject.push(b'>');
                *expected.entry((subject.into(), None)).or_default() += 1;
            }
            let actual: BTreeMap<InterestKey, u32> = interest.entries().map(|(k, n)| (k.clone(), n)).collect();
            assert_eq!(actual, expected, "account {}: interest counts", account.name);
            assert!(
                !interest.has_changes(),
                "account {}: interest changes left unsent",
                account.name
            );
        }
    }

    /// The connection table's counts and each connection's outbound bookkeeping agree.
    fn check_connections(&self) {
        let routes = self.conns.iter().filter(|(_, c)| c.route.is_some()).count();
        assert_eq!(routes, self.route_conns, "route connection count");
        for (index, conn) in self.conns.iter() {
            assert_eq!(conn.id.index as usize, index, "a connection sits in its own slot");
            conn.out.check();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::account::{Subscriber, Subscription};
    use crate::{Config, Input, Instant, Server};

    /// A server with one client subscribed to `foo`, outputs drained.
    fn server() -> Server {
        let mut server = Server::new(Config::default());
        let now = Instant::from_nanos(1);
        let id = server.accept(now, "127.0.0.1:1".parse().expect("address"));
        while server.poll_output().is_some() {}
        let data = bytes::Bytes::from_static(b"CONNECT {}\r\nSUB foo 1\r\n");
        server.handle(now, Input::Received { conn: id, data });
        while server.poll_output().is_some() {}
        server
    }

    #[test]
    fn a_healthy_server_passes() {
        server().check_invariants();
    }

    #[test]
    #[should_panic(expected = "a subscription of closed connection")]
    fn a_subscription_left_behind_by_a_closed_connection_is_found() {
        let mut server = server();
        let ghost = crate::ConnId {
            index: 99,
            generation: 0,
        };
        let sub = Subscription::of(Subscriber::Client(ghost), b"bar", None);
        let _ = server.accounts[0].subscribe(sub);
        server.check_invariants();
    }

    #[test]
    #[should_panic(expected = "route connection count")]
    fn a_wrong_route_count_is_found() {
        let mut server = server();
        server.route_conns += 1;
        server.check_invariants();
    }
}
