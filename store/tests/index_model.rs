//! The stream index against a naive model (a list of messages) under random inserts, removals
//! and limit enforcement: the same state, the same per-subject answers, the same removals.

use bytes::Bytes;
use natrix_store::index::{Index, Limits, Meta, State};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert { subject: u8, size: u64, gap: u64 },
    Remove { pick: proptest::sample::Index },
    Enforce { limits: Limits, advance: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let limits = (
        proptest::option::of(0u64..10),
        proptest::option::of(0u64..2000),
        proptest::option::of(1i64..50),
        proptest::option::of(1u64..4),
    )
        .prop_map(|(max_msgs, max_bytes, max_age, per)| Limits {
            max_msgs,
            max_bytes,
            max_age,
            max_msgs_per_subject: per,
        });
    prop_oneof![
        5 => (0u8..4, 0u64..300, 1u64..3).prop_map(|(subject, size, gap)| Op::Insert { subject, size, gap }),
        2 => any::<proptest::sample::Index>().prop_map(|pick| Op::Remove { pick }),
        1 => (limits, 0i64..20).prop_map(|(limits, advance)| Op::Enforce { limits, advance }),
    ]
}

#[derive(Default)]
struct Model {
    msgs: Vec<(u64, Bytes, u64, i64)>,
    last: u64,
}

impl Model {
    fn state(&self) -> State {
        let msgs = self.msgs.len() as u64;
        let first = self.msgs.first().map_or(self.last + 1, |m| m.0);
        let mut subjects: Vec<&Bytes> = self.msgs.iter().map(|m| &m.1).collect();
        subjects.sort();
        subjects.dedup();
        State {
            msgs,
            bytes: self.msgs.iter().map(|m| m.2).sum(),
            first_seq: first,
            last_seq: self.last,
            num_subjects: subjects.len() as u64,
            num_deleted: if msgs == 0 { 0 } else { self.last - first + 1 - msgs },
        }
    }

    fn enforce(&mut self, limits: &Limits, now: i64) -> Vec<u64> {
        let mut removed = Vec::new();
        if let Some(per) = limits.max_msgs_per_subject {
            let mut keep = Vec::new();
            for m in self.msgs.iter().rev() {
                let same = keep.iter().filter(|k: &&(u64, Bytes, u64, i64)| k.1 == m.1).count() as u64;
                if same < per {
                    keep.push(m.clone());
                } else {
                    removed.push(m.0);
                }
            }
            keep.reverse();
            self.msgs = keep;
        }
        loop {
            let Some(oldest) = self.msgs.first().cloned() else {
                break;
            };
            let bytes: u64 = self.msgs.iter().map(|m| m.2).sum();
            let over = limits.max_msgs.is_some_and(|max| self.msgs.len() as u64 > max)
                || limits.max_bytes.is_some_and(|max| bytes > max)
                || limits.max_age.is_some_and(|age| now - oldest.3 >= age);
            if !over {
                break;
            }
            self.msgs.remove(0);
            removed.push(oldest.0);
        }
        removed.sort_unstable();
        removed
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_index_agrees_with_the_model(first in 1u64..5, ops in proptest::collection::vec(op(), 1..60)) {
        let mut index = Index::new(first);
        let mut model = Model { last: first - 1, ..Model::default() };
        let mut now = 0i64;
        let mut seq = first;
        for op in ops {
            match op {
                Op::Insert { subject, size, gap } => {
                    let subject = Bytes::from(format!("s.{subject}"));
                    now += 1;
                    let meta = Meta { subject: subject.clone(), size, time: now };
                    prop_assert!(index.insert(seq, meta.clone()), "insert refused");
                    prop_assert!(!index.insert(seq, meta), "a sequence twice");
                    model.msgs.push((seq, subject, size, now));
                    model.last = seq;
                    seq += gap;
                }
                Op::Remove { pick } => {
                    if model.msgs.is_empty() {
                        continue;
                    }
                    let i = pick.index(model.msgs.len());
                    let (s, subject, size, time) = model.msgs.remove(i);
                    prop_assert_eq!(index.remove(s), Some(Meta { subject, size, time }));
                    prop_assert_eq!(index.remove(s), None);
                }
                Op::Enforce { limits, advance } => {
                    now += advance;
                    prop_assert_eq!(index.enforce(&limits, now), model.enforce(&limits, now));
                }
            }
            prop_assert_eq!(index.state(), model.state());
            for subject in 0..4u8 {
                let subject = format!("s.{subject}");
                let on: Vec<u64> = model.msgs.iter().filter(|m| m.1 == subject.as_bytes()).map(|m| m.0).collect();
                prop_assert_eq!(index.last_for(subject.as_bytes()), on.last().copied());
                prop_assert_eq!(index.count_for(subject.as_bytes()), on.len() as u64);
                prop_assert_eq!(index.next_for(subject.as_bytes(), 0), on.first().copied());
            }
        }
    }
}
