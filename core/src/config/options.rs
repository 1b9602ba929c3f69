//! From a parsed configuration file to a [`Config`]: nats-server's key names and aliases, value
//! types and errors.
//!
//! A key Natrix implements sets its field. A key nats-server knows but Natrix does not implement
//! yet is reported back by name (the binary logs it at start-up), never silently ignored. A key
//! nats-server does not know is an error (`unknown field`), unless the file only defines it to
//! use as a `$variable`, as in nats-server.

use std::time::Duration;

use super::duration;
use super::format::{ConfError, Located, Location, Map, Value};
use super::{security, Config};

/// Top-level keys nats-server accepts that Natrix does not implement yet (nats-server's
/// `processConfigFileLine`, server/opts.go).
pub const NOT_YET_IMPLEMENTED: &[&str] = &[
    "client_advertise",
    "trace_verbose",
    "trace_headers",
    "logtime_utc",
    "mappings",
    "maps",
    "disable_sublist_cache",
    "no_sublist_cache",
    "default_sentinel",
    "https",
    "https_port",
    "gateway",
    "leaf",
    "leafnodes",
    "logfile_size_limit",
    "log_size_limit",
    "logfile_max_num",
    "log_max_num",
    "syslog",
    "remote_syslog",
    "prof_port",
    "prof_block_rate",
    "proxy_protocol",
    "max_traced_msg_len",
    "max_sub_tokens",
    "max_subscription_tokens",
    "ocsp",
    "write_timeout",
    "operator",
    "operators",
    "roots",
    "root",
    "root_operators",
    "root_operator",
    "resolver",
    "account_resolver",
    "accounts_resolver",
    "resolver_tls",
    "resolver_preload",
    "resolver_pinned_accounts",
    "no_header_support",
    "trusted",
    "trusted_keys",
    "connect_error_reports",
    "reconnect_error_reports",
    "websocket",
    "ws",
    "mqtt",
    "server_tags",
    "server_metadata",
    "feature_flags",
    "default_js_domain",
    "ocsp_cache",
    "proxies",
];

/// What applying a file produced besides the configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Keys nats-server knows that Natrix does not implement yet, with where they are.
    pub not_implemented: Vec<(String, Location)>,
    /// nats-server's configuration warnings (printed; the server still starts).
    pub warnings: Vec<ConfError>,
    /// Where the `tls` block is, for errors found when its files are loaded.
    pub tls_at: Option<Location>,
}

