//! The stream store end to end on a model disk: what is stored reads back exactly, deleted
//! and limit-removed messages read as not found, a restart gives the same state and the same
//! answers, and a damaged record reads as damaged, never as a message.

use std::collections::BTreeMap;

use bytes::Bytes;
use natrix_store::commit::Durability;
use natrix_store::index::Limits;
use natrix_store::io::{IoId, IoOutcome, IoRequest, StorePath};
use natrix_store::memory::MemFs;
use natrix_store::stream::{Event, ReadError, StoreConfig, StoredMessage, StreamStore};
use proptest::prelude::*;

fn dir() -> StorePath {
    StorePath::new("s").expect("valid")
}

struct Rig {
    disk: MemFs,
    next: u64,
}

impl Rig {
    /// Runs every write and sync the store asks for.
    fn flush(&mut self, store: &mut StreamStore<u64>) {
        loop {
            let mut next = self.next;
            let request = store.poll_request(&mut || {
                next += 1;
                IoId(next)
            });
            self.next = next;
            let Some((id, request)) = request else { break };
            store.complete(&self.disk.run(id, &request));
        }
    }

    /// Reads `seq` through the disk.
    fn read(&mut self, store: &mut StreamStore<u64>, seq: u64) -> Result<StoredMessage, ReadError> {
        let mut next = self.next;
        let request = store.read(seq, seq, &mut || {
            next += 1;
            IoId(next)
        });
        self.next = next;
        let event = match request {
            Some((id, request)) => store.complete(&self.disk.run(id, &request)),
            None => store.poll_answered(),
        };
        match event {
            Some(Event::Read(token, result)) => {
                assert_eq!(token, seq);
                result
            }
            other => panic!("a read answers with a read: {other:?}"),
        }
    }

