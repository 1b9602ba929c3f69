//! Routing a publish to its subscribers.
//!
//! One sublist lookup (usually a cache hit) finds the plain subscriptions, which each get a copy,
//! and the queue groups, which each get one copy at a randomly chosen member. Each delivery
//! encodes only its `MSG`/`HMSG` line; the message bytes are the publisher's, shared.

use bytes::Bytes;

use crate::account::{AccountId, Internal, StreamForward, SubKey, Subscriber};
use crate::conn::{CloseReason, ConnId};
use crate::outbound::Outbound;
use crate::proto::encode;
use crate::proto::error::ERR_INVALID_PUBLISH_SUBJECT;
use crate::proto::PubOp;
use crate::server::client::quoted;
use crate::server::imports::{map_subject, MAX_HOPS};
use crate::server::routes::RemoteTargets;
use crate::server::{Level, Server};
use crate::subject;

/// Which queue groups a message may be delivered to.
#[derive(Clone, Copy)]
pub(crate) enum Queues<'a> {
    /// Every matching group (one member each).
    Any,
    /// From a route: only the groups the sending server named (blank-separated), which it
    /// chose this server to serve.
    Only(&'a [u8]),
    /// From a route without queue names: plain subscriptions only.
    None,
}

impl Queues<'_> {
    fn admits(&self, name: &[u8]) -> bool {
        match self {
            Queues::Any => true,
            Queues::Only(names) => names.split(|&b| b == b' ' || b == b'\t').any(|n| n == name),
            Queues::None => false,
        }
    }
}

/// What became of one delivery.
enum Delivery {
    /// The subscriber has the message.
    Taken,
    /// Not for this subscriber (its own message without echo, a spent `UNSUB max`, a
    /// permission, a closed connection).
    Refused,
    /// The subscription stands for interest of the server behind this route.
    Remote(ConnId),
}

impl From<bool> for Delivery {
    fn from(taken: bool) -> Delivery {
        if taken {
            Delivery::Taken
        } else {
            Delivery::Refused
        }
    }
}

/// What every delivery of one publish shares.
pub(crate) struct Message<'a> {
    /// The connection it came from; `None` when the server itself publishes it.
    pub(crate) from: Option<ConnId>,
    pub(crate) echo: bool,
    /// Account boundaries crossed so far (imports).
    pub(crate) hops: u8,
    /// The message came in through a service import: stream imports do not carry it on.
    pub(crate) from_service: bool,
    pub(crate) subject: &'a [u8],
    pub(crate) reply: Option<&'a [u8]>,
    pub(crate) header_len: Option<usize>,
    /// Headers, payload and CRLF.
    pub(crate) framed: &'a Bytes,
    /// Queue groups this server may deliver to.
    pub(crate) queues: Queues<'a>,
    /// Remote interest counts: the message may be forwarded to routes (one hop: never what
    /// came from a route; and only in the account it entered, or into a service's account).
    pub(crate) to_routes: bool,
    /// It came from a route.
    pub(crate) from_route: bool,
}

/// Whether `subject` starts with one of `prefixes` and has something after it.
fn has_reserved_prefix(subject: &[u8], prefixes: &[&[u8]]) -> bool {
    prefixes
        .iter()
        .any(|p| subject.len() > p.len() && subject.starts_with(p))
}

