//! A route's handshake: what we send when it connects (CONNECT if we dialed, INFO), the
//! peer's CONNECT (credentials, cluster name) and INFO (registration, duplicates, gossip about
//! other servers), and the client URLs clients learn from the cluster.

use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster::{join, unspecified, RouteState, Solicit, SolicitState, DEFAULT_ROUTE_AUTH_TIMEOUT};

use crate::config::cluster::{RouteUrl, ROUTE_MAX_PING_INTERVAL};
use crate::conn::{CloseReason, ConnId};
use crate::proto::{encode, Info, RouteConnect};
use crate::server::{ConnTimer, Level, Server};
use crate::time::Instant;

impl Server {
    pub(super) fn new_route_conn(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        local: SocketAddr,
        solicit: Option<usize>,
    ) -> ConnId {
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
            self.conn_timers
                .push(std::cmp::Reverse((at, ConnTimer::TlsTimeout, id)));
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
        self.conn_timers.push(std::cmp::Reverse((ping_at, ConnTimer::Ping, id)));
        if auth_required {
            self.conn_timers
                .push(std::cmp::Reverse((now + auth_timeout, ConnTimer::AuthTimeout, id)));
        }
        self.log_conn(Level::Info, id, "Route connection created".to_string());
        if solicit.is_some() {
            self.debug(id, || "Route connect msg sent".to_string());
            let connect = self.route_connect(solicit);
            self.trace(id, || {
                format!("->> [CONNECT {}]", crate::server::client::redact_secrets(&connect))
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
    pub(super) fn route_connect(&self, solicit: Option<usize>) -> String {
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
    pub(super) fn own_route_url(&self) -> String {
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
    pub(super) fn route_info_line(&self) -> Vec<u8> {
        let Some(cluster) = self.cluster.as_ref() else {
            return Vec::new();
        };
        let info = Info {
            host: cluster.settings.host.clone(),
            port: cluster.settings.port,
            auth_required: cluster.settings.user.is_some(),
            tls_required: cluster.settings.tls.is_some(),
            tls_verify: cluster.settings.tls.as_ref().is_some_and(|t| t.verifies_clients()),
            ip: self.own_route_url(),
            cluster: cluster.name.clone(),
            cluster_dynamic: cluster.dynamic,
            ldm: self.lame_duck_at.is_some(),
            connect_urls: if cluster.settings.no_advertise {
                Vec::new()
            } else {
                self.own_client_urls()
            },
            ..self.base_info()
        };
        encode::info_line(&info)
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
            if info.ldm {
                continue;
            }
            for url in &info.connect_urls {
                if !urls.contains(url) {
                    urls.push(url.clone());
                }
            }
        }
        urls
    }

    /// Lame duck mode: routes hear INFO with `ldm: true`, so their servers stop offering this
    /// server's URLs to clients.
    pub(crate) fn announce_lame_duck_to_routes(&mut self) {
        let routes: Vec<ConnId> = self
            .cluster
            .as_ref()
            .map(|c| c.routes.values().copied().collect())
            .unwrap_or_default();
        if routes.is_empty() {
            return;
        }
        let info = self.route_info_line();
        for id in routes {
            self.send(id, &info);
        }
    }

    /// Tells clients that understand it (protocol 1) the cluster's client URLs changed.
    pub(super) fn send_client_urls(&mut self) {
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
        self.trace(id, || {
            format!("<<- [CONNECT {}]", crate::server::client::redact_secrets(&text))
        });
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
            use crate::auth::credentials::{constant_time_eq, is_bcrypt, PasswordCheck};
            let password = cluster.settings.password.clone().unwrap_or_default();
            let user_ok = connect
                .user
                .as_deref()
                .is_some_and(|u| constant_time_eq(u.as_bytes(), user.as_bytes()));
            if user_ok && is_bcrypt(&password) {
                // bcrypt is slow by design: the runtime checks it off the core's thread, and
                // the route waits (its later bytes are held, as a client's are).
                let check = PasswordCheck {
                    hash: password.clone(),
                    password: connect.pass.clone().unwrap_or_default(),
                };
                if let Some(conn) = self.conn_mut(id) {
                    conn.pending_auth = Some(Box::new(crate::conn::PendingAuth {
                        then: crate::auth::Authenticated {
                            identity: crate::auth::Identity::Anonymous,
                            account: crate::ids::AccountId(0),
                            permissions: None,
                        },
                        refused: crate::auth::Refused {
                            log: "authentication error".to_string(),
                        },
                        hash: password,
                    }));
                    if let Some(route) = conn.route.as_mut() {
                        route.awaiting_name = Some((connect.cluster, connect.cluster_dynamic));
                    }
                }
                self.outputs.push_back(crate::Output::CheckPassword { conn: id, check });
                return;
            }
            let ok = user_ok
                && constant_time_eq(
                    connect.pass.as_deref().unwrap_or_default().as_bytes(),
                    password.as_bytes(),
                );
            if !ok {
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

    /// The runtime checked a route's bcrypt password: refuse the route, or carry on with its
    /// CONNECT (the cluster name) and the bytes that arrived meanwhile.
    pub(crate) fn on_route_password_checked(&mut self, id: ConnId, ok: bool) {
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.pending_auth.take().is_none() {
            return;
        }
        let held = std::mem::take(&mut conn.held);
        if !ok {
            self.auth_violation(id, "authentication error".to_string());
            return;
        }
        conn.authenticated = true;
        conn.auth_deadline = None;
        let name = conn.route.as_mut().and_then(|r| r.awaiting_name.take());
        self.outputs.push_back(crate::Output::ResumeReading(id));
        if let Some((cluster, dynamic)) = name {
            if !self.check_cluster_name(id, &cluster, dynamic) {
                return;
            }
        }
        for data in held {
            self.on_received(id, data);
        }
    }

    /// Settles a cluster name the peer announced. A made-up name yields to a configured one (or
    /// a larger made-up one); two configured names that differ refuse the route.
    pub(super) fn check_cluster_name(&mut self, id: ConnId, theirs: &str, theirs_dynamic: bool) -> bool {
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
                // The peer's client URLs changed, or it entered lame duck mode (its clients
                // must not be sent to it any more).
                let changed = route
                    .info
                    .as_ref()
                    .is_some_and(|old| old.connect_urls != info.connect_urls || old.ldm != info.ldm);
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
    pub(super) fn introduce_route(&mut self, id: ConnId, mut info: Info) {
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
            // Two connections to the same server. Dialed from opposite ends (both servers
            // dialed at once): keep the one the smaller id dialed, as the peer will. Dialed
            // from the same end (two URLs for one server): keep the one already registered.
            let we_dialed_new = solicit.is_some();
            let we_dialed_existing = self
                .conn(existing)
                .and_then(|c| c.route.as_ref())
                .is_some_and(|r| r.solicit.is_some());
            let keep_ours = self.server_id < remote;
            if we_dialed_new == we_dialed_existing || we_dialed_new != keep_ours {
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
        self.register_route(id, info);
    }

    pub(super) fn register_route(&mut self, id: ConnId, info: Info) {
        let remote = info.server_id.clone();
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.routes.insert(remote.clone(), id);
            let through = self
                .conns
                .get(id.index as usize)
                .and_then(|c| c.route.as_ref())
                .and_then(|r| r.solicit);
            for (index, solicit) in cluster.solicits.iter_mut().enumerate() {
                if solicit.remote_id.as_deref() != Some(&remote) {
                    continue;
                }
                solicit.attempts = 0;
                // Another URL learned for the same server: this route stands for it.
                if Some(index) != through && !solicit.configured && solicit.state != SolicitState::Linked {
                    if let SolicitState::Waiting(_) | SolicitState::Done = solicit.state {
                        solicit.state = SolicitState::Linked;
                    }
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
        // Gossip: the other routes learn about the newcomer and dial it. nats-server forwards
        // what it accepted (and what it dials by gossip); a server we dialed back after it
        // restarted is news to the others as well, so every registration is forwarded (a
        // server that knows the newcomer already ignores it).
        let line = encode::info_line(&info);
        let others: Vec<ConnId> = self
            .cluster
            .as_ref()
            .map(|c| c.routes.values().copied().filter(|r| *r != id).collect())
            .unwrap_or_default();
        for other in others {
            self.send(other, &line);
        }
        if !info.connect_urls.is_empty() {
            self.send_client_urls();
        }
    }

    pub(super) fn send_route_ping(&mut self, id: ConnId) {
        let now = self.now;
        if let Some(conn) = self.conn_mut(id) {
            conn.pings_out += 1;
            conn.rtt_started = Some(now);
        }
        self.send(id, encode::PING);
    }

    /// Gossip about a server we may not know: dial it unless we already have a route to it.
    pub(super) fn learn_route(&mut self, info: Info) {
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
}
