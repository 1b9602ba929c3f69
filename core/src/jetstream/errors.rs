//! JetStream API errors as nats-server reports them: an HTTP-like `code`, nats-server's
//! `err_code` and its description text (server/errors.json).

use serde::Serialize;

/// One API error: serialized as the `error` object of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// The HTTP-like status.
    pub code: u16,
    /// nats-server's error code, which clients map to their own errors.
    pub err_code: u16,
    /// The text.
    pub description: String,
}

impl ApiError {
    fn new(code: u16, err_code: u16, description: impl Into<String>) -> Self {
        ApiError {
            code,
            err_code,
            description: description.into(),
        }
    }

    /// 10076: JetStream is off on this server.
    pub fn not_enabled() -> Self {
        Self::new(503, 10076, "JetStream not enabled")
    }

    /// 10039: the account has no JetStream.
    pub fn not_enabled_for_account() -> Self {
        Self::new(503, 10039, "JetStream not enabled for account")
    }

    /// 10003.
    pub fn bad_request() -> Self {
        Self::new(400, 10003, "bad request")
    }

    /// 10025: the body is not the JSON the request takes.
    pub fn invalid_json(error: impl std::fmt::Display) -> Self {
        Self::new(400, 10025, format!("invalid JSON: {error}"))
    }

    /// 10059.
    pub fn stream_not_found() -> Self {
        Self::new(404, 10059, "stream not found")
    }

    /// 10037.
    pub fn no_message_found() -> Self {
        Self::new(404, 10037, "no message found")
    }

    /// 10058.
    pub fn stream_name_exists() -> Self {
        Self::new(400, 10058, "stream name already in use with a different configuration")
    }

    /// 10065.
    pub fn subjects_overlap() -> Self {
        Self::new(400, 10065, "subjects overlap with an existing stream")
    }

    /// 10056.
    pub fn stream_mismatch() -> Self {
        Self::new(400, 10056, "stream name in subject does not match request")
    }

    /// 10052: a configuration that does not check out, and why.
    pub fn invalid_config(why: impl std::fmt::Display) -> Self {
        Self::new(500, 10052, why.to_string())
    }

    /// 10049: a stream that could not be created, and why.
    pub fn create_failed(why: impl std::fmt::Display) -> Self {
        Self::new(500, 10049, why.to_string())
    }

    /// 10052 for a changed setting that cannot change, or 10069 for any other refusal.
    pub fn update_failed(why: impl std::fmt::Display) -> Self {
        Self::new(500, 10052, why.to_string())
    }

    /// 10074.
    pub fn replicas_not_supported() -> Self {
        Self::new(500, 10074, "replicas > 1 not supported in non-clustered mode")
    }

    /// 10071.
    pub fn wrong_last_sequence(seq: u64) -> Self {
        Self::new(400, 10071, format!("wrong last sequence: {seq}"))
    }

    /// 10070.
    pub fn wrong_last_msg_id(id: &str) -> Self {
        Self::new(400, 10070, format!("wrong last msg ID: {id}"))
    }

    /// 10060.
    pub fn expected_stream_mismatch() -> Self {
        Self::new(400, 10060, "expected stream does not match")
    }

    /// 10077: a store the stream refused (limits with discard new, a failed disk).
    pub fn store_failed(why: impl std::fmt::Display) -> Self {
        Self::new(503, 10077, why.to_string())
    }

    /// 10054.
    pub fn message_too_large() -> Self {
        Self::new(400, 10054, "message size exceeds maximum allowed")
    }

    /// 10057: a message delete refused.
    pub fn msg_delete_failed(why: impl std::fmt::Display) -> Self {
        Self::new(500, 10057, why.to_string())
    }

    /// 10110: a purge refused.
    pub fn purge_failed(why: impl std::fmt::Display) -> Self {
        Self::new(500, 10110, why.to_string())
    }

    /// 10109.
    pub fn sealed() -> Self {
        Self::new(400, 10109, "invalid operation on sealed stream")
    }

    /// 10027.
    pub fn max_streams() -> Self {
        Self::new(400, 10027, "maximum number of streams reached")
    }

    /// 10047.
    pub fn storage_exceeded() -> Self {
        Self::new(500, 10047, "insufficient storage resources available")
    }

    /// 10028.
    pub fn memory_exceeded() -> Self {
        Self::new(500, 10028, "insufficient memory resources available")
    }

    /// 10113: the account requires `max_bytes` on every stream.
    pub fn max_bytes_required() -> Self {
        Self::new(400, 10113, "account requires a stream config to have max bytes set")
    }

    /// 10122: `max_bytes` above the account's largest stream.
    pub fn max_stream_bytes_exceeded() -> Self {
        Self::new(400, 10122, "stream max bytes exceeds account limit max stream bytes")
    }

    /// 10002: the account's storage of that type is used up.
    pub fn account_resources_exceeded() -> Self {
        Self::new(400, 10002, "resource limits exceeded for account")
    }

    /// 10111: a `Nats-Rollup` the stream does not allow or does not know.
    pub fn rollup_failed(reason: &str) -> Self {
        Self::new(500, 10111, reason)
    }

    /// 10023: the server's storage of that type is used up (`max_memory_store`,
    /// `max_file_store`); a publish is refused.
    pub fn insufficient_resources() -> Self {
        Self::new(503, 10023, "insufficient resources")
    }
}

impl ApiError {
    /// 10043: a sequence the stream does not have.
    pub fn sequence_not_found(seq: u64) -> Self {
        Self::new(400, 10043, format!("sequence {seq} not found"))
    }

    /// A stored message that cannot be served: damaged on disk, or the disk failed. Natrix's
    /// own (docs/compatibility.md): nats-server has no such answer; the code is "no message
    /// found"'s, which clients know, with the reason in the text.
    pub fn damaged(why: impl std::fmt::Display) -> Self {
        Self::new(500, 10037, why.to_string())
    }

    /// 10077 "maximum messages exceeded" and the like (discard new).
    pub fn limit(why: &str) -> Self {
        Self::new(503, 10077, why)
    }
}
