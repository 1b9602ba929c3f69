//! The `cluster` block and the `--cluster`/`--routes` flags: where this server listens for routes,
//! which servers it dials, and how routes authenticate (nats-server's `parseCluster`,
//! server/opts.go).

use std::time::Duration;

use super::format::{ConfError, Located, Location, Value};
use super::options;
use crate::auth::settings::Authorization;

/// nats-server's conventional route port.
pub const DEFAULT_ROUTE_PORT: u16 = 6222;

/// nats-server caps the ping interval of routes at this.
pub const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);

/// A server to dial: `nats-route://[user:pass@]host:port` (any scheme is accepted, as in
/// nats-server, which only reads host, port and credentials).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteUrl {
    /// Host name or address, as written (the runtime resolves names).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Credentials sent in the route's CONNECT.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<String>,
}

impl RouteUrl {
    /// Parses a route URL; the error is nats-server's text for a URL it cannot use.
    pub fn parse(text: &str) -> Result<RouteUrl, String> {
        let trimmed = text.trim();
        let bad = || format!("error parsing route url [{trimmed:?}]");
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if !scheme.is_empty() => rest,
            _ => return Err(bad()),
        };
        let rest = rest.split(['/', '?']).next().unwrap_or_default();
        let (credentials, host_port) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (host, port) = split_host_port(host_port).ok_or_else(bad)?;
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(c.to_string()), None),
            },
            None => (None, None),
        };
        Ok(RouteUrl {
            host,
            port: port.unwrap_or(DEFAULT_ROUTE_PORT),
            user,
            password,
        })
    }

    /// `host:port`, for dialing and logs (credentials left out).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL without credentials, as logs and monitoring show it.
    pub fn redacted(&self) -> String {
        format!("nats-route://{}", self.address())
    }
}

/// `host`, `host:port`, `[v6]:port`; the port is `None` when absent.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host.to_string(), Some(port.parse().ok()?))),
        Some(_) => Some((text.to_string(), None)),
        None if text.is_empty() => None,
        None => Some((text.to_string(), None)),
    }
}

/// The `cluster` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `name`: every server of a cluster has the same one. Without it the server makes one up
    /// and adopts the first configured name it meets, as nats-server does.
    pub name: Option<String>,
    /// `host`/`listen`: the address routes are accepted on.
    pub host: String,
    /// `port`/`listen`: the route port; 0 picks a free one (`-1` in the file).
    pub port: u16,
    /// `advertise`/`cluster_advertise`: the `host:port` other servers are told to dial.
    pub advertise: Option<String>,
    /// `no_advertise`: do not tell clients about the other servers' client URLs.
    pub no_advertise: bool,
    /// `routes`: the servers to dial.
    pub routes: Vec<RouteUrl>,
    /// `authorization { user, password }`: what dialing servers must send.
    pub user: Option<String>,
    /// The password for `user`.
    pub password: Option<String>,
    /// `authorization { timeout }`.
    pub auth_timeout: Option<Duration>,
    /// `connect_retries`: how often a configured route that never connected is retried before
    /// giving up (0: for ever).
    pub connect_retries: u32,
    /// `connect_backoff`: grow the delay between attempts (nats-server's exponential backoff).
    pub connect_backoff: bool,
    /// `ping_interval` for routes (capped at 30 s).
    pub ping_interval: Option<Duration>,
    /// `ping_max` for routes.
    pub ping_max: Option<u32>,
    /// `tls`: routes are TLS, both ways (the runtime holds the certificates).
    pub tls: Option<super::tls::TlsSettings>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            name: None,
            host: "0.0.0.0".to_string(),
            port: DEFAULT_ROUTE_PORT,
            advertise: None,
            no_advertise: false,
            routes: Vec::new(),
            user: None,
            password: None,
            auth_timeout: None,
            connect_retries: 0,
            connect_backoff: false,
            ping_interval: None,
            ping_max: None,
            tls: None,
        }
    }
}

