//! The node: one Natrix server as the runtimes drive it, composed of its components.
//!
//! - [`Server`]: connections, accounts, subscriptions, message routing and the cluster's
//!   routes (the client and route protocols).
//! - [`Monitor`]: the HTTP endpoints and the `$SYS.REQ.SERVER...` requests, reading the
//!   server through a read-only view.
//! - [`JetStream`] (when enabled): streams, their API and their storage IO; it answers with
//!   effects the node carries out (replies, subscriptions, IO, log lines).
//!
//! Every way in goes through the node (see the crate docs for the contract); after each, the
//! node hands what the server's internal subscriptions received to the component that
//! subscribed, whose answers go out through the server's internal-publish path, so by the time
//! a call returns every output it caused is queued. Read-only questions (counts, names, the
//! configuration) go straight to the server: the node dereferences to `&Server`, never to
//! `&mut Server`.

use std::net::SocketAddr;
use std::ops::Deref;

use bytes::Bytes;

use crate::account::Internal;
use crate::config::Config;
use crate::ids::{AccountId, ConnId, DialId};
use crate::jetstream::{Effect, JetStream};
use crate::monitor::{Monitor, Report};
use crate::server::{Input, Output, Server};
use crate::time::Instant;

/// One server: the components, and the contract the runtimes drive them through.
pub struct Node {
    server: Server,
    monitor: Monitor,
    jetstream: Option<JetStream>,
}

impl Deref for Node {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Node {
    /// A node with `config`; nothing happens until the runtime feeds it inputs.
    pub fn new(config: Config) -> Self {
        let server = Server::new(config);
        let jetstream = server.config.jetstream.clone().map(|settings| {
            let accounts = server.jetstream_accounts();
            JetStream::new(settings, server.server_name().to_string(), accounts)
        });
        Node {
            server,
            monitor: Monitor::default(),
            jetstream,
        }
    }

    /// Starts what runs before clients are served: JetStream's start-up lines and recovery
    /// (its reads come as [`Output::Io`]; feed their completions, and serve clients once
    /// [`Node::ready`] says so).
    pub fn start(&mut self, now: Instant) {
        self.server.begin_input(now);
        let wall = self.wall(now);
        if let Some(js) = self.jetstream.as_mut() {
            js.start(wall);
            let accounts: Vec<AccountId> = self.server.non_system_accounts();
            for account in accounts {
                self.server
                    .subscribe_internal(account, b"$JS.API.>", Internal::JetStreamApi);
            }
        }
        self.apply_effects();
        self.server.finish_input();
    }

    /// Whether start-up is done (JetStream's streams are recovered).
    pub fn ready(&self) -> bool {
        self.jetstream.as_ref().is_none_or(JetStream::ready)
    }

    /// JetStream, when enabled (for monitoring and tests).
    pub fn jetstream(&self) -> Option<&JetStream> {
        self.jetstream.as_ref()
    }

    /// Wall-clock time at `now`, Unix nanoseconds.
    fn wall(&self, now: Instant) -> i64 {
        (self.server.config.start_unix_nanos + now.as_nanos()) as i64
    }

    /// Carries out what JetStream asked for.
    fn apply_effects(&mut self) {
        let Some(js) = self.jetstream.as_mut() else { return };
        while let Some(effect) = js.poll_effect() {
            match effect {
                Effect::Reply {
                    account,
                    subject,
                    headers,
                    payload,
                } => self
                    .server
                    .publish_internal_with_headers(account, &subject, headers, payload),
                Effect::Subscribe { account, subject, to } => {
                    self.server.subscribe_internal(account, subject.as_bytes(), to)
                }
                Effect::Unsubscribe { account, to } => self.server.unsubscribe_internal(account, to),
                Effect::Io(id, request) => self.server.emit(Output::Io(id, request)),
                Effect::Log(level, message) => self.server.emit(Output::Log { level, message }),
            }
        }
    }

    /// Registers a client connection the runtime accepted from `peer`, and returns its id.
    pub fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        let id = self.server.accept(now, peer);
        self.serve_internal();
        id
    }

    /// Registers a route connection accepted on the cluster port.
    pub fn accept_route(&mut self, now: Instant, peer: SocketAddr, local: SocketAddr) -> ConnId {
        let id = self.server.accept_route(now, peer, local);
        self.serve_internal();
        id
    }

