//! `/connz`: open and recently closed client connections, with nats-server's fields, paging,
//! sorting and filters.

use std::time::Duration;

use serde::Serialize;

use super::format::{rfc3339, rtt, uptime};
use super::Report;
use super::{MonitorError, Query};
use crate::conn::{CloseReason, ClosedConn, Conn};
use crate::time::Instant;

/// nats-server's `DefaultConnListSize`.
pub const DEFAULT_LIMIT: usize = 1024;

/// One subscription, as connz and subsz detail it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SubDetail {
    /// The account (subsz, and connz for closed connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The subject.
    pub subject: String,
    /// The queue group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qgroup: Option<String>,
    /// The client's id for it.
    pub sid: String,
    /// Messages delivered.
    pub msgs: u64,
    /// `UNSUB` limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// The connection.
    pub cid: u64,
}

impl SubDetail {
    /// Details `sub`, held by connection `cid`, naming `account` when given.
    pub(crate) fn of(sub: &crate::account::Subscription, cid: u64, account: Option<String>) -> Self {
        SubDetail {
            account,
            subject: String::from_utf8_lossy(&sub.subject).into_owned(),
            qgroup: sub.queue.as_ref().map(|q| String::from_utf8_lossy(q).into_owned()),
            sid: String::from_utf8_lossy(&sub.sid).into_owned(),
            msgs: sub.delivered,
            max: sub.max,
            cid,
        }
    }
}

/// One connection, as nats-server's `ConnInfo`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnInfo {
    /// The connection's id.
    pub cid: u64,
    /// Always `Client`.
    pub kind: &'static str,
    /// Always `nats`.
    #[serde(rename = "type")]
    pub conn_type: &'static str,
    /// The client's address.
    pub ip: String,
    /// The client's port.
    pub port: u16,
    /// When it connected.
    pub start: String,
    /// When it last sent or received.
    pub last_activity: String,
    /// When it closed (closed connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// Why it closed (closed connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last measured round trip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<String>,
    /// How long it has been (or was) connected.
    pub uptime: String,
    /// How long since its last activity (until it closed).
    pub idle: String,
    /// Bytes waiting to be written to it.
    pub pending_bytes: usize,
    /// Messages it published.
    pub in_msgs: u64,
    /// Messages delivered to it.
    pub out_msgs: u64,
    /// Bytes it published.
    pub in_bytes: u64,
    /// Bytes delivered to it.
    pub out_bytes: u64,
    /// How many subscriptions it holds.
    pub subscriptions: u32,
    /// The client's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The client library's language.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    /// The client library's version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The TLS protocol version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// The TLS cipher suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cipher_suite: Option<String>,
    /// Who it authenticated as (`auth=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorized_user: Option<String>,
    /// Its account when not `$G` (`auth=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its subscriptions' subjects (`subs=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list: Option<Vec<String>>,
    /// Its subscriptions in detail (`subs=detail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions_list_detail: Option<Vec<SubDetail>>,
    /// Sort keys and filters, not shown.
    #[serde(skip)]
    pub(crate) keys: Keys,
}

/// What connz sorts and filters by.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    start: u64,
    last: u64,
    stop: u64,
    uptime: Duration,
    idle: Duration,
    rtt: Duration,
    user: Option<String>,
    account: String,
    subs: Vec<SubDetail>,
    authorized_user: Option<String>,
}

/// nats-server's `Connz`.
#[derive(Debug, Serialize)]
pub struct Connz {
    /// The server's id.
    pub server_id: String,
    /// When this was taken.
    pub now: String,
    /// Connections on this page.
    pub num_connections: usize,
    /// Connections that matched.
    pub total: usize,
    /// The page's offset.
    pub offset: usize,
    /// The page's size limit.
    pub limit: usize,
    /// The page; `null` for an unknown account, as nats-server.
    pub connections: Option<Vec<ConnInfo>>,
}

/// How connz pages are chosen.
#[derive(Debug, Clone, Default)]
pub struct ConnzOptions {
    /// `sort`.
    pub sort: String,
    /// `auth`.
    pub auth: bool,
    /// `subs`.
    pub subs: bool,
    /// `subs=detail`.
    pub detail: bool,
    /// `offset`.
    pub offset: i64,
    /// `limit`.
    pub limit: i64,
    /// `cid`.
    pub cid: Option<u64>,
    /// `state`: 0 open, 1 closed, 2 all.
    pub state: u8,
    /// `user`.
    pub user: Option<String>,
    /// `acc`.
    pub account: Option<String>,
}

const SORTS: &[&str] = &[
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
    "stop",
    "reason",
    "rtt",
];

