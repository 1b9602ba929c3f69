//! # natrix-core: the sans-IO heart of Natrix
//!
//! This crate is the whole NATS server as a deterministic state machine: the client protocol,
//! subjects and the sublist, accounts, and every decision about connections. It performs no IO,
//! reads no clock, spawns no thread and holds no global state; `unsafe` is forbidden. Runtimes
//! (`natrix-tokio`, `natrix-mio`, and the simulator) own the sockets and the time and drive
//! a [`Node`] through the contract below. The same inputs in the same order, with the same
//! seed, always produce the same outputs.
//!
//! ## Components
//!
//! A [`Node`] composes the components, each with its own state:
//! - [`Server`]: client and route connections, accounts and subscriptions, message routing,
//!   the cluster's routes (`server/`, with route state in [`cluster`]);
//! - [`monitor::Monitor`]: the HTTP endpoints and `$SYS` requests, reading the server through a
//!   read-only view.
//!
//! Below them are leaf modules that import nothing of the above: [`ids`], [`log`], [`rng`],
//! [`time`], [`subject`], [`sublist`], [`proto`] (parsers and encoders), [`auth`], [`outbound`],
//! [`config`]. No import cycle runs among core's modules: `server` uses the state modules
//! (`account`, `conn`, `cluster`), `monitor` uses `server`, and `node` uses both.
//!
//! ## The driver contract
//!
//! Every way in is one of these calls, each with the current [`Instant`] (the core's only
//! source of time); there is no other:
//!
//! - [`Node::accept`]: a client connection the runtime accepted; returns its [`ConnId`].
//! - [`Node::accept_route`]: a route connection accepted on the cluster port.
//! - [`Node::route_dialed`]: the connection an [`Output::Dial`] asked for is up (its failure
//!   is [`Input::DialFailed`]).
//! - [`Node::handle`] with an [`Input`]: bytes received ([`Input::Received`]) or written
//!   ([`Input::Written`]); a connection closed by the peer or by IO ([`Input::Closed`]); the
//!   runtime's answers ([`Input::TlsEstablished`], [`Input::TlsFailed`],
//!   [`Input::PasswordChecked`], [`Input::DialFailed`], [`Input::ProcessStats`]); the operator's
//!   commands ([`Input::Shutdown`], [`Input::Reload`], [`Input::LameDuck`]).
//! - [`Node::handle_timeout`]: the instant [`Node::poll_timeout`] named has come (calling it
//!   early is harmless).
//! - [`Node::monitor`]: a monitoring request's head, answered with a complete HTTP response.
//!
//! Every way out is an [`Output`], taken with [`Node::poll_output`] until it returns `None`
//! after *every* call above (the single-mutation invariant: no second input before the outputs
//! of the first are taken). Each call asserts it in debug builds, so a driver that breaks it
//! panics in tests and in the simulator (which runs with debug assertions: `--profile sim`);
//! `natrix_driver::drain` is the loop both runtimes use. [`Output::Write`] says a connection has
//! bytes queued: the runtime takes them with [`Node::take_outbound`], writes them (vectored),
//! and reports progress with [`Input::Written`]. [`Output::Close`] carries the last bytes to
//! write before closing the socket. [`Output::Log`] is a log line.
//!
//! Besides these, the node answers read-only questions (counts, names, the configuration:
//! it dereferences to `&Server`)
//! and one query the fuzz targets call directly, [`Node::sys_request`] (what the internal
//! `$SYS` subscriptions run), which emits no output.
//!
//! - **Randomness** comes from one seeded PRNG ([`Config::seed`]): the server id, the first-PING
//!   jitter and queue-member choice all follow from the seed.
//! - **Hash maps** are used for lookups only; nothing iterates one in an order that can reach an
//!   output.
//! - **Invariants** of the state (subscriptions, interest, counts, outbound bytes) are checked
//!   after every input in debug builds.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod ids;
pub mod jetstream;
pub mod log;
pub mod monitor;
mod node;
pub mod outbound;
pub mod proto;
pub mod read_size;
pub mod rng;
pub mod server;
pub mod subject;
pub mod sublist;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use config::{Config, COMPATIBLE_VERSION};
pub use conn::{CloseReason, ConnId};
pub use node::Node;
pub use server::{Input, Level, LogSink, Output, ProcessStats, Server, Stats};
pub use time::Instant;
