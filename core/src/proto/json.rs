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

/// The INFO a server sends on accept (and later, asynchronously, on changes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
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
    /// Largest message accepted.
    pub max_payload: usize,
    /// Whether JetStream is enabled.
    #[serde(default, skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// The connection's id on this server.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_id: u64,
    /// The client's address as the server sees it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    /// URLs of other servers in the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Set while the server is in lame duck mode.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ldm: bool,
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
        }
    }
}

/// The fields a CONNECT carries; absent ones leave the current value alone.
#[derive(Debug, Deserialize)]
struct ConnectPatch {
    verbose: Option<bool>,
    pedantic: Option<bool>,
    tls_required: Option<bool>,
    echo: Option<bool>,
    name: Option<String>,
    lang: Option<String>,
    version: Option<String>,
    protocol: Option<i64>,
    headers: Option<bool>,
    no_responders: Option<bool>,
    user: Option<String>,
    pass: Option<String>,
    auth_token: Option<String>,
}

impl ConnectOptions {
    /// Decodes a CONNECT's JSON on top of these options.
    pub fn apply(&mut self, json: &[u8]) -> Result<(), serde_json::Error> {
        let patch: ConnectPatch = serde_json::from_slice(json)?;
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = patch.$field { self.$field = v; } )* };
        }
        set!(verbose, pedantic, tls_required, echo, name, lang, version, protocol, headers, no_responders);
        if patch.user.is_some() {
            self.user = patch.user;
        }
        if patch.pass.is_some() {
            self.pass = patch.pass;
        }
        if patch.auth_token.is_some() {
            self.auth_token = patch.auth_token;
        }
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
