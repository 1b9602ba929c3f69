//! Request/reply with no-responders: two clustered servers with accounts, a requester whose
//! CONNECT asks for no-responders statuses, and responders of every kind a request can reach:
//! a plain subscriber, a queue group, a queue member and a plain subscriber on the other server,
//! and a queue member in another account behind a service import. Requests for a subject
//! nobody serves must get a 503 status.
//!
//! Faults: the route between the servers is held for a while, responders crash and reconnect,
//! the second server restarts.
//!
//! Checkers: a request that any responder received never gets a 503; no request gets two; a 503
//! answers a request that was made. Liveness, away from faults: a request for a subject nobody
//! serves gets exactly one 503, and a request for a served subject reaches a responder (exactly
//! one member of a queue group) without a 503.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use natrix_core::config::cluster::{ClusterSettings, RouteUrl};
use natrix_core::config::format::{self, Sources};
use natrix_core::config::options;
use natrix_core::proto::OwnedOp;
use natrix_core::rng::Rng;
use natrix_core::{Config, LogSink};

use crate::checkers::Violation;
use crate::client::{Client, ServerOp, PORT};
use crate::history::{now, ScenarioOutcome};
use crate::run::{serve_clustered, step_to_end};

/// The route port of both servers.
const ROUTE_PORT: u16 = 6222;
/// Requests start once the route is up and every responder's interest has spread.
const REQUEST_START: Duration = Duration::from_secs(3);
/// How long before a request no fault may have been active for the request to be judged for
/// liveness: a held route is found stale and redialed, a restarted server rejoins, and interest
/// spreads again, all within this.
const QUIET_BEFORE: Duration = Duration::from_secs(12);
/// How long after a request no fault may start for it to be judged for liveness.
const QUIET_AFTER: Duration = Duration::from_secs(2);

/// The accounts: requesters and most responders in `A`; the service's responders in `SVC`,
/// which exports `svc.import.>` to `A`.
const ACCOUNTS: &str = r#"
accounts {
  A {
    users [{user: a, password: a}]
    imports [{service: {account: SVC, subject: "svc.import.>"}}]
  }
  SVC {
    users [{user: s, password: s}]
    exports [{service: "svc.import.>"}]
  }
}
"#;

/// Where each kind of request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A plain subscriber on the requester's server.
    Plain,
    /// A queue group on the requester's server.
    Queue,
    /// A plain subscriber on the other server.
    RemotePlain,
    /// A queue member on the other server.
    RemoteQueue,
    /// A queue member in account `SVC`, through the service import.
    Import,
    /// Nobody: a 503.
    Nobody,
}

/// Every kind, in the order requests cycle through them.
pub const KINDS: [Kind; 6] = [
    Kind::Plain,
    Kind::Queue,
    Kind::RemotePlain,
    Kind::RemoteQueue,
    Kind::Import,
    Kind::Nobody,
];

impl Kind {
    /// The subject token that selects the responders.
    fn token(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Queue => "queue",
            Kind::RemotePlain => "far",
            Kind::RemoteQueue => "farqueue",
            Kind::Import => "import",
            Kind::Nobody => "none",
        }
    }

    /// Whether a queue group serves it (exactly one member may receive each request).
    fn queued(self) -> bool {
        matches!(self, Kind::Queue | Kind::RemoteQueue | Kind::Import)
    }
}

/// A responder: its name, server, account credentials, what it serves, and its queue group.
struct Responder {
    name: &'static str,
    server: usize,
    user: &'static str,
    kind: Kind,
    queue: bool,
}

const RESPONDERS: &[Responder] = &[
    Responder {
        name: "plain",
        server: 0,
        user: "a",
        kind: Kind::Plain,
        queue: false,
    },
    Responder {
        name: "queue0",
        server: 0,
        user: "a",
        kind: Kind::Queue,
        queue: true,
    },
    Responder {
        name: "queue1",
        server: 0,
        user: "a",
        kind: Kind::Queue,
        queue: true,
    },
    Responder {
        name: "far",
        server: 1,
        user: "a",
        kind: Kind::RemotePlain,
        queue: false,
    },
    Responder {
        name: "farqueue",
        server: 1,
        user: "a",
        kind: Kind::RemoteQueue,
        queue: true,
    },
    Responder {
        name: "service",
        server: 0,
        user: "s",
        kind: Kind::Import,
        queue: true,
    },
];

