//! A stream's store: the message log and the index together. Storing a message appends it to
//! the log (acknowledged once durable), indexes it, and applies the stream's limits; deleting
//! appends a tombstone; reading asks the disk for the record and hands back the message only
//! if its checksum and sequence check out, so damage is never served.
//!
//! Messages the limits remove get tombstones too. Removals cannot be worked out again at a
//! restart: with one message per subject kept, storing 1 and 2 on a subject removes 1, and if
//! 2 is then deleted, replaying the limits over what is left would keep 1.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::commit::{Committed, Durability};
use crate::index::{Index, Limits, Meta, State};
use crate::io::{InvalidPath, IoCompletion, IoError, IoId, IoOutcome, IoRequest, StorePath};
use crate::log::{AppendError, Finding, Log};
use crate::record::{decode, Decoded, Record};

/// How a stream's store is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// A segment is closed once it holds this many bytes.
    pub max_segment: u64,
    /// When appends are acknowledged.
    pub durability: Durability,
    /// What the limits remove (`discard: old`).
    pub limits: Limits,
    /// The sequence of the first message (`first_seq`).
    pub first_seq: u64,
    /// Bytes counted for each message besides its subject, headers and payload (what
    /// `bytes` and `max_bytes` add; nats-server's stores count their framing).
    pub overhead: u64,
    /// Bytes counted besides those for a message with headers.
    pub header_overhead: u64,
}

impl StoreConfig {
    /// The size counted for a message with these parts.
    pub fn size_of(&self, subject: &[u8], headers: &[u8], payload: &[u8]) -> u64 {
        let framing = self.overhead + if headers.is_empty() { 0 } else { self.header_overhead };
        (subject.len() + headers.len() + payload.len()) as u64 + framing
    }
}

/// A message read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its sequence.
    pub seq: u64,
    /// When it was stored, Unix nanoseconds.
    pub time: i64,
    /// Its subject.
    pub subject: Bytes,
    /// Its headers block (empty when none).
    pub headers: Bytes,
    /// Its payload.
    pub payload: Bytes,
}

/// Why a read gave no message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The stream does not have it (never stored, deleted, or removed by a limit).
    #[error("no message found")]
    NotFound,
    /// The record on disk does not check out: it is reported, never served.
    #[error("message {0} is damaged on disk")]
    Damaged(u64),
    /// The disk could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// What a completion meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<T> {
    /// These stores and deletes are acknowledged (durable), in order.
    Durable(Vec<T>),
    /// A write or sync failed: these are not acknowledged, and the store takes no more.
    Failed(Vec<T>, IoError),
    /// A read finished.
    Read(T, Result<StoredMessage, ReadError>),
}

/// See the module docs.
#[derive(Debug)]
pub struct StreamStore<T> {
    config: StoreConfig,
    /// Tokens are `None` for the tombstones of removals, which nobody waits for.
    log: Log<Option<T>>,
    index: Index,
    reads: BTreeMap<IoId, (u64, T)>,
    /// Answers given without the disk (a read of a message that is gone, a purge of nothing),
    /// waiting to be handed back.
    answered: VecDeque<Event<T>>,
}

impl<T> StreamStore<T> {
    /// An empty store in `dir`.
    pub fn new(dir: StorePath, config: StoreConfig) -> Result<Self, InvalidPath> {
        Ok(StreamStore {
            log: Log::new(dir, config.max_segment, config.durability, config.first_seq)?,
            index: Index::new(config.first_seq),
            config,
            reads: BTreeMap::new(),
            answered: VecDeque::new(),
        })
    }

