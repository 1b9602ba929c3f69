//! The JSON bodies of INFO (server to client) and CONNECT (client to server).
//!
//! Field names, order and omission rules follow nats-server's `Info` and `ClientOpts` structs:
//! clients parse these, and some compare them byte for byte in tests.

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The INFO a server sends on accept (and later, asynchronously, on changes), to clients and,
/// with the route fields, to other servers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct Info {
    /// The server's 56-character id.
    pub server_id: String,
    /// The server's name (its id unless configured).
    pub server_name: String,
    /// The nats-server version whose behaviour we match; clients gate features on it.
    pub version: String,
    /// Protocol level: 1.
    pub proto: u32,
    /// Build commit, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// nats-server names its Go toolchain here; we name the Rust one.
    pub go: String,
    /// The host the client listener is bound to.
    pub host: String,
    /// The client port.
    pub port: u16,
    /// Whether HPUB/HMSG are supported: always true.
    pub headers: bool,
    /// Whether CONNECT must carry credentials.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Whether the client must upgrade to TLS.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Whether the client must present a certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Whether TLS is offered but not required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Largest message accepted.
    pub max_payload: usize,
    /// Whether JetStream is enabled.
    #[serde(default, skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// Routes only: the URL other servers dial to reach this one (`nats-route://host:port/`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// The connection's id on this server.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_id: u64,
    /// The client's address as the server sees it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    /// The challenge an nkey user signs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// The cluster's name, when the server is in one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Routes only: the cluster name was made up, not configured, and yields to a configured one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// URLs of other servers in the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Set while the server is in lame duck mode.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ldm: bool,
}

/// The CONNECT a server sends on a route it dialed (nats-server's `connectInfo`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default)]
pub struct RouteConnect {
    /// Always false for routes.
    pub echo: bool,
    /// Always false for routes.
    pub verbose: bool,
    /// Always false for routes.
    pub pedantic: bool,
    /// Route credentials, from the route URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password for `user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Whether the route is TLS.
    pub tls_required: bool,
    /// The server handles HMSG.
    pub headers: bool,
    /// The dialing server's id.
    pub name: String,
    /// The dialing server's cluster name.
    pub cluster: String,
    /// The dialing server made its cluster name up.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
}

/// What a client says about itself in CONNECT.
///
/// nats-server decodes each CONNECT on top of the options the connection already has, starting
/// from verbose, pedantic and echo all true: fields a CONNECT leaves out keep their values, and
/// unknown fields are ignored. [`ConnectOptions::apply`] does the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Acknowledge every operation with `+OK`.
    pub verbose: bool,
    /// Check publish subjects strictly.
    pub pedantic: bool,
    /// The client wants TLS.
    pub tls_required: bool,
    /// Deliver this connection's own publishes to its own subscriptions.
    pub echo: bool,
    /// Client name, for monitoring.
    pub name: String,
    /// Client library language, for monitoring.
    pub lang: String,
    /// Client library version, for monitoring.
    pub version: String,
    /// 0 (original) or 1 (dynamic reconfiguration aware).
    pub protocol: i64,
    /// The client understands HPUB/HMSG.
    pub headers: bool,
    /// The client wants a 503 status when a request finds no responders.
    pub no_responders: bool,
    /// Username, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub pass: Option<String>,
    /// Token, if any.
    pub auth_token: Option<String>,
    /// Public nkey, if the client authenticates with one.
    pub nkey: Option<String>,
    /// Signature of the INFO nonce with that nkey (base64).
    pub sig: Option<String>,
    /// A user JWT (operator mode, which Natrix does not implement).
    pub jwt: Option<String>,
}

impl Default for ConnectOptions {
    /// nats-server's starting point, before any CONNECT.
    fn default() -> Self {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            tls_required: false,
            echo: true,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            protocol: 0,
            headers: false,
            no_responders: false,
            user: None,
            pass: None,
            auth_token: None,
            nkey: None,
            sig: None,
            jwt: None,
        }
    }
}

