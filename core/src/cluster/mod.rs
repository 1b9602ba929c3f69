//! Clustering: a full mesh of routes between servers, as nats-server's route.go builds it.
//!
//! Each server dials the routes it is configured with ([`Output::Dial`]; the runtime answers
//! with [`Server::route_dialed`] or [`crate::Input::DialFailed`]) and accepts routes on its cluster
//! port ([`Server::accept_route`]). Both ends send INFO; the dialing end first sends CONNECT,
//! which carries its credentials and cluster name. When a server's INFO arrives the route is
//! registered: each side sends `RS+` for everything its own clients are subscribed to
//! (`interest.rs`), and the accepting side forwards the newcomer's INFO to its other routes, so
//! they dial it too (gossip) and the mesh closes. Two connections between the same pair of
//! servers (both dialed at once) are settled the same way on both ends: the one dialed by the
//! server with the smaller id stays.
//!
//! Messages cross at most one route (`forward.rs`): what arrives from a route is delivered to
//! local clients only. A configured route that drops is dialed again with backoff; a route that
//! stops answering PINGs is closed as stale.

mod forward;
mod interest;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::account::AccountId;
use crate::config::cluster::{ClusterSettings, RouteUrl, ROUTE_MAX_PING_INTERVAL};
use crate::config::COMPATIBLE_VERSION;
use crate::conn::{CloseReason, ConnId};
use crate::proto::{encode, Info, RouteConnect};
use crate::server::{Level, Output, Server, TimerKind, SERVER_TIMER};
use crate::time::Instant;

pub(crate) use forward::RemoteTargets;
pub use interest::{Interest, InterestKey};

/// Names a dial the core asked the runtime for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialId(pub u64);

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
const LEARNED_ROUTE_ATTEMPTS: u32 = 100;
/// How long a route has to send CONNECT when the cluster requires credentials (nats-server's
/// default auth timeout).
const DEFAULT_ROUTE_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

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
    next_dial: u64,
    /// When the cluster timer is due (redials).
    timer_at: Option<Instant>,
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
    /// Interest the remote announced: (account, subject, queue) to the subscription standing
    /// for it and the queue weight.
    pub subs: BTreeMap<(AccountId, InterestKey), (crate::account::SubKey, u32)>,
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
    fn backoff(&self, attempts: u32) -> Duration {
        let max = if self.settings.connect_backoff {
            RECONNECT_MAX_BACKOFF
        } else {
            RECONNECT_MAX_DELAY
        };
        RECONNECT_DELAY.saturating_mul(1 << attempts.min(6)).min(max)
    }
}

