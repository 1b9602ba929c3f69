//! `/routez` and the `cluster` section of `/varz`, as nats-server's `Routez` and `ClusterOptsVarz`.
#![allow(missing_docs)] // The fields are nats-server's (docs/monitoring.md).

use serde::Serialize;

use super::connz::SubDetail;
use super::format::{rfc3339, rtt, serialize_go_float, uptime};
use super::Report;

/// nats-server's `Routez`.
#[derive(Debug, Serialize)]
pub struct Routez {
    pub server_id: String,
    pub server_name: String,
    pub now: String,
    pub num_routes: usize,
    pub routes: Vec<RouteInfo>,
}

/// One route, as nats-server's `RouteInfo`.
#[derive(Debug, Serialize)]
pub struct RouteInfo {
    pub rid: u64,
    pub remote_id: String,
    pub remote_name: String,
    pub did_solicit: bool,
    pub is_configured: bool,
    pub ip: String,
    pub port: u16,
    pub start: String,
    pub last_activity: String,
    pub rtt: String,
    pub uptime: String,
    pub idle: String,
    pub pending_size: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list_detail: Option<Vec<SubDetail>>,
}

/// The `cluster` section of `/varz`; empty when not clustered.
#[derive(Debug, Serialize, Default)]
pub struct ClusterVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub cluster_port: u16,
    #[serde(skip_serializing_if = "is_zero_f64", serialize_with = "serialize_go_float")]
    pub auth_timeout: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "is_zero_f64", serialize_with = "serialize_go_float")]
    pub tls_timeout: f64,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

/// Whether `/routez` lists subscriptions: `subs=1`, or in detail with `subs=detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSubs {
    /// Counts only.
    None,
    /// Subjects.
    List,
    /// Subjects with queue, sid and counts.
    Detail,
}

impl Report<'_> {
    /// `/routez`.
    pub fn routez(&self, subs: RouteSubs) -> Routez {
        let now = self.now;
        let wall = |i: crate::time::Instant| self.config.start_unix_nanos + i.as_nanos();
        let mut routes = Vec::new();
        let registered = self.cluster.iter().flat_map(|c| c.routes.values());
        for conn in registered.filter_map(|id| self.conn(*id)) {
            let Some(route) = conn.route.as_ref() else { continue };
            let info = route.info.as_deref();
            let solicit = route
                .solicit
                .and_then(|i| self.cluster.as_ref().and_then(|c| c.solicits.get(i)));
            let mut list = Vec::new();
            let mut detail = Vec::new();
            for ((account, _), (key, _)) in &route.subs {
                let account = &self.accounts[account.0 as usize];
                let Some(sub) = account.subs.get(key.0 as usize) else {
                    continue;
                };
                list.push(String::from_utf8_lossy(&sub.subject).into_owned());
                if subs == RouteSubs::Detail {
                    let mut d = SubDetail::of(sub, conn.cid, None);
                    d.sid = match &sub.queue {
                        Some(q) => format!(
                            "{} {} {}",
                            account.name,
                            String::from_utf8_lossy(&sub.subject),
                            String::from_utf8_lossy(q)
                        ),
                        None => format!("{} {}", account.name, String::from_utf8_lossy(&sub.subject)),
                    };
                    detail.push(d);
                }
            }
            routes.push(RouteInfo {
                rid: conn.cid,
                remote_id: info.map(|i| i.server_id.clone()).unwrap_or_default(),
                remote_name: info.map(|i| i.server_name.clone()).unwrap_or_default(),
                did_solicit: solicit.is_some(),
                is_configured: solicit.is_some_and(|s| s.configured),
                ip: conn.peer.ip().to_string(),
                port: conn.peer.port(),
                start: rfc3339(wall(conn.start)),
                last_activity: rfc3339(wall(conn.last_activity)),
                rtt: conn.rtt.map(rtt).unwrap_or_else(|| "0s".to_string()),
                uptime: uptime(now.saturating_duration_since(conn.start)),
                idle: uptime(now.saturating_duration_since(conn.last_activity)),
                pending_size: conn.out.pending(),
                in_msgs: conn.inbound.msgs,
                out_msgs: conn.outbound.msgs,
                in_bytes: conn.inbound.bytes,
                out_bytes: conn.outbound.bytes,
                subscriptions: route.subs.len(),
                subscriptions_list: (subs != RouteSubs::None).then_some(list),
                subscriptions_list_detail: (subs == RouteSubs::Detail).then_some(detail),
            });
        }
        Routez {
            server_id: self.server_id.clone(),
            server_name: self.server_name().to_string(),
            now: rfc3339(wall(now)),
            num_routes: routes.len(),
            routes,
        }
    }

    /// The `cluster` section of `/varz`.
    pub(crate) fn cluster_varz(&self) -> ClusterVarz {
        let Some(cluster) = self.cluster.as_ref() else {
            return ClusterVarz::default();
        };
        let settings = &cluster.settings;
        ClusterVarz {
            name: cluster.name.clone(),
            addr: settings.host.clone(),
            cluster_port: settings.port,
            auth_timeout: settings
                .auth_timeout
                .unwrap_or(std::time::Duration::from_secs(2))
                .as_secs_f64(),
            urls: settings.routes.iter().map(|u| u.address()).collect(),
            tls_timeout: 2.0,
        }
    }
}