/// Applies the top-level keys of `map` to `config`. Every error found is returned, in file order.
pub fn apply(map: &Map, config: &mut Config) -> Result<Applied, Vec<ConfError>> {
    let mut applied = Applied::default();
    let mut errors = Vec::new();
    for (key, key_at, value) in &map.entries {
        let lower = key.to_ascii_lowercase();
        let located = |mut errs: Vec<ConfError>| {
            for e in &mut errs {
                e.at.get_or_insert_with(|| key_at.clone());
            }
            errs
        };
        match lower.as_str() {
            "authorization" => {
                if let Err(e) =
                    security::parse_authorization(value, &mut config.authorization, &mut applied.not_implemented)
                {
                    errors.extend(located(e));
                }
                continue;
            }
            "accounts" => {
                match security::parse_accounts(value, &mut config.authorization, &mut applied.not_implemented) {
                    Ok(specs) => config.accounts = specs,
                    Err(e) => errors.extend(located(e)),
                }
                continue;
            }
            "cluster" => {
                match super::cluster::parse(value) {
                    Ok((settings, parsed)) => {
                        config.cluster = Some(settings);
                        applied.not_implemented.extend(parsed.not_implemented);
                        applied.warnings.extend(parsed.warnings);
                    }
                    Err(e) => errors.extend(located(e)),
                }
                continue;
            }
            "jetstream" => {
                let mut settings = config.jetstream.clone().unwrap_or_default();
                match super::jetstream::parse(value, &mut settings) {
                    Ok(parsed) => {
                        if parsed.store_dir_set && !config.store_dir.is_empty() {
                            errors.push(ConfError {
                                at: Some(key_at.clone()),
                                message: "Duplicate 'store_dir' configuration".to_string(),
                            });
                        }
                        config.jetstream = parsed.enabled.then_some(settings);
                        applied.not_implemented.extend(parsed.not_implemented);
                    }
                    Err(e) => errors.extend(located(e)),
                }
                continue;
            }
            "tls" => {
                match super::tls::parse(value) {
                    Ok((settings, unimplemented)) => {
                        config.tls = Some(settings);
                        applied.tls_at = Some(key_at.clone());
                        for name in unimplemented {
                            applied.not_implemented.push((format!("tls.{name}"), key_at.clone()));
                        }
                    }
                    Err(e) => errors.extend(located(vec![e])),
                }
                continue;
            }
            _ => {}
        }
        if let Err(mut e) = apply_key(&lower, key, key_at, value, config, &mut applied, map) {
            // nats-server locates every option error at its key.
            e.at.get_or_insert_with(|| key_at.clone());
            errors.push(e);
        }
    }
    let accounts_at = map
        .entries
        .iter()
        .find(|(k, _, _)| k.eq_ignore_ascii_case("accounts"))
        .map(|(_, at, _)| at);
    if errors.is_empty() {
        errors.extend(security::validate(config, accounts_at));
    }
    if config.max_payload > config.max_pending {
        errors.push(ConfError {
            at: None,
            message: format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                config.max_payload, config.max_pending
            ),
        });
    }
    if errors.is_empty() {
        Ok(applied)
    } else {
        Err(errors)
    }
}

pub(super) fn type_error(_key: &str, value: &Located, expected: &str) -> ConfError {
    ConfError {
        at: None,
        message: format!(
            "interface conversion: interface {{}} is {}, not {expected}",
            value.value.kind()
        ),
    }
}

pub(super) fn int(key: &str, value: &Located) -> Result<i64, ConfError> {
    match value.value {
        Value::Int(n) => Ok(n),
        _ => Err(type_error(key, value, "int64")),
    }
}

fn size(key: &str, value: &Located) -> Result<usize, ConfError> {
    let n = int(key, value)?;
    usize::try_from(n).map_err(|_| ConfError {
        at: None,
        message: format!("{key} must be positive, got {n}"),
    })
}

pub(super) fn boolean(key: &str, value: &Located) -> Result<bool, ConfError> {
    match value.value {
        Value::Bool(b) => Ok(b),
        _ => Err(type_error(key, value, "bool")),
    }
}

pub(super) fn string(key: &str, value: &Located) -> Result<String, ConfError> {
    match &value.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(type_error(key, value, "string")),
    }
}

/// A Go duration string (`lame_duck_duration` and `lame_duck_grace_period` take nothing else).
pub(super) fn strict_duration(key: &str, value: &Located) -> Result<Duration, ConfError> {
    match &value.value {
        Value::String(s) => duration::parse(s).map_err(|e| ConfError {
            at: None,
            message: format!("error parsing {key}: {e}"),
        }),
        _ => Err(type_error(key, value, "string")),
    }
}

/// A duration as nats-server's `parseDuration` reads one: a Go duration string, or (with a
/// warning) a number of seconds.
fn duration(key: &str, key_at: &Location, value: &Located, applied: &mut Applied) -> Result<Duration, ConfError> {
    match &value.value {
        Value::Int(n) if *n >= 0 => {
            applied.warnings.push(ConfError {
                at: Some(key_at.clone()),
                message: format!("invalid use of field {key:?}: {key} should be converted to a duration"),
            });
            Ok(Duration::from_secs(*n as u64))
        }
        _ => strict_duration(key, value),
    }
}

