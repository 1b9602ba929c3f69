//! One seeded run: a Natrix server (the real `natrix-tokio` runtime over turmoil's network),
//! publishers and subscribers, and the seed's faults.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use natrix_core::proto::OwnedOp;
use natrix_core::{Config, LogSink, Node};
use turmoil::net::TcpListener;

use crate::checkers::{self, Violation};
use crate::client::{Client, ServerOp, PORT};
use crate::history::{now, payload, Event, History, SubKey};
use crate::plan::{Plan, PUBLISH_START, SUBJECTS};

/// turmoil's listener as the runtime's network.
/// turmoil's listener as the runtime's network.
pub(crate) struct SimListener(pub(crate) TcpListener);

impl natrix_tokio::Listener for SimListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> std::io::Result<(Self::Stream, std::net::SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }

    fn stream_local_addr(stream: &Self::Stream) -> std::io::Result<std::net::SocketAddr> {
        stream.local_addr()
    }

    async fn connect(address: String) -> std::io::Result<(Self::Stream, std::net::SocketAddr, std::net::SocketAddr)> {
        let stream = turmoil::net::TcpStream::connect(address).await?;
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        Ok((stream, peer, local))
    }
}

/// Serves `config` with the production tokio runtime on turmoil's network: clients on [`PORT`],
/// routes on `route_port`. Returns when the server exits (or the host is bounced).
pub(crate) async fn serve_clustered(config: Config, route_port: u16, log: LogSink) -> std::io::Result<()> {
    let client = TcpListener::bind(("0.0.0.0", PORT)).await?;
    let routes = TcpListener::bind(("0.0.0.0", route_port)).await?;
    let (_keep, commands) = tokio::sync::mpsc::unbounded_channel();
    natrix_tokio::serve_observed(
        natrix_tokio::Listeners {
            client: SimListener(client),
            monitor: None,
            cluster: Some(SimListener(routes)),
            cluster_tls: None,
            storage: None,
        },
        Node::new(config),
        log,
        commands,
        None,
        |_| {},
    )
    .await
}

/// Steps `sim` until every client is done, first letting `faults` start or end whatever is due
/// at each step's simulated time. A failed simulation (a host's error, a panic) is a violation
/// of `scenario`.
pub(crate) fn step_to_end(
    sim: &mut turmoil::Sim<'_>,
    scenario: &str,
    mut faults: impl FnMut(&mut turmoil::Sim<'_>, Duration),
) -> Vec<Violation> {
    loop {
        let elapsed = sim.elapsed();
        faults(sim, elapsed);
        match sim.step() {
            Ok(true) => return Vec::new(),
            Ok(false) => {}
            Err(e) => {
                return vec![Violation::new(
                    "simulation",
                    format!("the {scenario} simulation failed: {e}"),
                )]
            }
        }
    }
}

/// The server's counts after the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinalState {
    /// Open connections.
    pub connections: usize,
    /// Subscriptions.
    pub subscriptions: usize,
}

/// What a run produced.
pub struct Outcome {
    /// The plan it followed.
    pub plan: Plan,
    /// What the clients saw.
    pub history: History,
    /// The server afterwards.
    pub final_state: FinalState,
    /// What the checkers found.
    pub violations: Vec<Violation>,
}

type Shared = Rc<RefCell<History>>;

