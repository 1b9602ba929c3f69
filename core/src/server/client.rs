//! Handling each client operation, with nats-server's replies, errors and close decisions.

use crate::account::Subscription;
use crate::conn::{CloseReason, ConnId};
use crate::proto::encode;
use crate::proto::error::{
    ERR_AUTHORIZATION_VIOLATION, ERR_INVALID_PROTOCOL, ERR_INVALID_SUBJECT, ERR_MAX_SUBSCRIPTIONS,
    ERR_NO_RESPONDERS_REQUIRES_HEADERS,
};
use crate::proto::json::ConnectError;
use crate::proto::{ClientOp, ParseError, ParserLimits};
use crate::server::security::AuthStep;
use crate::server::{Level, Server};

/// A queue group name reserved for the server's own use.
const SYSTEM_QUEUE: &[u8] = b"_sys_";

/// `bytes` in double quotes with Go's `%q` escaping, as nats-server quotes subjects in errors.
pub(crate) fn quoted(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A CONNECT's JSON with the values of its secrets replaced by `[REDACTED]`, as nats-server
/// traces it (`removeSecretsFromTrace`).
pub(crate) fn redact_secrets(json: &str) -> String {
    let mut out = json.to_string();
    for key in ["pass", "auth_token", "sig", "nkey"] {
        let needle = format!("\"{key}\"");
        let mut from = 0;
        while let Some(found) = out[from..].find(&needle) {
            let key_end = from + found + needle.len();
            let rest = &out[key_end..];
            let Some(colon) = rest
                .find(|c: char| !c.is_whitespace())
                .filter(|&i| rest[i..].starts_with(':'))
            else {
                from = key_end;
                continue;
            };
            let after = key_end + colon + 1;
            let value_start = after + out[after..].find(|c: char| !c.is_whitespace()).unwrap_or(0);
            if !out[value_start..].starts_with('"') {
                from = value_start;
                continue;
            }
            // Find the closing quote, skipping escapes (the text is the peer's: any bytes).
            let mut escaped = false;
            let mut end = out.len();
            for (i, c) in out[value_start + 1..].char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = value_start + 1 + i;
                        break;
                    }
                    _ => {}
                }
            }
            out.replace_range(value_start + 1..end, "[REDACTED]");
            from = (value_start + 12).min(out.len());
        }
    }
    out
}

/// The `-ERR` text for a refused subscription.
pub(crate) fn subscribe_violation_text(subject: &[u8], queue: Option<&[u8]>) -> String {
    match queue {
        Some(queue) => format!(
            "Permissions Violation for Subscription to {} using queue {}",
            quoted(subject),
            quoted(queue)
        ),
        None => format!("Permissions Violation for Subscription to {}", quoted(subject)),
    }
}

impl Server {
    /// Acts on one operation. Returns new parser limits when the operation changed them.
    pub(crate) fn process_op(&mut self, id: ConnId, op: ClientOp<'_>) -> Option<ParserLimits> {
        // Messages, interest changes and PINGs count as activity that makes our PING
        // unnecessary; a PONG does not (nats-server's lastIn).
        if matches!(
            op,
            ClientOp::Pub(_) | ClientOp::Sub { .. } | ClientOp::Unsub { .. } | ClientOp::Ping
        ) {
            let now = self.now;
            if let Some(conn) = self.conn_mut(id) {
                conn.last_in = now;
            }
        }
        // Until a client authenticates, only CONNECT is accepted (or the first operation makes
        // it the no_auth_user).
        if !matches!(op, ClientOp::Connect(_))
            && self.conn(id).is_some_and(|c| !c.authenticated)
            && !self.authenticate_implicitly(id)
        {
            return None;
        }
        match op {
            ClientOp::Pub(publish) => {
                self.on_publish(id, publish);
                None
            }
            ClientOp::Sub { subject, queue, sid } => {
                self.on_sub(id, subject, queue, sid);
                None
            }
            ClientOp::Unsub { sid, max } => {
                self.on_unsub(id, sid, max);
                None
            }
            ClientOp::Ping => {
                self.trace(id, || "<<- [PING]".to_string());
                self.trace(id, || "->> [PONG]".to_string());
                self.send(id, encode::PONG);
                None
            }
            ClientOp::Pong => {
                self.on_pong(id);
                None
            }
            ClientOp::Ok => None,
            ClientOp::Err(text) => {
                let text = String::from_utf8_lossy(text).into_owned();
                self.protocol_error(id, ParseError::ClientErr(text));
                None
            }
            ClientOp::Info(json) => {
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(json) {
                    self.protocol_error(id, ParseError::BadInfo(e.to_string()));
                }
                None
            }
            ClientOp::Connect(json) => self.on_connect(id, json),
            // The parser reads these on routes only.
            ClientOp::RouteSub { .. } | ClientOp::RouteUnsub { .. } | ClientOp::Routed(_) => None,
        }
    }

