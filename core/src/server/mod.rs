//! The server state machine: connections in, deliveries and decisions out.
//!
//! See the crate docs for the driver contract. This file owns the connection table, timers and
//! the input/output plumbing; `client.rs` handles each client operation and `deliver.rs` routes
//! messages to subscribers.

mod client;
mod deliver;
pub(crate) mod imports;
pub(crate) mod internal;
mod invariants;
mod operator;
mod routes;
mod security;
mod stall;

use crate::config::jetstream::AccountLimits;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;

use bytes::Bytes;
use slab::Slab;

use crate::account::{Account, AccountId, GLOBAL_ACCOUNT};
use crate::config::{Config, COMPATIBLE_VERSION};
use crate::conn::{CloseReason, Conn, ConnId, Counters};
use crate::outbound::Outbound;
use crate::proto::encode;
use crate::proto::{ConnectOptions, Info, Parser, ParserLimits};
use crate::rng::Rng;
use crate::time::Instant;

pub use crate::log::{Level, LogSink};

/// What the process uses, sampled by the runtime side (for monitoring).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// CPU use over the last sample, percent of one core.
    pub cpu_percent: f64,
    /// Cores available.
    pub cores: u32,
}

// The CPU figure is a finite sample, never NaN, so equality is total.
impl Eq for ProcessStats {}

/// Something the runtime observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes arrived on a connection.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes, as read. Payloads are sliced out of them without copying.
        data: Bytes,
    },
    /// The runtime wrote `bytes` of what it took with [`Server::take_outbound`].
    Written {
        /// The connection.
        conn: ConnId,
        /// Bytes written to the socket.
        bytes: usize,
    },
    /// The connection ended on the runtime's side (the peer closed, or IO failed).
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Stop: close every connection after flushing what is queued for it, then
    /// [`Output::Exit`].
    Shutdown,
    /// Apply a reloaded configuration: what nats-server changes live is applied; a change that
    /// needs a restart refuses the whole reload, as nats-server does.
    Reload(Box<Config>),
    /// Enter lame duck mode: stop accepting, tell clients (INFO `ldm: true`), close them spread
    /// over `lame_duck_duration` after `lame_duck_grace_period`, then [`Output::Exit`].
    LameDuck,
    /// The TLS handshake with a client completed; from now on the runtime encrypts and
    /// decrypts its bytes.
    TlsEstablished {
        /// The connection.
        conn: ConnId,
        /// The client's verified certificate, if it presented one.
        cert: Option<crate::auth::CertIdentity>,
        /// What the handshake negotiated.
        session: crate::conn::SessionInfo,
    },
    /// Fresh process figures (resident memory, CPU) for monitoring; runtimes or the binary
    /// send them now and then.
    ProcessStats(ProcessStats),
    /// An [`Output::Io`] request finished (JetStream's storage).
    IoDone(natrix_store::io::IoCompletion),
    /// The answer to [`Output::CheckPassword`].
    PasswordChecked {
        /// The connection.
        conn: ConnId,
        /// Whether the password matched.
        ok: bool,
    },
    /// A [`Output::Dial`] failed.
    DialFailed {
        /// The dial.
        dial: crate::cluster::DialId,
        /// What the network said.
        error: String,
    },
    /// The TLS handshake with a client failed; the core logs why and closes it.
    TlsFailed {
        /// The connection.
        conn: ConnId,
        /// What the TLS library said.
        error: String,
    },
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The connection has bytes queued: take them with [`Server::take_outbound`] and write them.
    Write(ConnId),
    /// Write `flush` (empty when the connection is abandoned, as a slow consumer is), then
    /// close the socket. The core has already forgotten the connection.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why the server closed it.
        reason: CloseReason,
        /// Bytes still to write before closing.
        flush: Vec<Bytes>,
    },
    /// Stop reading from the connection until [`Output::ResumeReading`]: it publishes faster
    /// than one of its subscribers takes messages. Operations already read are still fed in.
    PauseReading(ConnId),
    /// Read from the connection again.
    ResumeReading(ConnId),
    /// Stop accepting connections (shutdown or lame duck mode).
    StopAccepting,
    /// Every connection is closed: the runtime finishes writing what `Close` handed it, then
    /// returns.
    Exit,
    /// Run `check` (a bcrypt comparison, slow by design) off the core's thread and answer
    /// with [`Input::PasswordChecked`]. The connection's reading is paused meanwhile.
    CheckPassword {
        /// The connection.
        conn: ConnId,
        /// The comparison.
        check: crate::auth::credentials::PasswordCheck,
    },
    /// Open a TCP connection to `address` (`host:port`; the runtime resolves names) for a
    /// route, then call [`Server::route_dialed`], or report [`Input::DialFailed`].
    Dial {
        /// Names the attempt in the answer.
        dial: crate::cluster::DialId,
        /// Where to connect.
        address: String,
    },
    /// Run a storage IO request on the file executor, in the order given, and answer with
    /// [`Input::IoDone`].
    Io(natrix_store::io::IoId, natrix_store::io::IoRequest),
    /// A line for the server log.
    Log {
        /// Severity.
        level: Level,
        /// The text after the level tag.
        message: String,
    },
}

