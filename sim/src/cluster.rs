//! Cluster simulations: three to five natrix servers joined by routes (each told only about the
//! first server; gossip closes the mesh), a publisher, a plain subscriber and a queue member on
//! every server, and faults between the servers: symmetric partitions (links held, as TCP holds
//! data it cannot deliver), asymmetric ones (one direction dropped, long enough for the PINGs
//! to find it), short route flaps, and server restarts.
//!
//! Checkers: every delivery was published, with its payload intact; no subscription sees a
//! message twice, and each sees each publisher's messages in order; a message reaches at most
//! one member of the queue group, cluster-wide. Liveness: once every fault is healed, interest
//! must converge within a bound: probes published on every server then reach every
//! subscriber, and exactly one queue member each.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use natrix_core::config::cluster::{ClusterSettings, RouteUrl};
use natrix_core::proto::OwnedOp;
use natrix_core::rng::Rng;
use natrix_core::{Config, LogSink};

use crate::checkers::Violation;
use crate::client::{Client, ServerOp, PORT};
use crate::history::{now, ScenarioOutcome};
use crate::run::{serve_clustered, step_to_end};

/// The route port of every simulated server.
const ROUTE_PORT: u16 = 6222;
/// Publishing starts once the mesh has formed and subscriptions have spread.
const PUBLISH_START: Duration = Duration::from_secs(3);
/// How long after the last fault heals interest must have converged.
const CONVERGENCE: Duration = Duration::from_secs(12);
/// Probes each publisher sends in the liveness phase.
const PROBES: u64 = 5;
const SUBJECT: &str = "cluster.events";

/// A fault between servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Both directions held from `from` to `to`.
    Partition {
        a: usize,
        b: usize,
        from: Duration,
        to: Duration,
    },
    /// `a` to `b` dropped from `from` to `to`.
    OneWay {
        a: usize,
        b: usize,
        from: Duration,
        to: Duration,
    },
    /// Server `n` restarts at `at`.
    Restart { n: usize, at: Duration },
}

/// What one cluster seed decides.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPlan {
    /// How many servers.
    pub servers: usize,
    /// Messages each publisher sends.
    pub messages: u64,
    /// Time between publishes.
    pub gap: Duration,
    /// The faults.
    pub faults: Vec<Fault>,
}

impl ClusterPlan {
    /// The plan for `seed`.
    pub fn new(seed: u64) -> ClusterPlan {
        let mut rng = Rng::new(seed ^ 0xC1A5_7E55);
        let servers = 3 + rng.below(3);
        let messages = 30 + rng.below(120) as u64;
        let gap = Duration::from_millis(5 + rng.below(40) as u64);
        let run_for = gap * messages as u32;
        let mut faults = Vec::new();
        let pair = |rng: &mut Rng| {
            let a = rng.below(servers);
            let b = (a + 1 + rng.below(servers - 1)) % servers;
            (a, b)
        };
        let at = |rng: &mut Rng| {
            PUBLISH_START + Duration::from_millis(rng.below(run_for.as_millis().max(1) as usize) as u64)
        };
        // Swarm: each kind of fault is on for some seeds only.
        if rng.below(100) < 50 {
            for _ in 0..1 + rng.below(3) {
                let (a, b) = pair(&mut rng);
                let from = at(&mut rng);
                // From a flap (well under the PING interval) to a long cut.
                let to = from + Duration::from_millis(100 + rng.below(8000) as u64);
                faults.push(Fault::Partition { a, b, from, to });
            }
        }
        if rng.below(100) < 30 {
            let (a, b) = pair(&mut rng);
            let from = at(&mut rng);
            let to = from + Duration::from_millis(5000 + rng.below(3000) as u64);
            faults.push(Fault::OneWay { a, b, from, to });
        }
        if rng.below(100) < 30 {
            for _ in 0..1 + rng.below(2) {
                let n = rng.below(servers);
                faults.push(Fault::Restart { n, at: at(&mut rng) });
            }
        }
        ClusterPlan {
            servers,
            messages,
            gap,
            faults,
        }
    }

    /// When the last fault is over.
    pub fn healed_at(&self) -> Duration {
        let end = self.faults.iter().map(|f| match f {
            Fault::Partition { to, .. } | Fault::OneWay { to, .. } => *to,
            Fault::Restart { at, .. } => *at,
        });
        end.max()
            .unwrap_or_default()
            .max(PUBLISH_START + self.gap * self.messages as u32)
    }

    /// When the liveness probes are published.
    pub fn probe_at(&self) -> Duration {
        self.healed_at() + CONVERGENCE
    }

    /// When clients stop.
    pub fn end(&self) -> Duration {
        self.probe_at() + Duration::from_secs(3)
    }
}

