//! JetStream on one server: streams, their `$JS.API` requests, publishes into them and their
//! acknowledgements, and recovery at start-up. A component of the [`crate::Node`], next to the
//! server: it never reads the server. The node hands it what its internal subscriptions
//! received and the completions of its IO; it answers with [`Effect`]s the node carries out
//! (replies through the server's internal-publish path, subscriptions, IO requests for the
//! runtime's file executor, log lines).
//!
//! A publish is acknowledged only once the store says it is durable (the fsync that covers it
//! completed, group-committed with the appends around it); a failed write or sync answers the
//! publishes it covered with an error and stops the stream taking writes.

pub mod api;
pub mod config;
mod direct;
pub mod errors;
mod publish;
mod recovery;
pub mod report;
pub mod stream;

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use natrix_store::commit::Durability;
use natrix_store::io::{IoCompletion, IoError, IoId, IoRequest, StorePath};
use natrix_store::stream::{Event, ReadError};
use serde::Serialize;

use self::api::{kind, ErrorResponse, Request};
use self::config::{Storage, StreamConfig};
use self::errors::ApiError;
use self::stream::{Step, Stream, Token};
use crate::account::Internal;
use crate::config::jetstream::{AccountLimits, JetStreamSettings, SyncPolicy};
use crate::ids::AccountId;
use crate::log::Level;

/// Identifies a stream for the node's subscriptions.
pub type StreamId = u32;

/// What the node must do for JetStream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Publish `payload` on `subject` in `account` (an API answer, a PubAck, a direct get's
    /// message), with a header block unless `headers` is empty.
    Reply {
        /// The account.
        account: AccountId,
        /// The reply subject.
        subject: Box<[u8]>,
        /// The header block, or empty.
        headers: Vec<u8>,
        /// The body.
        payload: Vec<u8>,
    },
    /// Deliver what is published on `subject` in `account` to `to` (a stream, its direct get).
    Subscribe {
        /// The account.
        account: AccountId,
        /// The subject.
        subject: String,
        /// Who takes it.
        to: Internal,
    },
    /// Drop every subscription of `to` in `account`.
    Unsubscribe {
        /// The account.
        account: AccountId,
        /// Whose.
        to: Internal,
    },
    /// Run an IO request on the file executor; its completion comes back to
    /// [`JetStream::complete`].
    Io(IoId, IoRequest),
    /// A log line.
    Log(Level, String),
}

/// Who waits for an IO completion.
#[derive(Debug, Clone)]
enum Owner {
    Stream(StreamId),
    Chain(u64),
    Recovery(recovery::Step),
}

/// A sequence of requests run in order (the executor keeps submission order), acted on when
/// the last completes.
#[derive(Debug)]
struct Chain {
    remaining: usize,
    error: Option<IoError>,
    then: ChainDone,
}

/// What a finished chain answers.
#[derive(Debug)]
enum ChainDone {
    /// A stream's metadata is durable: subscribe it (when new) and answer.
    Saved {
        stream: StreamId,
        reply: Box<[u8]>,
        created: bool,
    },
    /// A stream's files are gone.
    Removed { account: AccountId, reply: Box<[u8]> },
}

/// The stream metadata file's content.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Meta {
    config: StreamConfig,
    created: i64,
}

/// See the module docs.
#[derive(Debug)]
pub struct JetStream {
    settings: JetStreamSettings,
    server_name: String,
    /// Accounts with JetStream, by id, with their names (their directories).
    accounts: BTreeMap<AccountId, String>,
    /// Their limits (`accounts { A { jetstream { ... } } }`).
    limits: BTreeMap<AccountId, AccountLimits>,
    streams: BTreeMap<StreamId, Stream>,
    by_name: BTreeMap<(AccountId, String), StreamId>,
    next_stream: StreamId,
    next_io: u64,
    owners: BTreeMap<IoId, Owner>,
    chains: BTreeMap<u64, Chain>,
    next_chain: u64,
    /// Purge counts, per stream, in the order their acknowledgements come.
    purges: BTreeMap<StreamId, VecDeque<u64>>,
    effects: VecDeque<Effect>,
    recovery: Option<recovery::Recovery>,
    /// API requests that came during recovery, answered once it is done.
    held: VecDeque<(AccountId, String, Box<[u8]>, Bytes)>,
    /// Per account: API requests answered, and errors among them.
    api: BTreeMap<AccountId, (u64, u64)>,
    /// The wall-clock time of the last input, Unix nanoseconds.
    last_now: i64,
    /// Direct gets in progress.
    directs: BTreeMap<u64, direct::DirectGet>,
    /// When the `sync_interval` timer next syncs file streams (wall clock, Unix nanoseconds);
    /// `None` when nothing was written since the last.
    sync_due: Option<i64>,
    next_direct: u64,
    /// When the last "resource limits exceeded" error was logged.
    resource_error_at: Option<i64>,
}

impl JetStream {
    /// JetStream with `settings` for `accounts` (id, name and limits each).
    pub fn new(
        settings: JetStreamSettings,
        server_name: String,
        accounts: Vec<(AccountId, String, AccountLimits)>,
    ) -> Self {
        JetStream {
            settings,
            server_name,
            limits: accounts.iter().map(|(id, _, limits)| (*id, *limits)).collect(),
            accounts: accounts.into_iter().map(|(id, name, _)| (id, name)).collect(),
            streams: BTreeMap::new(),
            by_name: BTreeMap::new(),
            next_stream: 1,
            next_io: 0,
            owners: BTreeMap::new(),
            chains: BTreeMap::new(),
            next_chain: 0,
            purges: BTreeMap::new(),
            effects: VecDeque::new(),
            recovery: None,
            held: VecDeque::new(),
            api: BTreeMap::new(),
            last_now: 0,
            directs: BTreeMap::new(),
            next_direct: 0,
            sync_due: None,
            resource_error_at: None,
        }
    }

    /// The next thing the node must do.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Whether start-up recovery is done (the node serves clients only then).
    pub fn ready(&self) -> bool {
        self.recovery.is_none()
    }

