//! The network the runtime uses, as a small trait so the simulator can substitute turmoil's
//! sockets for tokio's without a cargo feature reaching production builds.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A listening socket that yields client connections.
pub trait Listener: Send + 'static {
    /// A connected stream.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address actually bound (the port `-p -1` picked).
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// A connected stream's own address (a route learns which address this host has).
    fn stream_local_addr(stream: &Self::Stream) -> io::Result<SocketAddr>;

    /// Dials `address` (`host:port`) for a route: the stream, the peer's address and ours.
    fn connect(address: String) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr, SocketAddr)>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        // Latency matters more than packet count for a message broker; writes are batched anyway.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }

    fn stream_local_addr(stream: &Self::Stream) -> io::Result<SocketAddr> {
        stream.local_addr()
    }

    async fn connect(address: String) -> io::Result<(Self::Stream, SocketAddr, SocketAddr)> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        Ok((stream, peer, local))
    }
}
