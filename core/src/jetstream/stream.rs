//! One stream: its configuration, its store (on the disk through the node's IO, or in memory
//! with its IO run at once), its duplicate window, and what its answers wait for.

use std::collections::{BTreeMap, VecDeque};

use natrix_store::commit::Durability;
use natrix_store::index::Limits;
use natrix_store::io::{IoCompletion, IoId, IoRequest, StorePath};
use natrix_store::memory::MemFs;
use natrix_store::stream::{Event, StoreConfig, StreamStore};

use super::config::{Storage, StreamConfig};
use crate::ids::AccountId;

/// Segment size on disk.
const MAX_SEGMENT: u64 = 8 * 1024 * 1024;
/// What nats-server counts for each stored message besides its subject, headers and payload
/// (`fileStoreMsgSize`: a 22-byte header and an 8-byte hash; `memStoreMsgSize`: 16 bytes), so
/// `bytes` and `max_bytes` mean the same as there.
fn overhead(storage: Storage) -> u64 {
    match storage {
        Storage::File => 30,
        Storage::Memory => 16,
    }
}

/// What a store, delete, purge or read answers once it is done.
#[derive(Debug, Clone)]
pub enum Token {
    /// A publish: the PubAck goes to `reply` (if any) once the message is durable.
    Ack {
        /// Where the PubAck goes.
        reply: Option<Box<[u8]>>,
        /// The sequence stored.
        seq: u64,
    },
    /// A MSG.DELETE.
    Delete {
        /// Where the answer goes.
        reply: Box<[u8]>,
    },
    /// A PURGE (its count waits in the component, in acknowledgement order).
    Purge {
        /// Where the answer goes.
        reply: Box<[u8]>,
    },
    /// One message of a direct get.
    Direct {
        /// The direct get.
        key: u64,
    },
    /// A MSG.GET.
    Get {
        /// Where the answer goes.
        reply: Box<[u8]>,
        /// Leave the stored headers out of the answer.
        no_hdr: bool,
    },
    /// Nothing waits (removals by limits, recovery's own reads).
    Quiet,
}

/// A stream.
#[derive(Debug)]
pub struct Stream {
    /// The account it is in.
    pub account: AccountId,
    /// Its configuration (checked).
    pub config: StreamConfig,
    /// When it was created, Unix nanoseconds.
    pub created: i64,
    /// Its directory in the store.
    pub dir: StorePath,
    /// The messages.
    pub store: StreamStore<Token>,
    /// Memory storage's disk; `None` for file storage, whose IO goes out.
    memory: Option<MemFs>,
    /// `Nats-Msg-Id` → (sequence, when stored), inside the duplicate window.
    pub msg_ids: BTreeMap<String, (u64, i64)>,
    /// The same ids, oldest first, for expiry.
    msg_id_order: VecDeque<(i64, String)>,
    /// The last `Nats-Msg-Id` stored.
    pub last_msg_id: Option<String>,
    /// A write or sync failed: the stream takes no more writes, and says why.
    pub failed: Option<String>,
    /// When the newest message was stored, kept when it is purged (`last_ts`).
    pub last_time: Option<i64>,
    /// Every sequence up to this one is durable (acknowledged by the store).
    pub durable_through: u64,
    /// Duplicate publishes answered once their original is durable: (its sequence, reply).
    pub waiting_duplicates: Vec<(u64, Box<[u8]>)>,
    next_memory_io: u64,
}

/// The store settings for a stream's configuration.
pub fn store_config(config: &StreamConfig, durability: Durability) -> StoreConfig {
    let positive = |n: i64| u64::try_from(n).ok().filter(|n| *n > 0);
    StoreConfig {
        max_segment: MAX_SEGMENT,
        durability,
        limits: Limits {
            max_msgs: positive(config.max_msgs),
            max_bytes: positive(config.max_bytes),
            max_age: (config.max_age > 0).then_some(config.max_age),
            max_msgs_per_subject: positive(config.max_msgs_per_subject),
        },
        first_seq: config.first_seq.max(1),
        overhead: overhead(config.storage),
        header_overhead: if config.storage == Storage::File { 4 } else { 0 },
    }
}

impl Stream {
    /// A new, empty stream.
    pub fn new(
        account: AccountId,
        config: StreamConfig,
        created: i64,
        dir: StorePath,
        durability: Durability,
    ) -> Result<Self, natrix_store::io::InvalidPath> {
        let memory = (config.storage == Storage::Memory).then(MemFs::new);
        let store = StreamStore::new(dir.join("msgs")?, store_config(&config, durability))?;
        let mut stream = Stream::with_store(account, config, created, dir, store);
        if let Some(mut disk) = memory {
            let msgs = stream.dir.join("msgs")?;
            disk.run(IoId(0), &IoRequest::CreateDir { dir: msgs });
            stream.memory = Some(disk);
        }
        Ok(stream)
    }