    /// A reload the server accepted: larger storage limits, and accounts' JetStream and
    /// limits as the new configuration gives them (an account that lost JetStream keeps its
    /// streams until a restart).
    pub fn reloaded(&mut self, settings: &JetStreamSettings, accounts: Vec<(AccountId, String, AccountLimits)>) {
        if settings.max_memory != self.settings.max_memory {
            self.settings.max_memory = settings.max_memory;
            let text = format!(
                "Reloaded: JetStream max_mem_store = {}",
                recovery::friendly_bytes(settings.max_memory)
            );
            self.log(Level::Info, text);
        }
        if settings.max_store != self.settings.max_store {
            self.settings.max_store = settings.max_store;
            let text = format!(
                "Reloaded: JetStream max_file_store = {}",
                recovery::friendly_bytes(settings.max_store)
            );
            self.log(Level::Info, text);
        }
        for (id, name, limits) in accounts {
            self.accounts.insert(id, name);
            self.limits.insert(id, limits);
        }
    }

    /// Whether `account` has JetStream.
    pub fn enabled_for(&self, account: AccountId) -> bool {
        self.accounts.contains_key(&account)
    }

    /// The settings.
    pub fn settings(&self) -> &JetStreamSettings {
        &self.settings
    }

    /// When file streams acknowledge: after the fsync (the default, and `sync_interval:
    /// always`), or after the write with a sync every interval (`sync_interval: <duration>`,
    /// the operator's explicit opt-out, as nats-server's default behaves).
    fn durability(&self) -> Durability {
        match self.settings.sync {
            SyncPolicy::Always => Durability::Sync,
            SyncPolicy::Interval(_) => Durability::Interval,
        }
    }

    fn log(&mut self, level: Level, message: impl Into<String>) {
        self.effects.push_back(Effect::Log(level, message.into()));
    }

    fn io(&mut self, owner: Owner, request: IoRequest) {
        self.next_io += 1;
        let id = IoId(self.next_io);
        self.owners.insert(id, owner);
        self.effects.push_back(Effect::Io(id, request));
    }

    fn chain(&mut self, requests: Vec<IoRequest>, then: ChainDone) {
        self.next_chain += 1;
        let chain = self.next_chain;
        self.chains.insert(
            chain,
            Chain {
                remaining: requests.len(),
                error: None,
                then,
            },
        );
        for request in requests {
            self.io(Owner::Chain(chain), request);
        }
    }

    fn reply(&mut self, account: AccountId, subject: &[u8], payload: Vec<u8>) {
        if subject.is_empty() {
            return;
        }
        self.effects.push_back(Effect::Reply {
            account,
            subject: subject.into(),
            headers: Vec::new(),
            payload,
        });
    }

    /// Answers an API request with `body`, counting it.
    fn answer(&mut self, account: AccountId, reply: &[u8], body: &impl Serialize) {
        self.api.entry(account).or_default().0 += 1;
        let payload = serde_json::to_vec(body).unwrap_or_default();
        self.reply(account, reply, payload);
    }

    /// Answers with an error of `response_type`, with the fields nats-server keeps after it.
    fn answer_error(
        &mut self,
        account: AccountId,
        reply: &[u8],
        response_type: &str,
        error: ApiError,
        extra: api::Extra,
    ) {
        // nats-server counts a delete of a sequence it does not have as a request, not an error.
        let counted = !matches!(error.err_code, 10043) && error.description != "stream store EOF";
        if counted {
            self.api.entry(account).or_default().1 += 1;
        }
        let body = ErrorResponse {
            kind: kind(response_type),
            error,
            extra,
        };
        self.answer(account, reply, &body);
    }

    /// Handles a message published on `$JS.API.>` in `account`.
    pub fn api(&mut self, now: i64, account: AccountId, subject: &str, reply: &[u8], body: Bytes) {
        if !self.ready() {
            self.held.push_back((account, subject.to_string(), reply.into(), body));
            return;
        }
        let Some(request) = Request::parse(subject) else { return };
        if !self.enabled_for(account) {
            let response_type = response_type(&request);
            self.answer_error(
                account,
                reply,
                response_type,
                ApiError::not_enabled_for_account(),
                api::Extra::none(),
            );
            return;
        }
        match request {
            Request::AccountInfo => self.account_info(account, reply),
            Request::Create(name) => self.create(now, account, &name, reply, &body, false),
            Request::Update(name) => self.create(now, account, &name, reply, &body, true),
            Request::Info(name) => self.info(now, account, &name, reply, &body),
            Request::Names => self.names(account, reply, &body, false, now),
            Request::List => self.names(account, reply, &body, true, now),
            Request::Delete(name) => self.delete_stream(account, &name, reply),
            Request::Purge(name) => self.purge(now, account, &name, reply, &body),
            Request::MsgGet(name) => self.msg_get(account, &name, reply, &body),
            Request::MsgDelete(name) => self.msg_delete(now, account, &name, reply, &body),
        }
    }

    fn stream_id(&self, account: AccountId, name: &str) -> Option<StreamId> {
        self.by_name.get(&(account, name.to_string())).copied()
    }

    fn account_info(&mut self, account: AccountId, reply: &[u8]) {
        let (mut memory, mut storage, mut streams) = (0, 0, 0);
        // What the account's streams reserve with `max_bytes`, as nats-server reports it.
        let (mut reserved_memory, mut reserved_storage) = (0u64, 0u64);
        for stream in self.streams.values().filter(|s| s.account == account) {
            streams += 1;
            let bytes = stream.store.state().bytes;
            let reserves = u64::try_from(stream.config.max_bytes).unwrap_or(0);
            match stream.config.storage {
                Storage::Memory => (memory, reserved_memory) = (memory + bytes, reserved_memory + reserves),
                Storage::File => (storage, reserved_storage) = (storage + bytes, reserved_storage + reserves),
            }
        }
        let (total, errors) = self.api.get(&account).copied().unwrap_or_default();
        let body = api::AccountInfoResponse {
            kind: kind("account_info_response"),
            memory,
            storage,
            reserved_memory,
            reserved_storage,
            streams,
            consumers: 0,
            domain: self.settings.domain.clone(),
            limits: {
                let limits = self.limits.get(&account).copied().unwrap_or_default();
                api::AccountLimits {
                    max_memory: limits.max_memory,
                    max_storage: limits.max_store,
                    max_streams: limits.max_streams,
                    max_consumers: limits.max_consumers,
                    max_ack_pending: limits.max_ack_pending,
                    memory_max_stream_bytes: limits.memory_max_stream_bytes,
                    storage_max_stream_bytes: limits.store_max_stream_bytes,
                    max_bytes_required: limits.max_bytes_required,
                }
            },
            api: api::ApiStats { total, errors },
        };
        self.answer(account, reply, &body);
    }

