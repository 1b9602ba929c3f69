//! The storage scenario: a stream store on a disk that loses what a power cut loses, with
//! crashes (some tearing unsynced writes) and bit flips chosen per seed, and checkers for what
//! the store promises. It runs without a network: the store is sans-IO, so the simulation is
//! the order in which its IO runs and where the power goes.
//!
//! Checkers:
//! - `acked-message-lost`: after every restart, each message whose store was acknowledged (and
//!   whose deletion was not) reads back exactly, unless a bit flip hit it, and then recovery
//!   reported damage;
//! - `wrong-message-served`: no read returns bytes other than those stored at that sequence;
//! - `acked-sequence-reused`: a new message never gets the sequence of an acknowledged one;
//! - `deleted-message-back`: a message whose deletion was acknowledged never reads back, unless
//!   a bit flip was reported (a flip on a tombstone undoes its deletion: a known gap until the
//!   index snapshot records deletions).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;
use natrix_core::rng::Rng;
use natrix_store::commit::Durability;
use natrix_store::crash::{CrashFs, Torn};
use natrix_store::index::Limits;
use natrix_store::io::{IoId, IoOutcome, IoRequest, StorePath};
use natrix_store::stream::{Event, ReadError, StoreConfig, StreamStore};

use crate::checkers::Violation;

/// What a seed does to the disk.
#[derive(Debug, Clone)]
pub struct StoragePlan {
    /// Segment size.
    pub max_segment: u64,
    /// Operations in all.
    pub ops: usize,
    /// After which operations the power goes, and what survives of unsynced writes.
    pub crashes: Vec<(usize, Torn)>,
    /// After which operations a bit flips somewhere on disk (made durable).
    pub flips: Vec<usize>,
}

impl StoragePlan {
    fn new(rng: &mut Rng) -> Self {
        let ops = 40 + rng.below(160);
        let crashes = (0..rng.below(4))
            .map(|_| {
                let torn = if rng.below(2) == 0 {
                    Torn::Nothing
                } else {
                    Torn::Prefix(1 + rng.below(200))
                };
                (rng.below(ops), torn)
            })
            .collect();
        // One seed in three flips bits.
        let flips = if rng.below(3) == 0 {
            (0..1 + rng.below(3)).map(|_| rng.below(ops)).collect()
        } else {
            Vec::new()
        };
        StoragePlan {
            max_segment: 200 + rng.below(4000) as u64,
            ops,
            crashes,
            flips,
        }
    }

    /// Faults in the plan.
    pub fn faults(&self) -> usize {
        self.crashes.len() + self.flips.len()
    }
}

impl fmt::Display for StoragePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ops={} segment={}", self.ops, self.max_segment)?;
        for (at, torn) in &self.crashes {
            write!(f, " crash@{at}({torn:?})")?;
        }
        for at in &self.flips {
            write!(f, " flip@{at}")?;
        }
        Ok(())
    }
}

/// What a run produced.
pub struct StorageOutcome {
    /// The plan it followed.
    pub plan: StoragePlan,
    /// What the checkers found.
    pub violations: Vec<Violation>,
    /// Acknowledged stores, deletes, restarts, in order: what the trace hash covers.
    pub trace: Vec<String>,
}

impl StorageOutcome {
    /// A hash of the trace: the same seed gives the same hash.
    pub fn trace_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.trace.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// The token of a store or a delete, so acknowledgements say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    Stored(u64),
    Deleted(u64),
}

struct Run {
    dir: StorePath,
    rng: Rng,
    disk: CrashFs,
    store: StreamStore<Ack>,
    config: StoreConfig,
    next_id: u64,
    /// Every message ever stored, by sequence (acknowledged or not): what a read may return.
    written: BTreeMap<u64, Bytes>,
    /// Acknowledged and not deleted (by an acknowledged delete).
    live: BTreeSet<u64>,
    acked_deletes: BTreeSet<u64>,
    /// Deletes issued but not yet acknowledged.
    pending_deletes: BTreeSet<u64>,
    max_acked: u64,
    /// Sequences a bit flip may have hit since they were written.
    flipped: bool,
    violations: Vec<Violation>,
    trace: Vec<String>,
}

impl Run {
    /// Runs up to `n` IO requests.
    fn io(&mut self, n: usize) {
        for _ in 0..n {
            let mut next = self.next_id;
            let request = self.store.poll_request(&mut || {
                next += 1;
                IoId(next)
            });
            self.next_id = next;
            let Some((id, request)) = request else { return };
            let completion = self.disk.run(id, &request);
            if let Some(event) = self.store.complete(&completion) {
                self.on_event(event);
            }
        }
    }

