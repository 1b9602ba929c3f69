//! Protocol errors: what a peer did wrong, and what nats-server says about it.

use thiserror::Error;

/// A client protocol violation found while parsing. Every variant closes the connection; the
/// ones with [`ParseError::err_text`] first tell the client why with `-ERR`, the others close
/// silently as nats-server does (it only logs them).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// An operation name, or the bytes after a payload, are not the protocol.
    #[error("unknown protocol operation")]
    UnknownOperation,
    /// A control line's arguments are longer than `max_control_line`.
    #[error("maximum control line exceeded: {len} bytes, limit {max}")]
    MaxControlLine {
        /// Argument bytes seen so far.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A publish announced more bytes than `max_payload`.
    #[error("maximum payload exceeded: {size} vs {max}")]
    MaxPayload {
        /// The announced size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// An operation's arguments do not parse (wrong count, bad size).
    #[error("{op} parse error: {detail}: {line:?}")]
    Arguments {
        /// The operation, as nats-server names its handler (`processPub` ...).
        op: &'static str,
        /// What is wrong.
        detail: &'static str,
        /// The offending arguments, lossily decoded.
        line: String,
    },
    /// HPUB from a connection that did not announce `headers: true`.
    #[error("message headers not supported")]
    HeadersNotSupported,
    /// The client sent `-ERR`: nats-server logs it and closes.
    #[error("client error {0}")]
    ClientErr(String),
    /// The client sent an INFO that is not JSON.
    #[error("invalid INFO: {0}")]
    BadInfo(String),
}

impl ParseError {
    /// The `-ERR` text nats-server sends before closing, if it sends one.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOperation => Some(ERR_UNKNOWN_OPERATION),
            ParseError::MaxControlLine { .. } => Some(ERR_MAX_CONTROL_LINE),
            ParseError::MaxPayload { .. } => Some(ERR_MAX_PAYLOAD),
            ParseError::Arguments { .. }
            | ParseError::HeadersNotSupported
            | ParseError::ClientErr(_)
            | ParseError::BadInfo(_) => None,
        }
    }
}

/// Sent for an unknown or garbled operation; the connection closes.
pub const ERR_UNKNOWN_OPERATION: &str = "Unknown Protocol Operation";
/// Sent when a control line is too long; the connection closes.
pub const ERR_MAX_CONTROL_LINE: &str = "maximum control line exceeded";
/// Sent when a publish is larger than max_payload; the connection closes.
pub const ERR_MAX_PAYLOAD: &str = "Maximum Payload Violation";
/// Sent for a SUB with an invalid subject; the connection stays open.
pub const ERR_INVALID_SUBJECT: &str = "Invalid Subject";
/// Sent in pedantic mode for a publish to a wildcard or malformed subject; stays open.
pub const ERR_INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
/// Sent when a connection has more subscriptions than max_subscriptions; stays open.
pub const ERR_MAX_SUBSCRIPTIONS: &str = "maximum subscriptions exceeded";
/// Sent when the server already has max_connections clients; the connection closes.
pub const ERR_MAX_CONNECTIONS: &str = "maximum connections exceeded";
/// Sent when ping_max PINGs went unanswered; the connection closes.
pub const ERR_STALE_CONNECTION: &str = "Stale Connection";
/// Sent for a CONNECT whose protocol is not 0 or 1; the connection closes.
pub const ERR_INVALID_PROTOCOL: &str = "invalid client protocol";
/// Sent for a CONNECT asking for no_responders without headers; the connection closes.
pub const ERR_NO_RESPONDERS_REQUIRES_HEADERS: &str = "no responders requires headers support";
/// Sent when a client fails authentication; the connection closes.
pub const ERR_AUTHORIZATION_VIOLATION: &str = "Authorization Violation";
/// Sent when a client does not authenticate within the auth timeout; the connection closes.
pub const ERR_AUTHENTICATION_TIMEOUT: &str = "Authentication Timeout";
