//! What happened in one simulated run, as the clients saw it, and its trace hash.

use std::fmt::Write as _;
use std::time::Duration;

/// One subscription as the checkers know it: which client, which connection of that client
/// (each reconnect is a new incarnation), and the sid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubKey {
    /// The client's index.
    pub client: u32,
    /// Which connection of the client.
    pub incarnation: u32,
    /// The subscription id on that connection.
    pub sid: u32,
}

/// An observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A publisher wrote a PUB.
    Published {
        /// Publisher index.
        publisher: u32,
        /// Which connection of the publisher carried it (order holds only within one).
        connection: u32,
        /// Its sequence number (1, 2, ...).
        seq: u64,
        /// The subject.
        subject: String,
        /// Simulated time.
        at: Duration,
    },
    /// A PONG arrived for a PING sent after every PUB from `from` to `upto` on one connection:
    /// the server has them.
    Acked {
        /// Publisher index.
        publisher: u32,
        /// The first sequence number sent on this connection.
        from: u64,
        /// The highest sequence number the server has processed.
        upto: u64,
        /// Simulated time.
        at: Duration,
    },
    /// A SUB was confirmed with PING/PONG.
    Subscribed {
        /// The subscription.
        sub: SubKey,
        /// Its subject.
        subject: String,
        /// Its queue group.
        queue: Option<String>,
        /// Its `UNSUB max`.
        max: Option<u64>,
        /// When the PONG arrived.
        at: Duration,
    },
    /// The subscription's connection ended.
    Ended {
        /// The subscription.
        sub: SubKey,
        /// Simulated time.
        at: Duration,
    },
    /// A message arrived.
    Delivered {
        /// The subscription.
        sub: SubKey,
        /// The subject it came on.
        subject: String,
        /// Its payload.
        payload: Vec<u8>,
        /// Simulated time.
        at: Duration,
    },
}

/// Everything observed in one run, in order.
#[derive(Debug, Default, Clone)]
pub struct History {
    /// The events.
    pub events: Vec<Event>,
}

impl History {
    /// Records an event.
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// A hash of every event (FNV-1a over their debug text): equal runs have equal hashes.
    pub fn trace_hash(&self) -> String {
        let mut text = String::new();
        for event in &self.events {
            let _ = write!(text, "{event:?}");
        }
        trace_hash(&text)
    }
}

/// Simulated time since the run began.
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// What a scenario with its own plan and log produced (the cluster and request scenarios).
pub struct ScenarioOutcome<P, L> {
    /// The plan it followed.
    pub plan: P,
    /// What the clients saw.
    pub log: L,
    /// What the checkers found.
    pub violations: Vec<crate::checkers::Violation>,
}

impl<P, L: std::fmt::Debug> ScenarioOutcome<P, L> {
    /// A hash of everything the clients saw, for the determinism check.
    pub fn trace_hash(&self) -> String {
        trace_hash(&format!("{:?}", self.log))
    }
}

/// FNV-1a of `text`, in hex: a scenario's trace hash over the debug text of what it saw.
pub fn trace_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The payload of message `seq` from `publisher` on `subject`: readable, with a checksum so a
/// corrupted or invented message is recognised.
pub fn payload(publisher: u32, seq: u64, subject: &str) -> Vec<u8> {
    format!("p{publisher}-{seq}-{:08x}", checksum(publisher, seq, subject)).into_bytes()
}

/// Reads a payload back: (publisher, seq, checksum).
pub fn decode(payload: &[u8]) -> Option<(u32, u64, u32)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.strip_prefix('p')?.split('-');
    let publisher = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sum = u32::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((publisher, seq, sum))
}

/// The checksum a payload carries.
pub fn checksum(publisher: u32, seq: u64, subject: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in format!("{publisher}/{seq}/{subject}").bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}