    /// STREAM.CREATE and STREAM.UPDATE.
    fn create(&mut self, now: i64, account: AccountId, name: &str, reply: &[u8], body: &[u8], update: bool) {
        let response_type = if update {
            "stream_update_response"
        } else {
            "stream_create_response"
        };
        let refuse =
            |js: &mut Self, error: ApiError| js.answer_error(account, reply, response_type, error, api::Extra::none());
        let mut requested: StreamConfig = match decode(body, self.settings.strict) {
            Ok(value) => value,
            Err(error) => return refuse(self, error),
        };
        // A request flag, not configuration: two creates that differ only in it are the same.
        requested.pedantic = false;
        if requested.name != name {
            return refuse(self, ApiError::stream_mismatch());
        }
        let config = match requested.checked() {
            Ok(config) => config,
            Err(error) => return refuse(self, error),
        };
        if let Err(error) = self.check_max_bytes(account, &config) {
            return refuse(self, error);
        }
        let existing = self.stream_id(account, name);
        if let Some(other) = self.overlapping(account, &config, existing) {
            let _ = other;
            return refuse(self, ApiError::subjects_overlap());
        }
        match (existing, update) {
            (None, true) => refuse(self, ApiError::stream_not_found()),
            (Some(id), false) => {
                let same = self.streams.get(&id).is_some_and(|s| s.config == config);
                if same {
                    self.answer_stream(now, id, reply, response_type, Some(true));
                } else {
                    refuse(self, ApiError::stream_name_exists());
                }
            }
            (Some(id), true) => {
                if let Some(error) = self.streams.get(&id).and_then(|s| config.update_refused(&s.config)) {
                    return refuse(self, error);
                }
                if let Err(error) = self.reserve(account, &config, Some(id)) {
                    return refuse(self, error);
                }
                let Some(stream) = self.streams.get_mut(&id) else {
                    return;
                };
                let old_subjects = stream.config.subjects.clone();
                let old_direct = stream.config.allow_direct;
                stream.config = config.clone();
                let limits = stream::store_config(&config, Durability::Sync).limits;
                if let Err(error) = stream.store.set_limits(limits, now) {
                    return refuse(self, ApiError::update_failed(error));
                }
                if old_subjects != config.subjects || old_direct != config.allow_direct {
                    self.unsubscribe(account, id);
                    self.subscribe(id);
                }
                self.pump(id);
                self.save(id, reply.into(), false);
            }
            (None, false) => {
                let Some(account_name) = self.accounts.get(&account).cloned() else {
                    return;
                };
                let limits = self.limits.get(&account).copied().unwrap_or_default();
                let count = self.streams.values().filter(|s| s.account == account).count() as i64;
                if limits.max_streams > 0 && count >= limits.max_streams {
                    return refuse(self, ApiError::max_streams());
                }
                if let Err(error) = self.reserve(account, &config, None) {
                    return refuse(self, error);
                }
                let dir = match StorePath::new(&account_name)
                    .and_then(|a| a.join("streams"))
                    .and_then(|s| s.join(name))
                {
                    Ok(dir) => dir,
                    Err(error) => return refuse(self, ApiError::create_failed(error)),
                };
                // Memory streams have no disk to opt out of: syncs cost them nothing.
                let durability = match config.storage {
                    Storage::Memory => Durability::Sync,
                    Storage::File => self.durability(),
                };
                let stream = match Stream::new(account, config, now, dir, durability) {
                    Ok(stream) => stream,
                    Err(error) => return refuse(self, ApiError::create_failed(error)),
                };
                let id = self.next_stream;
                self.next_stream += 1;
                self.by_name.insert((account, name.to_string()), id);
                self.streams.insert(id, stream);
                self.save(id, reply.into(), true);
            }
        }
    }

    /// Whether the account and the server have room for a stream of `account` with `config`
    /// (replacing `replacing`): its `max_bytes` (at least a byte) beside what the other
    /// streams of its storage reserve must fit in the account's limit, then in
    /// `max_memory_store` or `max_file_store`, as nats-server checks it.
    fn reserve(&self, account: AccountId, config: &StreamConfig, replacing: Option<StreamId>) -> Result<(), ApiError> {
        let limits = self.limits.get(&account).copied().unwrap_or_default();
        let (account_max, server_max, exceeded) = match config.storage {
            Storage::Memory => (limits.max_memory, self.settings.max_memory, ApiError::memory_exceeded()),
            Storage::File => (limits.max_store, self.settings.max_store, ApiError::storage_exceeded()),
        };
        let reserved = |of_account: bool| -> i64 {
            self.streams
                .iter()
                .filter(|(id, s)| Some(**id) != replacing && s.config.storage == config.storage)
                .filter(|(_, s)| !of_account || s.account == account)
                .map(|(_, s)| s.config.max_bytes.max(0))
                .fold(0i64, i64::saturating_add)
        };
        let wanted = config.max_bytes.max(1);
        for (max, reserved) in [(account_max, reserved(true)), (server_max, reserved(false))] {
            if max >= 0 && (reserved > max || wanted > max - reserved) {
                return Err(exceeded);
            }
        }
        Ok(())
    }

    /// The account's `max_bytes_required` and largest `max_bytes` (nats-server checks them
    /// with the rest of a stream's configuration).
    fn check_max_bytes(&self, account: AccountId, config: &StreamConfig) -> Result<(), ApiError> {
        let limits = self.limits.get(&account).copied().unwrap_or_default();
        let largest = match config.storage {
            Storage::Memory => limits.memory_max_stream_bytes,
            Storage::File => limits.store_max_stream_bytes,
        };
        if limits.max_bytes_required && config.max_bytes <= 0 {
            return Err(ApiError::max_bytes_required());
        }
        if largest > 0 && config.max_bytes > largest {
            return Err(ApiError::max_stream_bytes_exceeded());
        }
        Ok(())
    }

    /// Whether a message of `size` bytes would take the account's storage of its kind past its
    /// limit.
    fn account_full(&self, account: AccountId, storage: Storage, size: u64) -> bool {
        let limits = self.limits.get(&account).copied().unwrap_or_default();
        let max = match storage {
            Storage::Memory => limits.max_memory,
            Storage::File => limits.max_store,
        };
        if max < 0 {
            return false;
        }
        let used: u64 = self
            .streams
            .values()
            .filter(|s| s.account == account && s.config.storage == storage)
            .map(|s| s.store.state().bytes)
            .sum();
        used + size > max as u64
    }