/// Why a CONNECT could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Not JSON, not an object, or a field of the wrong type.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A field of the wrong type.
    #[error("json: cannot unmarshal {found} into Go struct field ClientOpts.{field}")]
    FieldType {
        /// The field.
        field: String,
        /// What was found instead.
        found: &'static str,
    },
    /// `account` or `new_account`: nats-server treats these as an authentication failure.
    #[error("authentication error")]
    Deprecated,
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

impl ConnectOptions {
    /// Decodes a CONNECT's JSON on top of these options, as Go's `json.Unmarshal` does: keys
    /// match case-insensitively, `null` leaves a field alone, unknown keys are ignored, and a
    /// whole `null` document changes nothing. On error nothing is changed.
    pub fn apply(&mut self, json: &[u8]) -> Result<(), ConnectError> {
        let value: serde_json::Value = serde_json::from_slice(json)?;
        let map = match value {
            serde_json::Value::Null => return Ok(()),
            serde_json::Value::Object(map) => map,
            other => {
                return Err(ConnectError::FieldType {
                    field: String::new(),
                    found: kind(&other),
                })
            }
        };
        let mut next = self.clone();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            let field = key.to_ascii_lowercase();
            let type_error = |value: &serde_json::Value| ConnectError::FieldType {
                field: key.clone(),
                found: kind(value),
            };
            let flag = |value: &serde_json::Value| value.as_bool().ok_or_else(|| type_error(value));
            let text = |value: &serde_json::Value| value.as_str().map(str::to_string).ok_or_else(|| type_error(value));
            match field.as_str() {
                "verbose" => next.verbose = flag(&value)?,
                "pedantic" => next.pedantic = flag(&value)?,
                "tls_required" => next.tls_required = flag(&value)?,
                "echo" => next.echo = flag(&value)?,
                "headers" => next.headers = flag(&value)?,
                "no_responders" => next.no_responders = flag(&value)?,
                "name" => next.name = text(&value)?,
                "lang" => next.lang = text(&value)?,
                "version" => next.version = text(&value)?,
                "user" => next.user = Some(text(&value)?),
                "pass" => next.pass = Some(text(&value)?),
                "auth_token" => next.auth_token = Some(text(&value)?),
                "nkey" => next.nkey = Some(text(&value)?),
                "sig" => next.sig = Some(text(&value)?),
                "jwt" => next.jwt = Some(text(&value)?),
                "protocol" => next.protocol = value.as_i64().ok_or_else(|| type_error(&value))?,
                "account" | "new_account" => return Err(ConnectError::Deprecated),
                _ => {}
            }
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_defaults_and_overlay_match_nats_server() {
        let mut opts = ConnectOptions::default();
        opts.apply(b"{}").unwrap();
        assert!(opts.verbose && opts.pedantic && opts.echo);
        assert!(!opts.headers && !opts.no_responders);
        opts.apply(br#"{"verbose":false,"pedantic":false,"lang":"rust","unknown":[1],"headers":true}"#)
            .unwrap();
        assert!(!opts.verbose && !opts.pedantic && opts.headers);
        assert_eq!(opts.lang, "rust");
        // A second CONNECT changes only what it names.
        opts.apply(br#"{"verbose":true}"#).unwrap();
        assert!(opts.verbose && !opts.pedantic && opts.headers);
        assert!(opts.apply(b"{bad").is_err());
        opts.apply(br#"{"VERBOSE":false,"pedantic":null}"#).unwrap();
        assert!(!opts.verbose && !opts.pedantic);
        opts.apply(b"null").unwrap();
        assert!(matches!(
            opts.apply(br#"{"account":"A"}"#),
            Err(ConnectError::Deprecated)
        ));
        assert!(opts.apply(br#"{"protocol":"1"}"#).is_err());
        assert!(opts.apply(br#"{"verbose":"yes"}"#).is_err());
    }

    #[test]
    fn info_field_order_and_omission() {
        let info = Info {
            server_id: "NID".into(),
            server_name: "n".into(),
            version: "2.10.0".into(),
            proto: 1,
            go: "rust".into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            max_payload: 1024,
            client_id: 3,
            client_ip: "127.0.0.1".into(),
            ..Info::default()
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"server_id":"NID","server_name":"n","version":"2.10.0","proto":1,"go":"rust","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1024,"client_id":3,"client_ip":"127.0.0.1"}"#
        );
    }
}
