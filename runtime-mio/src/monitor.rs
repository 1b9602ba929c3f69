//! Monitoring (HTTP) connections on the event loop: read a request head, have the core answer
//! it, write the answer, close. They live in their own slab; their tokens start at
//! [`MONITOR_BASE`] so they never meet a client connection's.

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use natrix_driver::http::{HttpSession, DEADLINE};
use slab::Slab;

/// The first token of monitoring connections.
pub(crate) const MONITOR_BASE: usize = usize::MAX / 2;

struct HttpConn {
    stream: TcpStream,
    session: HttpSession,
    deadline: std::time::Instant,
}

/// The monitoring listener and its connections.
pub(crate) struct Monitor {
    pub listener: TcpListener,
    conns: Slab<HttpConn>,
}

/// What the event loop must do for a monitoring connection.
pub(crate) enum Step {
    /// Nothing yet.
    Wait,
    /// The request head is complete: answer it with [`Monitor::respond`].
    Answer(usize, Vec<u8>),
}

impl Monitor {
    pub fn new(listener: TcpListener) -> Monitor {
        Monitor {
            listener,
            conns: Slab::new(),
        }
    }

    /// Accepts every waiting connection.
    pub fn accept(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let entry = self.conns.vacant_entry();
                    let token = Token(MONITOR_BASE + entry.key());
                    if registry.register(&mut stream, token, Interest::READABLE).is_ok() {
                        entry.insert(HttpConn {
                            stream,
                            session: HttpSession::default(),
                            deadline: std::time::Instant::now() + DEADLINE,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// Reads what a connection sent; says when its request is complete.
    pub fn readable(&mut self, registry: &Registry, key: usize) -> Step {
        let Some(conn) = self.conns.get_mut(key) else {
            return Step::Wait;
        };
        if conn.session.answered() {
            return Step::Wait;
        }
        let mut chunk = [0u8; 4096];
        loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => {
                    self.remove(registry, key);
                    return Step::Wait;
                }
                Ok(n) => {
                    if let Some(head) = conn.session.received(&chunk[..n]) {
                        return Step::Answer(key, head);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.remove(registry, key);
                    return Step::Wait;
                }
            }
        }
    }

    /// Starts writing the core's answer.
    pub fn respond(&mut self, registry: &Registry, key: usize, response: Vec<u8>) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.session.respond(response);
            let _ = registry.reregister(&mut conn.stream, Token(MONITOR_BASE + key), Interest::WRITABLE);
        }
        self.writable(registry, key);
    }

    /// Writes more of the answer; closes when it is all out.
    pub fn writable(&mut self, registry: &Registry, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !conn.session.answered() {
            return;
        }
        while !conn.session.unwritten().is_empty() {
            match conn.stream.write(conn.session.unwritten()) {
                Ok(0) => break,
                Ok(n) => conn.session.wrote(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.remove(registry, key);
    }

    /// Drops connections past their deadline.
    pub fn expire(&mut self, registry: &Registry) {
        let now = std::time::Instant::now();
        let late: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(k, _)| k)
            .collect();
        for key in late {
            self.remove(registry, key);
        }
    }

    /// The earliest deadline, for the poll timeout.
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        self.conns.iter().map(|(_, c)| c.deadline).min()
    }

    fn remove(&mut self, registry: &Registry, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = registry.deregister(&mut conn.stream);
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
