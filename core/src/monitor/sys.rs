//! The monitoring requests nats-server answers in the system account (`nats server list`,
//! `nats server report ...` use them): `$SYS.REQ.SERVER.PING` and
//! `$SYS.REQ.SERVER.PING.<KIND>` (every server answers) and `$SYS.REQ.SERVER.<id>.<KIND>` (this
//! one does), with the same data as the HTTP endpoints inside nats-server's envelope.
#![allow(missing_docs)] // The fields are nats-server's (docs/monitoring.md).

use serde::Serialize;
use serde_json::Value;

use super::connz::ConnzOptions;
use super::endpoints::{SubszOptions, Traffic};
use super::format::{compact_json, rfc3339};
use super::Report;
use crate::server::internal::SERVER_REQUEST_KINDS as KINDS;

/// nats-server's `ServerInfo`, which heads every reply.
#[derive(Debug, Serialize)]
pub struct ServerInfo {
    pub name: String,
    pub host: String,
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    pub ver: String,
    pub seq: u64,
    pub jetstream: bool,
    pub time: String,
}

#[derive(Debug, Serialize)]
struct ApiError {
    code: u16,
    description: String,
}

#[derive(Debug, Serialize)]
struct Envelope<T: Serialize> {
    server: ServerInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ApiError>,
}

/// A handler error still carries `"data":null`, as nats-server's does.
#[derive(Debug, Serialize)]
struct FailedEnvelope {
    server: ServerInfo,
    data: Option<()>,
    error: ApiError,
}

#[derive(Debug, Serialize)]
pub struct ServerStats {
    pub start: String,
    pub mem: u64,
    pub cores: u32,
    #[serde(serialize_with = "super::format::serialize_go_float")]
    pub cpu: f64,
    pub connections: usize,
    pub total_connections: u64,
    pub active_accounts: usize,
    pub subscriptions: u64,
    pub sent: Traffic,
    pub received: Traffic,
    pub slow_consumers: u64,
    pub active_servers: u32,
}

#[derive(Debug, Serialize)]
struct StatsMsg {
    server: ServerInfo,
    statsz: ServerStats,
}

