//! DIRECT.GET (`$JS.API.DIRECT.GET.<stream>` and its subject-suffix form): messages answered
//! raw, with the stream's headers, for streams with `allow_direct`. Batches, `multi_last`,
//! `max_bytes`, `no_hdr` and the status replies (404, 408, 412, 413, the `204 EOB` end marker)
//! as nats-server 2.15.1 sends them (tests/transcripts/jetstream_direct_2.15.1.json).
//!
//! A batch reads its messages one at a time, in order, each through the stream's store (on
//! disk: an IO request), and answers each as it arrives; the end marker follows the last.

use std::collections::VecDeque;

use serde::Deserialize;

use super::stream::{Stream, Token};
use super::{Effect, JetStream, StreamId};
use crate::ids::AccountId;
use crate::log::Level;

/// `multi_last` answers at most this many subjects (more: 413).
const MAX_MULTI_LAST: usize = 1024;
/// The API level this server implements (`Nats-Required-Api-Level` above it gets 412).
pub const API_LEVEL: u64 = 0;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DirectRequest {
    seq: u64,
    last_by_subj: String,
    next_by_subj: String,
    batch: usize,
    max_bytes: usize,
    start_time: Option<String>,
    multi_last: Vec<String>,
    up_to_seq: u64,
    up_to_time: Option<String>,
    no_hdr: bool,
}

/// A direct get in progress.
#[derive(Debug)]
pub(super) struct DirectGet {
    account: AccountId,
    reply: Box<[u8]>,
    stream: StreamId,
    /// What it sends; its sequences are taken from the front as they go.
    plan: Plan,
    last_sent: u64,
    sent: usize,
    bytes: usize,
}

impl DirectGet {
    /// The stream it reads.
    pub(super) fn stream(&self) -> StreamId {
        self.stream
    }
}

impl JetStream {
    /// Answers a status-only reply (`NATS/1.0 404 Message Not Found`).
    fn direct_status(&mut self, account: AccountId, reply: &[u8], status: &str) {
        self.reply_with_headers(
            account,
            reply,
            format!("NATS/1.0 {status}\r\n\r\n").into_bytes(),
            Vec::new(),
        );
    }

    fn reply_with_headers(&mut self, account: AccountId, subject: &[u8], headers: Vec<u8>, payload: Vec<u8>) {
        if subject.is_empty() {
            return;
        }
        self.effects.push_back(Effect::Reply {
            account,
            subject: subject.into(),
            headers,
            payload,
        });
    }