/// A fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The route between the two servers held from `from` to `to`.
    HoldRoute {
        /// Start.
        from: Duration,
        /// End.
        to: Duration,
    },
    /// Responder `index` (into the responder list) drops its connection at `at` and reconnects.
    Crash {
        /// The responder.
        index: usize,
        /// When.
        at: Duration,
    },
    /// The second server restarts at `at`.
    Restart {
        /// When.
        at: Duration,
    },
}

impl Fault {
    /// When the fault starts and ends.
    fn span(&self) -> (Duration, Duration) {
        match self {
            Fault::HoldRoute { from, to } => (*from, *to),
            Fault::Crash { at, .. } | Fault::Restart { at } => (*at, *at),
        }
    }
}

/// What one seed decides.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    /// Requests sent.
    pub requests: u64,
    /// Time between requests.
    pub gap: Duration,
    /// The faults.
    pub faults: Vec<Fault>,
}

impl RequestPlan {
    /// The plan for `seed`.
    pub fn new(seed: u64) -> RequestPlan {
        let mut rng = Rng::new(seed ^ 0x0503_0503);
        let requests = 30 + rng.below(120) as u64;
        let gap = Duration::from_millis(5 + rng.below(40) as u64);
        let run_for = gap * requests as u32;
        let at = |rng: &mut Rng| {
            REQUEST_START + Duration::from_millis(rng.below(run_for.as_millis().max(1) as usize) as u64)
        };
        let mut faults = Vec::new();
        if rng.below(100) < 30 {
            let from = at(&mut rng);
            let to = from + Duration::from_millis(100 + rng.below(5000) as u64);
            faults.push(Fault::HoldRoute { from, to });
        }
        if rng.below(100) < 40 {
            for _ in 0..1 + rng.below(3) {
                let index = rng.below(RESPONDERS.len());
                faults.push(Fault::Crash {
                    index,
                    at: at(&mut rng),
                });
            }
        }
        if rng.below(100) < 20 {
            faults.push(Fault::Restart { at: at(&mut rng) });
        }
        RequestPlan { requests, gap, faults }
    }

    /// When the requester stops and everyone disconnects.
    pub fn end(&self) -> Duration {
        let last_request = REQUEST_START + self.gap * self.requests as u32;
        let last_fault = self.faults.iter().map(|f| f.span().1).max().unwrap_or_default();
        last_request.max(last_fault) + Duration::from_secs(4)
    }

    /// Whether no fault is active from `QUIET_BEFORE` before `at` to `QUIET_AFTER` after it.
    pub fn quiet_around(&self, at: Duration) -> bool {
        let (from, to) = (at.saturating_sub(QUIET_BEFORE), at + QUIET_AFTER);
        !self.faults.iter().any(|f| {
            let (start, end) = f.span();
            start <= to && end >= from
        })
    }
}

impl fmt::Display for RequestPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "requests={} gap={:?}", self.requests, self.gap)?;
        for fault in &self.faults {
            match fault {
                Fault::HoldRoute { from, to } => write!(f, " hold(n0,n1)@{from:?}..{to:?}")?,
                Fault::Crash { index, at } => write!(f, " crash({})@{at:?}", RESPONDERS[*index].name)?,
                Fault::Restart { at } => write!(f, " restart(n1)@{at:?}")?,
            }
        }
        Ok(())
    }
}

/// What the clients saw.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    /// Requests handed to the server: id -> (kind, when).
    pub sent: BTreeMap<u64, (Kind, Duration)>,
    /// Requests whose PING/PONG came back: the server processed them, and a 503 for them, if
    /// any, arrived before the PONG.
    pub confirmed: BTreeSet<u64>,
    /// 503 statuses, by the request id their reply subject names.
    pub no_responders: Vec<u64>,
    /// (responder, request id) for every request a responder received.
    pub received: Vec<(String, u64)>,
    /// When each responder's subscription was first confirmed.
    pub ready: BTreeMap<String, Duration>,
    /// Anything the requester did not expect (a malformed status, an error).
    pub unexpected: Vec<String>,
}

/// What a request run produced.
pub type RequestOutcome = ScenarioOutcome<RequestPlan, RequestLog>;

type Shared = Rc<RefCell<RequestLog>>;

fn host(n: usize) -> String {
    format!("r{n}")
}

/// Configuration files are read from nowhere: the accounts are inline.
struct NoFiles;

impl Sources for NoFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no file {path} in the simulation"))
    }

    fn env(&self, _name: &str) -> Option<String> {
        None
    }
}