/// `host:port`, `:port` or `host`, as `listen` takes it.
fn host_port(value: &Located) -> Result<(Option<String>, Option<i32>), ConfError> {
    let text = match &value.value {
        Value::String(s) => s.clone(),
        Value::Int(n) => return Ok((None, Some(*n as i32))),
        _ => return Err(type_error("listen", value, "string")),
    };
    let bad = || ConfError {
        at: None,
        message: format!("could not parse address string {text:?}"),
    };
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
        None => return Ok((Some(text.clone()), None)),
    };
    let port: i32 = port.parse().map_err(|_| bad())?;
    let host = (!host.is_empty()).then(|| host.to_string());
    Ok((host, Some(port)))
}

fn port_number(port: i64) -> Result<u16, ConfError> {
    match port {
        -1 => Ok(0),
        0 => Ok(4222),
        p => u16::try_from(p).map_err(|_| ConfError {
            at: None,
            message: format!("invalid port {p}"),
        }),
    }
}

/// A monitoring port: `-1` picks a free one (0 here), like the client port.
fn monitor_port(port: i64) -> Result<u16, ConfError> {
    match port {
        -1 => Ok(0),
        p => u16::try_from(p).map_err(|_| ConfError {
            at: None,
            message: format!("invalid port {p}"),
        }),
    }
}

fn apply_key(
    lower: &str,
    key: &str,
    key_at: &Location,
    value: &Located,
    config: &mut Config,
    applied: &mut Applied,
    map: &Map,
) -> Result<(), ConfError> {
    match lower {
        "listen" => {
            let (host, port) = host_port(value)?;
            if let Some(host) = host {
                config.host = host;
            }
            if let Some(port) = port {
                config.port = port_number(i64::from(port))?;
            }
        }
        "host" | "net" => config.host = string(key, value)?,
        "store_dir" | "storedir" => {
            if config.jetstream.as_ref().is_some_and(|js| !js.store_dir.is_empty()) {
                return Err(ConfError {
                    at: None,
                    message: "Duplicate 'store_dir' configuration".to_string(),
                });
            }
            config.store_dir = string(key, value)?;
        }
        "port" => config.port = port_number(int(key, value)?)?,
        "server_name" => {
            let name = string(key, value)?;
            if name.contains(' ') {
                return Err(ConfError {
                    at: None,
                    message: "server name cannot contain spaces".to_string(),
                });
            }
            config.server_name = Some(name);
        }
        "debug" => config.debug = boolean(key, value)?,
        "trace" => config.trace = boolean(key, value)?,
        "logtime" => config.logtime = boolean(key, value)?,
        "logfile" | "log_file" => config.log_file = Some(string(key, value)?),
        "pidfile" | "pid_file" => config.pid_file = Some(string(key, value)?),
        "ports_file_dir" => config.ports_file_dir = Some(string(key, value)?),
        "max_control_line" => config.max_control_line = size(key, value)?,
        "max_payload" => config.max_payload = size(key, value)?,
        "max_pending" => config.max_pending = size(key, value)?,
        "max_connections" | "max_conn" => config.max_connections = size(key, value)?,
        "max_subscriptions" | "max_subs" => config.max_subscriptions = size(key, value)?,
        "ping_interval" => config.ping_interval = duration(key, key_at, value, applied)?,
        "ping_max" => {
            config.ping_max = u32::try_from(int(key, value)?).map_err(|_| ConfError {
                at: None,
                message: "ping_max must be positive".to_string(),
            })?
        }
        "write_deadline" => config.write_deadline = duration(key, key_at, value, applied)?,
        "lame_duck_duration" => {
            let dur = strict_duration(key, value)?;
            if dur < Duration::from_secs(30) {
                return Err(ConfError {
                    at: None,
                    message: format!(
                        "invalid lame_duck_duration of {}, minimum is 30 seconds",
                        duration::format(dur)
                    ),
                });
            }
            config.lame_duck_duration = dur;
        }
        "lame_duck_grace_period" => config.lame_duck_grace_period = strict_duration(key, value)?,
        "no_fast_producer_stall" => config.no_fast_producer_stall = boolean(key, value)?,
        "http" => {
            let (host, port) = host_port(value)?;
            if let Some(host) = host {
                config.http_host = Some(host);
            }
            config.http_port = port.map(|p| monitor_port(i64::from(p))).transpose()?;
        }
        "http_port" | "monitor_port" => config.http_port = Some(monitor_port(int(key, value)?)?),
        "http_base_path" => config.http_base_path = string(key, value)?,
        "max_closed_clients" => config.max_closed_clients = size(key, value)?,
        "no_auth_user" => config.no_auth_user = Some(string(key, value)?),
        "system_account" | "system" => config.system_account = Some(string(key, value)?),
        "no_system_account" | "no_system" | "no_sys_acc" => config.no_system_account = boolean(key, value)?,
        "runtime" => {
            let runtime = string(key, value)?;
            if runtime != "tokio" && runtime != "mio" {
                return Err(ConfError {
                    at: None,
                    message: format!("unknown runtime {runtime:?}: use \"tokio\" or \"mio\""),
                });
            }
            config.runtime = Some(runtime);
        }
        _ if NOT_YET_IMPLEMENTED.contains(&lower) => applied.not_implemented.push((key.to_string(), key_at.clone())),
        _ if map.used_as_variables.iter().any(|v| v == key) => {}
        _ => {
            return Err(ConfError {
                at: Some(key_at.clone()),
                message: format!("unknown field {key:?}"),
            })
        }
    }
    Ok(())
}