    /// Whether the bytes stored in `storage` already exceed the server's limit for it: a
    /// publish is then refused (`insufficient resources`), as nats-server refuses it.
    fn storage_full(&self, storage: Storage) -> bool {
        let max = match storage {
            Storage::Memory => self.settings.max_memory,
            Storage::File => self.settings.max_store,
        };
        if max < 0 {
            return false;
        }
        let used: u64 = self
            .streams
            .values()
            .filter(|s| s.config.storage == storage)
            .map(|s| s.store.state().bytes)
            .sum();
        used > max as u64
    }

    /// Another stream in `account` whose subjects collide with `config`'s.
    fn overlapping(&self, account: AccountId, config: &StreamConfig, except: Option<StreamId>) -> Option<StreamId> {
        self.streams.iter().find_map(|(id, stream)| {
            let collides = stream.account == account
                && Some(*id) != except
                && stream.config.subjects.iter().any(|theirs| {
                    config
                        .subjects
                        .iter()
                        .any(|ours| crate::subject::collide(theirs.as_bytes(), ours.as_bytes()))
                });
            collides.then_some(*id)
        })
    }

    /// Subscribes stream `id`'s subjects, and its direct get when `allow_direct`.
    fn subscribe(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get(&id) else { return };
        let account = stream.account;
        for subject in stream.config.subjects.clone() {
            self.effects.push_back(Effect::Subscribe {
                account,
                subject,
                to: Internal::Stream(id),
            });
        }
        if stream.config.allow_direct {
            let direct = format!("$JS.API.DIRECT.GET.{}", stream.config.name);
            for subject in [direct.clone(), format!("{direct}.>")] {
                self.effects.push_back(Effect::Subscribe {
                    account,
                    subject,
                    to: Internal::Direct(id),
                });
            }
        }
    }

    /// Drops stream `id`'s subscriptions.
    fn unsubscribe(&mut self, account: AccountId, id: StreamId) {
        for to in [Internal::Stream(id), Internal::Direct(id)] {
            self.effects.push_back(Effect::Unsubscribe { account, to });
        }
    }

    /// Writes a stream's metadata durably (file storage), then answers; memory streams
    /// answer at once.
    fn save(&mut self, id: StreamId, reply: Box<[u8]>, created: bool) {
        let Some(stream) = self.streams.get(&id) else { return };
        if stream.in_memory() {
            return self.saved(id, &reply, created, None);
        }
        let meta = Meta {
            config: stream.config.clone(),
            created: stream.created,
        };
        let data = Bytes::from(serde_json::to_vec(&meta).unwrap_or_default());
        let dir = stream.dir.clone();
        let paths = (|| {
            Ok::<_, natrix_store::io::InvalidPath>((
                dir.join("msgs")?,
                dir.join("meta.json.tmp")?,
                dir.join("meta.json")?,
            ))
        })();
        let Ok((msgs, tmp, file)) = paths else { return };
        let mut requests = vec![
            IoRequest::CreateDir { dir: msgs },
            IoRequest::Write {
                path: tmp.clone(),
                offset: 0,
                data: data.clone(),
            },
            IoRequest::Truncate {
                path: tmp.clone(),
                len: data.len() as u64,
            },
            IoRequest::Sync { path: tmp.clone() },
            IoRequest::Rename { from: tmp, to: file },
            IoRequest::SyncDir { dir: Some(dir.clone()) },
        ];
        if created {
            // The new directories' entries, up to the store's own.
            let mut parent = dir.parent();
            while let Some(p) = parent {
                parent = p.parent();
                requests.push(IoRequest::SyncDir { dir: Some(p) });
            }
            requests.push(IoRequest::SyncDir { dir: None });
        }
        self.chain(
            requests,
            ChainDone::Saved {
                stream: id,
                reply,
                created,
            },
        );
    }

    fn saved(&mut self, id: StreamId, reply: &[u8], created: bool, error: Option<IoError>) {
        let Some(stream) = self.streams.get(&id) else { return };
        let account = stream.account;
        let response_type = if created {
            "stream_create_response"
        } else {
            "stream_update_response"
        };
        if let Some(error) = error {
            if created {
                self.forget(id);
            }
            let text = format!("could not write stream metadata: {error}");
            self.log(Level::Error, format!("JetStream {text}"));
            return self.answer_error(
                account,
                reply,
                response_type,
                ApiError::create_failed(text),
                api::Extra::none(),
            );
        }
        if created {
            self.subscribe(id);
        }
        // A repeated create answers did_create too, as nats-server does.
        self.answer_stream(0, id, reply, response_type, created.then_some(true));
    }

    fn forget(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.remove(&id) {
            self.by_name.retain(|_, s| *s != id);
            self.purges.remove(&id);
            self.directs.retain(|_, d| d.stream() != id);
            self.unsubscribe(stream.account, id);
        }
    }

    /// The state object of a stream's info.
    fn state(&self, id: StreamId, request: &api::InfoRequest) -> api::StreamState {
        let Some(stream) = self.streams.get(&id) else {
            return api::StreamState {
                messages: 0,
                bytes: 0,
                first_seq: 0,
                first_ts: api::ZERO_TIME.into(),
                last_seq: 0,
                last_ts: api::ZERO_TIME.into(),
                num_subjects: 0,
                subjects: None,
                num_deleted: 0,
                deleted: None,
                consumer_count: 0,
            };
        };
        let state = stream.store.state();
        let (first, last) = stream.times();
        let last = last.or(stream.last_time);
        let subjects = (!request.subjects_filter.is_empty()).then(|| {
            stream
                .store
                .index()
                .subjects()
                .filter(|(subject, _)| {
                    natrix_store::stream::subject_matches(request.subjects_filter.as_bytes(), subject)
                })
                .map(|(subject, count)| (String::from_utf8_lossy(subject).into_owned(), count))
                .collect::<BTreeMap<_, _>>()
        });
        let deleted = request.deleted_details.then(|| {
            let index = stream.store.index();
            (state.first_seq..=state.last_seq)
                .filter(|seq| index.get(*seq).is_none())
                .collect::<Vec<_>>()
        });
        // A stream that never held a message says 0 (unless it starts elsewhere).
        let never_used = state.last_seq == 0 && stream.config.first_seq == 0;
        api::StreamState {
            messages: state.msgs,
            bytes: state.bytes,
            first_seq: if never_used { 0 } else { state.first_seq },
            first_ts: api::time(first),
            last_seq: state.last_seq,
            last_ts: api::time(last),
            num_subjects: state.num_subjects,
            subjects: subjects.filter(|s| !s.is_empty()),
            num_deleted: state.num_deleted,
            deleted: deleted.filter(|d| !d.is_empty()),
            consumer_count: 0,
        }
    }

