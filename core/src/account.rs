//! Accounts: isolated subject spaces. Every connection belongs to one; until multi-tenancy is
//! configured, that is the global account `$G`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use slab::Slab;

use crate::auth::settings::ResponseType;
use crate::ids::ConnId;
use crate::sublist::Sublist;
use crate::time::Instant;

pub use crate::ids::{AccountId, SubKey, GLOBAL_ACCOUNT, SYSTEM_ACCOUNT};

/// Who a subscription delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscriber {
    /// A client connection: a match is written to it as `MSG`/`HMSG`.
    Client(ConnId),
    /// Interest the server behind this route announced (`RS+`): a match is forwarded to the
    /// route once, however many of its subscriptions match.
    Route(ConnId),
    /// A stream import: a match is delivered again in the importing account.
    Import(Box<StreamForward>),
    /// The server itself: a match is handed to the part of the server named here, which may
    /// answer through the internal-publish path.
    Internal(Internal),
}

/// The parts of the server that receive messages through internal subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    /// `$SYS.REQ.SERVER...` monitoring requests, in the system account.
    ServerRequests,
    /// `$JS.API.>` requests, in every account but the system account.
    JetStreamApi,
    /// Messages published on a stream's subjects (the stream's id).
    Stream(u32),
    /// Direct gets of a stream with `allow_direct` (the stream's id).
    Direct(u32),
}

impl Subscriber {
    /// The client connection, for a client's subscription.
    pub fn client(&self) -> Option<ConnId> {
        match self {
            Subscriber::Client(id) => Some(*id),
            _ => None,
        }
    }

    /// The connection behind it: a client's, or the route whose interest it is.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Subscriber::Client(id) | Subscriber::Route(id) => Some(*id),
            _ => None,
        }
    }

    /// Whether routes hear of this subscription as local interest: what clients and stream
    /// imports here want. A route's own interest is the other server's; the server's internal
    /// subscriptions serve only what is published here.
    pub fn is_local_interest(&self) -> bool {
        matches!(self, Subscriber::Client(_) | Subscriber::Import(_))
    }
}

/// One subscription: a client's, a route's interest, a stream import's or the server's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Who receives what matches.
    pub subscriber: Subscriber,
    /// The client's id for it.
    pub sid: Box<[u8]>,
    /// What it matches.
    pub subject: Box<[u8]>,
    /// Its queue group, if any.
    pub queue: Option<Box<[u8]>>,
    /// Total deliveries after which it ends (`UNSUB sid max`).
    pub max: Option<u64>,
    /// Messages delivered so far.
    pub delivered: u64,
}

impl Subscription {
    /// A subscription for `subscriber` with no sid, queue or limit (the server's own kinds).
    pub fn of(subscriber: Subscriber, subject: &[u8], queue: Option<&[u8]>) -> Subscription {
        Subscription {
            subscriber,
            sid: Box::default(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            max: None,
            delivered: 0,
        }
    }
}

/// Where a stream import delivers what its exporter publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamForward {
    /// The importing account.
    pub to: AccountId,
    /// The exported subject (the subscription's subject).
    pub from_subject: Box<[u8]>,
    /// The subject as the importer sees it, wildcards in the same places.
    pub to_subject: Box<[u8]>,
}

/// A service this account imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImport {
    /// The exporting account.
    pub from: AccountId,
    /// The subject requests are published to in this account.
    pub local_subject: Box<[u8]>,
    /// The subject they are delivered to in the exporter.
    pub export_subject: Box<[u8]>,
    /// How many responses to route back per request.
    pub response_type: ResponseType,
    /// How long a request's reply mapping lives.
    pub threshold: Duration,
}

/// A reply subject the server made up for a request it forwarded into this account, mapped
/// back to the requester's own reply subject in the importing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRoute {
    /// The requester's account.
    pub to: AccountId,
    /// The requester's reply subject.
    pub reply: Box<[u8]>,
    /// Whether the mapping ends with the first response.
    pub singleton: bool,
    /// When the mapping is forgotten.
    pub expires: Instant,
    /// How long it lives after each response (stream and chunked responses).
    pub threshold: Duration,
}

