//! # natrix-tokio: the Natrix core driven by tokio
//!
//! One task owns the [`natrix_core::Node`] and is the only thing that touches it. It accepts
//! connections, feeds the core every event, drains the core's outputs after each one (the
//! driver contract in `natrix_core`'s docs), and runs its timers. Each connection has a reader
//! task, which hands every read to the core task whole, and a writer task, which writes what
//! the core queued with vectored writes and reports progress back. Time is tokio's clock, so a
//! simulator that controls tokio's clock controls the server's. The binary runs all of this on
//! a current-thread runtime, so these hops are wake-ups on one thread, never hand-offs between
//! threads.
//!
//! The network is the [`net::Listener`] trait, implemented here for tokio's TCP listener and
//! by the simulator for its own.

pub mod net;

mod conn;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use natrix_core::auth::credentials::PasswordCheck;
use natrix_core::cluster::DialId;
use natrix_core::{CloseReason, Config, ConnId, Input, Instant, Level, Node};
use natrix_driver::io::{DIAL_TIMEOUT, SHUTDOWN_FLUSH};
use natrix_driver::{ConnTable, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use conn::WriterCommand;
pub use natrix_driver::tls::TlsAcceptor;
pub use net::Listener;

pub use natrix_core::LogSink;

/// Events that connection tasks send to the core task.
pub(crate) enum Event {
    Received(ConnId, Bytes),
    Written(ConnId, usize),
    Closed(ConnId, CloseReason),
    /// The TLS handshake completed, with the client's certificate identity.
    Secured(
        ConnId,
        Option<natrix_core::auth::CertIdentity>,
        natrix_core::conn::SessionInfo,
    ),
    /// The TLS handshake failed, and why.
    TlsFailed(ConnId, String),
    /// A password check finished.
    PasswordChecked(ConnId, bool),
    /// A monitoring request's head, and where its HTTP response goes.
    Monitor(Vec<u8>, tokio::sync::oneshot::Sender<Vec<u8>>),
    /// A route dial to an address connected: the stream, the peer's address and ours.
    Dialed(
        DialId,
        String,
        Box<dyn RouteStream>,
        std::net::SocketAddr,
        std::net::SocketAddr,
    ),
    /// A route dial failed.
    DialFailed(DialId, String),
    /// A storage request finished.
    Io(natrix_store::io::IoCompletion),
}

/// A route's stream, whatever the network type behind it.
pub(crate) trait RouteStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> RouteStream for S {}

/// The sockets a server listens on.
pub struct Listeners<L> {
    /// Clients.
    pub client: L,
    /// The monitoring endpoints, when enabled.
    pub monitor: Option<L>,
    /// Routes from other servers, when clustered.
    pub cluster: Option<L>,
    /// TLS for routes, both accepted and dialed (the cluster block's `tls`).
    pub cluster_tls: Option<natrix_driver::tls::RouteTls>,
    /// JetStream's file executor, when JetStream is enabled (started, and the node's
    /// recovery run through it).
    pub storage: Option<natrix_driver::Storage>,
}

/// How a connection's bytes are protected.
enum Secure {
    Plain,
    /// TLS, this server's side of the handshake.
    Server(TlsAcceptor),
    /// TLS, as the dialing side of a route to `address`.
    Client(Arc<natrix_driver::tls::rustls::ClientConfig>, String),
}

/// Events the core task takes in one go before writing what they produced.
const EVENT_BATCH: usize = 1024;
/// Capacity of the channel to the core task; a full channel pushes back on readers, and so
/// on publishers' sockets.
const EVENT_QUEUE: usize = 4096;

struct Handle {
    /// Read credits (see `conn::READ_CREDITS`).
    credits: Arc<tokio::sync::Semaphore>,
    /// The core asked to stop reading: credits are withheld until it resumes.
    paused: bool,
    withheld: usize,
    writer: mpsc::UnboundedSender<WriterCommand>,
    writer_task: JoinHandle<()>,
    /// A TLS connection reads in its writer's task: there is no separate reader.
    reader_task: Option<JoinHandle<()>>,
    /// A TLS connection still in its handshake, whose task is not yet listening for commands.
    handshaking: bool,
}

/// The core task's state besides the server itself.
struct Driver<L: Listener> {
    server: Node,
    origin: tokio::time::Instant,
    conns: ConnTable<Handle>,
    /// Connections with bytes to take, collected while a batch of events is handled.
    dirty: Vec<ConnId>,
    closing: Vec<JoinHandle<()>>,
    /// The core asked to stop accepting.
    accepting: bool,
    /// The core asked the runtime to finish.
    exit: bool,
    log: LogSink,
    events: mpsc::Sender<Event>,
    write_deadline: Duration,
    /// Client TLS, when configured.
    tls: Option<TlsAcceptor>,
    /// Route TLS, when configured.
    route_tls: Option<natrix_driver::tls::RouteTls>,
    /// JetStream's file executor.
    storage: Option<natrix_driver::Storage>,
    _net: std::marker::PhantomData<fn() -> L>,
}

impl<L: Listener> Driver<L> {
    /// Takes every output of the last input (the driver contract's single-mutation rule).
    fn drain(&mut self) {
        natrix_driver::drain(self);
    }

    fn handle(&mut self, event: Event) {
        let now = self.now();
        let (input, read_from) = match event {
            Event::Monitor(head, reply) => {
                let response = self.server.monitor(now, &head);
                self.drain();
                let _ = reply.send(response);
                return;
            }
            Event::Received(conn, data) => (Input::Received { conn, data }, Some(conn)),
            Event::Written(conn, bytes) => (Input::Written { conn, bytes }, None),
            Event::Closed(conn, reason) => (Input::Closed { conn, reason }, None),
            Event::Secured(conn, cert, session) => {
                if let Some(handle) = self.handle_of(conn) {
                    handle.handshaking = false;
                }
                (Input::TlsEstablished { conn, cert, session }, None)
            }
            Event::TlsFailed(conn, error) => (Input::TlsFailed { conn, error }, None),
            Event::PasswordChecked(conn, ok) => (Input::PasswordChecked { conn, ok }, None),
            Event::DialFailed(dial, error) => (Input::DialFailed { dial, error }, None),
            Event::Io(completion) => (Input::IoDone(completion), None),
            Event::Dialed(dial, address, stream, peer, local) => {
                if let Some(id) = self.server.route_dialed(now, dial, peer, local) {
                    let secure = match &self.route_tls {
                        Some(tls) => Secure::Client(Arc::clone(&tls.connector), address),
                        None => Secure::Plain,
                    };
                    self.attach(id, stream, secure);
                }
                self.drain();
                return;
            }
        };
        self.server.handle(now, input);
        self.drain();
        // The read is handled: give its credit back, unless the connection is paused.
        if let Some(handle) = read_from.and_then(|id| self.handle_of(id)) {
            if handle.paused {
                handle.withheld += 1;
            } else {
                handle.credits.add_permits(1);
            }
        }
    }

    fn accept<S>(&mut self, stream: S, peer: std::net::SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let now = self.now();
        let id = self.server.accept(now, peer);
        let secure = self.tls.clone().map_or(Secure::Plain, Secure::Server);
        self.attach(id, stream, secure);
    }

    /// A route accepted on the cluster port.
    fn accept_route(&mut self, stream: L::Stream, peer: std::net::SocketAddr) {
        let now = self.now();
        let local = L::stream_local_addr(&stream).unwrap_or(peer);
        let id = self.server.accept_route(now, peer, local);
        let secure = self
            .route_tls
            .as_ref()
            .map_or(Secure::Plain, |tls| Secure::Server(tls.acceptor.clone()));
        self.attach(id, stream, secure);
    }

    /// Starts the tasks of connection `id`, then drains what its arrival produced.
    fn attach<S>(&mut self, id: ConnId, stream: S, secure: Secure)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let credits = Arc::new(tokio::sync::Semaphore::new(conn::READ_CREDITS));
        let (events, close_timeout) = (self.events.clone(), self.write_deadline);
        let task = |commands| conn::TlsTask {
            id,
            commands,
            events: events.clone(),
            credits: Arc::clone(&credits),
            close_timeout,
        };
        let (writer_task, reader_task) = match secure {
            Secure::Server(acceptor) => (
                tokio::spawn(conn::tls_connection(stream, acceptor, task(command_rx))),
                None,
            ),
            Secure::Client(config, address) => match natrix_driver::tls::server_name(&address) {
                Ok(name) => (
                    tokio::spawn(conn::tls_client_connection(stream, config, name, task(command_rx))),
                    None,
                ),
                Err(e) => {
                    // The arrival's outputs first (the single-mutation rule).
                    self.drain();
                    let now = self.now();
                    let error = e.to_string();
                    self.server.handle(now, Input::TlsFailed { conn: id, error });
                    self.drain();
                    return;
                }
            },
            Secure::Plain => {
                let (reader, writer) = tokio::io::split(stream);
                let writer_task = tokio::spawn(conn::write_loop(
                    id,
                    writer,
                    command_rx,
                    self.events.clone(),
                    self.write_deadline,
                ));
                let reader_task = tokio::spawn(conn::read_loop(id, reader, self.events.clone(), Arc::clone(&credits)));
                (writer_task, Some(reader_task))
            }
        };
        self.conns.insert(
            id,
            Handle {
                credits,
                paused: false,
                withheld: 0,
                writer: commands,
                writer_task,
                handshaking: reader_task.is_none(),
                reader_task,
            },
        );
        self.drain();
    }

    fn handle_of(&mut self, id: ConnId) -> Option<&mut Handle> {
        self.conns.get_mut(id)
    }

    /// Hands every connection's queued bytes to its writer.
    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for id in &dirty {
            let mut chunks = Vec::new();
            if self.server.take_outbound(*id, &mut chunks) == 0 {
                continue;
            }
            if let Some(handle) = self.handle_of(*id) {
                let _ = handle.writer.send(WriterCommand::Data(chunks));
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }
}

impl<L: Listener> Runtime for Driver<L> {
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
        let Some(handle) = self.conns.remove(id) else { return };
        if let Some(reader) = &handle.reader_task {
            reader.abort();
        }
        // A connection still in its TLS handshake is dropped too: there is nothing to say to it.
        if natrix_driver::abandons(reason) || handle.handshaking {
            handle.writer_task.abort();
        } else {
            let _ = handle.writer.send(WriterCommand::Close(flush));
            self.closing.retain(|task| !task.is_finished());
            self.closing.push(handle.writer_task);
        }
    }

    fn pause_reading(&mut self, conn: ConnId, paused: bool) {
        let Some(handle) = self.handle_of(conn) else { return };
        handle.paused = paused;
        if !paused {
            handle.credits.add_permits(std::mem::take(&mut handle.withheld));
        }
    }

    fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    fn exit(&mut self) {
        self.exit = true;
    }

    fn log(&mut self, level: Level, message: &str) {
        (self.log)(level, message);
    }

    fn dial(&mut self, dial: DialId, address: String) -> Result<(), String> {
        let events = self.events.clone();
        tokio::spawn(async move {
            let event = match tokio::time::timeout(DIAL_TIMEOUT, L::connect(address.clone())).await {
                Ok(Ok((stream, peer, local))) => Event::Dialed(dial, address, Box::new(stream), peer, local),
                Ok(Err(e)) => Event::DialFailed(dial, e.to_string()),
                Err(_) => Event::DialFailed(dial, "i/o timeout".to_string()),
            };
            let _ = events.send(event).await;
        });
        Ok(())
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
        // bcrypt is slow by design: run it on the blocking pool, not the core task.
        let events = self.events.clone();
        tokio::spawn(async move {
            let ok = tokio::task::spawn_blocking(move || check.run()).await.unwrap_or(false);
            let _ = events.send(Event::PasswordChecked(conn, ok)).await;
        });
        Ok(())
    }
}

