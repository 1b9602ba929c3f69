//! # natrix-mio: the Natrix core on a single-threaded mio event loop
//!
//! One thread owns the [`natrix_core::Node`], the listening socket and every connection. Each
//! turn of the loop waits in `epoll` (through mio) until a socket is ready, a core timer is due,
//! or another thread wakes it (a stop request); it then reads what is ready, feeds the core,
//! drains the core's outputs (the driver contract in `natrix_core`'s docs), and writes what the
//! core queued. There are no channels, tasks or locks between reading a publish and writing the
//! deliveries it produced.
//!
//! - Connections live in a `Slab`; a connection's mio `Token` is its slab key.
//! - Reads are edge-triggered: a ready socket is read until `WouldBlock`, but at most
//!   [`READ_BUDGET`] bytes per turn, so one busy publisher cannot starve the others; a socket
//!   with budget left over is revisited on the next turn without waiting.
//! - Writes are optimistic and vectored: queued chunks are written as soon as the core produces
//!   them; only when the socket would block is write interest registered, and it is dropped again
//!   once the queue is empty.
//! - The core's timers become the `poll` timeout.
//! - Accepting pauses when the process is out of file descriptors, or when far more sockets are
//!   open than `max_connections` allows, and resumes as connections close.

mod conn;
mod monitor;

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use natrix_core::auth::credentials::PasswordCheck;
use natrix_core::cluster::DialId;
use natrix_core::{CloseReason, ConnId, Input, Instant, Level, LogSink, Node};
use natrix_driver::io::{DIAL_TIMEOUT, SHUTDOWN_FLUSH};
use natrix_driver::tls::{TlsAcceptor, TlsStart};
use natrix_driver::{ConnTable, Runtime};
use slab::Slab;

use conn::{Conn, ReadEnd, ReadEvent};

/// Bytes read from one connection in one turn of the loop before moving on to the others.
pub const READ_BUDGET: usize = 256 * 1024;
/// Sockets tolerated beyond `max_connections` (so a rejected client still gets nats-server's
/// `maximum connections exceeded` error) before accepting pauses.
const ACCEPT_SLACK: usize = 64;
/// How long to stop accepting after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const MONITOR_LISTENER: Token = Token(usize::MAX - 3);
const CLUSTER_LISTENER: Token = Token(usize::MAX - 4);

/// A route dial to an address that connected: the stream, the peer's address and ours.
type Dialed = (
    natrix_core::cluster::DialId,
    String,
    std::net::TcpStream,
    SocketAddr,
    SocketAddr,
);

/// The route listener, and TLS for every route (accepted and dialed) when configured.
pub struct ClusterListener {
    /// Where routes are accepted.
    pub listener: std::net::TcpListener,
    /// The cluster block's `tls`.
    pub tls: Option<natrix_driver::tls::RouteTls>,
}

/// What a server listens on and keeps besides its core.
pub struct Listeners {
    /// Clients.
    pub client: std::net::TcpListener,
    /// The monitoring endpoints, when enabled.
    pub monitor: Option<std::net::TcpListener>,
    /// Routes, when clustered.
    pub cluster: Option<ClusterListener>,
    /// JetStream's file executor, when enabled (started, the node's recovery run).
    pub storage: Option<natrix_driver::Storage>,
}

/// Hands operator inputs (`Shutdown`, `Reload`, `LameDuck`) to a running event loop from any
/// thread.
#[derive(Clone)]
pub struct Controller {
    waker: Arc<Waker>,
    commands: mpsc::Sender<Input>,
}