    /// A direct get on stream `id`: `subject` is the request's, `headers` and `body` its parts.
    pub fn direct_get(&mut self, now: i64, id: StreamId, subject: &[u8], reply: &[u8], headers: &[u8], body: &[u8]) {
        self.last_now = now;
        let Some(stream) = self.streams.get(&id) else { return };
        let account = stream.account;
        if reply.is_empty() {
            return;
        }
        if let Some(level) = super::publish::header(headers, "Nats-Required-Api-Level") {
            if level.parse::<u64>().map_or(true, |level| level > API_LEVEL) {
                return self.direct_status(account, reply, "412 Required Api Level");
            }
        }
        let prefix = format!("$JS.API.DIRECT.GET.{}", stream.config.name);
        let suffix = subject
            .strip_prefix(prefix.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"."))
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let trimmed = body.trim_ascii();
        let request: DirectRequest = if trimmed.is_empty() {
            DirectRequest::default()
        } else {
            match serde_json::from_slice(trimmed) {
                Ok(request) => request,
                Err(_) => return self.direct_status(account, reply, "408 Malformed Request"),
            }
        };
        let conflicts = (request.seq > 0 && !request.last_by_subj.is_empty())
            || (!request.last_by_subj.is_empty() && request.batch > 0)
            || (!request.next_by_subj.is_empty()
                && (!request.last_by_subj.is_empty() || !request.multi_last.is_empty()))
            || (request.seq > 0 && request.start_time.is_some())
            || (request.up_to_seq > 0 && request.up_to_time.is_some());
        if conflicts {
            return self.direct_status(account, reply, "408 Bad Request");
        }
        match plan(stream, request, suffix) {
            Ok(plan) => self.direct_start(account, reply, id, plan),
            Err(status) => self.direct_status(account, reply, status),
        }
    }

    fn direct_start(&mut self, account: AccountId, reply: &[u8], stream: StreamId, plan: Plan) {
        self.next_direct += 1;
        let key = self.next_direct;
        self.directs.insert(
            key,
            DirectGet {
                account,
                reply: reply.into(),
                stream,
                plan,
                last_sent: 0,
                sent: 0,
                bytes: 0,
            },
        );
        self.direct_next(key);
    }

    /// Reads the next message of direct get `key`, or ends it.
    fn direct_next(&mut self, key: u64) {
        let Some(get) = self.directs.get_mut(&key) else { return };
        let done = get.sent >= get.plan.limit || (get.plan.max_bytes > 0 && get.bytes >= get.plan.max_bytes);
        let next = if done { None } else { get.plan.seqs.pop_front() };
        let Some(seq) = next else {
            let Some(get) = self.directs.remove(&key) else { return };
            if get.plan.batch {
                let mut headers = format!(
                    "NATS/1.0 204 EOB\r\nNats-Num-Pending: {}\r\nNats-Last-Sequence: {}\r\n",
                    get.plan.pending, get.last_sent
                );
                if let Some(up_to) = get.plan.up_to {
                    headers.push_str(&format!("Nats-UpTo-Sequence: {up_to}\r\n"));
                }
                headers.push_str("\r\n");
                self.reply_with_headers(get.account, &get.reply, headers.into_bytes(), Vec::new());
            } else if get.sent == 0 {
                self.direct_status(get.account, &get.reply, "404 Message Not Found");
            }
            return;
        };
        let stream = get.stream;
        let mut next_io = self.next_io;
        let mut issued = Vec::new();
        let step = self.streams.get_mut(&stream).and_then(|s| {
            s.read(seq, Token::Direct { key }, &mut || {
                next_io += 1;
                issued.push(natrix_store::io::IoId(next_io));
                natrix_store::io::IoId(next_io)
            })
        });
        self.next_io = next_io;
        self.after_step(stream, step, issued);
    }

    /// A message of direct get `key` was read (or could not be).
    pub(super) fn direct_read(
        &mut self,
        key: u64,
        name: &str,
        result: Result<natrix_store::stream::StoredMessage, natrix_store::stream::ReadError>,
    ) {
        let Some(get) = self.directs.get_mut(&key) else { return };
        let message = match result {
            Ok(message) => message,
            // Deleted or removed since the plan: skipped, as a deleted sequence is.
            Err(natrix_store::stream::ReadError::NotFound) => return self.direct_next(key),
            Err(error) => {
                // Damaged or unreadable: never served, and never called missing, which a
                // client would take for a key that does not exist. nats-server has no status
                // for this (it answers 404); a 500 is an error to every client.
                let Some(get) = self.directs.remove(&key) else { return };
                let account_name = self.account_name(get.account);
                self.log(
                    Level::Error,
                    format!("JetStream stream '{account_name} > {name}': {error}"),
                );
                return self.direct_status(get.account, &get.reply, "500 Message Unreadable");
            }
        };
        get.sent += 1;
        get.bytes += message.subject.len() + message.headers.len() + message.payload.len();
        let (account, reply) = (get.account, get.reply.clone());
        if get.plan.no_hdr {
            let payload = message.payload.to_vec();
            get.last_sent = message.seq;
            self.reply_with_headers(account, &reply, Vec::new(), payload);
            return self.direct_next(key);
        }
        let mut headers = String::from("NATS/1.0\r\n");
        // The stored headers first, without their status line and final blank line.
        let stored = String::from_utf8_lossy(&message.headers);
        for line in stored.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
            headers.push_str(line);
            headers.push_str("\r\n");
        }
        headers.push_str(&format!(
            "Nats-Stream: {name}\r\nNats-Subject: {}\r\nNats-Sequence: {}\r\nNats-Time-Stamp: {}\r\n",
            String::from_utf8_lossy(&message.subject),
            message.seq,
            super::api::time(Some(message.time)),
        ));
        if get.plan.batch {
            get.plan.pending = get.plan.pending.saturating_sub(1);
            headers.push_str(&format!(
                "Nats-Num-Pending: {}\r\nNats-Last-Sequence: {}\r\n",
                get.plan.pending, get.last_sent
            ));
        }
        get.last_sent = message.seq;
        headers.push_str("\r\n");
        self.reply_with_headers(account, &reply, headers.into_bytes(), message.payload.to_vec());
        self.direct_next(key);
    }
}

/// What a direct get sends: its sequences and how.
#[derive(Debug)]
struct Plan {
    /// Sequences to send, in order.
    seqs: VecDeque<u64>,
    /// Answered as a batch (pending counts and the end marker).
    batch: bool,
    /// `multi_last`'s upper sequence, for the end marker.
    up_to: Option<u64>,
    limit: usize,
    max_bytes: usize,
    no_hdr: bool,
    pending: u64,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    fn new(
        seqs: Vec<u64>,
        batch: bool,
        up_to: Option<u64>,
        limit: usize,
        max_bytes: usize,
        no_hdr: bool,
        pending: u64,
    ) -> Self {
        Plan {
            seqs: seqs.into(),
            batch,
            up_to,
            limit,
            max_bytes,
            no_hdr,
            pending,
        }
    }
}

