//! `/jsz` and the `jetstream` section of `/varz` (and `$SYS.REQ.SERVER.*.JSZ`), in
//! nats-server's shapes: its `JSInfo`, `JetStreamStats`, `JetStreamConfig` and
//! `AccountDetail`. The figures come from [`crate::jetstream::report`].
//!
//! Natrix advertises nats-server 2.10, so the API level of 2.11+ is not shown (`api` has no
//! `level`), as in STREAM.INFO's answers (docs/compatibility.md).

use serde::Serialize;

use super::{MonitorError, Report};
use crate::config::jetstream::SyncPolicy;
use crate::jetstream::api::{self, ClusterInfo, StreamState};
use crate::jetstream::config::StreamConfig;
use crate::jetstream::JetStream;
use crate::time::rfc3339;

/// nats-server's default sync interval, which it reports even with `sync_interval: always`.
const DEFAULT_SYNC_INTERVAL_NANOS: u64 = 120_000_000_000;

/// The consumers an account may have when nothing limits it: what nats-server's `limits` shows.
const DEFAULT_MAX_CONSUMERS: u64 = 1000;

/// What `/jsz` is asked for (nats-server's `JSzOptions`).
#[derive(Debug, Clone, Default)]
pub struct JszOptions {
    /// One account only (`acc`).
    pub account: Option<String>,
    /// Account details (`accounts`).
    pub accounts: bool,
    /// Stream details (`streams`; implies `accounts`).
    pub streams: bool,
    /// Consumer details (`consumers`; implies `streams`).
    pub consumers: bool,
    /// Configurations in the details (`config`).
    pub config: bool,
    /// Answer only if this server is the meta leader (`leader-only`).
    pub leader_only: bool,
    /// Accounts to skip (`offset`).
    pub offset: i64,
    /// Most accounts (`limit`; 0 is 1024).
    pub limit: i64,
}

/// nats-server's `JetStreamAPIStats` (without 2.11's `level`).
#[allow(missing_docs)]
#[derive(Debug, Serialize, Default)]
pub struct ApiStats {
    pub total: u64,
    pub errors: u64,
}

/// nats-server's `JetStreamStats`.
#[allow(missing_docs)]
#[derive(Debug, Serialize, Default)]
pub struct Stats {
    pub memory: u64,
    pub storage: u64,
    pub reserved_memory: u64,
    pub reserved_storage: u64,
    pub accounts: u64,
    pub ha_assets: u64,
    pub api: ApiStats,
}

/// nats-server's `JetStreamConfig`.
#[allow(missing_docs)]
#[derive(Debug, Serialize, Default)]
pub struct JsConfig {
    pub max_memory: i64,
    pub max_storage: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub store_dir: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub sync_interval: u64,
    #[serde(skip_serializing_if = "is_false")]
    pub sync_always: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub unique_tag: String,
    #[serde(skip_serializing_if = "is_false")]
    pub strict: bool,
}

/// nats-server's `JSLimitOpts`, as 2.15 reports it when nothing is configured.
#[allow(missing_docs)]
#[derive(Debug, Serialize)]
pub struct Limits {
    pub default_max_consumers: u64,
}

/// One stream in `/jsz?streams=true` (nats-server's `StreamDetail`).
#[allow(missing_docs)]
#[derive(Debug, Serialize)]
pub struct StreamDetail<'a> {
    pub name: &'a str,
    pub created: String,
    pub cluster: ClusterInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<&'a StreamConfig>,
    pub state: StreamState,
}

/// One account in `/jsz?accounts=true` (nats-server's `AccountDetail`).
#[allow(missing_docs)]
#[derive(Debug, Serialize)]
pub struct AccountDetail<'a> {
    pub name: &'a str,
    pub id: &'a str,
    #[serde(flatten)]
    pub stats: Stats,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stream_detail: Vec<StreamDetail<'a>>,
}

/// `/jsz` (nats-server's `JSInfo`).
#[allow(missing_docs)]
#[derive(Debug, Serialize)]
pub struct Jsz<'a> {
    #[serde(flatten)]
    pub stats: Stats,
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "is_false")]
    pub disabled: bool,
    pub config: JsConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub account_details: Vec<AccountDetail<'a>>,
    pub total: u64,
}

