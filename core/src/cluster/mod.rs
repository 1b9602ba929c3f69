//! Clustering: a full mesh of routes between servers, as nats-server's route.go builds it.
//!
//! This module holds the route state (settings, registered routes, dials, local interest
//! counts); the server's operations on it live in `server/routes/`.
//!
//! Each server dials the routes it is configured with ([`crate::Output::Dial`]; the runtime
//! answers with [`crate::Node::route_dialed`] or [`crate::Input::DialFailed`]) and accepts routes
//! on its cluster port ([`crate::Node::accept_route`]). Both ends send INFO; the dialing end
//! first sends CONNECT, which carries its credentials and cluster name. When a server's INFO
//! arrives the route is registered: each side sends `RS+` for everything its own clients are
//! subscribed to (`server/routes/interest.rs`), and each side forwards the newcomer's INFO to
//! its other routes, so they dial it too (gossip) and the mesh closes. Two connections between
//! the same pair of servers (both dialed at once) are settled the same way on both ends: the one
//! dialed by the server with the smaller id stays.
//!
//! Messages cross at most one route (`server/routes/forward.rs`): what arrives from a route is
//! delivered to local clients only. A configured route that drops is dialed again with backoff;
//! a route that stops answering PINGs is closed as stale.

pub(crate) mod interest;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::cluster::{ClusterSettings, RouteUrl, ROUTE_MAX_PING_INTERVAL};
use crate::ids::AccountId;
use crate::ids::ConnId;
use crate::proto::Info;
use crate::time::Instant;

pub use interest::{Interest, InterestKey};

pub use crate::ids::DialId;

/// First delay before dialing a dropped route again; it doubles per failed attempt.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// The longest delay between attempts with `connect_backoff` (nats-server's
/// `DEFAULT_ROUTE_CONNECT_MAX`).
const RECONNECT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest delay between attempts without it.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(4);
/// How many times a route learned by gossip is dialed before it is given up (with the delay
/// capped at a few seconds, some minutes): nats-server tries once, and a mesh that lost such a
/// route during a partition stays incomplete after it heals.
pub(crate) const LEARNED_ROUTE_ATTEMPTS: u32 = 100;
/// How long a route has to send CONNECT when the cluster requires credentials (nats-server's
/// default auth timeout).
pub(crate) const DEFAULT_ROUTE_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The cluster's state inside the server.
pub(crate) struct Cluster {
    pub settings: ClusterSettings,
    /// The cluster name in force (configured, adopted, or made up).
    pub name: String,
    /// The name was made up and yields to a configured one.
    pub dynamic: bool,
    /// Registered routes, by the remote server's id.
    pub routes: BTreeMap<String, ConnId>,
    /// URLs this server dials: configured, and learned by gossip.
    pub solicits: Vec<Solicit>,
    pub(crate) next_dial: u64,
    /// When the cluster timer is due (redials).
    pub(crate) timer_at: Option<Instant>,
    pub ping_interval: Duration,
    pub ping_max: u32,
    /// An address this host is reachable at, learned from a route's local address, for the
    /// URLs we advertise when bound to every interface.
    pub local_ip: Option<std::net::IpAddr>,
    /// Accounts whose made-up reply subjects were announced to routes.
    pub reply_interest: Vec<AccountId>,
}

/// A URL this server dials, and how that is going.
pub(crate) struct Solicit {
    pub url: RouteUrl,
    /// From the configuration (retried for ever unless `connect_retries`), or learned by gossip.
    pub configured: bool,
    pub state: SolicitState,
    /// Failed attempts since the last connection.
    pub attempts: u32,
    /// The server at this URL, once known.
    pub remote_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SolicitState {
    /// Dial when the cluster timer reaches this instant.
    Waiting(Instant),
    /// The runtime is dialing.
    Dialing(DialId),
    /// Connected through this connection.
    Connected(ConnId),
    /// The server is reached through another connection; dial again if that route drops.
    Linked,
    /// Nothing more to do: the URL is this server itself, or a learned URL that failed.
    Done,
}

/// A route's side of a connection.
#[derive(Debug, Default)]
pub(crate) struct RouteState {
    /// The entry of `Cluster::solicits` this connection came from, if we dialed it.
    pub solicit: Option<usize>,
    /// The remote server's INFO, once received.
    pub info: Option<Box<Info>>,
    /// Registered in `Cluster::routes`.
    pub registered: bool,
    /// The CONNECT's cluster name (and whether it was made up), while its bcrypt password is
    /// being checked.
    pub awaiting_name: Option<(String, bool)>,
    /// Interest the remote announced: (account, subject, queue) to the subscription standing
    /// for it and the queue weight.
    pub subs: BTreeMap<(AccountId, InterestKey), (crate::ids::SubKey, u32)>,
}

impl RouteState {
    /// The remote server's id, once its INFO arrived.
    pub fn remote_id(&self) -> Option<&str> {
        self.info.as_deref().map(|i| i.server_id.as_str())
    }
}

impl Cluster {
    pub fn new(settings: ClusterSettings, made_up_name: String) -> Cluster {
        let ping_interval = settings.ping_interval.unwrap_or(ROUTE_MAX_PING_INTERVAL);
        let ping_max = settings.ping_max.unwrap_or(2);
        let solicits = settings
            .routes
            .iter()
            .map(|url| Solicit {
                url: url.clone(),
                configured: true,
                state: SolicitState::Waiting(Instant::ZERO),
                attempts: 0,
                remote_id: None,
            })
            .collect();
        let (name, dynamic) = match &settings.name {
            Some(name) => (name.clone(), false),
            None => (made_up_name, true),
        };
        Cluster {
            settings,
            name,
            dynamic,
            routes: BTreeMap::new(),
            solicits,
            next_dial: 1,
            timer_at: None,
            ping_interval: ping_interval.min(ROUTE_MAX_PING_INTERVAL),
            ping_max,
            local_ip: None,
            reply_interest: Vec::new(),
        }
    }

    /// The delay before attempt number `attempts + 1`.
    pub(crate) fn backoff(&self, attempts: u32) -> Duration {
        let max = if self.settings.connect_backoff {
            RECONNECT_MAX_BACKOFF
        } else {
            RECONNECT_MAX_DELAY
        };
        RECONNECT_DELAY.saturating_mul(1 << attempts.min(6)).min(max)
    }
}

/// Whether `host` is the wildcard address (bound to every interface).
pub(crate) fn unspecified(host: &str) -> bool {
    host.is_empty() || host == "0.0.0.0" || host == "::" || host == "[::]"
}

pub(crate) fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