impl Server {
    pub(crate) fn on_publish(&mut self, id: ConnId, publish: PubOp<'_>) {
        if self.config.trace {
            let subject = String::from_utf8_lossy(publish.subject).into_owned();
            let reply = publish
                .reply
                .map(|r| format!(" {}", String::from_utf8_lossy(r)))
                .unwrap_or_default();
            let sizes = match publish.header_len {
                Some(h) => format!("{h} {}", publish.total_len()),
                None => publish.total_len().to_string(),
            };
            let verb = if publish.header_len.is_some() { "HPUB" } else { "PUB" };
            self.trace(id, || format!("<<- [{verb} {subject}{reply} {sizes}]"));
        }
        let size = publish.total_len() as u64;
        self.stats.inbound.msgs += 1;
        self.stats.inbound.bytes += size;
        let Some(conn) = self.conn_mut(id) else { return };
        conn.inbound.msgs += 1;
        conn.inbound.bytes += size;
        let opts = &conn.opts;
        let (pedantic, verbose, echo, no_responders) = (opts.pedantic, opts.verbose, opts.echo, opts.no_responders);
        let account = conn.account;
        if pedantic && !subject::is_valid_literal_subject(publish.subject) {
            // nats-server complains but still delivers the message.
            self.send_err(id, ERR_INVALID_PUBLISH_SUBJECT);
        }
        if let Some(conn) = self.conns.get_mut(id.index as usize).filter(|c| c.id == id) {
            if let Some(perms) = conn.perms.as_mut() {
                if !perms.may_publish(publish.subject, self.now) {
                    let subject = quoted(publish.subject);
                    self.send_err(id, &format!("Permissions Violation for Publish to {subject}"));
                    self.log_conn(Level::Error, id, format!("Publish Violation - Subject {subject}"));
                    return;
                }
            }
        }
        // Subjects the server reserves for routing replies across clusters and services.
        if has_reserved_prefix(publish.subject, &[b"_GR_."]) {
            let subject = quoted(publish.subject);
            self.log_conn(Level::Error, id, format!("Publish Violation - Subject {subject}"));
            self.send_err(id, &format!("Permissions Violation for Publish to {subject}"));
            return;
        }
        if let Some(reply) = publish
            .reply
            .filter(|r| has_reserved_prefix(r, &[b"_R_.", b"$JS.ACK.", b"_GR_."]))
        {
            let reply = quoted(reply);
            self.log_conn(Level::Error, id, format!("Publish Violation - Reply {reply}"));
            self.send_err(id, &format!("Permissions Violation for Publish with Reply of {reply}"));
            return;
        }
        if verbose {
            self.send_ok(id);
        }
        let message = Message {
            from: Some(id),
            echo,
            hops: 0,
            from_service: false,
            subject: publish.subject,
            reply: publish.reply,
            // A zero-length header block is no header block: nats-server sends plain MSG.
            header_len: publish.header_len.filter(|&h| h > 0),
            framed: &publish.message,
            queues: Queues::Any,
            to_routes: true,
            from_route: false,
        };
        let mut delivered = self.route(account, &message);
        delivered |= self.cross_accounts(account, &message);
        if !delivered && no_responders {
            if let Some(reply) = publish.reply {
                self.no_responders(id, account.0 as usize, publish.subject, reply);
            }
        }
    }

    /// Delivers `message` to the subscribers of `account`: every plain subscription and one
    /// member of each queue group, preferring members on this server; routes with interest get
    /// one copy each. True if anyone took it.
    pub(crate) fn route(&mut self, account: AccountId, message: &Message<'_>) -> bool {
        let result = self.accounts[account.0 as usize].sublist.matches(message.subject);
        let recipients = result.plain.len() + result.queues.len();
        let mut delivered = false;
        let mut remotes = RemoteTargets::new();
        for &key in &result.plain {
            match self.deliver(account.0 as usize, key, message, recipients) {
                Delivery::Taken => delivered = true,
                Delivery::Remote(route) if message.to_routes => remotes.add(route, None),
                Delivery::Remote(_) | Delivery::Refused => {}
            }
        }
        for group in &result.queues {
            if !message.queues.admits(&group.name) {
                continue;
            }
            let members = &group.members;
            let start = if members.len() > 1 {
                self.rng.below(members.len())
            } else {
                0
            };
            let mut remote_member = None;
            let mut taken = false;
            for i in 0..members.len() {
                let key = members[(start + i) % members.len()];
                match self.deliver(account.0 as usize, key, message, recipients) {
                    Delivery::Taken => {
                        taken = true;
                        break;
                    }
                    // Remote members are the fallback: one of ours takes it if it can.
                    Delivery::Remote(route) => remote_member = remote_member.or(Some((route, key))),
                    Delivery::Refused => {}
                }
            }
            // A member that took it is a delivery like any other (no 503 for the requester).
            delivered |= taken;
            if !taken && message.to_routes {
                if let Some((route, key)) = remote_member {
                    remotes.add(route, Some(key));
                }
            }
        }
        if !remotes.is_empty() {
            delivered |= self.forward_to_routes(account, &remotes, message);
        }
        delivered
    }