/// Server-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages and bytes received from clients.
    pub inbound: Counters,
    /// Messages and bytes delivered to clients.
    pub outbound: Counters,
    /// Connections closed as slow consumers.
    pub slow_consumers: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections closed as stale (PINGs unanswered).
    pub stale_connections: u64,
}

/// How often the round trip is re-measured with a PING, even on a busy connection.
const RTT_MEASUREMENT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A connection's timers. Each has its deadline in the connection's own state (`ping_at`,
/// `write_check_at`, ...); [`Server::conn_timers`] indexes those deadlines across connections,
/// and an entry whose deadline has since moved is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ConnTimer {
    /// Send a PING (or find the connection stale).
    Ping,
    /// Check that writes progress within the write deadline.
    WriteCheck,
    /// Resume reading from a paused fast publisher.
    StallEnd,
    /// Close a connection that has not authenticated in time.
    AuthTimeout,
    /// Close a connection whose TLS handshake has not finished in time.
    TlsTimeout,
}

/// Which timer fires next: a connection's, or a server-wide one that its component owns
/// (lame duck mode's next batch: `Server::lame_duck_at`; route dials: `Cluster::timer_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Conn(ConnTimer, ConnId),
    LameDuck,
    Cluster,
}

impl Due {
    /// Order among timers due at the same instant (kept from when one heap held them all).
    fn rank(self) -> (u8, Option<ConnId>) {
        match self {
            Due::Conn(ConnTimer::Ping, id) => (0, Some(id)),
            Due::Conn(ConnTimer::WriteCheck, id) => (1, Some(id)),
            Due::Conn(ConnTimer::StallEnd, id) => (2, Some(id)),
            Due::LameDuck => (3, None),
            Due::Conn(ConnTimer::AuthTimeout, id) => (4, Some(id)),
            Due::Conn(ConnTimer::TlsTimeout, id) => (5, Some(id)),
            Due::Cluster => (6, None),
        }
    }
}

