//! The `$JS.API` requests a single server answers for streams, and their responses' JSON in
//! nats-server's shapes (key order, what is left out), as captured from nats-server 2.15.1 in
//! tests/transcripts/jetstream_streams_2.15.1.json.

use serde::{Deserialize, Serialize};

use super::config::StreamConfig;
use super::errors::ApiError;
use crate::time::rfc3339;

/// The `type` prefix of every response.
const TYPE_PREFIX: &str = "io.nats.jetstream.api.v1.";

/// A request, by its subject (after `$JS.API.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `INFO`.
    AccountInfo,
    /// `STREAM.CREATE.<s>`.
    Create(String),
    /// `STREAM.UPDATE.<s>`.
    Update(String),
    /// `STREAM.INFO.<s>`.
    Info(String),
    /// `STREAM.NAMES`.
    Names,
    /// `STREAM.LIST`.
    List,
    /// `STREAM.DELETE.<s>`.
    Delete(String),
    /// `STREAM.PURGE.<s>`.
    Purge(String),
    /// `STREAM.MSG.GET.<s>`.
    MsgGet(String),
    /// `STREAM.MSG.DELETE.<s>`.
    MsgDelete(String),
}

impl Request {
    /// The request `subject` makes, if it is one this server answers (others get no reply,
    /// as from nats-server).
    pub fn parse(subject: &str) -> Option<Request> {
        let rest = subject.strip_prefix("$JS.API.")?;
        if rest == "INFO" {
            return Some(Request::AccountInfo);
        }
        let rest = rest.strip_prefix("STREAM.")?;
        match rest {
            "NAMES" => return Some(Request::Names),
            "LIST" => return Some(Request::List),
            _ => {}
        }
        let (op, name) = if let Some(name) = rest.strip_prefix("MSG.GET.") {
            ("MSG.GET", name)
        } else if let Some(name) = rest.strip_prefix("MSG.DELETE.") {
            ("MSG.DELETE", name)
        } else {
            rest.split_once('.')?
        };
        // The name is one token: a subject with more gets no answer.
        if name.is_empty() || name.contains('.') {
            return None;
        }
        let name = name.to_string();
        Some(match op {
            "CREATE" => Request::Create(name),
            "UPDATE" => Request::Update(name),
            "INFO" => Request::Info(name),
            "DELETE" => Request::Delete(name),
            "PURGE" => Request::Purge(name),
            "MSG.GET" => Request::MsgGet(name),
            "MSG.DELETE" => Request::MsgDelete(name),
            _ => return None,
        })
    }
}

/// The Go zero time, which nats-server writes for a time not set.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A Unix-nanosecond time as nats-server writes one (the zero time when absent).
pub fn time(nanos: Option<i64>) -> String {
    match nanos {
        Some(n) if n > 0 => rfc3339(n as u64),
        _ => ZERO_TIME.to_string(),
    }
}

/// `StreamState`.
#[derive(Debug, Clone, Serialize)]
pub struct StreamState {
    /// Messages.
    pub messages: u64,
    /// Bytes.
    pub bytes: u64,
    /// First sequence.
    pub first_seq: u64,
    /// When the first was stored.
    pub first_ts: String,
    /// Last sequence.
    pub last_seq: u64,
    /// When the last was stored.
    pub last_ts: String,
    /// Subjects with messages.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_subjects: u64,
    /// Counts per subject (with `subjects_filter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<std::collections::BTreeMap<String, u64>>,
    /// Sequences missing between first and last (with `deleted_details`).
    #[serde(skip_serializing_if = "is_zero")]
    pub num_deleted: u64,
    /// Which (with `deleted_details`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Vec<u64>>,
    /// Consumers.
    pub consumer_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `{"leader": ...}` in a stream's info.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterInfo {
    /// This server's name.
    pub leader: String,
}

