//! Monitoring: nats-server's HTTP endpoints (`/varz`, `/connz`, `/subsz` ...), a Prometheus
//! `/metrics`, and the same data over the system account (`$SYS.REQ.SERVER...`).
//!
//! Monitoring is a component of the [`crate::Node`] with its own small state ([`Monitor`]: the
//! requests it served, the process figures the runtime reported, the sequence of its `$SYS`
//! replies); everything else it shows it reads from the [`Server`] through a [`Report`], a
//! read-only view, so nothing is counted twice and the server never depends on monitoring.
//! The runtimes accept HTTP connections on the monitoring port, read a request head, hand it
//! to [`crate::Node::monitor`] and write back the response it returns, so serving HTTP takes
//! the core only as long as building the answer. Wall-clock times come from
//! [`crate::Config::start_unix_nanos`] plus the core's monotonic clock; process figures
//! (memory, CPU) arrive as [`crate::Input::ProcessStats`].

pub mod connz;
pub mod endpoints;
pub mod format;
pub mod http;
pub mod jsz;
pub mod metrics;
pub mod routez;
pub mod sys;
pub mod varz;

use std::cell::Cell;
use std::collections::BTreeMap;

use crate::jetstream::JetStream;
use crate::server::Server;
use format::{compact_json, pretty_json};

pub use crate::server::ProcessStats;

/// Monitoring's own state.
#[derive(Debug, Default)]
pub struct Monitor {
    /// Monitoring requests served, by path.
    pub(crate) http_req_stats: BTreeMap<String, u64>,
    /// The latest process figures the runtime reported.
    pub(crate) process: ProcessStats,
    /// Messages monitoring sent over the system account, for their `seq` (a `Cell` so a reply
    /// can be numbered while the rest of the report is read through shared references).
    pub(crate) sys_seq: Cell<u64>,
}

/// The server's state as monitoring reads it, beside monitoring's own: a read-only view, so
/// building a report can change nothing but monitoring's counters.
pub(crate) struct Report<'a> {
    server: &'a Server,
    /// JetStream, when it is enabled.
    pub(crate) jetstream: Option<&'a JetStream>,
    /// Monitoring's own state.
    pub(crate) monitor: &'a Monitor,
}

impl std::ops::Deref for Report<'_> {
    type Target = Server;

    fn deref(&self) -> &Server {
        self.server
    }
}

impl<'a> Report<'a> {
    /// A view of `server` for `monitor`.
    pub(crate) fn new(server: &'a Server, jetstream: Option<&'a JetStream>, monitor: &'a Monitor) -> Self {
        Report {
            server,
            jetstream,
            monitor,
        }
    }
}

/// A monitoring request that cannot be answered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    /// A bad query parameter: 400 with this text.
    #[error("{0}")]
    BadRequest(String),
}

/// Query parameters, decoded as nats-server's handlers decode them.
pub struct Query<'a> {
    request: &'a http::Request,
}