    fn segments(&mut self) -> Vec<(u32, Bytes)> {
        let Ok(IoOutcome::Names(names)) = self.disk.run(IoId(0), &IoRequest::List { dir: Some(dir()) }).result else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|name| {
                let n: u32 = name.strip_suffix(".seg")?.parse().ok()?;
                let path = dir().join(name).ok()?;
                match self
                    .disk
                    .run(
                        IoId(0),
                        &IoRequest::Read {
                            path,
                            offset: 0,
                            len: usize::MAX,
                        },
                    )
                    .result
                {
                    Ok(IoOutcome::Data(data)) => Some((n, data)),
                    _ => None,
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Store {
        subject: u8,
        payload: Vec<u8>,
    },
    Delete {
        pick: proptest::sample::Index,
    },
    /// `filter`: a subject number, or 3 for `s.*`.
    Purge {
        filter: Option<u8>,
        below: Option<u64>,
        keep: Option<u64>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, proptest::collection::vec(any::<u8>(), 0..100)).prop_map(|(subject, payload)| Op::Store { subject, payload }),
        1 => any::<proptest::sample::Index>().prop_map(|pick| Op::Delete { pick }),
        1 => (proptest::option::of(0u8..4), proptest::option::of(0u64..30), proptest::option::of(0u64..4))
            .prop_map(|(filter, below, keep)| Op::Purge { filter, below, keep }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn what_is_stored_reads_back_and_survives_a_restart(
        ops in proptest::collection::vec(op(), 1..40),
        per_subject in proptest::option::of(1u64..4),
        max_msgs in proptest::option::of(1u64..15),
        first_seq in 1u64..4,
        max_segment in 150u64..1000,
    ) {
        let config = StoreConfig {
            max_segment,
            durability: Durability::Sync,
            limits: Limits { max_msgs, max_bytes: None, max_age: None, max_msgs_per_subject: per_subject },
            first_seq,
            overhead: 0,
            header_overhead: 0,
        };
        let mut rig = Rig { disk: MemFs::new(), next: 0 };
        rig.disk.run(IoId(0), &IoRequest::CreateDir { dir: dir() });
        let mut store: StreamStore<u64> = StreamStore::new(dir(), config).expect("valid");
        // The model: what should be readable.
        let mut live: BTreeMap<u64, (Bytes, Bytes)> = BTreeMap::new();
        let mut now = 0i64;
        for op in ops {
            now += 1;
            match op {
                Op::Store { subject, payload } => {
                    let subject = Bytes::from(format!("s.{subject}"));
                    let (seq, removed) = store
                        .store(subject.clone(), Bytes::new(), Bytes::from(payload.clone()), now, 0)
                        .expect("stores");
                    live.insert(seq, (subject, Bytes::from(payload)));
                    for gone in removed {
                        prop_assert!(live.remove(&gone).is_some(), "a limit removed {} twice", gone);
                    }
                }
                Op::Delete { pick } => {
                    if live.is_empty() {
                        continue;
                    }
                    let seq = *live.keys().nth(pick.index(live.len())).expect("in range");
                    prop_assert!(store.delete(seq, now, 0).expect("deletes"));
                    live.remove(&seq);
                }
                Op::Purge { filter, below, keep } => {
                    let filter = filter.map(|f| if f == 3 { "s.*".to_string() } else { format!("s.{f}") });
                    let matching: Vec<u64> = live
                        .iter()
                        .filter(|(seq, _)| below.is_none_or(|b| **seq < b))
                        .filter(|(_, (subject, _))| filter.as_ref().is_none_or(|f| f == "s.*" || f.as_bytes() == &subject[..]))
                        .map(|(seq, _)| *seq)
                        .collect();
                    let purge = matching.len().saturating_sub(keep.unwrap_or(0) as usize);
                    let purged = store
                        .purge(filter.as_deref().map(str::as_bytes), below, keep, now, 0)
                        .expect("purges");
                    prop_assert_eq!(purged, purge as u64);
                    for seq in &matching[..purge] {
                        live.remove(seq);
                    }
                    while store.poll_answered().is_some() {}
                }
            }
            rig.flush(&mut store);
        }
        let last = store.state().last_seq;
        let check = |rig: &mut Rig, store: &mut StreamStore<u64>| -> Result<(), TestCaseError> {
            for seq in first_seq..=last + 1 {
                match (rig.read(store, seq), live.get(&seq)) {
                    (Ok(message), Some((subject, payload))) => {
                        prop_assert_eq!(&message.subject, subject);
                        prop_assert_eq!(&message.payload, payload);
                    }
                    (Err(ReadError::NotFound), None) => {}
                    (got, want) => prop_assert!(false, "seq {}: read {:?}, expected {:?}", seq, got, want),
                }
            }
            prop_assert_eq!(store.state().msgs, live.len() as u64);
            Ok(())
        };
        check(&mut rig, &mut store)?;
        let before = store.state();
        let segments = rig.segments();
        let (mut recovered, findings) = StreamStore::<u64>::recover(dir(), config, segments, now).expect("valid");
        prop_assert!(findings.is_empty(), "{:?}", findings);
        prop_assert_eq!(recovered.state(), before);
        check(&mut rig, &mut recovered)?;
    }
}

#[test]
fn a_damaged_record_is_never_served() {
    let config = StoreConfig {
        max_segment: 1 << 20,
        durability: Durability::Sync,
        limits: Limits::default(),
        first_seq: 1,
        overhead: 0,
        header_overhead: 0,
    };
    let mut rig = Rig {
        disk: MemFs::new(),
        next: 0,
    };
    rig.disk.run(IoId(0), &IoRequest::CreateDir { dir: dir() });
    let mut store: StreamStore<u64> = StreamStore::new(dir(), config).expect("valid");
    for i in 0..3u8 {
        store
            .store(
                Bytes::from_static(b"orders"),
                Bytes::new(),
                Bytes::from(vec![i; 10]),
                1,
                0,
            )
            .expect("stores");
    }
    rig.flush(&mut store);
    // Flip a payload byte of the second record on disk.
    let first_len = rig.read(&mut store, 1).map(|m| m.payload.len()).expect("readable");
    let record_len = 31 + 6 + first_len + 4;
    let path = dir().join("1.seg").expect("valid");
    let at = (record_len + 31 + 6 + 3) as u64;
    let byte = match rig
        .disk
        .run(
            IoId(0),
            &IoRequest::Read {
                path: path.clone(),
                offset: at,
                len: 1,
            },
        )
        .result
    {
        Ok(IoOutcome::Data(d)) => d[0],
        other => panic!("{other:?}"),
    };
    rig.disk.run(
        IoId(0),
        &IoRequest::Write {
            path,
            offset: at,
            data: Bytes::from(vec![byte ^ 0x10]),
        },
    );
    assert_eq!(rig.read(&mut store, 2), Err(ReadError::Damaged(2)));
    assert_eq!(
        rig.read(&mut store, 3).map(|m| m.payload),
        Ok(Bytes::from(vec![2u8; 10]))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Damage anywhere on disk: every read is either the message exactly as stored or
    /// "damaged", never a wrong message; a restart reports the damage and serves the rest.
    #[test]
    fn damage_is_never_served(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..25),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..8), 1..6),
        max_segment in 150u64..800,
    ) {
        let config = StoreConfig {
            max_segment,
            durability: Durability::Sync,
            limits: Limits::default(),
            first_seq: 1,
            overhead: 0,
            header_overhead: 0,
        };
        let mut rig = Rig { disk: MemFs::new(), next: 0 };
        rig.disk.run(IoId(0), &IoRequest::CreateDir { dir: dir() });
        let mut store: StreamStore<u64> = StreamStore::new(dir(), config).expect("valid");
        for (i, payload) in payloads.iter().enumerate() {
            store
                .store(Bytes::from_static(b"orders"), Bytes::new(), Bytes::from(payload.clone()), i as i64, 0)
                .expect("stores");
        }
        rig.flush(&mut store);
        // Flip bits in the segments on disk.
        let segments = rig.segments();
        for (pick, bit) in &flips {
            let (n, bytes) = &segments[pick.index(segments.len())];
            if bytes.is_empty() {
                continue;
            }
            let path = dir().join(&format!("{n}.seg")).expect("valid");
            let at = pick.index(bytes.len()) as u64;
            let current = match rig.disk.run(IoId(0), &IoRequest::Read { path: path.clone(), offset: at, len: 1 }).result {
                Ok(IoOutcome::Data(d)) => d[0],
                _ => continue,
            };
            rig.disk.run(IoId(0), &IoRequest::Write { path, offset: at, data: Bytes::from(vec![current ^ (1 << bit)]) });
        }
        let check = |rig: &mut Rig, store: &mut StreamStore<u64>| -> Result<usize, TestCaseError> {
            let mut served = 0;
            for (i, payload) in payloads.iter().enumerate() {
                match rig.read(store, i as u64 + 1) {
                    Ok(message) => {
                        prop_assert_eq!(&message.payload[..], &payload[..], "a wrong message served for {}", i + 1);
                        prop_assert_eq!(&message.subject[..], b"orders");
                        served += 1;
                    }
                    Err(ReadError::Damaged(_)) | Err(ReadError::NotFound) => {}
                    Err(other) => prop_assert!(false, "{:?}", other),
                }
            }
            Ok(served)
        };
        let before = check(&mut rig, &mut store)?;
        let (mut recovered, findings) = StreamStore::<u64>::recover(dir(), config, rig.segments(), 100).expect("valid");
        let after = check(&mut rig, &mut recovered)?;
        // What the running store could not serve, the restarted one reports.
        prop_assert_eq!(after, before);
        prop_assert_eq!(findings.is_empty(), after == payloads.len());
    }
}