impl ConnzOptions {
    /// Reads the query, in nats-server's order; the first bad parameter is the error.
    pub fn from_query(query: &Query<'_>) -> Result<Self, MonitorError> {
        let mut opts = ConnzOptions {
            sort: query.text("sort").unwrap_or_default().to_string(),
            auth: query.boolean("auth")?,
            ..ConnzOptions::default()
        };
        match query.text("subs") {
            Some(v) if v.eq_ignore_ascii_case("detail") => {
                opts.subs = true;
                opts.detail = true;
            }
            _ => opts.subs = query.boolean("subs")?,
        }
        opts.offset = query.int("offset")?;
        opts.limit = query.int("limit")?;
        opts.cid = query.uint("cid")?;
        opts.state = match query.text("state") {
            None | Some("") => 0,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "open" => 0,
                "closed" => 1,
                "any" | "all" => 2,
                _ => return Err(MonitorError::BadRequest(format!("Error decoding state for {v}"))),
            },
        };
        opts.user = query.text("user").filter(|u| !u.is_empty()).map(str::to_string);
        opts.account = query.text("acc").filter(|a| !a.is_empty()).map(str::to_string);
        Ok(opts)
    }
}

/// The figures a connection's entry is made of, open or closed.
struct Facts<'a> {
    cid: u64,
    peer: std::net::SocketAddr,
    account: &'a str,
    opts: &'a crate::proto::ConnectOptions,
    identity: &'a crate::auth::Identity,
    subs: Vec<SubDetail>,
    inbound: crate::conn::Counters,
    outbound: crate::conn::Counters,
    pending: usize,
    start: Instant,
    last_activity: Instant,
    rtt: Option<Duration>,
    tls: Option<&'a crate::conn::SessionInfo>,
    /// When and why it closed; the figures are as of then.
    closed: Option<(Instant, CloseReason)>,
}

