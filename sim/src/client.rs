//! A small NATS client over turmoil's simulated TCP (async-nats binds tokio's own sockets, so it
//! cannot run inside the simulator). It writes client operations with the core's encoder and
//! reads what the server sends.

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use natrix_core::proto::OwnedOp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;

/// The port the simulated server listens on.
pub const PORT: u16 = 4222;

/// What the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// A delivery.
    Msg {
        /// Its subject.
        subject: String,
        /// The subscription it is for.
        sid: u32,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// A delivery with headers (a no-responders status is one).
    HMsg {
        /// Its subject.
        subject: String,
        /// The subscription it is for.
        sid: u32,
        /// The header block, status line first.
        headers: Vec<u8>,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// The server's keep-alive.
    Ping,
    /// The answer to our PING.
    Pong,
    /// INFO, +OK: nothing to act on.
    Other,
    /// `-ERR`.
    Err(String),
}

/// A connection to the simulated server.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Client {
    /// Connects (giving up after a second), reads INFO and sends CONNECT.
    pub async fn connect(host: &str) -> io::Result<Client> {
        Client::connect_with(
            host,
            r#"{"verbose":false,"pedantic":false,"protocol":1,"headers":true}"#,
        )
        .await
    }

    /// Connects like [`Client::connect`], sending `connect` as CONNECT's JSON (credentials,
    /// `no_responders`).
    pub async fn connect_with(host: &str, connect: &str) -> io::Result<Client> {
        let stream = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((host, PORT)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let mut client = Client {
            stream,
            buf: BytesMut::with_capacity(4096),
        };
        match tokio::time::timeout(Duration::from_secs(2), client.next()).await {
            Ok(Ok(ServerOp::Other)) => {}
            Ok(Ok(op)) => return Err(broken(&format!("expected INFO, got {op:?}"))),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no INFO")),
        }
        client.send(&OwnedOp::Connect(connect.as_bytes().to_vec())).await?;
        Ok(client)
    }

    /// Writes one operation.
    pub async fn send(&mut self, op: &OwnedOp) -> io::Result<()> {
        let mut out = BytesMut::new();
        op.encode(&mut out);
        self.stream.write_all(&out).await
    }

    /// Sends several operations in one write, so the server sees them in one read (a SUB and
    /// its `UNSUB max` must not be split: a message delivered in between counts towards max).
    pub async fn send_all(&mut self, ops: &[OwnedOp]) -> io::Result<()> {
        let mut out = BytesMut::new();
        for op in ops {
            op.encode(&mut out);
        }
        self.stream.write_all(&out).await
    }

    /// Sends PING and waits (up to `wait`) for the PONG; deliveries that arrive meanwhile are
    /// returned. Server PINGs are answered.
    pub async fn round_trip(&mut self, wait: Duration) -> io::Result<Vec<ServerOp>> {
        self.send(&OwnedOp::Ping).await?;
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no PONG")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(ServerOp::Pong)) => return Ok(seen),
                Ok(Ok(ServerOp::Ping)) => self.send(&OwnedOp::Pong).await?,
                Ok(Ok(ServerOp::Err(e))) => return Err(broken(&e)),
                Ok(Ok(op)) => seen.push(op),
            }
        }
    }

    /// The next operation from the server.
    pub async fn next(&mut self) -> io::Result<ServerOp> {
        loop {
            if let Some(op) = self.parse()? {
                return Ok(op);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed"));
            }
        }
    }

    fn parse(&mut self) -> io::Result<Option<ServerOp>> {
        let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let mut args = line.split_whitespace();
        let op = match args.next().unwrap_or("") {
            "MSG" => {
                let args: Vec<&str> = args.collect();
                let (subject, sid, size) = match args.as_slice() {
                    [subject, sid, size] | [subject, sid, _, size] => (*subject, *sid, *size),
                    _ => return Err(broken(&line)),
                };
                let sid = sid.parse().map_err(|_| broken(&line))?;
                let size: usize = size.parse().map_err(|_| broken(&line))?;
                if self.buf.len() < end + 2 + size + 2 {
                    return Ok(None);
                }
                let payload = self.buf[end + 2..end + 2 + size].to_vec();
                if &self.buf[end + 2 + size..end + 4 + size] != b"\r\n" {
                    return Err(broken("payload not followed by CRLF"));
                }
                self.buf.advance(end + 4 + size);
                return Ok(Some(ServerOp::Msg {
                    subject: subject.to_string(),
                    sid,
                    payload,
                }));
            }
            "HMSG" => {
                let args: Vec<&str> = args.collect();
                let (subject, sid, header_len, size) = match args.as_slice() {
                    [subject, sid, h, size] | [subject, sid, _, h, size] => (*subject, *sid, *h, *size),
                    _ => return Err(broken(&line)),
                };
                let sid = sid.parse().map_err(|_| broken(&line))?;
                let header_len: usize = header_len.parse().map_err(|_| broken(&line))?;
                let size: usize = size.parse().map_err(|_| broken(&line))?;
                if header_len > size {
                    return Err(broken(&line));
                }
                if self.buf.len() < end + 2 + size + 2 {
                    return Ok(None);
                }
                let body = &self.buf[end + 2..end + 2 + size];
                let (headers, payload) = (body[..header_len].to_vec(), body[header_len..].to_vec());
                if &self.buf[end + 2 + size..end + 4 + size] != b"\r\n" {
                    return Err(broken("payload not followed by CRLF"));
                }
                self.buf.advance(end + 4 + size);
                return Ok(Some(ServerOp::HMsg {
                    subject: subject.to_string(),
                    sid,
                    headers,
                    payload,
                }));
            }
            "PING" => ServerOp::Ping,
            "PONG" => ServerOp::Pong,
            "INFO" | "+OK" => ServerOp::Other,
            "-ERR" => ServerOp::Err(line.clone()),
            _ => return Err(broken(&line)),
        };
        self.buf.advance(end + 2);
        Ok(Some(op))
    }
}
