//! Group commit for one append-only file: nothing is acknowledged before the sync that covers
//! it completes, and appends that arrive while a sync is in flight share the next one.
//!
//! The caller appends bytes with a token each (what to acknowledge: a publish, say), asks for
//! the IO to run with [`GroupCommit::poll_request`], and reports completions with
//! [`GroupCommit::complete`], which hands back the tokens a completed sync made durable, in
//! append order. At most one batch is in flight: a write of everything appended since the last
//! batch, then a sync of the file; the executor runs requests in order, so the sync covers the
//! write. With [`Durability::Interval`] (nats-server's `sync_interval`, the operator's explicit
//! opt-out) tokens are released when their write completes and syncs are left to a timer.
//!
//! A new file's first batch also syncs its directory: a file whose data is synced but whose
//! directory entry is not can vanish at a crash, with everything acknowledged in it.
//!
//! A failed write or sync acknowledges nothing: every token not yet released comes back as
//! failed, and the file refuses appends until the engine recovers it (its tail may hold part
//! of the failed batch).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::io::{IoCompletion, IoError, IoId, IoRequest, StorePath};

/// When appends are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After the sync that covers them (the default).
    Sync,
    /// After their write; syncs come from a timer ([`GroupCommit::sync_now`]).
    Interval,
}

/// What a completion meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed<T> {
    /// These tokens are now acknowledged (durable, under [`Durability::Sync`]), in append order.
    Durable(Vec<T>),
    /// The write or sync failed: these tokens are not acknowledged, and the file takes no more
    /// appends.
    Failed(Vec<T>, IoError),
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the file failed earlier: {0}")]
pub struct Refused(pub IoError);

#[derive(Debug)]
struct Batch<T> {
    /// The batch's requests not yet completed, in the order they run (write, sync, and for a
    /// new file the sync of its directory); the last one releases the tokens.
    waiting: VecDeque<IoId>,
    tokens: Vec<T>,
}

/// The `sync_interval` timer's sync of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimerSync {
    /// None asked for.
    Idle,
    /// Asked for; made once no batch is in flight.
    Wanted,
    /// Made: the requests not yet completed (the file's sync, then for a new file its
    /// directory's).
    Running(Vec<IoId>),
}

/// See the module docs.
#[derive(Debug)]
pub struct GroupCommit<T> {
    path: StorePath,
    durability: Durability,
    /// Where the next batch starts in the file.
    end: u64,
    /// Bytes appended since the last batch, and their tokens.
    pending: Vec<u8>,
    pending_tokens: Vec<T>,
    in_flight: Option<Batch<T>>,
    /// Requests made, waiting to be taken by [`GroupCommit::poll_request`].
    requests: VecDeque<(IoId, IoRequest)>,
    /// The sync [`GroupCommit::sync_now`] asks for under [`Durability::Interval`].
    timer_sync: TimerSync,
    /// Under [`Durability::Interval`]: writes completed (and acknowledged) that no sync has
    /// covered yet.
    unsynced: bool,
    /// The file's directory entry is durable (false for a new file until its directory is
    /// synced: a synced file whose entry is not can vanish at a crash).
    entry_durable: bool,
    failed: Option<IoError>,
}

impl<T> GroupCommit<T> {
    /// A new file at `path` (it does not exist yet; the first batch also makes its directory
    /// entry durable).
    pub fn create(path: StorePath, durability: Durability) -> Self {
        GroupCommit {
            entry_durable: false,
            ..GroupCommit::new(path, 0, durability)
        }
    }

    /// An existing file at `path` whose first `len` bytes (and directory entry) are durable.
    pub fn new(path: StorePath, len: u64, durability: Durability) -> Self {
        GroupCommit {
            entry_durable: true,
            path,
            durability,
            end: len,
            pending: Vec::new(),
            pending_tokens: Vec::new(),
            in_flight: None,
            requests: VecDeque::new(),
            timer_sync: TimerSync::Idle,
            unsynced: false,
            failed: None,
        }
    }

    /// The file's length once everything appended is written.
    pub fn len(&self) -> u64 {
        self.end + self.pending.len() as u64
    }

