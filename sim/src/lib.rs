//! # natrix-sim: deterministic simulations of Natrix under faults
//!
//! Each seed builds a turmoil simulation with a Natrix server (the production `natrix-tokio`
//! runtime over turmoil's network, with time from tokio's clock, which turmoil drives),
//! publishers and subscribers speaking NATS through a small client, and the faults the seed
//! chose (partitions, held links, latency and jitter, link failures, client crashes and
//! reconnects, server restarts, slow subscribers). The clients record what they saw; the
//! checkers decide whether the server kept its promises. The same seed always gives the same
//! run, and the same trace hash. A storage scenario (`storage.rs`) runs the stream store on a
//! disk that loses what a power cut loses, with crashes and bit flips chosen per seed; a
//! JetStream scenario (`jetstream.rs`) runs the real server with its store on such a disk,
//! cutting the power at IO requests the seed picks.

pub mod checkers;
pub mod client;
pub mod cluster;
pub mod history;
pub mod jetstream;
pub mod plan;
pub mod requests;
pub mod run;
pub mod storage;
