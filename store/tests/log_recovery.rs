//! The log end to end on a model disk: append, run the IO, read the segments back and recover.
//! Every acknowledged message is found at its sequence with its exact bytes; with one segment
//! damaged, every record outside the damage is still found and the damage is reported.

use bytes::Bytes;
use natrix_store::commit::{Committed, Durability};
use natrix_store::io::{IoId, IoOutcome, IoRequest, StorePath};
use natrix_store::log::{Finding, Log};
use natrix_store::memory::MemFs;
use natrix_store::record::{decode, Decoded};
use proptest::prelude::*;

type Message = (Vec<u8>, Vec<u8>, Vec<u8>);

fn message() -> impl Strategy<Value = Message> {
    (
        proptest::collection::vec(b'a'..=b'z', 1..12),
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
}

/// Appends everything, runs the IO to the end; returns the acknowledged sequences and the disk.
fn write(messages: &[Message], max_segment: u64) -> (Vec<u64>, MemFs) {
    let dir = StorePath::new("stream").expect("valid");
    let mut disk = MemFs::new();
    disk.run(IoId(0), &IoRequest::CreateDir { dir: dir.clone() });
    let mut log: Log<u64> = Log::new(dir, max_segment, Durability::Sync, 1).expect("valid");
    let mut acked = Vec::new();
    let mut next = 0u64;
    for (i, (subject, headers, payload)) in messages.iter().enumerate() {
        let seq = log
            .append(
                i as i64,
                Bytes::from(subject.clone()),
                Bytes::from(headers.clone()),
                Bytes::from(payload.clone()),
                i as u64 + 1,
            )
            .expect("appends");
        assert_eq!(seq, i as u64 + 1);
        // Run some IO now and then, so batches vary.
        if i % 3 == 0 {
            while let Some((id, request)) = log.poll_request(&mut || {
                next += 1;
                IoId(next)
            }) {
                if let Some(Committed::Durable(tokens)) = log.complete(&disk.run(id, &request)) {
                    acked.extend(tokens);
                }
            }
        }
    }
    while let Some((id, request)) = log.poll_request(&mut || {
        next += 1;
        IoId(next)
    }) {
        if let Some(Committed::Durable(tokens)) = log.complete(&disk.run(id, &request)) {
            acked.extend(tokens);
        }
    }
    (acked, disk)
}

fn segments(disk: &mut MemFs) -> Vec<(u32, Bytes)> {
    let dir = StorePath::new("stream").expect("valid");
    let Ok(IoOutcome::Names(names)) = disk.run(IoId(0), &IoRequest::List { dir: Some(dir.clone()) }).result else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| {
            let n: u32 = name.strip_suffix(".seg")?.parse().ok()?;
            let path = dir.join(name).ok()?;
            let read = disk.run(
                IoId(0),
                &IoRequest::Read {
                    path,
                    offset: 0,
                    len: usize::MAX,
                },
            );
            match read.result {
                Ok(IoOutcome::Data(data)) => Some((n, data)),
                _ => None,
            }
        })
        .collect()
}

fn check_found(log: &Log<u64>, segs: &[(u32, Bytes)], seq: u64, expected: &Message) -> Result<bool, TestCaseError> {
    let Some(at) = log.locate(seq) else { return Ok(false) };
    let bytes = &segs.iter().find(|(n, _)| *n == at.segment).expect("segment exists").1;
    match decode(bytes, at.offset as usize) {
        Decoded::Record(record, len) => {
            prop_assert_eq!(len, at.len as usize);
            prop_assert_eq!(record.seq, seq);
            prop_assert_eq!(&record.subject[..], &expected.0[..]);
            prop_assert_eq!(&record.headers[..], &expected.1[..]);
            prop_assert_eq!(&record.payload[..], &expected.2[..]);
            Ok(true)
        }
        other => {
            prop_assert!(false, "seq {} located at an unreadable place: {:?}", seq, other);
            Ok(false)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_acknowledged_message_is_recovered(
        messages in proptest::collection::vec(message(), 1..40),
        max_segment in 200u64..3000,
    ) {
        let (acked, mut disk) = write(&messages, max_segment);
        prop_assert_eq!(acked.clone(), (1..=messages.len() as u64).collect::<Vec<_>>());
        let segs = segments(&mut disk);
        let dir = StorePath::new("stream").expect("valid");
        let (log, findings) = Log::<u64>::recover(dir, max_segment, Durability::Sync, segs.clone()).expect("valid");
        prop_assert!(findings.is_empty(), "{:?}", findings);
        for seq in acked {
            prop_assert!(check_found(&log, &segs, seq, &messages[seq as usize - 1])?);
        }
        prop_assert_eq!(log.bounds(), Some((1, messages.len() as u64)));
    }

    #[test]
    fn a_damaged_segment_loses_only_what_is_damaged(
        messages in proptest::collection::vec(message(), 2..40),
        max_segment in 200u64..3000,
        which in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (_, mut disk) = write(&messages, max_segment);
        let mut segs = segments(&mut disk);
        let target = which.index(segs.len());
        let mut bytes = segs[target].1.to_vec();
        let offset = at.index(bytes.len());
        bytes[offset] ^= 1 << bit;
        segs[target].1 = Bytes::from(bytes);
        let dir = StorePath::new("stream").expect("valid");
        let (mut log, findings) = Log::<u64>::recover(dir, max_segment, Durability::Sync, segs.clone()).expect("valid");
        // Every message was acknowledged: whichever one the flip hit, its sequence is never
        // given again.
        let next = log
            .append(0, Bytes::from_static(b"after"), Bytes::new(), Bytes::new(), 0)
            .expect("appends");
        prop_assert!(next > messages.len() as u64, "seq {} given again", next);
        let damaged_segment = segs[target].0;
        let mut missing = 0;
        for (i, expected) in messages.iter().enumerate() {
            if !check_found(&log, &segs, i as u64 + 1, expected)? {
                missing += 1;
            }
        }
        // One flipped bit costs exactly one record, and says so.
        prop_assert_eq!(missing, 1);
        prop_assert!(findings.iter().any(|f| matches!(f,
            Finding::Damaged { segment, .. } | Finding::TornTail { segment, .. } if *segment == damaged_segment)),
            "{:?}", findings);
    }
}