    /// Carries `message` across a service import of `account`, or back as the response to a
    /// request that came in through one. True if it crossed.
    pub(crate) fn cross_accounts(&mut self, account: AccountId, message: &Message<'_>) -> bool {
        if message.hops >= MAX_HOPS {
            return false;
        }
        let import = if message.from_route {
            // The server the request entered on already carried it across.
            None
        } else {
            self.service_import_for(account, message.subject)
        };
        if let Some(import) = import {
            let subject = map_subject(message.subject, &import.local_subject, &import.export_subject);
            let reply = message.reply.map(|r| self.new_response_route(account, &import, r));
            let (framed, header_len) = with_request_info(message, &self.accounts[account.0 as usize].name);
            let forwarded = Message {
                subject: &subject,
                reply: reply.as_deref(),
                hops: message.hops + 1,
                from_service: true,
                header_len: Some(header_len),
                framed: &framed,
                queues: Queues::Any,
                ..*message
            };
            if !self.route(import.from, &forwarded) {
                if let Some(reply) = &reply {
                    self.drop_response_route(import.from, reply);
                }
            }
            // The import itself counts as a delivery, so a requester never gets a 503 through
            // one (nats-server's behaviour).
            return true;
        }
        if let Some(route) = self.response_route(account, message.subject) {
            let forwarded = Message {
                subject: &route.reply,
                reply: None,
                hops: message.hops + 1,
                queues: Queues::Any,
                to_routes: false,
                from_route: false,
                ..*message
            };
            let delivered = self.route(route.to, &forwarded) | self.cross_accounts(route.to, &forwarded);
            let end_marker = message.header_len.is_none() && message.framed.len() == 2;
            self.finish_response(account, message.subject, delivered, end_marker);
            return delivered;
        }
        false
    }

    /// Queues `message` for the part of the server that subscribed for it (see `internal.rs`).
    /// True if it took it: a request, which the component will answer.
    fn deliver_internal(&mut self, to: Internal, account: AccountId, message: &Message<'_>) -> bool {
        // Direct gets are for the streams that allow them: another stream's goes unanswered
        // (no responders), as in nats-server, whose API subscription does not take them.
        if to == Internal::JetStreamApi && message.subject.starts_with(b"$JS.API.DIRECT.GET.") {
            return false;
        }
        // Requests need somewhere to answer; a stream stores what has no reply too.
        let reply = match (message.reply, to) {
            (Some(reply), _) => reply,
            (None, Internal::Stream(_)) => &[],
            (None, _) => return false,
        };
        let start = message.header_len.unwrap_or(0);
        let end = message.framed.len().saturating_sub(2).max(start);
        self.internal.push_back(super::internal::InternalMessage {
            to,
            account,
            subject: message.subject.into(),
            reply: reply.into(),
            headers: message.framed.slice(..start),
            body: message.framed.slice(start..end),
        });
        true
    }

    /// The server publishes `payload` on `subject` in `account`, as a client there would (but
    /// to this server's subscribers only): every reply the server itself sends goes this way.
    pub(crate) fn publish_internal(&mut self, account: AccountId, subject: &[u8], payload: Vec<u8>) {
        self.publish_internal_with_headers(account, subject, Vec::new(), payload);
    }

