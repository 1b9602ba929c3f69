//! The `tls` block: where the certificates are and how clients must use them (nats-server's
//! `parseTLS` and `TLSConfigOpts`, server/opts.go). Loading the files and building the rustls
//! configuration is the drivers' job (`natrix_driver::tls`); this is only what the file says.

use std::time::Duration;

use super::duration;
use super::format::{ConfError, Located, Value};

/// nats-server's default TLS handshake timeout (`TLS_TIMEOUT`).
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `handshake_first: auto` waits for a client's TLS handshake before sending INFO in
/// plaintext (nats-server's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY`).
pub const DEFAULT_HANDSHAKE_FIRST_FALLBACK: Duration = Duration::from_millis(50);

/// Lowest TLS version a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 (nats-server's default minimum).
    #[default]
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// What the `tls` block says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM).
    pub cert_file: String,
    /// The server's private key (PEM).
    pub key_file: String,
    /// CAs that client certificates must chain to (PEM).
    pub ca_file: Option<String>,
    /// Clients must present a certificate signed by `ca_file`.
    pub verify: bool,
    /// Like `verify`, and the certificate names the user (no password needed).
    pub verify_and_map: bool,
    /// How long the handshake may take.
    pub timeout: Duration,
    /// Start TLS before sending INFO (clients must be configured for it).
    pub handshake_first: bool,
    /// With `handshake_first`: how long to wait for the client's first bytes before falling back
    /// to INFO in plaintext and TLS after it, so clients of both kinds connect (`auto`, or a
    /// duration). `None`: only clients that start with TLS connect.
    pub handshake_first_fallback: Option<Duration>,
    /// Lowest protocol version accepted.
    pub min_version: TlsVersion,
}

impl TlsSettings {
    /// Whether clients must present certificates.
    pub fn verifies_clients(&self) -> bool {
        self.verify || self.verify_and_map
    }
}

/// `tls` keys nats-server knows that Natrix does not implement.
pub const TLS_NOT_YET_IMPLEMENTED: &[&str] = &[
    "cipher_suites",
    "curve_preferences",
    "insecure",
    "pinned_certs",
    "cert_store",
    "cert_match",
    "cert_match_by",
    "cert_match_skip_invalid",
    "ca_certs_match",
    "ocsp_peer",
    "certs",
    "connection_rate_limit",
    "verify_cert_and_check_known_urls",
    "allow_non_tls",
];

/// Parses a `tls` block. Keys nats-server knows but Natrix does not implement are returned by
/// name.
pub fn parse(block: &Located) -> Result<(TlsSettings, Vec<String>), ConfError> {
    let err = |at: &Located, message: String| ConfError {
        at: Some(at.at.clone()),
        message,
    };
    let Value::Map(map) = &block.value else {
        return Err(err(block, "error parsing tls config, expected a map".to_string()));
    };
    let mut cert_file = None;
    let mut key_file = None;
    let mut settings = TlsSettings {
        cert_file: String::new(),
        key_file: String::new(),
        ca_file: None,
        verify: false,
        verify_and_map: false,
        timeout: DEFAULT_TLS_TIMEOUT,
        handshake_first: false,
        handshake_first_fallback: None,
        min_version: TlsVersion::V1_2,
    };
    let mut not_implemented = Vec::new();
    for (key, key_at, value) in &map.entries {
        // nats-server places errors about a value at its key.
        let value = &Located {
            value: value.value.clone(),
            at: key_at.clone(),
        };
        let text = |what: &str| match &value.value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(err(
                value,
                format!("error parsing tls config, expected '{what}' to be filename"),
            )),
        };
        let flag = |what: &str| match value.value {
            Value::Bool(b) => Ok(b),
            _ => Err(err(
                value,
                format!("error parsing tls config, expected '{what}' to be a boolean"),
            )),
        };
        match key.to_ascii_lowercase().as_str() {
            "cert_file" => cert_file = Some(text("cert_file")?),
            "key_file" => key_file = Some(text("key_file")?),
            "ca_file" => settings.ca_file = Some(text("ca_file")?),
            "verify" => settings.verify = flag("verify")?,
            "map_and_verify" | "verify_and_map" => settings.verify_and_map = flag("verify_and_map")?,
            "timeout" => {
                settings.timeout = match &value.value {
                    Value::Int(n) if *n >= 0 => Duration::from_secs(*n as u64),
                    Value::Float(f) if *f >= 0.0 && f.is_finite() => Duration::from_secs_f64(*f),
                    Value::String(s) => duration::parse(s)
                        .map_err(|e| err(value, format!("error parsing tls config, 'timeout' {e}")))?,
                    _ => return Err(err(value, "error parsing tls config, 'timeout' wrong type".to_string())),
                }
            }
            "handshake_first" | "first" | "immediate" => {
                let (first, fallback) = match &value.value {
                    Value::Bool(b) => (*b, None),
                    Value::String(s) => match s.to_ascii_lowercase().as_str() {
                        "true" | "on" => (true, None),
                        "false" | "off" => (false, None),
                        "auto" | "auto_fallback" => (true, Some(DEFAULT_HANDSHAKE_FIRST_FALLBACK)),
                        _ => {
                            let delay = duration::parse(s)
                                .map_err(|_| err(value, format!("field {key:?}'s value {s:?} is invalid")))?;
                            // A zero delay means handshake first without a fallback.
                            (true, (!delay.is_zero()).then_some(delay))
                        }
                    },
                    other => {
                        return Err(err(
                            value,
                            format!("field {key:?} should be a boolean or a string, got {}", other.kind()),
                        ))
                    }
                };
                settings.handshake_first = first;
                settings.handshake_first_fallback = fallback;
            }
            "min_version" => {
                let v = text("min_version")?;
                settings.min_version = match v.as_str() {
                    "1.2" => TlsVersion::V1_2,
                    "1.3" => TlsVersion::V1_3,
                    "1.0" | "1.1" => return Err(err(value, format!("unsupported TLS version: {v:?}, minimum is 1.2"))),
                    _ => return Err(err(value, format!("unknown version: {v}"))),
                };
            }
            lower if TLS_NOT_YET_IMPLEMENTED.contains(&lower) => not_implemented.push(key.clone()),
            _ if map.used_as_variables.iter().any(|v| v == key) => {}
            _ => {
                return Err(ConfError {
                    at: Some(key_at.clone()),
                    message: format!("error parsing tls config, unknown field [{key:?}]"),
                })
            }
        }
    }
    match (cert_file, key_file) {
        (Some(cert), Some(key)) => {
            settings.cert_file = cert;
            settings.key_file = key;
        }
        (Some(_), None) => {
            return Err(err(block, "missing 'key_file' in TLS configuration".to_string()));
        }
        (None, Some(_)) => {
            return Err(err(block, "missing 'cert_file' in TLS configuration".to_string()));
        }
        (None, None) => {
            return Err(err(block, "missing 'cert_file' in TLS configuration".to_string()));
        }
    }
    Ok((settings, not_implemented))
}