/// The body of STREAM.CREATE's answer (and UPDATE's, without `did_create`).
#[derive(Debug, Serialize)]
pub struct CreateResponse<'a> {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The configuration.
    pub config: &'a StreamConfig,
    /// Created.
    pub created: String,
    /// State.
    pub state: StreamState,
    /// Now.
    pub ts: String,
    /// Whether this created it (left out on update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_create: Option<bool>,
}

/// The body of STREAM.INFO's answer.
#[derive(Debug, Serialize)]
pub struct InfoResponse<'a> {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Paging: subjects in the state.
    pub total: u64,
    /// Paging.
    pub offset: u64,
    /// Paging.
    pub limit: u64,
    /// The configuration.
    pub config: &'a StreamConfig,
    /// Created.
    pub created: String,
    /// State.
    pub state: StreamState,
    /// Who leads.
    pub cluster: ClusterInfo,
    /// Now.
    pub ts: String,
}

/// One stream in STREAM.LIST.
#[derive(Debug, Serialize)]
pub struct ListEntry<'a> {
    /// The configuration.
    pub config: &'a StreamConfig,
    /// Created.
    pub created: String,
    /// State.
    pub state: StreamState,
    /// Now.
    pub ts: String,
}

/// STREAM.LIST's answer.
#[derive(Debug, Serialize)]
pub struct ListResponse<'a> {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Streams in all.
    pub total: u64,
    /// Paging.
    pub offset: u64,
    /// Paging.
    pub limit: u64,
    /// The page.
    pub streams: Vec<ListEntry<'a>>,
}

/// STREAM.NAMES's answer.
#[derive(Debug, Serialize)]
pub struct NamesResponse {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Streams in all.
    pub total: u64,
    /// Paging.
    pub offset: u64,
    /// Paging.
    pub limit: u64,
    /// The names (`null` when none).
    pub streams: Option<Vec<String>>,
}

/// A message as MSG.GET returns it.
#[derive(Debug, Serialize)]
pub struct StoredMsg {
    /// Subject.
    pub subject: String,
    /// Sequence.
    pub seq: u64,
    /// The header block, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hdrs: Option<String>,
    /// The payload, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// When it was stored.
    pub time: String,
}

/// MSG.GET's answer.
#[derive(Debug, Serialize)]
pub struct MsgGetResponse {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The message.
    pub message: StoredMsg,
}

/// An answer that is only `success` (STREAM.DELETE, MSG.DELETE).
#[derive(Debug, Serialize)]
pub struct SuccessResponse {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Done.
    pub success: bool,
}

/// PURGE's answer.
#[derive(Debug, Serialize)]
pub struct PurgeResponse {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Done.
    pub success: bool,
    /// How many.
    pub purged: u64,
}

/// An error answer; `extra` carries the fields nats-server keeps after the error.
#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The error.
    pub error: ApiError,
    /// Info's paging, purge's count, in nats-server's order.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The fields some error answers keep after the error.
#[derive(Debug, Default, Serialize)]
pub struct Extra {
    /// Paging (STREAM.INFO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Paging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Paging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// PURGE's count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged: Option<u64>,
}

impl Extra {
    /// Nothing after the error.
    pub fn none() -> Self {
        Extra::default()
    }

    /// STREAM.INFO's paging.
    pub fn paging(total: u64, limit: u64) -> Self {
        Extra {
            total: Some(total),
            offset: Some(0),
            limit: Some(limit),
            purged: None,
        }
    }

    /// PURGE's count.
    pub fn purged(n: u64) -> Self {
        Extra {
            purged: Some(n),
            ..Extra::default()
        }
    }
}

/// The account's limits in INFO (none set: -1).
#[derive(Debug, Serialize)]
pub struct AccountLimits {
    /// Bytes of memory storage.
    pub max_memory: i64,
    /// Bytes of file storage.
    pub max_storage: i64,
    /// Streams.
    pub max_streams: i64,
    /// Consumers.
    pub max_consumers: i64,
    /// Pending acks per consumer.
    pub max_ack_pending: i64,
    /// Largest memory stream.
    pub memory_max_stream_bytes: i64,
    /// Largest file stream.
    pub storage_max_stream_bytes: i64,
    /// Streams must set max_bytes.
    pub max_bytes_required: bool,
}

