//! StreamConfig: its JSON as nats-server reads and writes it (field names, order, what is left
//! out when empty), the defaults it fills in and the checks it makes (`checkStreamCfg`,
//! server/stream.go), with nats-server's error texts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use crate::subject;

/// Nanoseconds in 100 ms: the smallest `max_age` and `duplicate_window`.
const MIN_WINDOW: i64 = 100_000_000;
/// The default duplicate window: two minutes.
const DEFAULT_DUPLICATES: i64 = 120_000_000_000;
/// Longest stream name (JSMaxNameLen).
const MAX_NAME_LEN: usize = 255;
/// Longest description (JSMaxDescriptionLen).
const MAX_DESCRIPTION_LEN: usize = 4 * 1024;
/// Most metadata bytes (JSMaxMetadataLen).
const MAX_METADATA_LEN: usize = 128 * 1024;

/// When messages are removed besides the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    /// Only the limits remove messages.
    #[default]
    Limits,
    /// Removed once every consumer interested has acknowledged them.
    Interest,
    /// Removed once acknowledged.
    Workqueue,
}

/// What a full stream does with a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Discard {
    /// Removes the oldest.
    #[default]
    Old,
    /// Refuses the new one.
    New,
}

/// Where messages are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// On disk.
    #[default]
    File,
    /// In memory.
    Memory,
}

/// Compression of stored messages (accepted; Natrix stores uncompressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// None.
    #[default]
    None,
    /// S2.
    S2,
}

/// Defaults for the stream's consumers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConsumerLimits {
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inactive_threshold: i64,
    /// Most acks pending per consumer.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ack_pending: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

/// A stream's configuration, in nats-server's JSON field order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// The name.
    pub name: String,
    /// A description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Subjects stored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Retention.
    pub retention: Retention,
    /// Most consumers; -1 without limit.
    pub max_consumers: i64,
    /// Most messages; -1 without limit.
    pub max_msgs: i64,
    /// Most bytes; -1 without limit.
    pub max_bytes: i64,
    /// Oldest message kept, nanoseconds; 0 without limit.
    pub max_age: i64,
    /// Most messages per subject; -1 without limit.
    pub max_msgs_per_subject: i64,
    /// Largest message; -1 without limit.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub max_msg_size: i32,
    /// Discard policy.
    pub discard: Discard,
    /// Storage.
    pub storage: Storage,
    /// Replicas (1 on a single server).
    pub num_replicas: i64,
    /// Publishes are not acknowledged.
    #[serde(skip_serializing_if = "is_false")]
    pub no_ack: bool,
    /// The window in which a `Nats-Msg-Id` is stored once, nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicate_window: i64,
    /// Placement (one server: kept as given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<serde_json::Value>,
    /// A mirror (not supported yet: refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<serde_json::Value>,
    /// Sources (not supported yet: refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<serde_json::Value>>,
    /// Compression.
    pub compression: Compression,
    /// The first sequence.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub first_seq: u64,
    /// A transform of subjects on input (not supported yet: refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<serde_json::Value>,
    /// Republishing (not supported yet: refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republish: Option<serde_json::Value>,
    /// Direct get is allowed.
    pub allow_direct: bool,
    /// Direct get from mirrors.
    pub mirror_direct: bool,
    /// Discard new per subject.
    #[serde(skip_serializing_if = "is_false")]
    pub discard_new_per_subject: bool,
    /// No more changes.
    pub sealed: bool,
    /// Messages may not be deleted.
    pub deny_delete: bool,
    /// The stream may not be purged.
    pub deny_purge: bool,
    /// `Nats-Rollup` headers are allowed.
    pub allow_rollup_hdrs: bool,
    /// Consumer defaults.
    pub consumer_limits: ConsumerLimits,
    /// Per-message TTLs are allowed.
    pub allow_msg_ttl: bool,
    /// Subject delete markers' TTL, nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub subject_delete_marker_ttl: i64,
    /// Counter streams.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_msg_counter: bool,
    /// Atomic batch publishing.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_atomic: bool,
    /// Message schedules.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_msg_schedules: bool,
    /// Persist mode.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub persist_mode: String,
    /// Batched publishing.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_batched: bool,
    /// The user's metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// nats-server's `pedantic` flag, which STREAM.CREATE and UPDATE take beside the
    /// configuration (StreamConfigRequest); accepted so `strict` does not refuse it, never
    /// stored or shown.
    #[serde(skip_serializing)]
    pub pedantic: bool,
}

/// Whether `name` may name a stream (no whitespace, `.`, `*`, `>`, `/` or `\`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains([' ', '\t', '\r', '\n', '\x0c', '.', '*', '>', '\\', '/'])
}