/// The broker core. See the crate docs for how to drive it.
pub struct Server {
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    pub(crate) server_id: String,
    pub(crate) conns: Slab<Conn>,
    /// Generation of each slot's current (or next) occupant.
    generations: Vec<u32>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) outputs: VecDeque<Output>,
    /// Connections' timer deadlines, earliest first (see [`ConnTimer`]).
    pub(crate) conn_timers: BinaryHeap<Reverse<(Instant, ConnTimer, ConnId)>>,
    next_cid: u64,
    pub(crate) now: Instant,
    pub(crate) shutting_down: bool,
    /// Lame duck mode: when the next batch of clients is closed.
    pub(crate) lame_duck_at: Option<Instant>,
    /// Lame duck mode: clients closed per batch.
    pub(crate) lame_duck_batch: usize,
    /// Lame duck mode: time between batches.
    pub(crate) lame_duck_interval: std::time::Duration,
    pub(crate) stats: Stats,
    /// Set while handling a read when a delivery found its subscriber far behind.
    pub(crate) stall_requested: bool,
    /// Compiled authentication settings.
    pub(crate) auth: crate::auth::Auth,
    /// The system account, unless disabled.
    pub(crate) system_account: Option<AccountId>,
    /// Recently closed connections, oldest first, for `/connz?state=closed`.
    pub(crate) closed: VecDeque<crate::conn::ClosedConn>,
    /// Messages internal subscriptions received, waiting for their component (`internal.rs`).
    pub(crate) internal: VecDeque<internal::InternalMessage>,
    /// Routes to other servers, when clustered.
    pub(crate) cluster: Option<Box<crate::cluster::Cluster>>,
    /// Open route connections (the rest of `conns` are clients).
    pub(crate) route_conns: usize,
}

impl Server {
    /// A server with `config`; nothing happens until the runtime feeds it inputs.
    pub(crate) fn new(config: Config) -> Self {
        let mut rng = Rng::new(config.seed);
        let server_id = new_server_id(&mut rng);
        let mut server = Server {
            config,
            rng,
            server_id,
            conns: Slab::new(),
            generations: Vec::new(),
            accounts: vec![Account::new(GLOBAL_ACCOUNT)],
            outputs: VecDeque::new(),
            conn_timers: BinaryHeap::new(),
            next_cid: 1,
            now: Instant::ZERO,
            shutting_down: false,
            lame_duck_at: None,
            lame_duck_batch: 1,
            lame_duck_interval: std::time::Duration::ZERO,
            stats: Stats::default(),
            stall_requested: false,
            auth: crate::auth::Auth::default(),
            system_account: None,
            closed: VecDeque::new(),
            internal: VecDeque::new(),
            cluster: None,
            route_conns: 0,
        };
        server.configure_security();
        server.configure_cluster();
        server
    }

    /// The account a connection belongs to, by name (monitoring and tests).
    pub fn account_of(&self, conn: ConnId) -> Option<&str> {
        let account = self.conn(conn)?.account;
        Some(&self.accounts[account.0 as usize].name)
    }

    /// The server's id, as INFO and monitoring show it.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The server's name: configured, or its id.
    pub fn server_name(&self) -> &str {
        self.config.server_name.as_deref().unwrap_or(&self.server_id)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Server-wide counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Open client connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len() - self.route_conns
    }

    /// Client connections (not routes).
    pub(crate) fn clients(&self) -> impl Iterator<Item = &Conn> {
        self.conns.iter().map(|(_, c)| c).filter(|c| c.route.is_none())
    }

    /// The cluster's name, when clustered.
    pub fn cluster_name(&self) -> Option<&str> {
        self.cluster.as_ref().map(|c| c.name.as_str())
    }

