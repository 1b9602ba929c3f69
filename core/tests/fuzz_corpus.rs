//! Every fuzz corpus entry (`fuzz/corpus/<target>/`) replayed through its target's harness on
//! stable Rust: what the fuzzer once found, or was seeded with, stays a regression test.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_corpus_entry_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, run) in harness::TARGETS {
        let dir = root.join(target);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        assert!(!entries.is_empty(), "{target} has a seed corpus");
        for entry in entries {
            let data = std::fs::read(&entry).unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
            run(&data);
        }
    }
}