impl Report<'_> {
    /// Describes an open connection.
    pub(crate) fn conn_info(&self, conn: &Conn) -> ConnInfo {
        let account = &self.accounts[conn.account.0 as usize];
        let mut subs: Vec<SubDetail> = conn
            .subs
            .values()
            .filter_map(|key| account.subs.get(key.0 as usize))
            .map(|sub| SubDetail::of(sub, conn.cid, None))
            .collect();
        subs.sort_by(|a, b| a.sid.cmp(&b.sid));
        self.info(Facts {
            cid: conn.cid,
            peer: conn.peer,
            account: &account.name,
            opts: &conn.opts,
            identity: &conn.identity,
            subs,
            inbound: conn.inbound,
            outbound: conn.outbound,
            pending: conn.out.pending(),
            start: conn.start,
            last_activity: conn.last_activity,
            rtt: conn.rtt,
            tls: conn.tls.as_ref(),
            closed: None,
        })
    }

    /// Describes a connection from the ring of recently closed ones.
    fn closed_conn_info(&self, conn: &ClosedConn) -> ConnInfo {
        self.info(Facts {
            cid: conn.cid,
            peer: conn.peer,
            account: &conn.account,
            opts: &conn.opts,
            identity: &conn.identity,
            subs: Vec::new(),
            inbound: conn.inbound,
            outbound: conn.outbound,
            pending: conn.pending,
            start: conn.start,
            last_activity: conn.last_activity,
            rtt: conn.rtt,
            tls: conn.tls.as_ref(),
            closed: Some((conn.stop, conn.reason)),
        })
    }

    fn info(&self, conn: Facts<'_>) -> ConnInfo {
        let now = conn.closed.map_or(self.now, |(stop, _)| stop);
        let closed = conn.closed.map(|(_, reason)| reason);
        let wall = |i: Instant| self.config.start_unix_nanos + i.as_nanos();
        let uptime_d = now.saturating_duration_since(conn.start);
        let idle_d = now.saturating_duration_since(conn.last_activity);
        let authorized_user = match conn.identity {
            crate::auth::Identity::User(name) => Some(name.clone()),
            crate::auth::Identity::Nkey(key) => Some(key.clone()),
            _ => None,
        };
        ConnInfo {
            cid: conn.cid,
            kind: "Client",
            conn_type: "nats",
            ip: conn.peer.ip().to_string(),
            port: conn.peer.port(),
            start: rfc3339(wall(conn.start)),
            last_activity: rfc3339(wall(conn.last_activity)),
            stop: closed.map(|_| rfc3339(wall(now))),
            reason: closed.map(|r| r.as_str().to_string()),
            rtt: conn.rtt.map(rtt),
            uptime: uptime(uptime_d),
            idle: uptime(idle_d),
            pending_bytes: conn.pending,
            in_msgs: conn.inbound.msgs,
            out_msgs: conn.outbound.msgs,
            in_bytes: conn.inbound.bytes,
            out_bytes: conn.outbound.bytes,
            subscriptions: conn.subs.len() as u32,
            name: conn.opts.name.clone(),
            lang: conn.opts.lang.clone(),
            version: conn.opts.version.clone(),
            tls_version: conn.tls.map(|t| t.version.clone()),
            tls_cipher_suite: conn.tls.map(|t| t.cipher_suite.clone()),
            authorized_user: None,
            account: None,
            subscriptions_list: None,
            subscriptions_list_detail: None,
            keys: Keys {
                start: wall(conn.start),
                last: wall(conn.last_activity),
                stop: closed.map(|_| wall(now)).unwrap_or(0),
                uptime: uptime_d,
                idle: idle_d,
                rtt: conn.rtt.unwrap_or_default(),
                user: conn.opts.user.clone(),
                account: conn.account.to_string(),
                subs: conn.subs,
                authorized_user,
            },
        }
    }

    /// `/connz`.
    pub fn connz(&self, opts: &ConnzOptions) -> Result<Connz, MonitorError> {
        if !SORTS.contains(&opts.sort.as_str()) && !opts.sort.is_empty() {
            return Err(MonitorError::BadRequest(format!(
                "invalid sorting option: {}",
                opts.sort
            )));
        }
        for closed_only in ["stop", "reason"] {
            if opts.sort == closed_only && opts.state != 1 {
                return Err(MonitorError::BadRequest(format!(
                    "sort by {closed_only} only valid on closed connections"
                )));
            }
        }
        let now = rfc3339(self.config.start_unix_nanos + self.now.as_nanos());
        if let Some(account) = &opts.account {
            if !self.accounts.iter().any(|a| &a.name == account) {
                return Ok(Connz {
                    server_id: String::new(),
                    now,
                    num_connections: 0,
                    total: 0,
                    offset: 0,
                    limit: 0,
                    connections: None,
                });
            }
        }
        let in_account = |info: &ConnInfo| opts.account.as_ref().is_none_or(|a| &info.keys.account == a);
        let mut list: Vec<ConnInfo> = Vec::new();
        let mut total = 0;
        if opts.state != 1 {
            for conn in self.clients() {
                let info = self.conn_info(conn);
                if in_account(&info) {
                    total += 1;
                    list.push(info);
                }
            }
        }
        if opts.state != 0 {
            for closed in &self.closed {
                let info = self.closed_conn_info(closed);
                if in_account(&info) {
                    total += 1;
                    list.push(info);
                }
            }
        }
        if let Some(user) = &opts.user {
            list.retain(|i| i.keys.user.as_ref() == Some(user));
        }
        let limit = if opts.limit <= 0 {
            DEFAULT_LIMIT
        } else {
            opts.limit as usize
        };
        let mut offset = opts.offset.max(0) as usize;
        let limit = if let Some(cid) = opts.cid {
            list.retain(|i| i.cid == cid);
            offset = 0;
            1
        } else {
            limit
        };
        sort(&mut list, &opts.sort);
        let start = offset.min(list.len());
        let end = offset.saturating_add(limit).min(list.len());
        let mut page: Vec<ConnInfo> = list.drain(start..end).collect();
        for info in &mut page {
            if opts.auth {
                info.authorized_user = info.keys.authorized_user.clone();
                if info.keys.account != crate::account::GLOBAL_ACCOUNT {
                    info.account = Some(info.keys.account.clone());
                }
            }
            if !info.keys.subs.is_empty() {
                if opts.detail {
                    info.subscriptions_list_detail = Some(info.keys.subs.clone());
                } else if opts.subs {
                    info.subscriptions_list = Some(info.keys.subs.iter().map(|s| s.subject.clone()).collect());
                }
            }
        }
        Ok(Connz {
            server_id: self.server_id.clone(),
            now,
            num_connections: page.len(),
            total,
            offset,
            limit,
            connections: Some(page),
        })
    }
}

/// nats-server's sort orders, ties broken by cid.
fn sort(list: &mut [ConnInfo], by: &str) {
    use std::cmp::Reverse;
    match by {
        "subs" => list.sort_by_key(|i| (Reverse(i.subscriptions), i.cid)),
        "pending" => list.sort_by_key(|i| (Reverse(i.pending_bytes), i.cid)),
        "msgs_to" => list.sort_by_key(|i| (Reverse(i.out_msgs), i.cid)),
        "msgs_from" => list.sort_by_key(|i| (Reverse(i.in_msgs), i.cid)),
        "bytes_to" => list.sort_by_key(|i| (Reverse(i.out_bytes), i.cid)),
        "bytes_from" => list.sort_by_key(|i| (Reverse(i.in_bytes), i.cid)),
        "last" => list.sort_by_key(|i| (Reverse(i.keys.last), i.cid)),
        "idle" => list.sort_by_key(|i| (Reverse(i.keys.idle), i.cid)),
        "uptime" => list.sort_by_key(|i| (i.keys.uptime, i.cid)),
        "stop" => list.sort_by_key(|i| (Reverse(i.keys.stop), i.cid)),
        "reason" => list.sort_by(|a, b| a.reason.cmp(&b.reason).then(a.cid.cmp(&b.cid))),
        "rtt" => list.sort_by_key(|i| (Reverse(i.keys.rtt), i.cid)),
        _ => list.sort_by_key(|i| (i.cid, i.keys.start)),
    }
}