    /// Whether nothing was ever written to it.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether anything appended is not yet acknowledged, or (under
    /// [`Durability::Interval`]) acknowledged but not yet synced: the file's commit is needed
    /// until it is not.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
            || !self.pending_tokens.is_empty()
            || self.unsynced
            || self.timer_sync != TimerSync::Idle
    }

    /// Appends `bytes`, acknowledged as `token` once durable. Returns the offset they start at.
    pub fn append(&mut self, bytes: &[u8], token: T) -> Result<u64, Refused> {
        if let Some(error) = &self.failed {
            return Err(Refused(error.clone()));
        }
        let offset = self.len();
        self.pending.extend_from_slice(bytes);
        self.pending_tokens.push(token);
        Ok(offset)
    }

    /// Under [`Durability::Interval`], asks for a sync of what is written so far (the
    /// `sync_interval` timer). A file with nothing unsynced is left alone.
    pub fn sync_now(&mut self) {
        let dirty = self.unsynced || self.in_flight.is_some() || !self.pending_tokens.is_empty();
        if self.timer_sync == TimerSync::Idle && self.failed.is_none() && dirty {
            self.timer_sync = TimerSync::Wanted;
        }
    }

    /// The next IO request to run, if any; `next_id` names each new one.
    pub fn poll_request(&mut self, next_id: &mut impl FnMut() -> IoId) -> Option<(IoId, IoRequest)> {
        if self.requests.is_empty() && self.failed.is_none() {
            self.start_batch(next_id);
        }
        self.requests.pop_front()
    }

    fn start_batch(&mut self, next_id: &mut impl FnMut() -> IoId) {
        if self.timer_sync == TimerSync::Wanted && self.in_flight.is_none() {
            let id = next_id();
            self.requests.push_back((
                id,
                IoRequest::Sync {
                    path: self.path.clone(),
                },
            ));
            let mut ids = vec![id];
            if !self.entry_durable {
                let dir_sync = next_id();
                self.requests.push_back((
                    dir_sync,
                    IoRequest::SyncDir {
                        dir: self.path.parent(),
                    },
                ));
                ids.push(dir_sync);
            }
            // Everything written so far is covered (the executor runs requests in order).
            self.unsynced = false;
            self.timer_sync = TimerSync::Running(ids);
        }
        if self.in_flight.is_some() || self.pending_tokens.is_empty() {
            return;
        }
        let data = Bytes::from(std::mem::take(&mut self.pending));
        let write = next_id();
        self.requests.push_back((
            write,
            IoRequest::Write {
                path: self.path.clone(),
                offset: self.end,
                data: data.clone(),
            },
        ));
        self.end += data.len() as u64;
        let mut waiting = VecDeque::from([write]);
        if self.durability == Durability::Sync {
            let sync = next_id();
            self.requests.push_back((
                sync,
                IoRequest::Sync {
                    path: self.path.clone(),
                },
            ));
            waiting.push_back(sync);
            if !self.entry_durable {
                let dir_sync = next_id();
                self.requests.push_back((
                    dir_sync,
                    IoRequest::SyncDir {
                        dir: self.path.parent(),
                    },
                ));
                waiting.push_back(dir_sync);
            }
        }
        self.in_flight = Some(Batch {
            waiting,
            tokens: std::mem::take(&mut self.pending_tokens),
        });
    }

    /// Acts on a completion; `None` if it was not one of this file's requests or releases
    /// nothing yet.
    pub fn complete(&mut self, completion: &IoCompletion) -> Option<Committed<T>> {
        if let TimerSync::Running(ids) = &mut self.timer_sync {
            if let Some(at) = ids.iter().position(|id| *id == completion.id) {
                ids.remove(at);
                if ids.is_empty() {
                    self.timer_sync = TimerSync::Idle;
                    if completion.result.is_ok() {
                        self.entry_durable = true;
                    }
                }
                return match &completion.result {
                    Ok(_) => None,
                    Err(error) => Some(self.fail(error.clone())),
                };
            }
        }
        let batch = self.in_flight.as_mut()?;
        if !batch.waiting.contains(&completion.id) {
            return None;
        }
        if let Err(error) = &completion.result {
            return Some(self.fail(error.clone()));
        }
        if batch.waiting.front() != Some(&completion.id) {
            // The executor runs requests in order; anything else could ack before a sync.
            return Some(self.fail(IoError::new(
                crate::io::IoErrorKind::Other,
                "IO completed out of order: a sync before the write it covers",
            )));
        }
        batch.waiting.pop_front();
        if !batch.waiting.is_empty() {
            return None;
        }
        let batch = self.in_flight.take()?;
        match self.durability {
            Durability::Sync => self.entry_durable = true,
            Durability::Interval => self.unsynced = true,
        }
        Some(Committed::Durable(batch.tokens))
    }

    /// Fails the file: every token not yet released comes back.
    fn fail(&mut self, error: IoError) -> Committed<T> {
        self.failed = Some(error.clone());
        self.requests.clear();
        self.timer_sync = TimerSync::Idle;
        self.unsynced = false;
        let mut tokens: Vec<T> = self.in_flight.take().map(|b| b.tokens).unwrap_or_default();
        tokens.append(&mut self.pending_tokens);
        self.pending.clear();
        Committed::Failed(tokens, error)
    }

    /// Why the file refuses appends, if it does.
    pub fn failure(&self) -> Option<&IoError> {
        self.failed.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemFs;

    fn drive(gc: &mut GroupCommit<u32>, disk: &mut MemFs, next: &mut u64) -> (Vec<IoRequest>, Vec<u32>) {
        let mut seen = Vec::new();
        let mut released = Vec::new();
        while let Some((id, request)) = gc.poll_request(&mut || {
            *next += 1;
            IoId(*next)
        }) {
            seen.push(request.clone());
            if let Some(Committed::Durable(tokens)) = gc.complete(&disk.run(id, &request)) {
                released.extend(tokens);
            }
        }
        (seen, released)
    }

    #[test]
    fn interval_durability_acknowledges_after_the_write_and_syncs_on_request() {
        let path = StorePath::new("log").expect("valid");
        let mut gc = GroupCommit::new(path.clone(), 0, Durability::Interval);
        let (mut disk, mut next) = (MemFs::new(), 0);
        gc.append(b"one", 1).expect("accepted");
        gc.append(b"two", 2).expect("accepted");
        let (requests, released) = drive(&mut gc, &mut disk, &mut next);
        assert_eq!(released, vec![1, 2]);
        assert!(
            requests.iter().all(|r| matches!(r, IoRequest::Write { .. })),
            "{requests:?}"
        );
        gc.sync_now();
        let (requests, released) = drive(&mut gc, &mut disk, &mut next);
        assert!(released.is_empty());
        assert_eq!(requests, vec![IoRequest::Sync { path }]);
    }

    #[test]
    fn interval_durability_keeps_the_file_busy_until_synced_and_syncs_a_new_files_directory() {
        let path = StorePath::new("d/log").expect("valid");
        let mut gc = GroupCommit::create(path.clone(), Durability::Interval);
        let (mut disk, mut next) = (MemFs::new(), 0);
        disk.run(
            IoId(0),
            &IoRequest::CreateDir {
                dir: StorePath::new("d").expect("valid"),
            },
        );
        gc.sync_now();
        assert!(drive(&mut gc, &mut disk, &mut next).0.is_empty(), "nothing to sync");
        gc.append(b"one", 1).expect("accepted");
        assert_eq!(drive(&mut gc, &mut disk, &mut next).1, vec![1]);
        assert!(gc.busy(), "acknowledged but not synced: the log must keep this commit");
        gc.sync_now();
        let (requests, _) = drive(&mut gc, &mut disk, &mut next);
        assert_eq!(
            requests,
            vec![
                IoRequest::Sync { path: path.clone() },
                IoRequest::SyncDir { dir: path.parent() }
            ]
        );
        assert!(!gc.busy());
        gc.sync_now();
        assert!(drive(&mut gc, &mut disk, &mut next).0.is_empty(), "synced already");
    }

    #[test]
    fn a_new_file_syncs_its_directory_before_the_first_acknowledgement_only() {
        let path = StorePath::new("d/log").expect("valid");
        let mut gc = GroupCommit::create(path.clone(), Durability::Sync);
        let (mut disk, mut next) = (MemFs::new(), 0);
        disk.run(
            IoId(0),
            &IoRequest::CreateDir {
                dir: StorePath::new("d").expect("valid"),
            },
        );
        gc.append(b"one", 1).expect("accepted");
        let (requests, released) = drive(&mut gc, &mut disk, &mut next);
        assert_eq!(released, vec![1]);
        let dir = path.parent();
        assert_eq!(requests.last(), Some(&IoRequest::SyncDir { dir }));
        gc.append(b"two", 2).expect("accepted");
        let (requests, released) = drive(&mut gc, &mut disk, &mut next);
        assert_eq!(released, vec![2]);
        assert!(!requests.iter().any(|r| matches!(r, IoRequest::SyncDir { .. })));
    }
}