impl Report<'_> {
    fn server_info(&self) -> ServerInfo {
        let seq = self.monitor.sys_seq.get() + 1;
        self.monitor.sys_seq.set(seq);
        ServerInfo {
            name: self.server_name().to_string(),
            host: self.config.host.clone(),
            id: self.server_id.clone(),
            domain: self.domain().to_string(),
            ver: crate::config::COMPATIBLE_VERSION.to_string(),
            seq,
            jetstream: self.jetstream.is_some(),
            time: rfc3339(self.config.start_unix_nanos + self.now.as_nanos()),
        }
    }

    /// The JetStream domain, if any.
    fn domain(&self) -> &str {
        self.jetstream
            .and_then(|js| js.settings().domain.as_deref())
            .unwrap_or_default()
    }

    fn server_stats(&self) -> ServerStats {
        ServerStats {
            start: rfc3339(self.config.start_unix_nanos),
            mem: self.monitor.process.rss_bytes,
            cores: self.monitor.process.cores,
            cpu: self.monitor.process.cpu_percent,
            connections: self.connection_count(),
            total_connections: self.stats.total_connections,
            active_accounts: self
                .accounts
                .iter()
                .enumerate()
                .filter(|(i, _)| self.clients().any(|c| c.account.0 as usize == *i))
                .count(),
            subscriptions: self.accounts.iter().map(|a| a.visible_subs() as u64).sum(),
            sent: Traffic {
                msgs: self.stats.outbound.msgs,
                bytes: self.stats.outbound.bytes,
            },
            received: Traffic {
                msgs: self.stats.inbound.msgs,
                bytes: self.stats.inbound.bytes,
            },
            slow_consumers: self.stats.slow_consumers,
            active_servers: 1,
        }
    }

    /// The reply to a request on `subject` with `body`, if this server answers it.
    pub(crate) fn sys_request(&self, subject: &[u8], body: &[u8]) -> Option<Vec<u8>> {
        let subject = std::str::from_utf8(subject).ok()?;
        let rest = subject.strip_prefix("$SYS.REQ.SERVER.")?;
        let kind = match rest {
            "PING" => "STATSZ_LEGACY",
            _ => {
                let (target, kind) = rest.split_once('.')?;
                if target != "PING" && target != self.server_id {
                    return None;
                }
                *KINDS.iter().find(|k| **k == kind)?
            }
        };
        let options: serde_json::Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => map,
                Ok(_) | Err(_) => {
                    let description = match serde_json::from_slice::<Value>(body) {
                        Err(e) => e.to_string(),
                        Ok(_) => "json: cannot unmarshal into Go value of type options".to_string(),
                    };
                    let envelope = Envelope::<()> {
                        server: self.server_info(),
                        data: None,
                        error: Some(ApiError { code: 400, description }),
                    };
                    return Some(compact_json(&envelope));
                }
            }
        };
        if !self.filter_matches(&options) {
            return None;
        }
        let text = |key: &str| options.get(key).and_then(Value::as_str).map(str::to_string);
        let flag = |key: &str| options.get(key).and_then(Value::as_bool).unwrap_or(false);
        let int = |key: &str| options.get(key).and_then(Value::as_i64).unwrap_or(0);
        let data: Result<Value, String> = match kind {
            "STATSZ_LEGACY" | "STATSZ" => {
                let message = StatsMsg {
                    server: self.server_info(),
                    statsz: self.server_stats(),
                };
                return Some(compact_json(&message));
            }
            "VARZ" => to_value(&self.varz()),
            "CONNZ" => {
                let opts = ConnzOptions {
                    sort: text("sort").unwrap_or_default(),
                    auth: flag("auth"),
                    subs: flag("subscriptions") || flag("subscriptions_detail"),
                    detail: flag("subscriptions_detail"),
                    offset: int("offset"),
                    limit: int("limit"),
                    cid: options.get("cid").and_then(Value::as_u64).filter(|c| *c > 0),
                    state: int("state").clamp(0, 2) as u8,
                    user: text("user").filter(|u| !u.is_empty()),
                    account: text("acc").filter(|a| !a.is_empty()),
                };
                self.connz(&opts).map_err(|e| e.to_string()).and_then(|c| to_value(&c))
            }
            "SUBSZ" => {
                let opts = SubszOptions {
                    subs: flag("subscriptions"),
                    offset: int("offset"),
                    limit: int("limit"),
                    test: text("test").filter(|t| !t.is_empty()),
                    account: text("account").filter(|a| !a.is_empty()),
                };
                to_value(&self.subsz(&opts))
            }
            "ROUTEZ" => to_value(&self.routez(super::routez::RouteSubs::None)),
            "GATEWAYZ" => to_value(&self.gatewayz()),
            "LEAFZ" => to_value(&self.leafz()),
            "ACCOUNTZ" => {
                let account = text("account").filter(|a| !a.is_empty());
                self.accountz(account.as_deref())
                    .map_err(|e| e.to_string())
                    .and_then(|a| to_value(&a))
            }
            "JSZ" => {
                let opts = super::jsz::JszOptions {
                    account: text("account").filter(|a| !a.is_empty()),
                    accounts: flag("accounts"),
                    streams: flag("streams"),
                    consumers: flag("consumer"),
                    config: flag("config"),
                    leader_only: flag("leader_only"),
                    offset: int("offset"),
                    limit: int("limit"),
                };
                match self.jsz(&opts) {
                    Ok(jsz) => to_value(&jsz),
                    // nats-server sends nothing when the filter leaves nothing.
                    Err(_) => return None,
                }
            }
            "HEALTHZ" => to_value(&self.healthz()),
            _ => return None,
        };
        let server = self.server_info();
        Some(match data {
            Ok(data) => compact_json(&Envelope::<Value> {
                server,
                data: Some(data),
                error: None,
            }),
            Err(description) => compact_json(&FailedEnvelope {
                server,
                data: None,
                error: ApiError { code: 500, description },
            }),
        })
    }

    /// nats-server's `EventFilterOptions`: a request naming other servers gets no reply.
    fn filter_matches(&self, options: &serde_json::Map<String, Value>) -> bool {
        if let Some(name) = options.get("server_name").and_then(Value::as_str) {
            if !name.is_empty() && !self.server_name().contains(name) {
                return false;
            }
        }
        if let Some(host) = options.get("host").and_then(Value::as_str) {
            if !host.is_empty() && !self.config.host.contains(host) {
                return false;
            }
        }
        if options
            .get("cluster")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
        {
            return false;
        }
        if let Some(domain) = options.get("domain").and_then(Value::as_str) {
            if !domain.is_empty() && !self.domain().contains(domain) {
                return false;
            }
        }
        if options
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| !tags.is_empty())
        {
            return false;
        }
        true
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}
