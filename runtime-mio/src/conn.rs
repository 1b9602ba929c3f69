//! One connection's socket and the bytes waiting to be written to it.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use bytes::{Bytes, BytesMut};
use mio::net::TcpStream;
use natrix_core::read_size::ReadSizer;
use natrix_core::{CloseReason, ConnId};

/// Most buffers given to one vectored write.
const MAX_IOVECS: usize = 512;

pub(crate) struct Conn {
    pub id: ConnId,
    pub stream: TcpStream,
    /// Reads are handed to the core whole and their payloads shared from it, so the buffer is
    /// used until its space runs out, then replaced.
    read_buf: BytesMut,
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
    pub fn new(id: ConnId, stream: TcpStream) -> Conn {
        Conn {
            id,
            stream,
            read_buf: BytesMut::new(),
            sizer: ReadSizer::default(),
            out: VecDeque::new(),
            write_interest: false,
            paused: false,
            closing: false,
        }
    }

    /// One read: `Some(bytes)`, `None` when the socket would block, or why the connection ended.
    pub fn read(&mut self) -> Result<Option<Bytes>, CloseReason> {
        let want = self.sizer.size();
        if self.read_buf.capacity() - self.read_buf.len() < want {
            self.read_buf.reserve(want);
        }
        let start = self.read_buf.len();
        // Safe Rust cannot read into uninitialised memory, so the space is zeroed first.
        self.read_buf.resize(start + want, 0);
        loop {
            match self.stream.read(&mut self.read_buf[start..]) {
                Ok(0) => {
                    self.read_buf.truncate(start);
                    return Err(CloseReason::ClientClosed);
                }
                Ok(n) => {
                    self.sizer.record(n);
                    self.read_buf.truncate(start + n);
                    return Ok(Some(self.read_buf.split().freeze()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_buf.truncate(start);
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.read_buf.truncate(start);
                    return Err(CloseReason::ReadError);
                }
            }
        }
    }

    pub fn queue(&mut self, chunks: impl IntoIterator<Item = Bytes>) {
        self.out.extend(chunks);
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Writes until the queue is empty or the socket would block; returns bytes written.
    pub fn write(&mut self) -> io::Result<usize> {
        let mut total = 0;
        while !self.out.is_empty() {
            let slices: Vec<IoSlice<'_>> = self.out.iter().take(MAX_IOVECS).map(|c| IoSlice::new(c)).collect();
            match self.stream.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    total += n;
                    while n > 0 {
                        let Some(front) = self.out.front_mut() else { break };
                        if n >= front.len() {
                            n -= front.len();
                            self.out.pop_front();
                        } else {
                            let _ = front.split_to(n);
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}
