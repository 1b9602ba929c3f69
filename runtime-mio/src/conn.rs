//! One connection's socket and the bytes waiting to be written to it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use bytes::{Bytes, BytesMut};
use mio::net::TcpStream;
use natrix_core::auth::CertIdentity;
use natrix_core::read_size::ReadSizer;
use natrix_core::{CloseReason, ConnId};
use natrix_driver::io::{advance, io_slices};
use natrix_driver::tls::rustls::Connection;
use natrix_driver::tls::TlsStart;

/// What one call to [`Conn::read`] produced.
pub(crate) enum ReadEvent {
    /// Plaintext for the core.
    Data(Bytes),
    /// The TLS handshake just completed.
    Secured(Option<CertIdentity>, natrix_core::conn::SessionInfo),
    /// Nothing more until the socket is readable again.
    WouldBlock,
}

/// Why reading ended.
pub(crate) enum ReadEnd {
    /// The connection is over.
    Closed(CloseReason),
    /// The TLS handshake failed, with nats-server's description.
    TlsFailed(String),
}

/// A TLS connection's session.
struct Tls {
    session: Box<Connection>,
    /// Bytes to write in plaintext before any TLS record: INFO, which the client reads before
    /// it starts the handshake.
    plain: VecDeque<Bytes>,
    /// The next bytes the core queues are INFO and go out in plaintext.
    info_pending: bool,
    /// Whether the handshake was reported done.
    secured: bool,
    /// The peer's first bytes, to tell a client that does not speak TLS.
    first_bytes: natrix_driver::tls::FirstBytes,
    /// `handshake_first` auto mode: until this instant a byte from the client means it starts
    /// TLS (INFO then goes out encrypted after the handshake); when it passes in silence, INFO
    /// goes out in plaintext ([`Conn::fall_back`]).
    deciding: Option<std::time::Instant>,
}

pub(crate) struct Conn {
    pub id: ConnId,
    pub stream: TcpStream,
    tls: Option<Tls>,
    /// Reads are handed to the core whole and their payloads shared from it, so the buffer is
    /// used until its space runs out, then replaced.
    read_buf: ReadBuffer,
    sizer: ReadSizer,
    out: VecDeque<Bytes>,
    /// Whether WRITABLE interest is registered.
    pub write_interest: bool,
    /// The core asked to stop reading from this connection.
    pub paused: bool,
    /// The core closed this connection: write what is queued, then drop it.
    pub closing: bool,
}

impl Conn {
    pub fn new(id: ConnId, stream: TcpStream, session: Option<(Connection, TlsStart)>) -> Conn {
        Conn {
            id,
            stream,
            tls: session.map(|(session, start)| Tls {
                session: Box::new(session),
                plain: VecDeque::new(),
                info_pending: start != TlsStart::HandshakeFirst,
                secured: false,
                first_bytes: natrix_driver::tls::FirstBytes::default(),
                deciding: match start {
                    TlsStart::Fallback(delay) => Some(std::time::Instant::now() + delay),
                    _ => None,
                },
            }),
            read_buf: ReadBuffer::default(),
            sizer: ReadSizer::default(),
            out: VecDeque::new(),
            write_interest: false,
            paused: false,
            closing: false,
        }
    }

    /// One read's worth of progress.
    pub fn read(&mut self) -> Result<ReadEvent, ReadEnd> {
        if self.tls.is_some() {
            return self.read_tls();
        }
        match self.read_plain() {
            Ok(Some(data)) => Ok(ReadEvent::Data(data)),
            Ok(None) => Ok(ReadEvent::WouldBlock),
            Err(reason) => Err(ReadEnd::Closed(reason)),
        }
    }