    /// [`Server::publish_internal`] with a header block (none when `headers` is empty).
    pub(crate) fn publish_internal_with_headers(
        &mut self,
        account: AccountId,
        subject: &[u8],
        headers: Vec<u8>,
        payload: Vec<u8>,
    ) {
        let header_len = (!headers.is_empty()).then_some(headers.len());
        let mut framed = headers;
        framed.extend_from_slice(&payload);
        framed.extend_from_slice(b"\r\n");
        let framed = Bytes::from(framed);
        let message = Message {
            from: None,
            echo: true,
            hops: MAX_HOPS,
            from_service: true,
            subject,
            reply: None,
            header_len,
            framed: &framed,
            queues: Queues::Any,
            to_routes: false,
            from_route: false,
        };
        self.route(account, &message);
    }

    /// Delivers a stream import's message in the importing account.
    fn forward_stream(&mut self, forward: &StreamForward, message: &Message<'_>) -> bool {
        if message.hops >= MAX_HOPS {
            return false;
        }
        let subject = map_subject(message.subject, &forward.from_subject, &forward.to_subject);
        // Servers with importers of their own forward for them: no route gets this.
        let forwarded = Message {
            subject: &subject,
            hops: message.hops + 1,
            queues: Queues::Any,
            to_routes: false,
            from_route: false,
            ..*message
        };
        self.route(forward.to, &forwarded)
    }

    /// Delivers `message` to subscription `key`, or says it stands for a route's interest (the
    /// caller forwards once per route); `recipients` is how many subscriptions and queue groups
    /// the message matched (a single recipient gets larger bodies copied).
    fn deliver(&mut self, account: usize, key: SubKey, message: &Message<'_>, recipients: usize) -> Delivery {
        let acc = &mut self.accounts[account];
        let Some(sub) = acc.subs.get_mut(key.0 as usize) else {
            return Delivery::Refused;
        };
        let conn_id = match &sub.subscriber {
            Subscriber::Client(id) => *id,
            Subscriber::Route(route) => return Delivery::Remote(*route),
            Subscriber::Import(forward) => {
                if message.from_service {
                    return Delivery::Refused;
                }
                let forward = forward.clone();
                return Delivery::from(self.forward_stream(&forward, message));
            }
            Subscriber::Internal(which) => {
                let which = *which;
                return Delivery::from(self.deliver_internal(which, AccountId(account as u32), message));
            }
        };
        if Some(conn_id) == message.from && !message.echo {
            return Delivery::Refused;
        }
        if sub.max.is_some_and(|max| sub.delivered >= max) {
            return Delivery::Refused;
        }
        sub.delivered += 1;
        let finished = sub.max.is_some_and(|max| sub.delivered >= max);
        let Some(conn) = self.conns.get_mut(conn_id.index as usize).filter(|c| c.id == conn_id) else {
            return Delivery::Refused;
        };
        if let Some(perms) = conn.perms.as_mut() {
            if perms.filter_deliveries && !perms.may_receive(message.subject) {
                if let Some(sub) = acc.subs.get_mut(key.0 as usize) {
                    sub.delivered -= 1;
                }
                return Delivery::Refused;
            }
            if let Some(reply) = message.reply.filter(|_| perms.tracks_replies()) {
                perms.record_reply(reply, self.now);
            }
        }
        let sub = &acc.subs[key.0 as usize];
        // A subscriber that did not announce headers gets the payload alone.
        let header_len = message.header_len.filter(|_| conn.opts.headers);
        let skip = match (message.header_len, header_len) {
            (Some(h), None) => h,
            _ => 0,
        };
        let body_len = message.framed.len() - skip;
        let total = body_len - 2;
        // The line and, when it is copied, the body go into the buffer with one reservation.
        let line_max = message.subject.len() + sub.sid.len() + message.reply.map_or(0, <[u8]>::len) + 48;
        let copied = Outbound::copies(body_len, recipients);
        let line = conn.out.buffer(line_max + if copied { body_len } else { 0 });
        let before = line.len();
        encode::put_msg_line(line, message.subject, &sub.sid, message.reply, header_len, total);
        if copied {
            line.extend_from_slice(&message.framed[skip..]);
            let written = line.len() - before;
            conn.out.commit(written);
        } else {
            let written = line.len() - before;
            conn.out.commit(written);
            conn.out.push(message.framed.slice(skip..));
        }
        conn.outbound.msgs += 1;
        conn.outbound.bytes += total as u64;
        conn.last_activity = self.now;
        let over = conn.out.pending() > self.config.max_pending;
        self.stats.outbound.msgs += 1;
        self.stats.outbound.bytes += total as u64;
        if finished {
            let sid = sub.sid.clone();
            acc.unsubscribe(key);
            conn.subs.remove(&sid);
        }
        if over {
            self.slow_consumer(conn_id);
        } else {
            self.signal_write(conn_id);
            if let Some(publisher) = message.from {
                self.note_backlog(conn_id, publisher);
            }
        }
        Delivery::Taken
    }