    /// The connection an [`Output::Dial`] asked for is up; `None` if the core no longer wants
    /// it (the runtime closes the socket).
    pub fn route_dialed(&mut self, now: Instant, dial: DialId, peer: SocketAddr, local: SocketAddr) -> Option<ConnId> {
        let id = self.server.route_dialed(now, dial, peer, local);
        self.serve_internal();
        id
    }

    /// Feeds one observation to the node.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::ProcessStats(stats) => {
                self.server.begin_input(now);
                self.monitor.process = stats;
            }
            Input::IoDone(completion) => {
                self.server.begin_input(now);
                let wall = self.wall(now);
                if let Some(js) = self.jetstream.as_mut() {
                    js.complete(wall, completion);
                }
                self.apply_effects();
                self.server.finish_input();
            }
            Input::Reload(config) => {
                self.server.handle(now, Input::Reload(config));
                // The server applied it or refused it whole; JetStream follows what it kept.
                let settings = self.server.config.jetstream.clone();
                let accounts = self.server.jetstream_accounts();
                if let (Some(js), Some(settings)) = (self.jetstream.as_mut(), settings) {
                    js.reloaded(&settings, accounts);
                    self.apply_effects();
                }
            }
            input => self.server.handle(now, input),
        }
        self.serve_internal();
    }

    /// Runs every timer due at `now` (calling it early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        let wall = self.wall(now);
        if let Some(js) = self.jetstream.as_mut() {
            if js.next_expiry().is_some_and(|at| at <= wall) {
                js.expire(wall);
                self.apply_effects();
            }
        }
        self.serve_internal();
    }

    /// When [`Node::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let server = self.server.poll_timeout();
        let expiry = self.jetstream.as_ref().and_then(JetStream::next_expiry).map(|at| {
            let since_start = (at - self.server.config.start_unix_nanos as i64).max(0) as u64;
            Instant::from_nanos(since_start)
        });
        match (server, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing the runtime must do, until `None`. Drain this after every call that
    /// feeds the node.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.server.poll_output()
    }

    /// Moves the bytes queued for `conn` into `out`; returns how many. The runtime reports them
    /// with [`Input::Written`] as they reach the socket.
    pub fn take_outbound(&mut self, conn: ConnId, out: &mut Vec<Bytes>) -> usize {
        self.server.take_outbound(conn, out)
    }

    /// Answers one HTTP request (its head, as read from a monitoring connection) with a
    /// complete HTTP response; the runtime writes it and closes the connection.
    pub fn monitor(&mut self, now: Instant, head: &[u8]) -> Vec<u8> {
        self.server.begin_input(now);
        self.monitor.http(&self.server, self.jetstream.as_ref(), head)
    }

    /// The reply this server would send to a `$SYS.REQ.SERVER...` request on `subject` with
    /// `body`, if it answers it; emits no output (the fuzz targets call it directly).
    pub fn sys_request(&mut self, subject: &[u8], body: &[u8]) -> Option<Vec<u8>> {
        Report::new(&self.server, self.jetstream.as_ref(), &self.monitor).sys_request(subject, body)
    }

    /// Hands each message the server's internal subscriptions received to its component, and
    /// publishes the answers; answers may be received internally again, so until none is left.
    fn serve_internal(&mut self) {
        let mut served = false;
        let wall = self.wall(self.server.now);
        while let Some(message) = self.server.take_internal() {
            served = true;
            match message.to {
                Internal::ServerRequests => {
                    let answer = Report::new(&self.server, self.jetstream.as_ref(), &self.monitor)
                        .sys_request(&message.subject, &message.body);
                    if let Some(answer) = answer {
                        self.server.publish_internal(message.account, &message.reply, answer);
                    }
                }
                Internal::JetStreamApi => {
                    let subject = String::from_utf8_lossy(&message.subject).into_owned();
                    if let Some(js) = self.jetstream.as_mut() {
                        js.api(wall, message.account, &subject, &message.reply, message.body);
                    }
                }
                Internal::Stream(stream) => {
                    if let Some(js) = self.jetstream.as_mut() {
                        js.publish(
                            wall,
                            stream,
                            &message.subject,
                            &message.reply,
                            message.headers,
                            message.body,
                        );
                    }
                }
                Internal::Direct(stream) => {
                    if let Some(js) = self.jetstream.as_mut() {
                        js.direct_get(
                            wall,
                            stream,
                            &message.subject,
                            &message.reply,
                            &message.headers,
                            &message.body,
                        );
                    }
                }
            }
            self.apply_effects();
        }
        if served {
            self.server.finish_input();
        }
    }
}
