//! Messages across routes: one `RMSG` (or `HMSG`) per route with interest, naming the queue
//! groups that route's server was chosen to serve; and what arrives from a route, delivered to
//! local subscribers only (the one-hop rule).

use smallvec::SmallVec;

use crate::ids::ConnId;
use crate::ids::{AccountId, SubKey};
use crate::proto::{encode, RoutedOp};
use crate::server::deliver::{Message, Queues};
use crate::server::{Level, Server};

/// The routes one message goes to, each with the queue members (remote interest) it was
/// chosen for.
pub(crate) struct RemoteTargets {
    targets: SmallVec<[(ConnId, SmallVec<[SubKey; 2]>); 4]>,
}

impl RemoteTargets {
    pub(crate) fn new() -> Self {
        RemoteTargets {
            targets: SmallVec::new(),
        }
    }

    /// The message goes to `route`, for its plain interest (`None`) or for a queue group.
    pub(crate) fn add(&mut self, route: ConnId, queue_member: Option<SubKey>) {
        let entry = match self.targets.iter_mut().position(|(r, _)| *r == route) {
            Some(i) => &mut self.targets[i],
            None => {
                self.targets.push((route, SmallVec::new()));
                let last = self.targets.len() - 1;
                &mut self.targets[last]
            }
        };
        if let Some(key) = queue_member {
            entry.1.push(key);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

impl Server {
    /// Sends `message` once to each route in `targets`. True if any route took it.
    pub(crate) fn forward_to_routes(
        &mut self,
        account: AccountId,
        targets: &RemoteTargets,
        message: &Message<'_>,
    ) -> bool {
        let acc = &self.accounts[account.0 as usize];
        let total = message.framed.len() - 2;
        let mut sent: SmallVec<[ConnId; 4]> = SmallVec::new();
        for (route, members) in &targets.targets {
            let queues: SmallVec<[&[u8]; 2]> = members
                .iter()
                .filter_map(|key| acc.subs.get(key.0 as usize).and_then(|s| s.queue.as_deref()))
                .collect();
            let Some(conn) = self.conns.get_mut(route.index as usize).filter(|c| c.id == *route) else {
                continue;
            };
            let line = conn
                .out
                .buffer(acc.name.len() + message.subject.len() + message.reply.map_or(0, <[u8]>::len) + 64);
            let before = line.len();
            encode::put_routed_line(
                line,
                acc.name.as_bytes(),
                message.subject,
                message.reply,
                (!queues.is_empty()).then_some(queues.as_slice()),
                message.header_len,
                total,
            );
            let written = line.len() - before;
            conn.out.commit(written);
            conn.out.push(message.framed.clone());
            conn.outbound.msgs += 1;
            conn.outbound.bytes += total as u64;
            sent.push(*route);
        }
        self.stats.outbound.msgs += sent.len() as u64;
        self.stats.outbound.bytes += (total * sent.len()) as u64;
        for id in &sent {
            self.signal_write(*id);
        }
        !sent.is_empty()
    }

    /// `RMSG`/`HMSG` from a route: delivered here, never to another route.
    pub(crate) fn on_routed(&mut self, id: ConnId, routed: RoutedOp<'_>) {
        if self.config.trace {
            let account = String::from_utf8_lossy(routed.account).into_owned();
            let subject = String::from_utf8_lossy(routed.msg.subject).into_owned();
            let reply = routed
                .msg
                .reply
                .map(|r| format!(" {}", String::from_utf8_lossy(r)))
                .unwrap_or_default();
            let size = routed.msg.total_len();
            self.trace(id, || format!("<<- [RMSG {account} {subject}{reply} {size}]"));
        }
        let Some(account) = self.account_named(routed.account) else {
            let name = String::from_utf8_lossy(routed.account).into_owned();
            self.log_conn(Level::Debug, id, format!("Unknown account {name:?} for routed message"));
            return;
        };
        let size = routed.msg.total_len() as u64;
        self.stats.inbound.msgs += 1;
        self.stats.inbound.bytes += size;
        if let Some(conn) = self.conn_mut(id) {
            conn.inbound.msgs += 1;
            conn.inbound.bytes += size;
        }
        let message = Message {
            from: Some(id),
            echo: true,
            hops: 0,
            from_service: false,
            subject: routed.msg.subject,
            reply: routed.msg.reply,
            header_len: routed.msg.header_len.filter(|&h| h > 0),
            framed: &routed.msg.message,
            queues: match routed.queues {
                Some(names) => Queues::Only(names),
                None => Queues::None,
            },
            to_routes: false,
            from_route: true,
        };
        self.route(account, &message);
        self.cross_accounts(account, &message);
    }
}
