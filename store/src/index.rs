//! A stream's message index in memory: which sequences are stored, their subjects, sizes and
//! times, each subject's first and last sequence and count, and what the stream's limits
//! would remove. Lookups are proportional to the answer, not to the stream: the last message
//! on a subject (KV get, `last_by_subj`) is one map lookup.
//!
//! Sequences follow nats-server's conventions: `last_seq` is the last sequence ever assigned
//! (deleting it does not lower it), `first_seq` is the lowest stored one, or `last_seq + 1`
//! when the stream is empty, and the deleted count is the gaps between them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

/// One stored message, as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Its subject.
    pub subject: Bytes,
    /// Its stored size (what `max_bytes` counts).
    pub size: u64,
    /// When it was stored, Unix nanoseconds.
    pub time: i64,
}

/// Each subject's messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Subject {
    seqs: BTreeSet<u64>,
}

/// The stream's figures, as StreamInfo's `state` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    /// Messages stored.
    pub msgs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The lowest stored sequence, or `last_seq + 1` when empty.
    pub first_seq: u64,
    /// The last sequence assigned.
    pub last_seq: u64,
    /// Subjects with a stored message.
    pub num_subjects: u64,
    /// Sequences between first and last that are not stored.
    pub num_deleted: u64,
}

/// The limits that remove old messages (`discard: old`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `max_msgs` (`None`: unlimited).
    pub max_msgs: Option<u64>,
    /// `max_bytes`.
    pub max_bytes: Option<u64>,
    /// `max_age`, nanoseconds.
    pub max_age: Option<i64>,
    /// `max_msgs_per_subject`.
    pub max_msgs_per_subject: Option<u64>,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Index {
    msgs: BTreeMap<u64, Meta>,
    subjects: BTreeMap<Bytes, Subject>,
    bytes: u64,
    last_seq: u64,
}

impl Index {
    /// An empty index whose next sequence is `first_seq`.
    pub fn new(first_seq: u64) -> Self {
        Index {
            last_seq: first_seq.saturating_sub(1),
            ..Index::default()
        }
    }

    /// Records message `seq`. Sequences must grow; a lower one is refused (false).
    pub fn insert(&mut self, seq: u64, meta: Meta) -> bool {
        if seq <= self.last_seq || seq == 0 {
            return false;
        }
        self.last_seq = self.last_seq.max(seq);
        self.bytes += meta.size;
        self.subjects.entry(meta.subject.clone()).or_default().seqs.insert(seq);
        self.msgs.insert(seq, meta);
        true
    }

    /// Raises the last sequence assigned to `seq` (recovery: the last message may have been
    /// deleted since).
    pub fn raise_last_seq(&mut self, seq: u64) {
        self.last_seq = self.last_seq.max(seq);
    }

    /// Forgets message `seq`; returns what it was.
    pub fn remove(&mut self, seq: u64) -> Option<Meta> {
        let meta = self.msgs.remove(&seq)?;
        self.bytes -= meta.size;
        if let Some(subject) = self.subjects.get_mut(&meta.subject) {
            subject.seqs.remove(&seq);
            if subject.seqs.is_empty() {
                self.subjects.remove(&meta.subject);
            }
        }
        Some(meta)
    }

    /// Message `seq`, if stored.
    pub fn get(&self, seq: u64) -> Option<&Meta> {
        self.msgs.get(&seq)
    }

    /// The last stored sequence on `subject`.
    pub fn last_for(&self, subject: &[u8]) -> Option<u64> {
        self.subjects.get(subject)?.seqs.last().copied()
    }

    /// The last stored sequence on `subject` at or below `up_to`.
    pub fn last_for_up_to(&self, subject: &[u8], up_to: u64) -> Option<u64> {
        self.subjects.get(subject)?.seqs.range(..=up_to).next_back().copied()
    }

    /// The first stored sequence on `subject` at or after `from`.
    pub fn next_for(&self, subject: &[u8], from: u64) -> Option<u64> {
        self.subjects.get(subject)?.seqs.range(from..).next().copied()
    }

    /// Messages stored on `subject`.
    pub fn count_for(&self, subject: &[u8]) -> u64 {
        self.subjects.get(subject).map_or(0, |s| s.seqs.len() as u64)
    }

    /// Subjects with stored messages, and how many each has, in subject order.
    pub fn subjects(&self) -> impl Iterator<Item = (&Bytes, u64)> {
        self.subjects.iter().map(|(s, v)| (s, v.seqs.len() as u64))
    }

    /// The stored sequences from `from` on, in order.
    pub fn seqs_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        self.msgs.range(from..).map(|(s, _)| *s)
    }

    /// The stream's figures.
    pub fn state(&self) -> State {
        let msgs = self.msgs.len() as u64;
        let first_seq = self.msgs.keys().next().copied().unwrap_or(self.last_seq + 1);
        let span = if msgs == 0 { 0 } else { self.last_seq - first_seq + 1 };
        State {
            msgs,
            bytes: self.bytes,
            first_seq,
            last_seq: self.last_seq,
            num_subjects: self.subjects.len() as u64,
            num_deleted: span - msgs,
        }
    }

    /// Removes what `limits` do not allow at time `now` (oldest first, as `discard: old`
    /// does), and returns the sequences removed, in order.
    pub fn enforce(&mut self, limits: &Limits, now: i64) -> Vec<u64> {
        let mut removed = Vec::new();
        if let Some(per_subject) = limits.max_msgs_per_subject {
            let over: Vec<u64> = self
                .subjects
                .values()
                .flat_map(|s| {
                    let excess = (s.seqs.len() as u64).saturating_sub(per_subject) as usize;
                    s.seqs.iter().take(excess).copied().collect::<Vec<_>>()
                })
                .collect();
            for seq in over {
                self.remove(seq);
                removed.push(seq);
            }
        }
        while let Some((&seq, meta)) = self.msgs.iter().next() {
            let too_many = limits.max_msgs.is_some_and(|max| self.msgs.len() as u64 > max);
            let too_big = limits.max_bytes.is_some_and(|max| self.bytes > max);
            // nats-server expires what is `max_age` old or older.
            let too_old = limits.max_age.is_some_and(|age| now.saturating_sub(meta.time) >= age);
            if !(too_many || too_big || too_old) {
                break;
            }
            self.remove(seq);
            removed.push(seq);
        }
        removed.sort_unstable();
        removed
    }
}