    fn answer_stream(&mut self, now: i64, id: StreamId, reply: &[u8], response_type: &str, did_create: Option<bool>) {
        let Some(stream) = self.streams.get(&id) else { return };
        let account = stream.account;
        let now = if now == 0 { self.last_now } else { now };
        let body = api::CreateResponse {
            kind: kind(response_type),
            config: &stream.config,
            created: api::time(Some(stream.created)),
            state: self.state(id, &api::InfoRequest::default()),
            ts: api::time(Some(now)),
            did_create,
        };
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        self.api.entry(account).or_default().0 += 1;
        self.reply(account, reply, payload);
    }

    fn info(&mut self, now: i64, account: AccountId, name: &str, reply: &[u8], body: &[u8]) {
        let paging = api::Extra::paging;
        let request: api::InfoRequest = match decode(body, self.settings.strict) {
            Ok(value) => value,
            Err(error) => return self.answer_error(account, reply, "stream_info_response", error, paging(0, 0)),
        };
        let Some(id) = self.stream_id(account, name) else {
            return self.answer_error(
                account,
                reply,
                "stream_info_response",
                ApiError::stream_not_found(),
                paging(0, 0),
            );
        };
        let state = self.state(id, &request);
        let Some(stream) = self.streams.get(&id) else { return };
        let (total, limit) = match &state.subjects {
            Some(subjects) => (subjects.len() as u64, 100_000),
            None if !request.subjects_filter.is_empty() => (0, 100_000),
            None => (0, 0),
        };
        let body = api::InfoResponse {
            kind: kind("stream_info_response"),
            total,
            offset: 0,
            limit,
            config: &stream.config,
            created: api::time(Some(stream.created)),
            state,
            cluster: api::ClusterInfo {
                leader: self.server_name.clone(),
            },
            ts: api::time(Some(now)),
        };
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        self.api.entry(account).or_default().0 += 1;
        self.reply(account, reply, payload);
    }

    fn names(&mut self, account: AccountId, reply: &[u8], body: &[u8], list: bool, now: i64) {
        let response_type = if list {
            "stream_list_response"
        } else {
            "stream_names_response"
        };
        let request: api::NamesRequest = match decode(body, self.settings.strict) {
            Ok(value) => value,
            Err(error) => return self.answer_error(account, reply, response_type, error, api::Extra::none()),
        };
        let matching: Vec<StreamId> = self
            .by_name
            .iter()
            .filter(|((a, _), _)| *a == account)
            .map(|(_, id)| *id)
            .filter(|id| {
                request.subject.is_empty()
                    || self.streams.get(id).is_some_and(|s| {
                        s.config
                            .subjects
                            .iter()
                            .any(|subj| crate::subject::collide(subj.as_bytes(), request.subject.as_bytes()))
                    })
            })
            .collect();
        let total = matching.len() as u64;
        let limit: u64 = if list { 256 } else { 1024 };
        let page: Vec<StreamId> = matching
            .into_iter()
            .skip(request.offset as usize)
            .take(limit as usize)
            .collect();
        let payload = if list {
            let streams = page
                .iter()
                .filter_map(|id| {
                    let stream = self.streams.get(id)?;
                    Some(api::ListEntry {
                        config: &stream.config,
                        created: api::time(Some(stream.created)),
                        state: self.state(*id, &api::InfoRequest::default()),
                        ts: api::time(Some(now)),
                    })
                })
                .collect();
            serde_json::to_vec(&api::ListResponse {
                kind: kind(response_type),
                total,
                offset: request.offset,
                limit,
                streams,
            })
        } else {
            let names: Vec<String> = page
                .iter()
                .filter_map(|id| self.streams.get(id).map(|s| s.config.name.clone()))
                .collect();
            serde_json::to_vec(&api::NamesResponse {
                kind: kind(response_type),
                total,
                offset: request.offset,
                limit,
                streams: (!names.is_empty()).then_some(names),
            })
        };
        self.api.entry(account).or_default().0 += 1;
        self.reply(account, reply, payload.unwrap_or_default());
    }

    fn delete_stream(&mut self, account: AccountId, name: &str, reply: &[u8]) {
        let Some(id) = self.stream_id(account, name) else {
            return self.answer_error(
                account,
                reply,
                "stream_delete_response",
                ApiError::stream_not_found(),
                api::Extra::none(),
            );
        };
        let Some(stream) = self.streams.get(&id) else { return };
        let dir = stream.dir.clone();
        let memory = stream.in_memory();
        self.forget(id);
        if memory {
            return self.deleted(account, reply);
        }
        let mut requests = vec![IoRequest::RemoveDir { dir: dir.clone() }];
        requests.push(IoRequest::SyncDir { dir: dir.parent() });
        self.chain(
            requests,
            ChainDone::Removed {
                account,
                reply: reply.into(),
            },
        );
    }

    fn deleted(&mut self, account: AccountId, reply: &[u8]) {
        let body = api::SuccessResponse {
            kind: kind("stream_delete_response"),
            success: true,
        };
        self.answer(account, reply, &body);
    }

