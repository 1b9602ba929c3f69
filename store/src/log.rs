//! A stream's message log: records appended in sequence order to segment files, each file
//! group-committed, with an index from sequence to place; and recovery, which rebuilds the
//! index from the segments' bytes and reports what it could not read.
//!
//! A deletion is a tombstone record naming the deleted sequence, appended like a message, so
//! it is as durable as one; recovery applies tombstones after reading every segment.
//!
//! Segments are named `<n>.seg` (n from 1) in the log's directory. Appending rolls to a new
//! segment once the tail holds `max_segment` bytes; a sealed segment keeps its group commit
//! until everything in it is acknowledged. Sequences start at 1 and only grow; a record whose
//! sequence does not follow the one before it (damage that happens to check out, or a record
//! found inside a damaged one's payload) is reported, not trusted. A sequence is never given
//! twice: recovery continues past every sequence that unreadable bytes after the last good
//! record could have held (damage may hide an acknowledged record) and past every sequence a
//! tombstone names, leaving a gap rather than risking reuse.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::commit::{Committed, Durability, GroupCommit, Refused};
use crate::io::{InvalidPath, IoCompletion, IoId, IoRequest, StorePath};
use crate::record::{scan, Record, HEADER_LEN, TRAILER_LEN};

/// Where a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The segment's number.
    pub segment: u32,
    /// Its offset in the segment.
    pub offset: u64,
    /// Its encoded length.
    pub len: u32,
}

/// What recovery found wrong in one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Bytes that hold no readable record, with readable records after them: never served,
    /// never deleted.
    Damaged {
        /// The segment.
        segment: u32,
        /// Where the damage starts.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// The segment ends in bytes that hold no whole record (a write cut short): the log
    /// continues from `offset`, and the engine may truncate there.
    TornTail {
        /// The segment.
        segment: u32,
        /// Where the torn bytes start.
        offset: u64,
    },
    /// A record that checks out but whose sequence does not follow the one before it.
    OutOfOrder {
        /// The segment.
        segment: u32,
        /// Its offset.
        offset: u64,
        /// Its sequence.
        seq: u64,
    },
}

