//! The server's side of clustering: what it does when a route connects, speaks or drops.
//!
//! The route state itself (settings, registered routes, dials, remote interest) is
//! [`crate::cluster`]'s; the methods here are the server's operations on it: the handshake
//! (`handshake.rs`), dialing and redialing (`dial.rs`), interest announcements
//! (`interest.rs`) and messages across routes (`forward.rs`).

mod dial;
mod forward;
mod handshake;
mod interest;

use crate::cluster::{Cluster, Interest};
use crate::conn::{CloseReason, ConnId};
use crate::ids::AccountId;
use crate::proto::encode;
use crate::server::{Level, Server};
use crate::time::Instant;

pub(crate) use forward::RemoteTargets;

impl Server {
    /// Sets up clustering from the configuration (at start-up; cluster settings need a restart).
    pub(crate) fn configure_cluster(&mut self) {
        let Some(settings) = self.config.cluster.clone() else {
            return;
        };
        let made_up = crate::server::new_id(&mut self.rng, 22);
        let cluster = Cluster::new(settings, made_up);
        self.cluster = Some(Box::new(cluster));
        for account in &mut self.accounts {
            let mut interest = Interest::default();
            for (_, sub) in account.subs.iter().filter(|(_, s)| s.subscriber.is_local_interest()) {
                interest.add(&sub.subject, sub.queue.as_deref());
            }
            account.interest = Some(Box::new(interest));
        }
        self.announce_reply_subjects();
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.timer_at = Some(Instant::ZERO);
        }
    }

    /// Accounts that export services get interest in their made-up reply subjects, so a
    /// response published on another server comes back here, where the request entered.
    pub(crate) fn announce_reply_subjects(&mut self) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let exporters: Vec<AccountId> = self
            .accounts
            .iter()
            .flat_map(|a| a.service_imports.iter().map(|i| i.from))
            .collect();
        for exporter in exporters {
            if cluster.reply_interest.contains(&exporter) {
                continue;
            }
            cluster.reply_interest.push(exporter);
            let account = &mut self.accounts[exporter.0 as usize];
            let mut subject = account.reply_prefix.to_vec();
            subject.push(b'>');
            if let Some(interest) = account.interest.as_mut() {
                interest.add(&subject, None);
            }
        }
    }

    /// One operation from a route.
    pub(crate) fn process_route_op(&mut self, id: ConnId, op: crate::proto::ClientOp<'_>) {
        use crate::proto::ClientOp;
        let authenticated = self.conn(id).is_some_and(|c| c.authenticated);
        if !authenticated && !matches!(op, ClientOp::Connect(_)) {
            self.auth_violation(id, "authentication error".to_string());
            return;
        }
        match op {
            ClientOp::Connect(json) => self.on_route_connect(id, json),
            ClientOp::Info(json) => self.on_route_info(id, json),
            ClientOp::RouteSub {
                account,
                subject,
                queue,
            } => self.on_route_sub(id, account, subject, queue),
            ClientOp::RouteUnsub {
                account,
                subject,
                queue,
            } => self.on_route_unsub(id, account, subject, queue),
            ClientOp::Routed(routed) => self.on_routed(id, routed),
            ClientOp::Ping => {
                self.trace(id, || "<<- [PING]".to_string());
                self.send(id, encode::PONG);
            }
            ClientOp::Pong => self.on_pong(id),
            ClientOp::Ok => {}
            ClientOp::Err(text) => {
                let text = String::from_utf8_lossy(text).into_owned();
                self.log_conn(Level::Error, id, format!("Route Error {text}"));
                self.close(id, CloseReason::ParseError, true);
            }
            // The parser reads client operations on client connections only.
            ClientOp::Pub(_) | ClientOp::Sub { .. } | ClientOp::Unsub { .. } => {}
        }
    }
}
