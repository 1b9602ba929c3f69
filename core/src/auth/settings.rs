//! Who may connect and what they may do, as the configuration file states it.
//!
//! These are the parsed settings (nats-server's `authorization`, `accounts`, `no_auth_user` and
//! `system_account`); the server compiles them into lookup tables when it starts and on reload.

use std::time::Duration;

/// The `authorization` block, plus the users every account block adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// `token`: one shared secret (plaintext or bcrypt).
    pub token: Option<String>,
    /// `user`: the single user, with `password`.
    pub user: Option<String>,
    /// `password` (or `pass`) for the single user.
    pub password: Option<String>,
    /// Users with passwords (`users`, and the users of each account).
    pub users: Vec<User>,
    /// Users that authenticate with an nkey signature.
    pub nkeys: Vec<NkeyUser>,
    /// `timeout`: how long a client has to send CONNECT (nats-server's auth timeout).
    pub timeout: Option<Duration>,
    /// Permissions of listed users that name none (`default_permissions`, or `permissions` in
    /// the block itself). The single user and the token are never restricted.
    pub default_permissions: Option<Permissions>,
}

impl Authorization {
    /// Whether clients must authenticate at all.
    pub fn required(&self) -> bool {
        self.token.is_some() || self.user.is_some() || !self.users.is_empty() || !self.nkeys.is_empty()
    }
}

/// A user with a name and (unless the TLS certificate maps it) a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name clients send as `user`, or a certificate identity under `verify_and_map`.
    pub name: String,
    /// Plaintext, or a bcrypt hash (`$2a$`, `$2b$` ...).
    pub password: Option<String>,
    /// The account the user belongs to (`$G` unless an account block lists it).
    pub account: String,
    /// What the user may do; `None` uses `default_permissions`.
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types`: when given, the user connects only as these kinds
    /// (`STANDARD` is a client connection).
    pub connection_types: Option<Vec<String>>,
}

/// A user known by its public nkey (`U...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NkeyUser {
    /// The public key, as nats encodes it.
    pub nkey: String,
    /// The account the user belongs to.
    pub account: String,
    /// What the user may do; `None` uses `default_permissions`.
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types`, as for [`User`].
    pub connection_types: Option<Vec<String>>,
}

/// Publish and subscribe rights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects the user may publish to.
    pub publish: Option<SubjectPermission>,
    /// Subjects (and `subject queue` pairs) the user may subscribe to.
    pub subscribe: Option<SubjectPermission>,
    /// `allow_responses`: the user may publish to reply subjects of requests it received.
    pub response: Option<ResponsePermission>,
}

/// Allow and deny lists. A missing allow list allows everything the deny list does not name;
/// an empty one allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectPermission {
    /// Allowed subjects, wildcards permitted.
    pub allow: Option<Vec<String>>,
    /// Denied subjects; a deny wins over an allow.
    pub deny: Option<Vec<String>>,
}

/// How many responses, for how long, a user may send to a reply subject it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Responses allowed per request (nats-server's default: 1).
    pub max_msgs: i64,
    /// How long after the request they may be sent (default: 2 minutes).
    pub expires: Duration,
}

/// nats-server's `DEFAULT_ALLOW_RESPONSE_MAX_MSGS`.
pub const DEFAULT_RESPONSE_MAX_MSGS: i64 = 1;
/// nats-server's `DEFAULT_ALLOW_RESPONSE_EXPIRATION`.
pub const DEFAULT_RESPONSE_EXPIRES: Duration = Duration::from_secs(120);

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: DEFAULT_RESPONSE_MAX_MSGS,
            expires: DEFAULT_RESPONSE_EXPIRES,
        }
    }
}

/// One account block: its name, exports and imports (its users are in [`Authorization`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSpec {
    /// The account's name.
    pub name: String,
    /// What other accounts may import from this one.
    pub exports: Vec<Export>,
    /// What this account takes from others.
    pub imports: Vec<Import>,
    /// JetStream is enabled for it (`jetstream: enabled`, or a limits block).
    pub jetstream: bool,
    /// Its JetStream limits (all -1, none, unless a block sets them).
    pub jetstream_limits: AccountLimits,
}

/// Stream or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// Messages flow from the exporter to importers.
    Stream,
    /// Requests flow to the exporter; responses flow back.
    Service,
}

impl ExportKind {
    /// The configuration key that names it (`stream`, `service`), case-insensitively.
    pub fn from_key(key: &str) -> Self {
        if key.eq_ignore_ascii_case("stream") {
            ExportKind::Stream
        } else {
            ExportKind::Service
        }
    }

    /// `stream` or `service`, as nats-server's messages and monitoring say it.
    pub fn name(self) -> &'static str {
        match self {
            ExportKind::Stream => "stream",
            ExportKind::Service => "service",
        }
    }
}

/// How many responses a service sends to one request, which decides when the server forgets
/// the request's reply mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One response (the default).
    #[default]
    Singleton,
    /// Any number of responses until the threshold passes.
    Stream,
    /// One response in several chunks, until the threshold passes.
    Chunked,
}

/// nats-server's default `response_threshold`.
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);

/// One entry of an account's `exports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exported subject, wildcards permitted.
    pub subject: String,
    /// Only these accounts may import it; `None` means any account.
    pub accounts: Option<Vec<String>>,
    /// For services: how responses are tracked.
    pub response_type: ResponseType,
    /// For services: how long a stream or chunked response mapping lives.
    pub response_threshold: Duration,
}

/// One entry of an account's `imports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exporting account.
    pub account: String,
    /// The subject as the exporter names it.
    pub subject: String,
    /// The subject as the importer sees it (`to`, or the subject with `prefix` for streams).
    pub local_subject: String,
}

/// An account's JetStream limits (`accounts { A { jetstream { ... } } }`), nats-server's
/// `JetStreamAccountLimits`; -1 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Bytes its memory streams may hold (`max_memory`, `max_mem`, `mem`, `memory`).
    pub max_memory: i64,
    /// Bytes its file streams may hold (`max_store`, `max_file`, `max_disk`, `store`, `disk`).
    pub max_store: i64,
    /// Streams (`max_streams`, `streams`).
    pub max_streams: i64,
    /// Consumers (`max_consumers`, `consumers`).
    pub max_consumers: i64,
    /// Acknowledgements pending per consumer (`max_ack_pending`).
    pub max_ack_pending: i64,
    /// The largest `max_bytes` of a memory stream (`mem_max_stream_bytes`).
    pub memory_max_stream_bytes: i64,
    /// The largest `max_bytes` of a file stream (`disk_max_stream_bytes`).
    pub store_max_stream_bytes: i64,
    /// Every stream must set `max_bytes` (`max_bytes_required`, `max_stream_bytes`,
    /// `max_bytes`).
    pub max_bytes_required: bool,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            max_memory: -1,
            max_store: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            store_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}
