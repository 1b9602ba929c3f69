//! The `jetstream` block (and `-js`, `--store_dir`): nats-server's keys, aliases and errors
//! (`parseJetStream`, server/opts.go).

use std::time::Duration;

use super::format::{ConfError, Located, Location, Value};
use super::options;

/// When a stream's appends are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After the fsync that covers them: Natrix's default, and what `sync_interval: always`
    /// asks of nats-server.
    Always,
    /// After their write, with an fsync every interval: nats-server's default (2 minutes), here
    /// only when `sync_interval` is set to a duration (docs/compatibility.md).
    Interval(Duration),
}

/// JetStream's settings; present when JetStream is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamSettings {
    /// Where streams are stored (`store_dir`, `-sd`); empty for the default, which the binary
    /// resolves (the system's temporary directory, as nats-server).
    pub store_dir: String,
    /// Most bytes of memory storage (`max_memory_store`); -1 for the default.
    pub max_memory: i64,
    /// Most bytes of file storage (`max_file_store`); -1 for the default.
    pub max_store: i64,
    /// The JetStream domain (`domain`).
    pub domain: Option<String>,
    /// When appends are acknowledged (`sync_interval`).
    pub sync: SyncPolicy,
    /// Refuse API requests with unknown fields (`strict`, on by default).
    pub strict: bool,
    /// The placement tag that must differ between replicas (`unique_tag`; accepted, one
    /// server has no replicas).
    pub unique_tag: Option<String>,
    /// The directory is the default one under the system's temporary directory (nats-server
    /// warns that it may not survive a reboot).
    pub temporary: bool,
}

impl Default for JetStreamSettings {
    fn default() -> Self {
        JetStreamSettings {
            store_dir: String::new(),
            max_memory: -1,
            max_store: -1,
            domain: None,
            sync: SyncPolicy::Always,
            strict: true,
            unique_tag: None,
            temporary: false,
        }
    }
}

/// What the block said besides the settings.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Whether JetStream is enabled (`jetstream: disabled`, `enabled: false` turn it off).
    pub enabled: bool,
    /// Keys nats-server knows that Natrix does not implement, with where they are.
    pub not_implemented: Vec<(String, Location)>,
    /// A `store_dir` given inside the block (nats-server refuses one given twice).
    pub store_dir_set: bool,
}

fn err(at: &Location, message: String) -> ConfError {
    ConfError {
        at: Some(at.clone()),
        message,
    }
}

/// A size as nats-server's `getStorageSize` reads one: an integer, or a string ending in K, M,
/// G or T (powers of 1024).
pub fn storage_size(value: &Located) -> Result<i64, String> {
    match &value.value {
        Value::Int(n) => Ok(*n),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => {
            let (prefix, suffix) = s.split_at(s.len() - s.chars().last().map_or(0, char::len_utf8));
            let number: i64 = prefix
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {prefix:?}: invalid syntax"))?;
            let shift = match suffix {
                "K" => 10,
                "M" => 20,
                "G" => 30,
                "T" => 40,
                _ => return Err("sizes defined as strings must end in K, M, G, T".to_string()),
            };
            Ok(number.saturating_mul(1 << shift))
        }
        _ => Err("must be int64 or string".to_string()),
    }
}