impl Controller {
    /// Queues `input` for the core and wakes the loop.
    pub fn send(&self, input: Input) {
        if self.commands.send(input).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// A server ready to run on the current thread.
pub struct EventLoop {
    poll: Poll,
    /// Dropped (closing the socket) when the core stops accepting.
    listener: Option<TcpListener>,
    server: Node,
    log: LogSink,
    origin: std::time::Instant,
    conns: Slab<Conn>,
    /// Slab key of each core connection, by `ConnId::index`.
    tokens: ConnTable<usize>,
    /// Connections that may have more to read (budget ran out, or reading resumed).
    readable: Vec<usize>,
    /// Core connections with bytes to take.
    dirty: Vec<ConnId>,
    /// Connections the core closed that are still writing their last bytes, with the time
    /// after which they are dropped anyway (a peer that stopped reading must not keep them).
    closing: Vec<(usize, ConnId, std::time::Instant)>,
    /// TLS clients in `handshake_first` auto mode whose wait for a first byte ends then.
    deciding: Vec<(usize, ConnId, std::time::Instant)>,
    accepting: bool,
    accept_again_at: Option<std::time::Instant>,
    /// The core asked to stop accepting for good (shutdown, lame duck mode).
    listening: bool,
    /// The core asked the loop to finish.
    exit: bool,
    commands: mpsc::Receiver<Input>,
    command_sender: mpsc::Sender<Input>,
    waker: Arc<Waker>,
    chunks: Vec<Bytes>,
    /// Client TLS, when configured.
    tls: Option<TlsAcceptor>,
    /// The monitoring listener and its connections, when configured.
    monitor: Option<monitor::Monitor>,
    /// The route listener, when clustered.
    cluster: Option<TcpListener>,
    /// TLS for routes.
    route_tls: Option<natrix_driver::tls::RouteTls>,
    /// Route dials that connected (worker threads dial, then wake the loop).
    dialed: mpsc::Receiver<Dialed>,
    dialed_sender: mpsc::Sender<Dialed>,
    /// JetStream's file executor, when enabled; completions come as commands.
    storage: Option<natrix_driver::Storage>,
}

impl EventLoop {
    /// Prepares to serve `server` on `listener` (which must be non-blocking).
    pub fn new(listeners: Listeners, server: Node, log: LogSink, tls: Option<TlsAcceptor>) -> io::Result<EventLoop> {
        let Listeners {
            client: listener,
            monitor,
            cluster,
            storage,
        } = listeners;
        let (cluster, route_tls) = match cluster {
            Some(c) => (Some(c.listener), c.tls),
            None => (None, None),
        };
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let monitor = match monitor {
            Some(monitor) => {
                monitor.set_nonblocking(true)?;
                let mut monitor = TcpListener::from_std(monitor);
                poll.registry()
                    .register(&mut monitor, MONITOR_LISTENER, Interest::READABLE)?;
                Some(monitor::Monitor::new(monitor))
            }
            None => None,
        };
        let cluster = match cluster {
            Some(cluster) => {
                cluster.set_nonblocking(true)?;
                let mut cluster = TcpListener::from_std(cluster);
                poll.registry()
                    .register(&mut cluster, CLUSTER_LISTENER, Interest::READABLE)?;
                Some(cluster)
            }
            None => None,
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (command_sender, commands) = mpsc::channel();
        let (dialed_sender, dialed) = mpsc::channel();
        let mut storage = storage;
        if let Some(storage) = storage.as_mut() {
            let controller = Controller {
                waker: Arc::clone(&waker),
                commands: command_sender.clone(),
            };
            storage.forward(move |completion| controller.send(Input::IoDone(completion)))?;
        }
        Ok(EventLoop {
            poll,
            listener: Some(listener),
            server,
            log,
            origin: std::time::Instant::now(),
            conns: Slab::new(),
            tokens: ConnTable::default(),
            readable: Vec::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
            deciding: Vec::new(),
            accepting: true,
            accept_again_at: None,
            listening: true,
            exit: false,
            commands,
            command_sender,
            waker,
            chunks: Vec::new(),
            tls,
            monitor,
            cluster,
            route_tls,
            dialed,
            dialed_sender,
            storage,
        })
    }

    /// A handle that feeds operator inputs to the loop from another thread.
    pub fn controller(&self) -> Controller {
        Controller {
            waker: Arc::clone(&self.waker),
            commands: self.command_sender.clone(),
        }
    }

    /// Runs until the core says to exit (after `Input::Shutdown` through a [`Controller`], or at
    /// the end of lame duck mode), then finishes writing what closing connections still hold.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.exit {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => self.take_commands(),
                    CLUSTER_LISTENER => self.accept_routes(),
                    MONITOR_LISTENER => {
                        if let Some(monitor) = self.monitor.as_mut() {
                            monitor.accept(self.poll.registry());
                        }
                    }
                    Token(key) if key >= monitor::MONITOR_BASE => self.monitor_event(
                        key - monitor::MONITOR_BASE,
                        event.is_readable() || event.is_read_closed(),
                        event.is_writable(),
                    ),
                    Token(key) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.readable.push(key);
                        }
                        if event.is_writable() {
                            self.write_key(key);
                        }
                    }
                }
            }
            self.read_ready();
            self.run_timers();
            self.flush_dirty();
        }
        self.finish();
        Ok(())
    }

    /// A monitoring connection is ready: read its request, answer it, or write the answer.
    fn monitor_event(&mut self, key: usize, readable: bool, writable: bool) {
        let Some(monitor) = self.monitor.as_mut() else { return };
        let registry = self.poll.registry();
        if writable {
            monitor.writable(registry, key);
        }
        if readable {
            if let monitor::Step::Answer(key, head) = monitor.readable(registry, key) {
                let now = self.now();
                let response = self.server.monitor(now, &head);
                if let Some(monitor) = self.monitor.as_mut() {
                    monitor.respond(self.poll.registry(), key, response);
                }
                self.drain();
            }
        }
    }

    fn take_commands(&mut self) {
        while let Ok(input) = self.commands.try_recv() {
            let now = self.now();
            self.server.handle(now, input);
            self.drain();
        }
        while let Ok((dial, address, stream, peer, local)) = self.dialed.try_recv() {
            let now = self.now();
            let dialed = self.server.route_dialed(now, dial, peer, local);
            let Some(id) = dialed else {
                self.drain();
                continue;
            };
            let made = self.route_tls.as_ref().map(|tls| tls.client_session(&address));
            let Ok(session) = self.session_or_fail(id, made, TlsStart::HandshakeFirst) else {
                continue;
            };
            let stream = stream
                .set_nonblocking(true)
                .map(|()| mio::net::TcpStream::from_std(stream));
            match stream {
                Ok(stream) => self.register(id, stream, session),
                Err(_) => self.abandon(id),
            }
        }
    }

    /// Routes from other servers, on the cluster port.
    fn accept_routes(&mut self) {
        loop {
            let Some(listener) = self.cluster.as_ref() else { return };
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    let now = self.now();
                    let id = self.server.accept_route(now, peer, local);
                    let made = self.route_tls.as_ref().map(|tls| tls.acceptor.session());
                    let Ok(session) = self.session_or_fail(id, made, TlsStart::HandshakeFirst) else {
                        continue;
                    };
                    self.register(id, stream, session);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    (self.log)(Level::Error, &format!("Temporary Route Accept Error ({e})"));
                    return;
                }
            }
        }
    }

    /// The TLS session a new connection needs (`made`, when TLS is on), with whether its
    /// handshake comes first. A session that cannot be made fails the connection's handshake:
    /// the core logs it and closes the connection, and the caller drops the socket.
    fn session_or_fail<S: Into<natrix_driver::tls::rustls::Connection>>(
        &mut self,
        id: ConnId,
        made: Option<Result<S, natrix_driver::tls::rustls::Error>>,
        start: TlsStart,
    ) -> Result<Option<(natrix_driver::tls::rustls::Connection, TlsStart)>, ()> {
        match made {
            Some(Ok(session)) => Ok(Some((session.into(), start))),
            Some(Err(e)) => {
                // The arrival's outputs first (the single-mutation rule).
                self.drain();
                let now = self.now();
                let error = e.to_string();
                self.server.handle(now, Input::TlsFailed { conn: id, error });
                self.drain();
                Err(())
            }
            None => Ok(None),
        }
    }

    /// The core's connection `id` has no usable socket: tell the core it is gone.
    fn abandon(&mut self, id: ConnId) {
        self.drain();
        let now = self.now();
        let reason = CloseReason::ReadError;
        self.server.handle(now, Input::Closed { conn: id, reason });
        self.drain();
    }

    /// Registers connection `id`'s socket with the loop and drains what its arrival produced.
    fn register(
        &mut self,
        id: ConnId,
        stream: mio::net::TcpStream,
        session: Option<(natrix_driver::tls::rustls::Connection, TlsStart)>,
    ) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let mut conn = Conn::new(id, stream, session);
        if let Some(at) = conn.deciding_until() {
            self.deciding.push((key, id, at));
        }
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut conn.stream, Token(key), Interest::READABLE)
        {
            (self.log)(Level::Error, &format!("Error registering connection: {e}"));
            self.abandon(id);
            return;
        }
        entry.insert(conn);
        self.tokens.insert(id, key);
        // Data may already be waiting; edge-triggered readiness would not say so.
        self.readable.push(key);
        self.drain();
    }

    fn stop_listening(&mut self) {
        if self.listening {
            self.listening = false;
            self.accepting = false;
            self.accept_again_at = None;
            if let Some(mut listener) = self.listener.take() {
                let _ = self.poll.registry().deregister(&mut listener);
            }
        }
    }

    /// How long `poll` may wait: until the next core timer or accept retry, or not at all when a
    /// connection still has readable data.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.readable.is_empty() {
            return Some(Duration::ZERO);
        }
        let now = self.origin.elapsed();
        let timer = self
            .server
            .poll_timeout()
            .map(|at| Duration::from_nanos(at.as_nanos()).saturating_sub(now));
        let wall = std::time::Instant::now();
        let retry = self.accept_again_at.map(|at| at.saturating_duration_since(wall));
        let give_up = self
            .closing
            .iter()
            .map(|(_, _, at)| at.saturating_duration_since(wall))
            .min();
        let monitor = self
            .monitor
            .as_ref()
            .and_then(monitor::Monitor::next_deadline)
            .map(|at| at.saturating_duration_since(wall));
        let deciding = self
            .deciding
            .iter()
            .map(|(_, _, at)| at.saturating_duration_since(wall))
            .min();
        [timer, retry, give_up, monitor, deciding].into_iter().flatten().min()
    }

    fn run_timers(&mut self) {
        if let Some(monitor) = self.monitor.as_mut() {
            monitor.expire(self.poll.registry());
        }
        let wall = std::time::Instant::now();
        for (key, id) in take_due(&mut self.closing, wall) {
            if self.conns.get(key).is_some_and(|c| c.id == id) {
                self.remove(key);
            }
        }
        for (key, id) in take_due(&mut self.deciding, wall) {
            if let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) {
                conn.fall_back();
                self.write_key(key);
            }
        }
        if let Some(at) = self.accept_again_at {
            if std::time::Instant::now() >= at {
                self.accept_again_at = None;
                self.accepting = true;
                self.accept();
            }
        }
        let now = self.now();
        if self.server.poll_timeout().is_some_and(|at| at <= now) {
            self.server.handle_timeout(now);
            self.drain();
        }
    }

    fn accept(&mut self) {
        while self.accepting && self.listening {
            if self.conns.len() >= self.server.config().max_connections.saturating_add(ACCEPT_SLACK) {
                // Resumed when a connection closes.
                self.accepting = false;
                return;
            }
            let Some(listener) = self.listener.as_ref() else { return };
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let now = self.now();
                    let id = self.server.accept(now, peer);
                    let start = self.tls.as_ref().map_or(TlsStart::InfoFirst, TlsAcceptor::start);
                    let made = self.tls.as_ref().map(|acceptor| acceptor.session());
                    let Ok(session) = self.session_or_fail(id, made, start) else {
                        continue;
                    };
                    self.register(id, stream, session);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    (self.log)(
                        Level::Error,
                        &format!("Temporary Client Accept Error ({e}), sleeping 10ms"),
                    );
                    self.accepting = false;
                    self.accept_again_at = Some(std::time::Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn key_of(&self, id: ConnId) -> Option<usize> {
        self.tokens.get(id).copied()
    }

    /// Reads every connection marked readable, up to its budget.
    fn read_ready(&mut self) {
        let mut ready = std::mem::take(&mut self.readable);
        ready.sort_unstable();
        ready.dedup();
        for key in ready {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if conn.closing || conn.paused {
                continue;
            }
            let id = conn.id;
            let mut budget = READ_BUDGET;
            // The slot is checked by id each time: handling a read can close this connection and
            // (by resuming accepting) give its slot to a new one.
            while let Some(conn) = self
                .conns
                .get_mut(key)
                .filter(|c| c.id == id && !c.paused && !c.closing)
            {
                let result = conn.read();
                // A TLS read may leave handshake records to send.
                if conn.wants_write() {
                    self.write_key(key);
                }
                match result {
                    Ok(ReadEvent::Data(data)) => {
                        budget = budget.saturating_sub(data.len());
                        let now = self.now();
                        self.server.handle(now, Input::Received { conn: id, data });
                        self.drain();
                        if budget == 0 {
                            self.readable.push(key);
                            break;
                        }
                    }
                    Ok(ReadEvent::Secured(cert, session)) => {
                        let now = self.now();
                        self.server.handle(
                            now,
                            Input::TlsEstablished {
                                conn: id,
                                cert,
                                session,
                            },
                        );
                        self.drain();
                    }
                    Ok(ReadEvent::WouldBlock) => break,
                    Err(end) => {
                        let now = self.now();
                        let input = match end {
                            ReadEnd::Closed(reason) => Input::Closed { conn: id, reason },
                            ReadEnd::TlsFailed(error) => Input::TlsFailed { conn: id, error },
                        };
                        self.server.handle(now, input);
                        self.drain();
                        break;
                    }
                }
            }
        }
    }

    /// Takes what the core queued for each signalled connection and writes it.
    fn flush_dirty(&mut self) {
        while !self.dirty.is_empty() {
            let dirty = std::mem::take(&mut self.dirty);
            for id in dirty {
                let Some(key) = self.key_of(id) else { continue };
                let mut chunks = std::mem::take(&mut self.chunks);
                if self.server.take_outbound(id, &mut chunks) > 0 {
                    if let Some(conn) = self.conns.get_mut(key) {
                        conn.queue(chunks.drain(..));
                    }
                    self.write_key(key);
                }
                chunks.clear();
                self.chunks = chunks;
            }
        }
    }

    /// Writes what a connection has queued, reports progress to the core, and keeps write
    /// interest registered exactly while bytes remain.
    fn write_key(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let result = conn.write();
        let id = conn.id;
        let closing = conn.closing;
        match result {
            Ok(written) => {
                if written > 0 && !closing {
                    let now = self.now();
                    self.server.handle(
                        now,
                        Input::Written {
                            conn: id,
                            bytes: written,
                        },
                    );
                    self.drain();
                }
                let Some(conn) = self.conns.get_mut(key) else { return };
                if conn.is_empty() && conn.closing {
                    self.remove(key);
                    return;
                }
                // A TLS connection reads nothing until its plaintext INFO is out, and its
                // readiness edge may have passed meanwhile.
                if conn.is_tls() && !conn.closing {
                    self.readable.push(key);
                }
                let want = !conn.is_empty();
                if want != conn.write_interest {
                    conn.write_interest = want;
                    let interest = if want {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    let _ = self.poll.registry().reregister(&mut conn.stream, Token(key), interest);
                }
            }
            Err(_) => {
                if closing {
                    self.remove(key);
                } else {
                    let now = self.now();
                    self.server.handle(
                        now,
                        Input::Closed {
                            conn: id,
                            reason: CloseReason::WriteError,
                        },
                    );
                    self.drain();
                }
            }
        }
    }

    /// Deregisters and drops a connection's socket.
    fn remove(&mut self, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
            self.tokens.remove(conn.id);
        }
        if !self.accepting && self.listening && self.accept_again_at.is_none() {
            self.accepting = true;
            self.accept();
        }
    }

    /// Acts on every output of the last input.
    fn drain(&mut self) {
        natrix_driver::drain(self);
    }

    /// Gives closing connections a little time to take their last bytes.
    fn finish(&mut self) {
        self.stop_listening();
        let deadline = std::time::Instant::now() + SHUTDOWN_FLUSH;
        let mut events = Events::with_capacity(256);
        while !self.conns.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || self.poll.poll(&mut events, Some(left)).is_err() {
                break;
            }
            for event in events.iter() {
                let Token(key) = event.token();
                if event.is_writable() && key != LISTENER.0 && key != WAKER.0 {
                    self.write_key(key);
                }
            }
        }
    }
}

impl Runtime for EventLoop {
    fn server(&mut self) -> &mut Node {
        &mut self.server
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }

    fn write(&mut self, conn: ConnId) {
        self.dirty.push(conn);
    }

    fn close(&mut self, id: ConnId, reason: CloseReason, flush: Vec<Bytes>) {
        let Some(key) = self.tokens.remove(id) else { return };
        if natrix_driver::abandons(reason) {
            self.remove(key);
            return;
        }
        if let Some(conn) = self.conns.get_mut(key) {
            conn.closing = true;
            conn.queue(flush);
        }
        let give_up = std::time::Instant::now() + self.server.config().write_deadline;
        // Entries for connections that finish normally expire harmlessly.
        self.closing.push((key, id, give_up));
        self.write_key(key);
    }

    fn pause_reading(&mut self, id: ConnId, paused: bool) {
        let Some(key) = self.key_of(id) else { return };
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.paused = paused;
        if !paused {
            self.readable.push(key);
        }
    }

    fn stop_accepting(&mut self) {
        self.stop_listening();
    }

    fn exit(&mut self) {
        self.exit = true;
    }

    fn log(&mut self, level: Level, message: &str) {
        (self.log)(level, message);
    }

    fn dial(&mut self, dial: DialId, address: String) -> Result<(), String> {
        // A worker thread dials (and resolves the name), then wakes the loop.
        let controller = self.controller();
        let dialed = self.dialed_sender.clone();
        std::thread::Builder::new()
            .name("route-dial".to_string())
            .spawn(move || match dial_route(&address) {
                Ok((stream, peer, local)) => {
                    if dialed.send((dial, address, stream, peer, local)).is_ok() {
                        let _ = controller.waker.wake();
                    }
                }
                Err(e) => controller.send(Input::DialFailed {
                    dial,
                    error: e.to_string(),
                }),
            })
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn io(&mut self, id: natrix_store::io::IoId, request: natrix_store::io::IoRequest) {
        if let Some(storage) = self.storage.as_mut() {
            storage.submit(id, request);
        }
    }

    fn take_io_done(&mut self) -> Option<natrix_store::io::IoCompletion> {
        self.storage.as_mut()?.take_done()
    }

    fn check_password(&mut self, conn: ConnId, check: PasswordCheck) -> Result<(), String> {
        // bcrypt is slow by design: a worker thread runs it and wakes the loop.
        let controller = self.controller();
        std::thread::Builder::new()
            .name("password-check".to_string())
            .spawn(move || controller.send(Input::PasswordChecked { conn, ok: check.run() }))
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Runs `server` on `listener` on the current thread until the core exits; `on_start` gets the
/// [`Controller`] that feeds it operator inputs.
pub fn serve(
    listeners: Listeners,
    server: Node,
    log: LogSink,
    tls: Option<TlsAcceptor>,
    on_start: impl FnOnce(Controller),
) -> io::Result<()> {
    let event_loop = EventLoop::new(listeners, server, log, tls)?;
    on_start(event_loop.controller());
    event_loop.run()
}

/// Connects to `address` (`host:port`, resolved here) within [`DIAL_TIMEOUT`].
fn dial_route(address: &str) -> io::Result<(std::net::TcpStream, SocketAddr, SocketAddr)> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for {address}"));
    for addr in address.to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let local = stream.local_addr()?;
                return Ok((stream, addr, local));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Removes the entries of a deadline list that are due at `wall` and returns their connections.
fn take_due(list: &mut Vec<(usize, ConnId, std::time::Instant)>, wall: std::time::Instant) -> Vec<(usize, ConnId)> {
    let due = list
        .iter()
        .filter(|(_, _, at)| *at <= wall)
        .map(|(key, id, _)| (*key, *id))
        .collect();
    list.retain(|(_, _, at)| *at > wall);
    due
}