/// The simulated server's PING interval.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Runs seed `seed` and checks it.
pub fn run(seed: u64) -> Outcome {
    let plan = Plan::new(seed);
    let history: Shared = Rc::new(RefCell::new(History::default()));
    let gauges = Rc::new(Cell::new((0usize, 0usize)));
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .simulation_duration(plan.end() + Duration::from_secs(60))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(plan.latency.0)
        .max_message_latency(plan.latency.1);
    if plan.fail_rate > 0.0 {
        builder.fail_rate(plan.fail_rate).repair_rate(0.05);
    }
    let mut sim = builder.build();

    let server_gauges = Rc::clone(&gauges);
    sim.host("server", move || {
        let gauges = Rc::clone(&server_gauges);
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            let config = Config {
                port: PORT,
                seed,
                // A peer that vanished (partitioned, crashed) is found by PINGs; a short interval
                // lets the liveness phase see it happen.
                ping_interval: PING_INTERVAL,
                ..Config::default()
            };
            let (_keep, commands) = tokio::sync::mpsc::unbounded_channel();
            let log: LogSink = Arc::new(|_, _| {});
            natrix_tokio::serve_observed(
                natrix_tokio::Listeners {
                    client: SimListener(listener),
                    monitor: None,
                    cluster: None,
                    cluster_tls: None,
                    storage: None,
                },
                Node::new(config),
                log,
                commands,
                None,
                move |s| gauges.set((s.connection_count(), s.subscription_count())),
            )
            .await?;
            Ok(())
        }
    });

    for publisher in 0..plan.publishers {
        let host = format!("pub{publisher}");
        let crashes = crash_times(&plan, &host);
        let (history, plan) = (Rc::clone(&history), plan.clone());
        sim.client(host, async move {
            publish(publisher, &plan, crashes, history).await;
            Ok(())
        });
    }
    let mut client_index = plan.publishers;
    let mut add_subscriber = |sim: &mut turmoil::Sim<'_>, host: String, subs: Vec<SubSpec>, slow: bool| {
        let crashes = crash_times(&plan, &host);
        let (history, end) = (Rc::clone(&history), plan.end());
        let index = client_index;
        client_index += 1;
        sim.client(host, async move {
            subscribe(index, subs, slow, end, crashes, history).await;
            Ok(())
        });
    };
    for i in 0..plan.subscribers {
        let mut subs = vec![SubSpec::plain(1, "orders.*"), SubSpec::plain(2, "orders.>")];
        if i == 0 {
            subs.push(SubSpec::plain(3, "orders.eu"));
        }
        add_subscriber(&mut sim, format!("sub{i}"), subs, i == 0 && plan.slow_subscriber);
    }
    for i in 0..plan.queue_members {
        let spec = SubSpec {
            sid: 1,
            subject: "orders.>",
            queue: Some("workers"),
            max: None,
        };
        add_subscriber(&mut sim, format!("queue{i}"), vec![spec], false);
    }
    let limited = SubSpec {
        sid: 1,
        subject: "orders.eu",
        queue: None,
        max: Some(plan.unsub_max),
    };
    add_subscriber(&mut sim, "limited".to_string(), vec![limited], false);

    let mut applied = vec![(false, false); plan.windows.len()];
    let mut restarts_done = 0;
    let mut violations = step_to_end(&mut sim, "single-server", |sim, elapsed| {
        for (i, window) in plan.windows.iter().enumerate() {
            if !applied[i].0 && elapsed >= window.from {
                applied[i].0 = true;
                match window.kind {
                    "partition" => sim.partition(window.host.as_str(), "server"),
                    _ => sim.hold(window.host.as_str(), "server"),
                }
            }
            if applied[i].0 && !applied[i].1 && elapsed >= window.to {
                applied[i].1 = true;
                match window.kind {
                    "partition" => sim.repair(window.host.as_str(), "server"),
                    _ => sim.release(window.host.as_str(), "server"),
                }
            }
        }
        if restarts_done < plan.server_restarts.len() && elapsed >= plan.server_restarts[restarts_done] {
            restarts_done += 1;
            sim.bounce("server");
        }
    });
    // Liveness: every fault healed and every client gone, the server must let go of every
    // connection; one it can no longer hear from is found stale by its PINGs.
    for window in &plan.windows {
        sim.repair(window.host.as_str(), "server");
        sim.release(window.host.as_str(), "server");
    }
    let deadline = sim.elapsed() + PING_INTERVAL * (Config::default().ping_max + 2);
    while sim.elapsed() < deadline && gauges.get() != (0, 0) {
        if sim.step().is_err() {
            break;
        }
    }
    let (connections, subscriptions) = gauges.get();
    let final_state = FinalState {
        connections,
        subscriptions,
    };
    let history = history.borrow().clone();
    violations.extend(checkers::check_all(&plan, &history, final_state));
    Outcome {
        plan,
        history,
        final_state,
        violations,
    }
}

fn crash_times(plan: &Plan, host: &str) -> Vec<Duration> {
    let mut times: Vec<Duration> = plan
        .client_crashes
        .iter()
        .filter(|(h, _)| h == host)
        .map(|(_, t)| *t)
        .collect();
    times.sort();
    times
}

/// One subscription a client makes.
#[derive(Debug, Clone)]
struct SubSpec {
    sid: u32,
    subject: &'static str,
    queue: Option<&'static str>,
    max: Option<u64>,
}

impl SubSpec {
    fn plain(sid: u32, subject: &'static str) -> SubSpec {
        SubSpec {
            sid,
            subject,
            queue: None,
            max: None,
        }
    }
}