    fn on_event(&mut self, event: Event<Ack>) {
        match event {
            Event::Durable(acks) => {
                for ack in acks {
                    match ack {
                        Ack::Stored(seq) => {
                            self.live.insert(seq);
                            self.max_acked = self.max_acked.max(seq);
                            self.trace.push(format!("stored {seq}"));
                        }
                        Ack::Deleted(seq) => {
                            self.live.remove(&seq);
                            self.pending_deletes.remove(&seq);
                            self.acked_deletes.insert(seq);
                            self.trace.push(format!("deleted {seq}"));
                        }
                    }
                }
            }
            Event::Failed(..) => self
                .violations
                .push(Violation::new("io-failed", "the model disk failed a request".into())),
            Event::Read(..) => {}
        }
    }

    fn read(&mut self, seq: u64) -> Result<Bytes, ReadError> {
        let mut next = self.next_id;
        let request = self.store.read(seq, Ack::Stored(seq), &mut || {
            next += 1;
            IoId(next)
        });
        self.next_id = next;
        let event = match request {
            Some((id, request)) => {
                let completion = self.disk.run(id, &request);
                self.store.complete(&completion)
            }
            None => self.store.poll_answered(),
        };
        match event {
            Some(Event::Read(_, result)) => result.map(|m| m.payload),
            _ => Err(ReadError::NotFound),
        }
    }

