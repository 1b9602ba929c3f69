//! The file executor against the in-memory model: any sequence of requests gives the same
//! outcomes on the real file system (in a scratch directory) as on `MemFs`, in order.

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use natrix_driver::FileExecutor;
use natrix_store::io::{IoCompletion, IoErrorKind, IoId, IoOutcome, IoRequest, StorePath};
use natrix_store::memory::MemFs;
use proptest::prelude::*;

fn scratch() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("natrix-files-{}-{n}", std::process::id()))
}

/// Runs `requests` on a fresh executor and returns the completions, in arrival order.
fn execute(requests: &[IoRequest]) -> Vec<IoCompletion> {
    let root = scratch();
    let (tx, rx) = mpsc::channel();
    let executor = FileExecutor::start(root.clone(), move |c| {
        let _ = tx.send(c);
    })
    .expect("executor starts");
    for (i, request) in requests.iter().enumerate() {
        executor.submit(IoId(i as u64), request.clone());
    }
    let completions: Vec<IoCompletion> = (0..requests.len())
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("a completion"))
        .collect();
    drop(executor);
    let _ = std::fs::remove_dir_all(root);
    completions
}

/// What is compared: the outcome, or the kind of failure (texts differ by system).
fn comparable(c: &IoCompletion) -> (IoId, Result<IoOutcome, IoErrorKind>) {
    (c.id, c.result.clone().map_err(|e| e.kind))
}

fn path(p: &str) -> StorePath {
    StorePath::new(p).expect("valid path")
}

fn request() -> impl Strategy<Value = IoRequest> {
    let dirs = prop_oneof![Just("d"), Just("d/e"), Just("f")];
    let files = prop_oneof![3 => Just("5"), 2 => Just("d/1"), 1 => Just("d/2"), 1 => Just("d/e/3"), 1 => Just("f/4")];
    let data = proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
    prop_oneof![
        2 => dirs.clone().prop_map(|d| IoRequest::CreateDir { dir: path(d) }),
        4 => (files.clone(), 0u64..100, data).prop_map(|(f, offset, data)| IoRequest::Write {
            path: path(f),
            offset,
            data
        }),
        1 => files.clone().prop_map(|f| IoRequest::Sync { path: path(f) }),
        1 => proptest::option::of(dirs.clone()).prop_map(|d| IoRequest::SyncDir { dir: d.map(path) }),
        3 => (files.clone(), 0u64..120, 0usize..80).prop_map(|(f, offset, len)| IoRequest::Read {
            path: path(f),
            offset,
            len
        }),
        1 => (files.clone(), 0u64..120).prop_map(|(f, len)| IoRequest::Truncate { path: path(f), len }),
        2 => files.clone().prop_map(|f| IoRequest::Size { path: path(f) }),
        1 => (files.clone(), files.clone()).prop_map(|(a, b)| IoRequest::Rename {
            from: path(a),
            to: path(b)
        }),
        1 => files.prop_map(|f| IoRequest::Remove { path: path(f) }),
        1 => dirs.clone().prop_map(|d| IoRequest::RemoveDir { dir: path(d) }),
        1 => proptest::option::of(dirs).prop_map(|d| IoRequest::List { dir: d.map(path) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_executor_does_what_the_model_does(requests in proptest::collection::vec(request(), 1..40)) {
        let mut model = MemFs::new();
        let expected: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| comparable(&model.run(IoId(i as u64), r)))
            .collect();
        let actual: Vec<_> = execute(&requests).iter().map(comparable).collect();
        prop_assert_eq!(actual, expected);
    }
}

#[test]
fn a_burst_of_syncs_completes_every_one_in_order() {
    let mut requests = vec![
        IoRequest::CreateDir { dir: path("s") },
        IoRequest::Write {
            path: path("s/log"),
            offset: 0,
            data: Bytes::from_static(b"record"),
        },
    ];
    requests.extend((0..50).map(|_| IoRequest::Sync { path: path("s/log") }));
    requests.push(IoRequest::Read {
        path: path("s/log"),
        offset: 0,
        len: 6,
    });
    let completions = execute(&requests);
    let ids: Vec<u64> = completions.iter().map(|c| c.id.0).collect();
    assert_eq!(ids, (0..requests.len() as u64).collect::<Vec<_>>());
    assert!(completions.iter().take(52).all(|c| c.result == Ok(IoOutcome::Done)));
    assert_eq!(
        completions.last().map(|c| c.result.clone()),
        Some(Ok(IoOutcome::Data(Bytes::from_static(b"record"))))
    );
}