impl StreamConfig {
    /// The configuration as stored: defaults filled in, checked as nats-server checks a new
    /// stream's.
    pub fn checked(&self) -> Result<StreamConfig, ApiError> {
        let mut cfg = self.clone();
        if !valid_name(&cfg.name) {
            return Err(ApiError::invalid_config(
                "stream name is required and can not contain '.', '*', '>', '\\', '/'",
            ));
        }
        if cfg.name.len() > MAX_NAME_LEN {
            return Err(ApiError::invalid_config(format!(
                "stream name is too long, maximum allowed is {MAX_NAME_LEN}"
            )));
        }
        if cfg.description.len() > MAX_DESCRIPTION_LEN {
            return Err(ApiError::invalid_config(format!(
                "stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}"
            )));
        }
        let metadata: usize = cfg.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata > MAX_METADATA_LEN {
            return Err(ApiError::invalid_config(format!(
                "stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes"
            )));
        }
        if cfg.num_replicas == 0 {
            cfg.num_replicas = 1;
        }
        if cfg.num_replicas > 5 {
            return Err(ApiError::invalid_config("maximum replicas is 5"));
        }
        if cfg.num_replicas < 0 {
            return Err(ApiError::invalid_config("replicas count cannot be negative"));
        }
        for limit in [
            &mut cfg.max_msgs,
            &mut cfg.max_msgs_per_subject,
            &mut cfg.max_bytes,
            &mut cfg.max_consumers,
        ] {
            if *limit == 0 || *limit < -1 {
                *limit = -1;
            }
        }
        if cfg.max_msg_size == 0 || cfg.max_msg_size < -1 {
            cfg.max_msg_size = -1;
        }
        if cfg.max_age < 0 {
            return Err(ApiError::invalid_config("max age can not be negative"));
        }
        if cfg.max_age != 0 && cfg.max_age < MIN_WINDOW {
            return Err(ApiError::invalid_config("max age needs to be >= 100ms"));
        }
        if cfg.duplicate_window == 0 && cfg.mirror.is_none() && cfg.sources.is_none() {
            cfg.duplicate_window = if cfg.max_age != 0 && cfg.max_age < DEFAULT_DUPLICATES {
                cfg.max_age
            } else {
                DEFAULT_DUPLICATES
            };
        }
        if cfg.duplicate_window < 0 {
            return Err(ApiError::invalid_config("duplicates window can not be negative"));
        }
        if cfg.max_age != 0 && cfg.duplicate_window > cfg.max_age {
            return Err(ApiError::invalid_config(
                "duplicates window can not be larger then max age",
            ));
        }
        if cfg.duplicate_window > 0 && cfg.duplicate_window < MIN_WINDOW {
            return Err(ApiError::invalid_config("duplicates window needs to be >= 100ms"));
        }
        if cfg.deny_purge && cfg.allow_rollup_hdrs {
            return Err(ApiError::invalid_config("roll-ups require the purge permission"));
        }
        if cfg.discard_new_per_subject {
            if cfg.discard != Discard::New {
                return Err(ApiError::invalid_config(
                    "discard new per subject requires discard new policy to be set",
                ));
            }
            if cfg.max_msgs_per_subject <= 0 {
                return Err(ApiError::invalid_config(
                    "discard new per subject requires max msgs per subject > 0",
                ));
            }
        }
        if cfg.mirror.is_some() || cfg.sources.is_some() {
            return Err(ApiError::create_failed(
                "mirrors and sources are not supported by this server yet",
            ));
        }
        if cfg.subject_transform.is_some() || cfg.republish.is_some() {
            return Err(ApiError::create_failed(
                "subject transforms and republish are not supported by this server yet",
            ));
        }
        if cfg.retention != Retention::Limits {
            return Err(ApiError::create_failed(
                "interest and workqueue retention are not supported by this server yet",
            ));
        }
        if cfg.subjects.is_empty() {
            cfg.subjects.push(cfg.name.clone());
        }
        for (i, subj) in cfg.subjects.iter().enumerate() {
            if !subject::is_valid_subject(subj.as_bytes()) {
                return Err(ApiError::invalid_config("invalid subject"));
            }
            if cfg.subjects[..i].contains(subj) {
                return Err(ApiError::invalid_config("duplicate subjects detected"));
            }
            if subj == ">" && !cfg.no_ack {
                return Err(ApiError::invalid_config(
                    "capturing all subjects requires no-ack to be true",
                ));
            }
            if !cfg.no_ack {
                for namespace in ["$JS.>", "$JSC.>", "$NRG.>"] {
                    if subject::collide(subj.as_bytes(), namespace.as_bytes())
                        && !subject::is_subset(subj.as_bytes(), b"$JS.EVENT.>")
                    {
                        return Err(ApiError::invalid_config(
                            "subjects that overlap with jetstream api require no-ack to be true",
                        ));
                    }
                }
                if subject::collide(subj.as_bytes(), b"$SYS.>")
                    && !subject::is_subset(subj.as_bytes(), b"$SYS.ACCOUNT.>")
                {
                    return Err(ApiError::invalid_config(
                        "subjects that overlap with system api require no-ack to be true",
                    ));
                }
            }
            for other in &cfg.subjects[i + 1..] {
                if subject::collide(other.as_bytes(), subj.as_bytes()) {
                    return Err(ApiError::invalid_config(format!(
                        "subject {subj:?} overlaps with {other:?}"
                    )));
                }
            }
        }
        if cfg.num_replicas > 1 {
            return Err(ApiError::replicas_not_supported());
        }
        Ok(cfg)
    }

