//! One task reads a connection, another writes it; both talk to the core task by channel.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use natrix_core::read_size::ReadSizer;
use natrix_core::{CloseReason, ConnId};
use natrix_driver::io::{advance, io_slices};
use natrix_driver::tls::TlsStart;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tokio::sync::{mpsc, Semaphore};

use crate::Event;

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
        let slices = io_slices(&chunks[first..]);
        let written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        if let Some((id, events)) = report {
            if events.send(Event::Written(id, written)).await.is_err() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
        }
        first += advance(&mut chunks[first..], written);
    }
    chunks.clear();
    writer.flush().await
}

/// Remembers the first bytes a peer sends, to tell a failed handshake from a client that does
/// not speak TLS at all.
struct FirstBytes<S> {
    inner: S,
    seen: natrix_driver::tls::FirstBytes,
    /// Bytes read before the handshake began (`handshake_first` auto mode), given to it first.
    replay: Vec<u8>,
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = if self.replay.is_empty() {
            std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
        } else {
            let take = self.replay.len().min(buf.remaining());
            let replayed: Vec<u8> = self.replay.drain(..take).collect();
            buf.put_slice(&replayed);
            std::task::Poll::Ready(Ok(()))
        };
        let this = &mut *self;
        if !this.seen.observe(&buf.filled()[before..]) {
            return std::task::Poll::Ready(Err(std::io::ErrorKind::InvalidData.into()));
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Everything a TLS connection's task needs.
pub(crate) struct TlsTask {
    pub id: ConnId,
    pub commands: mpsc::UnboundedReceiver<WriterCommand>,
    pub events: mpsc::Sender<Event>,
    pub credits: Arc<Semaphore>,
    pub close_timeout: Duration,
}

/// A TLS client connection, in one task: INFO in plaintext (unless the handshake comes
/// first), the handshake, then reading and writing through TLS until the core closes it.
/// The core enforces the handshake timeout by closing the connection, which aborts this task.
pub(crate) async fn tls_connection<S>(stream: S, acceptor: natrix_driver::tls::TlsAcceptor, task: TlsTask)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let TlsTask {
        id,
        mut commands,
        events,
        credits,
        close_timeout,
    } = task;
    let mut stream = stream;
    let mut replay = Vec::new();
    let info_first = match acceptor.start() {
        TlsStart::InfoFirst => true,
        TlsStart::HandshakeFirst => false,
        TlsStart::Fallback(delay) => {
            // Any byte within the delay means the client is starting TLS; silence means it
            // waits for INFO.
            let mut first = [0u8; 4];
            match tokio::time::timeout(delay, stream.read(&mut first)).await {
                Err(_) => true,
                Ok(Ok(0)) => {
                    let _ = events.send(Event::Closed(id, CloseReason::ClientClosed)).await;
                    return;
                }
                Ok(Ok(n)) => {
                    replay.extend_from_slice(&first[..n]);
                    false
                }
                Ok(Err(_)) => {
                    let _ = events.send(Event::Closed(id, CloseReason::ReadError)).await;
                    return;
                }
            }
        }
    };
    if info_first {
        // The core's first bytes are INFO, which the client reads before it starts TLS.
        let (chunks, close) = match commands.recv().await {
            Some(WriterCommand::Data(chunks)) => (chunks, false),
            Some(WriterCommand::Close(chunks)) => (chunks, true),
            None => return,
        };
        let mut chunks = chunks;
        let report = (!close).then_some((id, &events));
        let written = write_all(&mut stream, &mut chunks, report).await;
        if close || written.is_err() {
            if written.is_err() {
                let _ = events.send(Event::Closed(id, CloseReason::WriteError)).await;
            }
            let _ = tokio::time::timeout(close_timeout, stream.shutdown()).await;
            return;
        }
    }
    let recorder = FirstBytes {
        inner: stream,
        seen: natrix_driver::tls::FirstBytes::default(),
        replay,
    };
    let tls = tokio_rustls::TlsAcceptor::from(Arc::clone(&acceptor.config));
    let tls_stream = match tls.accept(recorder).into_fallible().await {
        Ok(tls_stream) => tls_stream,
        Err((error, recorder)) => {
            let rustls_error = error
                .get_ref()
                .and_then(|e| e.downcast_ref::<natrix_driver::tls::rustls::Error>())
                .cloned();
            let text = match rustls_error {
                Some(e) => natrix_driver::tls::describe_failure(&e, recorder.seen.bytes()),
                None if !natrix_driver::tls::looks_like_tls(recorder.seen.bytes()) => {
                    "tls: first record does not look like a TLS handshake".to_string()
                }
                None => error.to_string(),
            };
            let _ = events.send(Event::TlsFailed(id, text)).await;
            return;
        }
    };
    let cert = natrix_driver::tls::peer_identity(tls_stream.get_ref().1.peer_certificates());
    let session = natrix_driver::tls::session_info(tls_stream.get_ref().1);
    let task = TlsTask {
        id,
        commands,
        events,
        credits,
        close_timeout,
    };
    secured(tls_stream, task, cert, session).await;
}

/// A route this server dialed, over TLS: the client handshake (checking the peer's certificate
/// against `name`), then reading and writing through TLS.
pub(crate) async fn tls_client_connection<S>(
    stream: S,
    config: Arc<natrix_driver::tls::rustls::ClientConfig>,
    name: natrix_driver::tls::rustls::pki_types::ServerName<'static>,
    task: TlsTask,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let connector = tokio_rustls::TlsConnector::from(config);
    match connector.connect(name, stream).await {
        Ok(tls_stream) => {
            let cert = natrix_driver::tls::peer_identity(tls_stream.get_ref().1.peer_certificates());
            let session = natrix_driver::tls::session_info(tls_stream.get_ref().1);
            secured(tls_stream, task, cert, session).await;
        }
        Err(e) => {
            let _ = task.events.send(Event::TlsFailed(task.id, format!("tls: {e}"))).await;
        }
    }
}

/// After a handshake: report it, then run the read and write loops over the TLS stream.
async fn secured<S>(
    tls_stream: S,
    task: TlsTask,
    cert: Option<natrix_core::auth::CertIdentity>,
    session: natrix_core::conn::SessionInfo,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let TlsTask {
        id,
        commands,
        events,
        credits,
        close_timeout,
    } = task;
    if events.send(Event::Secured(id, cert, session)).await.is_err() {
        return;
    }
    let (reader, writer) = tokio::io::split(tls_stream);
    let reading = read_loop(id, reader, events.clone(), credits);
    let writing = write_loop(id, writer, commands, events, close_timeout);
    tokio::pin!(reading, writing);
    tokio::select! {
        _ = &mut writing => {}
        _ = &mut reading => writing.await,
    }
}

/// One monitoring (HTTP) connection: read the request head, have the core answer it, write the
/// answer, close.
pub(crate) async fn monitor_connection<S>(mut stream: S, events: mpsc::Sender<Event>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut session = natrix_driver::http::HttpSession::default();
    let read = tokio::time::timeout(natrix_driver::http::DEADLINE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => {
                    if let Some(head) = session.received(&chunk[..n]) {
                        return Some(head);
                    }
                }
            }
        }
    })
    .await;
    let Ok(Some(head)) = read else { return };
    let (reply, response) = tokio::sync::oneshot::channel();
    if events.send(Event::Monitor(head, reply)).await.is_err() {
        return;
    }
    if let Ok(response) = response.await {
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    }
}