impl fmt::Display for ClusterPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "servers={} messages={} gap={:?}",
            self.servers, self.messages, self.gap
        )?;
        for fault in &self.faults {
            match fault {
                Fault::Partition { a, b, from, to } => write!(f, " partition(n{a},n{b})@{from:?}..{to:?}")?,
                Fault::OneWay { a, b, from, to } => write!(f, " oneway(n{a}->n{b})@{from:?}..{to:?}")?,
                Fault::Restart { n, at } => write!(f, " restart(n{n})@{at:?}")?,
            }
        }
        Ok(())
    }
}

/// What the clients saw.
#[derive(Debug, Clone, Default)]
pub struct ClusterLog {
    /// (publisher, seq) of every message handed to a server, probes included.
    pub published: BTreeSet<(usize, u64)>,
    /// Deliveries: (client name, incarnation, publisher, seq, payload as received).
    pub deliveries: Vec<(String, u32, usize, u64, String)>,
    /// When each client (by name) had its subscription confirmed, per incarnation.
    pub subscribed: BTreeMap<(String, u32), Duration>,
}

/// What a cluster run produced.
pub type ClusterOutcome = ScenarioOutcome<ClusterPlan, ClusterLog>;

type Shared = Rc<RefCell<ClusterLog>>;

fn host(n: usize) -> String {
    format!("n{n}")
}

fn payload(publisher: usize, seq: u64) -> String {
    format!("p{publisher}:{seq}")
}

/// Runs cluster seed `seed` and checks it.
pub fn run(seed: u64) -> ClusterOutcome {
    let plan = ClusterPlan::new(seed);
    let log: Shared = Rc::new(RefCell::new(ClusterLog::default()));
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(plan.end() + Duration::from_secs(30))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_micros(200))
        .max_message_latency(Duration::from_millis(3))
        .build();
    for n in 0..plan.servers {
        let incarnation = Rc::new(Cell::new(0u64));
        sim.host(host(n), move || {
            let incarnation = Rc::clone(&incarnation);
            async move {
                incarnation.set(incarnation.get() + 1);
                let seeds = if n == 0 {
                    Vec::new()
                } else {
                    vec![RouteUrl::parse(&format!("nats-route://n0:{ROUTE_PORT}")).map_err(std::io::Error::other)?]
                };
                let config = Config {
                    port: PORT,
                    server_name: Some(host(n)),
                    // A restarted server is a new server, with a new id.
                    seed: seed.wrapping_mul(31).wrapping_add((n as u64) << 8 | incarnation.get()),
                    ping_interval: Duration::from_secs(1),
                    debug: std::env::var_os("SIM_CLUSTER_LOG").is_some(),
                    cluster: Some(ClusterSettings {
                        name: Some("sim".to_string()),
                        port: ROUTE_PORT,
                        routes: seeds,
                        ..ClusterSettings::default()
                    }),
                    ..Config::default()
                };
                // SIM_CLUSTER_LOG=1 prints every server's log (debug level) with the virtual time.
                let verbose = std::env::var_os("SIM_CLUSTER_LOG").is_some();
                let name = host(n);
                let quiet: LogSink = Arc::new(move |level, line| {
                    if verbose {
                        println!("{:>9.3?} {name} {} {line}", now(), level.tag());
                    }
                });
                serve_clustered(config, ROUTE_PORT, quiet).await?;
                Ok(())
            }
        });
    }
    for n in 0..plan.servers {
        let (shared, plan_copy) = (Rc::clone(&log), plan.clone());
        sim.client(format!("sub{n}"), async move {
            subscribe(format!("sub{n}"), n, None, &plan_copy, shared).await;
            Ok(())
        });
        let (shared, plan_copy) = (Rc::clone(&log), plan.clone());
        sim.client(format!("queue{n}"), async move {
            subscribe(format!("queue{n}"), n, Some("workers"), &plan_copy, shared).await;
            Ok(())
        });
        let (shared, plan_copy) = (Rc::clone(&log), plan.clone());
        sim.client(format!("pub{n}"), async move {
            publish(n, &plan_copy, shared).await;
            Ok(())
        });
    }

    let mut started = vec![false; plan.faults.len()];
    let mut ended = vec![false; plan.faults.len()];
    let mut violations = step_to_end(&mut sim, "cluster", |sim, elapsed| {
        for (i, fault) in plan.faults.iter().enumerate() {
            match fault {
                Fault::Partition { a, b, from, to } => {
                    if !started[i] && elapsed >= *from {
                        started[i] = true;
                        sim.hold(host(*a), host(*b));
                    }
                    if started[i] && !ended[i] && elapsed >= *to {
                        ended[i] = true;
                        sim.release(host(*a), host(*b));
                    }
                }
                Fault::OneWay { a, b, from, to } => {
                    if !started[i] && elapsed >= *from {
                        started[i] = true;
                        sim.partition_oneway(host(*a), host(*b));
                    }
                    if started[i] && !ended[i] && elapsed >= *to {
                        ended[i] = true;
                        sim.repair_oneway(host(*a), host(*b));
                    }
                }
                Fault::Restart { n, at } => {
                    if !started[i] && elapsed >= *at {
                        started[i] = true;
                        sim.bounce(host(*n));
                    }
                }
            }
        }
    });
    let log = log.borrow().clone();
    violations.extend(check(&plan, &log));
    ClusterOutcome { plan, log, violations }
}

