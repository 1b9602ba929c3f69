//! One monitoring (HTTP) connection, without its socket: the request head as it arrives, then
//! the core's complete response as it is written. The runtime reads and writes; the core
//! answers (`Node::monitor`); every connection closes after one answer, as nats-server's
//! monitoring endpoints are used.

use std::time::Duration;

/// How long a monitoring client has to send its request and take the answer.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A monitoring connection's progress.
#[derive(Debug, Default)]
pub struct HttpSession {
    head: Vec<u8>,
    response: Option<(Vec<u8>, usize)>,
}

impl HttpSession {
    /// Bytes the client sent. Returns the request head once it is complete, or once it can no
    /// longer be (malformed): either way the core answers it.
    pub fn received(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        if self.response.is_some() {
            return None;
        }
        self.head.extend_from_slice(bytes);
        match natrix_core::monitor::http::parse(&self.head) {
            Ok(None) => None,
            _ => Some(std::mem::take(&mut self.head)),
        }
    }

    /// Whether the request is answered and the answer is being written.
    pub fn answered(&self) -> bool {
        self.response.is_some()
    }

    /// The core's answer, to write.
    pub fn respond(&mut self, response: Vec<u8>) {
        self.response = Some((response, 0));
    }

    /// What is left of the answer to write.
    pub fn unwritten(&self) -> &[u8] {
        self.response.as_ref().map_or(&[], |(r, written)| &r[*written..])
    }

    /// Records that `n` more bytes of the answer were written.
    pub fn wrote(&mut self, n: usize) {
        if let Some((response, written)) = self.response.as_mut() {
            *written = (*written + n).min(response.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_in_pieces_then_an_answer_in_pieces() {
        let mut session = HttpSession::default();
        assert_eq!(session.received(b"GET /varz HTTP/1.1\r\nHost: x\r\n"), None);
        let head = session.received(b"\r\n").expect("complete");
        assert!(head.starts_with(b"GET /varz"));
        session.respond(b"HTTP/1.1 200 OK\r\n\r\n{}".to_vec());
        assert!(session.answered());
        session.wrote(4);
        assert_eq!(session.unwritten(), b"/1.1 200 OK\r\n\r\n{}");
        session.wrote(100);
        assert!(session.unwritten().is_empty());
        assert_eq!(session.received(b"more"), None, "one answer per connection");
    }

    #[test]
    fn garbage_is_answered_too() {
        let mut session = HttpSession::default();
        assert!(session.received(b"\x00\x01 nonsense\r\n\r\n").is_some());
    }
}
