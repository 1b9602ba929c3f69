//! Records under damage: whatever single stretch of a segment is overwritten, zeroed or cut
//! off, every record outside it reads back exactly as written, nothing damaged is returned,
//! and the damage is reported.

use bytes::Bytes;
use natrix_store::record::{scan, Record};
use proptest::prelude::*;

fn record() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>, bool)> {
    (
        proptest::collection::vec(b'a'..=b'z', 1..20),
        proptest::collection::vec(any::<u8>(), 0..30),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
    )
}

/// How a stretch is spoiled.
#[derive(Debug, Clone)]
enum Fault {
    /// Flip one bit.
    Flip { at: usize, bit: u8 },
    /// Zero a range.
    Zero { at: usize, len: usize },
    /// Cut the segment short.
    Truncate { at: usize },
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn damage_hides_only_what_it_touches(
        parts in proptest::collection::vec(record(), 1..12),
        fault_at in any::<proptest::sample::Index>(),
        fault_len in 1usize..64,
        bit in 0u8..8,
        kind in 0u8..3,
    ) {
        let records: Vec<Record> = parts
            .into_iter()
            .enumerate()
            .map(|(i, (subject, headers, payload, tombstone))| Record {
                seq: i as u64 + 1,
                time: 1_000 + i as i64,
                subject: Bytes::from(subject),
                headers: Bytes::from(headers),
                payload: Bytes::from(payload),
                tombstone,
            })
            .collect();
        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        for r in &records {
            let start = bytes.len();
            r.encode(&mut bytes).expect("encodes");
            spans.push(start..bytes.len());
        }
        let at = fault_at.index(bytes.len());
        let fault = match kind {
            0 => Fault::Flip { at, bit },
            1 => Fault::Zero { at, len: fault_len },
            _ => Fault::Truncate { at },
        };
        // A segment cut exactly between records looks like a shorter one: only the engine's
        // own record of what it wrote (the index, the last sequence) can tell.
        let clean_cut = matches!(fault, Fault::Truncate { at } if spans.iter().any(|s| s.start == at));
        let touched = match fault {
            Fault::Flip { at, bit } => {
                bytes[at] ^= 1 << bit;
                at..at + 1
            }
            Fault::Zero { at, len } => {
                let end = (at + len).min(bytes.len());
                let before = bytes[at..end].to_vec();
                bytes[at..end].fill(0);
                if before.iter().all(|b| *b == 0) { at..at } else { at..end }
            }
            Fault::Truncate { at } => {
                let len = bytes.len();
                bytes.truncate(at);
                at..len
            }
        };
        let found = scan(&Bytes::from(bytes));
        // Nothing that was not written comes back, and nothing written comes back changed.
        for (offset, record) in &found.records {
            let i = spans.iter().position(|s| s.start == *offset);
            prop_assert!(i.is_some(), "a record at {} that was never written: {:?}", offset, record);
            prop_assert_eq!(record, &records[i.unwrap_or_default()]);
        }
        // Every record the fault did not touch comes back.
        for (span, record) in spans.iter().zip(&records) {
            let untouched = span.end <= touched.start || span.start >= touched.end;
            if untouched {
                prop_assert!(
                    found.records.iter().any(|(o, r)| *o == span.start && r == record),
                    "record {} lost to a fault at {:?}", record.seq, touched
                );
            }
        }
        // The damage is reported, as damage or as a torn tail (and nothing is, without damage).
        let lost = spans.iter().any(|s| !found.records.iter().any(|(o, _)| *o == s.start));
        let reported = !found.damaged.is_empty() || found.torn_tail.is_some();
        if !clean_cut {
            prop_assert_eq!(lost, reported);
        }
    }
}
