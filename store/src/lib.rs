//! # natrix-store: the storage engine's side of IO
//!
//! The storage engine is sans-IO, like the core: it never opens a file. It asks for IO with
//! [`io::IoRequest`]s (create a directory, write at an offset, sync, read, truncate, rename,
//! remove, list) tagged with an [`io::IoId`], and acts on the [`io::IoCompletion`]s that come
//! back, as raft-rs's `Ready`/`advance` does. Who runs the requests decides what the disk is:
//! the runtimes run them on the file executor of `natrix-driver` against the real file system;
//! the simulator runs them against a simulated disk that loses unsynced writes and damages
//! data; tests run them against [`memory::MemFs`], an in-memory file system with the same
//! meaning, and against [`crash::CrashFs`], which keeps only what survives a power cut.
//!
//! The parts built so far (docs/storage.md): [`record`], how one message is laid out and
//! checked; [`commit`], group commit for an append-only file (nothing acknowledged before the
//! sync that covers it); [`log`], the segmented message log and its recovery; [`index`], the
//! stream's message index and limits; [`stream`], the stream store that joins them;
//! [`memory_stream`], memory storage. This crate depends on nothing of the core's.
//!
//! ## What the requests mean
//!
//! Paths are [`io::StorePath`]s: relative to the store's directory, `/`-separated, with no
//! empty, `.` or `..` parts, so no request can reach outside the store. Requests complete in
//! the order they were submitted. A write is durable only once a later `Sync` of the same file
//! completes; a directory entry (a file created, renamed or removed) only once a `SyncDir` of
//! its directory completes. A failed request changes nothing the engine may rely on, and says
//! why ([`io::IoError`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commit;
pub mod crash;
pub mod index;
pub mod io;
pub mod log;
pub mod memory;
pub mod memory_stream;
pub mod record;
pub mod stream;