    /// Reads TLS records, hands back plaintext and reports the end of the handshake.
    fn read_tls(&mut self) -> Result<ReadEvent, ReadEnd> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(ReadEvent::WouldBlock);
        };
        if tls.deciding.is_some() {
            let mut probe = [0u8; 1];
            match self.stream.peek(&mut probe) {
                Ok(0) => return Err(ReadEnd::Closed(CloseReason::ClientClosed)),
                Ok(_) => {
                    // The client starts TLS: INFO waits for the handshake and goes out encrypted.
                    tls.deciding = None;
                    tls.info_pending = false;
                    while let Some(chunk) = tls.plain.pop_back() {
                        self.out.push_front(chunk);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEvent::WouldBlock),
                Err(_) => return Err(ReadEnd::Closed(CloseReason::ReadError)),
            }
        }
        loop {
            if tls.secured {
                let plaintext = take_plaintext(&mut tls.session, &mut self.read_buf, &mut self.sizer)?;
                if let Some(data) = plaintext {
                    return Ok(ReadEvent::Data(data));
                }
            }
            // Nothing encrypted may be read before INFO has gone out in plaintext.
            if !tls.plain.is_empty() || tls.info_pending {
                return Ok(ReadEvent::WouldBlock);
            }
            let mut recorder = Recorder {
                stream: &mut self.stream,
                first: &mut tls.first_bytes,
            };
            match tls.session.read_tls(&mut recorder) {
                Ok(0) => return Err(ReadEnd::Closed(CloseReason::ClientClosed)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEvent::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData && !tls.secured => {
                    return Err(ReadEnd::TlsFailed(
                        "tls: first record does not look like a TLS handshake".to_string(),
                    ))
                }
                Err(_) => return Err(ReadEnd::Closed(CloseReason::ReadError)),
            }
            if let Err(error) = tls.session.process_new_packets() {
                // Best effort: tell the peer with an alert.
                let _ = tls.session.write_tls(&mut self.stream);
                if tls.secured {
                    return Err(ReadEnd::Closed(CloseReason::ReadError));
                }
                return Err(ReadEnd::TlsFailed(natrix_driver::tls::describe_failure(
                    &error,
                    tls.first_bytes.bytes(),
                )));
            }
            if !tls.secured && !tls.session.is_handshaking() {
                tls.secured = true;
                let cert = natrix_driver::tls::peer_identity(tls.session.peer_certificates());
                let session = natrix_driver::tls::session_info(&tls.session);
                return Ok(ReadEvent::Secured(cert, session));
            }
        }
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether TLS records are waiting to be written (handshake messages, alerts).
    pub fn wants_write(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| (t.deciding.is_none() && !t.plain.is_empty()) || t.session.wants_write())
    }

    /// When the `handshake_first` auto mode's wait ends, if it is under way.
    pub fn deciding_until(&self) -> Option<std::time::Instant> {
        self.tls.as_ref().and_then(|t| t.deciding)
    }

    /// The auto mode's wait passed without a byte from the client: INFO goes out in plaintext
    /// and the client starts TLS after reading it.
    pub fn fall_back(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.deciding = None;
        }
    }

    /// One read: `Some(bytes)`, `None` when the socket would block, or why the connection ended.
    fn read_plain(&mut self) -> Result<Option<Bytes>, CloseReason> {
        let want = self.sizer.size();
        loop {
            match self.stream.read(self.read_buf.space(want)) {
                Ok(0) => return Err(CloseReason::ClientClosed),
                Ok(n) => {
                    self.sizer.record(n);
                    return Ok(Some(self.read_buf.take(n)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(CloseReason::ReadError),
            }
        }
    }

    pub fn queue(&mut self, chunks: impl IntoIterator<Item = Bytes>) {
        if let Some(tls) = self.tls.as_mut().filter(|t| t.info_pending) {
            tls.info_pending = false;
            tls.plain.extend(chunks);
            return;
        }
        self.out.extend(chunks);
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty() && !self.wants_write()
    }

    /// Writes until the queue is empty or the socket would block; returns the plaintext bytes
    /// taken (for TLS: handed to the session, which bounds what it buffers).
    pub fn write(&mut self) -> io::Result<usize> {
        if self.tls.is_some() {
            return self.write_tls();
        }
        self.write_plain()
    }

    fn write_tls(&mut self) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else { return Ok(0) };
        if tls.deciding.is_some() {
            // Nothing goes out until the client has shown how it starts.
            return Ok(0);
        }
        let mut taken = 0;
        // INFO first, in plaintext.
        while let Some(front) = tls.plain.front_mut() {
            match self.stream.write(front) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    taken += n;
                    if n >= front.len() {
                        tls.plain.pop_front();
                    } else {
                        let _ = front.split_to(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        loop {
            // Hand plaintext to the session while it takes it...
            while let Some(front) = self.out.front_mut() {
                let n = tls.session.writer().write(front)?;
                if n == 0 {
                    break;
                }
                taken += n;
                if n >= front.len() {
                    self.out.pop_front();
                } else {
                    let _ = front.split_to(n);
                }
            }
            // ...and records to the socket until it would block.
            if !tls.session.wants_write() {
                return Ok(taken);
            }
            match tls.session.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn write_plain(&mut self) -> io::Result<usize> {
        let mut total = 0;
        while !self.out.is_empty() {
            let slices = io_slices(&self.out);
            match self.stream.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    total += n;
                    let whole = advance(&mut self.out, n);
                    self.out.drain(..whole);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// Moves the plaintext a TLS session has decrypted into a buffer the core can share.
fn take_plaintext(
    session: &mut Connection,
    buf: &mut ReadBuffer,
    sizer: &mut ReadSizer,
) -> Result<Option<Bytes>, ReadEnd> {
    let want = sizer.size();
    let space = buf.space(want);
    let mut filled = 0;
    loop {
        match session.reader().read(&mut space[filled..]) {
            Ok(0) if filled == 0 => {
                // A clean close_notify from the peer.
                return Err(ReadEnd::Closed(CloseReason::ClientClosed));
            }
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == space.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => return Err(ReadEnd::Closed(CloseReason::ReadError)),
        }
    }
    if filled == 0 {
        return Ok(None);
    }
    sizer.record(filled);
    Ok(Some(buf.take(filled)))
}

/// A connection's read buffer. Safe Rust reads only into initialised memory, so space is zeroed
/// before its first read; what a read did not fill stays initialised for the next one, so each
/// byte is zeroed once rather than the whole read size on every read (and on every read that
/// finds the socket empty).
#[derive(Default)]
pub(crate) struct ReadBuffer {
    /// Initialised space: nothing in it belongs to anyone yet.
    buf: BytesMut,
}

impl ReadBuffer {
    /// Space for a read of up to `want` bytes.
    fn space(&mut self, want: usize) -> &mut [u8] {
        if self.buf.len() < want {
            if self.buf.capacity() < want {
                // A new buffer: what is left of this one is not worth copying over.
                self.buf.clear();
                self.buf.reserve(want);
            }
            self.buf.resize(want, 0);
        }
        &mut self.buf[..want]
    }

    /// The first `n` bytes of the space, filled by a read, as bytes the core may share.
    fn take(&mut self, n: usize) -> Bytes {
        self.buf.split_to(n).freeze()
    }
}

/// Reads from the socket, keeping the first few bytes the peer sent.
struct Recorder<'a> {
    stream: &'a mut TcpStream,
    first: &'a mut natrix_driver::tls::FirstBytes,
}

impl Read for Recorder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        if !self.first.observe(&buf[..n]) {
            return Err(io::ErrorKind::InvalidData.into());
        }
        Ok(n)
    }
}