/// Connects to server `n`, retrying until `until`.
async fn connect(n: usize, until: Duration) -> Option<Client> {
    while now() < until {
        if let Ok(client) = Client::connect(&host(n)).await {
            return Some(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn subscribe(name: String, n: usize, queue: Option<&'static str>, plan: &ClusterPlan, log: Shared) {
    let end = plan.end();
    let mut incarnation = 0u32;
    while now() < end {
        let Some(mut client) = connect(n, end).await else {
            return;
        };
        incarnation += 1;
        let sub = OwnedOp::Sub {
            subject: SUBJECT.as_bytes().to_vec(),
            queue: queue.map(|q| q.as_bytes().to_vec()),
            sid: b"1".to_vec(),
        };
        if client.send(&sub).await.is_err() {
            continue;
        }
        let Ok(early) = client.round_trip(Duration::from_secs(2)).await else {
            continue;
        };
        log.borrow_mut().subscribed.insert((name.clone(), incarnation), now());
        for op in early {
            record(&log, &name, incarnation, op);
        }
        loop {
            if now() >= end {
                return;
            }
            match tokio::time::timeout(end - now(), client.next()).await {
                Err(_) | Ok(Err(_)) => break,
                Ok(Ok(ServerOp::Ping)) => {
                    if client.send(&OwnedOp::Pong).await.is_err() {
                        break;
                    }
                }
                Ok(Ok(op)) => record(&log, &name, incarnation, op),
            }
        }
    }
}

fn record(log: &Shared, name: &str, incarnation: u32, op: ServerOp) {
    if let ServerOp::Msg { payload, .. } = op {
        let text = String::from_utf8_lossy(&payload).into_owned();
        let (publisher, seq) = parse_payload(&text).unwrap_or((usize::MAX, 0));
        log.borrow_mut()
            .deliveries
            .push((name.to_string(), incarnation, publisher, seq, text));
    }
}

fn parse_payload(text: &str) -> Option<(usize, u64)> {
    let (p, s) = text.strip_prefix('p')?.split_once(':')?;
    Some((p.parse().ok()?, s.parse().ok()?))
}

async fn publish(n: usize, plan: &ClusterPlan, log: Shared) {
    let end = plan.end();
    let mut client: Option<Client> = None;
    let total = plan.messages + PROBES;
    for seq in 1..=total {
        let due = if seq <= plan.messages {
            PUBLISH_START + plan.gap * seq as u32
        } else {
            plan.probe_at() + Duration::from_millis(20 * (seq - plan.messages))
        };
        if now() < due {
            tokio::time::sleep(due - now()).await;
        }
        let probe = seq > plan.messages;
        // Probes must go out: retry until one is confirmed by a PONG.
        loop {
            if client.is_none() {
                client = connect(n, end).await;
            }
            let Some(c) = client.as_mut() else { return };
            let op = OwnedOp::publish(SUBJECT, None, None, payload(n, seq).as_bytes());
            log.borrow_mut().published.insert((n, seq));
            let sent = c.send(&op).await.is_ok() && (!probe || c.round_trip(Duration::from_secs(2)).await.is_ok());
            if sent {
                break;
            }
            client = None;
            if !probe {
                break;
            }
        }
    }
}

/// The safety and liveness checks.
pub fn check(plan: &ClusterPlan, log: &ClusterLog) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut seen: BTreeSet<(&str, u32, usize, u64)> = BTreeSet::new();
    let mut last: BTreeMap<(&str, u32, usize), u64> = BTreeMap::new();
    let mut queue_seen: BTreeMap<(usize, u64), Vec<&str>> = BTreeMap::new();
    for (name, incarnation, publisher, seq, text) in &log.deliveries {
        if *publisher == usize::MAX
            || !log.published.contains(&(*publisher, *seq))
            || text != &payload(*publisher, *seq)
        {
            violations.push(Violation::new(
                "cluster-phantom",
                format!("{name} received {text:?}, never published"),
            ));
            continue;
        }
        if !seen.insert((name, *incarnation, *publisher, *seq)) {
            violations.push(Violation::new(
                "cluster-duplicate",
                format!("{name}#{incarnation} received {text} twice"),
            ));
        }
        let previous = last.insert((name, *incarnation, *publisher), *seq);
        if previous.is_some_and(|p| p >= *seq) {
            violations.push(Violation::new(
                "cluster-order",
                format!(
                    "{name}#{incarnation} received {text} after p{publisher}:{}",
                    previous.unwrap_or(0)
                ),
            ));
        }
        if name.starts_with("queue") {
            queue_seen.entry((*publisher, *seq)).or_default().push(name);
        }
    }
    for ((publisher, seq), members) in &queue_seen {
        if members.len() > 1 {
            violations.push(Violation::new(
                "cluster-queue-once",
                format!(
                    "p{publisher}:{seq} reached {} queue members: {members:?}",
                    members.len()
                ),
            ));
        }
    }
    // Liveness: after the faults healed and interest converged, every probe reaches every plain
    // subscriber and one queue member.
    for publisher in 0..plan.servers {
        for seq in plan.messages + 1..=plan.messages + PROBES {
            if !log.published.contains(&(publisher, seq)) {
                violations.push(Violation::new(
                    "cluster-liveness",
                    format!("publisher {publisher} could not publish probe {seq} after the cluster healed"),
                ));
                continue;
            }
            for n in 0..plan.servers {
                let name = format!("sub{n}");
                let got = log
                    .deliveries
                    .iter()
                    .any(|(who, _, p, s, _)| *who == name && *p == publisher && *s == seq);
                if !got {
                    violations.push(Violation::new(
                        "cluster-convergence",
                        format!(
                            "{name} did not receive probe p{publisher}:{seq} {CONVERGENCE:?} after the cluster healed"
                        ),
                    ));
                }
            }
            let members = queue_seen.get(&(publisher, seq)).map_or(0, Vec::len);
            if members != 1 {
                violations.push(Violation::new(
                    "cluster-queue-liveness",
                    format!("probe p{publisher}:{seq} reached {members} queue members after the cluster healed"),
                ));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ClusterPlan {
        ClusterPlan {
            servers: 2,
            messages: 2,
            gap: Duration::from_millis(10),
            faults: Vec::new(),
        }
    }

    /// A clean log: every message and probe reached both subscribers and one queue member.
    fn clean(plan: &ClusterPlan) -> ClusterLog {
        let mut log = ClusterLog::default();
        for publisher in 0..plan.servers {
            for seq in 1..=plan.messages + PROBES {
                log.published.insert((publisher, seq));
                for n in 0..plan.servers {
                    log.deliveries
                        .push((format!("sub{n}"), 1, publisher, seq, payload(publisher, seq)));
                }
                log.deliveries.push((
                    format!("queue{}", seq as usize % plan.servers),
                    1,
                    publisher,
                    seq,
                    payload(publisher, seq),
                ));
            }
        }
        log
    }

    fn checkers(log: &ClusterLog) -> Vec<&'static str> {
        check(&plan(), log).iter().map(|v| v.checker).collect()
    }

    #[test]
    fn a_clean_log_passes() {
        assert!(checkers(&clean(&plan())).is_empty());
    }

    #[test]
    fn planted_violations_are_found() {
        let base = clean(&plan());
        let mut log = base.clone();
        log.deliveries.push(("sub0".into(), 1, 0, 1, payload(0, 1)));
        assert!(checkers(&log).contains(&"cluster-duplicate"));
        let mut log = base.clone();
        log.deliveries.push(("sub1".into(), 1, 9, 9, "p9:9".into()));
        assert!(checkers(&log).contains(&"cluster-phantom"));
        let mut log = base.clone();
        log.deliveries.push(("sub0".into(), 2, 0, 2, payload(0, 2)));
        log.deliveries.push(("sub0".into(), 2, 0, 1, payload(0, 1)));
        assert!(checkers(&log).contains(&"cluster-order"));
        let mut log = base.clone();
        log.deliveries.push(("queue1".into(), 1, 0, 2, payload(0, 2)));
        assert!(checkers(&log).contains(&"cluster-queue-once"));
        let mut log = base.clone();
        log.deliveries
            .retain(|(who, _, p, s, _)| !(who == "sub1" && *p == 0 && *s == 3));
        assert!(checkers(&log).contains(&"cluster-convergence"));
        let mut log = base;
        log.deliveries
            .retain(|(who, _, p, s, _)| !(who.starts_with("queue") && *p == 1 && *s == 4));
        assert!(checkers(&log).contains(&"cluster-queue-liveness"));
    }
}
