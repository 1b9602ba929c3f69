//! Dialing routes: the URLs this server solicits (configured, or learned by gossip), the
//! cluster timer that dials them, backoff after failures, and what happens when a route closes
//! (its interest forgotten; redialed if it was ours to dial, or dialed back if the peer had
//! dialed us).

use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster::{DialId, SolicitState, LEARNED_ROUTE_ATTEMPTS};

use crate::conn::{CloseReason, ConnId};
use crate::server::{Level, Output, Server};
use crate::time::Instant;

impl Server {
    /// Registers a route connection the runtime accepted on the cluster port; `local` is the
    /// socket's own address. Like every input, it must be followed by draining
    /// [`Server::poll_output`].
    pub(crate) fn accept_route(&mut self, now: Instant, peer: SocketAddr, local: SocketAddr) -> ConnId {
        self.begin_input(now);
        let id = self.new_route_conn(now, peer, local, None);
        if self.shutting_down || self.lame_duck_at.is_some() {
            self.close(id, CloseReason::ServerShutdown, true);
        }
        id
    }

    /// Registers the connection a [`Output::Dial`] made; `None` if the core no longer wants it
    /// (the runtime then drops the socket).
    pub(crate) fn route_dialed(
        &mut self,
        now: Instant,
        dial: DialId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Option<ConnId> {
        self.begin_input(now);
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
    pub(super) fn schedule_redial(&mut self, index: usize) {
        let now = self.now;
        let jitter_ms = self.rng.below(250) as u64;
        let Some(cluster) = self.cluster.as_mut() else { return };
        let delay = cluster.backoff(cluster.solicits[index].attempts) + Duration::from_millis(jitter_ms);
        let at = now + delay;
        cluster.solicits[index].state = SolicitState::Waiting(at);
        self.arm_cluster_timer(at);
    }

    pub(super) fn arm_cluster_timer(&mut self, at: Instant) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        if cluster.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        cluster.timer_at = Some(at);
    }

    /// The cluster's timer (`Cluster::timer_at`) is due: dial every URL whose time has come.
    pub(crate) fn cluster_timer(&mut self) {
        let Some(cluster) = self.cluster.as_mut() else { return };
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
                // A duplicate's close leaves the server reached through the connection kept.
                let linked = route.registered
                    && reason != CloseReason::DuplicateRoute
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
}
