//! Invariant checkers over a run's history (DESIGN section 6, core NATS).
//!
//! Safety properties hold whatever the faults: no phantom, corrupted or duplicated delivery,
//! per-publisher order to each subscription, at most one delivery per queue group, never more
//! than `UNSUB max`. Liveness properties hold where no fault touched the path: a subscription
//! confirmed by PING/PONG receives every message published (and acknowledged by a PING/PONG)
//! after it; a queue group gets each such message exactly once; `UNSUB max` is reached exactly;
//! after the run the server holds no connection and no subscription.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use natrix_core::subject;

use crate::history::{checksum, decode, Event, History, SubKey};
use crate::plan::{client_hosts, Plan};
use crate::run::FinalState;

/// How long a message may take to arrive after its publisher's PING/PONG confirmed it.
pub const SETTLE: Duration = Duration::from_secs(5);

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which checker found it.
    pub checker: &'static str,
    /// What it found.
    pub detail: String,
}

impl Violation {
    /// A violation found by `checker`.
    pub fn new(checker: &'static str, detail: String) -> Violation {
        Violation { checker, detail }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.checker, self.detail)
    }
}

/// A subscription's life, from the history.
#[derive(Debug, Clone)]
struct Sub {
    subject: String,
    queue: Option<String>,
    max: Option<u64>,
    confirmed: Duration,
    ended: Duration,
}

/// A published message, from the history.
#[derive(Debug, Clone)]
struct Published {
    subject: String,
    at: Duration,
    acked: Option<Duration>,
}

struct Index {
    subs: BTreeMap<SubKey, Sub>,
    published: BTreeMap<(u32, u64), Published>,
    /// Deliveries per subscription, in arrival order: (publisher, seq).
    deliveries: BTreeMap<SubKey, Vec<(u32, u64)>>,
}

fn index(history: &History, end: Duration) -> Index {
    let mut subs = BTreeMap::new();
    let mut published = BTreeMap::new();
    let mut deliveries: BTreeMap<SubKey, Vec<(u32, u64)>> = BTreeMap::new();
    let mut acks: Vec<(u32, u64, u64, Duration)> = Vec::new();
    for event in &history.events {
        match event {
            Event::Published {
                publisher,
                seq,
                subject,
                at,
                ..
            } => {
                published.insert(
                    (*publisher, *seq),
                    Published {
                        subject: subject.clone(),
                        at: *at,
                        acked: None,
                    },
                );
            }
            Event::Acked {
                publisher,
                from,
                upto,
                at,
            } => acks.push((*publisher, *from, *upto, *at)),
            Event::Subscribed {
                sub,
                subject,
                queue,
                max,
                at,
            } => {
                subs.insert(
                    *sub,
                    Sub {
                        subject: subject.clone(),
                        queue: queue.clone(),
                        max: *max,
                        confirmed: *at,
                        ended: end,
                    },
                );
            }
            Event::Ended { sub, at } => {
                if let Some(s) = subs.get_mut(sub) {
                    s.ended = *at;
                }
            }
            Event::Delivered { sub, payload, .. } => {
                if let Some((publisher, seq, _)) = decode(payload) {
                    deliveries.entry(*sub).or_default().push((publisher, seq));
                }
            }
        }
    }
    for ((publisher, seq), message) in published.iter_mut() {
        message.acked = acks
            .iter()
            .filter(|(p, from, upto, _)| p == publisher && from <= seq && upto >= seq)
            .map(|(_, _, _, at)| *at)
            .min();
    }
    Index {
        subs,
        published,
        deliveries,
    }
}

fn host(plan: &Plan, client: u32) -> String {
    client_hosts(plan.publishers, plan.subscribers, plan.queue_members)
        .get(client as usize)
        .cloned()
        .unwrap_or_default()
}