    /// Registered routes to other servers.
    pub fn route_count(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| c.routes.len())
    }

    /// Subscriptions across all accounts.
    pub fn subscription_count(&self) -> usize {
        self.accounts.iter().map(Account::visible_subs).sum()
    }

    /// Registers a connection the runtime accepted from `peer`, and returns its id. Like every
    /// input, it must be followed by draining [`Server::poll_output`].
    pub(crate) fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        self.begin_input(now);
        let id = self.new_conn(now, peer, false);
        // Until CONNECT arrives the ping timer runs at the full interval, as nats-server's does.
        let first_ping = now + self.config.ping_interval;
        if let Some(conn) = self.conn_mut(id) {
            conn.ping_at = first_ping;
        }
        self.conn_timers.push(Reverse((first_ping, ConnTimer::Ping, id)));
        self.debug(id, || "Client connection created".to_string());
        self.start_security(id);
        let Some(conn) = self.conn(id) else { return id };
        let (cid, nonce) = (conn.cid, conn.nonce.clone());
        let info = self.client_info(cid, peer, nonce.as_deref());
        if let Some(conn) = self.conn_mut(id) {
            conn.out.push_slice(&info);
        }
        self.signal_write(id);
        if self.shutting_down || self.lame_duck_at.is_some() {
            self.close(id, CloseReason::ServerShutdown, true);
        } else if self.connection_count() > self.config.max_connections {
            self.send_err(id, crate::proto::error::ERR_MAX_CONNECTIONS);
            self.close(id, CloseReason::MaxConnectionsExceeded, true);
        }
        id
    }

    /// A new connection's slot and state; a route gets the route parser and its own counter.
    pub(crate) fn new_conn(&mut self, now: Instant, peer: SocketAddr, route: bool) -> ConnId {
        let entry = self.conns.vacant_entry();
        let index = entry.key();
        if self.generations.len() <= index {
            self.generations.resize(index + 1, 0);
        }
        let id = ConnId {
            index: index as u32,
            generation: self.generations[index],
        };
        let cid = self.next_cid;
        self.next_cid += 1;
        entry.insert(Conn {
            id,
            cid,
            peer,
            account: AccountId(0),
            opts: ConnectOptions::default(),
            parser: Parser::new(ParserLimits {
                max_control_line: self.config.max_control_line,
                max_payload: self.config.max_payload,
                headers: route,
                route,
            }),
            subs: Default::default(),
            out: Outbound::default(),
            write_signaled: false,
            pings_out: 0,
            rtt_started: None,
            last_in: now,
            ping_at: now,
            write_check_at: None,
            last_write_progress: now,
            inbound: Counters::default(),
            outbound: Counters::default(),
            stalled_producers: Vec::new(),
            paused_until: None,
            authenticated: true,
            identity: crate::auth::Identity::Anonymous,
            perms: None,
            nonce: None,
            auth_deadline: None,
            cert: None,
            tls_deadline: None,
            pending_auth: None,
            held: Vec::new(),
            verified_hash: None,
            start: now,
            last_activity: now,
            rtt: None,
            tls: None,
            route: None,
        });
        if route {
            self.route_conns += 1;
        } else {
            self.stats.total_connections += 1;
        }
        id
    }

    /// Every way in starts here: the driver contract's single-mutation rule says the outputs
    /// of the previous input have all been taken. An input that arrives before that is a driver
    /// bug (outputs would be reordered or lost), caught in debug builds and tests.
    pub(crate) fn begin_input(&mut self, now: Instant) {
        debug_assert!(
            self.outputs.is_empty(),
            "driver contract broken: a new input arrived with {} outputs of the last one undrained (first: {:?})",
            self.outputs.len(),
            self.outputs.front()
        );
        self.now = now;
    }

    /// Feeds one observation to the core.
    pub(crate) fn handle(&mut self, now: Instant, input: Input) {
        self.begin_input(now);
        match input {
            Input::Received { conn, data } => self.on_received(conn, data),
            Input::Written { conn, bytes } => {
                if let Some(c) = self.conn_mut(conn) {
                    c.out.written(bytes);
                    c.last_write_progress = now;
                    self.on_drained(conn);
                }
            }
            Input::Closed { conn, reason } => self.close(conn, reason, false),
            Input::Shutdown => self.shutdown(),
            Input::Reload(config) => self.reload(*config),
            Input::LameDuck => self.enter_lame_duck(),
            Input::TlsEstablished { conn, cert, session } => self.on_tls_established(conn, cert, session),
            Input::TlsFailed { conn, error } => self.on_tls_failed(conn, &error),
            Input::PasswordChecked { conn, ok } => self.on_password_checked(conn, ok),
            // Monitoring's: the node hands it there.
            Input::ProcessStats(_) | Input::IoDone(_) => {}
            Input::DialFailed { dial, error } => self.on_dial_failed(dial, &error),
        }
        self.finish_input();
    }

    /// Every input ends here: interest changes go to the routes, and the state's invariants are
    /// checked (debug builds).
    pub(crate) fn finish_input(&mut self) {
        self.propagate_interest();
        self.check_invariants();
    }

    /// Closes every connection and asks the runtime to finish.
    pub(crate) fn shutdown(&mut self) {
        if !self.shutting_down {
            self.shutting_down = true;
            self.outputs.push_back(Output::StopAccepting);
        }
        let ids: Vec<ConnId> = self.conns.iter().map(|(_, c)| c.id).collect();
        for id in ids {
            self.close(id, CloseReason::ServerShutdown, true);
        }
        self.outputs.push_back(Output::Exit);
    }

    /// The next thing the runtime must do, until `None`. Drain this after every input.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Server::handle_timeout`] must next be called, if ever.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_due().map(|(at, _)| at)
    }

    /// The earliest timer of any component, and which it is.
    fn next_due(&self) -> Option<(Instant, Due)> {
        let conn = self
            .conn_timers
            .peek()
            .map(|Reverse((at, kind, id))| (*at, Due::Conn(*kind, *id)));
        let lame_duck = self.lame_duck_at.map(|at| (at, Due::LameDuck));
        let cluster = self
            .cluster
            .as_ref()
            .and_then(|c| c.timer_at)
            .map(|at| (at, Due::Cluster));
        [conn, lame_duck, cluster]
            .into_iter()
            .flatten()
            .min_by_key(|(at, due)| (*at, due.rank()))
    }

    /// Runs every timer due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.begin_input(now);
        while let Some((at, due)) = self.next_due() {
            if at > now {
                break;
            }
            match due {
                Due::LameDuck => self.lame_duck_step(),
                Due::Cluster => self.cluster_timer(),
                Due::Conn(kind, id) => {
                    self.conn_timers.pop();
                    self.conn_timer(kind, id, at);
                }
            }
        }
        self.finish_input();
    }

    /// Runs connection `id`'s timer `kind`, set for `at`, unless its deadline has moved since.
    fn conn_timer(&mut self, kind: ConnTimer, id: ConnId, at: Instant) {
        let Some(conn) = self.conn_mut(id) else { return };
        match kind {
            ConnTimer::Ping if conn.ping_at == at => self.ping_timer(id),
            ConnTimer::WriteCheck if conn.write_check_at == Some(at) => self.write_check(id),
            ConnTimer::StallEnd if conn.paused_until == Some(at) => self.resume_reading(id),
            ConnTimer::AuthTimeout if conn.auth_deadline == Some(at) && !conn.authenticated => self.auth_timeout(id),
            ConnTimer::TlsTimeout if conn.tls_deadline == Some(at) => self.tls_timeout(id),
            _ => {}
        }
    }

    /// Moves the bytes queued for `conn` into `out`; returns how many. The runtime reports them
    /// with [`Input::Written`] as they reach the socket.
    pub(crate) fn take_outbound(&mut self, conn: ConnId, out: &mut Vec<Bytes>) -> usize {
        match self.conn_mut(conn) {
            Some(c) => {
                c.write_signaled = false;
                c.out.take(out)
            }
            None => 0,
        }
    }

    pub(crate) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id.index as usize).filter(|c| c.id == id)
    }

    pub(crate) fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id.index as usize).filter(|c| c.id == id)
    }

    /// Emits `Output::Write` the first time bytes are queued since the runtime last took them,
    /// and starts watching the write deadline.
    pub(crate) fn signal_write(&mut self, id: ConnId) {
        let now = self.now;
        let deadline = self.config.write_deadline;
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.write_signaled || conn.out.queued() == 0 {
            return;
        }
        conn.write_signaled = true;
        let mut timer = None;
        if conn.write_check_at.is_none() {
            conn.last_write_progress = now;
            let at = now + deadline;
            conn.write_check_at = Some(at);
            timer = Some(at);
        }
        if let Some(at) = timer {
            self.conn_timers.push(Reverse((at, ConnTimer::WriteCheck, id)));
        }
        self.outputs.push_back(Output::Write(id));
    }

    /// Queues protocol bytes for a connection.
    pub(crate) fn send(&mut self, id: ConnId, bytes: &[u8]) {
        if let Some(conn) = self.conn_mut(id) {
            conn.out.push_slice(bytes);
            self.signal_write(id);
        }
    }

    /// Queues `-ERR '<text>'`.
    pub(crate) fn send_err(&mut self, id: ConnId, text: &str) {
        self.trace(id, || format!("->> [-ERR {text}]"));
        let mut line = bytes::BytesMut::with_capacity(text.len() + 9);
        encode::put_err(&mut line, text);
        self.send(id, &line);
    }

    /// Closes a connection: drops its subscriptions, forgets it, and tells the runtime.
    pub(crate) fn close(&mut self, id: ConnId, reason: CloseReason, flush: bool) {
        let Some(mut conn) = self.conn(id).is_some().then(|| self.conns.remove(id.index as usize)) else {
            return;
        };
        self.generations[id.index as usize] = id.generation.wrapping_add(1);
        for producer in std::mem::take(&mut conn.stalled_producers) {
            self.resume_reading(producer);
        }
        let account = &mut self.accounts[conn.account.0 as usize];
        for key in conn.subs.values() {
            account.unsubscribe(*key);
        }
        let mut bytes = Vec::new();
        if flush {
            conn.out.take(&mut bytes);
        }
        if conn.route.is_some() {
            self.route_conns -= 1;
            self.route_closed(&mut conn, reason);
            self.outputs.push_back(Output::Close {
                conn: id,
                reason,
                flush: bytes,
            });
            return;
        }
        let label = conn.label();
        self.log(Level::Debug, || format!("{label} - Client connection closed: {reason}"));
        if self.config.max_closed_clients > 0 {
            let account = &self.accounts[conn.account.0 as usize];
            let info = crate::conn::ClosedConn {
                cid: conn.cid,
                peer: conn.peer,
                account: account.name.clone(),
                opts: std::mem::take(&mut conn.opts),
                identity: conn.identity.clone(),
                inbound: conn.inbound,
                outbound: conn.outbound,
                pending: conn.out.pending(),
                start: conn.start,
                last_activity: conn.last_activity,
                stop: self.now,
                reason,
                rtt: conn.rtt,
                tls: conn.tls.take(),
            };
            if self.closed.len() >= self.config.max_closed_clients {
                self.closed.pop_front();
            }
            self.closed.push_back(info);
        }
        self.outputs.push_back(Output::Close {
            conn: id,
            reason,
            flush: bytes,
        });
    }

    pub(crate) fn on_received(&mut self, id: ConnId, data: Bytes) {
        let now = self.now;
        let Some(conn) = self.conn_mut(id) else { return };
        conn.last_activity = now;
        let route = conn.route.is_some();
        // Reads that were under way when an authentication check paused the connection wait
        // for its answer.
        if conn.pending_auth.is_some() {
            conn.held.push(data);
            return;
        }
        let mut parser = std::mem::take(&mut conn.parser);
        let mut pos = 0;
        loop {
            let op = match parser.next(&data, &mut pos) {
                Ok(Some(op)) => op,
                Ok(None) => break,
                Err(error) => {
                    self.protocol_error(id, error);
                    return;
                }
            };
            let new_limits = if route {
                self.process_route_op(id, op);
                None
            } else {
                self.process_op(id, op)
            };
            if self.conn(id).is_none() {
                self.stall_requested = false;
                return;
            }
            if let Some(limits) = new_limits {
                parser.set_limits(limits);
            }
            if let Some(conn) = self.conn_mut(id).filter(|c| c.pending_auth.is_some()) {
                if pos < data.len() {
                    conn.held.push(data.slice(pos..));
                }
                conn.parser = parser;
                self.outputs.push_back(Output::PauseReading(id));
                return;
            }
        }
        if let Some(conn) = self.conn_mut(id) {
            conn.parser = parser;
        }
        if std::mem::take(&mut self.stall_requested) {
            self.pause_reading(id);
        }
    }

    fn first_ping_delay(&mut self) -> std::time::Duration {
        // nats-server pings a new client early (at most 2s in) to measure its round trip,
        // jittered by up to 20% so many clients connecting at once do not ping in lockstep.
        let base = self.config.ping_interval.min(std::time::Duration::from_secs(2));
        let jitter_nanos = (base.as_nanos() / 5) as u64;
        let jitter = if jitter_nanos == 0 {
            0
        } else {
            self.rng.next_u64() % jitter_nanos
        };
        base + std::time::Duration::from_nanos(jitter)
    }

    /// Restarts the ping timer with the early first ping (on accept and on CONNECT).
    pub(crate) fn reset_first_ping(&mut self, id: ConnId) {
        let at = self.now + self.first_ping_delay();
        if let Some(conn) = self.conn_mut(id) {
            conn.ping_at = at;
            self.conn_timers.push(Reverse((at, ConnTimer::Ping, id)));
        }
    }

    fn ping_timer(&mut self, id: ConnId) {
        let now = self.now;
        let interval = self.config.ping_interval;
        let route_interval = self.route_ping_interval();
        let client_ping_max = self.config.ping_max;
        let route_ping_max = self.cluster.as_ref().map_or(client_ping_max, |c| c.ping_max);
        let Some(conn) = self.conn_mut(id) else { return };
        // Routes are always PINGed, at their own interval.
        let is_route = conn.route.is_some();
        let interval = if is_route { route_interval } else { interval };
        let ping_max = if is_route { route_ping_max } else { client_ping_max };
        let quiet = is_route || now.saturating_duration_since(conn.last_in) >= interval;
        let need_rtt = conn
            .rtt_started
            .is_none_or(|started| now.saturating_duration_since(started) > RTT_MEASUREMENT_INTERVAL);
        let mut stale = false;
        let mut ping = false;
        if quiet || need_rtt {
            if conn.pings_out + 1 > ping_max {
                stale = true;
            } else {
                conn.pings_out += 1;
                conn.rtt_started = Some(now);
                ping = true;
            }
        }
        if stale {
            self.stats.stale_connections += 1;
            let kind = if is_route { "Router" } else { "Client" };
            self.debug(id, || format!("Stale {kind} Connection - Closing"));
            self.send_err(id, crate::proto::error::ERR_STALE_CONNECTION);
            self.close(id, CloseReason::StaleConnection, true);
            return;
        }
        let at = now + interval;
        if let Some(conn) = self.conn_mut(id) {
            conn.ping_at = at;
        }
        self.conn_timers.push(Reverse((at, ConnTimer::Ping, id)));
        if ping {
            self.trace(id, || "->> PING".to_string());
            self.send(id, encode::PING);
        }
    }

    fn write_check(&mut self, id: ConnId) {
        let now = self.now;
        let deadline = self.config.write_deadline;
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.out.pending() == 0 {
            conn.write_check_at = None;
            return;
        }
        let stalled = now.saturating_duration_since(conn.last_write_progress);
        if stalled >= deadline {
            self.stats.slow_consumers += 1;
            self.log_conn(
                Level::Info,
                id,
                "Slow Consumer Detected: WriteDeadline exceeded".to_string(),
            );
            self.close(id, CloseReason::SlowConsumerWriteDeadline, false);
            return;
        }
        let at = conn.last_write_progress + deadline;
        conn.write_check_at = Some(at);
        self.conn_timers.push(Reverse((at, ConnTimer::WriteCheck, id)));
    }

    /// What every INFO this server sends says about it, clients' and routes' alike.
    pub(crate) fn base_info(&self) -> Info {
        Info {
            server_id: self.server_id.clone(),
            server_name: self.server_name().to_string(),
            version: COMPATIBLE_VERSION.to_string(),
            proto: 1,
            go: self.config.toolchain.clone(),
            headers: true,
            max_payload: self.config.max_payload,
            jetstream: self.config.jetstream.is_some(),
            ..Info::default()
        }
    }

    /// The INFO line for a client.
    pub(crate) fn client_info(&self, cid: u64, peer: SocketAddr, nonce: Option<&str>) -> Vec<u8> {
        let tls = self.config.tls.as_ref();
        let info = Info {
            host: self.config.host.clone(),
            port: self.config.port,
            auth_required: self.auth.advertises_auth(),
            tls_required: tls.is_some(),
            tls_verify: tls.is_some_and(|t| t.verifies_clients()),
            client_id: cid,
            client_ip: peer.ip().to_string(),
            nonce: nonce.unwrap_or_default().to_string(),
            ldm: self.lame_duck_at.is_some(),
            cluster: self.cluster.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            connect_urls: self.cluster_client_urls(),
            ..self.base_info()
        };
        encode::info_line(&info)
    }

    /// The accounts JetStream serves, with their names and limits: the global account (with
    /// no limits) when no accounts are configured, otherwise those whose configuration enables
    /// it (as nats-server).
    pub fn jetstream_accounts(&self) -> Vec<(AccountId, String, AccountLimits)> {
        let limits = |name: &str| {
            if self.config.accounts.is_empty() {
                (name == crate::ids::GLOBAL_ACCOUNT).then(AccountLimits::default)
            } else {
                self.config
                    .accounts
                    .iter()
                    .find(|spec| spec.name == name && spec.jetstream)
                    .map(|spec| spec.jetstream_limits)
            }
        };
        self.accounts
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(AccountId(*i as u32)) != self.system_account)
            .filter_map(|(i, account)| limits(&account.name).map(|l| (AccountId(i as u32), account.name.clone(), l)))
            .collect()
    }

    /// Every account but the system account.
    pub fn non_system_accounts(&self) -> Vec<AccountId> {
        (0..self.accounts.len() as u32)
            .map(AccountId)
            .filter(|id| Some(*id) != self.system_account)
            .collect()
    }

    /// Queues an output another component produced (JetStream's IO and log lines).
    pub(crate) fn emit(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// Emits a log line, building it only if its level is enabled.
    pub(crate) fn log(&mut self, level: Level, message: impl FnOnce() -> String) {
        let enabled = match level {
            Level::Debug => self.config.debug,
            Level::Trace => self.config.trace,
            _ => true,
        };
        if enabled {
            self.outputs.push_back(Output::Log {
                level,
                message: message(),
            });
        }
    }

    /// Emits a log line about a connection, prefixed the way nats-server prefixes them.
    pub(crate) fn log_conn(&mut self, level: Level, id: ConnId, message: String) {
        let label = self.conn(id).map(Conn::label).unwrap_or_default();
        self.log(level, || format!("{label} - {message}"));
    }

    pub(crate) fn debug(&mut self, id: ConnId, message: impl FnOnce() -> String) {
        if self.config.debug {
            self.log_conn(Level::Debug, id, message());
        }
    }

    pub(crate) fn trace(&mut self, id: ConnId, message: impl FnOnce() -> String) {
        if self.config.trace {
            self.log_conn(Level::Trace, id, message());
        }
    }
}

/// A random identifier of `len` base-62 characters (nats-server's nuid shape), such as a
/// made-up cluster name.
pub(crate) fn new_id(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| char::from(rng.alphanumeric())).collect()
}

/// A server id in the shape of a NATS server nkey: `N` and 55 base32 characters.
fn new_server_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::with_capacity(56);
    id.push('N');
    for _ in 0..55 {
        id.push(char::from(ALPHABET[rng.below(32)]));
    }
    id
}
