//! # natrix-core: the sans-IO heart of Natrix
//!
//! This crate is the whole NATS server as a deterministic state machine: the client protocol,
//! subjects and the sublist, accounts, and every decision about connections. It performs no IO,
//! reads no clock, spawns no thread and holds no global state; `unsafe` is forbidden. Runtimes
//! (`natrix-tokio`, later `natrix-mio`, and the simulator) own the sockets and the time and drive
//! a [`Server`] through the contract below. The same inputs in the same order, with the same
//! seed, always produce the same outputs.
//!
//! ## The driver contract
//!
//! - **Inputs are facts.** [`Server::accept`] registers a connection the runtime accepted and
//!   returns its [`ConnId`]; [`Server::handle`] takes an [`Input`]: bytes received, bytes
//!   written, a connection closed by the peer or by an IO error, shutdown. Every call carries the
//!   current [`Instant`], the core's only source of time.
//! - **Outputs are requests.** After *every* `accept`, `handle` or `handle_timeout` call the
//!   runtime drains [`Server::poll_output`] until it returns `None` (the single-mutation
//!   invariant: no second input before the outputs of the first are taken). Every way in
//!   (`accept`, `accept_route`, `route_dialed`, `handle`, `handle_timeout`, `monitor`) asserts
//!   it in debug builds, so a driver that breaks it panics in tests and in the simulator (which
//!   runs with debug assertions: `--profile sim`). [`Output::Write`]
//!   says a connection has bytes queued: the runtime takes them with [`Server::take_outbound`],
//!   writes them (vectored), and reports progress with [`Input::Written`]. [`Output::Close`]
//!   carries the last bytes to write before closing the socket. [`Output::Log`] is a log line.
//! - **Timers.** After draining outputs, the runtime reads [`Server::poll_timeout`] and calls
//!   [`Server::handle_timeout`] when that instant arrives (calling it early is harmless).
//! - **Randomness** comes from one seeded PRNG ([`Config::seed`]): the server id, the first-PING
//!   jitter and queue-member choice all follow from the seed.
//! - **Hash maps** are used for lookups only; nothing iterates one in an order that can reach an
//!   output.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod auth;
mod client;
pub mod cluster;
pub mod config;
pub mod conn;
mod deliver;
pub mod ids;
mod imports;
mod invariants;
pub mod log;
pub mod monitor;
mod operator;
pub mod outbound;
pub mod proto;
pub mod read_size;
pub mod rng;
mod security;
pub mod server;
mod stall;
pub mod subject;
pub mod sublist;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use config::{Config, COMPATIBLE_VERSION};
pub use conn::{CloseReason, ConnId};
pub use server::{Input, Level, LogSink, Output, Server, Stats};
pub use time::Instant;