/// Whether `host` is the wildcard address (bound to every interface).
fn unspecified(host: &str) -> bool {
    host.is_empty() || host == "0.0.0.0" || host == "::" || host == "[::]"
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Server {
    /// Sets up clustering from the configuration (at start-up; cluster settings need a restart).
    pub(crate) fn configure_cluster(&mut self) {
        let Some(settings) = self.config.cluster.clone() else {
            return;
        };
        let made_up = crate::server::new_id(&mut self.rng, 22);
        let cluster = Cluster::new(settings, made_up);
        self.cluster = Some(Box::new(cluster));
        for account in &mut self.accounts {
            let mut interest = crate::cluster::Interest::default();
            for (_, sub) in account.subs.iter().filter(|(_, s)| !s.remote) {
                interest.add(&sub.subject, sub.queue.as_deref());
            }
            account.interest = Some(Box::new(interest));
        }
        self.announce_reply_subjects();
        self.timers
            .push(std::cmp::Reverse((Instant::ZERO, TimerKind::Cluster, SERVER_TIMER)));
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.timer_at = Some(Instant::ZERO);
        }
    }

    /// Accounts that export services get interest in their made-up reply subjects, so a
    /// response published on another server comes back here, where the request entered.
    pub(crate) fn announce_reply_subjects(&mut self) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let exporters: Vec<AccountId> = self
            .accounts
            .iter()
            .flat_map(|a| a.service_imports.iter().map(|i| i.from))
            .collect();
        for exporter in exporters {
            if cluster.reply_interest.contains(&exporter) {
                continue;
            }
            cluster.reply_interest.push(exporter);
            let account = &mut self.accounts[exporter.0 as usize];
            let mut subject = account.reply_prefix.to_vec();
            subject.push(b'>');
            if let Some(interest) = account.interest.as_mut() {
                interest.add(&subject, None);
            }
        }
    }

    /// Registers a route connection the runtime accepted on the cluster port; `local` is the
    /// socket's own address. Like every input, it must be followed by draining
    /// [`Server::poll_output`].
    pub fn accept_route(&mut self, now: Instant, peer: SocketAddr, local: SocketAddr) -> ConnId {
        self.now = now;
        let id = self.new_route_conn(now, peer, local, None);
        if self.shutting_down || self.lame_duck_at.is_some() {
            self.close(id, CloseReason::ServerShutdown, true);
        }
        id
    }

    /// Registers the connection a [`Output::Dial`] made; `None` if the core no longer wants it
    /// (the runtime then drops the socket).
    pub fn route_dialed(&mut self, now: Instant, dial: DialId, peer: SocketAddr, local: SocketAddr) -> Option<ConnId> {
        self.now = now;
        let cluster = self.cluster.as_mut()?;
        let index = cluster
            .solicits
            .iter()
            .position(|s| s.state == SolicitState::Dialing(dial))?;
        if self.shutting_down {
            cluster.solicits[index].state = SolicitState::Done;
            return None;
        }
        let id = self.new_route_conn(now, peer, local, Some(index));
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.solicits[index].state = SolicitState::Connected(id);
        }
        Some(id)
    }

    /// A dial failed: try again later (configured routes), or give up (learned ones).
    pub(crate) fn on_dial_failed(&mut self, dial: DialId, error: &str) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let Some(index) = cluster
            .solicits
            .iter()
            .position(|s| s.state == SolicitState::Dialing(dial))
        else {
            return;
        };
        let retries = cluster.settings.connect_retries;
        let solicit = &mut cluster.solicits[index];
        solicit.attempts += 1;
        let url = solicit.url.redacted();
        let attempts = solicit.attempts;
        let give_up = if solicit.configured {
            retries > 0 && attempts > retries
        } else {
            attempts > retries.max(LEARNED_ROUTE_ATTEMPTS)
        };
        self.log(Level::Debug, || {
            format!("Error trying to connect to route (attempt {attempts}): {error}")
        });
        if give_up {
            if let Some(cluster) = self.cluster.as_mut() {
                cluster.solicits[index].state = SolicitState::Done;
            }
            self.log(Level::Debug, || {
                format!("Giving up on route {url} after {attempts} attempts")
            });
        } else {
            self.schedule_redial(index);
        }
    }

    /// Puts a solicited URL back in the queue, after its backoff.
    fn schedule_redial(&mut self, index: usize) {
        let now = self.now;
        let jitter_ms = self.rng.below(250) as u64;
        let Some(cluster) = self.cluster.as_mut() else { return };
        let delay = cluster.backoff(cluster.solicits[index].attempts) + Duration::from_millis(jitter_ms);
        let at = now + delay;
        cluster.solicits[index].state = SolicitState::Waiting(at);
        self.arm_cluster_timer(at);
    }

    fn arm_cluster_timer(&mut self, at: Instant) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        if cluster.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        cluster.timer_at = Some(at);
        self.timers
            .push(std::cmp::Reverse((at, TimerKind::Cluster, SERVER_TIMER)));
    }

    /// The cluster timer: dial every URL whose time has come.
    pub(crate) fn cluster_timer(&mut self, at: Instant) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        if cluster.timer_at != Some(at) {
            return;
        }
        cluster.timer_at = None;
        if self.shutting_down || self.lame_duck_at.is_some() {
            return;
        }
        let mut next: Option<Instant> = None;
        let mut dials = Vec::new();
        for solicit in &mut cluster.solicits {
            if let SolicitState::Waiting(when) = solicit.state {
                if when <= self.now {
                    let dial = DialId(cluster.next_dial);
                    cluster.next_dial += 1;
                    solicit.state = SolicitState::Dialing(dial);
                    dials.push((dial, solicit.url.address(), solicit.url.redacted(), solicit.attempts));
                } else {
                    next = Some(next.map_or(when, |n| n.min(when)));
                }
            }
        }
        for (dial, address, url, attempts) in dials {
            if attempts == 0 {
                self.log(Level::Debug, || {
                    format!("Trying to connect to route on {address} ({url})")
                });
            }
            self.outputs.push_back(Output::Dial { dial, address });
        }
        if let Some(at) = next {
            self.arm_cluster_timer(at);
        }
    }

    fn new_route_conn(&mut self, now: Instant, peer: SocketAddr, local: SocketAddr, solicit: Option<usize>) -> ConnId {
        let id = self.new_conn(now, peer, true);
        let auth_required = self
            .cluster
            .as_ref()
            .is_some_and(|c| c.settings.user.is_some() && solicit.is_none());
        let auth_timeout = self
            .cluster
            .as_ref()
            .and_then(|c| c.settings.auth_timeout)
            .unwrap_or(DEFAULT_ROUTE_AUTH_TIMEOUT);
        if let Some(cluster) = self.cluster.as_mut() {
            if cluster.local_ip.is_none() && !local.ip().is_unspecified() {
                cluster.local_ip = Some(local.ip());
            }
        }
        let ping_at = now + self.route_ping_interval();
        let tls_deadline = self
            .cluster
            .as_ref()
            .and_then(|c| c.settings.tls.as_ref())
            .map(|t| now + t.timeout);
        if let Some(at) = tls_deadline {
            self.timers.push(std::cmp::Reverse((at, TimerKind::TlsTimeout, id)));
        }
        if let Some(conn) = self.conn_mut(id) {
            conn.tls_deadline = tls_deadline;
            conn.route = Some(Box::new(RouteState {
                solicit,
                ..RouteState::default()
            }));
            conn.ping_at = ping_at;
            if auth_required {
                conn.authenticated = false;
                conn.auth_deadline = Some(now + auth_timeout);
            }
        }
        self.timers.push(std::cmp::Reverse((ping_at, TimerKind::Ping, id)));
        if auth_required {
            self.timers
                .push(std::cmp::Reverse((now + auth_timeout, TimerKind::AuthTimeout, id)));
        }
        self.log_conn(Level::Info, id, "Route connection created".to_string());
        if solicit.is_some() {
            self.debug(id, || "Route connect msg sent".to_string());
            let connect = self.route_connect(solicit);
            self.trace(id, || {
                format!("->> [CONNECT {}]", crate::client::redact_secrets(&connect))
            });
            let mut line = b"CONNECT ".to_vec();
            line.extend_from_slice(connect.as_bytes());
            line.extend_from_slice(b"\r\n");
            self.send(id, &line);
        }
        let info = self.route_info_line();
        self.send(id, &info);
        id
    }

    /// How often routes are PINGed.
    pub(crate) fn route_ping_interval(&self) -> Duration {
        self.cluster
            .as_ref()
            .map_or(ROUTE_MAX_PING_INTERVAL, |c| c.ping_interval)
            .min(self.config.ping_interval.max(Duration::from_millis(1)))
    }

    /// The CONNECT we send on a route we dialed.
    fn route_connect(&self, solicit: Option<usize>) -> String {
        let Some(cluster) = self.cluster.as_ref() else {
            return String::new();
        };
        let url = solicit.and_then(|i| cluster.solicits.get(i)).map(|s| &s.url);
        let connect = RouteConnect {
            echo: true,
            user: url.and_then(|u| u.user.clone()),
            pass: url.and_then(|u| u.password.clone()),
            headers: true,
            name: self.server_id.clone(),
            tls_required: cluster.settings.tls.is_some(),
            cluster: cluster.name.clone(),
            cluster_dynamic: cluster.dynamic,
            ..RouteConnect::default()
        };
        serde_json::to_string(&connect).unwrap_or_default()
    }

    /// The URL other servers dial to reach us, or empty when we cannot tell (bound to every
    /// interface without `advertise`): peers then use the address they see.
    fn own_route_url(&self) -> String {
        let Some(cluster) = self.cluster.as_ref() else {
            return String::new();
        };
        if let Some(advertise) = &cluster.settings.advertise {
            let advertise = if advertise.contains(':') {
                advertise.clone()
            } else {
                join(advertise, cluster.settings.port)
            };
            return format!("nats-route://{advertise}/");
        }
        if unspecified(&cluster.settings.host) {
            return String::new();
        }
        format!("nats-route://{}/", join(&cluster.settings.host, cluster.settings.port))
    }

    /// This server's client URLs, as other servers pass them to their clients.
    pub(crate) fn own_client_urls(&self) -> Vec<String> {
        let Some(cluster) = self.cluster.as_ref() else {
            return Vec::new();
        };
        let host = if unspecified(&self.config.host) {
            match cluster.local_ip {
                Some(ip) => ip.to_string(),
                None => return Vec::new(),
            }
        } else {
            self.config.host.clone()
        };
        vec![join(&host, self.config.port)]
    }

    /// The INFO line we send on routes.
    fn route_info_line(&self) -> Vec<u8> {
        let Some(cluster) = self.cluster.as_ref() else {
            return Vec::new();
        };
        let info = Info {
            server_id: self.server_id.clone(),
            server_name: self.server_name().to_string(),
            version: COMPATIBLE_VERSION.to_string(),
            proto: 1,
            go: self.config.toolchain.clone(),
            host: cluster.settings.host.clone(),
            port: cluster.settings.port,
            headers: true,
            auth_required: cluster.settings.user.is_some(),
            tls_required: cluster.settings.tls.is_some(),
            tls_verify: cluster.settings.tls.as_ref().is_some_and(|t| t.verifies_clients()),
            max_payload: self.config.max_payload,
            ip: self.own_route_url(),
            cluster: cluster.name.clone(),
            cluster_dynamic: cluster.dynamic,
            connect_urls: if cluster.settings.no_advertise {
                Vec::new()
            } else {
                self.own_client_urls()
            },
            ..Info::default()
        };
        info_line(&info)
    }

    /// Every client URL of the cluster, for clients' `connect_urls`: ours, then each route's.
    pub(crate) fn cluster_client_urls(&self) -> Vec<String> {
        let Some(cluster) = self.cluster.as_ref().filter(|c| !c.settings.no_advertise) else {
            return Vec::new();
        };
        let mut urls = self.own_client_urls();
        for id in cluster.routes.values() {
            let Some(info) = self
                .conn(*id)
                .and_then(|c| c.route.as_ref())
                .and_then(|r| r.info.as_ref())
            else {
                continue;
            };
            for url in &info.connect_urls {
                if !urls.contains(url) {
                    urls.push(url.clone());
                }
            }
        }
        urls
    }

    /// Tells clients that understand it (protocol 1) the cluster's client URLs changed.
    fn send_client_urls(&mut self) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.route.is_none() && c.opts.protocol >= 1 && c.authenticated)
            .map(|(_, c)| c.id)
            .collect();
        for id in ids {
            let Some(conn) = self.conn(id) else { continue };
            let (cid, peer, nonce) = (conn.cid, conn.peer, conn.nonce.clone());
            let info = self.client_info(cid, peer, nonce.as_deref());
            self.send(id, &info);
        }
    }

    /// CONNECT on a route: credentials and cluster name.
    pub(crate) fn on_route_connect(&mut self, id: ConnId, json: &[u8]) {
        let text = String::from_utf8_lossy(json).into_owned();
        self.trace(id, || format!("<<- [CONNECT {}]", crate::client::redact_secrets(&text)));
        // A client that found the cluster port (nats-server tells them by their `lang`).
        if serde_json::from_slice::<serde_json::Value>(json).is_ok_and(|v| v.get("lang").is_some()) {
            self.log_conn(
                Level::Error,
                id,
                "Client attempted to connect to route port".to_string(),
            );
            self.send_err(id, "attempted to connect to route port");
            self.close(id, CloseReason::ProtocolViolation, true);
            return;
        }
        let connect: RouteConnect = match serde_json::from_slice(json) {
            Ok(c) => c,
            Err(e) => {
                self.log_conn(Level::Error, id, format!("Route connect failed: {e}"));
                self.close(id, CloseReason::ProtocolViolation, true);
                return;
            }
        };
        let Some(cluster) = self.cluster.as_ref() else { return };
        if let Some(user) = &cluster.settings.user {
            let password = cluster.settings.password.as_deref().unwrap_or_default();
            let ok = connect
                .user
                .as_deref()
                .is_some_and(|u| crate::auth::credentials::constant_time_eq(u.as_bytes(), user.as_bytes()))
                && crate::auth::credentials::constant_time_eq(
                    connect.pass.as_deref().unwrap_or_default().as_bytes(),
                    password.as_bytes(),
                );
            if !ok {
                let user = connect.user.unwrap_or_default();
                let _ = user;
                self.auth_violation(id, "authentication error".to_string());
                return;
            }
        }
        if let Some(conn) = self.conn_mut(id) {
            conn.authenticated = true;
            conn.auth_deadline = None;
        }
        // A refusal closes the route; nothing else to do either way.
        self.check_cluster_name(id, &connect.cluster, connect.cluster_dynamic);
    }

    /// Settles a cluster name the peer announced. A made-up name yields to a configured one (or
    /// a larger made-up one); two configured names that differ refuse the route.
    fn check_cluster_name(&mut self, id: ConnId, theirs: &str, theirs_dynamic: bool) -> bool {
        let Some(cluster) = self.cluster.as_mut() else {
            return false;
        };
        if theirs == cluster.name || theirs.is_empty() {
            return true;
        }
        if cluster.dynamic && (!theirs_dynamic || cluster.name.as_str() < theirs) {
            cluster.name = theirs.to_string();
            cluster.dynamic = theirs_dynamic;
            return true;
        }
        if theirs_dynamic {
            // They will take our name.
            return true;
        }
        let text = format!(
            "Rejecting connection, cluster name {theirs:?} does not match {:?}",
            cluster.name
        );
        self.log_conn(Level::Error, id, text.clone());
        self.send_err(id, &text);
        self.close(id, CloseReason::ClusterNameConflict, true);
        false
    }

    /// INFO on a route: the peer introducing itself, an update, or gossip about another server.
    pub(crate) fn on_route_info(&mut self, id: ConnId, json: &[u8]) {
        self.trace(id, || format!("<<- [INFO {}]", String::from_utf8_lossy(json)));
        let info: Info = match serde_json::from_slice(json) {
            Ok(info) => info,
            Err(e) => {
                self.log_conn(Level::Error, id, format!("Error processing route INFO: {e}"));
                self.close(id, CloseReason::ProtocolViolation, true);
                return;
            }
        };
        let Some(conn) = self.conn(id) else { return };
        if !conn.authenticated {
            self.auth_violation(id, "authentication error".to_string());
            return;
        }
        let Some(route) = conn.route.as_ref() else { return };
        match route.remote_id() {
            None => self.introduce_route(id, info),
            Some(remote) if remote == info.server_id => {
                // The peer's client URLs changed.
                let changed = route
                    .info
                    .as_ref()
                    .is_some_and(|old| old.connect_urls != info.connect_urls);
                let registered = route.registered;
                if let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) {
                    route.info = Some(Box::new(info));
                }
                if changed && registered {
                    self.send_client_urls();
                }
            }
            Some(_) => self.learn_route(info),
        }
    }

    /// The first INFO from a route's peer: check it and register the route.
    fn introduce_route(&mut self, id: ConnId, mut info: Info) {
        if !self.check_cluster_name(id, &info.cluster, info.cluster_dynamic) {
            return;
        }
        let Some(conn) = self.conn(id) else { return };
        let peer = conn.peer;
        let solicit = conn.route.as_ref().and_then(|r| r.solicit);
        if info.ip.is_empty() {
            // The peer did not say where it can be reached: where we see it, at its route port.
            info.ip = format!("nats-route://{}/", join(&peer.ip().to_string(), info.port));
        }
        let remote = info.server_id.clone();
        if let Some(index) = solicit {
            if let Some(cluster) = self.cluster.as_mut() {
                cluster.solicits[index].remote_id = Some(remote.clone());
            }
        }
        if remote == self.server_id {
            let url = solicit
                .and_then(|i| self.cluster.as_ref().map(|c| c.solicits[i].url.redacted()))
                .unwrap_or_default();
            self.debug(id, || format!("Detected route to self, ignoring {url:?}"));
            if let (Some(index), Some(cluster)) = (solicit, self.cluster.as_mut()) {
                cluster.solicits[index].state = SolicitState::Done;
            }
            self.close(id, CloseReason::RouteRemoved, true);
            return;
        }
        if let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) {
            route.info = Some(Box::new(info.clone()));
        }
        let existing = self.cluster.as_ref().and_then(|c| c.routes.get(&remote).copied());
        if let Some(existing) = existing {
            // Two connections to the same server: keep the one the smaller id dialed, as the
            // peer will.
            let we_dialed_new = solicit.is_some();
            let keep_ours = self.server_id < remote;
            if we_dialed_new != keep_ours {
                self.debug(id, || format!("Detected duplicate remote route {remote:?}"));
                if let (Some(index), Some(cluster)) = (solicit, self.cluster.as_mut()) {
                    cluster.solicits[index].state = SolicitState::Linked;
                }
                self.close(id, CloseReason::DuplicateRoute, true);
                return;
            }
            // The new connection wins: close the old one quietly (no redial: the new one
            // stands for it) and register the new.
            let old_solicit = self
                .conn(existing)
                .and_then(|c| c.route.as_ref())
                .and_then(|r| r.solicit);
            if let Some(route) = self.conn_mut(existing).and_then(|c| c.route.as_mut()) {
                route.solicit = None;
            }
            if let (Some(index), Some(cluster)) = (old_solicit, self.cluster.as_mut()) {
                cluster.solicits[index].state = SolicitState::Linked;
            }
            self.debug(existing, || format!("Detected duplicate remote route {remote:?}"));
            self.close(existing, CloseReason::DuplicateRoute, true);
        }
        self.register_route(id, info, solicit.is_none());
    }

    fn register_route(&mut self, id: ConnId, info: Info, accepted: bool) {
        let remote = info.server_id.clone();
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.routes.insert(remote.clone(), id);
            for solicit in &mut cluster.solicits {
                if solicit.remote_id.as_deref() == Some(&remote) {
                    solicit.attempts = 0;
                }
            }
        }
        if let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) {
            route.registered = true;
        }
        self.debug(id, || format!("Registering remote route {remote:?}"));
        self.send_all_interest(id);
        self.debug(id, || "Sent local subscriptions to route".to_string());
        // Measure the round trip at once.
        self.send_route_ping(id);
        if accepted {
            // Gossip: the other routes learn about the newcomer and dial it.
            let line = info_line(&info);
            let others: Vec<ConnId> = self
                .cluster
                .as_ref()
                .map(|c| c.routes.values().copied().filter(|r| *r != id).collect())
                .unwrap_or_default();
            for other in others {
                self.send(other, &line);
            }
        }
        if !info.connect_urls.is_empty() {
            self.send_client_urls();
        }
    }

    fn send_route_ping(&mut self, id: ConnId) {
        let now = self.now;
        if let Some(conn) = self.conn_mut(id) {
            conn.pings_out += 1;
            conn.rtt_started = Some(now);
        }
        self.send(id, encode::PING);
    }

    /// Gossip about a server we may not know: dial it unless we already have a route to it.
    fn learn_route(&mut self, info: Info) {
        if info.server_id == self.server_id || info.ip.is_empty() {
            return;
        }
        let Ok(mut url) = RouteUrl::parse(info.ip.trim_end_matches('/')) else {
            return;
        };
        let now = self.now;
        let Some(cluster) = self.cluster.as_mut() else { return };
        if url.user.is_none() && info.auth_required {
            // The mesh shares one set of route credentials: dial with ours.
            url.user = cluster.settings.user.clone();
            url.password = cluster.settings.password.clone();
        }
        if cluster.routes.contains_key(&info.server_id) {
            return;
        }
        let known = cluster.solicits.iter_mut().find(|s| {
            s.remote_id.as_deref() == Some(&info.server_id) || (s.url.host == url.host && s.url.port == url.port)
        });
        match known {
            Some(solicit) => {
                if matches!(solicit.state, SolicitState::Done) && !solicit.configured {
                    solicit.state = SolicitState::Waiting(now);
                    solicit.attempts = 0;
                } else {
                    return;
                }
            }
            None => cluster.solicits.push(Solicit {
                url,
                configured: false,
                state: SolicitState::Waiting(now),
                attempts: 0,
                remote_id: Some(info.server_id.clone()),
            }),
        }
        self.arm_cluster_timer(now);
    }

    /// A route closed: forget its interest, and dial again if it was ours to dial.
    pub(crate) fn route_closed(&mut self, conn: &mut crate::conn::Conn, reason: CloseReason) {
        let label = conn.label();
        let Some(route) = conn.route.take() else { return };
        for ((account, _), (key, _)) in &route.subs {
            self.accounts[account.0 as usize].unsubscribe(*key);
        }
        let remote = route.remote_id().map(str::to_string);
        let mut urls_changed = false;
        self.log(Level::Info, || format!("{label} - Router connection closed: {reason}"));
        if route.registered {
            if let (Some(cluster), Some(remote)) = (self.cluster.as_mut(), &remote) {
                if cluster.routes.get(remote) == Some(&conn.id) {
                    cluster.routes.remove(remote);
                }
            }
            urls_changed = route.info.as_ref().is_some_and(|i| !i.connect_urls.is_empty());
        }
        if self.shutting_down {
            return;
        }
        let mut redial = Vec::new();
        if let Some(cluster) = self.cluster.as_mut() {
            for (index, solicit) in cluster.solicits.iter_mut().enumerate() {
                let ours = route.solicit == Some(index) && solicit.state == SolicitState::Connected(conn.id);
                let linked = route.registered
                    && solicit.state == SolicitState::Linked
                    && remote.is_some()
                    && solicit.remote_id == remote;
                if !(ours || linked) {
                    continue;
                }
                if ours && !route.registered {
                    solicit.attempts += 1;
                    // The peer kept another connection to the same server: nothing to redial.
                    if solicit
                        .remote_id
                        .as_ref()
                        .is_some_and(|r| cluster.routes.contains_key(r))
                    {
                        solicit.state = SolicitState::Linked;
                        continue;
                    }
                }
                let retries = cluster.settings.connect_retries;
                let keep = solicit.configured || solicit.attempts < retries.max(LEARNED_ROUTE_ATTEMPTS);
                if keep && reason != CloseReason::RouteRemoved && reason != CloseReason::ClusterNameConflict {
                    redial.push(index);
                } else {
                    solicit.state = SolicitState::Done;
                }
            }
        }
        for index in redial {
            self.schedule_redial(index);
        }
        // A route the peer dialed is dialed back from here too, so the mesh heals from
        // whichever side can reach the other first (a duplicate is settled as usual).
        if route.registered && route.solicit.is_none() && reason != CloseReason::DuplicateRoute {
            if let Some(info) = route.info {
                self.learn_route(*info);
            }
        }
        if urls_changed {
            self.send_client_urls();
        }
    }

    /// `RS+`: the peer has interest.
    pub(crate) fn on_route_sub(&mut self, id: ConnId, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
        if self.config.trace {
            let queue = queue
                .map(|(q, w)| format!(" {} {w}", String::from_utf8_lossy(q)))
                .unwrap_or_default();
            self.trace(id, || {
                format!(
                    "<<- [RS+ {} {}{queue}]",
                    String::from_utf8_lossy(account),
                    String::from_utf8_lossy(subject)
                )
            });
        }
        let Some(account) = self.account_named(account) else {
            return;
        };
        let key: (AccountId, InterestKey) = (account, (subject.into(), queue.map(|(q, _)| q.into())));
        let weight = queue.map_or(1, |(_, w)| w);
        let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if let Some(entry) = route.subs.get_mut(&key) {
            entry.1 = weight;
            return;
        }
        let sub = crate::account::Subscription {
            conn: id,
            sid: Box::default(),
            subject: subject.into(),
            queue: queue.map(|(q, _)| q.into()),
            max: None,
            delivered: 0,
            forward: None,
            remote: true,
        };
        match self.accounts[account.0 as usize].subscribe(sub) {
            Ok(sub_key) => {
                if let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) {
                    route.subs.insert(key, (sub_key, weight));
                }
            }
            Err(_) => self.debug(id, || "Invalid subject in RS+, ignored".to_string()),
        }
    }

    /// `RS-`: the peer's interest went away.
    pub(crate) fn on_route_unsub(&mut self, id: ConnId, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        self.trace(id, || {
            let queue = queue
                .map(|q| format!(" {}", String::from_utf8_lossy(q)))
                .unwrap_or_default();
            format!(
                "<<- [RS- {} {}{queue}]",
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(subject)
            )
        });
        let Some(account) = self.account_named(account) else {
            return;
        };
        let key: (AccountId, InterestKey) = (account, (subject.into(), queue.map(Into::into)));
        let Some(route) = self.conn_mut(id).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if let Some((sub_key, _)) = route.subs.remove(&key) {
            self.accounts[account.0 as usize].unsubscribe(sub_key);
        }
    }

    /// One operation from a route.
    pub(crate) fn process_route_op(&mut self, id: ConnId, op: crate::proto::ClientOp<'_>) {
        use crate::proto::ClientOp;
        let authenticated = self.conn(id).is_some_and(|c| c.authenticated);
        if !authenticated && !matches!(op, ClientOp::Connect(_)) {
            self.auth_violation(id, "authentication error".to_string());
            return;
        }
        match op {
            ClientOp::Connect(json) => self.on_route_connect(id, json),
            ClientOp::Info(json) => self.on_route_info(id, json),
            ClientOp::RouteSub {
                account,
                subject,
                queue,
            } => self.on_route_sub(id, account, subject, queue),
            ClientOp::RouteUnsub {
                account,
                subject,
                queue,
            } => self.on_route_unsub(id, account, subject, queue),
            ClientOp::Routed(routed) => self.on_routed(id, routed),
            ClientOp::Ping => {
                self.trace(id, || "<<- [PING]".to_string());
                self.send(id, encode::PONG);
            }
            ClientOp::Pong => {
                self.trace(id, || "<<- [PONG]".to_string());
                let now = self.now;
                if let Some(conn) = self.conn_mut(id) {
                    conn.pings_out = 0;
                    if let Some(started) = conn.rtt_started {
                        conn.rtt = Some(now.saturating_duration_since(started));
                    }
                }
            }
            ClientOp::Ok => {}
            ClientOp::Err(text) => {
                let text = String::from_utf8_lossy(text).into_owned();
                self.log_conn(Level::Error, id, format!("Route Error {text}"));
                self.close(id, CloseReason::ParseError, true);
            }
            // The parser reads client operations on client connections only.
            ClientOp::Pub(_) | ClientOp::Sub { .. } | ClientOp::Unsub { .. } => {}
        }
    }

    /// An account by name.
    pub(crate) fn account_named(&self, name: &[u8]) -> Option<AccountId> {
        self.accounts
            .iter()
            .position(|a| a.name.as_bytes() == name)
            .map(|i| AccountId(i as u32))
    }

    /// Sends every route the interest changes since the last call (after every input).
    pub(crate) fn propagate_interest(&mut self) {
        let Some(cluster) = self.cluster.as_ref() else { return };
        if !self
            .accounts
            .iter()
            .any(|a| a.interest.as_ref().is_some_and(|i| i.has_changes()))
        {
            return;
        }
        let routes: Vec<ConnId> = cluster.routes.values().copied().collect();
        let mut lines = bytes::BytesMut::new();
        for account in &mut self.accounts {
            let Some(interest) = account.interest.as_mut() else {
                continue;
            };
            for key in interest.take_changes() {
                let count = interest.count(&key);
                put_interest(&mut lines, &account.name, &key, count);
            }
        }
        if routes.is_empty() || lines.is_empty() {
            return;
        }
        for id in routes {
            self.send(id, &lines);
        }
    }

    /// Sends a newly registered route all of our interest.
    fn send_all_interest(&mut self, id: ConnId) {
        let mut lines = bytes::BytesMut::new();
        for account in &self.accounts {
            let Some(interest) = account.interest.as_ref() else {
                continue;
            };
            for (key, count) in interest.entries() {
                put_interest(&mut lines, &account.name, key, count);
            }
        }
        if !lines.is_empty() {
            self.send(id, &lines);
        }
    }
}

/// `RS+ <account> <subject> [<queue> <weight>]` when `count` > 0, else `RS- <account> <subject>
/// [<queue>]`.
fn put_interest(out: &mut bytes::BytesMut, account: &str, key: &InterestKey, count: u32) {
    use bytes::BufMut;
    out.put_slice(if count > 0 { b"RS+ " } else { b"RS- " });
    out.put_slice(account.as_bytes());
    out.put_u8(b' ');
    out.put_slice(&key.0);
    if let Some(queue) = &key.1 {
        out.put_u8(b' ');
        out.put_slice(queue);
        if count > 0 {
            out.put_u8(b' ');
            encode::put_decimal(out, u64::from(count));
        }
    }
    out.put_slice(b"\r\n");
}

fn info_line(info: &Info) -> Vec<u8> {
    let json = serde_json::to_vec(info).unwrap_or_default();
    let mut line = bytes::BytesMut::with_capacity(json.len() + 8);
    encode::put_info(&mut line, &json);
    line.to_vec()
}
