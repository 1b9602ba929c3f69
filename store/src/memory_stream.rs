//! Memory storage (`storage: memory`): the same stream store, its IO run at once against an
//! in-memory file system. Nothing is written to disk, so nothing survives a restart (as in
//! nats-server); stores are acknowledged as soon as they are made, and reads are answered at
//! once, still checked against their records' checksums.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::commit::Durability;
use crate::index::State;
use crate::io::{IoId, IoRequest, StorePath};
use crate::log::AppendError;
use crate::memory::MemFs;
use crate::stream::{Event, ReadError, StoreConfig, StoredMessage, StreamStore};

/// See the module docs.
#[derive(Debug)]
pub struct MemoryStream {
    store: StreamStore<()>,
    disk: MemFs,
    next: u64,
}

impl MemoryStream {
    /// An empty memory stream with `config` (its durability is ignored: memory is never
    /// durable).
    pub fn new(config: StoreConfig) -> Result<Self, AppendError> {
        let dir = StorePath::new("memory")?;
        let mut disk = MemFs::new();
        disk.run(IoId(0), &IoRequest::CreateDir { dir: dir.clone() });
        // Syncs cost nothing on a MemFs, and under `Sync` no segment's commit outlives its
        // acknowledgements.
        let config = StoreConfig {
            durability: Durability::Sync,
            ..config
        };
        Ok(MemoryStream {
            store: StreamStore::new(dir, config)?,
            disk,
            next: 0,
        })
    }

    /// Runs every request the store has; returns the events they produced.
    fn settle(&mut self) -> VecDeque<Event<()>> {
        let mut events = VecDeque::new();
        loop {
            let mut next = self.next;
            let request = self.store.poll_request(&mut || {
                next += 1;
                IoId(next)
            });
            self.next = next;
            let Some((id, request)) = request else { break };
            if let Some(event) = self.store.complete(&self.disk.run(id, &request)) {
                events.push_back(event);
            }
        }
        while let Some(event) = self.store.poll_answered() {
            events.push_back(event);
        }
        events
    }

    /// Stores a message at `now`; returns its sequence and what the limits removed.
    pub fn store(
        &mut self,
        subject: Bytes,
        headers: Bytes,
        payload: Bytes,
        now: i64,
    ) -> Result<(u64, Vec<u64>), AppendError> {
        let stored = self.store.store(subject, headers, payload, now, ())?;
        self.settle();
        Ok(stored)
    }

    /// Deletes message `seq`; false if the stream does not have it.
    pub fn delete(&mut self, seq: u64, now: i64) -> Result<bool, AppendError> {
        let deleted = self.store.delete(seq, now, ())?;
        self.settle();
        Ok(deleted)
    }

    /// Purges, as [`StreamStore::purge`]; returns how many were purged.
    pub fn purge(
        &mut self,
        filter: Option<&[u8]>,
        below: Option<u64>,
        keep: Option<u64>,
        now: i64,
    ) -> Result<u64, AppendError> {
        let purged = self.store.purge(filter, below, keep, now, ())?;
        self.settle();
        Ok(purged)
    }

    /// Message `seq`.
    pub fn get(&mut self, seq: u64) -> Result<StoredMessage, ReadError> {
        let mut next = self.next;
        let request = self.store.read(seq, (), &mut || {
            next += 1;
            IoId(next)
        });
        self.next = next;
        if let Some((id, request)) = request {
            if let Some(Event::Read((), result)) = self.store.complete(&self.disk.run(id, &request)) {
                return result;
            }
        }
        self.settle()
            .into_iter()
            .find_map(|event| match event {
                Event::Read((), result) => Some(result),
                _ => None,
            })
            .unwrap_or(Err(ReadError::NotFound))
    }

    /// The stream's figures.
    pub fn state(&self) -> State {
        self.store.state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Limits;

    #[test]
    fn memory_streams_store_read_delete_and_purge() {
        let config = StoreConfig {
            max_segment: 1024,
            durability: Durability::Sync,
            limits: Limits {
                max_msgs: Some(3),
                ..Limits::default()
            },
            first_seq: 1,
            overhead: 0,
            header_overhead: 0,
        };
        let mut stream = MemoryStream::new(config).expect("valid");
        for i in 0..5u8 {
            let subject = Bytes::from(format!("kv.{}", i % 2));
            stream
                .store(subject, Bytes::new(), Bytes::from(vec![i; 4]), i64::from(i))
                .expect("stores");
        }
        let state = stream.state();
        assert_eq!((state.msgs, state.first_seq, state.last_seq), (3, 3, 5));
        assert_eq!(stream.get(1), Err(ReadError::NotFound));
        assert_eq!(stream.get(4).map(|m| m.payload), Ok(Bytes::from(vec![3u8; 4])));
        assert!(stream.delete(4, 10).expect("deletes"));
        assert_eq!(stream.get(4), Err(ReadError::NotFound));
        assert_eq!(stream.purge(Some(b"kv.0"), None, None, 11).expect("purges"), 2);
        assert_eq!(stream.state().msgs, 0);
        assert_eq!(stream.state().first_seq, 6);
    }
}