    /// PONG (from a client or a route): the PINGs are answered, and the round trip measured.
    pub(crate) fn on_pong(&mut self, id: ConnId) {
        self.trace(id, || "<<- [PONG]".to_string());
        let now = self.now;
        if let Some(conn) = self.conn_mut(id) {
            conn.pings_out = 0;
            if let Some(started) = conn.rtt_started {
                conn.rtt = Some(now.saturating_duration_since(started));
            }
        }
    }

    /// Answers a protocol violation as nats-server does: `-ERR` where it sends one, then close.
    pub(crate) fn protocol_error(&mut self, id: ConnId, error: ParseError) {
        let reason = match error {
            ParseError::MaxControlLine { .. } => CloseReason::MaxControlLineExceeded,
            ParseError::MaxPayload { .. } => CloseReason::MaxPayloadExceeded,
            ParseError::ClientErr(_) => CloseReason::ParseError,
            _ => CloseReason::ProtocolViolation,
        };
        self.log_conn(Level::Error, id, error.to_string());
        if let Some(text) = error.err_text() {
            self.send_err(id, text);
        }
        self.close(id, reason, true);
    }

    fn on_connect(&mut self, id: ConnId, json: &[u8]) -> Option<ParserLimits> {
        if self.config.trace {
            let shown = redact_secrets(&String::from_utf8_lossy(json));
            self.trace(id, || format!("<<- [CONNECT {shown}]"));
        }
        let conn = self.conn_mut(id)?;
        match conn.opts.apply(json) {
            Ok(()) => {}
            Err(ConnectError::Deprecated) => {
                self.log_conn(Level::Error, id, "authentication error".to_string());
                self.send_err(id, ERR_AUTHORIZATION_VIOLATION);
                self.close(id, CloseReason::AuthenticationViolation, true);
                return None;
            }
            Err(e) => {
                self.protocol_error(
                    id,
                    ParseError::Arguments {
                        op: "processConnect",
                        detail: "invalid JSON",
                        line: e.to_string(),
                    },
                );
                return None;
            }
        }
        let opts = conn.opts.clone();
        if !(0..=1).contains(&opts.protocol) {
            self.send_err(id, ERR_INVALID_PROTOCOL);
            self.close(id, CloseReason::BadClientProtocolVersion, true);
            return None;
        }
        if opts.no_responders && !opts.headers {
            self.send_err(id, ERR_NO_RESPONDERS_REQUIRES_HEADERS);
            self.close(id, CloseReason::NoRespondersRequiresHeaders, true);
            return None;
        }
        match self.authenticate(id) {
            AuthStep::Refused => return None,
            AuthStep::Done => self.connected(id, opts.verbose),
            // Finished when the runtime answers the password check.
            AuthStep::Pending => {}
        }
        let conn = self.conn(id)?;
        let mut limits = conn.parser.limits();
        // The parser is lent out while operations run, so read the limits from config.
        limits.max_control_line = self.config.max_control_line;
        limits.max_payload = self.config.max_payload;
        limits.headers = opts.headers;
        Some(limits)
    }

    /// A client finished CONNECT: the early RTT ping, and `+OK` if verbose.
    pub(crate) fn connected(&mut self, id: ConnId, verbose: bool) {
        self.reset_first_ping(id);
        if verbose {
            self.send_ok(id);
        }
    }

    pub(crate) fn send_ok(&mut self, id: ConnId) {
        self.trace(id, || "->> [OK]".to_string());
        self.send(id, encode::OK);
    }