    /// Rebuilds the store from its segments' bytes, applying the limits as of `now`.
    pub fn recover(
        dir: StorePath,
        config: StoreConfig,
        segments: Vec<(u32, Bytes)>,
        now: i64,
    ) -> Result<(Self, Vec<Finding>), AppendError> {
        let contents = segments.clone();
        let (mut log, findings) =
            Log::recover_from(dir, config.max_segment, config.durability, config.first_seq, segments)?;
        let mut index = Index::new(config.first_seq);
        let seqs: Vec<u64> = log.seqs().collect();
        for seq in seqs {
            let Some(location) = log.locate(seq) else { continue };
            let Some((_, bytes)) = contents.iter().find(|(n, _)| *n == location.segment) else {
                continue;
            };
            if let Decoded::Record(record, _) = decode(bytes, location.offset as usize) {
                index.insert(seq, meta_of(&config, &record));
            }
        }
        index.raise_last_seq(log.last_seq());
        for seq in index.enforce(&config.limits, now) {
            // Expired while the server was down: made durable like any removal.
            log.delete(seq, now, None)?;
        }
        Ok((
            StreamStore {
                config,
                log,
                index,
                reads: BTreeMap::new(),
                answered: VecDeque::new(),
            },
            findings,
        ))
    }

    /// Stores a message at time `now`; acknowledged as `token` once durable. Returns its
    /// sequence and the sequences the limits removed to make room.
    pub fn store(
        &mut self,
        subject: Bytes,
        headers: Bytes,
        payload: Bytes,
        now: i64,
        token: T,
    ) -> Result<(u64, Vec<u64>), AppendError> {
        let size = self.config.size_of(&subject, &headers, &payload);
        let seq = self.log.append(now, subject.clone(), headers, payload, Some(token))?;
        self.index.insert(
            seq,
            Meta {
                subject,
                size,
                time: now,
            },
        );
        let removed = self.remove_over_limits(now)?;
        Ok((seq, removed))
    }

    /// Replaces the limits (a stream update) and removes what they no longer allow at `now`;
    /// returns the sequences removed.
    pub fn set_limits(&mut self, limits: Limits, now: i64) -> Result<Vec<u64>, AppendError> {
        self.config.limits = limits;
        self.remove_over_limits(now)
    }

    /// The store's settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Removes what the limits no longer allow at `now` (`max_age` expiry); returns the
    /// sequences removed.
    pub fn expire(&mut self, now: i64) -> Result<Vec<u64>, AppendError> {
        self.remove_over_limits(now)
    }

    fn remove_over_limits(&mut self, now: i64) -> Result<Vec<u64>, AppendError> {
        let removed = self.index.enforce(&self.config.limits, now);
        for seq in &removed {
            self.log.delete(*seq, now, None)?;
        }
        Ok(removed)
    }

    /// Deletes message `seq` (durably, acknowledged as `token`). False if the stream does not
    /// have it.
    pub fn delete(&mut self, seq: u64, now: i64, token: T) -> Result<bool, AppendError> {
        if self.index.get(seq).is_none() {
            return Ok(false);
        }
        let deleted = self.log.delete(seq, now, Some(token))?;
        if deleted {
            self.index.remove(seq);
        }
        Ok(deleted)
    }

    /// Reads message `seq`; the answer comes back as [`Event::Read`] with `token`.
    pub fn read(&mut self, seq: u64, token: T, next_id: &mut impl FnMut() -> IoId) -> Option<(IoId, IoRequest)> {
        let location = self.log.locate(seq).filter(|_| self.index.get(seq).is_some());
        let Some(location) = location else {
            self.answered.push_back(Event::Read(token, Err(ReadError::NotFound)));
            return None;
        };
        let Ok(path) = self.log.path_of(location) else {
            self.answered.push_back(Event::Read(token, Err(ReadError::NotFound)));
            return None;
        };
        let id = next_id();
        self.reads.insert(id, (seq, token));
        Some((
            id,
            IoRequest::Read {
                path,
                offset: location.offset,
                len: location.len as usize,
            },
        ))
    }

    /// An answer given without the disk, if any.
    pub fn poll_answered(&mut self) -> Option<Event<T>> {
        self.answered.pop_front()
    }