/// Runs every checker.
pub fn check_all(plan: &Plan, history: &History, final_state: FinalState) -> Vec<Violation> {
    let mut found = Vec::new();
    found.extend(phantom_or_corrupted(history));
    found.extend(duplicates(history));
    found.extend(publisher_order(history));
    found.extend(confirmed_subscriptions_receive(plan, history));
    found.extend(queue_groups_deliver_once(plan, history));
    found.extend(unsub_max_is_exact(plan, history));
    found.extend(connections_are_gone(final_state));
    found
}

/// Every delivery carries a message that was published, intact, on a subject its subscription
/// matches.
pub fn phantom_or_corrupted(history: &History) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut subs: BTreeMap<SubKey, String> = BTreeMap::new();
    let mut published: BTreeMap<(u32, u64), String> = BTreeMap::new();
    for event in &history.events {
        match event {
            Event::Published {
                publisher,
                seq,
                subject,
                ..
            } => {
                published.insert((*publisher, *seq), subject.clone());
            }
            Event::Subscribed { sub, subject, .. } => {
                subs.insert(*sub, subject.clone());
            }
            Event::Delivered {
                sub, subject, payload, ..
            } => {
                let shown = String::from_utf8_lossy(payload);
                let Some((publisher, seq, sum)) = decode(payload) else {
                    found.push(Violation::new(
                        "phantom",
                        format!("{sub:?} got an undecodable payload {shown:?}"),
                    ));
                    continue;
                };
                if sum != checksum(publisher, seq, subject) {
                    found.push(Violation::new(
                        "corrupted",
                        format!("{sub:?} got {shown:?} on {subject}: bad checksum"),
                    ));
                }
                match published.get(&(publisher, seq)) {
                    None => found.push(Violation::new(
                        "phantom",
                        format!("{sub:?} got {shown:?}, never published"),
                    )),
                    Some(original) if original != subject => found.push(Violation::new(
                        "phantom",
                        format!("{sub:?} got {shown:?} on {subject}, published on {original}"),
                    )),
                    Some(_) => {}
                }
                if let Some(pattern) = subs.get(sub) {
                    if !subject::matches(pattern.as_bytes(), subject.as_bytes()) {
                        found.push(Violation::new(
                            "phantom",
                            format!("{sub:?} on {pattern} got a message on {subject}"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// No subscription receives a message twice.
pub fn duplicates(history: &History) -> Vec<Violation> {
    let index = index(history, Duration::MAX);
    let mut found = Vec::new();
    for (sub, got) in &index.deliveries {
        let mut seen = BTreeSet::new();
        for message in got {
            if !seen.insert(*message) {
                found.push(Violation::new(
                    "duplicate",
                    format!("{sub:?} got p{}-{} twice", message.0, message.1),
                ));
            }
        }
    }
    found
}

/// Each subscription receives each publisher connection's messages in the order they were
/// published. (Messages a publisher sent on different connections have no order between them.)
pub fn publisher_order(history: &History) -> Vec<Violation> {
    let index = index(history, Duration::MAX);
    let connection_of: BTreeMap<(u32, u64), u32> = history
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Published {
                publisher,
                connection,
                seq,
                ..
            } => Some(((*publisher, *seq), *connection)),
            _ => None,
        })
        .collect();
    let mut found = Vec::new();
    for (sub, got) in &index.deliveries {
        let mut last: BTreeMap<(u32, u32), u64> = BTreeMap::new();
        for (publisher, seq) in got {
            let connection = connection_of.get(&(*publisher, *seq)).copied().unwrap_or(0);
            if let Some(previous) = last.insert((*publisher, connection), *seq) {
                if previous >= *seq {
                    found.push(Violation::new(
                        "order",
                        format!("{sub:?} got p{publisher}-{seq} after p{publisher}-{previous}"),
                    ));
                }
            }
        }
    }
    found
}

/// A plain subscription confirmed before a message was published receives it, if it lived
/// until the message was acknowledged (plus [`SETTLE`]) and no fault touched the path.
pub fn confirmed_subscriptions_receive(plan: &Plan, history: &History) -> Vec<Violation> {
    let index = index(history, plan.end());
    let mut found = Vec::new();
    for (key, sub) in index.subs.iter().filter(|(_, s)| s.queue.is_none() && s.max.is_none()) {
        let got: BTreeSet<(u32, u64)> = index
            .deliveries
            .get(key)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default();
        let sub_host = host(plan, key.client);
        for (&(publisher, seq), message) in &index.published {
            let Some(acked) = message.acked else { continue };
            let due = acked + SETTLE;
            let publisher_host = format!("pub{publisher}");
            if message.at < sub.confirmed
                || due > sub.ended
                || !subject::matches(sub.subject.as_bytes(), message.subject.as_bytes())
                || !plan.clean(&[&sub_host, &publisher_host], sub.confirmed, due)
            {
                continue;
            }
            if !got.contains(&(publisher, seq)) {
                found.push(Violation::new(
                    "lost",
                    format!(
                        "{key:?} ({sub_host}, {} confirmed at {:?}) never got p{publisher}-{seq} on {} published at {:?}",
                        sub.subject, sub.confirmed, message.subject, message.at
                    ),
                ));
            }
        }
    }
    found
}

/// A queue group gets each message at most once, and exactly once when no fault touched any
/// member or the publisher.
pub fn queue_groups_deliver_once(plan: &Plan, history: &History) -> Vec<Violation> {
    let index = index(history, plan.end());
    let mut found = Vec::new();
    let members: Vec<(&SubKey, &Sub)> = index.subs.iter().filter(|(_, s)| s.queue.is_some()).collect();
    let member_hosts: Vec<String> = members.iter().map(|(k, _)| host(plan, k.client)).collect();
    let mut counts: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    for (key, _) in &members {
        for message in index.deliveries.get(key).into_iter().flatten() {
            *counts.entry(*message).or_default() += 1;
        }
    }
    for (&(publisher, seq), message) in &index.published {
        let count = counts.get(&(publisher, seq)).copied().unwrap_or(0);
        if count > 1 {
            found.push(Violation::new(
                "queue",
                format!("queue group got p{publisher}-{seq} {count} times"),
            ));
            continue;
        }
        let Some(acked) = message.acked else { continue };
        let due = acked + SETTLE;
        let Some(first) = members.iter().map(|(_, s)| s.confirmed).min() else {
            continue;
        };
        let live = members.iter().any(|(_, s)| s.confirmed <= message.at && s.ended >= due);
        let publisher_host = format!("pub{publisher}");
        let mut hosts: Vec<&str> = member_hosts.iter().map(String::as_str).collect();
        hosts.push(&publisher_host);
        if count == 0 && live && plan.clean(&hosts, first, due) {
            found.push(Violation::new(
                "queue",
                format!("queue group never got p{publisher}-{seq}"),
            ));
        }
    }
    found
}

/// A subscription with `UNSUB max` never gets more than max messages, and gets exactly max
/// when at least that many reached it with no fault on the path.
pub fn unsub_max_is_exact(plan: &Plan, history: &History) -> Vec<Violation> {
    let index = index(history, plan.end());
    let mut found = Vec::new();
    for (key, sub) in index.subs.iter() {
        let Some(max) = sub.max else { continue };
        let got = index.deliveries.get(key).map_or(0, Vec::len) as u64;
        if got > max {
            found.push(Violation::new(
                "unsub-max",
                format!("{key:?} got {got} messages with UNSUB max {max}"),
            ));
            continue;
        }
        let sub_host = host(plan, key.client);
        let eligible = index
            .published
            .iter()
            .filter(|(&(publisher, _), m)| {
                let publisher_host = format!("pub{publisher}");
                m.at >= sub.confirmed
                    && subject::matches(sub.subject.as_bytes(), m.subject.as_bytes())
                    && m.acked.is_some_and(|a| {
                        a + SETTLE <= sub.ended && plan.clean(&[&sub_host, &publisher_host], sub.confirmed, a + SETTLE)
                    })
            })
            .count() as u64;
        if eligible >= max && got != max {
            found.push(Violation::new(
                "unsub-max",
                format!("{key:?} got {got} messages with UNSUB max {max} and {eligible} eligible"),
            ));
        }
    }
    found
}

/// After every client left and every fault healed, the server holds nothing.
pub fn connections_are_gone(final_state: FinalState) -> Vec<Violation> {
    if final_state.connections == 0 && final_state.subscriptions == 0 {
        Vec::new()
    } else {
        vec![Violation::new(
            "leak",
            format!(
                "after the run the server still has {} connections and {} subscriptions",
                final_state.connections, final_state.subscriptions
            ),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::payload;

    fn clean_plan() -> Plan {
        let mut plan = Plan::new(1);
        plan.windows.clear();
        plan.fail_rate = 0.0;
        plan.server_restarts.clear();
        plan.client_crashes.clear();
        plan.publishers = 1;
        plan.subscribers = 1;
        plan.queue_members = 2;
        plan
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// sub0 (client 1) on orders.*, queue members (clients 2, 3), limited (client 4) max 2.
    fn base() -> (History, SubKey, SubKey, SubKey, SubKey) {
        let sub = SubKey {
            client: 1,
            incarnation: 1,
            sid: 1,
        };
        let q0 = SubKey {
            client: 2,
            incarnation: 1,
            sid: 1,
        };
        let q1 = SubKey {
            client: 3,
            incarnation: 1,
            sid: 1,
        };
        let limited = SubKey {
            client: 4,
            incarnation: 1,
            sid: 1,
        };
        let mut h = History::default();
        h.push(Event::Subscribed {
            sub,
            subject: "orders.*".into(),
            queue: None,
            max: None,
            at: ms(10),
        });
        for q in [q0, q1] {
            h.push(Event::Subscribed {
                sub: q,
                subject: "orders.>".into(),
                queue: Some("workers".into()),
                max: None,
                at: ms(10),
            });
        }
        h.push(Event::Subscribed {
            sub: limited,
            subject: "orders.eu".into(),
            queue: None,
            max: Some(2),
            at: ms(10),
        });
        (h, sub, q0, q1, limited)
    }

    fn publish(h: &mut History, seq: u64) {
        h.push(Event::Published {
            publisher: 0,
            connection: 1,
            seq,
            subject: "orders.eu".into(),
            at: ms(100 + seq),
        });
    }

    fn deliver(h: &mut History, sub: SubKey, seq: u64) {
        h.push(Event::Delivered {
            sub,
            subject: "orders.eu".into(),
            payload: payload(0, seq, "orders.eu"),
            at: ms(200 + seq),
        });
    }

    /// A history every checker accepts: three messages, delivered as they should be.
    fn healthy() -> (History, SubKey, SubKey, SubKey, SubKey) {
        let (mut h, sub, q0, q1, limited) = base();
        for seq in 1..=3 {
            publish(&mut h, seq);
        }
        h.push(Event::Acked {
            from: 1,
            publisher: 0,
            upto: 3,
            at: ms(150),
        });
        for seq in 1..=3 {
            deliver(&mut h, sub, seq);
            deliver(&mut h, if seq % 2 == 0 { q0 } else { q1 }, seq);
        }
        deliver(&mut h, limited, 1);
        deliver(&mut h, limited, 2);
        (h, sub, q0, q1, limited)
    }

    #[test]
    fn a_healthy_history_passes_every_checker() {
        let (h, ..) = healthy();
        assert_eq!(check_all(&clean_plan(), &h, FinalState::default()), Vec::new());
    }

    #[test]
    fn planted_phantom_and_corruption_are_found() {
        let (mut h, sub, ..) = healthy();
        h.push(Event::Delivered {
            sub,
            subject: "orders.eu".into(),
            payload: payload(0, 99, "orders.eu"),
            at: ms(400),
        });
        h.push(Event::Delivered {
            sub,
            subject: "orders.eu".into(),
            payload: b"p0-1-00000000".to_vec(),
            at: ms(401),
        });
        h.push(Event::Delivered {
            sub,
            subject: "orders.eu".into(),
            payload: b"garbage".to_vec(),
            at: ms(402),
        });
        let found: Vec<&str> = phantom_or_corrupted(&h).iter().map(|v| v.checker).collect();
        assert_eq!(found, ["phantom", "corrupted", "phantom"]);
    }

    #[test]
    fn planted_duplicate_is_found() {
        let (mut h, sub, ..) = healthy();
        deliver(&mut h, sub, 2);
        assert_eq!(duplicates(&h).len(), 1);
    }

    #[test]
    fn planted_reordering_is_found() {
        let (mut h, sub, ..) = base();
        publish(&mut h, 1);
        publish(&mut h, 2);
        deliver(&mut h, sub, 2);
        deliver(&mut h, sub, 1);
        assert_eq!(publisher_order(&h).len(), 1);
    }

    #[test]
    fn messages_from_different_publisher_connections_have_no_order() {
        let (mut h, sub, ..) = base();
        h.push(Event::Published {
            publisher: 0,
            connection: 1,
            seq: 1,
            subject: "orders.eu".into(),
            at: ms(100),
        });
        h.push(Event::Published {
            publisher: 0,
            connection: 2,
            seq: 2,
            subject: "orders.eu".into(),
            at: ms(101),
        });
        deliver(&mut h, sub, 2);
        deliver(&mut h, sub, 1);
        assert_eq!(publisher_order(&h), Vec::new());
    }

    #[test]
    fn planted_loss_is_found_and_excused_under_faults() {
        let (mut h, sub, ..) = base();
        publish(&mut h, 1);
        h.push(Event::Acked {
            from: 1,
            publisher: 0,
            upto: 1,
            at: ms(150),
        });
        let _ = sub;
        let plan = clean_plan();
        assert_eq!(confirmed_subscriptions_receive(&plan, &h).len(), 1);
        let mut faulty = plan.clone();
        faulty.windows.push(crate::plan::Window {
            kind: "partition",
            host: "sub0".into(),
            from: ms(50),
            to: ms(500),
        });
        assert_eq!(confirmed_subscriptions_receive(&faulty, &h), Vec::new());
    }

    #[test]
    fn planted_double_queue_delivery_and_queue_loss_are_found() {
        let (mut h, _, q0, q1, _) = healthy();
        deliver(&mut h, q0, 1);
        let _ = q1;
        assert_eq!(queue_groups_deliver_once(&clean_plan(), &h).len(), 1);
        let (mut h, ..) = base();
        publish(&mut h, 1);
        h.push(Event::Acked {
            from: 1,
            publisher: 0,
            upto: 1,
            at: ms(150),
        });
        assert_eq!(queue_groups_deliver_once(&clean_plan(), &h).len(), 1);
    }

    #[test]
    fn planted_unsub_max_overrun_and_shortfall_are_found() {
        let (mut h, _, _, _, limited) = healthy();
        deliver(&mut h, limited, 3);
        assert_eq!(unsub_max_is_exact(&clean_plan(), &h).len(), 1);
        let (mut h, _, _, _, limited) = base();
        for seq in 1..=3 {
            publish(&mut h, seq);
        }
        h.push(Event::Acked {
            from: 1,
            publisher: 0,
            upto: 3,
            at: ms(150),
        });
        deliver(&mut h, limited, 1);
        assert_eq!(unsub_max_is_exact(&clean_plan(), &h).len(), 1);
    }

    #[test]
    fn planted_leak_is_found() {
        assert_eq!(
            connections_are_gone(FinalState {
                connections: 1,
                subscriptions: 0
            })
            .len(),
            1
        );
        assert_eq!(
            connections_are_gone(FinalState {
                connections: 0,
                subscriptions: 2
            })
            .len(),
            1
        );
        assert!(connections_are_gone(FinalState::default()).is_empty());
    }
}