    /// A stream around a recovered store.
    pub fn with_store(
        account: AccountId,
        config: StreamConfig,
        created: i64,
        dir: StorePath,
        store: StreamStore<Token>,
    ) -> Self {
        Stream {
            account,
            config,
            created,
            dir,
            store,
            memory: None,
            msg_ids: BTreeMap::new(),
            msg_id_order: VecDeque::new(),
            last_msg_id: None,
            failed: None,
            last_time: None,
            durable_through: 0,
            waiting_duplicates: Vec::new(),
            next_memory_io: 0,
        }
    }

    /// Whether its IO runs in memory.
    pub fn in_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// Takes the store's next IO request. Memory storage runs it at once and returns the
    /// event; file storage returns the request for the disk.
    pub fn next_io(&mut self, next_id: &mut impl FnMut() -> IoId) -> Option<Step> {
        if let Some(event) = self.store.poll_answered() {
            return Some(Step::Event(event));
        }
        match self.memory.as_mut() {
            Some(disk) => {
                let mut n = self.next_memory_io;
                let request = self.store.poll_request(&mut || {
                    n += 1;
                    IoId(n)
                });
                self.next_memory_io = n;
                let (id, request) = request?;
                let completion = disk.run(id, &request);
                Some(match self.store.complete(&completion) {
                    Some(event) => Step::Event(event),
                    None => Step::Nothing,
                })
            }
            None => self
                .store
                .poll_request(next_id)
                .map(|(id, request)| Step::Io(id, request)),
        }
    }

    /// A read of `seq` for `token`: memory storage answers at once.
    pub fn read(&mut self, seq: u64, token: Token, next_id: &mut impl FnMut() -> IoId) -> Option<Step> {
        match self.memory.as_mut() {
            Some(disk) => {
                let mut n = self.next_memory_io;
                let request = self.store.read(seq, token, &mut || {
                    n += 1;
                    IoId(n)
                });
                self.next_memory_io = n;
                match request {
                    Some((id, request)) => {
                        let completion = disk.run(id, &request);
                        self.store.complete(&completion).map(Step::Event)
                    }
                    None => self.store.poll_answered().map(Step::Event),
                }
            }
            None => match self.store.read(seq, token, next_id) {
                Some((id, request)) => Some(Step::Io(id, request)),
                None => self.store.poll_answered().map(Step::Event),
            },
        }
    }

    /// A completion of one of this stream's requests.
    pub fn complete(&mut self, completion: &IoCompletion) -> Option<Event<Token>> {
        self.store.complete(completion)
    }

    /// The sequence a `Nats-Msg-Id` was stored as, if inside the window at `now`.
    pub fn duplicate_of(&mut self, id: &str, now: i64) -> Option<u64> {
        self.expire_msg_ids(now);
        self.msg_ids.get(id).map(|(seq, _)| *seq)
    }

    /// Remembers `id` stored as `seq` at `now`.
    pub fn remember_msg_id(&mut self, id: String, seq: u64, now: i64) {
        if self.config.duplicate_window > 0 {
            self.msg_ids.insert(id.clone(), (seq, now));
            self.msg_id_order.push_back((now, id.clone()));
        }
        self.last_msg_id = Some(id);
    }

    fn expire_msg_ids(&mut self, now: i64) {
        let window = self.config.duplicate_window;
        while let Some((at, _)) = self.msg_id_order.front() {
            if now - *at < window {
                break;
            }
            if let Some((at, id)) = self.msg_id_order.pop_front() {
                if self.msg_ids.get(&id).is_some_and(|(_, stored)| *stored == at) {
                    self.msg_ids.remove(&id);
                }
            }
        }
    }

    /// When the oldest and newest stored messages were stored (Unix nanoseconds), if any.
    pub fn times(&self) -> (Option<i64>, Option<i64>) {
        let state = self.store.state();
        let index = self.store.index();
        let first = index.get(state.first_seq).map(|m| m.time);
        let last = index.get(state.last_seq).map(|m| m.time);
        (first, last)
    }
}

/// What taking a stream's next IO gave.
#[derive(Debug)]
pub enum Step {
    /// A request for the disk.
    Io(IoId, IoRequest),
    /// An event (memory storage ran its IO at once, or the store answered without IO).
    Event(Event<Token>),
    /// A request ran in memory and finished nothing yet.
    Nothing,
}