impl Query<'_> {
    /// A raw parameter.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.request.param(name)
    }

    /// A Go `strconv.ParseBool` parameter; absent or empty is false.
    pub fn boolean(&self, name: &str) -> Result<bool, MonitorError> {
        match self.text(name) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(v) => Err(MonitorError::BadRequest(format!(
                "Error decoding boolean for '{name}': strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))),
        }
    }

    /// A Go `strconv.Atoi` parameter; absent or empty is 0.
    pub fn int(&self, name: &str) -> Result<i64, MonitorError> {
        match self.text(name) {
            None | Some("") => Ok(0),
            Some(v) => v.parse().map_err(|_| {
                MonitorError::BadRequest(format!(
                    "Error decoding int for '{name}': strconv.Atoi: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }

    /// A Go `strconv.ParseUint` parameter.
    pub fn uint(&self, name: &str) -> Result<Option<u64>, MonitorError> {
        match self.text(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                MonitorError::BadRequest(format!(
                    "Error decoding uint64 for '{name}': strconv.ParseUint: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }
}

/// The paths served, with the name each is counted under in `http_req_stats`.
const PATHS: &[(&str, &str)] = &[
    ("/", "/"),
    ("/varz", "/varz"),
    ("/connz", "/connz"),
    ("/subsz", "/subsz"),
    ("/subscriptionsz", "/subsz"),
    ("/routez", "/routez"),
    ("/gatewayz", "/gatewayz"),
    ("/leafz", "/leafz"),
    ("/accountz", "/accountz"),
    ("/accstatz", "/accstatz"),
    ("/jsz", "/jsz"),
    ("/healthz", "/healthz"),
    ("/metrics", "/metrics"),
];

impl Monitor {
    /// Answers one HTTP request (its head, as read from a monitoring connection) with a
    /// complete HTTP response about `server`.
    pub(crate) fn http(&mut self, server: &Server, jetstream: Option<&JetStream>, head: &[u8]) -> Vec<u8> {
        let request = match http::parse(head) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => {
                return http::response(400, "text/plain; charset=utf-8", b"400 Bad Request");
            }
        };
        let base = server.config.http_base_path.trim_end_matches('/');
        let path = match request.path.strip_prefix(base) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => "",
        };
        let Some((path, counted)) = PATHS.iter().find(|(p, _)| *p == path).copied() else {
            return http::response(404, "text/plain; charset=utf-8", b"404 page not found\n");
        };
        *self.http_req_stats.entry(counted.to_string()).or_insert(0) += 1;
        let query = Query { request: &request };
        let result = Report::new(server, jetstream, self).endpoint(path, &query);
        let (status, content_type, body) = match result {
            Ok(answer) => answer,
            Err(MonitorError::BadRequest(text)) => (400, "text/plain; charset=utf-8", text.into_bytes()),
        };
        // JSONP, as nats-server offers it.
        if let Some(callback) = query.text("callback").filter(|c| !c.is_empty() && status != 400) {
            let mut wrapped = format!("{callback}(").into_bytes();
            wrapped.extend_from_slice(&body);
            wrapped.push(b')');
            return http::response(status, "application/javascript", &wrapped);
        }
        http::response(status, content_type, &body)
    }
}

impl Report<'_> {
    fn endpoint(&self, path: &str, query: &Query<'_>) -> Result<(u16, &'static str, Vec<u8>), MonitorError> {
        const JSON: &str = "application/json";
        let json = |body: Vec<u8>| Ok((200, JSON, body));
        match path {
            "/" => Ok((200, "text/html; charset=utf-8", index_page(&self.config.http_base_path))),
            "/varz" => json(pretty_json(&self.varz())),
            "/connz" => {
                let opts = connz::ConnzOptions::from_query(query)?;
                json(pretty_json(&self.connz(&opts)?))
            }
            "/subsz" | "/subscriptionsz" => {
                let opts = endpoints::SubszOptions::from_query(query)?;
                json(pretty_json(&self.subsz(&opts)))
            }
            "/routez" => {
                let subs = match query.text("subs") {
                    Some(v) if v.eq_ignore_ascii_case("detail") => routez::RouteSubs::Detail,
                    _ if query.boolean("subs")? => routez::RouteSubs::List,
                    _ => routez::RouteSubs::None,
                };
                json(pretty_json(&self.routez(subs)))
            }
            "/gatewayz" => {
                query.boolean("accs")?;
                json(pretty_json(&self.gatewayz()))
            }
            "/leafz" => {
                query.boolean("subs")?;
                json(pretty_json(&self.leafz()))
            }
            "/accountz" => {
                let account = query.text("acc").filter(|a| !a.is_empty());
                json(pretty_json(&self.accountz(account)?))
            }
            "/accstatz" => {
                let unused = query.boolean("unused")?;
                json(pretty_json(&self.accstatz(unused)))
            }
            "/jsz" => {
                let opts = jsz::JszOptions {
                    account: query.text("acc").filter(|a| !a.is_empty()).map(str::to_string),
                    accounts: query.boolean("accounts")?,
                    streams: query.boolean("streams")?,
                    consumers: query.boolean("consumers")?,
                    config: {
                        query.boolean("direct-consumers")?;
                        query.boolean("config")?
                    },
                    offset: query.int("offset")?,
                    limit: query.int("limit")?,
                    leader_only: {
                        let leader = query.boolean("leader-only")?;
                        query.boolean("raft")?;
                        query.boolean("stream-leader-only")?;
                        leader
                    },
                };
                json(pretty_json(&self.jsz(&opts)?))
            }
            "/healthz" => {
                for flag in ["js-enabled", "js-enabled-only", "js-server-only"] {
                    query.boolean(flag)?;
                }
                let health = self.healthz();
                let status = if health.status == "ok" { 200 } else { 503 };
                Ok((status, JSON, compact_json(&health)))
            }
            "/metrics" => Ok((
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics().into_bytes(),
            )),
            _ => Ok((404, "text/plain; charset=utf-8", b"404 page not found\n".to_vec())),
        }
    }
}

/// The index page, linking every endpoint as nats-server's does.
fn index_page(base: &str) -> Vec<u8> {
    let _ = base;
    let links = [
        ("varz", "General"),
        ("jsz", "JetStream"),
        ("connz", "Connections"),
        ("accountz", "Accounts"),
        ("accstatz", "Account Stats"),
        ("subsz", "Subscriptions"),
        ("routez", "Routes"),
        ("leafz", "LeafNodes"),
        ("gatewayz", "Gateways"),
        ("healthz", "Health Probe"),
        ("metrics", "Prometheus Metrics"),
    ];
    let mut html = format!(
        "<html lang=\"en\">\n<head><title>natrix monitoring</title></head>\n<body>\n<a href=https://github.com/nats-io/nats-server class='version'>v{}</a>\n",
        crate::config::COMPATIBLE_VERSION
    );
    for (path, label) in links {
        html.push_str(&format!("<a href=./{path}>{label}</a><br/>\n"));
    }
    html.push_str(
        "<a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring class='help'>Help</a>\n</body>\n</html>\n",
    );
    html.into_bytes()
}