/// What `request` (and the subject's `suffix`, if any) asks of `stream`, or the status that
/// answers it.
fn plan(stream: &Stream, request: DirectRequest, suffix: Option<String>) -> Result<Plan, &'static str> {
    let index = stream.store.index();
    let state = stream.store.state();
    let matches = |filter: &str, seq: u64| {
        index
            .get(seq)
            .is_some_and(|m| natrix_store::stream::subject_matches(filter.as_bytes(), &m.subject))
    };
    // The subject-suffix form: the last message on a subject (wildcards allowed).
    if let Some(filter) = suffix {
        let plain = request.seq == 0
            && request.batch == 0
            && request.last_by_subj.is_empty()
            && request.next_by_subj.is_empty()
            && request.multi_last.is_empty()
            && request.start_time.is_none()
            && request.up_to_seq == 0
            && request.up_to_time.is_none();
        if !plain {
            return Err("408 Bad Request");
        }
        let Some(seq) = super::last_matching(stream, filter.as_bytes()) else {
            return Err("404 Message Not Found");
        };
        return Ok(Plan::new(vec![seq], false, None, 1, 0, request.no_hdr, 0));
    }
    if !request.multi_last.is_empty() {
        let up_to = match &request.up_to_time {
            Some(time) => {
                let Some(at) = crate::time::parse_rfc3339(time) else {
                    return Err("408 Bad Request");
                };
                index
                    .seqs_from(0)
                    .take_while(|seq| index.get(*seq).is_some_and(|m| m.time <= at))
                    .last()
            }
            None if request.up_to_seq > 0 => Some(request.up_to_seq),
            None => Some(state.last_seq),
        };
        let Some(up_to) = up_to else {
            return Err("404 No Results");
        };
        let mut seqs: Vec<u64> = index
            .subjects()
            .filter(|(subject, _)| {
                request
                    .multi_last
                    .iter()
                    .any(|f| natrix_store::stream::subject_matches(f.as_bytes(), subject))
            })
            .filter_map(|(subject, _)| index.last_for_up_to(subject, up_to))
            .filter(|seq| *seq >= request.seq)
            .collect();
        if seqs.len() > MAX_MULTI_LAST {
            return Err("413 Too Many Results");
        }
        if seqs.is_empty() {
            return Err("404 No Results");
        }
        seqs.sort_unstable();
        let pending = seqs.len() as u64;
        let limit = if request.batch > 0 { request.batch } else { usize::MAX };
        // multi_last always answers with headers.
        return Ok(Plan::new(
            seqs,
            true,
            Some(up_to),
            limit,
            request.max_bytes,
            false,
            pending,
        ));
    }
    let start = match &request.start_time {
        Some(time) => {
            let Some(at) = crate::time::parse_rfc3339(time) else {
                return Err("408 Bad Request");
            };
            index
                .seqs_from(0)
                .find(|seq| index.get(*seq).is_some_and(|m| m.time >= at))
        }
        None => None,
    };
    if request.seq == 0
        && request.last_by_subj.is_empty()
        && request.next_by_subj.is_empty()
        && request.start_time.is_none()
    {
        return Err("408 Empty Request");
    }
    if request.start_time.is_some() && start.is_none() {
        return Err("404 Message Not Found");
    }
    if !request.last_by_subj.is_empty() {
        let Some(seq) = super::last_matching(stream, request.last_by_subj.as_bytes()) else {
            return Err("404 Message Not Found");
        };
        return Ok(Plan::new(vec![seq], false, None, 1, 0, request.no_hdr, 0));
    }
    let from = start.unwrap_or(request.seq.max(1));
    let filter = (!request.next_by_subj.is_empty()).then_some(request.next_by_subj.as_str());
    let candidates = index
        .seqs_from(from)
        .filter(|seq| filter.is_none_or(|f| matches(f, *seq)));
    if request.batch == 0 {
        // One message: exactly `seq`, or the first at or after it on the subject.
        let seq = match filter {
            Some(_) => candidates.into_iter().next(),
            None if start.is_some() => Some(from),
            None => index.get(request.seq).map(|_| request.seq),
        };
        let Some(seq) = seq else {
            return Err("404 Message Not Found");
        };
        return Ok(Plan::new(vec![seq], false, None, 1, 0, request.no_hdr, 0));
    }
    let seqs: Vec<u64> = candidates.collect();
    if seqs.is_empty() {
        return Err("404 Message Not Found");
    }
    let pending = seqs.len() as u64;
    let take: Vec<u64> = seqs.into_iter().take(request.batch).collect();
    Ok(Plan::new(
        take,
        true,
        None,
        request.batch,
        request.max_bytes,
        request.no_hdr,
        pending,
    ))
}
