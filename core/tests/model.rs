//! Model-based test: random sequences of client operations go into the core (no runtime, virtual
//! time) and what it emits is compared with a reference model of subscriptions and deliveries.

use std::collections::BTreeMap;

use natrix_core::subject;
use natrix_core::testing::Harness;
use natrix_core::{CloseReason, Config, ConnId, Input};
use proptest::prelude::*;

const QUIET: &str = r#"{"verbose":false,"pedantic":false,"headers":true,"protocol":1}"#;
const CLIENTS: usize = 3;
const PATTERNS: &[&str] = &["a.b", "a.*", "a.>", ">", "*.b", "a.b.c", "x"];
const SUBJECTS: &[&str] = &["a.b", "a.c", "a.b.c", "x", "y.b"];

#[derive(Debug, Clone)]
enum Op {
    Sub {
        client: usize,
        sid: u8,
        pattern: usize,
        queue: Option<u8>,
    },
    Unsub {
        client: usize,
        sid: u8,
        max: Option<u64>,
    },
    Pub {
        client: usize,
        subject: usize,
    },
    Reconnect {
        client: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..CLIENTS, 0u8..4, 0..PATTERNS.len(), proptest::option::of(0u8..2))
            .prop_map(|(client, sid, pattern, queue)| Op::Sub { client, sid, pattern, queue }),
        2 => (0..CLIENTS, 0u8..4, proptest::option::of(0u64..4)).prop_map(|(client, sid, max)| Op::Unsub { client, sid, max }),
        6 => (0..CLIENTS, 0..SUBJECTS.len()).prop_map(|(client, subject)| Op::Pub { client, subject }),
        1 => (0..CLIENTS).prop_map(|client| Op::Reconnect { client }),
    ]
}

/// The model's view of one subscription.
#[derive(Debug, Clone)]
struct ModelSub {
    pattern: &'static str,
    queue: Option<u8>,
    max: Option<u64>,
    delivered: u64,
}

/// Parses `MSG <subject> <sid> <size>\r\n<payload>\r\n` deliveries.
fn deliveries(text: &str) -> Vec<(String, u8, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find("\r\n") {
        let line = &rest[..end];
        rest = &rest[end + 2..];
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[0], "MSG", "unexpected line {line:?}");
        let size: usize = parts[3].parse().expect("size");
        let payload = rest[..size].to_string();
        rest = &rest[size + 2..];
        out.push((parts[1].to_string(), parts[2].parse().expect("sid"), payload));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_core_delivers_what_the_model_says(ops in proptest::collection::vec(op(), 1..80)) {
        let mut h = Harness::new(Config::default());
        let mut conns: Vec<ConnId> = (0..CLIENTS).map(|_| h.client(QUIET)).collect();
        let mut model: BTreeMap<(usize, u8), ModelSub> = BTreeMap::new();
        let mut counter = 0u64;
        for op in ops {
            match op {
                Op::Sub { client, sid, pattern, queue } => {
                    let pattern = PATTERNS[pattern];
                    let line = match queue {
                        Some(q) => format!("SUB {pattern} q{q} {sid}\r\n"),
                        None => format!("SUB {pattern} {sid}\r\n"),
                    };
                    h.send(conns[client], line.as_bytes());
                    // The first subscription with a sid wins.
                    model.entry((client, sid)).or_insert(ModelSub { pattern, queue, max: None, delivered: 0 });
                }
                Op::Unsub { client, sid, max } => {
                    let line = match max {
                        Some(max) => format!("UNSUB {sid} {max}\r\n"),
                        None => format!("UNSUB {sid}\r\n"),
                    };
                    h.send(conns[client], line.as_bytes());
                    if let Some(sub) = model.get_mut(&(client, sid)) {
                        match max {
                            Some(max) if max > 0 && max > sub.delivered => sub.max = Some(max),
                            _ => {
                                model.remove(&(client, sid));
                            }
                        }
                    }
                }
                Op::Reconnect { client } => {
                    h.input(Input::Closed { conn: conns[client], reason: CloseReason::ClientClosed });
                    conns[client] = h.client(QUIET);
                    model.retain(|(c, _), _| *c != client);
                }
                Op::Pub { client, subject } => {
                    let subject = SUBJECTS[subject];
                    counter += 1;
                    let body = format!("m{counter}");
                    h.send(conns[client], format!("PUB {subject} {}\r\n{body}\r\n", body.len()).as_bytes());
                    let mut got: BTreeMap<(usize, u8), usize> = BTreeMap::new();
                    for (c, conn) in conns.iter().enumerate() {
                        for (subj, sid, payload) in deliveries(&h.read_text(*conn)) {
                            prop_assert_eq!(&subj, subject);
                            prop_assert_eq!(&payload, &body);
                            *got.entry((c, sid)).or_default() += 1;
                        }
                    }
                    // Plain subscriptions: exactly one copy each; queue groups: one member each.
                    let mut groups: BTreeMap<u8, Vec<(usize, u8)>> = BTreeMap::new();
                    for (key, sub) in &model {
                        if !subject::matches(sub.pattern.as_bytes(), subject.as_bytes()) {
                            prop_assert!(!got.contains_key(key), "{:?} got {} on {}", key, subject, sub.pattern);
                            continue;
                        }
                        match sub.queue {
                            None => prop_assert_eq!(got.get(key).copied(), Some(1), "{:?} on {}", key, subject),
                            Some(q) => groups.entry(q).or_default().push(*key),
                        }
                    }
                    for (q, members) in &groups {
                        let receivers: Vec<_> = members.iter().filter(|k| got.contains_key(k)).collect();
                        prop_assert_eq!(receivers.len(), 1, "queue q{} members {:?} got {:?}", q, members, got);
                        prop_assert_eq!(got.get(receivers[0]).copied(), Some(1));
                    }
                    prop_assert!(got.keys().all(|k| model.contains_key(k)), "delivery to an unknown subscription {:?}", got);
                    // Count deliveries; a subscription that reached its max is gone.
                    for key in got.keys() {
                        if let Some(sub) = model.get_mut(key) {
                            sub.delivered += 1;
                            if sub.max.is_some_and(|max| sub.delivered >= max) {
                                model.remove(key);
                            }
                        }
                    }
                }
            }
            prop_assert_eq!(h.server.subscription_count(), model.len());
        }
    }
}
