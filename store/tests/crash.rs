//! Power cuts: the log on a disk that keeps only what was durable. At whatever point the power
//! goes, every message whose append was acknowledged is recovered with its sequence and exact
//! bytes, a message whose deletion was acknowledged stays deleted, and nothing that was never
//! written appears. `CrashFs` also runs requests as `MemFs`
//! does while the power stays on.

use bytes::Bytes;
use natrix_store::commit::{Committed, Durability};
use natrix_store::crash::{CrashFs, Torn};
use natrix_store::io::{IoId, IoOutcome, IoRequest, StorePath};
use natrix_store::log::Log;
use natrix_store::memory::MemFs;
use natrix_store::record::{decode, Decoded};
use proptest::prelude::*;

/// Tokens above this acknowledge a deletion (of the sequence they exceed it by).
const DELETED: u64 = 1_000_000;

fn dir() -> StorePath {
    StorePath::new("stream").expect("valid")
}

fn segments(disk: &mut CrashFs) -> Vec<(u32, Bytes)> {
    let Ok(IoOutcome::Names(names)) = disk.run(IoId(0), &IoRequest::List { dir: Some(dir()) }).result else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| {
            let n: u32 = name.strip_suffix(".seg")?.parse().ok()?;
            let path = dir().join(name).ok()?;
            match disk
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn nothing_acknowledged_is_lost_at_a_crash(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..30),
        deletes in proptest::collection::vec(proptest::option::of(any::<proptest::sample::Index>()), 30),
        max_segment in 150u64..1500,
        io_every in 1usize..5,
        steps_before_crash in 0usize..60,
        torn in prop_oneof![Just(Torn::Nothing), (1usize..100).prop_map(Torn::Prefix)],
    ) {
        let mut disk = CrashFs::new();
        disk.run(IoId(0), &IoRequest::CreateDir { dir: dir() });
        disk.run(IoId(0), &IoRequest::SyncDir { dir: None });
        let mut log: Log<u64> = Log::new(dir(), max_segment, Durability::Sync, 1).expect("valid");
        let mut acked = Vec::new();
        let mut deleted = Vec::new();
        let mut next = 0u64;
        let mut steps = 0usize;
        'run: for (i, payload) in payloads.iter().enumerate() {
            let seq = log
                .append(i as i64, Bytes::from_static(b"subject"), Bytes::new(), Bytes::from(payload.clone()), i as u64 + 1)
                .expect("appends");
            prop_assert_eq!(seq, i as u64 + 1);
            // Now and then, delete an earlier message (acknowledged as DELETED + seq).
            if let Some(pick) = deletes[i] {
                let victim = pick.index(i + 1) as u64 + 1;
                if log.delete(victim, i as i64, DELETED + victim).expect("deletes") {
                    deleted.push(victim);
                }
            }
            if i % io_every == 0 || i + 1 == payloads.len() {
                while let Some((id, request)) = log.poll_request(&mut || { next += 1; IoId(next) }) {
                    if steps == steps_before_crash {
                        break 'run;
                    }
                    steps += 1;
                    if let Some(Committed::Durable(tokens)) = log.complete(&disk.run(id, &request)) {
                        acked.extend(tokens);
                    }
                }
            }
        }
        disk.crash(torn);
        let segs = segments(&mut disk);
        let (recovered, _findings) = Log::<u64>::recover(dir(), max_segment, Durability::Sync, segs.clone()).expect("valid");
        let (acked_deletes, acked): (Vec<u64>, Vec<u64>) = acked.into_iter().partition(|t| *t > DELETED);
        let acked_deletes: Vec<u64> = acked_deletes.into_iter().map(|t| t - DELETED).collect();
        for seq in &acked_deletes {
            prop_assert!(recovered.locate(*seq).is_none(), "deleted message {} came back", seq);
        }
        for seq in acked.iter().filter(|s| !deleted.contains(s)) {
            let at = recovered.locate(*seq);
            prop_assert!(at.is_some(), "acknowledged message {} lost (acked {:?})", seq, acked);
            let at = at.expect("checked");
            let bytes = &segs.iter().find(|(n, _)| *n == at.segment).expect("segment").1;
            match decode(bytes, at.offset as usize) {
                Decoded::Record(record, _) => {
                    prop_assert_eq!(record.seq, *seq);
                    prop_assert_eq!(&record.payload[..], &payloads[*seq as usize - 1][..]);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
        // Nothing that was never appended comes back.
        if let Some((_, last)) = recovered.bounds() {
            prop_assert!(last <= payloads.len() as u64);
        }
    }
}

#[test]
fn with_the_power_on_it_is_memfs() {
    let path = |p: &str| StorePath::new(p).expect("valid");
    let requests = vec![
        IoRequest::CreateDir { dir: path("a/b") },
        IoRequest::Write {
            path: path("a/b/f"),
            offset: 3,
            data: Bytes::from_static(b"xyz"),
        },
        IoRequest::Rename {
            from: path("a/b/f"),
            to: path("a/g"),
        },
        IoRequest::Read {
            path: path("a/g"),
            offset: 0,
            len: 10,
        },
        IoRequest::List { dir: Some(path("a")) },
        IoRequest::Truncate {
            path: path("a/g"),
            len: 2,
        },
        IoRequest::Size { path: path("a/g") },
        IoRequest::Remove { path: path("a/b/f") },
        IoRequest::RemoveDir { dir: path("a") },
        IoRequest::List { dir: None },
    ];
    let (mut crash, mut mem) = (CrashFs::new(), MemFs::new());
    for (i, r) in requests.iter().enumerate() {
        let (a, b) = (crash.run(IoId(i as u64), r), mem.run(IoId(i as u64), r));
        assert_eq!(a.result.map_err(|e| e.kind), b.result.map_err(|e| e.kind), "{r:?}");
    }
}