/// Writes `config` as a configuration file that [`apply`] reads back to the same values (for the
/// keys Natrix implements).
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| {
        out.push_str(key);
        out.push_str(": ");
        out.push_str(&value);
        out.push('\n');
    };
    let text = |s: &str| quote(s);
    let time = |d: Duration| quote(&duration::format(d));
    line("host", text(&config.host));
    line(
        "port",
        if config.port == 0 {
            "-1".to_string()
        } else {
            config.port.to_string()
        },
    );
    if let Some(name) = &config.server_name {
        line("server_name", text(name));
    }
    line("max_payload", config.max_payload.to_string());
    line("max_control_line", config.max_control_line.to_string());
    line("max_pending", config.max_pending.to_string());
    line("max_connections", config.max_connections.to_string());
    line("max_subscriptions", config.max_subscriptions.to_string());
    line("ping_interval", time(config.ping_interval));
    line("ping_max", config.ping_max.to_string());
    line("write_deadline", time(config.write_deadline));
    line("lame_duck_duration", time(config.lame_duck_duration));
    line("lame_duck_grace_period", time(config.lame_duck_grace_period));
    line("no_fast_producer_stall", config.no_fast_producer_stall.to_string());
    line("debug", config.debug.to_string());
    line("trace", config.trace.to_string());
    line("logtime", config.logtime.to_string());
    for (key, value) in [
        ("log_file", &config.log_file),
        ("pid_file", &config.pid_file),
        ("ports_file_dir", &config.ports_file_dir),
        ("runtime", &config.runtime),
    ] {
        if let Some(value) = value {
            line(key, text(value));
        }
    }
    out
}

