//! The smaller endpoints: `/subsz`, `/routez`, `/gatewayz`, `/leafz`, `/accountz`, `/accstatz`,
//! and `/healthz` (`/jsz` is in [`super::jsz`]). Gateways and leaf nodes are not built yet,
//! so those answer what nats-server answers when they are off.
#![allow(missing_docs)] // The fields are nats-server's (docs/monitoring.md).

use serde::Serialize;

use super::connz::SubDetail;
use super::format::{rfc3339, serialize_go_float};
use super::Report;
use super::{MonitorError, Query};
use crate::subject;

/// nats-server's `SublistStats`.
#[derive(Debug, Serialize, Default, Clone)]
pub struct SublistStats {
    pub num_subscriptions: u64,
    pub num_cache: u64,
    pub num_inserts: u64,
    pub num_removes: u64,
    pub num_matches: u64,
    #[serde(serialize_with = "serialize_go_float")]
    pub cache_hit_rate: f64,
    pub max_fanout: u64,
    #[serde(serialize_with = "serialize_go_float")]
    pub avg_fanout: f64,
}

/// nats-server's `Subsz`.
#[derive(Debug, Serialize)]
pub struct Subsz {
    pub server_id: String,
    pub now: String,
    #[serde(flatten)]
    pub stats: SublistStats,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<SubDetail>,
}

/// How a subsz page is chosen.
#[derive(Debug, Clone, Default)]
pub struct SubszOptions {
    pub subs: bool,
    pub offset: i64,
    pub limit: i64,
    pub test: Option<String>,
    pub account: Option<String>,
}

impl SubszOptions {
    /// Reads the query, in nats-server's order.
    pub fn from_query(query: &Query<'_>) -> Result<Self, MonitorError> {
        let opts = SubszOptions {
            subs: query.boolean("subs")?,
            offset: query.int("offset")?,
            limit: query.int("limit")?,
            test: query.text("test").filter(|t| !t.is_empty()).map(str::to_string),
            account: query.text("acc").filter(|a| !a.is_empty()).map(str::to_string),
        };
        if let Some(test) = &opts.test {
            if !subject::is_valid_literal_subject(test.as_bytes()) {
                return Err(MonitorError::BadRequest(format!(
                    "invalid test subject, must be valid publish subject: {test}"
                )));
            }
        }
        Ok(opts)
    }
}

/// The routes, gateway and leaf node sections when none are configured.

#[derive(Debug, Serialize)]
pub struct Gatewayz {
    pub server_id: String,
    pub now: String,
    pub outbound_gateways: std::collections::BTreeMap<String, ()>,
    pub inbound_gateways: std::collections::BTreeMap<String, ()>,
}

#[derive(Debug, Serialize)]
pub struct Leafz {
    pub server_id: String,
    pub now: String,
    pub leafnodes: usize,
    pub leafs: Option<Vec<()>>,
}

#[derive(Debug, Serialize)]
pub struct Accountz {
    pub server_id: String,
    pub now: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_detail: Option<AccountInfo>,
}

#[derive(Debug, Serialize)]
pub struct AccountInfo {
    pub account_name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_system: bool,
    pub expired: bool,
    pub complete: bool,
    pub jetstream_enabled: bool,
    pub leafnode_connections: usize,
    pub client_connections: usize,
    pub subscriptions: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportInfo>,
    pub sublist_stats: SublistStats,
}