    fn purge(&mut self, now: i64, account: AccountId, name: &str, reply: &[u8], body: &[u8]) {
        let count = api::Extra::purged;
        let request: api::PurgeRequest = match decode(body, self.settings.strict) {
            Ok(value) => value,
            Err(error) => return self.answer_error(account, reply, "stream_purge_response", error, count(0)),
        };
        let Some(id) = self.stream_id(account, name) else {
            return self.answer_error(
                account,
                reply,
                "stream_purge_response",
                ApiError::stream_not_found(),
                count(0),
            );
        };
        if request.seq > 0 && request.keep > 0 {
            return self.answer_error(
                account,
                reply,
                "stream_purge_response",
                ApiError::bad_request(),
                count(0),
            );
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.config.sealed {
            return self.answer_error(account, reply, "stream_purge_response", ApiError::sealed(), count(0));
        }
        if stream.config.deny_purge {
            return self.answer_error(
                account,
                reply,
                "stream_purge_response",
                ApiError::purge_failed("stream purge not permitted"),
                count(0),
            );
        }
        let filter = (!request.filter.is_empty()).then(|| request.filter.as_bytes().to_vec());
        let result = stream.store.purge(
            filter.as_deref(),
            (request.seq > 0).then_some(request.seq),
            (request.keep > 0).then_some(request.keep),
            now,
            Token::Purge { reply: reply.into() },
        );
        match result {
            Ok(purged) => {
                self.purges.entry(id).or_default().push_back(purged);
                self.pump(id);
            }
            Err(error) => self.answer_error(
                account,
                reply,
                "stream_purge_response",
                ApiError::purge_failed(error),
                count(0),
            ),
        }
    }

    fn msg_get(&mut self, account: AccountId, name: &str, reply: &[u8], body: &[u8]) {
        let refuse = |js: &mut Self, error: ApiError| {
            js.answer_error(account, reply, "stream_msg_get_response", error, api::Extra::none())
        };
        let request: api::MsgGetRequest = match decode(body, self.settings.strict) {
            Ok(value) => value,
            Err(error) => return refuse(self, error),
        };
        let (has_last, has_next) = (!request.last_by_subj.is_empty(), !request.next_by_subj.is_empty());
        let has_start = request.start_time.is_some();
        // As nats-server: batches are DIRECT.GET's, and `seq`, `last_by_subj` and
        // `start_time` exclude each other (`next_by_subj` filters from `seq` or `start_time`).
        let conflicts = (request.seq > 0 && has_last)
            || (request.seq == 0 && !has_last && !has_next && !has_start)
            || (request.seq > 0 && has_start)
            || (has_start && has_last)
            || (has_last && has_next);
        if request.batch > 0 || request.max_bytes > 0 || conflicts {
            return refuse(self, ApiError::bad_request());
        }
        let Some(id) = self.stream_id(account, name) else {
            return refuse(self, ApiError::stream_not_found());
        };
        let Some(stream) = self.streams.get(&id) else { return };
        let index = stream.store.index();
        let from = match &request.start_time {
            Some(time) => {
                let Some(at) = crate::time::parse_rfc3339(time) else {
                    return refuse(self, ApiError::bad_request());
                };
                // The first message stored at or after `at`; past the last when none is.
                index
                    .seqs_from(0)
                    .find(|seq| index.get(*seq).is_some_and(|m| m.time >= at))
                    .unwrap_or(stream.store.state().last_seq + 1)
            }
            None => request.seq,
        };
        let seq = if has_next {
            index.seqs_from(from.max(1)).find(|seq| {
                index
                    .get(*seq)
                    .is_some_and(|m| natrix_store::stream::subject_matches(request.next_by_subj.as_bytes(), &m.subject))
            })
        } else if from > 0 {
            Some(from)
        } else {
            last_matching(stream, request.last_by_subj.as_bytes())
        };
        let Some(seq) = seq else {
            return refuse(self, ApiError::no_message_found());
        };
        let mut next = self.next_io;
        let mut issued = Vec::new();
        let step = self.streams.get_mut(&id).and_then(|stream| {
            let token = Token::Get {
                reply: reply.into(),
                no_hdr: request.no_hdr,
            };
            stream.read(seq, token, &mut || {
                next += 1;
                issued.push(IoId(next));
                IoId(next)
            })
        });
        self.next_io = next;
        self.after_step(id, step, issued);
    }

    fn msg_delete(&mut self, now: i64, account: AccountId, name: &str, reply: &[u8], body: &[u8]) {
        let refuse = |js: &mut Self, error: ApiError| {
            js.answer_error(account, reply, "stream_msg_delete_response", error, api::Extra::none())
        };
        let request: api::MsgDeleteRequest = match decode(body, self.settings.strict) {
            Ok(value) => value,
            Err(error) => return refuse(self, error),
        };
        let Some(id) = self.stream_id(account, name) else {
            return refuse(self, ApiError::stream_not_found());
        };
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.config.sealed {
            return refuse(self, ApiError::sealed());
        }
        if stream.config.deny_delete {
            return refuse(self, ApiError::msg_delete_failed("message delete not permitted"));
        }
        if request.seq == 0 {
            return refuse(self, ApiError::bad_request());
        }
        let last = stream.store.state().last_seq;
        match stream
            .store
            .delete(request.seq, now, Token::Delete { reply: reply.into() })
        {
            Ok(true) => self.pump(id),
            Ok(false) if request.seq > last => refuse(self, ApiError::msg_delete_failed("stream store EOF")),
            Ok(false) => refuse(self, ApiError::sequence_not_found(request.seq)),
            Err(error) => refuse(self, ApiError::msg_delete_failed(error)),
        }
    }

    /// Runs a stream's pending IO: memory storage at once, file storage out to the executor.
    fn pump(&mut self, id: StreamId) {
        // Under `sync_interval: <duration>`, writes are synced by a timer, armed while there
        // is IO.
        if let SyncPolicy::Interval(every) = self.settings.sync {
            if self.sync_due.is_none() && self.streams.get(&id).is_some_and(|s| !s.in_memory()) {
                let every = i64::try_from(every.as_nanos()).unwrap_or(i64::MAX);
                self.sync_due = Some(self.last_now.saturating_add(every));
            }
        }
        loop {
            let mut next = self.next_io;
            let mut issued = Vec::new();
            let step = self.streams.get_mut(&id).and_then(|stream| {
                stream.next_io(&mut || {
                    next += 1;
                    issued.push(IoId(next));
                    IoId(next)
                })
            });
            self.next_io = next;
            if step.is_none() {
                return;
            }
            self.after_step(id, step, issued);
        }
    }

    fn after_step(&mut self, id: StreamId, step: Option<Step>, issued: Vec<IoId>) {
        match step {
            Some(Step::Io(io, request)) => {
                for other in issued.into_iter().filter(|i| *i != io) {
                    self.owners.remove(&other);
                }
                self.owners.insert(io, Owner::Stream(id));
                self.effects.push_back(Effect::Io(io, request));
            }
            Some(Step::Event(event)) => self.on_event(id, event),
            Some(Step::Nothing) | None => {}
        }
    }

    fn on_event(&mut self, id: StreamId, event: Event<Token>) {
        let Some(stream) = self.streams.get(&id) else { return };
        let account = stream.account;
        let name = stream.config.name.clone();
        match event {
            Event::Durable(tokens) => {
                let newest = tokens
                    .iter()
                    .filter_map(|t| match t {
                        Token::Ack { seq, .. } => Some(*seq),
                        _ => None,
                    })
                    .max();
                if let Some(newest) = newest {
                    self.durable(id, newest);
                }
                for token in tokens {
                    match token {
                        Token::Ack {
                            reply: Some(reply),
                            seq,
                        } => {
                            let ack = api::PubAck {
                                error: None,
                                stream: &name,
                                seq,
                                domain: self.settings.domain.as_deref(),
                                duplicate: false,
                            };
                            let payload = serde_json::to_vec(&ack).unwrap_or_default();
                            self.reply(account, &reply, payload);
                        }
                        Token::Delete { reply } => {
                            let body = api::SuccessResponse {
                                kind: kind("stream_msg_delete_response"),
                                success: true,
                            };
                            self.answer(account, &reply, &body);
                        }
                        Token::Purge { reply } => {
                            let purged = self.purges.get_mut(&id).and_then(VecDeque::pop_front).unwrap_or(0);
                            let body = api::PurgeResponse {
                                kind: kind("stream_purge_response"),
                                success: true,
                                purged,
                            };
                            self.answer(account, &reply, &body);
                        }
                        Token::Ack { reply: None, .. } | Token::Get { .. } | Token::Direct { .. } | Token::Quiet => {}
                    }
                }
            }
            Event::Failed(tokens, error) => {
                let text = format!("write failed: {error}");
                let mut duplicates = Vec::new();
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.failed = Some(text.clone());
                    duplicates = std::mem::take(&mut stream.waiting_duplicates);
                }
                for (_, reply) in duplicates {
                    let ack = api::PubAck {
                        error: Some(ApiError::store_failed(&text)),
                        stream: &name,
                        seq: 0,
                        domain: None,
                        duplicate: false,
                    };
                    let payload = serde_json::to_vec(&ack).unwrap_or_default();
                    self.reply(account, &reply, payload);
                }
                self.log(
                    Level::Error,
                    format!(
                        "JetStream stream '{} > {name}' failed and takes no more writes: {text}",
                        self.account_name(account)
                    ),
                );
                for token in tokens {
                    match token {
                        Token::Ack { reply: Some(reply), .. } => {
                            let ack = api::PubAck {
                                error: Some(ApiError::store_failed(&text)),
                                stream: &name,
                                seq: 0,
                                domain: None,
                                duplicate: false,
                            };
                            let payload = serde_json::to_vec(&ack).unwrap_or_default();
                            self.reply(account, &reply, payload);
                        }
                        Token::Delete { reply } => self.answer_error(
                            account,
                            &reply,
                            "stream_msg_delete_response",
                            ApiError::msg_delete_failed(&text),
                            api::Extra::none(),
                        ),
                        Token::Purge { reply } => self.answer_error(
                            account,
                            &reply,
                            "stream_purge_response",
                            ApiError::purge_failed(&text),
                            api::Extra::purged(0),
                        ),
                        _ => {}
                    }
                }
            }
            Event::Read(Token::Get { reply, no_hdr }, result) => match result {
                Ok(message) => {
                    let body = api::MsgGetResponse {
                        kind: kind("stream_msg_get_response"),
                        message: api::StoredMsg {
                            subject: String::from_utf8_lossy(&message.subject).into_owned(),
                            seq: message.seq,
                            hdrs: (!no_hdr && !message.headers.is_empty()).then(|| api::base64(&message.headers)),
                            data: (!message.payload.is_empty()).then(|| api::base64(&message.payload)),
                            time: api::time(Some(message.time)),
                        },
                    };
                    let payload = serde_json::to_vec(&body).unwrap_or_default();
                    self.reply(account, &reply, payload);
                }
                Err(ReadError::NotFound) => self.answer_error(
                    account,
                    &reply,
                    "stream_msg_get_response",
                    ApiError::no_message_found(),
                    api::Extra::none(),
                ),
                Err(error) => {
                    self.log(
                        Level::Error,
                        format!("JetStream stream '{} > {name}': {error}", self.account_name(account)),
                    );
                    self.answer_error(
                        account,
                        &reply,
                        "stream_msg_get_response",
                        ApiError::damaged(error),
                        api::Extra::none(),
                    )
                }
            },
            Event::Read(Token::Direct { key }, result) => self.direct_read(key, &name, result),
            Event::Read(..) => {}
        }
    }