    fn slow_consumer(&mut self, id: ConnId) {
        self.stats.slow_consumers += 1;
        let max = self.config.max_pending;
        self.log_conn(
            Level::Info,
            id,
            format!("Slow Consumer Detected: MaxPending of {max} Exceeded"),
        );
        self.close(id, CloseReason::SlowConsumerPendingBytes, false);
    }

    /// Tells a requester nobody is listening: a 503 status on its own reply subscription.
    fn no_responders(&mut self, id: ConnId, account: usize, subject: &[u8], reply: &[u8]) {
        let result = self.accounts[account].sublist.matches(reply);
        let acc = &self.accounts[account];
        let Some(sub) = result
            .plain
            .iter()
            .filter_map(|key| acc.subs.get(key.0 as usize))
            .find(|sub| sub.subscriber.client() == Some(id))
        else {
            return;
        };
        let sid = sub.sid.clone();
        // "NATS/1.0 503\r\n" "Nats-Subject: " <subject> "\r\n" "\r\n"
        let header_len = 32 + subject.len();
        let Some(conn) = self.conn_mut(id) else { return };
        let line = conn.out.buffer(header_len + reply.len() + sid.len() + 32);
        let before = line.len();
        encode::put_msg_line(line, reply, &sid, None, Some(header_len), header_len);
        line.extend_from_slice(b"NATS/1.0 503\r\nNats-Subject: ");
        line.extend_from_slice(subject);
        line.extend_from_slice(b"\r\n\r\n\r\n");
        let written = line.len() - before;
        conn.out.commit(written);
        self.signal_write(id);
    }
}

/// The message with nats-server's `Nats-Request-Info` header naming the requesting account,
/// which every request crossing a service import carries (replacing one the client set), and
/// the new header block's length.
fn with_request_info(message: &Message<'_>, account: &str) -> (Bytes, usize) {
    let account = serde_json::to_string(account).unwrap_or_default();
    let mut out = bytes::BytesMut::with_capacity(message.framed.len() + account.len() + 48);
    let payload_start = match message.header_len {
        Some(h) => {
            // The block ends with an empty line; keep every other line but an old info header.
            let block = &message.framed[..h.saturating_sub(2)];
            for line in block.split_inclusive(|&b| b == b'\n') {
                if !line.starts_with(b"Nats-Request-Info:") {
                    out.extend_from_slice(line);
                }
            }
            h
        }
        None => {
            out.extend_from_slice(b"NATS/1.0\r\n");
            0
        }
    };
    out.extend_from_slice(b"Nats-Request-Info: {\"acc\":");
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(b"}\r\n\r\n");
    let header_len = out.len();
    out.extend_from_slice(&message.framed[payload_start..]);
    (out.freeze(), header_len)
}