/// An account: its name, its subscriptions and their index.
pub struct Account {
    /// The account's name.
    pub name: String,
    /// Subscriptions by key.
    pub subs: Slab<Subscription>,
    /// The index from subjects to subscription keys.
    pub sublist: Sublist<SubKey>,
    /// Services imported into this account, by local subject.
    pub service_imports: Vec<ServiceImport>,
    /// Index over `service_imports`' local subjects.
    pub service_index: Sublist<u32>,
    /// Reply subjects of requests forwarded into this account, by made-up subject.
    pub responses: HashMap<Box<[u8]>, ResponseRoute>,
    /// Response routes in the order they were made, for expiring them.
    pub response_order: VecDeque<(Instant, Box<[u8]>)>,
    /// The prefix of this account's made-up reply subjects (`_R_.<prefix>.`).
    pub reply_prefix: Box<[u8]>,
    /// Local interest as routes must hear it; `None` unless the server is clustered.
    pub interest: Option<Box<crate::cluster::Interest>>,
    /// How many of `subs` are the server's internal subscriptions, which monitoring and the
    /// subscription counts leave out.
    pub internal_subs: usize,
    /// Sublist inserts and removes of internal subscriptions, left out of `/subsz` likewise.
    pub internal_churn: (u64, u64),
}

impl Account {
    /// An empty account.
    pub fn new(name: impl Into<String>) -> Self {
        Account {
            name: name.into(),
            subs: Slab::new(),
            sublist: Sublist::new(),
            service_imports: Vec::new(),
            service_index: Sublist::new(),
            responses: HashMap::new(),
            response_order: VecDeque::new(),
            reply_prefix: Box::default(),
            interest: None,
            internal_subs: 0,
            internal_churn: (0, 0),
        }
    }

    /// Subscriptions as monitoring counts them: every one but the server's internal ones.
    pub fn visible_subs(&self) -> usize {
        self.subs.len() - self.internal_subs
    }

    /// Indexes a new subscription; fails (and stores nothing) if its subject is invalid.
    pub fn subscribe(&mut self, sub: Subscription) -> Result<SubKey, crate::sublist::InvalidSubject> {
        let entry = self.subs.vacant_entry();
        let key = SubKey(entry.key() as u32);
        self.sublist.insert(&sub.subject, sub.queue.as_deref(), key)?;
        if let Some(interest) = self.interest.as_mut().filter(|_| sub.subscriber.is_local_interest()) {
            interest.add(&sub.subject, sub.queue.as_deref());
        }
        if matches!(sub.subscriber, Subscriber::Internal(_)) {
            self.internal_subs += 1;
            self.internal_churn.0 += 1;
        }
        entry.insert(sub);
        Ok(key)
    }

    /// Forgets response routes that have expired by `now`.
    pub fn expire_responses(&mut self, now: Instant) {
        while let Some((at, _)) = self.response_order.front() {
            if *at > now {
                break;
            }
            if let Some((at, key)) = self.response_order.pop_front() {
                if self.responses.get(&key).is_some_and(|r| r.expires == at) {
                    self.responses.remove(&key);
                }
            }
        }
    }

    /// Removes a subscription from the table and the index.
    pub fn unsubscribe(&mut self, key: SubKey) -> Option<Subscription> {
        let sub = self.subs.try_remove(key.0 as usize)?;
        self.sublist.remove(&sub.subject, sub.queue.as_deref(), key);
        if let Some(interest) = self.interest.as_mut().filter(|_| sub.subscriber.is_local_interest()) {
            interest.remove(&sub.subject, sub.queue.as_deref());
        }
        if matches!(sub.subscriber, Subscriber::Internal(_)) {
            self.internal_subs -= 1;
            self.internal_churn.1 += 1;
        }
        Some(sub)
    }
}