    /// Every store through `seq` is durable: duplicates of them may be answered.
    fn durable(&mut self, id: StreamId, seq: u64) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        stream.durable_through = stream.durable_through.max(seq);
        let through = stream.durable_through;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut stream.waiting_duplicates)
            .into_iter()
            .partition(|(seq, _)| *seq <= through);
        stream.waiting_duplicates = waiting;
        for (seq, reply) in ready {
            self.duplicate_ack(id, &reply, seq);
        }
    }

    fn account_name(&self, account: AccountId) -> String {
        self.accounts.get(&account).cloned().unwrap_or_default()
    }

    /// When the next message reaches its stream's `max_age`, wall-clock Unix nanoseconds.
    pub fn next_expiry(&self) -> Option<i64> {
        let expiry = self
            .streams
            .values()
            .filter(|s| s.config.max_age > 0)
            .filter_map(|s| s.times().0.map(|first| first + s.config.max_age));
        expiry.chain(self.sync_due).min()
    }

    /// Removes what has outlived its stream's `max_age` at wall-clock `now`.
    pub fn expire(&mut self, now: i64) {
        self.last_now = now;
        if self.sync_due.is_some_and(|at| at <= now) {
            self.sync_due = None;
            let files: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(_, s)| !s.in_memory())
                .map(|(id, _)| *id)
                .collect();
            for id in files {
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.store.sync_now();
                }
                self.pump(id);
            }
        }
        let due: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| s.config.max_age > 0 && s.times().0.is_some_and(|first| first + s.config.max_age <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let failed = self.streams.get_mut(&id).map(|s| s.store.expire(now));
            if let Some(Err(error)) = failed {
                self.log(Level::Error, format!("JetStream could not expire messages: {error}"));
            }
            self.pump(id);
        }
    }

    /// An IO request finished.
    pub fn complete(&mut self, now: i64, completion: IoCompletion) {
        self.last_now = now;
        let Some(owner) = self.owners.remove(&completion.id) else {
            return;
        };
        match owner {
            Owner::Stream(id) => {
                let event = self.streams.get_mut(&id).and_then(|s| s.complete(&completion));
                if let Some(event) = event {
                    self.on_event(id, event);
                }
                self.pump(id);
            }
            Owner::Chain(chain) => {
                let Some(entry) = self.chains.get_mut(&chain) else {
                    return;
                };
                entry.remaining = entry.remaining.saturating_sub(1);
                if let Err(error) = completion.result {
                    entry.error.get_or_insert(error);
                }
                if entry.remaining > 0 {
                    return;
                }
                let Some(done) = self.chains.remove(&chain) else { return };
                match done.then {
                    ChainDone::Saved { stream, reply, created } => {
                        self.saved(stream, &reply, created, done.error);
                        self.pump(stream);
                    }
                    ChainDone::Removed { account, reply } => match done.error {
                        None => self.deleted(account, &reply),
                        Some(error) => self.answer_error(
                            account,
                            &reply,
                            "stream_delete_response",
                            ApiError::create_failed(format!("could not remove stream files: {error}")),
                            api::Extra::none(),
                        ),
                    },
                }
            }
            Owner::Recovery(step) => {
                self.recovered_step(now, step, completion);
            }
        }
    }
}