/// `/varz`'s `jetstream` (nats-server's `JetStreamVarz`): empty when JetStream is off.
#[allow(missing_docs)]
#[derive(Debug, Serialize, Default)]
pub struct JetStreamVarz {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<JsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The settings as nats-server's `JetStreamConfig` reports them. Natrix acknowledges only
/// after the fsync unless `sync_interval` names a duration, and says so with `sync_always`
/// (nats-server shows it only for `sync_interval: always`).
fn js_config(js: &JetStream) -> JsConfig {
    let settings = js.settings();
    let (sync_interval, sync_always) = match settings.sync {
        SyncPolicy::Always => (DEFAULT_SYNC_INTERVAL_NANOS, true),
        SyncPolicy::Interval(every) => (every.as_nanos() as u64, false),
    };
    JsConfig {
        max_memory: settings.max_memory,
        max_storage: settings.max_store,
        store_dir: settings.store_dir.clone(),
        sync_interval,
        sync_always,
        domain: settings.domain.clone().unwrap_or_default(),
        unique_tag: settings.unique_tag.clone().unwrap_or_default(),
        strict: settings.strict,
    }
}

fn stats(js: &JetStream) -> Stats {
    let usage = js.usage();
    Stats {
        memory: usage.memory,
        storage: usage.storage,
        reserved_memory: usage.reserved_memory,
        reserved_storage: usage.reserved_storage,
        accounts: usage.accounts,
        ha_assets: 0,
        api: ApiStats {
            total: usage.api_total,
            errors: usage.api_errors,
        },
    }
}

impl Report<'_> {
    /// `/varz`'s `jetstream` section.
    pub fn jetstream_varz(&self) -> JetStreamVarz {
        let Some(js) = self.jetstream else {
            return JetStreamVarz::default();
        };
        JetStreamVarz {
            config: Some(js_config(js)),
            stats: Some(stats(js)),
            limits: Some(Limits {
                default_max_consumers: DEFAULT_MAX_CONSUMERS,
            }),
        }
    }

    /// `/jsz`.
    pub fn jsz(&self, opts: &JszOptions) -> Result<Jsz<'_>, MonitorError> {
        let now = rfc3339(self.config.start_unix_nanos + self.now.as_nanos());
        let Some(js) = self.jetstream else {
            if opts.leader_only {
                return Err(MonitorError::BadRequest("filtered response: not leader".to_string()));
            }
            return Ok(Jsz {
                stats: Stats::default(),
                server_id: self.server_id.clone(),
                now,
                disabled: true,
                config: JsConfig::default(),
                limits: None,
                streams: 0,
                consumers: 0,
                messages: 0,
                bytes: 0,
                account_details: Vec::new(),
                total: 0,
            });
        };
        // One server is always its own meta leader, so `leader-only` answers.
        let streams = opts.streams || opts.consumers;
        let accounts_wanted = opts.accounts || (streams && opts.account.is_none());
        let usage = js.usage();
        let mut accounts = js.account_usage(streams);
        let total = accounts.len() as u64;
        let filtered = opts
            .account
            .as_deref()
            .and_then(|name| accounts.iter().position(|a| a.name == name));
        if let Some(at) = filtered {
            accounts = accounts.into_iter().skip(at).take(1).collect();
        } else if accounts_wanted {
            let limit = if opts.limit == 0 { 1024 } else { opts.limit };
            if limit > 0 {
                let offset = opts.offset.max(0) as usize;
                accounts = accounts.into_iter().skip(offset).take(limit as usize).collect();
            }
        } else {
            accounts.clear();
        }
        let server_name = js.server_name();
        let account_details = accounts
            .into_iter()
            .map(|account| AccountDetail {
                name: account.name,
                id: account.name,
                stats: Stats {
                    memory: account.memory,
                    storage: account.storage,
                    // The account's limits, as nats-server shows them: unsigned, so its "no
                    // limit" (-1) is 18446744073709551615.
                    reserved_memory: account.limits.max_memory as u64,
                    reserved_storage: account.limits.max_store as u64,
                    accounts: 0,
                    ha_assets: 0,
                    api: ApiStats {
                        total: account.api_total,
                        errors: account.api_errors,
                    },
                },
                stream_detail: account
                    .streams
                    .into_iter()
                    .map(|stream| StreamDetail {
                        name: &stream.config.name,
                        created: api::time(Some(stream.created)),
                        cluster: ClusterInfo {
                            leader: server_name.to_string(),
                        },
                        config: opts.config.then_some(stream.config),
                        state: stream.state,
                    })
                    .collect(),
            })
            .collect();
        Ok(Jsz {
            stats: stats(js),
            server_id: self.server_id.clone(),
            now,
            disabled: false,
            config: js_config(js),
            limits: Some(Limits {
                default_max_consumers: DEFAULT_MAX_CONSUMERS,
            }),
            streams: usage.streams,
            consumers: usage.consumers,
            messages: usage.messages,
            bytes: usage.bytes,
            account_details,
            total,
        })
    }
}
