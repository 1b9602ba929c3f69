//! Group commit against a model disk: under any interleaving of appends, requests and
//! completions, a token is released only when a completed sync covers its bytes, tokens come
//! back in append order, every token comes back once the IO is done, and the file holds exactly
//! what was appended. A failure releases nothing and refuses further appends.

use std::collections::VecDeque;

use natrix_store::commit::{Committed, Durability, GroupCommit};
use natrix_store::io::{IoCompletion, IoError, IoErrorKind, IoId, IoOutcome, IoRequest, StorePath};
use natrix_store::memory::MemFs;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    /// Take one request from the file and queue it for the disk.
    Request,
    /// Run the oldest queued request and report it.
    Run,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Op::Append),
        2 => Just(Op::Request),
        2 => Just(Op::Run),
    ]
}

struct Rig {
    gc: GroupCommit<usize>,
    disk: MemFs,
    queue: VecDeque<(IoId, IoRequest)>,
    next: u64,
    /// The end offset of each token's bytes.
    ends: Vec<u64>,
    /// The file length the last completed sync made durable.
    durable: u64,
    released: Vec<usize>,
    appended: Vec<u8>,
}

impl Rig {
    fn new() -> Self {
        let path = StorePath::new("log").expect("valid");
        Rig {
            gc: GroupCommit::new(path, 0, Durability::Sync),
            disk: MemFs::new(),
            queue: VecDeque::new(),
            next: 0,
            ends: Vec::new(),
            durable: 0,
            released: Vec::new(),
            appended: Vec::new(),
        }
    }

    fn request(&mut self) {
        let next = &mut self.next;
        if let Some(request) = self.gc.poll_request(&mut || {
            *next += 1;
            IoId(*next)
        }) {
            self.queue.push_back(request);
        }
    }

    fn run(&mut self, fail: bool) -> Option<Committed<usize>> {
        let (id, request) = self.queue.pop_front()?;
        let completion = if fail {
            IoCompletion {
                id,
                result: Err(IoError::new(IoErrorKind::Io, "Input/output error")),
            }
        } else {
            let completion = self.disk.run(id, &request);
            if let (IoRequest::Sync { path }, Ok(IoOutcome::Done)) = (&request, &completion.result) {
                let size = self.disk.run(IoId(0), &IoRequest::Size { path: path.clone() });
                if let Ok(IoOutcome::Size(size)) = size.result {
                    self.durable = size;
                }
            }
            completion
        };
        self.gc.complete(&completion)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn nothing_is_acknowledged_before_its_sync(ops in proptest::collection::vec(op(), 1..80)) {
        let mut rig = Rig::new();
        let check = |rig: &mut Rig, committed: Option<Committed<usize>>| -> Result<(), TestCaseError> {
            match committed {
                Some(Committed::Durable(tokens)) => {
                    for token in tokens {
                        prop_assert!(rig.ends[token] <= rig.durable, "token {} released before its sync", token);
                        prop_assert_eq!(Some(&token), Some(&rig.released.len()), "out of order");
                        rig.released.push(token);
                    }
                }
                Some(Committed::Failed(..)) => prop_assert!(false, "no failure was injected"),
                None => {}
            }
            Ok(())
        };
        for op in ops {
            match op {
                Op::Append(bytes) => {
                    let token = rig.ends.len();
                    let offset = rig.gc.append(&bytes, token).expect("accepted");
                    prop_assert_eq!(offset, rig.appended.len() as u64);
                    rig.appended.extend_from_slice(&bytes);
                    rig.ends.push(rig.appended.len() as u64);
                }
                Op::Request => rig.request(),
                Op::Run => {
                    let committed = rig.run(false);
                    check(&mut rig, committed)?;
                }
            }
        }
        // Drain: everything is released once the IO is done.
        loop {
            rig.request();
            if rig.queue.is_empty() {
                break;
            }
            let committed = rig.run(false);
            check(&mut rig, committed)?;
        }
        prop_assert_eq!(rig.released.len(), rig.ends.len());
        prop_assert!(!rig.gc.busy());
        let read = rig.disk.run(IoId(0), &IoRequest::Read {
            path: StorePath::new("log").expect("valid"),
            offset: 0,
            len: usize::MAX,
        });
        let on_disk = match read.result {
            Ok(IoOutcome::Data(data)) => data.to_vec(),
            _ => Vec::new(),
        };
        prop_assert_eq!(on_disk, rig.appended);
    }

    #[test]
    fn a_failure_releases_nothing(appends in 1usize..20, fail_after in 0usize..6) {
        let mut rig = Rig::new();
        for token in 0..appends {
            rig.gc.append(b"record", token).expect("accepted");
            rig.ends.push(0);
        }
        let mut runs = 0;
        loop {
            rig.request();
            if rig.queue.is_empty() {
                break;
            }
            let fail = runs == fail_after;
            runs += 1;
            match rig.run(fail) {
                Some(Committed::Failed(tokens, _)) => {
                    prop_assert!(fail);
                    prop_assert_eq!(tokens.len() + rig.released.len(), appends);
                    prop_assert!(rig.gc.append(b"more", 99).is_err());
                    return Ok(());
                }
                Some(Committed::Durable(tokens)) => rig.released.extend(tokens),
                None => prop_assert!(!fail || rig.gc.failure().is_some()),
            }
        }
        prop_assert_eq!(rig.released.len(), appends);
    }
}
