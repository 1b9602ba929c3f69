//! `/varz`: the server's configuration and counters, as nats-server's `Varz`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::{rfc3339, serialize_go_float, uptime};
use super::Report;
use crate::config::COMPATIBLE_VERSION;

/// An empty section (cluster, gateway, ...): nats-server always writes these objects.
#[derive(Debug, Serialize, Default)]
pub struct Empty {}

/// nats-server's `Varz`, in its field order. The fields are nats-server's (docs/monitoring.md).
#[allow(missing_docs)]
#[derive(Debug, Serialize)]
pub struct Varz {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: u32,
    pub go: String,
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_verify: bool,
    pub max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_subscriptions: usize,
    pub ping_interval: u64,
    pub ping_max: u32,
    pub http_host: String,
    pub http_port: u16,
    pub http_base_path: String,
    pub https_port: u16,
    #[serde(serialize_with = "serialize_go_float")]
    pub auth_timeout: f64,
    pub max_control_line: usize,
    pub max_payload: usize,
    pub max_pending: usize,
    pub cluster: super::routez::ClusterVarz,
    pub gateway: Empty,
    pub leaf: Empty,
    pub mqtt: Empty,
    pub websocket: Empty,
    pub jetstream: super::jsz::JetStreamVarz,
    #[serde(serialize_with = "serialize_go_float")]
    pub tls_timeout: f64,
    pub write_deadline: u64,
    pub start: String,
    pub now: String,
    pub uptime: String,
    pub mem: u64,
    pub cores: u32,
    pub gomaxprocs: u32,
    #[serde(serialize_with = "serialize_go_float")]
    pub cpu: f64,
    pub connections: usize,
    pub total_connections: u64,
    pub routes: usize,
    pub remotes: usize,
    pub leafnodes: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    pub stale_connections: u64,
    pub subscriptions: u64,
    pub http_req_stats: BTreeMap<String, u64>,
    pub config_load_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report<'_> {
    /// `/varz`.
    pub fn varz(&self) -> Varz {
        let config = &self.config;
        let start = config.start_unix_nanos;
        let tls = config.tls.as_ref();
        let auth_timeout = match (config.authorization.timeout, tls) {
            (Some(t), _) => t.as_secs_f64(),
            (None, Some(tls)) => tls.timeout.as_secs_f64() + 1.0,
            (None, None) => crate::auth::DEFAULT_AUTH_TIMEOUT.as_secs_f64(),
        };
        Varz {
            server_id: self.server_id.clone(),
            server_name: self.server_name().to_string(),
            version: COMPATIBLE_VERSION.to_string(),
            proto: 1,
            go: config.toolchain.clone(),
            host: config.host.clone(),
            port: config.port,
            auth_required: self.auth.advertises_auth(),
            tls_required: tls.is_some(),
            tls_verify: tls.is_some_and(|t| t.verifies_clients()),
            max_connections: config.max_connections,
            max_subscriptions: config.max_subscriptions,
            ping_interval: config.ping_interval.as_nanos() as u64,
            ping_max: config.ping_max,
            http_host: config.http_host.clone().unwrap_or_else(|| config.host.clone()),
            http_port: config.http_port.unwrap_or(0),
            http_base_path: config.http_base_path.clone(),
            https_port: 0,
            auth_timeout,
            max_control_line: config.max_control_line,
            max_payload: config.max_payload,
            max_pending: config.max_pending,
            cluster: self.cluster_varz(),
            gateway: Empty::default(),
            leaf: Empty::default(),
            mqtt: Empty::default(),
            websocket: Empty::default(),
            jetstream: self.jetstream_varz(),
            tls_timeout: tls
                .map(|t| t.timeout)
                .unwrap_or(crate::config::tls::DEFAULT_TLS_TIMEOUT)
                .as_secs_f64(),
            write_deadline: config.write_deadline.as_nanos() as u64,
            start: rfc3339(start),
            now: rfc3339(start + self.now.as_nanos()),
            uptime: uptime(self.now.saturating_duration_since(crate::time::Instant::ZERO)),
            mem: self.monitor.process.rss_bytes,
            cores: self.monitor.process.cores,
            gomaxprocs: self.monitor.process.cores,
            cpu: self.monitor.process.cpu_percent,
            connections: self.connection_count(),
            total_connections: self.stats.total_connections,
            routes: self.route_count(),
            remotes: 0,
            leafnodes: 0,
            in_msgs: self.stats.inbound.msgs,
            out_msgs: self.stats.outbound.msgs,
            in_bytes: self.stats.inbound.bytes,
            out_bytes: self.stats.outbound.bytes,
            slow_consumers: self.stats.slow_consumers,
            stale_connections: self.stats.stale_connections,
            subscriptions: self.accounts.iter().map(|a| a.visible_subs() as u64).sum(),
            http_req_stats: self.monitor.http_req_stats.clone(),
            config_load_time: rfc3339(start),
            system_account: self
                .system_account
                .map(|id| self.accounts[id.0 as usize].name.clone())
                .unwrap_or_default(),
        }
    }
}
