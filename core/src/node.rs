//! The node: one Natrix server as the runtimes drive it, composed of its components.
//!
//! - [`Server`]: connections, accounts, subscriptions, message routing and the cluster's
//!   routes (the client and route protocols).
//! - [`Monitor`]: the HTTP endpoints and the `$SYS.REQ.SERVER...` requests, reading the
//!   server through a read-only view.
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
use crate::ids::{ConnId, DialId};
use crate::monitor::{Monitor, Report};
use crate::server::{Input, Output, Server};
use crate::time::Instant;

/// One server: the components, and the contract the runtimes drive them through.
pub struct Node {
    server: Server,
    monitor: Monitor,
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
        Node {
            server: Server::new(config),
            monitor: Monitor::default(),
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
            input => self.server.handle(now, input),
        }
        self.serve_internal();
    }

    /// Runs every timer due at `now` (calling it early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        self.serve_internal();
    }

    /// When [`Node::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
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
        self.monitor.http(&self.server, head)
    }

    /// The reply this server would send to a `$SYS.REQ.SERVER...` request on `subject` with
    /// `body`, if it answers it; emits no output (the fuzz targets call it directly).
    pub fn sys_request(&mut self, subject: &[u8], body: &[u8]) -> Option<Vec<u8>> {
        Report::new(&self.server, &self.monitor).sys_request(subject, body)
    }

    /// Hands each message the server's internal subscriptions received to its component, and
    /// publishes the answers; answers may be received internally again, so until none is left.
    fn serve_internal(&mut self) {
        let mut served = false;
        while let Some(message) = self.server.take_internal() {
            served = true;
            let answer = match message.to {
                Internal::ServerRequests => {
                    Report::new(&self.server, &self.monitor).sys_request(&message.subject, &message.body)
                }
            };
            if let Some(answer) = answer {
                self.server.publish_internal(message.account, &message.reply, answer);
            }
        }
        if served {
            self.server.finish_input();
        }
    }
}
