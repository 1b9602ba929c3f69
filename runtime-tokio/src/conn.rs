//! One task reads a connection, another writes it; both talk to the core task by channel.

use std::io::IoSlice;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use natrix_core::read_size::ReadSizer;
use natrix_core::{CloseReason, ConnId};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tokio::sync::{mpsc, Semaphore};

use crate::Event;

/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 512;

/// What the core task tells a connection's writer.
pub(crate) enum WriterCommand {
    /// Write these bytes.
    Data(Vec<Bytes>),
    /// Write these bytes, then close the socket.
    Close(Vec<Bytes>),
}

/// Reads handed to the core that it has not yet handled, per connection. Each read needs a
/// credit, which the core task returns once it has handled that read, so a reader runs at most
/// this far ahead of the core, and pausing a connection (by withholding credits) takes effect
/// within this many reads.
pub(crate) const READ_CREDITS: usize = 4;

/// Reads until the peer closes or an error; every read goes to the core as is.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    id: ConnId,
    mut reader: R,
    events: mpsc::Sender<Event>,
    credits: Arc<Semaphore>,
) {
    // Each read is handed to the core whole and its payloads are shared from it, so a buffer is
    // used until its space runs out, then replaced.
    let mut buf = BytesMut::new();
    let mut sizer = ReadSizer::default();
    let reason = loop {
        match credits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        if buf.capacity() - buf.len() < sizer.size() {
            buf.reserve(sizer.size());
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) => break CloseReason::ClientClosed,
            Ok(n) => {
                sizer.record(n);
                let data = buf.split().freeze();
                if events.send(Event::Received(id, data)).await.is_err() {
                    return;
                }
            }
            Err(_) => break CloseReason::ReadError,
        }
    };
    let _ = events.send(Event::Closed(id, reason)).await;
}

/// Writes what the core hands over, reporting progress, until told to close.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    id: ConnId,
    mut writer: W,
    mut commands: mpsc::UnboundedReceiver<WriterCommand>,
    events: mpsc::Sender<Event>,
    close_timeout: Duration,
) {
    let mut pending: Vec<Bytes> = Vec::new();
    while let Some(command) = commands.recv().await {
        let mut closing = false;
        let mut next = Some(command);
        // Gather everything already queued into one batch of vectored writes.
        while let Some(command) = next.take() {
            match command {
                WriterCommand::Data(chunks) => pending.extend(chunks),
                WriterCommand::Close(chunks) => {
                    pending.extend(chunks);
                    closing = true;
                    break;
                }
            }
            next = commands.try_recv().ok();
        }
        let result = if closing {
            tokio::time::timeout(close_timeout, write_all(&mut writer, &mut pending, None))
                .await
                .unwrap_or(Ok(()))
        } else {
            write_all(&mut writer, &mut pending, Some((id, &events))).await
        };
        if result.is_err() {
            if !closing {
                let _ = events.send(Event::Closed(id, CloseReason::WriteError)).await;
            }
            return;
        }
        if closing {
            let _ = tokio::time::timeout(close_timeout, writer.shutdown()).await;
            return;
        }
    }
}

/// Writes every chunk, reporting each write's size to the core when asked to.
async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut W,
    chunks: &mut Vec<Bytes>,
    report: Option<(ConnId, &mpsc::Sender<Event>)>,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<IoSlice<'_>> = chunks[first..]
            .iter()
            .take(MAX_IOVECS)
            .map(|c| IoSlice::new(c))
            .collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        if let Some((id, events)) = report {
            if events.send(Event::Written(id, written)).await.is_err() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
        }
        while written > 0 {
            let chunk = &mut chunks[first];
            if written >= chunk.len() {
                written -= chunk.len();
                first += 1;
            } else {
                let _ = chunk.split_to(written);
                written = 0;
            }
        }
    }
    chunks.clear();
    writer.flush().await
}