/// Runs a server with `config` on `listener` until `shutdown` completes, then closes every
/// connection after flushing what is queued for it.
pub async fn serve<L: Listener>(
    listener: L,
    config: Config,
    log: LogSink,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (control, commands) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        shutdown.await;
        let _ = control.send(Input::Shutdown);
    });
    let listeners = Listeners {
        client: listener,
        monitor: None,
        cluster: None,
        cluster_tls: None,
        storage: None,
    };
    serve_server(listeners, Node::new(config), log, commands, None).await
}

/// Runs `server` on `listener`, feeding it the operator inputs (`Shutdown`, `Reload`,
/// `LameDuck`) that arrive on `commands`, until the core says to exit. With `tls`, every
/// client connection is TLS; with `monitor`, that listener serves the monitoring endpoints.
pub async fn serve_server<L: Listener>(
    listeners: Listeners<L>,
    server: Node,
    log: LogSink,
    commands: mpsc::UnboundedReceiver<Input>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    serve_observed(listeners, server, log, commands, tls, |_| {}).await
}

/// Like [`serve_server`], calling `observe` with the core after every turn of the loop (the
/// simulator reads connection and subscription counts this way).
pub async fn serve_observed<L: Listener>(
    listeners: Listeners<L>,
    server: Node,
    log: LogSink,
    mut commands: mpsc::UnboundedReceiver<Input>,
    tls: Option<TlsAcceptor>,
    mut observe: impl FnMut(&Node),
) -> io::Result<()> {
    let (events, mut event_rx) = mpsc::channel(EVENT_QUEUE);
    let write_deadline = server.config().write_deadline;
    let mut storage = listeners.storage;
    if let Some(storage) = storage.as_mut() {
        let completions = events.clone();
        storage.forward(move |completion| {
            // The loop is gone once it stops: nothing waits for the completion then.
            let _ = completions.blocking_send(Event::Io(completion));
        })?;
    }
    let mut driver: Driver<L> = Driver {
        server,
        origin: tokio::time::Instant::now(),
        conns: ConnTable::default(),
        dirty: Vec::new(),
        closing: Vec::new(),
        accepting: true,
        exit: false,
        log,
        events,
        write_deadline,
        tls,
        route_tls: listeners.cluster_tls,
        storage,
        _net: std::marker::PhantomData,
    };
    let mut listener = Some(listeners.client);
    let mut monitor = listeners.monitor;
    let mut cluster = listeners.cluster;
    while !driver.exit {
        if !driver.accepting {
            // Closing the listening socket makes new clients go elsewhere at once.
            listener = None;
        }
        let timeout = driver.server.poll_timeout();
        let sleep_until = timeout.map(|at| driver.origin + Duration::from_nanos(at.as_nanos()));
        tokio::select! {
            biased;
            command = commands.recv() => {
                // A dropped control handle means nobody can stop us any more: stop now.
                let input = command.unwrap_or(Input::Shutdown);
                let now = driver.now();
                driver.server.handle(now, input);
                driver.drain();
            }
            Some(event) = event_rx.recv() => {
                driver.handle(event);
                for _ in 1..EVENT_BATCH {
                    match event_rx.try_recv() {
                        Ok(event) => driver.handle(event),
                        Err(_) => break,
                    }
                }
            }
            accepted = accept(monitor.as_mut()) => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(conn::monitor_connection(stream, driver.events.clone()));
                }
            }
            accepted = accept(cluster.as_mut()) => match accepted {
                Ok((stream, peer)) => driver.accept_route(stream, peer),
                Err(e) => {
                    (driver.log)(Level::Error, &format!("Temporary Route Accept Error ({e}), sleeping 10ms"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            accepted = accept(listener.as_mut()) => match accepted {
                Ok((stream, peer)) => driver.accept(stream, peer),
                Err(e) => {
                    (driver.log)(Level::Error, &format!("Temporary Client Accept Error ({e}), sleeping 10ms"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = sleep_opt(sleep_until) => {
                let now = driver.now();
                driver.server.handle_timeout(now);
                driver.drain();
            }
        }
        driver.flush_dirty();
        observe(&driver.server);
    }
    let closing = std::mem::take(&mut driver.closing);
    let _ = tokio::time::timeout(SHUTDOWN_FLUSH, async {
        for task in closing {
            let _ = task.await;
        }
    })
    .await;
    Ok(())
}

async fn accept<L: Listener>(listener: Option<&mut L>) -> io::Result<(L::Stream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(until: Option<tokio::time::Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
