//! What monitoring reads of JetStream (`/jsz`, `/varz`'s `jetstream` section and their `$SYS`
//! forms): usage over the whole server and per account, and each stream's details. Monitoring
//! turns these into nats-server's JSON; JetStream only counts.

use super::api::{self, StreamState};
use super::config::{Storage, StreamConfig};
use super::JetStream;

/// Usage over every account (nats-server's `JetStreamStats` and the totals `/jsz` adds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes held by memory streams.
    pub memory: u64,
    /// Bytes held by file streams.
    pub storage: u64,
    /// Bytes memory streams reserve through `max_bytes`.
    pub reserved_memory: u64,
    /// Bytes file streams reserve through `max_bytes`.
    pub reserved_storage: u64,
    /// Accounts with JetStream.
    pub accounts: u64,
    /// API requests answered.
    pub api_total: u64,
    /// API requests answered with an error.
    pub api_errors: u64,
    /// Streams.
    pub streams: u64,
    /// Consumers.
    pub consumers: u64,
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// One account's JetStream, as `/jsz?accounts=true` shows it.
#[derive(Debug)]
pub struct AccountUsage<'a> {
    /// The account's name.
    pub name: &'a str,
    /// Bytes held by its memory streams.
    pub memory: u64,
    /// Bytes held by its file streams.
    pub storage: u64,
    /// Its API requests answered.
    pub api_total: u64,
    /// Its API requests answered with an error.
    pub api_errors: u64,
    /// Its streams, by name.
    pub streams: Vec<StreamReport<'a>>,
    /// Its limits.
    pub limits: crate::config::jetstream::AccountLimits,
}

/// One stream, as `/jsz?streams=true` shows it.
#[derive(Debug)]
pub struct StreamReport<'a> {
    /// Its configuration.
    pub config: &'a StreamConfig,
    /// When it was created, Unix nanoseconds.
    pub created: i64,
    /// Its state, as STREAM.INFO gives it without details.
    pub state: StreamState,
    /// Why it takes no more writes, if a write or sync failed.
    pub failed: Option<&'a str>,
}

impl JetStream {
    /// Usage over every account.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage {
            accounts: self.accounts.len() as u64,
            streams: self.streams.len() as u64,
            ..Usage::default()
        };
        for stream in self.streams.values() {
            let state = stream.store.state();
            let reserved = u64::try_from(stream.config.max_bytes).unwrap_or(0);
            match stream.config.storage {
                Storage::Memory => {
                    usage.memory += state.bytes;
                    usage.reserved_memory += reserved;
                }
                Storage::File => {
                    usage.storage += state.bytes;
                    usage.reserved_storage += reserved;
                }
            }
            usage.messages += state.msgs;
            usage.bytes += state.bytes;
        }
        for (total, errors) in self.api.values() {
            usage.api_total += total;
            usage.api_errors += errors;
        }
        usage
    }

    /// Every account with JetStream, by name, with its streams when `streams` is set.
    pub fn account_usage(&self, streams: bool) -> Vec<AccountUsage<'_>> {
        let mut accounts: Vec<AccountUsage<'_>> = self
            .accounts
            .iter()
            .map(|(id, name)| {
                let (api_total, api_errors) = self.api.get(id).copied().unwrap_or_default();
                let mut account = AccountUsage {
                    name,
                    memory: 0,
                    storage: 0,
                    api_total,
                    api_errors,
                    streams: Vec::new(),
                    limits: self.limits.get(id).copied().unwrap_or_default(),
                };
                for (sid, stream) in self.streams.iter().filter(|(_, s)| s.account == *id) {
                    let bytes = stream.store.state().bytes;
                    match stream.config.storage {
                        Storage::Memory => account.memory += bytes,
                        Storage::File => account.storage += bytes,
                    }
                    if streams {
                        account.streams.push(StreamReport {
                            config: &stream.config,
                            created: stream.created,
                            state: self.state(*sid, &api::InfoRequest::default()),
                            failed: stream.failed.as_deref(),
                        });
                    }
                }
                account.streams.sort_by_key(|s| s.created);
                account
            })
            .collect();
        accounts.sort_by(|a, b| a.name.cmp(b.name));
        accounts
    }

    /// This server's name: every stream's leader.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }
}