fn server_config(seed: u64, n: usize, incarnation: u64) -> std::io::Result<Config> {
    let map = format::parse("sim.conf", ACCOUNTS, &NoFiles).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut config = Config::default();
    options::apply(&map, &mut config).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let seeds = if n == 0 {
        Vec::new()
    } else {
        vec![RouteUrl::parse(&format!("nats-route://{}:{ROUTE_PORT}", host(0))).map_err(std::io::Error::other)?]
    };
    Ok(Config {
        port: PORT,
        server_name: Some(host(n)),
        seed: seed.wrapping_mul(17).wrapping_add((n as u64) << 8 | incarnation),
        ping_interval: Duration::from_secs(1),
        cluster: Some(ClusterSettings {
            name: Some("requests".to_string()),
            port: ROUTE_PORT,
            routes: seeds,
            ..ClusterSettings::default()
        }),
        ..config
    })
}

/// Runs seed `seed` and checks it.
pub fn run(seed: u64) -> RequestOutcome {
    let plan = RequestPlan::new(seed);
    let log: Shared = Rc::new(RefCell::new(RequestLog::default()));
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(plan.end() + Duration::from_secs(30))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_micros(200))
        .max_message_latency(Duration::from_millis(3))
        .build();
    for n in 0..2 {
        let incarnation = Rc::new(Cell::new(0u64));
        sim.host(host(n), move || {
            let incarnation = Rc::clone(&incarnation);
            async move {
                incarnation.set(incarnation.get() + 1);
                let config = server_config(seed, n, incarnation.get())?;
                let quiet: LogSink = Arc::new(|_, _| {});
                serve_clustered(config, ROUTE_PORT, quiet).await?;
                Ok(())
            }
        });
    }
    for (index, responder) in RESPONDERS.iter().enumerate() {
        let crashes: Vec<Duration> = plan
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::Crash { index: i, at } if *i == index => Some(*at),
                _ => None,
            })
            .collect();
        let (shared, end) = (Rc::clone(&log), plan.end());
        sim.client(responder.name, async move {
            respond(responder, crashes, end, shared).await;
            Ok(())
        });
    }
    let (shared, plan_copy) = (Rc::clone(&log), plan.clone());
    sim.client("requester", async move {
        request(&plan_copy, shared).await;
        Ok(())
    });

    let mut started = vec![false; plan.faults.len()];
    let mut ended = vec![false; plan.faults.len()];
    let mut violations = step_to_end(&mut sim, "request", |sim, elapsed| {
        for (i, fault) in plan.faults.iter().enumerate() {
            match fault {
                Fault::HoldRoute { from, to } => {
                    if !started[i] && elapsed >= *from {
                        started[i] = true;
                        sim.hold(host(0), host(1));
                    }
                    if started[i] && !ended[i] && elapsed >= *to {
                        ended[i] = true;
                        sim.release(host(0), host(1));
                    }
                }
                Fault::Restart { at } => {
                    if !started[i] && elapsed >= *at {
                        started[i] = true;
                        sim.bounce(host(1));
                    }
                }
                // Responders crash themselves.
                Fault::Crash { .. } => {}
            }
        }
    });
    let log = log.borrow().clone();
    violations.extend(check(&plan, &log));
    RequestOutcome { plan, log, violations }
}