    fn segments(&mut self) -> Vec<(u32, Bytes)> {
        let Ok(IoOutcome::Names(names)) = self
            .disk
            .run(
                IoId(0),
                &IoRequest::List {
                    dir: Some(self.dir.clone()),
                },
            )
            .result
        else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|name| {
                let n: u32 = name.strip_suffix(".seg")?.parse().ok()?;
                let path = self.dir.join(name).ok()?;
                match self
                    .disk
                    .run(
                        IoId(0),
                        &IoRequest::Read {
                            path,
                            offset: 0,
                            len: usize::MAX,
                        },
                    )
                    .result
                {
                    Ok(IoOutcome::Data(data)) => Some((n, data)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Flips one bit somewhere in the segments, durably.
    fn flip(&mut self) {
        let segments = self.segments();
        if segments.is_empty() {
            return;
        }
        let (n, bytes) = &segments[self.rng.below(segments.len())];
        if bytes.is_empty() {
            return;
        }
        let Ok(path) = self.dir.join(&format!("{n}.seg")) else {
            return;
        };
        let at = self.rng.below(bytes.len());
        let flipped = bytes[at] ^ (1 << self.rng.below(8));
        self.disk.run(
            IoId(0),
            &IoRequest::Write {
                path: path.clone(),
                offset: at as u64,
                data: Bytes::from(vec![flipped]),
            },
        );
        self.disk.run(IoId(0), &IoRequest::Sync { path });
        self.flipped = true;
        self.trace.push(format!("flip {n}:{at}"));
    }

    /// The power goes, then the store restarts from what the disk kept.
    fn crash(&mut self, torn: Torn, now: i64) {
        self.disk.crash(torn);
        let segments = self.segments();
        match StreamStore::recover(self.dir.clone(), self.config, segments, now) {
            Ok((store, findings)) => {
                self.store = store;
                self.trace.push(format!("restart findings={}", findings.len()));
                self.check_reads(!findings.is_empty());
            }
            Err(error) => self
                .violations
                .push(Violation::new("recovery-failed", error.to_string())),
        }
        // Deletes in flight at the crash may or may not have happened.
        for seq in std::mem::take(&mut self.pending_deletes) {
            if self.read(seq).is_err() {
                self.live.remove(&seq);
            }
        }
    }

    /// Every acknowledged live message reads back exactly (unless damage was reported), and
    /// nothing else is served.
    fn check_reads(&mut self, damage_reported: bool) {
        let last = self.written.keys().next_back().copied().unwrap_or(0);
        for seq in 1..=last + 1 {
            let result = self.read(seq);
            match (&result, self.written.get(&seq)) {
                (Ok(got), Some(stored)) if got != stored => self.violations.push(Violation::new(
                    "wrong-message-served",
                    format!("seq {seq}: {} bytes served, {} stored", got.len(), stored.len()),
                )),
                (Ok(_), None) => self.violations.push(Violation::new(
                    "wrong-message-served",
                    format!("seq {seq} was never stored"),
                )),
                _ => {}
            }
            if result.is_ok() && self.acked_deletes.contains(&seq) {
                if self.flipped && damage_reported {
                    // A flip that lands on a tombstone undoes that deletion (reported as
                    // damage; docs/storage.md): the message is as stored, and back.
                    self.acked_deletes.remove(&seq);
                } else {
                    self.violations.push(Violation::new(
                        "deleted-message-back",
                        format!("seq {seq} was deleted, and reads back"),
                    ));
                }
            }
            let maybe_deleted = self.pending_deletes.contains(&seq);
            if result.is_err() && self.live.contains(&seq) && !maybe_deleted && !(self.flipped && damage_reported) {
                self.violations.push(Violation::new(
                    "acked-message-lost",
                    format!("seq {seq} was acknowledged and reads as {result:?}"),
                ));
            }
            if result.is_err() && self.live.contains(&seq) && !maybe_deleted {
                // Lost to a reported flip: no longer expected.
                self.live.remove(&seq);
            }
        }
    }
}

/// Runs the storage scenario for `seed`.
pub fn run(seed: u64) -> StorageOutcome {
    let mut rng = Rng::new(seed ^ 0x5354_4f52_4147_4531);
    let plan = StoragePlan::new(&mut rng);
    let config = StoreConfig {
        max_segment: plan.max_segment,
        durability: Durability::Sync,
        limits: Limits::default(),
        first_seq: 1,
        overhead: 0,
        header_overhead: 0,
    };
    let setup = |error: String| StorageOutcome {
        plan: plan.clone(),
        violations: vec![Violation::new("setup", error)],
        trace: Vec::new(),
    };
    let dir = match StorePath::new("stream") {
        Ok(dir) => dir,
        Err(error) => return setup(error.to_string()),
    };
    let mut disk = CrashFs::new();
    disk.run(IoId(0), &IoRequest::CreateDir { dir: dir.clone() });
    disk.run(IoId(0), &IoRequest::SyncDir { dir: None });
    let store = match StreamStore::new(dir.clone(), config) {
        Ok(store) => store,
        Err(error) => return setup(error.to_string()),
    };
    let mut run = Run {
        dir,
        rng,
        disk,
        store,
        config,
        next_id: 0,
        written: BTreeMap::new(),
        live: BTreeSet::new(),
        acked_deletes: BTreeSet::new(),
        pending_deletes: BTreeSet::new(),
        max_acked: 0,
        flipped: false,
        violations: Vec::new(),
        trace: Vec::new(),
    };
    for op in 0..plan.ops {
        let now = op as i64;
        if run.rng.below(5) == 0 && !run.live.is_empty() {
            let pick = run.rng.below(run.live.len());
            if let Some(seq) = run.live.iter().nth(pick).copied() {
                match run.store.delete(seq, now, Ack::Deleted(seq)) {
                    Ok(true) => {
                        run.pending_deletes.insert(seq);
                    }
                    Ok(false) => {}
                    Err(error) => run.violations.push(Violation::new("store-refused", error.to_string())),
                }
            }
        } else {
            let subject = Bytes::from(format!("orders.{}", run.rng.below(4)));
            let len = run.rng.below(300);
            let payload: Bytes = (0..len).map(|_| run.rng.below(256) as u8).collect::<Vec<u8>>().into();
            let seq_hint = run.store.state().last_seq + 1;
            match run
                .store
                .store(subject, Bytes::new(), payload.clone(), now, Ack::Stored(seq_hint))
            {
                Ok((seq, _)) => {
                    if seq != seq_hint {
                        run.violations.push(Violation::new(
                            "sequence-unexpected",
                            format!("stored as {seq}, the stream said {seq_hint} was next"),
                        ));
                    }
                    if seq <= run.max_acked {
                        run.violations.push(Violation::new(
                            "acked-sequence-reused",
                            format!("seq {seq} given again (acknowledged up to {})", run.max_acked),
                        ));
                    }
                    run.written.insert(seq, payload);
                }
                Err(error) => run.violations.push(Violation::new("store-refused", error.to_string())),
            }
        }
        let steps = run.rng.below(6);
        run.io(steps);
        for (_, torn) in plan.crashes.iter().filter(|(at, _)| *at == op) {
            run.crash(*torn, now);
        }
        for _ in plan.flips.iter().filter(|at| **at == op) {
            run.flip();
        }
    }
    // The end: let the IO finish, restart once more, check everything.
    run.io(usize::MAX);
    run.crash(Torn::Nothing, plan.ops as i64);
    StorageOutcome {
        plan,
        violations: run.violations,
        trace: run.trace,
    }
}
