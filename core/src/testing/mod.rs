//! A harness that drives a [`Node`] with virtual time and in-memory connections, for tests of
//! the core and of anything built on it. It follows the driver contract exactly: every input is
//! followed by draining outputs, written bytes are reported back, and closes are recorded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::{CloseReason, Config, ConnId, Input, Instant, Node, Output};

mod mesh;
pub use mesh::Mesh;

/// What one connection has seen.
#[derive(Debug, Default, Clone)]
pub struct Peer {
    /// Bytes written to it, not yet read by the test.
    pub unread: Vec<u8>,
    /// Why it was closed, if it was.
    pub closed: Option<CloseReason>,
    /// Whether the server asked to stop reading from it.
    pub paused: bool,
}

/// A server plus its connections, with time under the test's control.
pub struct Harness {
    /// The server under test.
    pub server: Node,
    /// Virtual now.
    pub now: Instant,
    /// Connections by id.
    pub peers: BTreeMap<ConnId, Peer>,
    /// Connections whose writes the test holds back, as a subscriber that stopped reading.
    pub stalled: Vec<ConnId>,
    /// Log lines emitted.
    pub logs: Vec<String>,
    /// The server asked to stop accepting connections.
    pub stopped_accepting: bool,
    /// The server asked the runtime to finish.
    pub exited: bool,
    /// Hold password checks in `password_checks` instead of answering them at once.
    pub defer_password_checks: bool,
    /// Password checks the server asked for and the test has not answered.
    pub password_checks: Vec<(ConnId, crate::auth::credentials::PasswordCheck)>,
    /// Route dials the server asked for and the test has not answered.
    pub dials: Vec<(crate::cluster::DialId, String)>,
    /// The disk JetStream's IO runs on, at once and in order (a model file system).
    pub disk: natrix_store::memory::MemFs,
    /// Every IO request run on it, in order.
    pub io_log: Vec<natrix_store::io::IoRequest>,
}

impl Harness {
    /// A server with `config`.
    pub fn new(config: Config) -> Self {
        Harness::new_unstarted(config).started()
    }

    /// A server with `config` whose store is `disk` (a restart keeps the disk).
    pub fn with_disk(config: Config, disk: natrix_store::memory::MemFs) -> Self {
        let mut harness = Harness::new_unstarted(config);
        harness.disk = disk;
        harness.started()
    }

    fn new_unstarted(config: Config) -> Self {
        Harness {
            server: Node::new(config),
            now: Instant::from_nanos(1_000_000_000),
            peers: BTreeMap::new(),
            stalled: Vec::new(),
            logs: Vec::new(),
            stopped_accepting: false,
            dials: Vec::new(),
            exited: false,
            defer_password_checks: false,
            password_checks: Vec::new(),
            disk: natrix_store::memory::MemFs::new(),
            io_log: Vec::new(),
        }
    }

    /// Runs the node's start-up (JetStream's recovery), its IO on `disk`.
    fn started(mut self) -> Self {
        self.server.start(self.now);
        self.drain();
        self
    }