/// How many records `len` unreadable bytes may have held: each takes at least a header and
/// a checksum.
fn may_hold(len: usize) -> u64 {
    len.div_ceil(HEADER_LEN + TRAILER_LEN) as u64
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The tail segment failed earlier.
    #[error(transparent)]
    Failed(#[from] Refused),
    /// The record cannot be encoded.
    #[error(transparent)]
    Encode(#[from] crate::record::EncodeError),
    /// The segment's path is invalid (a bad directory).
    #[error(transparent)]
    Path(#[from] InvalidPath),
}

/// See the module docs.
#[derive(Debug)]
pub struct Log<T> {
    dir: StorePath,
    max_segment: u64,
    durability: Durability,
    /// The sequence the next append gets.
    next_seq: u64,
    index: BTreeMap<u64, Location>,
    /// Segment number → its group commit, while it has one (the tail, and sealed segments
    /// with appends not yet acknowledged).
    commits: BTreeMap<u32, GroupCommit<T>>,
    tail: u32,
}

impl<T> Log<T> {
    /// An empty log in `dir`, whose first record gets sequence `first_seq`.
    pub fn new(dir: StorePath, max_segment: u64, durability: Durability, first_seq: u64) -> Result<Self, InvalidPath> {
        let mut log = Log {
            dir,
            max_segment,
            durability,
            next_seq: first_seq.max(1),
            index: BTreeMap::new(),
            commits: BTreeMap::new(),
            tail: 0,
        };
        log.roll(0)?;
        Ok(log)
    }

    /// The path of segment `n`.
    pub fn segment_path(&self, n: u32) -> Result<StorePath, InvalidPath> {
        self.dir.join(&format!("{n}.seg"))
    }

    fn roll(&mut self, len: u64) -> Result<(), InvalidPath> {
        let next = self.tail + 1;
        let path = self.segment_path(next)?;
        let commit = if len == 0 {
            GroupCommit::create(path, self.durability)
        } else {
            GroupCommit::new(path, len, self.durability)
        };
        self.commits.insert(next, commit);
        self.tail = next;
        Ok(())
    }

    /// Appends a message, acknowledged as `token` once durable. Returns its sequence.
    pub fn append(
        &mut self,
        time: i64,
        subject: Bytes,
        headers: Bytes,
        payload: Bytes,
        token: T,
    ) -> Result<u64, AppendError> {
        let seq = self.next_seq;
        let record = Record {
            seq,
            time,
            subject,
            headers,
            payload,
            tombstone: false,
        };
        let mut bytes = Vec::with_capacity(record.encoded_len());
        record.encode(&mut bytes)?;
        let location = self.append_bytes(&bytes, token)?;
        self.index.insert(seq, location);
        self.next_seq += 1;
        Ok(seq)
    }

    /// Appends an encoded record to the tail segment (rolling first if it is full).
    fn append_bytes(&mut self, bytes: &[u8], token: T) -> Result<Location, AppendError> {
        let tail_len = self.commits.get(&self.tail).map(GroupCommit::len);
        if tail_len.is_none_or(|len| len >= self.max_segment) {
            self.roll(0)?;
        }
        let path = self.segment_path(self.tail)?;
        let commit = self
            .commits
            .entry(self.tail)
            .or_insert_with(|| GroupCommit::create(path, self.durability));
        let offset = commit.append(bytes, token)?;
        Ok(Location {
            segment: self.tail,
            offset,
            len: bytes.len() as u32,
        })
    }

    /// Deletes message `seq`: a tombstone record is appended (acknowledged as `token` once
    /// durable, so the deletion survives a restart) and the index forgets it at once. False if
    /// the log does not have it.
    pub fn delete(&mut self, seq: u64, time: i64, token: T) -> Result<bool, AppendError> {
        if !self.index.contains_key(&seq) {
            return Ok(false);
        }
        let record = Record {
            seq,
            time,
            subject: Bytes::new(),
            headers: Bytes::new(),
            payload: Bytes::new(),
            tombstone: true,
        };
        let mut bytes = Vec::with_capacity(record.encoded_len());
        record.encode(&mut bytes)?;
        self.append_bytes(&bytes, token)?;
        self.index.remove(&seq);
        Ok(true)
    }

    /// The next IO request to run, from any segment.
    pub fn poll_request(&mut self, next_id: &mut impl FnMut() -> IoId) -> Option<(IoId, IoRequest)> {
        self.commits.values_mut().find_map(|c| c.poll_request(next_id))
    }

    /// Under [`Durability::Interval`], asks every segment with writes no sync has covered
    /// for a sync (the `sync_interval` timer).
    pub fn sync_now(&mut self) {
        self.commits.values_mut().for_each(GroupCommit::sync_now);
    }

    /// Acts on a completion; returns what it acknowledged or failed.
    pub fn complete(&mut self, completion: &IoCompletion) -> Option<Committed<T>> {
        let (&n, committed) = self
            .commits
            .iter_mut()
            .find_map(|(n, c)| c.complete(completion).map(|done| (n, done)))?;
        // A sealed segment with nothing left in flight needs its commit no more.
        if n != self.tail && self.commits.get(&n).is_some_and(|c| !c.busy() && c.failure().is_none()) {
            self.commits.remove(&n);
        }
        Some(committed)
    }

    /// The path of the segment a location is in.
    pub fn path_of(&self, location: Location) -> Result<StorePath, InvalidPath> {
        self.segment_path(location.segment)
    }

    /// The sequences the log holds, in order.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.index.keys().copied()
    }

    /// Where record `seq` is, if the log has it.
    pub fn locate(&self, seq: u64) -> Option<Location> {
        self.index.get(&seq).copied()
    }

    /// The last sequence assigned (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The first and last sequences stored, if any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        Some((*self.index.keys().next()?, *self.index.keys().next_back()?))
    }

    /// Rebuilds a log in `dir` from its segments' contents (`(number, bytes)`, any order):
    /// every record that checks out and follows the one before it is indexed; the rest is
    /// reported. Appends continue in a new segment after the last one.
    pub fn recover(
        dir: StorePath,
        max_segment: u64,
        durability: Durability,
        segments: Vec<(u32, Bytes)>,
    ) -> Result<(Self, Vec<Finding>), InvalidPath> {
        Self::recover_from(dir, max_segment, durability, 1, segments)
    }

    /// [`Log::recover`] for a log whose first sequence is `first_seq` (the next append gets
    /// at least that).
    pub fn recover_from(
        dir: StorePath,
        max_segment: u64,
        durability: Durability,
        first_seq: u64,
        mut segments: Vec<(u32, Bytes)>,
    ) -> Result<(Self, Vec<Finding>), InvalidPath> {
        segments.sort_by_key(|(n, _)| *n);
        let mut findings = Vec::new();
        let mut index = BTreeMap::new();
        let mut last_seq = 0u64;
        let mut tombstones = Vec::new();
        // Sequences that unreadable bytes after the last good record may have held: a damaged
        // or torn record may have been acknowledged, so its sequence is never given again.
        let mut hidden = 0u64;
        // The highest sequence a tombstone names: it was given, whatever else was lost.
        let mut named = 0u64;
        for (n, bytes) in &segments {
            let found = scan(bytes);
            let mut unreadable: Vec<(usize, usize)> = found
                .damaged
                .iter()
                .map(|range| (range.start, range.end - range.start))
                .collect();
            for range in found.damaged {
                findings.push(Finding::Damaged {
                    segment: *n,
                    offset: range.start as u64,
                    len: (range.end - range.start) as u64,
                });
            }
            if let Some(offset) = found.torn_tail {
                unreadable.push((offset, bytes.len() - offset));
                findings.push(Finding::TornTail {
                    segment: *n,
                    offset: offset as u64,
                });
            }
            let mut unreadable = unreadable.into_iter().peekable();
            for (offset, record) in found.records {
                while let Some((_, len)) = unreadable.next_if(|(at, _)| *at < offset) {
                    hidden += may_hold(len);
                }
                if record.tombstone {
                    named = named.max(record.seq);
                }
                if record.tombstone && record.seq <= last_seq {
                    // A deletion of an earlier message: applied once every segment is read.
                    tombstones.push(record.seq);
                    continue;
                }
                if record.seq <= last_seq || record.tombstone {
                    findings.push(Finding::OutOfOrder {
                        segment: *n,
                        offset: offset as u64,
                        seq: record.seq,
                    });
                    continue;
                }
                last_seq = record.seq;
                hidden = 0;
                index.insert(
                    record.seq,
                    Location {
                        segment: *n,
                        offset: offset as u64,
                        len: record.encoded_len() as u32,
                    },
                );
            }
            hidden += unreadable.map(|(_, len)| may_hold(len)).sum::<u64>();
        }
        for seq in tombstones {
            index.remove(&seq);
        }
        let mut log = Log {
            dir,
            max_segment,
            durability,
            next_seq: (last_seq + hidden + 1).max(named + 1).max(first_seq),
            index,
            commits: BTreeMap::new(),
            tail: segments.last().map_or(0, |(n, _)| *n),
        };
        log.roll(0)?;
        Ok((log, findings))
    }
}