    fn on_sub(&mut self, id: ConnId, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if self.config.trace {
            let args = [Some(subject), queue, Some(sid)]
                .iter()
                .flatten()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            self.trace(id, || format!("<<- [SUB {args}]"));
        }
        let max_subs = self.config.max_subscriptions;
        let Some(conn) = self.conn(id) else { return };
        let verbose = conn.opts.verbose;
        if max_subs > 0 && conn.subs.len() >= max_subs {
            self.log_conn(
                Level::Error,
                id,
                format!("Maximum Subscriptions Exceeded (max {max_subs})"),
            );
            self.send_err(id, ERR_MAX_SUBSCRIPTIONS);
            return;
        }
        if queue == Some(SYSTEM_QUEUE) {
            let text = format!(
                "Permissions Violation for Subscription to {} using queue {}",
                quoted(subject),
                quoted(SYSTEM_QUEUE)
            );
            self.log_conn(
                Level::Error,
                id,
                format!(
                    "Subscription Violation - Subject {}, Queue: {}, SID {}",
                    quoted(subject),
                    quoted(SYSTEM_QUEUE),
                    String::from_utf8_lossy(sid)
                ),
            );
            self.send_err(id, &text);
            return;
        }
        if let Some(conn) = self.conn_mut(id) {
            if let Some(perms) = conn.perms.as_mut() {
                if !perms.may_subscribe(subject, queue) {
                    let text = subscribe_violation_text(subject, queue);
                    let sid = String::from_utf8_lossy(sid);
                    let log = match queue {
                        Some(q) => format!(
                            "Subscription Violation - Subject {}, Queue: {}, SID {sid}",
                            quoted(subject),
                            quoted(q)
                        ),
                        None => format!("Subscription Violation - Subject {}, SID {sid}", quoted(subject)),
                    };
                    self.send_err(id, &text);
                    self.log_conn(Level::Error, id, log);
                    return;
                }
            }
        }
        let Some(conn) = self.conn(id) else { return };
        if conn.subs.contains_key(sid) {
            // nats-server keeps the first subscription with a sid and ignores the rest.
            if verbose {
                self.send_ok(id);
            }
            return;
        }
        let account = conn.account;
        let sub = Subscription {
            subscriber: crate::account::Subscriber::Client(id),
            sid: sid.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            max: None,
            delivered: 0,
        };
        match self.accounts[account.0 as usize].subscribe(sub) {
            Ok(key) => {
                if let Some(conn) = self.conn_mut(id) {
                    conn.subs.insert(sid.into(), key);
                }
                if verbose {
                    self.send_ok(id);
                }
            }
            Err(_) => self.send_err(id, ERR_INVALID_SUBJECT),
        }
    }

    fn on_unsub(&mut self, id: ConnId, sid: &[u8], max: Option<u64>) {
        if self.config.trace {
            let shown = String::from_utf8_lossy(sid).into_owned();
            self.trace(id, || match max {
                Some(max) => format!("<<- [UNSUB {shown} {max}]"),
                None => format!("<<- [UNSUB {shown}]"),
            });
        }
        let Some(conn) = self.conn(id) else { return };
        let verbose = conn.opts.verbose;
        let account = conn.account;
        let key = conn.subs.get(sid).copied();
        if let Some(key) = key {
            let acc = &mut self.accounts[account.0 as usize];
            let remove_now = match (max, acc.subs.get_mut(key.0 as usize)) {
                (Some(max), Some(sub)) if max > 0 && max > sub.delivered => {
                    sub.max = Some(max);
                    false
                }
                _ => true,
            };
            if remove_now {
                acc.unsubscribe(key);
                if let Some(conn) = self.conn_mut(id) {
                    conn.subs.remove(sid);
                }
            }
        }
        if verbose {
            self.send_ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn secrets_are_redacted_from_traces() {
        assert_eq!(
            redact_secrets(r#"{"user":"a","pass":"p\"w","auth_token": "t","verbose":false}"#),
            r#"{"user":"a","pass":"[REDACTED]","auth_token": "[REDACTED]","verbose":false}"#
        );
        assert_eq!(redact_secrets(r#"{"pass":1}"#), r#"{"pass":1}"#);
        assert_eq!(redact_secrets(r#"{"pass":"unterminated"#), r#"{"pass":"[REDACTED]"#);
        assert_eq!(redact_secrets("{\"pass\":\"\\é\"}"), r#"{"pass":"[REDACTED]"}"#);
        assert_eq!(redact_secrets(r#""pass""#), r#""pass""#);
    }
}
