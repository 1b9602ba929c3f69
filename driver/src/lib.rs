//! # natrix-driver: what both runtimes do the same way
//!
//! The core (`natrix-core`) makes every decision and performs no IO; a runtime (`natrix-tokio`,
//! `natrix-mio`) owns an event loop and its sockets. What a runtime does that does not depend on
//! its event loop lives here once: the TLS glue (rustls configurations from the `tls` blocks,
//! client certificate identities, nats-server's texts for failed handshakes), the output
//! dispatch with the driver contract's drain rule ([`drain`] over a [`Runtime`]), the rule for
//! which closes abandon a connection ([`abandons`]), the generation-checked connection table
//! ([`ConnTable`]), the monitoring HTTP session, the [`FileExecutor`] that runs the storage
//! engine's IO requests on a thread of its own, and the constants both loops share. The core
//! never sees ciphertext and does not depend on rustls.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod conn_table;
pub mod dispatch;
pub mod files;
pub mod http;
pub mod io;
pub mod storage;
pub mod tls;

pub use conn_table::ConnTable;
pub use dispatch::{abandons, drain, Runtime};
pub use files::FileExecutor;
pub use storage::Storage;