impl ClusterSettings {
    /// Applies a `--cluster` URL (`nats://[user:pass@]host:port`): the listen address, and the
    /// credentials routes must present.
    pub fn apply_listen_url(&mut self, text: &str) -> Result<(), String> {
        let trimmed = text.trim();
        // `-1` picks a free port, as it does for clients.
        let normalized = match trimmed.strip_suffix(":-1") {
            Some(head) => format!("{head}:0"),
            None => trimmed.to_string(),
        };
        let url = RouteUrl::parse(&normalized).map_err(|_| format!("error parsing cluster url [{trimmed:?}]"))?;
        self.host = url.host;
        self.port = url.port;
        self.user = url.user;
        self.password = url.password;
        Ok(())
    }
}

fn conf_err(value: &Located, message: String) -> ConfError {
    ConfError {
        at: Some(value.at.clone()),
        message,
    }
}

/// An error from the file's shared value readers, located at `value` (the cluster block's
/// errors point at the offending value).
fn located(value: &Located, error: ConfError) -> ConfError {
    ConfError {
        at: Some(value.at.clone()),
        ..error
    }
}

fn type_error(value: &Located, expected: &str) -> ConfError {
    located(value, options::type_error("", value, expected))
}

fn string(value: &Located) -> Result<String, ConfError> {
    options::string("", value).map_err(|e| located(value, e))
}

fn int(value: &Located) -> Result<i64, ConfError> {
    options::int("", value).map_err(|e| located(value, e))
}

fn boolean(value: &Located) -> Result<bool, ConfError> {
    options::boolean("", value).map_err(|e| located(value, e))
}

fn port(value: &Located, n: i64) -> Result<u16, ConfError> {
    match n {
        -1 => Ok(0),
        0 => Ok(DEFAULT_ROUTE_PORT),
        p => u16::try_from(p).map_err(|_| conf_err(value, format!("invalid port {p}"))),
    }
}

fn duration(value: &Located, key: &str, warnings: &mut Vec<ConfError>) -> Result<Duration, ConfError> {
    match &value.value {
        Value::Int(n) if *n >= 0 => {
            warnings.push(conf_err(
                value,
                format!("invalid use of field {key:?}: {key} should be converted to a duration"),
            ));
            Ok(Duration::from_secs(*n as u64))
        }
        _ => options::strict_duration(key, value).map_err(|e| located(value, e)),
    }
}

/// What [`parse`] found besides the settings.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Keys nats-server knows that Natrix does not implement for routes, with where they are.
    pub not_implemented: Vec<(String, Location)>,
    /// nats-server's warnings (the server still starts).
    pub warnings: Vec<ConfError>,
}