#[derive(Debug, Serialize)]
pub struct ExportInfo {
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct ImportInfo {
    pub subject: String,
    pub account: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub invalid: bool,
    pub share: bool,
    pub tracking: bool,
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Traffic {
    pub msgs: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct AccountStat {
    pub acc: String,
    pub conns: usize,
    pub leafnodes: usize,
    pub total_conns: usize,
    pub sent: Traffic,
    pub received: Traffic,
    pub slow_consumers: u64,
}

#[derive(Debug, Serialize)]
pub struct Accstatz {
    pub server_id: String,
    pub now: String,
    pub account_statz: Vec<AccountStat>,
}

#[derive(Debug, Serialize)]
pub struct Healthz {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report<'_> {
    fn now_text(&self) -> String {
        rfc3339(self.config.start_unix_nanos + self.now.as_nanos())
    }

    /// Sublist counters of one account, or of all.
    pub(crate) fn sublist_stats(&self, account: Option<&str>) -> SublistStats {
        let mut total = crate::sublist::SublistStats::default();
        for acc in self.accounts.iter().filter(|a| account.is_none_or(|n| a.name == n)) {
            let s = acc.sublist.stats();
            total.subscriptions += s.subscriptions - acc.internal_subs as u64;
            total.cache_entries += s.cache_entries;
            total.inserts += s.inserts - acc.internal_churn.0;
            total.removes += s.removes - acc.internal_churn.1;
            total.matches += s.matches;
            total.cache_hits += s.cache_hits;
            total.max_fanout = total.max_fanout.max(s.max_fanout);
            total.total_fanout += s.total_fanout;
        }
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        SublistStats {
            num_subscriptions: total.subscriptions,
            num_cache: total.cache_entries,
            num_inserts: total.inserts,
            num_removes: total.removes,
            num_matches: total.matches,
            cache_hit_rate: ratio(total.cache_hits, total.matches),
            max_fanout: total.max_fanout,
            avg_fanout: ratio(total.total_fanout, total.cache_entries),
        }
    }

    /// `/subsz`.
    pub fn subsz(&self, opts: &SubszOptions) -> Subsz {
        let stats = self.sublist_stats(opts.account.as_deref());
        let limit = if opts.limit <= 0 {
            super::connz::DEFAULT_LIMIT
        } else {
            opts.limit as usize
        };
        let offset = opts.offset.max(0) as usize;
        let mut list = Vec::new();
        if opts.subs {
            for acc in self
                .accounts
                .iter()
                .filter(|a| opts.account.as_ref().is_none_or(|n| &a.name == n))
            {
                for (_, sub) in acc.subs.iter() {
                    let Some(conn) = sub.subscriber.conn().and_then(|id| self.conn(id)) else {
                        continue;
                    };
                    if let Some(test) = &opts.test {
                        if sub.queue.is_none() && !subject::matches(&sub.subject, test.as_bytes()) {
                            continue;
                        }
                    }
                    list.push(SubDetail::of(sub, conn.cid, Some(acc.name.clone())));
                }
            }
            list.sort_by(|a, b| (a.cid, &a.sid).cmp(&(b.cid, &b.sid)));
        }
        let start = offset.min(list.len());
        let end = offset.saturating_add(limit).min(list.len());
        let page: Vec<SubDetail> = list.drain(start..end).collect();
        Subsz {
            server_id: self.server_id.clone(),
            now: self.now_text(),
            stats,
            total: page.len(),
            offset,
            limit,
            subscriptions_list: page,
        }
    }

    /// `/gatewayz`: no gateways.
    pub fn gatewayz(&self) -> Gatewayz {
        Gatewayz {
            server_id: self.server_id.clone(),
            now: self.now_text(),
            outbound_gateways: Default::default(),
            inbound_gateways: Default::default(),
        }
    }

    /// `/leafz`: no leaf nodes (`leafs` is null, as nats-server writes it).
    pub fn leafz(&self) -> Leafz {
        Leafz {
            server_id: self.server_id.clone(),
            now: self.now_text(),
            leafnodes: 0,
            leafs: None,
        }
    }

    fn system_account_name(&self) -> String {
        self.system_account
            .map(|id| self.accounts[id.0 as usize].name.clone())
            .unwrap_or_default()
    }

    /// `/accountz`, or one account's details with `acc`.
    pub fn accountz(&self, account: Option<&str>) -> Result<Accountz, MonitorError> {
        let mut out = Accountz {
            server_id: self.server_id.clone(),
            now: self.now_text(),
            system_account: self.system_account_name(),
            accounts: None,
            account_detail: None,
        };
        let Some(name) = account else {
            out.accounts = Some(self.accounts.iter().map(|a| a.name.clone()).collect());
            return Ok(out);
        };
        let Some((index, acc)) = self.accounts.iter().enumerate().find(|(_, a)| a.name == name) else {
            return Err(MonitorError::BadRequest(format!("Account {name} does not exist")));
        };
        let spec = self.config.accounts.iter().find(|s| s.name == name);
        out.account_detail = Some(AccountInfo {
            account_name: acc.name.clone(),
            is_system: self.system_account.map(|s| s.0 as usize) == Some(index),
            expired: false,
            complete: true,
            jetstream_enabled: self
                .jetstream
                .is_some_and(|js| js.enabled_for(crate::ids::AccountId(index as u32))),
            leafnode_connections: 0,
            client_connections: self.clients().filter(|c| c.account.0 as usize == index).count(),
            subscriptions: acc.visible_subs() as u64,
            exports: spec
                .map(|s| {
                    s.exports
                        .iter()
                        .map(|e| ExportInfo {
                            subject: e.subject.clone(),
                            kind: e.kind.name(),
                            response_type: (e.kind == crate::auth::settings::ExportKind::Service).then_some(
                                match e.response_type {
                                    crate::auth::settings::ResponseType::Singleton => "Singleton",
                                    crate::auth::settings::ResponseType::Stream => "Streamed",
                                    crate::auth::settings::ResponseType::Chunked => "Chunked",
                                },
                            ),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            imports: spec
                .map(|s| {
                    s.imports
                        .iter()
                        .map(|i| ImportInfo {
                            subject: i.subject.clone(),
                            account: i.account.clone(),
                            to: i.local_subject.clone(),
                            kind: i.kind.name(),
                            invalid: false,
                            share: false,
                            tracking: false,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            sublist_stats: self.sublist_stats(Some(name)),
        });
        Ok(out)
    }

    /// `/accstatz`: per-account connections and traffic (accounts without connections only
    /// with `unused`).
    pub fn accstatz(&self, unused: bool) -> Accstatz {
        let mut stats = Vec::new();
        for (index, acc) in self.accounts.iter().enumerate() {
            let mut stat = AccountStat {
                acc: acc.name.clone(),
                conns: 0,
                leafnodes: 0,
                total_conns: 0,
                sent: Traffic::default(),
                received: Traffic::default(),
                slow_consumers: 0,
            };
            for conn in self.clients().filter(|c| c.account.0 as usize == index) {
                stat.conns += 1;
                stat.sent.msgs += conn.outbound.msgs;
                stat.sent.bytes += conn.outbound.bytes;
                stat.received.msgs += conn.inbound.msgs;
                stat.received.bytes += conn.inbound.bytes;
            }
            stat.total_conns = stat.conns;
            if unused || stat.conns > 0 {
                stats.push(stat);
            }
        }
        Accstatz {
            server_id: self.server_id.clone(),
            now: self.now_text(),
            account_statz: stats,
        }
    }

    /// `/healthz`: the server is accepting clients (there is nothing else to check yet: no
    /// JetStream).
    pub fn healthz(&self) -> Healthz {
        if self.shutting_down {
            return Healthz {
                status: "unavailable",
                error: Some("server is shutting down".to_string()),
            };
        }
        Healthz {
            status: "ok",
            error: None,
        }
    }
}