    /// Accepts a connection and returns its id; its INFO is in `unread`.
    pub fn connect(&mut self) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("literal address");
        let id = self.server.accept(self.now, peer);
        self.peers.insert(id, Peer::default());
        self.drain();
        id
    }

    /// Accepts a route from a server with id `server_id` in cluster `cluster`, sends its INFO,
    /// and returns the connection (what the server sent is in `unread`).
    pub fn route(&mut self, server_id: &str, cluster: &str) -> ConnId {
        let id = self.accept_route();
        let info = format!(
            "INFO {{\"server_id\":\"{server_id}\",\"server_name\":\"{server_id}\",\"port\":6222,\"cluster\":\"{cluster}\",\"connect_urls\":[\"10.0.0.9:4222\"]}}\r\n"
        );
        self.send(id, info.as_bytes());
        id
    }

    /// Accepts a connection on the cluster port and returns its id (our INFO is in `unread`).
    pub fn accept_route(&mut self) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:50000".parse().expect("literal address");
        let local: SocketAddr = "127.0.0.1:6222".parse().expect("literal address");
        self.accept_route_from(peer, local)
    }

    /// Accepts a route from `peer` on our `local` address.
    pub fn accept_route_from(&mut self, peer: SocketAddr, local: SocketAddr) -> ConnId {
        let id = self.server.accept_route(self.now, peer, local);
        self.peers.insert(id, Peer::default());
        self.drain();
        id
    }

    /// Reports that route dial `dial` connected; the connection's id, unless the server no
    /// longer wants it.
    pub fn route_dialed(
        &mut self,
        dial: crate::cluster::DialId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Option<ConnId> {
        let id = self.server.route_dialed(self.now, dial, peer, local);
        if let Some(id) = id {
            self.peers.insert(id, Peer::default());
        }
        self.drain();
        id
    }

    /// Accepts a connection, reads INFO, sends `connect` JSON and drops what it produced.
    pub fn client(&mut self, connect: &str) -> ConnId {
        let id = self.connect();
        self.send(id, format!("CONNECT {connect}\r\n").as_bytes());
        self.read(id);
        id
    }

    /// Feeds any input.
    pub fn input(&mut self, input: Input) {
        self.server.handle(self.now, input);
        self.drain();
    }

    /// Feeds bytes from a client.
    pub fn send(&mut self, id: ConnId, bytes: &[u8]) {
        self.server.handle(
            self.now,
            Input::Received {
                conn: id,
                data: Bytes::copy_from_slice(bytes),
            },
        );
        self.drain();
    }

    /// Takes what a client has been sent so far.
    pub fn read(&mut self, id: ConnId) -> Vec<u8> {
        std::mem::take(&mut self.peers.entry(id).or_default().unread)
    }

    /// Takes what a client has been sent, as text.
    pub fn read_text(&mut self, id: ConnId) -> String {
        String::from_utf8_lossy(&self.read(id)).into_owned()
    }

    /// Whether the server asked to stop reading from the connection.
    pub fn paused(&self, id: ConnId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.paused)
    }

    /// Why the connection closed, if it did.
    pub fn closed(&self, id: ConnId) -> Option<CloseReason> {
        self.peers.get(&id).and_then(|p| p.closed)
    }

    /// Moves virtual time forward by `by`, running timers as they fall due.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.server.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.server.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    /// Sets the time to `at` (never backwards) and runs the timers due by then.
    pub fn run_due(&mut self, at: Instant) {
        self.now = self.now.max(at);
        if self.server.poll_timeout().is_some_and(|due| due <= self.now) {
            self.server.handle_timeout(self.now);
            self.drain();
        }
    }

    /// Answers the password checks held back so far, as the runtime's worker would.
    pub fn answer_password_checks(&mut self) {
        for (conn, check) in std::mem::take(&mut self.password_checks) {
            let ok = check.run();
            self.server.handle(self.now, Input::PasswordChecked { conn, ok });
            self.drain();
        }
    }

    /// Lets a stalled connection's writes through again.
    pub fn unstall(&mut self, id: ConnId) {
        self.stalled.retain(|c| *c != id);
        self.flush(id);
        self.drain();
    }

    fn flush(&mut self, id: ConnId) {
        let mut chunks = Vec::new();
        let n = self.server.take_outbound(id, &mut chunks);
        if n == 0 {
            return;
        }
        let peer = self.peers.entry(id).or_default();
        for chunk in chunks {
            peer.unread.extend_from_slice(&chunk);
        }
        self.server.handle(self.now, Input::Written { conn: id, bytes: n });
    }

    fn drain(&mut self) {
        let mut writes = Vec::new();
        let mut checks = Vec::new();
        let mut io = Vec::new();
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Write(id) => writes.push(id),
                Output::Close { conn, reason, flush } => {
                    let peer = self.peers.entry(conn).or_default();
                    for chunk in flush {
                        peer.unread.extend_from_slice(&chunk);
                    }
                    peer.closed = Some(reason);
                }
                Output::StopAccepting => self.stopped_accepting = true,
                Output::Exit => self.exited = true,
                Output::PauseReading(conn) => self.peers.entry(conn).or_default().paused = true,
                Output::ResumeReading(conn) => self.peers.entry(conn).or_default().paused = false,
                Output::Log { level, message } => self.logs.push(format!("{} {message}", level.tag())),
                Output::CheckPassword { conn, check } => checks.push((conn, check)),
                Output::Dial { dial, address } => self.dials.push((dial, address)),
                Output::Io(id, request) => {
                    io.push(self.disk.run(id, &request));
                    self.io_log.push(request);
                }
            }
        }
        // The file executor's completions, in order, each fed in and drained.
        for completion in io {
            self.server.handle(self.now, Input::IoDone(completion));
            self.drain();
        }
        // The runtime's worker answers password checks; here, at once, in order.
        if self.defer_password_checks {
            self.password_checks.append(&mut checks);
        }
        for (conn, check) in checks {
            let ok = check.run();
            self.server.handle(self.now, Input::PasswordChecked { conn, ok });
            self.drain();
        }
        for id in writes {
            if !self.stalled.contains(&id) {
                self.flush(id);
                self.drain();
            }
        }
    }
}