/// Reads the `cluster` block. Errors are collected in file order, as nats-server reports them.
pub fn parse(block: &Located) -> Result<(ClusterSettings, Parsed), Vec<ConfError>> {
    let Value::Map(map) = &block.value else {
        return Err(vec![conf_err(
            block,
            format!("Expected map to define cluster, got {}", block.value.kind()),
        )]);
    };
    let mut settings = ClusterSettings::default();
    let mut parsed = Parsed::default();
    let mut errors = Vec::new();
    for (key, key_at, value) in &map.entries {
        let result: Result<(), ConfError> = (|| {
            match key.to_ascii_lowercase().as_str() {
                "name" => {
                    let name = string(value)?;
                    if name.contains(' ') {
                        return Err(conf_err(value, "cluster name cannot contain spaces".to_string()));
                    }
                    settings.name = Some(name);
                }
                "listen" => match &value.value {
                    Value::Int(n) => settings.port = port(value, *n)?,
                    Value::String(s) => {
                        let (host, p) = match s.rsplit_once(':') {
                            Some((h, p)) => (h, Some(p)),
                            None => (s.as_str(), None),
                        };
                        if !host.is_empty() {
                            settings.host = host.trim_start_matches('[').trim_end_matches(']').to_string();
                        }
                        if let Some(p) = p {
                            let n: i64 = p
                                .parse()
                                .map_err(|_| conf_err(value, format!("could not parse address string {s:?}")))?;
                            settings.port = port(value, n)?;
                        }
                    }
                    _ => return Err(type_error(value, "string")),
                },
                "port" => settings.port = port(value, int(value)?)?,
                "host" | "net" => settings.host = string(value)?,
                "authorization" => {
                    let mut auth = Authorization::default();
                    let mut skipped = Vec::new();
                    super::security::parse_authorization(value, &mut auth, &mut skipped)
                        .map_err(|mut e| e.remove(0))?;
                    if !auth.users.is_empty() || !auth.nkeys.is_empty() {
                        return Err(conf_err(
                            value,
                            "Cluster authorization does not allow multiple users".to_string(),
                        ));
                    }
                    if auth.token.is_some() {
                        return Err(conf_err(
                            value,
                            "Cluster authorization does not support tokens".to_string(),
                        ));
                    }
                    settings.user = auth.user;
                    settings.password = auth.password;
                    settings.auth_timeout = auth.timeout;
                    for (name, at) in skipped {
                        parsed
                            .not_implemented
                            .push((format!("cluster.authorization.{name}"), at));
                    }
                }
                "routes" => {
                    let Value::Array(items) = &value.value else {
                        return Err(type_error(value, "[]interface {}"));
                    };
                    let mut seen = Vec::new();
                    for item in items {
                        let text = string(item)?;
                        if seen.contains(&text) {
                            parsed
                                .warnings
                                .push(conf_err(item, format!("Duplicate route entry detected ({text:?})")));
                            continue;
                        }
                        seen.push(text.clone());
                        settings
                            .routes
                            .push(RouteUrl::parse(&text).map_err(|e| conf_err(item, e))?);
                    }
                }
                "cluster_advertise" | "advertise" => settings.advertise = Some(string(value)?),
                "no_advertise" => settings.no_advertise = boolean(value)?,
                "connect_retries" => {
                    settings.connect_retries = u32::try_from(int(value)?).unwrap_or(0);
                }
                "connect_backoff" => settings.connect_backoff = boolean(value)?,
                "ping_interval" => {
                    let interval = duration(value, "ping_interval", &mut parsed.warnings)?;
                    if interval > ROUTE_MAX_PING_INTERVAL {
                        parsed.warnings.push(conf_err(
                            value,
                            "Cluster 'ping_interval' will reset to 30s which is the max for routes".to_string(),
                        ));
                    }
                    settings.ping_interval = Some(interval);
                }
                "ping_max" => settings.ping_max = Some(u32::try_from(int(value)?).unwrap_or(u32::MAX)),
                "tls" => {
                    let (tls, unimplemented) = super::tls::parse(value)?;
                    for name in unimplemented {
                        parsed
                            .not_implemented
                            .push((format!("cluster.tls.{name}"), key_at.clone()));
                    }
                    settings.tls = Some(tls);
                }
                "permissions" | "pool_size" | "accounts" | "compression" | "write_deadline" | "write_timeout" => {
                    parsed.not_implemented.push((format!("cluster.{key}"), key_at.clone()))
                }
                _ => {
                    return Err(ConfError {
                        at: Some(key_at.clone()),
                        message: format!("unknown field {key:?}"),
                    })
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok((settings, parsed))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls_take_credentials_and_default_port() {
        let url = RouteUrl::parse("nats-route://ruser:T0p$ecret@10.0.0.2:7244").unwrap();
        assert_eq!(url.host, "10.0.0.2");
        assert_eq!(url.port, 7244);
        assert_eq!(url.user.as_deref(), Some("ruser"));
        assert_eq!(url.password.as_deref(), Some("T0p$ecret"));
        assert_eq!(url.redacted(), "nats-route://10.0.0.2:7244");
        let url = RouteUrl::parse("nats://seed.example.com").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("seed.example.com", 6222));
        assert!(RouteUrl::parse("localhost:6222").is_err());
        assert!(RouteUrl::parse("nats://host:notaport").is_err());
    }

    #[test]
    fn cluster_flag_url_sets_listen_and_credentials() {
        let mut settings = ClusterSettings::default();
        settings.apply_listen_url("nats://u:p@127.0.0.1:-1").unwrap();
        assert_eq!((settings.host.as_str(), settings.port), ("127.0.0.1", 0));
        assert_eq!(settings.user.as_deref(), Some("u"));
    }
}
