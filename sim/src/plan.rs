//! The fault plan and workload of one seed, chosen swarm-style: each seed decides which faults
//! are on at all and how often they strike, so some seeds run clean and others run rough.

use std::fmt;
use std::time::Duration;

use natrix_core::rng::Rng;

/// A stretch of time during which a fault affects the link between two hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// What happens: "partition" or "hold".
    pub kind: &'static str,
    /// The client host.
    pub host: String,
    /// When it starts.
    pub from: Duration,
    /// When it is repaired.
    pub to: Duration,
}

/// Everything a seed decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The seed.
    pub seed: u64,
    /// Publishing clients.
    pub publishers: u32,
    /// Messages each publisher sends.
    pub messages: u64,
    /// Time between publishes.
    pub publish_gap: Duration,
    /// Plain subscribers.
    pub subscribers: u32,
    /// Members of the queue group.
    pub queue_members: u32,
    /// The `UNSUB max` of the limited subscription.
    pub unsub_max: u64,
    /// Whether subscriber 0 reads slowly.
    pub slow_subscriber: bool,
    /// Message latency range.
    pub latency: (Duration, Duration),
    /// Partitions and held links.
    pub windows: Vec<Window>,
    /// Random link failures (turmoil's fail rate), when on.
    pub fail_rate: f64,
    /// When the server restarts.
    pub server_restarts: Vec<Duration>,
    /// (client host, when it crashes and reconnects).
    pub client_crashes: Vec<(String, Duration)>,
}

/// The subjects publishers use.
pub const SUBJECTS: &[&str] = &["orders.eu", "orders.us", "orders.eu.new"];

/// When publishing starts (after every subscription is confirmed in a clean run).
pub const PUBLISH_START: Duration = Duration::from_secs(2);

impl Plan {
    /// The plan for `seed`.
    pub fn new(seed: u64) -> Plan {
        let mut rng = Rng::new(seed ^ 0x5EED_F00D);
        let mut chance = |percent: usize| rng_below(&mut rng, 100) < percent;
        let (partitions, holds, failures, restarts, crashes, slow) =
            (chance(40), chance(30), chance(15), chance(20), chance(30), chance(30));
        let mut rng = Rng::new(seed);
        let publishers = 1 + rng.below(2) as u32;
        let messages = 20 + rng.below(180) as u64;
        let publish_gap = Duration::from_millis(1 + rng.below(20) as u64);
        let subscribers = 1 + rng.below(3) as u32;
        let queue_members = 2 + rng.below(2) as u32;
        let unsub_max = 1 + rng.below(10) as u64;
        let min_latency = Duration::from_micros(rng.below(2000) as u64);
        let latency = (
            min_latency,
            min_latency + Duration::from_micros(1 + rng.below(20_000) as u64),
        );
        let run_for = PUBLISH_START + publish_gap * messages as u32;
        let hosts = client_hosts(publishers, subscribers, queue_members);
        let mut windows = Vec::new();
        for (enabled, kind) in [(partitions, "partition"), (holds, "hold")] {
            if enabled {
                for _ in 0..1 + rng.below(3) {
                    let host = hosts[rng.below(hosts.len())].clone();
                    let from = random_time(&mut rng, run_for);
                    let to = from + Duration::from_millis(50 + rng.below(2000) as u64);
                    windows.push(Window { kind, host, from, to });
                }
            }
        }
        let fail_rate = if failures {
            0.0005 * (1 + rng.below(4)) as f64
        } else {
            0.0
        };
        let server_restarts = if restarts {
            (0..1 + rng.below(2)).map(|_| random_time(&mut rng, run_for)).collect()
        } else {
            Vec::new()
        };
        let client_crashes = if crashes {
            (0..1 + rng.below(3))
                .map(|_| (hosts[rng.below(hosts.len())].clone(), random_time(&mut rng, run_for)))
                .collect()
        } else {
            Vec::new()
        };
        Plan {
            seed,
            publishers,
            messages,
            publish_gap,
            subscribers,
            queue_members,
            unsub_max,
            slow_subscriber: slow,
            latency,
            windows,
            fail_rate,
            server_restarts,
            client_crashes,
        }
    }

    /// When publishers are done, in a run without faults.
    pub fn publish_end(&self) -> Duration {
        PUBLISH_START + self.publish_gap * self.messages as u32
    }

    /// When subscribers stop reading and every client closes.
    pub fn end(&self) -> Duration {
        self.publish_end() + Duration::from_secs(10)
    }

    /// How many faults the plan schedules (its length).
    pub fn fault_count(&self) -> usize {
        self.windows.len() + self.server_restarts.len() + self.client_crashes.len() + usize::from(self.fail_rate > 0.0)
    }

    /// Whether no fault touches any of `hosts` (or the server, which touches everyone) between
    /// `from` and `to`. Random link failures touch everything.
    pub fn clean(&self, hosts: &[&str], from: Duration, to: Duration) -> bool {
        if self.fail_rate > 0.0 {
            return false;
        }
        let overlaps = |a: Duration, b: Duration| a <= to && b >= from;
        let touches = |host: &str| hosts.contains(&host);
        !self.windows.iter().any(|w| touches(&w.host) && overlaps(w.from, w.to))
            && !self.server_restarts.iter().any(|t| overlaps(*t, *t))
            && !self.client_crashes.iter().any(|(h, t)| touches(h) && overlaps(*t, *t))
    }
}

fn rng_below(rng: &mut Rng, n: usize) -> usize {
    rng.below(n)
}

fn random_time(rng: &mut Rng, within: Duration) -> Duration {
    Duration::from_millis(rng.below(within.as_millis().max(1) as usize) as u64)
}

/// Client host names, in the order clients are numbered.
pub fn client_hosts(publishers: u32, subscribers: u32, queue_members: u32) -> Vec<String> {
    let mut hosts: Vec<String> = (0..publishers).map(|i| format!("pub{i}")).collect();
    hosts.extend((0..subscribers).map(|i| format!("sub{i}")));
    hosts.extend((0..queue_members).map(|i| format!("queue{i}")));
    hosts.push("limited".to_string());
    hosts
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "publishers={} messages={} gap={:?} subscribers={} queue={} unsub_max={} slow={} latency={:?}..{:?}",
            self.publishers,
            self.messages,
            self.publish_gap,
            self.subscribers,
            self.queue_members,
            self.unsub_max,
            self.slow_subscriber,
            self.latency.0,
            self.latency.1
        )?;
        for w in &self.windows {
            write!(f, " {}({})@{:?}..{:?}", w.kind, w.host, w.from, w.to)?;
        }
        if self.fail_rate > 0.0 {
            write!(f, " link-failures(rate={})", self.fail_rate)?;
        }
        for t in &self.server_restarts {
            write!(f, " server-restart@{t:?}")?;
        }
        for (h, t) in &self.client_crashes {
            write!(f, " crash({h})@{t:?}")?;
        }
        Ok(())
    }
}
