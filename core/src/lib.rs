//! # natrix-core: the sans-IO heart of Natrix
//!
//! This crate is the whole NATS server as a deterministic state machine: the client protocol,
//! subjects and the sublist, accounts, and every decision about connections. It performs no IO,
//! reads no clock, spawns no thread and holds no global state; `unsafe` is forbidden. Runtimes
//! (`natrix-tokio`, `natrix-mio`, and the simulator) own the sockets and the time and drive
//! a [`Server`] through the contract below. The same inputs in the same order, with the same
//! seed, always produce the same outputs.
//!
//! ## The driver contract
//!
//! Every way in is one of these calls, each with the current [`Instant`] (the core's only
//! source of time); there is no other:
//!
//! - [`Server::accept`]: a client connection the runtime accepted; returns its [`ConnId`].
//! - [`Server::accept_route`]: a route connection accepted on the cluster port.
//! - [`Server::route_dialed`]: the connection an [`Output::Dial`] asked for is up (its failure
//!   is [`Input::DialFailed`]).
//! - [`Server::handle`] with an [`Input`]: bytes received ([`Input::Received`]) or written
//!   ([`Input::Written`]); a connection closed by the peer or by IO ([`Input::Closed`]); the
//!   runtime's answers ([`Input::TlsEstablished`], [`Input::TlsFailed`],
//!   [`Input::PasswordChecked`], [`Input::DialFailed`], [`Input::ProcessStats`]); the operator's
//!   commands ([`Input::Shutdown`], [`Input::Reload`], [`Input::LameDuck`]).
//! - [`Server::handle_timeout`]: the instant [`Server::poll_timeout`] named has come (calling it
//!   early is harmless).
//! - [`Server::monitor`]: a monitoring request's head, answered with a complete HTTP response.
//!
//! Every way out is an [`Output`], taken with [`Server::poll_output`] until it returns `None`
//! after *every* call above (the single-mutation invariant: no second input before the outputs
//! of the first are taken). Each call asserts it in debug builds, so a driver that breaks it
//! panics in tests and in the simulator (which runs with debug assertions: `--profile sim`);
//! `natrix_driver::drain` is the loop both runtimes use. [`Output::Write`] says a connection has
//! bytes queued: the runtime takes them with [`Server::take_outbound`], writes them (vectored),
//! and reports progress with [`Input::Written`]. [`Output::Close`] carries the last bytes to
//! write before closing the socket. [`Output::Log`] is a log line.
//!
//! Besides these, the `Server` answers read-only questions (counts, names, the configuration)
//! and one query the fuzz targets call directly, [`Server::sys_request`] (what the internal
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
pub mod log;
pub mod monitor;
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
pub use server::{Input, Level, LogSink, Output, Server, Stats};
pub use time::Instant;