/// Connects to server `n` as `user`, retrying until `until`.
async fn connect(n: usize, user: &str, no_responders: bool, until: Duration) -> Option<Client> {
    let connect = format!(
        r#"{{"verbose":false,"pedantic":false,"protocol":1,"headers":true,"no_responders":{no_responders},"user":"{user}","pass":"{user}"}}"#
    );
    while now() < until {
        if let Ok(client) = Client::connect_with(&host(n), &connect).await {
            return Some(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The request id a payload (`r<id>`) or reply subject (`_INBOX.req.<id>`) carries.
fn request_id(text: &str) -> Option<u64> {
    text.strip_prefix('r')
        .or_else(|| text.strip_prefix("_INBOX.req."))?
        .parse()
        .ok()
}

async fn respond(responder: &'static Responder, mut crashes: Vec<Duration>, end: Duration, log: Shared) {
    let name = responder.name.to_string();
    while now() < end {
        let Some(mut client) = connect(responder.server, responder.user, false, end).await else {
            return;
        };
        let sub = OwnedOp::Sub {
            subject: format!("svc.{}.*", responder.kind.token()).into_bytes(),
            queue: responder.queue.then(|| b"q".to_vec()),
            sid: b"1".to_vec(),
        };
        if client.send(&sub).await.is_err() {
            continue;
        }
        let Ok(early) = client.round_trip(Duration::from_secs(2)).await else {
            continue;
        };
        log.borrow_mut().ready.entry(name.clone()).or_insert_with(now);
        for op in early {
            record_received(&log, &name, op);
        }
        loop {
            let stop = crashes.first().map_or(end, |t| (*t).min(end));
            if now() >= stop {
                break;
            }
            match tokio::time::timeout(stop - now(), client.next()).await {
                Err(_) | Ok(Err(_)) => break,
                Ok(Ok(ServerOp::Ping)) => {
                    if client.send(&OwnedOp::Pong).await.is_err() {
                        break;
                    }
                }
                Ok(Ok(op)) => record_received(&log, &name, op),
            }
        }
        if crashes.first().is_some_and(|t| now() >= *t) {
            crashes.remove(0);
        }
    }
}

fn record_received(log: &Shared, name: &str, op: ServerOp) {
    if let ServerOp::Msg { payload, .. } | ServerOp::HMsg { payload, .. } = op {
        let text = String::from_utf8_lossy(&payload).into_owned();
        let id = request_id(&text).unwrap_or(u64::MAX);
        log.borrow_mut().received.push((name.to_string(), id));
    }
}

async fn request(plan: &RequestPlan, log: Shared) {
    let end = plan.end();
    let mut client: Option<Client> = None;
    for id in 1..=plan.requests {
        let due = REQUEST_START + plan.gap * id as u32;
        if now() < due {
            tokio::time::sleep(due - now()).await;
        }
        if client.is_none() {
            let Some(mut c) = connect(0, "a", true, end).await else {
                return;
            };
            let sub = OwnedOp::Sub {
                subject: b"_INBOX.req.*".to_vec(),
                queue: None,
                sid: b"1".to_vec(),
            };
            if c.send(&sub).await.is_err() || c.round_trip(Duration::from_secs(2)).await.is_err() {
                continue;
            }
            client = Some(c);
        }
        let Some(c) = client.as_mut() else { continue };
        let kind = KINDS[(id as usize) % KINDS.len()];
        let subject = format!("svc.{}.{id}", kind.token());
        let reply = format!("_INBOX.req.{id}");
        let op = OwnedOp::publish(&subject, Some(&reply), None, format!("r{id}").as_bytes());
        log.borrow_mut().sent.insert(id, (kind, now()));
        if c.send(&op).await.is_err() {
            client = None;
            continue;
        }
        match c.round_trip(Duration::from_secs(2)).await {
            Ok(seen) => {
                let mut log = log.borrow_mut();
                log.confirmed.insert(id);
                for op in seen {
                    match op {
                        ServerOp::HMsg { subject, headers, .. } if headers.starts_with(b"NATS/1.0 503") => {
                            log.no_responders.push(request_id(&subject).unwrap_or(u64::MAX));
                        }
                        // An async INFO (the cluster's client URLs changed) says nothing here.
                        ServerOp::Other => {}
                        other => log.unexpected.push(format!("{other:?}")),
                    }
                }
            }
            Err(_) => client = None,
        }
    }
}

/// The safety and liveness checks.
pub fn check(plan: &RequestPlan, log: &RequestLog) -> Vec<Violation> {
    let mut violations = Vec::new();
    for what in &log.unexpected {
        violations.push(Violation::new(
            "request-unexpected",
            format!("the requester got {what}"),
        ));
    }
    let mut statuses: BTreeMap<u64, usize> = BTreeMap::new();
    for id in &log.no_responders {
        *statuses.entry(*id).or_default() += 1;
    }
    let mut receivers: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for (who, id) in &log.received {
        receivers.entry(*id).or_default().push(who);
    }
    for (id, count) in &statuses {
        if !log.sent.contains_key(id) {
            violations.push(Violation::new(
                "request-phantom-503",
                format!("a 503 for request {id}, which was never sent"),
            ));
        }
        if *count > 1 {
            violations.push(Violation::new(
                "request-503-once",
                format!("request {id} got {count} no-responders statuses"),
            ));
        }
        if let Some(who) = receivers.get(id) {
            violations.push(Violation::new(
                "request-503-despite-responder",
                format!("request {id} reached {who:?} and still got a 503 no-responders"),
            ));
        }
    }
    for (id, who) in &receivers {
        let Some((kind, _)) = log.sent.get(id) else {
            violations.push(Violation::new(
                "request-phantom",
                format!("{who:?} received request {id}, which was never sent"),
            ));
            continue;
        };
        let wrong = who.iter().filter(|w| {
            RESPONDERS
                .iter()
                .find(|r| r.name == **w)
                .is_none_or(|r| r.kind != *kind)
        });
        for w in wrong {
            violations.push(Violation::new(
                "request-misrouted",
                format!("{w} received request {id} for {kind:?}"),
            ));
        }
        if kind.queued() && who.len() > 1 {
            violations.push(Violation::new(
                "request-queue-once",
                format!("request {id} for {kind:?} reached {who:?}"),
            ));
        }
    }
    // Liveness: away from faults, with every responder ready, the outcome is certain.
    let ready = log.ready.values().max().copied();
    for (id, (kind, at)) in &log.sent {
        let all_ready = log.ready.len() == RESPONDERS.len() && ready.is_some_and(|r| r <= *at);
        if !log.confirmed.contains(id) || !all_ready || !plan.quiet_around(*at) {
            continue;
        }
        let status = statuses.get(id).copied().unwrap_or(0);
        let reached = receivers.get(id).map_or(0, Vec::len);
        if *kind == Kind::Nobody {
            if status != 1 {
                violations.push(Violation::new(
                    "request-503-liveness",
                    format!("request {id} for a subject nobody serves got {status} no-responders statuses"),
                ));
            }
        } else if reached == 0 {
            violations.push(Violation::new(
                "request-liveness",
                format!("request {id} for {kind:?} reached no responder (and got {status} statuses)"),
            ));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RequestPlan {
        RequestPlan {
            requests: 12,
            gap: Duration::from_millis(10),
            faults: Vec::new(),
        }
    }

    fn responder_of(kind: Kind) -> &'static str {
        RESPONDERS.iter().find(|r| r.kind == kind).map_or("nobody", |r| r.name)
    }

    /// Every request sent, confirmed and answered as it should be.
    fn clean(plan: &RequestPlan) -> RequestLog {
        let mut log = RequestLog::default();
        for r in RESPONDERS {
            log.ready.insert(r.name.to_string(), Duration::from_secs(1));
        }
        for id in 1..=plan.requests {
            let kind = KINDS[id as usize % KINDS.len()];
            log.sent.insert(id, (kind, REQUEST_START + plan.gap * id as u32));
            log.confirmed.insert(id);
            if kind == Kind::Nobody {
                log.no_responders.push(id);
            } else {
                log.received.push((responder_of(kind).to_string(), id));
            }
        }
        log
    }

    fn checkers(plan: &RequestPlan, log: &RequestLog) -> Vec<&'static str> {
        check(plan, log).iter().map(|v| v.checker).collect()
    }

    #[test]
    fn a_clean_log_passes() {
        assert_eq!(checkers(&plan(), &clean(&plan())), Vec::<&str>::new());
    }

    #[test]
    fn planted_violations_are_found() {
        let plan = plan();
        let base = clean(&plan);
        // The bug the official client suites found: a queue group took the request and the
        // requester got a 503 as well.
        let mut log = base.clone();
        log.no_responders.push(1);
        assert!(checkers(&plan, &log).contains(&"request-503-despite-responder"));
        let mut log = base.clone();
        log.no_responders.push(5);
        assert!(checkers(&plan, &log).contains(&"request-503-once"));
        let mut log = base.clone();
        log.no_responders.retain(|id| *id != 5);
        assert!(checkers(&plan, &log).contains(&"request-503-liveness"));
        let mut log = base.clone();
        log.received.retain(|(_, id)| *id != 2);
        assert!(checkers(&plan, &log).contains(&"request-liveness"));
        let mut log = base.clone();
        log.received.push(("queue1".to_string(), 1));
        assert!(checkers(&plan, &log).contains(&"request-queue-once"));
        let mut log = base.clone();
        log.received.push(("far".to_string(), 1));
        assert!(checkers(&plan, &log).contains(&"request-misrouted"));
        let mut log = base.clone();
        log.no_responders.push(99);
        assert!(checkers(&plan, &log).contains(&"request-phantom-503"));
        let mut log = base;
        log.received.push(("plain".to_string(), 99));
        assert!(checkers(&plan, &log).contains(&"request-phantom"));
    }

    #[test]
    fn faults_excuse_liveness_but_not_safety() {
        let mut plan = plan();
        plan.faults.push(Fault::HoldRoute {
            from: REQUEST_START,
            to: REQUEST_START + Duration::from_secs(1),
        });
        let mut log = clean(&plan);
        log.received.retain(|(_, id)| *id != 3);
        log.no_responders.push(1);
        let found = checkers(&plan, &log);
        assert!(!found.contains(&"request-liveness"));
        assert!(found.contains(&"request-503-despite-responder"));
    }
}
