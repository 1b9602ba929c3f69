//! A connection's outbound queue: bytes waiting to be written to its socket.
//!
//! Control lines and small payloads are copied into one growing buffer, so a run of small
//! deliveries becomes one contiguous chunk; large payloads are queued as shared `Bytes` (the
//! publisher's own buffer), never copied. The runtime takes the chunks and writes them with
//! vectored IO, then reports how many bytes went out, which is what `pending` counts down.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Payloads up to this size are copied; larger ones are shared.
const COPY_LIMIT: usize = 1024;
/// A message with a single recipient is copied up to this size. Sharing keeps the publisher's
/// read buffer (up to 256 KiB) alive until the subscriber's write completes; when reads outpace
/// that, every read needs fresh memory, which costs the kernel a page fault per 4 KiB of its
/// copy. Copying a few KiB costs less; with several recipients one shared slice is cheaper
/// than a copy each.
const SINGLE_RECIPIENT_COPY_LIMIT: usize = 4096;
/// The smallest new copy buffer, so small writes do not allocate every time.
const MIN_GROWTH: usize = 4096;
/// The largest new copy buffer (a write of many chunks is one vectored write).
const MAX_GROWTH: usize = 64 * 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Outbound {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    /// Bytes queued here, not yet taken by the runtime.
    queued: usize,
    /// Bytes taken by the runtime and not yet reported written.
    in_flight: usize,
}

impl Outbound {
    /// The copy buffer, to encode into directly; call [`Outbound::commit`] afterwards.
    pub fn buffer(&mut self, additional: usize) -> &mut BytesMut {
        if self.tail.capacity() - self.tail.len() < additional {
            // Full: what it holds becomes a chunk of its own, never copied again (growing it in
            // place would copy everything queued on every growth), and a new buffer is sized
            // by how much is queued: small for a quiet connection, larger for a busy one.
            self.seal();
            let size = self.queued.clamp(MIN_GROWTH, MAX_GROWTH).max(additional);
            self.tail.reserve(size);
        }
        &mut self.tail
    }

    /// Records that `n` bytes were appended to [`Outbound::buffer`].
    pub fn commit(&mut self, n: usize) {
        self.queued += n;
    }

    /// Queues a copy of `bytes`.
    pub fn push_slice(&mut self, bytes: &[u8]) {
        self.buffer(bytes.len()).extend_from_slice(bytes);
        self.queued += bytes.len();
    }

    /// Whether a message body of `len` bytes going to `recipients` subscribers is copied into
    /// the buffer (rather than shared).
    pub fn copies(len: usize, recipients: usize) -> bool {
        len <= COPY_LIMIT || (recipients == 1 && len <= SINGLE_RECIPIENT_COPY_LIMIT)
    }

    /// Queues `bytes`, copying it if small and sharing it otherwise.
    pub fn push(&mut self, bytes: Bytes) {
        if bytes.len() <= COPY_LIMIT {
            self.push_slice(&bytes);
        } else {
            self.seal();
            self.queued += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    fn seal(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }

    /// Moves every queued chunk to `out`, in order; they count as in flight until reported
    /// written. Returns the number of bytes moved.
    pub fn take(&mut self, out: &mut Vec<Bytes>) -> usize {
        self.seal();
        out.extend(self.chunks.drain(..));
        let moved = self.queued;
        self.in_flight += moved;
        self.queued = 0;
        moved
    }

    /// Records that the runtime wrote `n` bytes of what it took.
    pub fn written(&mut self, n: usize) {
        self.in_flight = self.in_flight.saturating_sub(n);
    }

    /// Bytes not yet written to the socket: queued here plus in flight.
    pub fn pending(&self) -> usize {
        self.queued + self.in_flight
    }

    /// Bytes queued here and not yet taken.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Panics unless `queued` counts exactly the bytes in the chunks and the copy buffer.
    pub(crate) fn check(&self) {
        let held = self.chunks.iter().map(Bytes::len).sum::<usize>() + self.tail.len();
        assert_eq!(held, self.queued, "outbound bytes queued are the bytes held");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_writes_coalesce_and_large_ones_are_shared() {
        let mut out = Outbound::default();
        out.push_slice(b"MSG a 1 3\r\n");
        out.push(Bytes::from_static(b"abc\r\n"));
        let big = Bytes::from(vec![7u8; 4000]);
        out.push(big.clone());
        out.push_slice(b"PONG\r\n");
        assert_eq!(out.pending(), 11 + 5 + 4000 + 6);
        let mut chunks = Vec::new();
        assert_eq!(out.take(&mut chunks), 4022);
        assert_eq!(chunks.len(), 3);
        assert_eq!(&chunks[0][..], b"MSG a 1 3\r\nabc\r\n");
        assert_eq!(chunks[1].as_ptr(), big.as_ptr(), "large payloads are not copied");
        assert_eq!(&chunks[2][..], b"PONG\r\n");
        assert_eq!(out.pending(), 4022);
        out.written(4000);
        assert_eq!(out.pending(), 22);
        out.written(100);
        assert_eq!(out.pending(), 0);
    }
}