/// The newest message on a subject matching `filter` (wildcards allowed).
pub(crate) fn last_matching(stream: &Stream, filter: &[u8]) -> Option<u64> {
    let index = stream.store.index();
    if !crate::subject::has_wildcard(filter) {
        return index.last_for(filter);
    }
    index
        .subjects()
        .filter(|(subject, _)| natrix_store::stream::subject_matches(filter, subject))
        .filter_map(|(subject, _)| index.last_for(subject))
        .max()
}

/// The `type` of a request's response.
fn response_type(request: &Request) -> &'static str {
    match request {
        Request::AccountInfo => "account_info_response",
        Request::Create(_) => "stream_create_response",
        Request::Update(_) => "stream_update_response",
        Request::Info(_) => "stream_info_response",
        Request::Names => "stream_names_response",
        Request::List => "stream_list_response",
        Request::Delete(_) => "stream_delete_response",
        Request::Purge(_) => "stream_purge_response",
        Request::MsgGet(_) => "stream_msg_get_response",
        Request::MsgDelete(_) => "stream_msg_delete_response",
    }
}

/// Decodes a request body as nats-server's Go decoder would: an empty body is the default,
/// and `null` for a field leaves it unset.
fn decode<T: serde::de::DeserializeOwned + Default>(body: &[u8], strict: bool) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| invalid_json(&e))?;
    if value.is_null() {
        return Ok(T::default());
    }
    strip_nulls(&mut value);
    // nats-server decodes requests refusing unknown fields under `strict` (its default),
    // and otherwise ignores them.
    let mut unknown: Option<String> = None;
    let decoded: T = serde_ignored::deserialize(value, |path| {
        if unknown.is_none() {
            unknown = Some(match path {
                serde_ignored::Path::Map { key, .. } => key.clone(),
                other => other.to_string(),
            });
        }
    })
    .map_err(|e| invalid_json(&e))?;
    match unknown {
        Some(field) if strict => Err(ApiError::invalid_json(format!("json: unknown field \"{field}\""))),
        _ => Ok(decoded),
    }
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A JSON error in Go's words where they are well known (a body cut short is
/// `unexpected EOF`).
fn invalid_json(error: &serde_json::Error) -> ApiError {
    if error.is_eof() {
        return ApiError::invalid_json("unexpected EOF");
    }
    // Go's decoder gives no position; serde_json appends one.
    let text = error.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    ApiError::invalid_json(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_as_gos_decoder_reads_them() {
        // async-nats sends `null` for an empty STREAM.INFO, and `null` for unset fields.
        let request: api::InfoRequest = decode(b"null", true).expect("null is no request");
        assert!(!request.deleted_details);
        let config: StreamConfig = decode(
            br#"{"name":"S","consumer_limits":null,"metadata":null,"subjects":["a"]}"#,
            true,
        )
        .expect("nulls skipped");
        assert_eq!(config.subjects, ["a"]);
        let empty: api::PurgeRequest = decode(b"", true).expect("empty is the default");
        assert_eq!(empty.keep, 0);
        assert_eq!(
            decode::<api::PurgeRequest>(b"{", true)
                .expect_err("cut short")
                .description,
            "invalid JSON: unexpected EOF"
        );
        let storage = decode::<StreamConfig>(br#"{"name":"S","storage":"disk"}"#, true).expect_err("unknown storage");
        assert_eq!(storage.description, r#"invalid JSON: can not unmarshal "\"disk\"""#);
    }

    #[test]
    fn strict_refuses_unknown_fields_as_nats_server_does() {
        let body = br#"{"name":"S","subjects":["a"],"bogus":{"x":1},"also":2}"#;
        let error = decode::<StreamConfig>(body, true).expect_err("strict");
        assert_eq!(error.description, r#"invalid JSON: json: unknown field "bogus""#);
        assert_eq!(error.err_code, 10025);
        let config = decode::<StreamConfig>(body, false).expect("lenient without strict");
        assert_eq!(config.name, "S");
        // A map's keys are the user's, not fields.
        let metadata = br#"{"name":"S","metadata":{"anything":"goes"}}"#;
        assert!(decode::<StreamConfig>(metadata, true).is_ok());
        // Nested unknown fields are named as Go names them: the field alone.
        let nested = br#"{"name":"S","consumer_limits":{"nope":1}}"#;
        let error = decode::<StreamConfig>(nested, true).expect_err("nested");
        assert_eq!(error.description, r#"invalid JSON: json: unknown field "nope""#);
        // STREAM.CREATE takes nats-server's `pedantic` beside the configuration.
        let pedantic = decode::<StreamConfig>(br#"{"name":"S","pedantic":true}"#, true).expect("pedantic is known");
        assert!(!serde_json::to_string(&pedantic).expect("JSON").contains("pedantic"));
        // MSG.GET knows DIRECT.GET's fields, as nats-server's shared request type does.
        assert!(decode::<api::MsgGetRequest>(br#"{"seq":1,"no_hdr":true,"multi_last":["a"]}"#, true).is_ok());
    }
}