    /// Purges messages, as STREAM.PURGE does: those on subjects `filter` matches (every subject
    /// when `None`; `*` and `>` wildcards), below sequence `below` when given, and keeping the
    /// newest `keep` when given. Each purged message gets a tombstone; the purge is
    /// acknowledged as `token` once they are all durable (at once when nothing is purged).
    /// Returns how many were purged.
    pub fn purge(
        &mut self,
        filter: Option<&[u8]>,
        below: Option<u64>,
        keep: Option<u64>,
        now: i64,
        token: T,
    ) -> Result<u64, AppendError> {
        let matching: Vec<u64> = self
            .index
            .seqs_from(0)
            .filter(|seq| below.is_none_or(|b| *seq < b))
            .filter(|seq| filter.is_none_or(|f| self.index.get(*seq).is_some_and(|m| subject_matches(f, &m.subject))))
            .collect();
        let purge = matching.len().saturating_sub(keep.unwrap_or(0) as usize);
        let victims = &matching[..purge];
        let mut token = Some(token);
        for (i, seq) in victims.iter().enumerate() {
            let last = i + 1 == victims.len();
            self.log.delete(*seq, now, if last { token.take() } else { None })?;
            self.index.remove(*seq);
        }
        if let Some(token) = token {
            self.answered.push_back(Event::Durable(vec![token]));
        }
        Ok(victims.len() as u64)
    }

    /// The next write or sync to run.
    pub fn poll_request(&mut self, next_id: &mut impl FnMut() -> IoId) -> Option<(IoId, IoRequest)> {
        self.log.poll_request(next_id)
    }

    /// Under [`Durability::Interval`], syncs what was written and acknowledged but not yet
    /// synced (the `sync_interval` timer); the requests come from [`StreamStore::poll_request`].
    pub fn sync_now(&mut self) {
        self.log.sync_now();
    }

    /// Acts on a completion.
    pub fn complete(&mut self, completion: &IoCompletion) -> Option<Event<T>> {
        if let Some((seq, token)) = self.reads.remove(&completion.id) {
            let result = match &completion.result {
                Ok(IoOutcome::Data(data)) => match decode(data, 0) {
                    Decoded::Record(record, _) if record.seq == seq && !record.tombstone => Ok(StoredMessage {
                        seq,
                        time: record.time,
                        subject: record.subject,
                        headers: record.headers,
                        payload: record.payload,
                    }),
                    _ => Err(ReadError::Damaged(seq)),
                },
                Ok(_) => Err(ReadError::Damaged(seq)),
                Err(error) => Err(ReadError::Io(error.clone())),
            };
            return Some(Event::Read(token, result));
        }
        match self.log.complete(completion)? {
            Committed::Durable(tokens) => Some(Event::Durable(tokens.into_iter().flatten().collect())),
            Committed::Failed(tokens, error) => Some(Event::Failed(tokens.into_iter().flatten().collect(), error)),
        }
    }

    /// The stream's figures.
    pub fn state(&self) -> State {
        self.index.state()
    }

    /// The index, for lookups by subject.
    pub fn index(&self) -> &Index {
        &self.index
    }
}

/// Whether `subject` matches `filter`, with NATS wildcards: `*` matches one token, `>` the
/// rest (one token or more).
pub fn subject_matches(filter: &[u8], subject: &[u8]) -> bool {
    let mut wanted = filter.split(|b| *b == b'.');
    let mut tokens = subject.split(|b| *b == b'.');
    loop {
        match (wanted.next(), tokens.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(w), Some(t)) if w == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn meta_of(config: &StoreConfig, record: &Record) -> Meta {
    Meta {
        subject: record.subject.clone(),
        size: config.size_of(&record.subject, &record.headers, &record.payload),
        time: record.time,
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn subject_filters_match_as_in_nats() {
        let cases: &[(&str, &str, bool)] = &[
            ("orders.new", "orders.new", true),
            ("orders.*", "orders.new", true),
            ("orders.*", "orders.new.eu", false),
            ("orders.>", "orders.new.eu", true),
            ("orders.>", "orders", false),
            ("*.new", "orders.new", true),
            ("orders", "orders.new", false),
            (">", "a.b.c", true),
        ];
        for (filter, subject, expected) in cases {
            assert_eq!(
                subject_matches(filter.as_bytes(), subject.as_bytes()),
                *expected,
                "{filter} {subject}"
            );
        }
    }
}
