//! A message published on a stream's subject: the publish headers' conditions, the duplicate
//! window, discard-new limits, and the store whose acknowledgement the PubAck waits for.

use bytes::Bytes;

use super::api::PubAck;
use super::config::{Discard, Storage};
use super::errors::ApiError;
use super::stream::Token;
use super::{JetStream, StreamId};
use crate::log::Level;

/// What a `Nats-Rollup` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollup {
    /// `sub`: earlier messages on the subject go.
    Subject,
    /// `all`: every earlier message goes.
    All,
}

/// A header's value in a NATS header block (`NATS/1.0\r\nName: value\r\n...`), names matched
/// exactly as nats-server matches them.
pub fn header<'a>(block: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(block).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}

impl JetStream {
    /// The PubAck of a duplicate of `seq`.
    pub(super) fn duplicate_ack(&mut self, id: StreamId, reply: &[u8], seq: u64) {
        let Some(stream) = self.streams.get(&id) else { return };
        let account = stream.account;
        let ack = PubAck {
            error: None,
            stream: &stream.config.name,
            seq,
            domain: self.settings.domain.as_deref(),
            duplicate: true,
        };
        let body = serde_json::to_vec(&ack).unwrap_or_default();
        self.reply(account, reply, body);
    }

    /// A message published on stream `id`'s subjects.
    pub fn publish(&mut self, now: i64, id: StreamId, subject: &[u8], reply: &[u8], headers: Bytes, payload: Bytes) {
        self.last_now = now;
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let account = stream.account;
        let name = stream.config.name.clone();
        let no_ack = stream.config.no_ack;
        let refuse = |js: &mut JetStream, error: ApiError| {
            if no_ack {
                return;
            }
            let ack = PubAck {
                error: Some(error),
                stream: &name,
                seq: 0,
                domain: None,
                duplicate: false,
            };
            let body = serde_json::to_vec(&ack).unwrap_or_default();
            js.reply(account, reply, body);
        };
        if let Some(failed) = stream.failed.clone() {
            return refuse(self, ApiError::store_failed(failed));
        }
        if stream.config.sealed {
            return refuse(self, ApiError::sealed());
        }
        let size = (headers.len() + payload.len()) as i64;
        if stream.config.max_msg_size > 0 && size > i64::from(stream.config.max_msg_size) {
            return refuse(self, ApiError::message_too_large());
        }
        let storage = stream.config.storage;
        if self.storage_full(storage) {
            // Said at most every 10 seconds, as nats-server says it.
            if self.resource_error_at.is_none_or(|at| now - at > 10_000_000_000) {
                self.resource_error_at = Some(now);
                let kind = if storage == Storage::Memory { "memory" } else { "file" };
                self.log(
                    Level::Error,
                    format!("JetStream {kind} resource limits exceeded for server"),
                );
            }
            return refuse(self, ApiError::insufficient_resources());
        }
        let size = self
            .streams
            .get(&id)
            .map_or(0, |s| s.store.config().size_of(subject, &headers, &payload));
        if self.account_full(account, storage, size) {
            if self.resource_error_at.is_none_or(|at| now - at > 10_000_000_000) {
                self.resource_error_at = Some(now);
                let kind = if storage == Storage::Memory { "memory" } else { "file" };
                let text = format!(
                    "JetStream {kind} resource limits exceeded for account: {:?}",
                    self.account_name(account)
                );
                self.log(Level::Warn, text);
            }
            return refuse(self, ApiError::account_resources_exceeded());
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let state = stream.store.state();
        if let Some(expected) = header(&headers, "Nats-Expected-Stream") {
            if expected != name {
                return refuse(self, ApiError::expected_stream_mismatch());
            }
        }
        let msg_id = header(&headers, "Nats-Msg-Id")
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        if let Some(msg_id) = &msg_id {
            if let Some(seq) = stream.duplicate_of(msg_id, now) {
                if no_ack || reply.is_empty() {
                    return;
                }
                if seq > stream.durable_through {
                    // The original is not on disk yet: "duplicate" must not promise more
                    // than its own acknowledgement would.
                    stream.waiting_duplicates.push((seq, reply.into()));
                    return;
                }
                return self.duplicate_ack(id, reply, seq);
            }
        }
        if let Some(expected) = header(&headers, "Nats-Expected-Last-Sequence") {
            if expected.parse::<u64>().ok() != Some(state.last_seq) {
                return refuse(self, ApiError::wrong_last_sequence(state.last_seq));
            }
        }
        if let Some(expected) = header(&headers, "Nats-Expected-Last-Subject-Sequence") {
            let on = header(&headers, "Nats-Expected-Last-Subject-Sequence-Subject")
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_else(|| subject.to_vec());
            let last = stream.store.index().last_for(&on).unwrap_or(0);
            if expected.parse::<u64>().ok() != Some(last) {
                return refuse(self, ApiError::wrong_last_sequence(last));
            }
        }
        if let Some(expected) = header(&headers, "Nats-Expected-Last-Msg-Id") {
            let last = stream.last_msg_id.clone().unwrap_or_default();
            if expected != last {
                return refuse(self, ApiError::wrong_last_msg_id(&last));
            }
        }
        // `Nats-Rollup`: once stored, the message replaces the earlier ones on its subject
        // (`sub`) or in the whole stream (`all`), where the stream allows it.
        let rollup = match header(&headers, "Nats-Rollup") {
            None => None,
            Some(_) if !stream.config.allow_rollup_hdrs || stream.config.deny_purge => {
                return refuse(self, ApiError::rollup_failed("rollup not permitted"));
            }
            Some("sub") => Some(Rollup::Subject),
            Some("all") => Some(Rollup::All),
            Some(other) => {
                return refuse(
                    self,
                    ApiError::rollup_failed(&format!("rollup value invalid: {other:?}")),
                )
            }
        };
        if stream.config.discard == Discard::New {
            let config = &stream.config;
            let message_size = stream.store.config().size_of(subject, &headers, &payload);
            if config.max_msgs > 0 && state.msgs >= config.max_msgs as u64 {
                return refuse(self, ApiError::limit("maximum messages exceeded"));
            }
            if config.max_bytes > 0 && state.bytes + message_size > config.max_bytes as u64 {
                return refuse(self, ApiError::limit("maximum bytes exceeded"));
            }
            if config.discard_new_per_subject
                && config.max_msgs_per_subject > 0
                && stream.store.index().count_for(subject) >= config.max_msgs_per_subject as u64
            {
                return refuse(self, ApiError::limit("maximum messages per subject exceeded"));
            }
        }
        let token = Token::Ack {
            reply: (!no_ack && !reply.is_empty()).then(|| reply.into()),
            seq: state.last_seq + 1,
        };
        match stream
            .store
            .store(Bytes::copy_from_slice(subject), headers, payload, now, token)
        {
            Ok((seq, _removed)) => {
                stream.last_time = Some(now);
                if let Some(msg_id) = msg_id {
                    stream.remember_msg_id(msg_id, seq, now);
                }
                if let Some(rollup) = rollup {
                    let filter = match rollup {
                        Rollup::Subject => Some(subject),
                        Rollup::All => None,
                    };
                    // The tombstones follow the message in the log: a crash between them
                    // leaves the older messages, never the rollup without its message.
                    if let Err(error) = stream.store.purge(filter, Some(seq), None, now, Token::Quiet) {
                        let text = format!("JetStream stream '{}' could not roll up: {error}", stream.config.name);
                        self.log(Level::Error, text);
                    }
                }
                self.pump(id);
            }
            Err(error) => refuse(self, ApiError::store_failed(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::header;

    #[test]
    fn headers_are_found_by_exact_name() {
        let block = b"NATS/1.0\r\nNats-Msg-Id: m1\r\nNats-Expected-Stream:ORDERS\r\n\r\n";
        assert_eq!(header(block, "Nats-Msg-Id"), Some("m1"));
        assert_eq!(header(block, "Nats-Expected-Stream"), Some("ORDERS"));
        assert_eq!(header(block, "nats-msg-id"), None);
        assert_eq!(header(b"", "Nats-Msg-Id"), None);
    }
}