/// A double-quoted string with the escapes the parser reads.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::format::{parse, Sources};
    use super::*;

    struct NoSources;
    impl Sources for NoSources {
        fn read(&self, _: &str) -> Result<String, String> {
            Err("no files".into())
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn load(text: &str) -> Result<(Config, Applied), Vec<ConfError>> {
        let map = parse("t.conf", text, &NoSources).map_err(|e| vec![e])?;
        let mut config = Config::default();
        let applied = apply(&map, &mut config)?;
        Ok((config, applied))
    }

    #[test]
    fn keys_and_aliases() {
        let (config, applied) = load(
            "listen: 127.0.0.1:4333\nserver_name: n1\nmax_payload: 2MB\nmax_conn: 10\nmax_subs: 5\n\
             ping_interval: \"30s\"\nping_max: 3\nwrite_deadline: 5\nlame_duck_duration: \"1m\"\n\
             debug: true\nlog_file: /tmp/x.log\nhttps_port: 8222\n",
        )
        .unwrap();
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.port, 4333);
        assert_eq!(config.server_name.as_deref(), Some("n1"));
        assert_eq!(config.max_payload, 2 << 20);
        assert_eq!(config.max_connections, 10);
        assert_eq!(config.max_subscriptions, 5);
        assert_eq!(config.ping_interval, Duration::from_secs(30));
        assert_eq!(config.ping_max, 3);
        assert_eq!(config.write_deadline, Duration::from_secs(5));
        assert_eq!(config.lame_duck_duration, Duration::from_secs(60));
        assert!(config.debug);
        assert_eq!(config.log_file.as_deref(), Some("/tmp/x.log"));
        assert_eq!(applied.not_implemented.len(), 1);
        assert_eq!(applied.not_implemented[0].0, "https_port");
        assert_eq!(
            applied.warnings[0].to_string(),
            "t.conf:8:1: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"
        );
    }

    #[test]
    fn port_minus_one_picks_a_free_port() {
        let (config, _) = load("port: -1\n").unwrap();
        assert_eq!(config.port, 0);
    }

    #[test]
    fn errors_carry_locations() {
        // What nats-server 2.9.10 prints for the same files.
        let errors = load("foo: 1\nbar: 2\n  max_payload: true\n").unwrap_err();
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "t.conf:1:0: unknown field \"foo\"",
                "t.conf:2:1: unknown field \"bar\"",
                "t.conf:3:3: interface conversion: interface {} is bool, not int64"
            ]
        );
        let errors = load("ping_interval: \"30x\"\n").unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "t.conf:1:0: error parsing ping_interval: time: unknown unit \"x\" in duration \"30x\""
        );
        let errors = load("lame_duck_duration: \"10s\"\n").unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "t.conf:1:0: invalid lame_duck_duration of 10s, minimum is 30 seconds"
        );
        let errors = load("lame_duck_duration: 60\n").unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "t.conf:1:0: interface conversion: interface {} is int64, not string"
        );
        let errors = load("max_payload: 10MB\nmax_pending: 1MB\n").unwrap_err();
        assert!(errors[0].message.contains("cannot be higher than max_pending"));
    }

    #[test]
    fn tls_handshake_first_values() {
        // nats-server's TestTLSClientHandshakeFirstFallbackDelayConfigValues, plus durations.
        let cases: &[(&str, bool, Option<Duration>)] = &[
            ("true", true, None),
            ("false", false, None),
            ("\"true\"", true, None),
            ("\"false\"", false, None),
            ("on", true, None),
            ("off", false, None),
            ("\"auto\"", true, Some(Duration::from_millis(50))),
            ("auto_fallback", true, Some(Duration::from_millis(50))),
            ("\"300ms\"", true, Some(Duration::from_millis(300))),
            ("\"1s\"", true, Some(Duration::from_secs(1))),
            ("\"0s\"", true, None),
        ];
        for (value, first, fallback) in cases {
            for key in ["handshake_first", "first", "immediate"] {
                let text = format!("tls {{ cert_file: c.pem, key_file: k.pem, {key}: {value} }}\n");
                let (config, _) = load(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
                let tls = config.tls.expect("tls");
                assert_eq!(
                    (tls.handshake_first, tls.handshake_first_fallback),
                    (*first, *fallback),
                    "{text}"
                );
            }
        }
        let errors = load("tls { cert_file: c.pem, key_file: k.pem, first: \"xyz\" }\n").unwrap_err();
        assert_eq!(errors[0].message, "field \"first\"'s value \"xyz\" is invalid");
        let errors = load("tls { cert_file: c.pem, key_file: k.pem, handshake_first: 5 }\n").unwrap_err();
        assert_eq!(
            errors[0].message,
            "field \"handshake_first\" should be a boolean or a string, got int64"
        );
    }

    #[test]
    fn keys_used_as_variables_are_not_unknown() {
        let (config, _) = load("big: 4MB\nmax_payload: $big\n").unwrap();
        assert_eq!(config.max_payload, 4 << 20);
    }
}
