//! The server's settings, with nats-server's defaults (const.go), and the configuration file
//! format that sets them.

pub mod cluster;
pub mod duration;
pub mod format;
pub mod jetstream;
pub mod options;
pub mod security;
pub mod tls;

use std::time::Duration;

/// The nats-server version whose client-facing behaviour Natrix matches. Clients switch features
/// on by the version a server advertises, so this is what INFO says (docs/compatibility.md).
pub const COMPATIBLE_VERSION: &str = "2.10.0";

/// Settings the core needs. The runtime fills them from flags (and, later, the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The server's name; its id when `None`.
    pub server_name: Option<String>,
    /// The host the client listener is bound to, as advertised in INFO.
    pub host: String,
    /// The client port actually bound (after `-p -1` picked one).
    pub port: u16,
    /// Largest message a client may publish (`max_payload`).
    pub max_payload: usize,
    /// Longest control-line arguments (`max_control_line`).
    pub max_control_line: usize,
    /// Bytes a connection may have waiting to be written before it is closed as a slow consumer.
    pub max_pending: usize,
    /// Most client connections at once (`max_connections`).
    pub max_connections: usize,
    /// Most subscriptions per connection; 0 means no limit (`max_subscriptions`).
    pub max_subscriptions: usize,
    /// How often the server PINGs a connection that has been quiet.
    pub ping_interval: Duration,
    /// Unanswered PINGs tolerated before the connection is stale.
    pub ping_max: u32,
    /// How long writes to a connection may make no progress before it is a slow consumer.
    pub write_deadline: Duration,
    /// Never pause fast publishers for slow subscribers (`no_fast_producer_stall`).
    pub no_fast_producer_stall: bool,
    /// Emit debug log events.
    pub debug: bool,
    /// Emit protocol trace log events.
    pub trace: bool,
    /// Seed for the core's PRNG (server id, queue member choice).
    pub seed: u64,
    /// What INFO's `go` field says: the toolchain that built the server.
    pub toolchain: String,
    /// How long lame duck mode takes to close every client (`lame_duck_duration`).
    pub lame_duck_duration: Duration,
    /// How long lame duck mode waits before closing the first client (`lame_duck_grace_period`).
    pub lame_duck_grace_period: Duration,
    /// Timestamps on log lines (`logtime`).
    pub logtime: bool,
    /// Log to this file instead of stderr (`log_file`).
    pub log_file: Option<String>,
    /// Write the process id here (`pid_file`).
    pub pid_file: Option<String>,
    /// Write the ports file into this directory (`ports_file_dir`).
    pub ports_file_dir: Option<String>,
    /// The event loop to run on (`runtime`, a Natrix key): "tokio" or "mio".
    pub runtime: Option<String>,
    /// Who may connect (`authorization`, and the users of every account).
    pub authorization: crate::auth::settings::Authorization,
    /// Accounts besides `$G` (`accounts`), with their exports and imports.
    pub accounts: Vec<crate::auth::settings::AccountSpec>,
    /// The user a client without credentials becomes (`no_auth_user`).
    pub no_auth_user: Option<String>,
    /// The system account's name (`system_account`); `$SYS` when unset.
    pub system_account: Option<String>,
    /// Run without a system account (`no_system_account`).
    pub no_system_account: bool,
    /// Client TLS (`tls`).
    pub tls: Option<tls::TlsSettings>,
    /// The HTTP monitoring port (`http_port`, `http`, `-m`); `None` serves no monitoring, 0
    /// picks a free port (then the port bound).
    pub http_port: Option<u16>,
    /// The monitoring listener's host; the client host when `None`.
    pub http_host: Option<String>,
    /// A prefix for every monitoring path (`http_base_path`).
    pub http_base_path: String,
    /// Most closed connections remembered for `/connz?state=closed` (`max_closed_clients`).
    pub max_closed_clients: usize,
    /// Wall-clock time at start-up, Unix nanoseconds (set by the binary; monitoring reports
    /// times from it and the core's monotonic clock).
    pub start_unix_nanos: u64,
    /// Routes to other servers (`cluster`, `--cluster`, `--routes`); `None` runs alone.
    pub cluster: Option<cluster::ClusterSettings>,
    /// JetStream, when enabled (`jetstream`, `-js`).
    pub jetstream: Option<jetstream::JetStreamSettings>,
    /// The top-level `store_dir` (`-sd`): JetStream's directory when the `jetstream` block
    /// names none.
    pub store_dir: String,
}

impl Config {
    /// Whether a password is stored in plaintext (nats-server warns at start-up): the single
    /// user's, or a listed user's, unless certificates map that user.
    pub fn has_plaintext_passwords(&self) -> bool {
        let auth = &self.authorization;
        let plain = |p: &Option<String>| !p.as_deref().is_some_and(crate::auth::credentials::is_bcrypt);
        let mapped = self.tls.as_ref().is_some_and(|t| t.verify_and_map);
        (auth.user.is_some() && plain(&auth.password))
            || auth
                .users
                .iter()
                .any(|u| plain(&u.password) && !(mapped && u.password.as_deref().unwrap_or("").is_empty()))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: None,
            host: "0.0.0.0".to_string(),
            port: 4222,
            max_payload: 1024 * 1024,
            max_control_line: 4096,
            max_pending: 64 * 1024 * 1024,
            max_connections: 64 * 1024,
            max_subscriptions: 0,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            no_fast_producer_stall: false,
            debug: false,
            trace: false,
            seed: 0,
            toolchain: "rust".to_string(),
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            logtime: true,
            log_file: None,
            pid_file: None,
            ports_file_dir: None,
            runtime: None,
            authorization: Default::default(),
            accounts: Vec::new(),
            no_auth_user: None,
            system_account: None,
            no_system_account: false,
            tls: None,
            http_port: None,
            http_host: None,
            http_base_path: String::new(),
            max_closed_clients: 10_000,
            start_unix_nanos: 0,
            cluster: None,
            jetstream: None,
            store_dir: String::new(),
        }
    }
}