    /// Why `self` (checked) may not replace `old`, if it may not (`configUpdateCheck`).
    pub fn update_refused(&self, old: &StreamConfig) -> Option<ApiError> {
        if self.storage != old.storage {
            return Some(ApiError::update_failed(
                "stream configuration update can not change storage type",
            ));
        }
        if self.retention != old.retention {
            return Some(ApiError::update_failed(
                "stream configuration update can not change retention policy",
            ));
        }
        if old.sealed && !self.sealed {
            return Some(ApiError::update_failed(
                "stream configuration update can not unseal a sealed stream",
            ));
        }
        if old.deny_delete && !self.deny_delete {
            return Some(ApiError::update_failed(
                "stream configuration update can not cancel deny message deletes",
            ));
        }
        if old.deny_purge && !self.deny_purge {
            return Some(ApiError::update_failed(
                "stream configuration update can not cancel deny purge",
            ));
        }
        if self.first_seq != old.first_seq {
            return Some(ApiError::update_failed(
                "stream configuration update can not change first sequence",
            ));
        }
        None
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        match raw.as_str() {
            Some("limits") => Ok(Retention::Limits),
            Some("interest") => Ok(Retention::Interest),
            Some("workqueue") => Ok(Retention::Workqueue),
            _ => Err(serde::de::Error::custom(go_unmarshal_error(&raw))),
        }
    }
}

impl<'de> Deserialize<'de> for Discard {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        match raw.as_str() {
            Some("old") => Ok(Discard::Old),
            Some("new") => Ok(Discard::New),
            _ => Err(serde::de::Error::custom(go_unmarshal_error(&raw))),
        }
    }
}

impl<'de> Deserialize<'de> for Storage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        match raw.as_str() {
            Some("file") => Ok(Storage::File),
            Some("memory") => Ok(Storage::Memory),
            _ => Err(serde::de::Error::custom(go_unmarshal_error(&raw))),
        }
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        match raw.as_str() {
            Some("none") => Ok(Compression::None),
            Some("s2") => Ok(Compression::S2),
            _ => Err(serde::de::Error::custom(go_unmarshal_error(&raw))),
        }
    }
}

/// nats-server's text for an enum value it does not know: `can not unmarshal "\"disk\""`
/// (its `UnmarshalJSON` quotes the raw JSON).
fn go_unmarshal_error(raw: &serde_json::Value) -> String {
    format!("can not unmarshal {:?}", raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_filled_in_as_nats_server_does() {
        let cfg: StreamConfig = serde_json::from_str(r#"{"name":"ORDERS"}"#).expect("parses");
        let cfg = cfg.checked().expect("valid");
        assert_eq!(cfg.subjects, ["ORDERS"]);
        assert_eq!(
            (cfg.max_msgs, cfg.max_bytes, cfg.max_msg_size, cfg.max_consumers),
            (-1, -1, -1, -1)
        );
        assert_eq!(cfg.duplicate_window, DEFAULT_DUPLICATES);
        assert_eq!(cfg.num_replicas, 1);
        let json = serde_json::to_string(&cfg).expect("serializes");
        assert!(
            json.starts_with(r#"{"name":"ORDERS","subjects":["ORDERS"],"retention":"limits","max_consumers":-1"#),
            "{json}"
        );
    }

    #[test]
    fn a_short_max_age_shortens_the_duplicate_window() {
        let cfg = StreamConfig {
            name: "S".into(),
            max_age: 1_000_000_000,
            ..StreamConfig::default()
        };
        assert_eq!(cfg.checked().expect("valid").duplicate_window, 1_000_000_000);
        let cfg = StreamConfig {
            name: "S".into(),
            max_age: 1,
            ..StreamConfig::default()
        };
        assert_eq!(
            cfg.checked().expect_err("refused").description,
            "max age needs to be >= 100ms"
        );
    }

    #[test]
    fn bad_names_and_subjects_get_nats_server_texts() {
        for name in ["", "A.B", "A*", "a/b"] {
            let cfg = StreamConfig {
                name: name.into(),
                ..StreamConfig::default()
            };
            assert_eq!(cfg.checked().expect_err("refused").err_code, 10052, "{name}");
        }
        let cfg = StreamConfig {
            name: "S".into(),
            subjects: vec!["a.*".into(), "a.b".into()],
            ..StreamConfig::default()
        };
        assert_eq!(
            cfg.checked().expect_err("refused").description,
            "subject \"a.*\" overlaps with \"a.b\""
        );
    }
}