/// API counters in INFO.
#[derive(Debug, Serialize)]
pub struct ApiStats {
    /// Requests answered.
    pub total: u64,
    /// Of which errors.
    pub errors: u64,
}

/// INFO's answer.
#[derive(Debug, Serialize)]
pub struct AccountInfoResponse {
    /// The type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Bytes in memory streams.
    pub memory: u64,
    /// Bytes in file streams.
    pub storage: u64,
    /// Reserved memory.
    pub reserved_memory: u64,
    /// Reserved storage.
    pub reserved_storage: u64,
    /// Streams.
    pub streams: u64,
    /// Consumers.
    pub consumers: u64,
    /// The domain, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Limits.
    pub limits: AccountLimits,
    /// Counters.
    pub api: ApiStats,
}

/// A PubAck (or a publish's error).
#[derive(Debug, Serialize)]
pub struct PubAck<'a> {
    /// The error, first when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
    /// The stream.
    pub stream: &'a str,
    /// Its sequence (0 on error).
    pub seq: u64,
    /// The domain, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<&'a str>,
    /// Stored before, inside the duplicate window.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The `type` of a response.
pub fn kind(name: &str) -> String {
    format!("{TYPE_PREFIX}{name}")
}

/// STREAM.INFO's optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InfoRequest {
    /// List the deleted sequences.
    pub deleted_details: bool,
    /// Count messages per subject matching this.
    pub subjects_filter: String,
    /// Paging of subjects.
    pub offset: u64,
}

/// STREAM.NAMES / LIST body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NamesRequest {
    /// Paging.
    pub offset: u64,
    /// Only streams with a subject that collides with this.
    pub subject: String,
}

/// PURGE's body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PurgeRequest {
    /// Only subjects matching this.
    pub filter: String,
    /// Below this sequence.
    pub seq: u64,
    /// Keep the newest n.
    pub keep: u64,
}

/// MSG.GET's body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MsgGetRequest {
    /// By sequence (or where `next_by_subj` starts).
    pub seq: u64,
    /// The last message on this subject.
    pub last_by_subj: String,
    /// The first message at or after `seq` on this subject.
    pub next_by_subj: String,
    /// Batches are DIRECT.GET's: MSG.GET refuses them.
    pub batch: i64,
    /// As `batch`.
    pub max_bytes: i64,
    /// The first message stored at or after this time (RFC 3339).
    pub start_time: Option<String>,
    /// DIRECT.GET's; ignored here, as nats-server ignores it.
    pub multi_last: Option<Vec<String>>,
    /// DIRECT.GET's; ignored here.
    pub up_to_seq: u64,
    /// DIRECT.GET's; ignored here.
    pub up_to_time: Option<String>,
    /// Leave the stored headers out.
    pub no_hdr: bool,
}

/// MSG.DELETE's body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MsgDeleteRequest {
    /// The sequence.
    pub seq: u64,
    /// Do not overwrite the payload (accepted; deleted records are tombstoned either way).
    pub no_erase: bool,
}

/// Standard base64 with padding, as Go's `encoding/json` writes `[]byte`.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64(b"five"), "Zml2ZQ==");
        assert_eq!(base64(b"one"), "b25l");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn subjects_name_requests() {
        assert_eq!(Request::parse("$JS.API.INFO"), Some(Request::AccountInfo));
        assert_eq!(
            Request::parse("$JS.API.STREAM.MSG.GET.ORDERS"),
            Some(Request::MsgGet("ORDERS".into()))
        );
        assert_eq!(Request::parse("$JS.API.STREAM.CREATE.A.B"), None);
        assert_eq!(Request::parse("$JS.API.STREAM.FOO"), None);
        assert_eq!(Request::parse("$JS.API.FOO"), None);
    }
}