/// Connects, retrying every 100 ms until `until`.
async fn connect(until: Duration) -> Option<Client> {
    while now() < until {
        if let Ok(client) = Client::connect("server").await {
            return Some(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn publish(publisher: u32, plan: &Plan, mut crashes: Vec<Duration>, history: Shared) {
    let end = plan.end();
    let mut client = None;
    let mut unacked = 0u64;
    // The first message sent on the current connection: a PONG vouches only for those.
    let mut first_on_connection = 1u64;
    let mut connection = 0u32;
    for seq in 1..=plan.messages {
        let due = PUBLISH_START + plan.publish_gap * seq as u32;
        if now() < due {
            tokio::time::sleep(due - now()).await;
        }
        if crashes.first().is_some_and(|t| now() >= *t) {
            crashes.remove(0);
            client = None;
        }
        if client.is_none() {
            client = connect(end).await;
            connection += 1;
            first_on_connection = seq;
            unacked = 0;
        }
        let Some(c) = client.as_mut() else { return };
        let subject = SUBJECTS[(seq as usize + publisher as usize) % SUBJECTS.len()];
        let op = OwnedOp::publish(subject, None, None, &payload(publisher, seq, subject));
        history.borrow_mut().push(Event::Published {
            publisher,
            connection,
            seq,
            subject: subject.to_string(),
            at: now(),
        });
        if c.send(&op).await.is_err() {
            client = None;
            continue;
        }
        unacked += 1;
        if unacked >= 10 || seq == plan.messages {
            match c.round_trip(Duration::from_secs(2)).await {
                Ok(_) => {
                    unacked = 0;
                    history.borrow_mut().push(Event::Acked {
                        publisher,
                        from: first_on_connection,
                        upto: seq,
                        at: now(),
                    });
                }
                Err(_) => client = None,
            }
        }
    }
}

async fn subscribe(
    index: u32,
    subs: Vec<SubSpec>,
    slow: bool,
    end: Duration,
    mut crashes: Vec<Duration>,
    history: Shared,
) {
    let mut incarnation = 0;
    while now() < end {
        let Some(mut client) = connect(end).await else { return };
        incarnation += 1;
        let key = |sid| SubKey {
            client: index,
            incarnation,
            sid,
        };
        let mut ok = true;
        for spec in &subs {
            let sub = OwnedOp::Sub {
                subject: spec.subject.as_bytes().to_vec(),
                queue: spec.queue.map(|q| q.as_bytes().to_vec()),
                sid: spec.sid.to_string().into_bytes(),
            };
            let mut ops = vec![sub];
            if let Some(max) = spec.max {
                ops.push(OwnedOp::Unsub {
                    sid: spec.sid.to_string().into_bytes(),
                    max: Some(max),
                });
            }
            // One write: the checker counts max from the subscription's start.
            ok &= client.send_all(&ops).await.is_ok();
        }
        let early = match client.round_trip(Duration::from_secs(2)).await {
            Ok(early) if ok => early,
            _ => continue,
        };
        for spec in &subs {
            history.borrow_mut().push(Event::Subscribed {
                sub: key(spec.sid),
                subject: spec.subject.to_string(),
                queue: spec.queue.map(str::to_string),
                max: spec.max,
                at: now(),
            });
        }
        for op in early {
            record(&history, key, op);
        }
        // Read until the end, a crash, or a broken connection.
        loop {
            let crash_at = crashes.first().copied();
            let stop = crash_at.map_or(end, |t| t.min(end));
            if now() >= stop {
                break;
            }
            match tokio::time::timeout(stop - now(), client.next()).await {
                Err(_) => break,
                Ok(Err(_)) => break,
                Ok(Ok(ServerOp::Ping)) => {
                    if client.send(&OwnedOp::Pong).await.is_err() {
                        break;
                    }
                }
                Ok(Ok(op)) => {
                    record(&history, key, op);
                    if slow {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
        }
        if crashes.first().is_some_and(|t| now() >= *t) {
            crashes.remove(0);
        }
        for spec in &subs {
            history.borrow_mut().push(Event::Ended {
                sub: key(spec.sid),
                at: now(),
            });
        }
        drop(client);
    }
}

fn record(history: &Shared, key: impl Fn(u32) -> SubKey, op: ServerOp) {
    if let ServerOp::Msg { subject, sid, payload } = op {
        history.borrow_mut().push(Event::Delivered {
            sub: key(sid),
            subject,
            payload,
            at: now(),
        });
    }
}