/// Reads the `jetstream` value into `settings`: a bool, `enabled`/`disabled`, or a block.
pub fn parse(value: &Located, settings: &mut JetStreamSettings) -> Result<Parsed, Vec<ConfError>> {
    let mut parsed = Parsed {
        enabled: true,
        ..Parsed::default()
    };
    let map = match &value.value {
        Value::Bool(b) => {
            parsed.enabled = *b;
            return Ok(parsed);
        }
        Value::String(s) => {
            parsed.enabled = match s.to_ascii_lowercase().as_str() {
                "enabled" | "enable" => true,
                "disabled" | "disable" => false,
                _ => {
                    return Err(vec![err(
                        &value.at,
                        format!("Expected 'enabled' or 'disabled' for string value, got '{s}'"),
                    )])
                }
            };
            return Ok(parsed);
        }
        Value::Map(map) => map,
        other => {
            return Err(vec![err(
                &value.at,
                format!("Expected map, bool or string to define JetStream, got {}", other.kind()),
            )])
        }
    };
    let mut errors = Vec::new();
    for (key, key_at, v) in &map.entries {
        let result: Result<(), ConfError> = (|| {
            let at_value = |e: ConfError| err(&v.at, e.message);
            match key.to_ascii_lowercase().as_str() {
                "strict" => match v.value {
                    Value::Bool(b) => settings.strict = b,
                    _ => {
                        return Err(err(
                            &v.at,
                            format!("Expected 'true' or 'false' for bool value, got '{}'", v.value.kind()),
                        ))
                    }
                },
                "store" | "store_dir" | "storedir" => {
                    if !settings.store_dir.is_empty() {
                        return Err(err(&v.at, "Duplicate 'store_dir' configuration".to_string()));
                    }
                    settings.store_dir = options::string(key, v).map_err(at_value)?;
                    parsed.store_dir_set = true;
                }
                "sync" | "sync_interval" => {
                    settings.sync = match &v.value {
                        Value::String(s) if s.eq_ignore_ascii_case("always") => SyncPolicy::Always,
                        Value::Int(n) if *n >= 0 => SyncPolicy::Interval(Duration::from_secs(*n as u64)),
                        _ => SyncPolicy::Interval(options::strict_duration(key, v).map_err(at_value)?),
                    }
                }
                "max_memory_store" | "max_mem_store" | "max_mem" => {
                    settings.max_memory = storage_size(v).map_err(|e| err(&v.at, format!("max_mem_store {e}")))?;
                }
                "max_file_store" | "max_file" => {
                    settings.max_store = storage_size(v).map_err(|e| err(&v.at, format!("max_file_store {e}")))?;
                }
                "domain" => settings.domain = Some(options::string(key, v).map_err(at_value)?),
                "enable" | "enabled" => parsed.enabled = options::boolean(key, v).map_err(at_value)?,
                "unique_tag" => {
                    settings.unique_tag = Some(options::string(key, v).map_err(at_value)?.trim().to_ascii_lowercase())
                }
                // Checked as nats-server checks them, then named in the start-up warning: they
                // limit buffers and clustering Natrix does not have.
                "max_buffered_size" | "max_outstanding_catchup" | "meta_compact_size" => {
                    storage_size(v).map_err(|e| err(&v.at, format!("{} {e}", key.to_ascii_lowercase())))?;
                    parsed
                        .not_implemented
                        .push((format!("jetstream.{key}"), key_at.clone()));
                }
                "max_buffered_msgs" | "request_queue_limit" | "info_queue_limit" => {
                    if !matches!(v.value, Value::Int(_)) {
                        return Err(err(
                            &v.at,
                            format!("Expected a parseable size for {key:?}, got {}", v.value.kind()),
                        ));
                    }
                    parsed
                        .not_implemented
                        .push((format!("jetstream.{key}"), key_at.clone()));
                }
                "key"
                | "ek"
                | "encryption_key"
                | "prev_key"
                | "prev_ek"
                | "prev_encryption_key"
                | "cipher"
                | "extension_hint"
                | "limits"
                | "tpm"
                | "meta_compact"
                | "meta_compact_sync"
                | "max_concurrent_io" => parsed
                    .not_implemented
                    .push((format!("jetstream.{key}"), key_at.clone())),
                _ => {
                    if !map.used_as_variables.iter().any(|u| u == key) {
                        return Err(err(key_at, format!("unknown field {key:?}")));
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

pub use crate::auth::settings::AccountLimits;

/// An account's `jetstream` value: `None` when it disables JetStream, else its limits.
/// Errors read as nats-server's (server/opts.go: parseJetStreamForAccount); unknown keys are
/// collected in `unknown` (nats-server reports them all).
pub fn parse_account(value: &Value, at: &Location) -> Result<(Option<AccountLimits>, Vec<ConfError>), ConfError> {
    match value {
        Value::Bool(enabled) => Ok((enabled.then(AccountLimits::default), Vec::new())),
        Value::String(text) => match text.to_ascii_lowercase().as_str() {
            "enabled" | "enable" => Ok((Some(AccountLimits::default()), Vec::new())),
            "disabled" | "disable" => Ok((None, Vec::new())),
            _ => Err(err(
                at,
                format!("Expected 'enabled' or 'disabled' for string value, got '{text}'"),
            )),
        },
        Value::Map(map) => {
            let mut limits = AccountLimits::default();
            let mut unknown = Vec::new();
            for (key, key_at, v) in &map.entries {
                let size = |target: &mut i64| match v.value {
                    Value::Int(n) => {
                        *target = n;
                        Ok(())
                    }
                    ref other => Err(err(
                        &v.at,
                        format!(
                            "Expected a parseable size for {key:?}, got {}",
                            super::security::go_value(other)
                        ),
                    )),
                };
                match key.to_ascii_lowercase().as_str() {
                    "max_memory" | "max_mem" | "mem" | "memory" => size(&mut limits.max_memory)?,
                    "max_store" | "max_file" | "max_disk" | "store" | "disk" => size(&mut limits.max_store)?,
                    "max_streams" | "streams" => size(&mut limits.max_streams)?,
                    "max_consumers" | "consumers" => size(&mut limits.max_consumers)?,
                    "mem_max_stream_bytes" | "memory_max_stream_bytes" => size(&mut limits.memory_max_stream_bytes)?,
                    "disk_max_stream_bytes" | "store_max_stream_bytes" => size(&mut limits.store_max_stream_bytes)?,
                    "max_ack_pending" => size(&mut limits.max_ack_pending)?,
                    "max_bytes_required" | "max_stream_bytes" | "max_bytes" => match v.value {
                        Value::Bool(b) => limits.max_bytes_required = b,
                        ref other => {
                            return Err(err(
                                &v.at,
                                format!(
                                    "Expected a parseable bool for {key:?}, got {}",
                                    super::security::go_value(other)
                                ),
                            ))
                        }
                    },
                    "cluster_traffic" => match &v.value {
                        Value::String(s) if matches!(s.as_str(), "system" | "owner" | "") => {}
                        Value::String(s) => {
                            return Err(err(
                                &v.at,
                                format!("Expected 'system' or 'owner' string value for {key:?}, got {s}"),
                            ))
                        }
                        other => {
                            return Err(err(
                                &v.at,
                                format!(
                                    "Expected either 'system' or 'owner' string value for {key:?}, got {}",
                                    super::security::go_value(other)
                                ),
                            ))
                        }
                    },
                    _ => {
                        if !map.used_as_variables.iter().any(|u| u == key) {
                            unknown.push(err(key_at, format!("unknown field {key:?}")));
                        }
                    }
                }
            }
            Ok((Some(limits), unknown))
        }
        other => Err(err(
            at,
            format!("Expected map, bool or string to define JetStream, got {}", other.kind()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::format::{parse as parse_file, Sources};

    struct NoSources;
    impl Sources for NoSources {
        fn read(&self, _: &str) -> Result<String, String> {
            Err("no files".into())
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn block(text: &str) -> Result<(JetStreamSettings, Parsed), Vec<ConfError>> {
        let map = parse_file("t.conf", text, &NoSources).expect("parses");
        let value = map.get("jetstream").expect("has jetstream");
        let mut settings = JetStreamSettings::default();
        let parsed = parse(value, &mut settings)?;
        Ok((settings, parsed))
    }

    #[test]
    fn a_block_sets_what_nats_server_reads() {
        let (settings, parsed) = block(
            "jetstream { store_dir: \"/data/js\", max_mem: 1G, max_file: \"2G\", domain: hub, \
             sync_interval: always, strict: false, unique_tag: \" AZ \" }",
        )
        .expect("valid");
        assert!(parsed.enabled);
        assert_eq!(settings.store_dir, "/data/js");
        // A bare 1G is the configuration format's size (10^9); a string is getStorageSize's (2^30).
        assert_eq!(settings.max_memory, 1_000_000_000);
        assert_eq!(settings.max_store, 2 << 30);
        assert_eq!(settings.domain.as_deref(), Some("hub"));
        assert_eq!(settings.sync, SyncPolicy::Always);
        assert!(!settings.strict);
        assert_eq!(settings.unique_tag.as_deref(), Some("az"));
    }

    #[test]
    fn an_interval_opts_out_of_syncing_every_ack() {
        let (settings, _) = block("jetstream { sync_interval: \"2m\" }").expect("valid");
        assert_eq!(settings.sync, SyncPolicy::Interval(Duration::from_secs(120)));
    }

    #[test]
    fn plain_values_enable_or_disable() {
        assert!(block("jetstream: enabled").expect("valid").1.enabled);
        assert!(!block("jetstream: disabled").expect("valid").1.enabled);
        assert!(!block("jetstream: false").expect("valid").1.enabled);
        assert!(!block("jetstream { enabled: false }").expect("valid").1.enabled);
        let errors = block("jetstream: maybe").expect_err("refused");
        assert_eq!(
            errors[0].message,
            "Expected 'enabled' or 'disabled' for string value, got 'maybe'"
        );
    }

    #[test]
    fn bad_keys_get_nats_server_errors() {
        let errors = block("jetstream { max_file: \"2X\", store_dir: a, storedir: b, what: 1 }").expect_err("refused");
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "max_file_store sizes defined as strings must end in K, M, G, T",
                "Duplicate 'store_dir' configuration",
                "unknown field \"what\"",
            ]
        );
    }
}
