//! Per-connection state.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use crate::auth::permissions::ClientPermissions;
use crate::auth::{CertIdentity, Identity};
use crate::ids::{AccountId, SubKey};
use crate::outbound::Outbound;
use crate::proto::{ConnectOptions, Parser};
use crate::time::Instant;

pub use crate::ids::ConnId;

/// Why a connection closed; the texts are nats-server's, as monitoring shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed the socket.
    ClientClosed,
    /// Reading from the socket failed.
    ReadError,
    /// Writing to the socket failed.
    WriteError,
    /// The client broke the protocol.
    ProtocolViolation,
    /// The client sent `-ERR`.
    ParseError,
    /// More than max_pending bytes were waiting for the client.
    SlowConsumerPendingBytes,
    /// Writes made no progress for write_deadline.
    SlowConsumerWriteDeadline,
    /// PINGs went unanswered.
    StaleConnection,
    /// The client published more than max_payload.
    MaxPayloadExceeded,
    /// A control line was longer than max_control_line.
    MaxControlLineExceeded,
    /// The server already had max_connections clients.
    MaxConnectionsExceeded,
    /// CONNECT asked for an unknown protocol version.
    BadClientProtocolVersion,
    /// CONNECT asked for no_responders without headers.
    NoRespondersRequiresHeaders,
    /// The client failed authentication.
    AuthenticationViolation,
    /// The client did not authenticate within the auth timeout.
    AuthenticationTimeout,
    /// The TLS handshake failed or timed out.
    TlsHandshakeError,
    /// The server is shutting down.
    ServerShutdown,
    /// A route led back to this server, or was removed.
    RouteRemoved,
    /// A second route to a server that already had one.
    DuplicateRoute,
    /// The route's cluster name differs from ours.
    ClusterNameConflict,
}

impl CloseReason {
    /// nats-server's name for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::ParseError => "Parse Error",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::RouteRemoved => "Route Removed",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Message and byte counters for one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages.
    pub msgs: u64,
    /// Payload bytes (headers included).
    pub bytes: u64,
}

/// One client connection.
pub(crate) struct Conn {
    pub id: ConnId,
    /// The id clients and monitoring see (`client_id`, `cid`), unique for the server's life.
    pub cid: u64,
    pub peer: SocketAddr,
    pub account: AccountId,
    pub opts: ConnectOptions,
    pub parser: Parser,
    /// Subscriptions by the client's sid, ordered so cleanup is deterministic.
    pub subs: BTreeMap<Box<[u8]>, SubKey>,
    pub out: Outbound,
    /// An `Output::Write` is outstanding: the runtime will take the queue.
    pub write_signaled: bool,
    pub pings_out: u32,
    /// When we last sent a PING to measure the round trip; the first timer firing always
    /// PINGs, and so does one an hour after the last measurement (nats-server's needRTT).
    pub rtt_started: Option<Instant>,
    pub last_in: Instant,
    /// When the ping timer fires next.
    pub ping_at: Instant,
    /// When to check that writes made progress, while bytes are pending.
    pub write_check_at: Option<Instant>,
    /// When the runtime last reported bytes written (or when bytes started pending).
    pub last_write_progress: Instant,
    pub inbound: Counters,
    pub outbound: Counters,
    /// Publishers paused because this connection fell behind; resumed when it catches up.
    pub stalled_producers: Vec<ConnId>,
    /// While this connection's reading is paused: when the pause ends at the latest.
    pub paused_until: Option<Instant>,
    /// The client has authenticated (or no authentication is required).
    pub authenticated: bool,
    /// Who the client authenticated as.
    pub identity: Identity,
    /// What the client may publish and subscribe to, when restricted.
    pub perms: Option<Box<ClientPermissions>>,
    /// The challenge INFO sent, when nkey users are configured.
    pub nonce: Option<String>,
    /// When the client must have authenticated by.
    pub auth_deadline: Option<Instant>,
    /// The client's verified TLS certificate, once the handshake is done.
    pub cert: Option<CertIdentity>,
    /// The TLS handshake must complete by then (TLS connections only).
    pub tls_deadline: Option<Instant>,
    /// A CONNECT waiting for the runtime's password check; reading is paused meanwhile.
    pub pending_auth: Option<Box<PendingAuth>>,
    /// Bytes that arrived after that CONNECT, handled once the check is answered.
    pub held: Vec<bytes::Bytes>,
    /// When the connection was accepted.
    pub start: Instant,
    /// When the client last sent or was sent something.
    pub last_activity: Instant,
    /// The last measured round trip (server PING to client PONG).
    pub rtt: Option<std::time::Duration>,
    /// The TLS protocol and cipher suite, once the handshake is done.
    pub tls: Option<SessionInfo>,
    /// The bcrypt hash this client's password was checked against (a reload that keeps the
    /// hash need not check again).
    pub verified_hash: Option<String>,
    /// Set when the connection is a route to another server.
    pub route: Option<Box<crate::cluster::RouteState>>,
}

/// What the server remembers of a client connection after it closed, for monitoring
/// (`/connz?state=closed`): the figures as they stood at the close.
#[derive(Debug, Clone)]
pub struct ClosedConn {
    /// The id clients and monitoring saw.
    pub cid: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The account's name.
    pub account: String,
    /// What the client said in CONNECT.
    pub opts: ConnectOptions,
    /// Who it authenticated as.
    pub identity: Identity,
    /// Messages and bytes from the client.
    pub inbound: Counters,
    /// Messages and bytes to the client.
    pub outbound: Counters,
    /// Bytes still queued for it at the close.
    pub pending: usize,
    /// When it was accepted.
    pub start: Instant,
    /// When it last sent or was sent something.
    pub last_activity: Instant,
    /// When it closed.
    pub stop: Instant,
    /// Why.
    pub reason: CloseReason,
    /// The last measured round trip.
    pub rtt: Option<std::time::Duration>,
    /// The TLS session, if any.
    pub tls: Option<SessionInfo>,
}

/// A CONNECT whose password is being checked.
pub(crate) struct PendingAuth {
    pub then: crate::auth::Authenticated,
    pub refused: crate::auth::Refused,
    pub hash: String,
}

impl Conn {
    /// The prefix nats-server puts on a connection's log lines: `ip:port - cid:N`.
    /// After CONNECT it adds `"v<version>:<lang>:<name>"`, leaving out empty parts.
    pub fn label(&self) -> String {
        if self.route.is_some() {
            return format!("{} - rid:{}", self.peer, self.cid);
        }
        let mut parts = Vec::new();
        if !self.opts.version.is_empty() {
            parts.push(format!("v{}", self.opts.version));
        }
        for part in [&self.opts.lang, &self.opts.name] {
            if !part.is_empty() {
                parts.push(part.clone());
            }
        }
        if parts.is_empty() {
            format!("{} - cid:{}", self.peer, self.cid)
        } else {
            format!("{} - cid:{} - \"{}\"", self.peer, self.cid, parts.join(":"))
        }
    }
}

/// The negotiated protocol and cipher suite, as nats-server's `/connz` names them (`1.3`,
/// `TLS_AES_128_GCM_SHA256`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// `1.2` or `1.3`.
    pub version: String,
    /// The cipher suite's IANA name.
    pub cipher_suite: String,
}
